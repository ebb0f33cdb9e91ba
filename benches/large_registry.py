#!/usr/bin/env python3
"""Large registries (issue 12, item 10): time per plot-scene and peak memory of `jingtu scan` for
registries of 1k, 10k and 100k small plots, and for one 30 x 20 km plot, over 12 monthly scenes.

The demo's scenes are 640 x 640 px (6.4 km): too small for 100k separate plots. Each of the first 12
demo acquisitions is therefore mosaicked TILES x TILES times by VRTs (every band and the SCL), which
gives a 64 km square at TILES=10 that reads the demo's own compressed blocks (the content repeats, the
I/O and the per-window work are those of a real area). Plots are rectangles of 0.5 to 5 ha, one per
cell of a jittered grid over the mosaic, so they do not overlap; the big plot is one 30 x 20 km
rectangle.

usage: large_registry.py DEMO_DIR OUT [--jingtu target/release/jingtu] [--counts 1000,10000,100000]
                         [--scenes 12] [--tiles 10] [--big] [--timeout 900] [--seed 1]
                         [--mem-limit-gb 0] [--label NAME]

DEMO_DIR is the folder of `jingtu demo --out DIR` (its data/ is read). Every run is a fresh store,
`--no-report -q --backend cpu`, under /usr/bin/time -v; a table of wall time, time per plot-scene and
peak RSS is printed (and written to OUT/results.json).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

from xml.sax.saxutils import escape

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()
CATEGORIES = ["contaminated_listed", "legacy_industrial", "bare_soil", "construction_site"]


def mosaic_vrt(src, dst, tiles):
    """A VRT repeating raster `src` tiles x tiles times, eastwards and southwards of its own position."""
    ds = gdal.Open(src)
    w, h = ds.RasterXSize, ds.RasterYSize
    gt = ds.GetGeoTransform()
    srs = ds.GetProjectionRef()
    band = ds.GetRasterBand(1)
    dtype = gdal.GetDataTypeName(band.DataType)
    nodata = band.GetNoDataValue()
    block = band.GetBlockSize()
    src_abs = os.path.abspath(src)
    out = [f'<VRTDataset rasterXSize="{w * tiles}" rasterYSize="{h * tiles}">',
           f"  <SRS>{escape(srs)}</SRS>",
           f"  <GeoTransform>{', '.join(repr(v) for v in gt)}</GeoTransform>",
           f'  <VRTRasterBand dataType="{dtype}" band="1">']
    if nodata is not None:
        out.append(f"    <NoDataValue>{nodata}</NoDataValue>")
    for ty in range(tiles):
        for tx in range(tiles):
            out += ["    <SimpleSource>",
                    f'      <SourceFilename relativeToVRT="0">{src_abs}</SourceFilename>',
                    "      <SourceBand>1</SourceBand>",
                    f'      <SourceProperties RasterXSize="{w}" RasterYSize="{h}" DataType="{dtype}" '
                    f'BlockXSize="{block[0]}" BlockYSize="{block[1]}" />',
                    f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}" />',
                    f'      <DstRect xOff="{tx * w}" yOff="{ty * h}" xSize="{w}" ySize="{h}" />',
                    "    </SimpleSource>"]
    out += ["  </VRTRasterBand>", "</VRTDataset>"]
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")
    return gt, w * tiles, h * tiles


def build_scenes(demo, out, n_scenes, tiles):
    """Mosaic VRTs of the first n_scenes demo acquisitions and their STAC ItemCollection."""
    data = os.path.join(demo, "data")
    catalog = json.load(open(os.path.join(data, "catalog.json")))
    items = sorted(catalog["features"], key=lambda f: f["properties"].get("datetime", ""))[:n_scenes]
    extent = None
    for item in items:
        folder = os.path.join(out, "scenes", item["id"])
        os.makedirs(folder, exist_ok=True)
        for asset in item["assets"].values():
            src = os.path.join(data, asset["href"])
            dst = os.path.join(folder, os.path.splitext(os.path.basename(src))[0] + ".vrt")
            gt, w, h = mosaic_vrt(src, dst, tiles)
            asset["href"] = os.path.abspath(dst)
            extent = (gt[0], gt[3] + h * gt[5], gt[0] + w * gt[1], gt[3])
        if "bbox" in item:
            item["bbox"] = list(extent)
        for k in ("proj:shape", "proj:transform", "proj:bbox"):
            item.get("properties", {}).pop(k, None)
    path = os.path.join(out, "catalog.json")
    json.dump({"type": "FeatureCollection", "features": items}, open(path, "w"))
    return path, extent, len(items)


def write_plots(path, rects, epsg=32651):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    if os.path.exists(path):
        os.remove(path)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = ds.CreateLayer("plots", srs=srs, geom_type=ogr.wkbPolygon)
    for name, kind in [("plot_id", ogr.OFTString), ("name", ogr.OFTString), ("category", ogr.OFTString),
                       ("works_allowed", ogr.OFTInteger), ("listed_on", ogr.OFTString)]:
        layer.CreateField(ogr.FieldDefn(name, kind))
    layer.StartTransaction()
    for i, (x0, y0, x1, y1) in enumerate(rects):
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"))
        f.SetField("plot_id", f"LR-{i:06d}")
        f.SetField("name", f"plot {i}")
        f.SetField("category", CATEGORIES[i % len(CATEGORIES)])
        f.SetField("works_allowed", int(i % 7 == 0))
        f.SetField("listed_on", "2022-06-01")
        layer.CreateFeature(f)
    layer.CommitTransaction()
    ds = None


def small_plots(extent, n, seed):
    """n rectangles of 0.5 to 5 ha (as far as the cell allows), one per cell of a jittered grid."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = extent
    inset = 100.0  # the scan's 60 m margin stays inside the scenes
    x0, y0, x1, y1 = x0 + inset, y0 + inset, x1 - inset, y1 - inset
    cell = math.sqrt((x1 - x0) * (y1 - y0) / n)
    cols, rows = int((x1 - x0) // cell), int((y1 - y0) // cell)
    cells = rng.permutation(cols * rows)[:n]
    out = []
    for c in cells:
        cx, cy = x0 + (c % cols) * cell, y0 + (c // cols) * cell
        area = rng.uniform(5000.0, 50000.0)
        aspect = rng.uniform(0.5, 2.0)
        w = min(math.sqrt(area * aspect), 0.9 * cell)
        h = min(area / w, 0.9 * cell)
        px, py = cx + rng.uniform(0, cell - w), cy + rng.uniform(0, cell - h)
        out.append((px, py, px + w, py + h))
    return out


def run(cmd, timeout, mem_limit_gb):
    """Runs cmd under /usr/bin/time -v: (exit code, wall s, peak RSS MB, stderr tail). With a memory
    limit, the scan's address space is capped (an allocation past it aborts the scan)."""
    t0 = time.time()

    def cap():
        if mem_limit_gb:
            import resource
            limit = int(mem_limit_gb * (1 << 30))
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, timeout=timeout,
                           preexec_fn=cap)
    except subprocess.TimeoutExpired:
        return None, time.time() - t0, None, f"timed out after {timeout} s"
    wall = time.time() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    rss = int(m.group(1)) / 1024 if m else None
    return p.returncode, wall, rss, p.stderr[-600:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("demo")
    ap.add_argument("out")
    ap.add_argument("--jingtu", default="target/release/jingtu")
    ap.add_argument("--counts", default="1000,10000,100000")
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--tiles", type=int, default=10)
    ap.add_argument("--big", action="store_true", help="also one 30 x 20 km plot")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mem-limit-gb", type=float, default=0, help="cap the scan's address space (0: none)")
    ap.add_argument("--label", default="", help="a name for this binary in results.json")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    catalog, extent, n_scenes = build_scenes(a.demo, a.out, a.scenes, a.tiles)
    print(f"scenes: {n_scenes} mosaics of {(extent[2] - extent[0]) / 1000:.1f} x {(extent[3] - extent[1]) / 1000:.1f} km",
          flush=True)
    cases = []
    for n in [int(c) for c in a.counts.split(",") if c]:
        path = os.path.join(a.out, f"plots-{n}.gpkg")
        if not os.path.exists(path):
            write_plots(path, small_plots(extent, n, a.seed))
        cases.append((f"{n} plots", n, path))
    if a.big:
        path = os.path.join(a.out, "plots-big.gpkg")
        cx, cy = (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2
        write_plots(path, [(cx - 15000, cy - 10000, cx + 15000, cy + 10000)])
        cases.append(("one 30 x 20 km plot", 1, path))
    print(f"{'case':<22} {'exit':>4} {'wall s':>8} {'ms/plot-scene':>14} {'peak RSS MB':>12}", flush=True)
    results = []
    for name, n, plots in cases:
        store = os.path.join(a.out, "store.gpkg")
        for p in (store, store + ".lock"):
            if os.path.exists(p):
                os.remove(p)
        cmd = [a.jingtu, "scan", "--plots", plots, "--scenes", catalog, "--store", store, "--no-report", "-q",
               "--backend", "cpu"]
        code, wall, rss, tail = run(cmd, a.timeout, a.mem_limit_gb)
        per = wall * 1000 / (n * n_scenes)
        shown = "-" if rss is None else str(round(rss))
        print(f"{name:<22} {str(code):>4} {wall:>8.1f} {per:>14.3f} {shown:>12}", flush=True)
        if code not in (0, 1):
            print(tail, file=sys.stderr)
        results.append({"case": name, "plots": n, "scenes": n_scenes, "exit": code, "wall_s": round(wall, 2),
                        "ms_per_plot_scene": round(per, 4), "peak_rss_mb": rss and round(rss, 1)})
    with open(os.path.join(a.out, f"results{('-' + a.label) if a.label else ''}.json"), "w") as f:
        json.dump({"uptime": os.getloadavg(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
