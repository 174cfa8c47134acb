#!/usr/bin/env bash
# Create .venv (idempotent) with the pinned CPU build of torch first, then this package with
# its test and docs extras. As root, also installs Debian's chromium (for the docs rendering
# test) when /usr/bin/chromium is missing; that step never fails the setup (without a browser
# the test skips, unless PCE_REQUIRE_BROWSER=1 as in CI). PCE_SETUP_BROWSER=0 skips it.
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
if ! .venv/bin/python -c "import pyro_causal_eq, pytest, nbclient, hypothesis, sphinx, myst_nb, furo, distributed, yaml" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.pce-installed ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -e ".[test,docs]"
  touch .venv/.pce-installed
fi
if [ ! -x /usr/bin/chromium ] && [ "${PCE_SETUP_BROWSER:-1}" != 0 ] && [ "$(id -u)" = 0 ] \
   && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing chromium (apt-get) for the docs rendering test" >&2
  if ! (export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1); then
    echo "setup: could not install chromium; the docs rendering test will skip" >&2
  fi
fi
