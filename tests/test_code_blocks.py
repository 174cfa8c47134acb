"""Every ```python block of README.md and docs/**/*.md runs, each on its own.

A block runs as a script in a fresh namespace, from the repository root, with torch's default
dtype float32 (as for a new user) and a fresh Pyro state. A block that cannot run (one that
needs a large download, say) opts out with the comment ``<!-- no-run -->`` on the line just
before its opening fence; use it sparingly, and say why next to it. Blocks in other languages
(```bash, ```text, ...) are not run; the scripts that ```bash blocks call must exist and parse.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pyro
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NO_RUN = "<!-- no-run -->"
GENERATED = ("docs/_build", "docs/_generated", "docs/tutorials/")
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


@dataclass(frozen=True)
class CodeBlock:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    no_run: bool

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def code_blocks(path: Path) -> list[CodeBlock]:
    """The fenced code blocks of a Markdown file (nested fences are skipped whole)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info = match["fence"], match["info"].strip()
        start, body = i, []
        i += 1
        while i < len(lines) and not re.match(
            rf"^ {{0,3}}{fence[0]}{{{len(fence)},}}\s*$", lines[i]
        ):
            body.append(lines[i])
            i += 1
        previous = next(
            (lines[k].strip() for k in range(start - 1, -1, -1) if lines[k].strip()), ""
        )
        language = info.split()[0].strip("{}") if info else ""
        blocks.append(
            CodeBlock(path, start + 1, language, "\n".join(body) + "\n", previous == NO_RUN)
        )
        i += 1
    return blocks


def markdown_files() -> list[Path]:
    files = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
    return [p for p in files if p.exists() and not str(p.relative_to(ROOT)).startswith(GENERATED)]


PYTHON_BLOCKS = [
    block
    for path in markdown_files()
    for block in code_blocks(path)
    if block.language in ("python", "py", "python3")
]


@pytest.fixture
def new_user_state(monkeypatch):
    """float32 default dtype, fresh param store, non-interactive plots, cwd = repository."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    matplotlib.use("Agg")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    pyro.clear_param_store()
    yield
    torch.set_default_dtype(previous)
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_code_block_runs(block: CodeBlock, new_user_state):
    if block.no_run:
        pytest.skip(f"{block.id} is marked {NO_RUN}")
    # padded so that tracebacks point at the Markdown file's own line numbers
    code = compile("\n" * block.line + block.code, str(block.path), "exec")
    exec(code, {"__name__": "__main__", "__file__": str(block.path)})


BASH_BLOCKS = [b for p in markdown_files() for b in code_blocks(p) if b.language in ("bash", "sh")]


@pytest.mark.parametrize("block", BASH_BLOCKS, ids=[b.id for b in BASH_BLOCKS])
def test_bash_block_scripts_exist_and_parse(block: CodeBlock):
    """Shell blocks are not run (they set up environments, run the suite, build the site), but
    every ``bash <script>`` they show exists and is valid shell."""
    for line in block.code.splitlines():
        words = line.split("#")[0].split()
        if len(words) >= 2 and words[0] == "bash":
            script = ROOT / words[1]
            assert script.is_file(), f"{block.id}: {words[1]} does not exist"
            check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
            assert check.returncode == 0, f"{block.id}: {words[1]}: {check.stderr}"


def test_readme_has_python_blocks():
    """The extraction itself: the README's example is found (and so is run above)."""
    assert any(b.path.name == "README.md" for b in PYTHON_BLOCKS)


def test_extraction_handles_markers_and_nested_fences(tmp_path):
    text = (
        "# t\n\n```python\nx = 1\n```\n\n<!-- no-run -->\n\n```python\nraise SystemExit\n```\n"
        "````markdown\n```python\nnot run\n```\n````\n```bash\nls\n```\n"
    )
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf-8")
    blocks = code_blocks(path)
    assert [(b.language, b.no_run, b.code) for b in blocks] == [
        ("python", False, "x = 1\n"),
        ("python", True, "raise SystemExit\n"),
        ("markdown", False, "```python\nnot run\n```\n"),
        ("bash", False, "ls\n"),
    ]
    assert os.path.isabs(blocks[0].path)
