#!/usr/bin/env bash
# Issue 7, acceptance 1: `jingtu change` on a Sentinel-2-tile-sized pair (10980 x 10980 pixels, six UInt16
# band COGs per date plus SCL, stacked by a VRT) against, in the same run, the reference peer script
# (../shared/bench/peer_change.py, GDAL + numpy) and the I/O floor (benches/decode_floor.py: every band of
# both inputs decoded by GDAL on one thread, nothing else). Wall time, CPU time (user + system) and peak
# resident memory of each whole process, from /usr/bin/time; ratios per run, then min and median.
#
#   benches/change_tile.sh [RUNS] [SIZE]     (default 3 runs of a 10980-pixel tile)
#
# The pair is generated once into target/bench/s2-SIZE (about 5 GB for 10980; delete it when done) and
# reused by later runs. Needs python3-gdal and python3-numpy (Debian), like the peer.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
size="${2:-10980}"
cargo build --release --quiet
bin=target/release/jingtu
data="target/bench/s2-$size"
before="$data/2024-03-12.vrt"
after="$data/2024-06-20.vrt"
if [ ! -f "$after" ]; then
  echo "generating the pair into $data (once)"
  /usr/bin/python3 benches/s2_tiles.py "$data" --size "$size" --dates 2024-03-12,2024-06-20 >/dev/null
fi
peer=../shared/bench/peer_change.py
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input: $size x $size px, 2 dates x 6 UInt16 band COGs ($(du -shL "$data" | cut -f1) with SCL)"

# name, then the command: appends "name wall cpu rss_kib" to $work/runs.
measure() {
  local name="$1"
  shift
  if ! /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/out" 2>&1; then
    echo "$name failed:" >&2
    cat "$work/out" >&2
    exit 1
  fi
  read -r wall user sys rss <"$work/time"
  echo "$name $wall $(echo "$user + $sys" | bc) $rss" >>"$work/runs"
  printf "  %-7s wall %7.2f s   cpu %7.2f s   peak RSS %7.0f MiB\n" "$name" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc)"
}

for i in $(seq 1 "$runs"); do
  echo "run $i"
  measure floor /usr/bin/python3 benches/decode_floor.py "$before" "$after"
  measure jingtu "$bin" change "$before" "$after" --out "$work/jingtu.gpkg" --backend cpu --overwrite --quiet
  measure peer /usr/bin/python3 "$peer" "$before" "$after" "$work/peer.gpkg"
done

echo "summary (min / median over $runs runs)"
awk '
  { wall[$1, ++n[$1]] = $2; cpu[$1, n[$1]] = $3; rss[$1, n[$1]] = $4 }
  function sorted(arr, name, k,   v, i, j, t, m) {
    m = n[name]
    for (i = 1; i <= m; i++) v[i] = arr[name, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return k == "min" ? v[1] : (m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2)
  }
  function ratio(a, b, k,   v, i, j, t, m) {
    m = n[a]
    for (i = 1; i <= m; i++) v[i] = wall[a, i] / wall[b, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return k == "min" ? v[1] : (m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2)
  }
  END {
    split("floor jingtu peer", names, " ")
    for (x = 1; x <= 3; x++) {
      s = names[x]
      printf "  %-7s wall %7.2f / %7.2f s   cpu %7.2f / %7.2f s   peak RSS %6.0f / %6.0f MiB\n", s,
        sorted(wall, s, "min"), sorted(wall, s, "med"), sorted(cpu, s, "min"), sorted(cpu, s, "med"),
        sorted(rss, s, "min") / 1024, sorted(rss, s, "med") / 1024
    }
    printf "  peer / jingtu wall (same run):  %.2f / %.2f   (acceptance: at least 2.5)\n", ratio("peer", "jingtu", "min"), ratio("peer", "jingtu", "med")
    printf "  jingtu / floor wall (same run): %.2f / %.2f   (acceptance: at most 1.0)\n", ratio("jingtu", "floor", "min"), ratio("jingtu", "floor", "med")
    printf "  peak RSS jingtu %.0f MiB (acceptance: under 2048), peer / jingtu %.1fx\n", sorted(rss, "jingtu", "med") / 1024, sorted(rss, "peer", "med") / sorted(rss, "jingtu", "med")
  }' "$work/runs"
