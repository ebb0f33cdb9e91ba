#!/usr/bin/env python3
"""The I/O floor of a job: decode every band of the given rasters with GDAL on one thread, keep nothing.

Reads each band of each raster (a VRT stacking band COGs reads through to them) in strips one block row
high into one reused buffer, the cheapest way GDAL decodes a tiled file: every compressed block is read
and inflated exactly once, nothing else is done with the pixels. GDAL's block cache is kept small so the
strips do not accumulate in memory. Prints the pixels and bytes decoded.

usage: decode_floor.py RASTER [RASTER ...]
"""
import sys

from osgeo import gdal

gdal.UseExceptions()
gdal.SetCacheMax(64 << 20)
gdal.SetConfigOption("GDAL_NUM_THREADS", "1")


def main():
    pixels = 0
    decoded = 0
    for path in sys.argv[1:]:
        ds = gdal.Open(path)
        for b in range(1, ds.RasterCount + 1):
            band = ds.GetRasterBand(b)
            w, h = band.XSize, band.YSize
            # The source's block height (a VRT's own blocks say nothing about its sources').
            src = band
            if ds.GetDriver().ShortName == "VRT":
                files = [f for f in ds.GetFileList()[1:]]
                src = gdal.Open(files[b - 1]).GetRasterBand(1) if len(files) >= b else band
            rows = max(src.GetBlockSize()[1], 1)
            buf = bytearray(w * rows * gdal.GetDataTypeSize(band.DataType) // 8)
            for y in range(0, h, rows):
                n = min(rows, h - y)
                band.ReadRaster(0, y, w, n, buf_obj=buf if n == rows else None)
            pixels += w * h
            decoded += w * h * gdal.GetDataTypeSize(band.DataType) // 8
    print(f"decoded {pixels} pixels, {decoded / 1e6:.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
