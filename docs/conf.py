"""Sphinx configuration: ``bash scripts/docs.sh`` builds ``docs/_build/html``.

Generated at build time (never committed): the API pages (``_ext/pce_api.py`` writes one page
per public module from its ``__all__``) and copies of ``tutorials/*.ipynb``, which myst-nb
executes in their small settings (``PCE_TUTORIAL_SMALL=1``) and caches by content.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

# The notebooks read these; set before any kernel starts so executions are small and quiet.
os.environ.setdefault("PCE_TUTORIAL_SMALL", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("PCE_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
os.environ.setdefault("PCE_TUTORIAL_OUT", tempfile.mkdtemp(prefix="pce-docs-tutorial-out-"))
# tqdm (imported by pyro) warns in every kernel that has no ipywidgets: noise on every page.
os.environ["PYTHONWARNINGS"] = ",".join(
    [w for w in [os.environ.get("PYTHONWARNINGS", ""), "ignore:IProgress not found"] if w]
)
# The kernel imports this tree's package even when it is not installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)


def _copy_tutorials() -> None:
    """Copy ``tutorials/*.ipynb`` into the source tree (unchanged files keep their mtime)."""
    target = DOCS / "tutorials"
    for source in sorted((ROOT / "tutorials").glob("*.ipynb")):
        copy = target / source.name
        if not copy.exists() or copy.read_bytes() != source.read_bytes():
            shutil.copyfile(source, copy)
    for stale in target.glob("*.ipynb"):
        if not (ROOT / "tutorials" / stale.name).exists():
            stale.unlink()


# The user guide in reading order; any other page of docs/guide/ follows, alphabetically, so a
# new page appears without editing this file.
GUIDE_ORDER = [
    "model_language",
    "interventions",
    "solvers",
    "conditioning",
    "economics",
    "invariance",
    "tcr",
    "scaling",
]


def _write_guide_toctree() -> None:
    """Write ``_generated/guide_toctree.md`` (included by ``index.md``) from ``guide/*.md``."""
    pages = {path.stem for path in (DOCS / "guide").glob("*.md")}
    ordered = [p for p in GUIDE_ORDER if p in pages] + sorted(pages - set(GUIDE_ORDER))
    lines = ["```{toctree}", ":caption: User guide", ":maxdepth: 2", ""]
    text = "\n".join(lines + [f"guide/{page}" for page in ordered] + ["```", ""])
    path = DOCS / "_generated" / "guide_toctree.md"
    path.parent.mkdir(exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


_copy_tutorials()
_write_guide_toctree()

project = "pyro_causal_eq"
author = "pyro_causal_eq developers"
copyright = "the pyro_causal_eq developers, Apache-2.0"
try:
    from pyro_causal_eq import __version__ as release
except ImportError:  # the API pages will say why; keep the configuration loadable
    release = "unknown"
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "pce_api",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_generated", "**.ipynb_checkpoints", "README.md"]
root_doc = "index"

# -- API (docstrings use :param: fields, so no Napoleon) -------------------------------------
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autoclass_content = "both"
add_module_names = False

# -- notebooks --------------------------------------------------------------------------------
nb_execution_mode = os.environ.get("PCE_DOCS_EXECUTE", "cache")
nb_execution_cache_path = os.environ.get("PCE_DOCS_CACHE", str(DOCS / "_build" / ".jupyter_cache"))
nb_execution_timeout = int(os.environ.get("PCE_DOCS_TIMEOUT", "900"))
nb_execution_raise_on_error = True  # a failing cell fails the build
nb_execution_show_tb = True
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- HTML -------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"pyro_causal_eq {release}"
html_static_path = []
html_show_sourcelink = False
