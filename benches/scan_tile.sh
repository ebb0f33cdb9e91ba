#!/usr/bin/env bash
# Issue 7, acceptance 2: the monthly plot scan over Sentinel-2-tile-sized scenes, and how its cost grows
# with plots and scenes. 2000 plots clustered around industrial estates, 24 monthly acquisitions of a
# 10980 x 10980 tile (VRTs over the dates s2_tiles.py wrote, each with its own gains: see scan_plots.py),
# scanned into a fresh store as 1000 and 2000 plots over 12 and 24 scenes. For each: wall and CPU time,
# peak RSS, time per plot-scene, the plot windows read and decoded, and the bytes read from files, which
# must stay under the compressed blocks under the plot windows (plus margins) that scan_plots.py adds up.
#
#   benches/scan_tile.sh [SIZE]      (default 10980)
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-10980}"
cargo build --release --quiet
bin=target/release/jingtu
tiles="target/bench/s2-$size"
data="target/bench/scan-$size"
if [ ! -f "$tiles/2024-06-20/SCL.tif" ]; then
  echo "generating the tile dates into $tiles (once)"
  /usr/bin/python3 benches/s2_tiles.py "$tiles" --size "$size" --dates 2024-03-12,2024-06-20 >/dev/null
fi
if [ ! -f "$data/bound.json" ]; then
  /usr/bin/python3 benches/scan_plots.py "$tiles" "$data" --plots 2000 --scenes 24 --catalogs 12,24 \
    --registries 1000,2000 >/dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%6s %6s %8s %8s %8s %12s %8s %10s %10s %10s %5s\n" plots scenes "wall s" "cpu s" "RSS MiB" "ms/plot-scn" windows "decoded MB" "read MB" "bound MB" ok
for run in 1000:12 2000:12 1000:24 2000:24; do
  plots="${run%%:*}"
  scenes="${run##*:}"
  rm -f "$work/store.gpkg"
  status=0
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$bin" scan --plots "$data/plots-$plots.gpkg" \
    --scenes "$data/catalog-$scenes.json" --store "$work/store.gpkg" --backend cpu --no-report --json >"$work/out" 2>"$work/err" ||
    status=$?
  if [ "$status" -gt 1 ]; then
    cat "$work/err" >&2
    exit 1
  fi
  read -r wall user sys rss <"$work/time"
  /usr/bin/python3 - "$work/out" "$data/bound.json" "$plots" "$scenes" "$wall" "$user" "$sys" "$rss" <<'EOF' | tee -a "$work/rows"
import json, sys
out, bound, plots, scenes, wall, user, sys_, rss = sys.argv[1:]
summary = [json.loads(l) for l in open(out) if '"summary"' in l][-1]
reads = summary["reads"]
limit = json.load(open(bound))[f"{plots}x{scenes}"]
wall, cpu = float(wall), float(user) + float(sys_)
ok = reads["file_bytes"] is not None and reads["file_bytes"] <= limit
print(f"{plots:>6} {scenes:>6} {wall:8.1f} {cpu:8.1f} {int(rss) / 1024:8.0f} {1000 * wall / (int(plots) * int(scenes)):12.2f} "
      f"{reads['windows']:8d} {reads['decoded_bytes'] / 1e6:10.1f} {(reads['file_bytes'] or 0) / 1e6:10.1f} "
      f"{limit / 1e6:10.1f} {'yes' if ok else 'NO':>5}")
EOF
done
awk '{ t[$1 "x" $2] = $3 }
  END {
    printf "doubling plots:  %.2fx (12 scenes), %.2fx (24 scenes)   (acceptance: at most 2.2)\n", t["2000x12"] / t["1000x12"], t["2000x24"] / t["1000x24"]
    printf "doubling scenes: %.2fx (1000 plots), %.2fx (2000 plots) (acceptance: at most 2.2)\n", t["1000x24"] / t["1000x12"], t["2000x24"] / t["2000x12"]
  }' "$work/rows"
