#!/usr/bin/env bash
# Create .venv (idempotent) with the pinned CPU build of torch first, then this package.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Pinned CPU torch first: an unpinned torch would pull several GB of CUDA packages.
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0"
fi
if ! .venv/bin/python -c "import pyro_causal_eq, pytest, nbclient, hypothesis" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.pce-installed ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"
  touch .venv/.pce-installed
fi
