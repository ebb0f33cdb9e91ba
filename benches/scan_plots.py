#!/usr/bin/env python3
"""A plot registry and a catalogue of monthly acquisitions over Sentinel-2-tile-sized scenes (issue 7).

Reads the dates that s2_tiles.py wrote into TILES (band COGs and SCL per date) and writes into OUT:
- plots.gpkg: PLOTS registered plots (60 to 300 m across), clustered around the industrial estates of
  s2_tiles.industrial_zones, as registries of contaminated land are, with a tenth scattered elsewhere;
- catalog-N.json for every N in --catalogs: a STAC ItemCollection of the first N of SCENES monthly
  acquisitions. Generating SCENES full tiles would take hours, so acquisition k is a set of VRTs over
  the k-th date of TILES (cycling), each band scaled by its own gain (illumination differs from month
  to month), so that every acquisition's content differs (the engine deduplicates scenes by content)
  while the compressed blocks read are the COGs' own;
- bound.json: for each catalogue, the bytes the scan may read at most: every compressed COG block under
  a plot window (plot plus the scan's 60 m margin) and 8 KiB more for each (the C library reads in
  buffers of its own), the first and last block of every band (each scene is checked with them) and
  64 KiB of header per file, summed over the scenes.

usage: scan_plots.py TILES OUT [--plots 2000] [--scenes 24] [--catalogs 12,24] [--seed 1]
"""
import argparse
import json
import math
import os
import sys

import numpy as np
from osgeo import gdal, ogr, osr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s2_tiles import BANDS, ORIGIN, PIXEL, industrial_zones  # noqa: E402

gdal.UseExceptions()
COMMON = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B11": "swir16", "B12": "swir22"}
CATEGORIES = ["contaminated_listed", "legacy_industrial", "bare_soil", "construction_site"]
MARGIN_M = 60.0
HEADER = 64 << 10
SLACK = 8 << 10


def plots(size, n, seed):
    """(col0, row0, col1, row1) pixel rectangles of n plots."""
    rng = np.random.default_rng(seed + 2000)
    zones = industrial_zones(size, seed)
    out = []
    while len(out) < n:
        if rng.random() < 0.9:
            r, c, rad = zones[rng.integers(len(zones))]
            d, a = rad * math.sqrt(rng.random()) * 1.3, rng.uniform(0, 2 * math.pi)
            r, c = r + d * math.sin(a), c + d * math.cos(a)
        else:
            r, c = rng.uniform(50, size - 50), rng.uniform(50, size - 50)
        w, h = rng.uniform(6, 30), rng.uniform(6, 30)
        c0, r0 = max(0.0, c - w / 2), max(0.0, r - h / 2)
        c1, r1 = min(size - 1.0, c0 + w), min(size - 1.0, r0 + h)
        if c1 - c0 > 3 and r1 - r0 > 3:
            out.append((c0, r0, c1, r1))
    return out


def write_plots(path, rects):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32651)
    if os.path.exists(path):
        os.remove(path)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = ds.CreateLayer("plots", srs=srs, geom_type=ogr.wkbPolygon)
    for name, kind in [("plot_id", ogr.OFTString), ("name", ogr.OFTString), ("category", ogr.OFTString),
                       ("works_allowed", ogr.OFTInteger), ("listed_on", ogr.OFTString)]:
        layer.CreateField(ogr.FieldDefn(name, kind))
    layer.StartTransaction()
    for i, (c0, r0, c1, r1) in enumerate(rects):
        x0, x1 = ORIGIN[0] + c0 * PIXEL, ORIGIN[0] + c1 * PIXEL
        y0, y1 = ORIGIN[1] - r0 * PIXEL, ORIGIN[1] - r1 * PIXEL
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"))
        f.SetField("plot_id", f"JS-{i:05d}")
        f.SetField("name", f"plot {i}")
        f.SetField("category", CATEGORIES[i % len(CATEGORIES)])
        f.SetField("works_allowed", int(i % 7 == 0))
        f.SetField("listed_on", "2022-06-01")
        layer.CreateFeature(f)
    layer.CommitTransaction()
    ds = None


def block_bytes(path):
    """Compressed size of every block of a COG's full-resolution band, and its block size."""
    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    bw, bh = band.GetBlockSize()
    nx, ny = math.ceil(ds.RasterXSize / bw), math.ceil(ds.RasterYSize / bh)
    sizes = np.zeros((ny, nx), dtype=np.int64)
    for y in range(ny):
        for x in range(nx):
            sizes[y, x] = int(band.GetMetadataItem(f"BLOCK_SIZE_{x}_{y}", "TIFF") or 0)
    return sizes, bw, bh


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tiles")
    ap.add_argument("out")
    ap.add_argument("--plots", type=int, default=2000)
    ap.add_argument("--scenes", type=int, default=24)
    ap.add_argument("--catalogs", default="12,24")
    ap.add_argument("--registries", default="1000,2000")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    tiles = os.path.abspath(a.tiles)
    dates = sorted(d for d in os.listdir(tiles) if os.path.isdir(os.path.join(tiles, d)))
    size = gdal.Open(os.path.join(tiles, dates[0], "B02.tif")).RasterXSize
    os.makedirs(a.out, exist_ok=True)
    rects = plots(size, a.plots, a.seed)
    for n in [int(x) for x in a.registries.split(",")]:
        write_plots(os.path.join(a.out, f"plots-{n}.gpkg"), rects[:n])

    items = []
    for k in range(a.scenes):
        date = dates[k % len(dates)]
        year, month = 2023 + k // 12, k % 12 + 1
        scene = os.path.join(a.out, "scenes", f"S{k:02d}")
        os.makedirs(scene, exist_ok=True)
        assets = {}
        rng = np.random.default_rng(a.seed * 31 + k)
        for name in BANDS + ["SCL"]:
            src = os.path.join(tiles, date, f"{name}.tif")
            vrt = os.path.join(scene, f"{name}.vrt")
            if name == "SCL":
                gdal.Translate(vrt, src, format="VRT")
            else:
                gain = 1.0 + rng.uniform(-0.08, 0.08)
                gdal.Translate(vrt, src, format="VRT", scaleParams=[[0, 10000, 0, 10000 * gain]],
                               noData=0)
            key = COMMON.get(name, "scl")
            asset = {"href": os.path.relpath(vrt, a.out), "roles": ["data"]}
            if name != "SCL":
                asset["eo:bands"] = [{"name": name, "common_name": COMMON[name]}]
                asset["raster:bands"] = [{"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": 0.0}]
            assets[key] = asset
        x1, y1 = ORIGIN[0] + size * PIXEL, ORIGIN[1] - size * PIXEL
        items.append({
            "type": "Feature", "stac_version": "1.0.0", "id": f"S2-T51-{year}{month:02d}15",
            "bbox": [ORIGIN[0], y1, x1, ORIGIN[1]], "geometry": None,
            "properties": {"datetime": f"{year}-{month:02d}-15T02:51:01Z", "proj:epsg": 32651},
            "assets": assets, "links": [],
        })
    bounds = {}
    blocks = {d: {name: block_bytes(os.path.join(tiles, d, f"{name}.tif")) for name in BANDS + ["SCL"]}
              for d in dates}
    margin = MARGIN_M / PIXEL
    for n in [int(x) for x in a.catalogs.split(",")]:
        with open(os.path.join(a.out, f"catalog-{n}.json"), "w") as f:
            json.dump({"type": "FeatureCollection", "features": items[:n]}, f)
        for p in [int(x) for x in a.registries.split(",")]:
            total = 0
            for k in range(n):
                for name, (sizes, bw, bh) in blocks[dates[k % len(dates)]].items():
                    touched = set()
                    for c0, r0, c1, r1 in rects[:p]:
                        for by in range(int((r0 - margin) // bh), int((r1 + margin) // bh) + 1):
                            for bx in range(int((c0 - margin) // bw), int((c1 + margin) // bw) + 1):
                                if 0 <= by < sizes.shape[0] and 0 <= bx < sizes.shape[1]:
                                    touched.add((by, bx))
                    touched |= {(0, 0), (sizes.shape[0] - 1, sizes.shape[1] - 1)}
                    total += sum(int(sizes[b]) + SLACK for b in touched) + HEADER
            bounds[f"{p}x{n}"] = total
    with open(os.path.join(a.out, "bound.json"), "w") as f:
        json.dump(bounds, f)
    print(json.dumps(bounds))


if __name__ == "__main__":
    main()
