#!/usr/bin/env python3
"""Bad-input campaign (issue 12): runs the release binary on well over 100 hostile inputs and reports
panics, hangs, silent wrong results and lost files.

    cargo build --release && python3 benches/bad_input_campaign.py [--bin target/release/jingtu] [--keep DIR]

Every case is made by a generator here (from the bundled demo area, GDAL's command-line tools and plain
file writes), names the exit status it expects (CONTRACT.md: 0 done, 1 done but inputs skipped, 2 usage
or fatal input error) and a fragment its stderr must hold. Each runs with a 30 s timeout. Before and
after each case every input it names is hashed: a changed input is a lost file. Verdicts:

- panic: stderr mentions a panic, or the process died of a signal;
- hang: over 30 s;
- silent: exit 0 where the case expects a refusal (a wrong result accepted without a word);
- lost: an input changed, or a temporary folder (.jingtu-tmp-*) was left behind;
- mismatch: another exit status or a message without the fragment (a weaker failure, listed).

Needs: Python 3 (standard library only), gdal_translate, gdalbuildvrt, ogr2ogr, mkfifo. Not part of
CI: it takes a few minutes.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMEOUT_S = 30


def sha(path):
    p = Path(path)
    if p.is_symlink() and not p.exists():
        return "dangling"
    if p.is_file():
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    if p.is_dir():
        return "dir:" + ",".join(sorted(x.name for x in p.iterdir()))
    return "absent" if not p.exists() else "special"


def run_tool(*args):
    subprocess.run([str(a) for a in args], check=True, capture_output=True)


class Campaign:
    def __init__(self, binary, work):
        self.bin = binary
        self.work = Path(work)
        self.cases = []

    def case(self, group, name, args, code, fragment, inputs=(), env=None):
        self.cases.append(dict(group=group, name=name, args=[str(a) for a in args], code=code,
                               fragment=fragment, inputs=[str(i) for i in inputs], env=env or {}))

    def run(self):
        results = []
        for c in self.cases:
            before = {i: sha(i) for i in c["inputs"]}
            env = dict(os.environ, **c["env"])
            env.pop("JINGTU_LOG", None)
            started = time.time()
            try:
                p = subprocess.run([self.bin] + c["args"], capture_output=True, timeout=TIMEOUT_S, env=env,
                                   cwd=self.work)
                code, err, out = p.returncode, p.stderr.decode("utf-8", "replace"), p.stdout.decode("utf-8", "replace")
                hung = False
            except subprocess.TimeoutExpired as e:
                code, err, out, hung = None, (e.stderr or b"").decode("utf-8", "replace"), "", True
            seconds = time.time() - started
            after = {i: sha(i) for i in c["inputs"]}
            lost = [i for i in c["inputs"] if before[i] != after[i]]
            tmp = [str(p) for p in self.work.rglob(".jingtu-tmp-*")]
            for t in tmp:
                shutil.rmtree(t, ignore_errors=True)
            verdict = "ok"
            if hung:
                verdict = "hang"
            elif "panicked" in err or "RUST_BACKTRACE" in err or (code is not None and code < 0):
                verdict = "panic"
            elif lost or tmp:
                verdict = "lost"
            elif code == 0 and c["code"] != 0:
                verdict = "silent"
            elif code != c["code"] or c["fragment"] not in err:
                verdict = "mismatch"
            elif max((err.count(m) for m in set(re.findall(r"\(os error \d+\)", err))), default=0) > 1:
                # "No such file or directory (os error 2): No such file or directory (os error 2)".
                verdict = "mismatch"
            results.append(dict(c, got=code, seconds=round(seconds, 1), verdict=verdict, lost=lost + tmp,
                                stderr=err.strip().splitlines()[-3:], stdout_tail=out[-200:]))
            mark = "." if verdict == "ok" else verdict[0].upper()
            print(mark, end="", flush=True)
        print()
        return results


def build(c, base):
    """Every case, generated from the demo area in `base`."""
    w = c.work
    data = base / "data"
    catalog = json.loads((data / "catalog.json").read_text())
    plots = data / "plots.gpkg"
    scenes = sorted((data / "scenes").iterdir())
    first = scenes[0]

    def small_catalog(name, edit=None, n=3):
        cat = json.loads(json.dumps(catalog))
        cat["features"] = cat["features"][:n]
        if edit:
            edit(cat["features"])
        path = data / name
        path.write_text(json.dumps(cat))
        return path

    def scan(name, cat, code, fragment, extra=(), plots_path=plots, inputs=()):
        store = w / f"store-{name}.gpkg"
        c.case("stac" if "stac" in name else "scan", name,
               ["scan", "--plots", plots_path, "--scenes", cat, "--store", store, "--no-report"] + list(extra),
               code, fragment, inputs=[plots_path, cat, *inputs])

    # ---- rasters, through `change` -------------------------------------------------------------------
    bands = ["B02.tif", "B03.tif", "B04.tif", "B08.tif"]
    for tag, s in [("before", scenes[0]), ("after", scenes[-1])]:
        run_tool("gdalbuildvrt", "-separate", w / f"{tag}.vrt", *[s / b for b in bands])
        run_tool("gdal_translate", "-q", w / f"{tag}.vrt", w / f"{tag}.tif")
    before, after = w / "before.tif", w / "after.tif"
    bmap = ["--bands", "blue=1,green=2,red=3,nir=4"]
    raw = before.read_bytes()

    def change(name, a, code, fragment, extra=(), b=None, env=None, inputs=()):
        out = w / f"out-{name}.gpkg"
        mapping = [] if "--bands" in extra else bmap
        c.case("raster", name, ["change", b or before, a, "--out", out] + mapping + list(extra), code, fragment,
               inputs=[before, a, *inputs], env=env)

    change("good-pair", after, 0, "")
    change("missing-file", w / "nope.tif", 2, "nope.tif")
    (w / "empty.tif").write_bytes(b"")
    change("empty-file", w / "empty.tif", 2, "empty file")
    for frac in (0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
        p = w / f"truncated-{int(frac * 100)}.tif"
        p.write_bytes(raw[: int(len(raw) * frac)])
        change(f"truncated-{int(frac * 100)}pct", p, 2, p.name)
    # Cut at half its size: truncated or unreadable, naming the file, never "no georeferencing".
    change("truncated-half-says-so", w / "truncated-50.tif", 2, "truncated-50.tif: truncated")
    (w / "random.tif").write_bytes(os.urandom(50000))
    change("random-bytes", w / "random.tif", 2, "random.tif")
    (w / "text.tif").write_text("this is not a raster\n" * 100)
    change("text-as-tif", w / "text.tif", 2, "text.tif")
    (w / "a-folder.tif").mkdir(exist_ok=True)
    change("folder-as-raster", w / "a-folder.tif", 2, "a-folder.tif")
    change("dev-zero", Path("/dev/zero"), 2, "not a regular file")
    fifo = w / "fifo.tif"
    if not fifo.exists():
        os.mkfifo(fifo)
    change("fifo", fifo, 2, "not a regular file")
    # Geotransforms: south-up, rotated, mirrored, zero pixel size.
    vrt = (w / "after.vrt").read_text()
    import re
    gt_match = re.search(r"<GeoTransform>([^<]*)</GeoTransform>", vrt)
    gt = [float(x) for x in gt_match.group(1).split(",")]

    def with_gt(name, new_gt, text=None):
        p = w / name
        p.write_text((text or vrt).replace(gt_match.group(0), "<GeoTransform>" + ", ".join(repr(v) for v in new_gt) + "</GeoTransform>"))
        return p

    rows = 640
    change("south-up", with_gt("south-up.vrt", [gt[0], gt[1], 0, gt[3] - abs(gt[5]) * rows, 0, abs(gt[5])]), 2, "south-up")
    change("rotated", with_gt("rotated.vrt", [gt[0], gt[1], 0.5, gt[3], 0.5, gt[5]]), 2, "rotated")
    change("mirrored-x", with_gt("mirrored.vrt", [gt[0], -gt[1], 0, gt[3], 0, gt[5]]), 2, "mirrored")
    change("zero-pixel", with_gt("zero.vrt", [gt[0], 0.0, 0, gt[3], 0, gt[5]]), 2, "geotransform")
    change("far-away", with_gt("far.vrt", [gt[0] + 5e5, gt[1], 0, gt[3], 0, gt[5]]), 2, "do not overlap")
    huge = vrt.replace('rasterXSize="', 'rasterXSize="1000000" x="').replace('rasterYSize="', 'rasterYSize="1000000" y="')
    huge = re.sub(r'rasterXSize="1000000" x="\d+"', 'rasterXSize="1000000"', huge)
    huge = re.sub(r'rasterYSize="1000000" y="\d+"', 'rasterYSize="1000000"', huge)
    (w / "huge.vrt").write_text(huge)
    change("huge-vrt", w / "huge.vrt", 2, "over the limit")
    change("limit-from-env", after, 2, "JINGTU_MAX_RASTER_PIXELS", env={"JINGTU_MAX_RASTER_PIXELS": "1000"})
    # Values: Inf, NaN, -1e30, all nodata.
    for name, expr in [("all-inf", "inf"), ("all-nan", "nan"), ("all-minus-1e30", "-1e30"), ("all-1e30", "1e30")]:
        p = w / f"{name}.tif"
        run_tool("gdal_translate", "-q", "-ot", "Float32", "-scale", "0", "65535", "0", "0", after, p)
        # gdal_translate cannot write Inf; a VRT with a constant-value pixel function can.
        vrt_text = "<VRTDataset rasterXSize=\"%d\" rasterYSize=\"%d\"><SRS>%s</SRS><GeoTransform>%s</GeoTransform>" % (
            int(re.search(r'rasterXSize="(\d+)"', vrt).group(1)), int(re.search(r'rasterYSize="(\d+)"', vrt).group(1)),
            re.search(r"<SRS[^>]*>([^<]*)</SRS>", vrt).group(1), gt_match.group(1))
        for i in range(1, 5):
            vrt_text += ("<VRTRasterBand dataType=\"Float32\" band=\"%d\" subClass=\"VRTDerivedRasterBand\">"
                         "<PixelFunctionType>scale</PixelFunctionType><PixelFunctionArguments offset=\"%s\" scale=\"0\"/>"
                         "<SimpleSource><SourceFilename relativeToVRT=\"0\">%s</SourceFilename><SourceBand>%d</SourceBand></SimpleSource>"
                         "</VRTRasterBand>") % (i, expr, p, i)
        vrt_text += "</VRTDataset>"
        v = w / f"{name}.vrt"
        v.write_text(vrt_text)
        change(name, v, 2, "infinite or absurd" if expr != "nan" else "nodata")
    run_tool("gdal_translate", "-q", "-a_nodata", "0", "-scale", "0", "65535", "0", "0", after, w / "all-zero.tif")
    change("all-nodata", w / "all-zero.tif", 2, "nodata")
    run_tool("gdal_translate", "-q", "-b", "1", after, w / "one-band.tif")
    change("one-band", w / "one-band.tif", 2, "band(s)")
    run_tool("gdal_translate", "-q", "-of", "PNG", "-b", "1", "-b", "2", "-b", "3", "-scale", after, w / "plain.png")
    # gdal_translate keeps the georeferencing in a .aux.xml beside the PNG: without it, a plain image.
    Path(str(w / "plain.png") + ".aux.xml").unlink(missing_ok=True)
    change("png-no-georef", w / "plain.png", 2, "no georeferencing", extra=["--bands", "blue=1,green=2,red=3,nir=3"])
    change("bands-out-of-range", after, 2, "9", extra=["--bands", "blue=9,green=2,red=3,nir=4"])
    change("bands-garbage", after, 2, "--bands", extra=["--bands", "blue=one"])
    change("unknown-sensor", after, 2, "unknown sensor", extra=["--sensor", "spot7"])
    change("unknown-backend", after, 2, "backend", extra=["--backend", "tpu"])
    change("unknown-format", after, 2, "format", extra=["--format", "kmz"])

    # ---- STAC catalogues, through `scan` ---------------------------------------------------------------
    ok = small_catalog("stac-ok.json")
    scan("stac-ok", ok, 0, "")

    def item_case(name, edit, code, fragment, inputs=()):
        scan(name, small_catalog(f"{name}.json", edit), code, fragment, inputs=inputs)

    def set_band(i, asset, field, value):
        def edit(items):
            items[i]["assets"][asset]["raster:bands"][0][field] = value
        return edit

    item_case("stac-scale-abc", set_band(1, "red", "scale", "abc"), 1, "not a finite number")
    item_case("stac-scale-zero", set_band(1, "red", "scale", 0), 1, "scale is 0")
    item_case("stac-scale-list", set_band(1, "red", "scale", [1]), 1, "not a finite number")
    item_case("stac-scale-bool", set_band(1, "red", "scale", True), 1, "not a finite number")
    item_case("stac-offset-text", set_band(1, "nir", "offset", "x"), 1, "not a finite number")
    item_case("stac-scale-huge", set_band(1, "nir", "scale", 1e300), 1, "physical range")

    def all_scales(value):
        def edit(items):
            for a in items[1]["assets"].values():
                if "raster:bands" in a:
                    a["raster:bands"][0]["scale"] = value
        return edit

    item_case("stac-scale-one", all_scales(1.0), 1, "physical range")
    item_case("stac-scale-negative", all_scales(-0.0001), 1, "physical range")
    item_case("stac-offset-big", set_band(1, "red", "offset", 5.0), 1, "physical range")
    for name, value, fragment in [("future", "2099-06-01T00:00:00Z", "in the future"),
                                  ("not-a-date", "yesterday", "not ISO 8601"),
                                  ("number", 20260101, "no properties.datetime"),
                                  ("month-13", "2026-13-01T00:00:00Z", "not ISO 8601")]:
        def edit(items, value=value):
            items[1]["properties"]["datetime"] = value
        item_case(f"stac-datetime-{name}", edit, 1, fragment)

    def href(asset, value):
        def edit(items):
            items[1]["assets"][asset]["href"] = value
        return edit

    item_case("stac-href-dev-zero", href("green", "/dev/zero"), 1, "not a regular file")
    item_case("stac-href-fifo", href("green", str(fifo)), 1, "not a regular file")
    item_case("stac-href-folder", href("green", str(w / "a-folder.tif")), 1, "not a regular file")
    item_case("stac-href-missing", href("green", "scenes/none/B03.tif"), 1, "does not exist")
    item_case("stac-href-empty-file", href("green", str(w / "empty.tif")), 1, "empty file")
    item_case("stac-href-truncated", href("green", str(w / "truncated-50.tif")), 1, "truncated-50.tif")
    item_case("stac-href-text", href("green", str(w / "text.tif")), 1, "text.tif")
    item_case("stac-href-other-grid", href("nir", str(w / "far.vrt")), 1, "not on the same ground")
    item_case("stac-href-south-up", href("nir", str(w / "south-up.vrt")), 1, "south-up")
    item_case("stac-href-huge", href("nir", str(w / "huge.vrt")), 1, "over the limit")

    def every_band(value):
        def edit(items):
            for asset in items[1]["assets"].values():
                if "eo:bands" in asset:
                    asset["href"] = value
        return edit

    # A scene whose every pixel is invalid (all nodata; all NaN) is skipped with its name and the reason.
    item_case("stac-scene-all-nodata", every_band(str(w / "all-zero.tif")), 1, "no valid pixel")
    item_case("stac-scene-all-nan", every_band(str(w / "all-nan.vrt")), 1, "no valid pixel")

    def drop(asset):
        def edit(items):
            del items[1]["assets"][asset]
        return edit

    item_case("stac-no-nir", drop("nir"), 1, "no nir band")
    item_case("stac-no-assets", lambda items: items[1].pop("assets"), 1, "no assets")
    item_case("stac-no-properties", lambda items: items[1].pop("properties"), 1, "no properties")
    item_case("stac-duplicate-item", lambda items: items.append(json.loads(json.dumps(items[0]))), 0, "")
    for name, text, fragment in [("stac-not-json", "{not json", "not valid JSON"),
                                 ("stac-array", "[]", "not a STAC Item"),
                                 ("stac-empty-collection", '{"type":"FeatureCollection","features":[]}', "no scenes"),
                                 ("stac-null", "null", "not a STAC Item")]:
        p = data / f"{name}.json"
        p.write_text(text)
        scan(name, p, 2, fragment)
    scan("stac-missing-catalog", data / "nowhere.json", 2, "no such file")

    # ---- registries ----------------------------------------------------------------------------------
    def registry(name, sql=None, text=None):
        p = w / f"{name}.geojson"
        if text is not None:
            p.write_text(text)
        else:
            if p.exists():
                p.unlink()
            run_tool("ogr2ogr", "-f", "GeoJSON", p, plots, "-dialect", "SQLite", "-sql", sql)
        return p

    layer = "plots"
    try:
        layer = subprocess.run(["ogrinfo", "-q", "-so", plots], capture_output=True, text=True).stdout.split(":")[1].split("(")[0].strip()
    except Exception:
        pass
    reg_ok = registry("reg-ok", f"SELECT * FROM \"{layer}\" LIMIT 5")
    scan("reg-ok", ok, 0, "", plots_path=reg_ok)
    cases = [
        ("reg-empty-id", f"SELECT geom, '' AS plot_id, name, category FROM \"{layer}\" LIMIT 3 UNION ALL SELECT geom, plot_id, name, category FROM \"{layer}\" LIMIT 3", 1, "empty plot_id"),
        ("reg-null-geom", f"SELECT NULL AS geom, plot_id, name FROM \"{layer}\" LIMIT 1", 2, "no usable plots"),
        ("reg-dup-id", f"SELECT geom, 'X' AS plot_id FROM \"{layer}\" LIMIT 2", 2, "duplicate plot ids"),
        ("reg-no-id-field", f"SELECT geom, name FROM \"{layer}\" LIMIT 2", 2, "no 'plot_id' field"),
        ("reg-points", f"SELECT ST_Centroid(geom) AS geom, plot_id FROM \"{layer}\" LIMIT 2", 2, "no usable plots"),
        ("reg-bad-listed-on", f"SELECT geom, plot_id, 'soon' AS listed_on FROM \"{layer}\" LIMIT 2", 0, "is not a date"),
        ("reg-unknown-category", f"SELECT geom, plot_id, 'casino' AS category FROM \"{layer}\" LIMIT 2", 0, "unknown category"),
    ]
    for name, sql, code, fragment in cases:
        try:
            p = registry(name, sql)
        except subprocess.CalledProcessError:
            continue
        scan(name, ok, code, fragment, plots_path=p)
    nan_geom = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"plot_id": "NAN-1"},
         "geometry": {"type": "Polygon", "coordinates": [[[119.9, 32.4], [119.91, 32.4], [119.91, 32.41], [119.9, 32.4]]]}},
        {"type": "Feature", "properties": {"plot_id": "EMPTY-1"}, "geometry": {"type": "Polygon", "coordinates": []}},
        {"type": "Feature", "properties": {"plot_id": "NULL-1"}, "geometry": None}]}
    scan("reg-geojson-bad-geoms", ok, 1, "EMPTY-1", plots_path=registry("reg-geojson-bad-geoms", text=json.dumps(nan_geom)))
    scan("reg-not-vector", ok, 2, "not a vector source", plots_path=registry("reg-not-vector", text="garbage"))
    scan("reg-empty-file", ok, 2, "reg-empty-file", plots_path=registry("reg-empty-file", text=""))
    scan("reg-missing", ok, 2, "no such file", plots_path=w / "no-registry.gpkg")
    scan("reg-raster-as-registry", ok, 2, "not a vector source", plots_path=after)

    # ---- config --------------------------------------------------------------------------------------
    for name, text, fragment in [
        ("cfg-margin-nan", "[scan]\nplot_margin_m = nan\n", "plot_margin_m"),
        ("cfg-margin-inf", "[scan]\nplot_margin_m = inf\n", "plot_margin_m"),
        ("cfg-margin-1e9", "[scan]\nplot_margin_m = 1e9\n", "plot_margin_m"),
        ("cfg-margin-negative", "[scan]\nplot_margin_m = -5.0\n", "plot_margin_m"),
        ("cfg-idle-zero", "[scan.temporal]\nidle_months = 0\n", "idle_months"),
        ("cfg-min-area-negative", "[scan]\nmin_area_m2 = -1.0\n", "min_area_m2"),
        ("cfg-cloud-buffer-huge", "[scan]\ncloud_buffer_m = 1e308\n", "cloud_buffer_m"),
        ("cfg-unknown-key", "[scan]\nplot_margin = 5.0\n", "unknown field"),
        ("cfg-wrong-type", "[scan]\nplot_margin_m = \"wide\"\n", "invalid config"),
        ("cfg-not-toml", "this is = = not toml", "invalid config"),
        ("cfg-bad-backend", "backend = \"tpu\"\n", "invalid config"),
        ("cfg-scale-zero", "reflectance_scale = 0.0\n", "reflectance_scale"),
        ("cfg-fraction-2", "[drone]\nwall_min_fraction = 2.0\n", "wall_min_fraction"),
    ]:
        p = w / f"{name}.toml"
        p.write_text(text)
        scan(name, ok, 2, fragment, extra=["--config", p])
    scan("cfg-missing-file", ok, 2, "no-such.toml", extra=["--config", w / "no-such.toml"])
    scan("cfg-is-folder", ok, 2, "a-folder.tif", extra=["--config", w / "a-folder.tif"])
    scan("reg-is-folder", ok, 2, "a-folder.tif", plots_path=w / "a-folder.tif")
    scan("stac-catalog-is-folder-of-nothing", w / "a-folder.tif", 2, "a-folder.tif")
    c.case("output", "store-is-folder", ["scan", "--plots", plots, "--scenes", ok, "--store", w / "a-folder.tif",
                                         "--no-report"], 2, "a-folder.tif", inputs=[plots, ok])
    c.case("output", "report-store-is-folder", ["report", "--store", w / "a-folder.tif", "--out", w / "r.html"], 2,
           "a-folder.tif")
    c.case("output", "export-store-is-folder", ["export", "--store", w / "a-folder.tif"], 2, "a-folder.tif")
    scan("as-of-garbage", ok, 2, "--as-of", extra=["--as-of", "someday"])

    # ---- outputs -------------------------------------------------------------------------------------
    store = w / "store-outputs.gpkg"
    c.case("output", "store-first-scan", ["scan", "--plots", plots, "--scenes", ok, "--store", store, "--no-report"], 0, "", inputs=[plots, ok])
    def s(extra, name, code, fragment, inputs=()):
        report = [] if "--report" in extra else ["--no-report"]
        c.case("output", name, ["scan", "--plots", plots, "--scenes", ok, "--store", store] + report + [str(e) for e in extra],
               code, fragment, inputs=[plots, ok, store, *inputs])
    s(["--out", store, "--overwrite"], "out-is-store", 2, "same file as --store")
    s(["--out", plots, "--overwrite"], "out-is-plots", 2, "same file as --plots")
    s(["--out", w / "." / "store-outputs.gpkg", "--overwrite"], "out-is-store-dotted", 2, "same file as --store")
    link = w / "plots-link.gpkg"
    if not link.exists():
        os.symlink(plots, link)
    s(["--out", link, "--overwrite"], "out-symlink-to-plots", 2, "same file as --plots")
    s(["--out", first / "B02.tif", "--overwrite", "--format", "gpkg"], "out-is-scene-band", 2, "same file as scene")
    s(["--report", store, "--overwrite"], "report-is-store", 2, "same file as --store")
    s(["--out", w / "flags.gpkg", "--report", w / "flags.gpkg", "--overwrite"], "report-is-out", 2, "same file as --out")
    (w / "exists.gpkg").write_text("precious")
    s(["--out", w / "exists.gpkg"], "out-exists", 2, "already exists", inputs=[w / "exists.gpkg"])
    s(["--out", w / "no-such-dir" / "flags.gpkg"], "out-folder-missing", 2, "does not exist")
    (w / "chips-file").write_text("x")
    s(["--chips", w / "chips-file"], "chips-is-file", 2, "must be a folder", inputs=[w / "chips-file"])
    c.case("output", "change-raster-is-before", ["change", before, after, "--out", w / "o1.gpkg", "--change-raster", before, "--overwrite"] + bmap,
           2, "same file as BEFORE", inputs=[before, after])
    c.case("output", "change-out-is-after", ["change", before, after, "--out", after, "--overwrite", "--format", "gpkg"] + bmap,
           2, "same file as AFTER", inputs=[before, after])
    c.case("output", "change-two-outputs-same", ["change", before, after, "--out", w / "same.tif", "--change-raster", w / "same.tif", "--format", "gpkg"] + bmap,
           2, "same file as --out", inputs=[before, after])
    c.case("output", "report-out-is-store", ["report", "--store", store, "--out", store, "--overwrite"], 2, "same file as --store", inputs=[store])
    c.case("output", "export-out-is-store", ["export", "--store", store, "--out", store, "--overwrite"], 2, "same file as --store", inputs=[store])
    c.case("output", "export-since-empty", ["export", "--store", store, "--since", ""], 2, "empty cursor", inputs=[store])
    c.case("output", "export-since-garbage", ["export", "--store", store, "--since", "yesterday"], 2, "not a cursor", inputs=[store])
    c.case("output", "export-since-negative", ["export", "--store", store, "--since", "jt1:-4"], 2, "not a cursor", inputs=[store])
    c.case("output", "export-missing-store", ["export", "--store", w / "nostore.gpkg"], 2, "no such store")
    c.case("output", "report-missing-store", ["report", "--store", w / "nostore.gpkg", "--out", w / "r.html"], 2, "no such store")
    c.case("output", "store-is-plots", ["scan", "--plots", plots, "--scenes", ok, "--store", plots, "--no-report"], 2, "same file as --plots", inputs=[plots])
    c.case("output", "store-is-raster", ["scan", "--plots", plots, "--scenes", ok, "--store", after, "--no-report"], 2, "not a GeoPackage", inputs=[after])
    foreign = w / "foreign"
    foreign.mkdir(exist_ok=True)
    (foreign / "thesis.tex").write_text("years of work")
    c.case("output", "demo-over-foreign-folder", ["demo", "--out", foreign, "--overwrite"], 2, "thesis.tex", inputs=[foreign / "thesis.tex"])
    c.case("output", "drone-out-is-dsm", ["drone", "--before-dsm", before, "--after-dsm", after, "--out", before, "--overwrite", "--format", "gpkg"],
           2, "same file as --before-dsm", inputs=[before, after])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=str(Path(__file__).resolve().parent.parent / "target/release/jingtu"))
    ap.add_argument("--keep", help="work folder to use and keep (default: a temporary one)")
    ap.add_argument("--report", help="write every case's result here as JSON")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="jingtu-campaign-"))
    work.mkdir(parents=True, exist_ok=True)
    base = work / "demo"
    if not (base / "data" / "catalog.json").exists():
        subprocess.run([args.bin, "demo", "--out", base, "-q", "--overwrite"], check=True)
    c = Campaign(args.bin, work)
    build(c, base)
    demo_before = {str(p): sha(p) for p in (base / "data").rglob("*") if p.is_file() and "catalog" not in p.name}
    print(f"{len(c.cases)} cases")
    results = c.run()
    demo_after = {p: sha(p) for p in demo_before}
    lost_demo = [p for p in demo_before if demo_before[p] != demo_after[p] and not p.endswith("B08-shifted.tif")]
    counts = {k: sum(r["verdict"] == k for r in results) for k in ("ok", "panic", "hang", "silent", "lost", "mismatch")}
    for r in results:
        if r["verdict"] != "ok":
            print(f"{r['verdict']:8} {r['group']}/{r['name']}: expected {r['code']} '{r['fragment']}', got {r['got']}: {' | '.join(r['stderr'])}")
    if args.report:
        Path(args.report).write_text(json.dumps(results, indent=1))
    print(f"campaign: {len(results)} cases, {counts['ok']} as expected; {counts['panic']} panics, {counts['hang']} hangs "
          f"(limit {TIMEOUT_S} s, slowest {max(r['seconds'] for r in results)} s), {counts['silent']} silent wrong results, "
          f"{counts['lost'] + len(lost_demo)} lost files, {counts['mismatch']} other mismatches")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    bad = counts["panic"] + counts["hang"] + counts["silent"] + counts["lost"] + len(lost_demo)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
