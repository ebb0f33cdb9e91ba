"""For benches/model_breaks.sh: `convert DATA OUT` writes every series of pyccd-landsat-pixels as a pyccd CSV
(date ordinal, six bands, thermal, Fmask QA code), sorted by date; `compare OUT` pairs jingtu's breaks with
cold_detect's and prints their distance in clear observations."""
import glob, os, re, shutil, sys, datetime
import numpy as np


def convert(data, out):
    shutil.copy(os.path.join(data, "sample_2.csv"), os.path.join(out, "sample_2.csv"))
    shutil.copy(os.path.join(data, "test_3657_3610_observations.csv"), os.path.join(out, "test_3657_3610.csv"))
    for f in sorted(glob.glob(os.path.join(data, "*.npy"))):
        a = np.load(f, allow_pickle=True)
        d = a[1]
        qa = np.asarray(d["qas"]).astype(np.int64)
        # ARD QA bits: 0 fill, 1 clear, 2 water, 3 shadow, 4 snow, 5 cloud; Fmask codes 0-4, 255 fill.
        code = np.full(qa.shape, 255)
        for bit, c in ((5, 4), (4, 3), (3, 2), (2, 1), (1, 0)):
            code = np.where(((qa >> bit) & 1 == 1) & (code == 255), c, code)
        code = np.where(qa & 1 == 1, 255, code)
        keys = ["dates", "blues", "greens", "reds", "nirs", "swir1s", "swir2s", "thermals"]
        m = np.stack([np.asarray(d[k]).astype(np.int64) for k in keys] + [code], 1)
        np.savetxt(os.path.join(out, os.path.basename(f)[:-4] + ".csv"), m, fmt="%d", delimiter=",")
    for f in glob.glob(os.path.join(out, "*.csv")):
        m = np.genfromtxt(f, delimiter=",", dtype=np.int64)
        np.savetxt(f, m[np.argsort(m[:, 0], kind="stable")], fmt="%d", delimiter=",")


def breaks(path, who):
    out = {}
    for line in open(path):
        m = re.match(r"(.*): \w+ break (\d{4}-\d\d-\d\d)", line)
        if m:
            out.setdefault(os.path.basename(m.group(1)), []).append(datetime.date.fromisoformat(m.group(2)))
    return out


def compare(out):
    jingtu, cold = breaks(os.path.join(out, "jingtu.txt"), "jingtu"), breaks(os.path.join(out, "cold.txt"), "cold")
    for f in sorted(glob.glob(os.path.join(out, "*.csv"))):
        name = os.path.basename(f)
        m = np.genfromtxt(f, delimiter=",", dtype=np.int64)
        clear = m[(m[:, 8] == 0) & np.all((m[:, 1:7] > 0) & (m[:, 1:7] < 16000), axis=1), 0]
        rank = lambda d: int(np.searchsorted(clear, d.toordinal()))
        j, c = jingtu.get(name, []), cold.get(name, [])
        print(f"{name}: {len(clear)} clear observations; cold_detect {[str(x) for x in c]}; jingtu {[str(x) for x in j]}")
        for x in c:
            near = min(j, key=lambda y: abs(rank(y) - rank(x)), default=None)
            dist = abs(rank(near) - rank(x)) if near else None
            verdict = "within 2" if dist is not None and dist <= 2 else "missed"
            print(f"  cold {x}: nearest jingtu {near} ({dist} clear obs): {verdict}")
        for y in j:
            if all(abs(rank(y) - rank(x)) > 2 for x in c):
                print(f"  jingtu {y}: no cold_detect break within 2 clear obs")


if __name__ == "__main__":
    {"convert": lambda: convert(sys.argv[2], sys.argv[3]), "compare": lambda: compare(sys.argv[2])}[sys.argv[1]]()
