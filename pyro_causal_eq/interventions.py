"""Interventions on structural assignments: group actions, replacements, hard values."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import torch

from .groups import LieGroupElement
from .internals.mechanisms import mechanism_parents, signature_of


class Replace:
    """Soft intervention replacing a mechanism by ``fn`` over (a subset of) the same parents.

    On an ``equilibrate`` node, ``fn``'s argument names must be parents of the node in the
    unintervened system (``**kwargs`` receives all of them). On a ``pyro.sample`` site, ``fn``
    maps the site's distribution to a new distribution. On a param or deterministic site,
    ``fn`` maps the value to a new value.

    :param fn: the new mechanism.

    >>> import pyro_causal_eq as pce
    >>> with pce.do(actions={"x": Replace(lambda x: 0.25 * x + 1.0)}):
    ...     x = pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1.0}, init={"x": torch.zeros(())})
    >>> round(float(x["x"]), 6)  # 1 / (1 - 0.25)
    1.333333
    """

    def __init__(self, fn: Callable):
        if not callable(fn):
            raise TypeError(f"Replace needs a callable, got {fn!r}")
        self.fn = fn

    def __repr__(self) -> str:
        return f"Replace({getattr(self.fn, '__name__', self.fn)!r})"


Action = LieGroupElement | Replace | torch.Tensor


def as_action(key: str, action) -> Action:
    """Validate an action: a group element, a :class:`Replace`, or a constant (hard)."""
    if isinstance(action, LieGroupElement | Replace):
        return action
    if callable(action):
        raise TypeError(
            f"action for {key!r} is a bare callable; wrap a new mechanism as pce.Replace(fn)"
        )
    try:
        value = torch.as_tensor(action)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"action for {key!r} must be a Lie group element, pce.Replace(fn) or a constant; "
            f"got {action!r}"
        ) from error
    if value.is_floating_point() and not bool(torch.isfinite(value.detach()).all()):
        raise ValueError(f"hard intervention value for {key!r} is not finite: {value}")
    return value


def intervene_mechanism(mechanism: Callable, action: Action, node: str, nodes: list[str]):
    """The structural assignment of ``node`` after ``action``: ``g·f``, a replacement, or a
    constant."""
    if isinstance(action, LieGroupElement):

        @functools.wraps(mechanism)
        def acted(*args, **kwargs):
            return action(mechanism(*args, **kwargs))

        return acted
    if isinstance(action, Replace):
        parents = set(mechanism_parents(mechanism, nodes, node))
        new_parents = set(mechanism_parents(action.fn, nodes, node))
        accepts_all = any(
            p.kind is inspect.Parameter.VAR_KEYWORD
            for p in signature_of(action.fn).parameters.values()
        )
        if accepts_all:
            return _restricted(action.fn, tuple(sorted(parents)))
        if not new_parents <= parents:
            raise ValueError(
                f"Replace on node {node!r} reads {sorted(new_parents - parents)}, which are not "
                f"parents of {node!r} (parents: {sorted(parents)}); a soft intervention keeps "
                "the parent set"
            )
        return action.fn
    return lambda: action


def _restricted(fn: Callable, parents: tuple[str, ...]) -> Callable:
    """Wrap a ``**kwargs`` mechanism so that its parents are exactly ``parents``."""

    def mechanism(**values):
        return fn(**values)

    mechanism.__signature__ = inspect.Signature(
        [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in parents]
    )
    return mechanism
