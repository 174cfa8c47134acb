#!/usr/bin/env bash
# Build the documentation site into docs/_build/html (warnings are errors), after setting up
# .venv with the docs extra. The tutorials are executed in their small settings and cached by
# content in docs/_build/.jupyter_cache, so a rebuild re-runs only the notebooks that changed.
# Every page is re-read (-E, a few seconds: notebooks come from the cache) so that titles and
# the navigation never go stale. Extra arguments go to sphinx-build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PCE_TUTORIAL_SMALL=1 MPLBACKEND=Agg
.venv/bin/python -m sphinx -E -W --keep-going -b html "$@" docs docs/_build/html
echo "docs: open docs/_build/html/index.html"
