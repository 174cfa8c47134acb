"""Every ``python`` block of docs/guide/solvers.md runs standalone (default dtype float32)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

PAGE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "solvers.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_solvers_page_block_runs_standalone(index, capsys):
    torch.set_default_dtype(torch.float32)  # as in a fresh interpreter
    exec(compile(BLOCKS[index], f"{PAGE.name}[{index}]", "exec"), {"__name__": "__main__"})
