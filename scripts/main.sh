#!/usr/bin/env bash
# Main job: set up, then run the GHG/employment trade-off on the embedded default economy
# (pymrio's test MRIO). Extra arguments go to `pyro-causal-eq tradeoff`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec .venv/bin/pyro-causal-eq tradeoff --out "${PCE_OUT:-out/tradeoff}" "$@"
