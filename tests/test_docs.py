"""The documentation site builds with warnings as errors, and renders in a browser.

The build (``sphinx-build -W --keep-going``, as ``scripts/docs.sh``) goes to a temporary folder
with its own notebook cache, so the tutorials are executed afresh. Headless Chromium then opens
the front page and the API page: title, search box and an API entry must be in the rendered DOM,
and a screenshot of each must not be blank. Without ``/usr/bin/chromium`` the browser part
skips, unless ``PCE_REQUIRE_BROWSER=1`` (set by ``.ci/run``); ``bash scripts/setup.sh``
installs it when run as root. Set ``PCE_DOCS_SCREENSHOTS=DIR`` to keep the screenshots.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,1000",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The built site (``index.html`` at its root)."""
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    pytest.importorskip("furo")
    work = tmp_path_factory.mktemp("docs")
    (work / "tutorial_out").mkdir()
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        PCE_TUTORIAL_SMALL="1",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
        PCE_DOCS_CACHE=str(work / "jupyter_cache"),
        PCE_TUTORIAL_OUT=str(work / "tutorial_out"),
    )
    html = work / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "--no-color"]
    command += ["-b", "html"]
    command += ["-d", str(work / "doctrees"), str(ROOT / "docs"), str(html)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, f"sphinx-build failed:\n{done.stdout[-4000:]}{done.stderr[-8000:]}"
    return html


def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        message = "headless Chromium (/usr/bin/chromium) is absent: bash scripts/setup.sh as root"
        if os.environ.get("PCE_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (PCE_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    return path


def browse(page: Path, profile: Path, *, screenshot: Path | None = None) -> str:
    """The DOM of ``page`` after loading (or, with ``screenshot``, write a PNG of it)."""
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    command += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    done = subprocess.run(
        command + [page.as_uri()], capture_output=True, text=True, timeout=180, cwd=profile
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def assert_not_blank(png: Path) -> None:
    from matplotlib.image import imread

    pixels = imread(png)
    assert pixels.shape[0] >= 500 and pixels.shape[1] >= 1000, pixels.shape
    assert float(pixels[..., :3].std()) > 0.05, f"{png} looks blank"


def screenshots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PCE_DOCS_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_site_pages_exist(site: Path):
    """Every part of the site is there: guide, errors, API pages, tutorials with outputs."""
    for page in ["index", "errors", "contributing", "guide/model_language", "api/index"]:
        assert (site / f"{page}.html").exists(), page
    api = (site / "api" / "pyro_causal_eq.html").read_text(encoding="utf-8")
    assert 'id="pyro_causal_eq.equilibrate"' in api and 'id="pyro_causal_eq.do"' in api
    tutorials = sorted((ROOT / "tutorials").glob("*.ipynb"))
    assert tutorials
    for notebook in tutorials:
        html = (site / "tutorials" / f"{notebook.stem}.html").read_text(encoding="utf-8")
        assert "cell_output" in html, f"{notebook.name} is rendered without outputs"


def test_site_renders_in_browser(site: Path, tmp_path: Path):
    front = browse(site / "index.html", tmp_path)
    assert "<title>pyro_causal_eq" in front
    assert 'name="q"' in front and "search" in front.lower()  # furo's search box
    assert "api/index.html" in front
    api = browse(site / "api" / "pyro_causal_eq.html", tmp_path)
    assert 'id="pyro_causal_eq.equilibrate"' in api
    # the entry's signature and its docstring's fields are rendered
    assert '<span class="sig-name descname"><span class="pre">equilibrate</span>' in api
    assert "Parameters" in api  # the :param: fields, rendered
    shots = screenshots_dir(tmp_path)
    for name, page in [("front", site / "index.html"), ("api", site / "api/pyro_causal_eq.html")]:
        png = shots / f"docs_{name}.png"
        browse(page, tmp_path, screenshot=png)
        assert_not_blank(png)


def test_slow_marker_is_applied_centrally(request):
    """The root conftest marks the site tests slow (and not this one)."""
    items = {item.name: item for item in request.session.items}
    assert request.node.get_closest_marker("slow") is None
    for name in ("test_site_pages_exist", "test_site_renders_in_browser"):
        if name in items:
            assert items[name].get_closest_marker("slow") is not None, name
