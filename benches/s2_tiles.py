#!/usr/bin/env python3
"""Sentinel-2-tile-sized synthetic acquisitions for the benchmarks (issue 7).

Writes, for each requested date, one Cloud-Optimized GeoTIFF per band (B02 B03 B04 B08 B11 B12, UInt16
surface reflectance x 10000, nodata 0, DEFLATE with horizontal predictor, 512 x 512 blocks, overviews:
what GDAL's COG driver makes by default and what public Sentinel-2 L2A COGs use) plus an SCL COG (UInt8),
and a six-band VRT stacking the band COGs (gdalbuildvrt -separate -srcnodata None -vrtnodata 0), which
`jingtu change` and the peer script both read.

The ground: fields, orchards, villages, industrial estates, roads and canals on a 10 m grid in
EPSG:32651, each parcel with its own brightness, value-noise texture inside parcels and sensor noise of
0.003 reflectance per band and pixel (the files compress 1.2x with DEFLATE: noisier than real
imagery, so decoding is, if anything, dearer). Later dates differ as real acquisitions do: illumination and haze per band, crop
vigour per parcel, clouds masked in SCL (nodata in the bands), and changed parcels (new buildings and
slabs, stripped or excavated ground, cleared vegetation), about 2% of the area per date step.

usage: s2_tiles.py OUT_DIR [--size 10980] [--dates 2024-03-12,2024-06-20] [--seed 1]
Prints one line per date: the folder written. Needs python3-gdal and python3-numpy.
"""
import argparse
import os
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

BANDS = ["B02", "B03", "B04", "B08", "B11", "B12"]
ORIGIN = (300000.0, 3600000.0)
PIXEL = 10.0

# Surface reflectance (blue, green, red, nir, swir1, swir2) of the covers painted, as src/synth/spectra.rs.
COVERS = {
    "crop": [0.03, 0.07, 0.04, 0.40, 0.20, 0.10],
    "sparse": [0.05, 0.09, 0.07, 0.30, 0.25, 0.15],
    "forest": [0.025, 0.05, 0.03, 0.33, 0.16, 0.08],
    "soil": [0.10, 0.14, 0.19, 0.24, 0.32, 0.28],
    "moist": [0.065, 0.09, 0.13, 0.17, 0.22, 0.18],
    "concrete": [0.20, 0.21, 0.22, 0.24, 0.26, 0.24],
    "roof": [0.16, 0.15, 0.12, 0.14, 0.12, 0.10],
    "asphalt": [0.06, 0.065, 0.07, 0.08, 0.09, 0.085],
    "water": [0.06, 0.07, 0.04, 0.02, 0.01, 0.005],
    "net": [0.06, 0.12, 0.07, 0.10, 0.08, 0.06],
}
NAMES = list(COVERS)
SPECTRA = np.array([COVERS[n] for n in NAMES], dtype=np.float32)
# SCL class of each cover: 4 vegetation, 5 not vegetated, 6 water.
SCL_OF = np.array([4, 4, 4, 5, 5, 5, 5, 5, 6, 5], dtype=np.uint8)
# Shares of parcels by cover in the countryside and in industrial estates.
RURAL = {"crop": 0.45, "sparse": 0.15, "forest": 0.1, "soil": 0.12, "water": 0.05, "concrete": 0.06, "roof": 0.04,
         "net": 0.01, "moist": 0.02}
INDUSTRIAL = {"roof": 0.3, "concrete": 0.3, "soil": 0.15, "sparse": 0.1, "net": 0.05, "moist": 0.05,
              "asphalt": 0.05}
CELL = 24  # parcel lattice in pixels (240 m): parcels are 1 to 3 cells


def industrial_zones(size, seed):
    """Centres (row, col) and radii in pixels of the industrial estates, shared by the scan benchmark."""
    rng = np.random.default_rng(seed + 1000)
    n = max(2, size * size // 6_000_000)
    rows = rng.integers(size // 10, size - size // 10, n)
    cols = rng.integers(size // 10, size - size // 10, n)
    radii = rng.integers(size // 60, size // 25, n)
    return list(zip(rows.tolist(), cols.tolist(), radii.tolist()))


def parcels(size, seed):
    """Cover index per parcel cell and a parcel id per cell (cells of one parcel share it)."""
    rng = np.random.default_rng(seed)
    cells = size // CELL + 1
    zone = np.zeros((cells, cells), dtype=bool)
    rr, cc = np.mgrid[0:cells, 0:cells]
    for r, c, rad in industrial_zones(size, seed):
        zone |= (rr - r / CELL) ** 2 + (cc - c / CELL) ** 2 < (rad / CELL) ** 2
    def draw(shares, n):
        keys = list(shares)
        p = np.array([shares[k] for k in keys], dtype=float)
        idx = rng.choice(len(keys), size=n, p=p / p.sum())
        return np.array([NAMES.index(keys[i]) for i in idx], dtype=np.uint8)
    cover = np.where(zone, draw(INDUSTRIAL, cells * cells).reshape(cells, cells),
                     draw(RURAL, cells * cells).reshape(cells, cells))
    # Parcels of two or three cells: copy a neighbour's cover (and id) along rows or columns.
    pid = np.arange(cells * cells, dtype=np.int32).reshape(cells, cells)
    join_row = rng.random((cells, cells)) < 0.35
    join_col = rng.random((cells, cells)) < 0.35
    for r in range(1, cells):
        m = join_row[r]
        cover[r, m] = cover[r - 1, m]
        pid[r, m] = pid[r - 1, m]
    for c in range(1, cells):
        m = join_col[:, c]
        cover[m, c] = cover[m, c - 1]
        pid[m, c] = pid[m, c - 1]
    return cover, pid, zone


def upsample(a, size):
    """Cell array to pixels, with parcel edges jittered so they do not all fall on one lattice."""
    idx = np.minimum(np.arange(size) // CELL, a.shape[0] - 1)
    return a[idx][:, idx]


def value_noise(size, cell, rng):
    """Smooth noise in [-1, 1]: a coarse random grid bilinearly interpolated."""
    n = size // cell + 2
    g = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    t = (np.arange(size, dtype=np.float32) / cell)
    i = t.astype(np.int64)
    f = t - i
    rows = g[i] * (1 - f)[:, None] + g[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def write_cog(path, array, gt, srs_wkt, description, nodata):
    mem = gdal.GetDriverByName("MEM").Create("", array.shape[1], array.shape[0], 1,
                                            gdal.GDT_UInt16 if array.dtype == np.uint16 else gdal.GDT_Byte)
    mem.SetGeoTransform(gt)
    mem.SetProjection(srs_wkt)
    band = mem.GetRasterBand(1)
    band.SetDescription(description)
    if nodata is not None:
        band.SetNoDataValue(nodata)
    band.WriteArray(array)
    opts = ["COMPRESS=DEFLATE", "BLOCKSIZE=512", "NUM_THREADS=ALL_CPUS", "RESAMPLING=NEAREST" if nodata is None
            else "RESAMPLING=AVERAGE"]
    if array.dtype == np.uint16:
        opts.append("PREDICTOR=2")
    gdal.GetDriverByName("COG").CreateCopy(path, mem, options=opts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=10980)
    ap.add_argument("--dates", default="2024-03-12,2024-06-20")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    size = a.size
    dates = a.dates.split(",")
    gt = (ORIGIN[0], PIXEL, 0.0, ORIGIN[1], 0.0, -PIXEL)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32651)
    wkt = srs.ExportToWkt()

    cover_cells, pid_cells, _ = parcels(size, a.seed)
    rng = np.random.default_rng(a.seed + 7)
    npar = pid_cells.size
    parcel_bright = rng.normal(1.0, 0.08, npar).astype(np.float32)
    texture = value_noise(size, 40, rng) * 0.06
    pid = upsample(pid_cells, size)
    for step, date in enumerate(dates):
        # Parcels changed by this date: about 2% of parcels per step, to the covers development leaves.
        crng = np.random.default_rng(a.seed * 100 + step)
        cells = cover_cells.copy()
        for s in range(1, step + 1):
            srng = np.random.default_rng(a.seed * 100 + s)
            hit = srng.random(cells.shape) < 0.02
            to = srng.choice([NAMES.index(n) for n in ("concrete", "roof", "soil", "moist", "net")], size=cells.shape)
            cells = np.where(hit, to, cells).astype(np.uint8)
        cover = upsample(cells, size)
        vigour = (1.0 + crng.normal(0, 0.04, npar)).astype(np.float32)[pid]
        gain = 1.0 - 0.04 * step + crng.uniform(-0.02, 0.02, 6)
        haze = np.array([0.012, 0.009, 0.006, 0.004, 0.002, 0.001]) * (1 + 2 * step)
        # Clouds on later dates: a few discs, masked in SCL and nodata in the bands.
        cloud = np.zeros((size, size), dtype=bool)
        if step > 0:
            rr = np.arange(size)[:, None]
            cc = np.arange(size)[None, :]
            for _ in range(6):
                r, c, rad = crng.integers(0, size), crng.integers(0, size), crng.integers(size // 80, size // 30)
                r0, r1, c0, c1 = max(0, r - rad), min(size, r + rad), max(0, c - rad), min(size, c + rad)
                cloud[r0:r1, c0:c1] |= (rr[r0:r1] - r) ** 2 + (cc[:, c0:c1] - c) ** 2 < rad * rad
        folder = os.path.join(a.out, date)
        os.makedirs(folder, exist_ok=True)
        bright = parcel_bright[pid] * (1.0 + texture)
        veg = np.isin(cover, [NAMES.index(n) for n in ("crop", "sparse", "forest")])
        nrng = np.random.default_rng(a.seed * 1000 + step)
        for b, name in enumerate(BANDS):
            refl = SPECTRA[:, b][cover] * bright
            if b == 3:
                refl = np.where(veg, refl * vigour, refl)
            refl = refl * np.float32(gain[b]) + np.float32(haze[b])
            refl += nrng.standard_normal((size, size), dtype=np.float32) * np.float32(0.003)
            dn = np.clip(np.rint(refl * 10000.0), 1, 65535).astype(np.uint16)
            dn[cloud] = 0
            write_cog(os.path.join(folder, f"{name}.tif"), dn, gt, wkt, name, 0)
            del refl, dn
        scl = SCL_OF[cover]
        scl[cloud] = 9
        write_cog(os.path.join(folder, "SCL.tif"), scl, gt, wkt, "SCL", None)
        # Sources without a nodata value of their own are plain pass-through sources; the VRT's bands
        # keep nodata 0 (GDAL otherwise converts every pixel to float and back to apply it).
        gdal.BuildVRT(os.path.join(a.out, f"{date}.vrt"), [os.path.join(folder, f"{n}.tif") for n in BANDS],
                      options=gdal.BuildVRTOptions(separate=True, srcNodata="None", VRTNodata="0"))
        vrt = gdal.Open(os.path.join(a.out, f"{date}.vrt"), gdal.GA_Update)
        for b, name in enumerate(BANDS):
            vrt.GetRasterBand(b + 1).SetDescription(name)
        vrt = None
        print(folder, flush=True)


if __name__ == "__main__":
    sys.exit(main())
