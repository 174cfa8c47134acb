"""The package's import graph follows the layers of DESIGN.md: arrows point down only.

Every top-level module or subpackage of ``pyro_causal_eq`` has a level in ``LAYERS``; a module
may import from its own level or below, never above. Imports are read with ``ast`` (lazy imports
inside functions count; imports under ``if TYPE_CHECKING:`` do not). A new top-level module or
subpackage fails the test until it is placed in ``LAYERS``.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import networkx as nx
import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "pyro_causal_eq"
PACKAGE = "pyro_causal_eq"

# level -> top-level units (a module ``pyro_causal_eq/<unit>.py`` or a subpackage ``<unit>/``).
# ``errors`` has no imports of its own and sits at the bottom: every layer may raise its errors.
LAYER_TABLE = {
    0: {"internals", "errors"},
    1: {"ops", "groups", "graph", "interventions", "distributions"},
    2: {"handlers"},
    3: {"invariance", "optimize"},
    4: {"simulators"},
    5: {"economics", "reduction", "learning", "sweep"},
    6: {"cli", "commands", "__main__"},
}
LAYERS = {unit: level for level, units in LAYER_TABLE.items() for unit in units}

# Upward imports that exist today and are being removed (issue 12, item 5): (importing module,
# imported unit). The test fails when one of them disappears, so the entry gets deleted.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    base = PACKAGE_DIR.parent.joinpath(*dotted.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                inside |= {id(n) for n in ast.walk(child)}
    return inside


@functools.cache
def imported_modules(path: Path, name: str | None = None) -> set[str]:
    """The ``pyro_causal_eq`` modules that the file at ``path`` (module ``name``) imports:
    relative ones resolved, ``from pkg import name`` is ``pkg.name`` when that is a module."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = _type_checking_nodes(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                dotted = f"{source}.{alias.name}"
                found.add(dotted if _is_module(dotted) else source)
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


def unit_of(module: str) -> str | None:
    """The top-level unit of a module (``None`` for the package root, the public facade)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


MODULES = sorted(PACKAGE_DIR.rglob("*.py"))


def upward_imports(path: Path) -> set[tuple[str, str]]:
    """(module, imported unit) for each import of a unit above the module's level."""
    module = module_name(path)
    level = LAYERS[unit_of(module)]
    out = set()
    for target in imported_modules(path):
        unit = unit_of(target)
        if unit is None:
            # the root (public facade) imports everything: only the top layer may use it
            if level < max(LAYER_TABLE):
                out.add((module, PACKAGE))
        elif unit in LAYERS and LAYERS[unit] > level:
            out.add((module, unit))
    return out


def test_every_module_has_a_layer():
    units = {unit_of(module_name(p)) for p in MODULES} - {None}
    missing = sorted(units - set(LAYERS))
    assert not missing, (
        f"pyro_causal_eq.{missing} have no layer: add them to LAYER_TABLE in "
        "tests/test_layers.py (and to the layers of DESIGN.md / docs/contributing.md)"
    )


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if unit_of(module_name(p)) is not None],
    ids=lambda p: module_name(p),
)
def test_no_upward_imports(path: Path):
    if unit_of(module_name(path)) not in LAYERS:
        pytest.fail(f"{module_name(path)} has no layer: add its unit to LAYER_TABLE")
    new = upward_imports(path) - KNOWN_VIOLATIONS
    assert not new, (
        f"{module_name(path)} (level {LAYERS[unit_of(module_name(path))]}) imports from "
        f"layers above it: {sorted(unit for _, unit in new)}; arrows point down only "
        "(move the shared code down, or the caller up)"
    )


def test_known_violations_still_exist():
    """Each entry of KNOWN_VIOLATIONS is still an upward import; delete fixed ones."""
    found = set().union(*(upward_imports(p) for p in MODULES if unit_of(module_name(p))))
    fixed = sorted(KNOWN_VIOLATIONS - found)
    assert not fixed, f"fixed, so remove from KNOWN_VIOLATIONS in tests/test_layers.py: {fixed}"


def test_no_cycles_between_units():
    graph = nx.DiGraph()
    for path in MODULES:
        unit = unit_of(module_name(path))
        for target in imported_modules(path):
            other = unit_of(target)
            if unit and other and other != unit:
                graph.add_edge(unit, other)
    known = {(unit_of(m), u) for m, u in KNOWN_VIOLATIONS}
    graph.remove_edges_from(known)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles between units of pyro_causal_eq: {cycles}"


def test_resolver_reads_relative_lazy_and_guarded_imports(tmp_path):
    source = tmp_path / "fake.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import torch\n"
        "from ..errors import EquilibriumError\n"
        "from .. import groups\n"
        "from .mechanisms import evaluate\n"
        "if TYPE_CHECKING:\n"
        "    from ..economics import IOModel\n"
        "def lazy():\n"
        "    from ..handlers.solver import default_solver\n",
        encoding="utf-8",
    )
    assert imported_modules(source, "pyro_causal_eq.internals.fake") == {
        "pyro_causal_eq.errors",
        "pyro_causal_eq.groups",
        "pyro_causal_eq.internals.mechanisms",
        "pyro_causal_eq.handlers.solver",
    }
    assert unit_of("pyro_causal_eq.internals.solvers.anderson") == "internals"
    assert unit_of(PACKAGE) is None
