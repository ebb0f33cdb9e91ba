#!/usr/bin/env bash
# The per-pixel seasonal model's breaks beside pyxccd 1.1.0's cold_detect on the real Landsat series of
# ../shared/data/real/pyccd-landsat-pixels (sample_2, test_3657_3610 and the five .npy pixels, converted
# to pyccd's CSV layout with the ARD bit-packed QA mapped to Fmask codes), each break paired with the
# nearest of the other's and their distance in clear observations.
# Needs a Python with numpy and pyxccd: python3 -m venv --system-site-packages /tmp/pyv && /tmp/pyv/bin/pip install pyxccd==1.1.0
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/tmp/pyv/bin/python}
DATA=../shared/data/real/pyccd-landsat-pixels
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" benches/model_breaks_compare.py convert "$DATA" "$WORK"
cargo run --release --quiet --example model_breaks -- "$WORK"/*.csv > "$WORK/jingtu.txt"
"$PY" benches/model_breaks_peer.py "$WORK"/*.csv > "$WORK/cold.txt"
"$PY" benches/model_breaks_compare.py compare "$WORK"
