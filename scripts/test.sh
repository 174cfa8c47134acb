#!/usr/bin/env bash
# Set up, then run the whole test suite: unit tests, doctests and the tutorial notebooks
# (in their small settings). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PCE_TUTORIAL_SMALL=1 MPLBACKEND=Agg
exec .venv/bin/python -m pytest "$@"
