"""The breaks pyxccd 1.1.0's cold_detect finds in pyccd-format series (date ordinal, blue, green, red, nir,
swir1, swir2, thermal, Fmask QA code; one observation per line), one line per break with the index of the
observation, for benches/model_breaks.sh beside jingtu's model (examples/model_breaks.rs)."""
import sys, datetime
import numpy as np
from pyxccd import cold_detect

for path in sys.argv[1:]:
    d = np.genfromtxt(path, delimiter=",", dtype=np.int64)
    d = d[np.argsort(d[:, 0], kind="stable")]
    cols = [np.ascontiguousarray(d[:, i]) for i in range(9)]
    for r in cold_detect(*cols):
        if r["t_break"] > 0:
            t = int(r["t_break"])
            print(f"{path}: cold break {datetime.date.fromordinal(t)} obs {int(np.searchsorted(d[:, 0], t))}")
