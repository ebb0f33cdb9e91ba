#!/usr/bin/env bash
# Issue 3, acceptance 8: wall time and peak memory of scanning the demo area (80 plots, 13 monthly
# Sentinel-2-like scenes) in release mode on this machine. The area is generated once, outside the
# timing; each run scans it into a fresh store, so every run does the whole job.
#
#   benches/scan_demo.sh [RUNS]          (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
cargo build --release --quiet
bin=target/release/jingtu
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" demo --out "$work/demo" --quiet --backend cpu
data="$work/demo/data"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
echo "input: $(ls "$data"/scenes | wc -l) scenes, $(du -sh "$data"/scenes | cut -f1) of COGs; $(ogrinfo -so "$data/plots.gpkg" plots | awk '/Feature Count/ {print $3}') plots"
for i in $(seq 1 "$runs"); do
  rm -f "$work/store.gpkg"
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin" scan --plots "$data/plots.gpkg" --scenes "$data/catalog.json" \
    --store "$work/store.gpkg" --backend cpu --quiet
  read -r wall rss_kb < "$work/time"
  awk -v i="$i" -v w="$wall" -v k="$rss_kb" 'BEGIN { printf "run %d: wall %6.2f s   peak RSS %6.1f MiB\n", i, w, k / 1024 }'
done
echo "target: under 60 s wall time"
