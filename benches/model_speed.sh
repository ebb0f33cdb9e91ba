#!/usr/bin/env bash
# The per-pixel seasonal model beside pyxccd 1.1.0 (PyPI) on the real Landsat series sample_2.csv
# (724 observations, 1985-2016): pixels per second on one core, and the breaks each finds.
# Needs a Python with pyxccd: python3 -m venv /tmp/pyv && /tmp/pyv/bin/pip install pyxccd==1.1.0
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/tmp/pyv/bin/python}
DATA=../shared/data/real/pyccd-landsat-pixels/sample_2.csv
uptime
cargo bench --bench model_speed -- "${1:-2000}" 2>/dev/null | grep -E "model"
OMP_NUM_THREADS=1 "$PY" benches/model_speed_peer.py "$DATA" "${2:-50}"
