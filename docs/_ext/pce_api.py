"""Write the API reference from ``__all__`` at build time, so new public names appear by
themselves.

One page per public module: ``pyro_causal_eq`` and each subpackage or module of it that
defines ``__all__`` (except ``internals``). A name that re-exports an object already documented
(``pyro_causal_eq.groups.Scale`` is ``pyro_causal_eq.Scale``) links to that entry instead of
documenting it twice. Pages are ``docs/api/<module>.rst`` (git-ignored).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

PACKAGE = "pyro_causal_eq"
PRIVATE = {"internals"}


def public_modules() -> list[str]:
    """``pyro_causal_eq`` first, then every submodule with an ``__all__``, sorted."""
    package = importlib.import_module(PACKAGE)
    names = set()
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name in PRIVATE:
            continue
        module = importlib.import_module(f"{PACKAGE}.{info.name}")
        if hasattr(module, "__all__"):
            names.add(module.__name__)
    names |= {
        f"{PACKAGE}.{name}" for name in package.__all__ if inspect.ismodule(getattr(package, name))
    }
    return [PACKAGE] + sorted(names)


def _directive(obj) -> str:
    if inspect.isclass(obj):
        return "autoclass"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or callable(obj):
        return "autofunction"
    return "autodata"


def _summary(obj) -> str:
    """The first sentence of a docstring, on one line."""
    doc = inspect.getdoc(obj) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    return first.replace("|", "\\|")


def _order(module, names: list[str]) -> list[str]:
    """Functions first (the entry points), then classes, then anything else; ``__all__``
    order within each."""
    rank = {"autofunction": 0, "autoclass": 1, "autodata": 2}
    return sorted(names, key=lambda n: rank[_directive(getattr(module, n))])


def module_page(name: str, seen: dict[int, str]) -> str:
    """The reStructuredText of one module's page; ``seen`` maps objects to their entries."""
    module = importlib.import_module(name)
    if not hasattr(module, "__all__"):
        raise AttributeError(f"{name} is public but has no __all__: list its public names")
    lines = [f"``{name}``", "=" * (len(name) + 4), ""]
    if _summary(module):
        lines += [_summary(module), ""]
    lines += [f".. py:currentmodule:: {name}", ""]
    aliases, own = [], []
    for attr in module.__all__:
        try:
            obj = getattr(module, attr)
        except AttributeError:
            raise AttributeError(
                f"{name}.__all__ lists {attr!r}, which {name} does not define"
            ) from None
        if inspect.ismodule(obj):
            aliases.append(f"- ``{attr}``: the subpackage :doc:`{obj.__name__}`")
        elif id(obj) in seen:
            aliases.append(f"- ``{attr}``: the same object as :py:obj:`{seen[id(obj)]}`")
        else:
            own.append(attr)
            seen[id(obj)] = f"{name}.{attr}"
    own = _order(module, own)
    if own:
        lines += [".. list-table::", "   :widths: 30 70", ""]
        for attr in own:
            lines += [
                f"   * - :py:obj:`{attr} <{name}.{attr}>`",
                f"     - {_summary(getattr(module, attr))}",
            ]
        lines.append("")
    for attr in own:
        lines += [f".. {_directive(getattr(module, attr))}:: {name}.{attr}", ""]
    if aliases:
        lines += ["Also exported", "-------------", ""] + aliases + [""]
    return "\n".join(lines)


def write_pages(folder: Path) -> list[Path]:
    """Write every module's page into ``folder``; remove pages of modules that are gone."""
    folder.mkdir(parents=True, exist_ok=True)
    seen: dict[int, str] = {}
    written = []
    for name in public_modules():
        path = folder / f"{name}.rst"
        text = module_page(name, seen)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for stale in set(folder.glob(f"{PACKAGE}*.rst")) - set(written):
        stale.unlink()
    return written


def _on_builder_inited(app) -> None:
    write_pages(Path(app.srcdir) / "api")


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
