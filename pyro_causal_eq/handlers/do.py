"""The ``do`` handler: soft (Lie), replacement and hard interventions on a Pyro model."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pyro.distributions as dist
import torch
from pyro.poutine.messenger import Messenger

from ..groups import LieGroupElement
from ..interventions import Replace, as_action, intervene_mechanism


class DoMessenger(Messenger):
    """Apply interventions to ``equilibrate`` nodes and to sample / param / deterministic sites.

    - On an equilibrium node the action transforms the structural assignment
      (``x_k := g · f_k(Pa_k)``, or a replacement, or a constant), and the equilibrium of the
      intervened system is solved.
    - On a ``pyro.sample`` site a group element gives the pushforward distribution ``g_* P``
      (so ``pyro.condition`` scores observations exactly); a :class:`Replace` maps the
      distribution to a new one; a constant fixes the value.
    - On a param or deterministic site the action transforms the value.

    Keys that match no site or node when the context exits raise a ``KeyError``.

    :param actions: site or node name -> action.
    """

    def __init__(self, actions: Mapping[str, object]):
        super().__init__()
        if not isinstance(actions, Mapping):
            raise TypeError(f"actions must be a dict of name -> action, got {type(actions)}")
        self.actions = {key: as_action(key, value) for key, value in actions.items()}
        self._matched: set[str] = set()
        self._seen: list[str] = []

    def __enter__(self):
        self._matched, self._seen = set(), []
        return super().__enter__()

    def __exit__(self, exc_type, exc_value, traceback):
        result = super().__exit__(exc_type, exc_value, traceback)
        unmatched = set(self.actions) - self._matched
        if exc_type is None and unmatched:
            raise KeyError(
                f"pce.do: intervention target(s) {sorted(unmatched)} matched no equilibrium "
                f"node or site of the model (seen: {self._seen})"
            )
        return result

    def _pyro_equilibrate(self, msg) -> None:
        mechanisms = dict(msg["kwargs"]["mechanisms"])
        nodes = list(mechanisms)
        self._seen += nodes
        for node in nodes:
            if node in self.actions:
                action = self.actions[node]
                mechanisms[node] = intervene_mechanism(mechanisms[node], action, node, nodes)
                if isinstance(action, torch.Tensor):  # hard: the node keeps no noise
                    mechanisms[node]._pce_hard = True
                self._matched.add(node)
        msg["kwargs"]["mechanisms"] = mechanisms

    def _pyro_sample(self, msg) -> None:
        name = msg["name"]
        if msg["infer"].get("equilibrium") is not None:
            return  # a node record of equilibrate: the action was applied to its mechanism
        self._seen.append(name)
        if name not in self.actions:
            return
        action = self.actions[name]
        self._matched.add(name)
        if msg["infer"].get("_deterministic"):
            value = self._transform_value(action, msg["value"])
            msg["value"] = value
            msg["fn"] = dist.Delta(value, event_dim=msg["fn"].event_dim).mask(False)
            return
        fn = msg["fn"]
        if isinstance(action, LieGroupElement):
            msg["fn"] = dist.TransformedDistribution(fn, [action.to_transform()])
        elif isinstance(action, Replace):
            msg["fn"] = action.fn(fn)
        else:
            value = action.to(dtype=fn.mean.dtype) if action.is_floating_point() else action
            value = value.expand(fn.batch_shape + fn.event_shape)
            msg["fn"] = dist.Delta(value, event_dim=fn.event_dim).mask(False)
            msg["value"] = value
            msg["is_observed"] = True
            msg["infer"] = dict(msg["infer"], _do_hard_intervention=True)

    def _pyro_param(self, msg) -> None:
        name = msg["name"]
        self._seen.append(name)
        if name not in self.actions:
            return
        action, fn = self.actions[name], msg["fn"]
        self._matched.add(name)

        def intervened_param(*args, **kwargs):
            value = fn(*args, **kwargs)
            out = self._transform_value(action, value)
            if out is not value and hasattr(value, "unconstrained"):
                # keep the link to the stored (unconstrained) param, which SVI collects from
                # the trace, so that optimizers still update the underlying parameter
                out.unconstrained = value.unconstrained
            return out

        msg["fn"] = intervened_param

    @staticmethod
    def _transform_value(action, value):
        if isinstance(action, LieGroupElement):
            return action(value)
        if isinstance(action, Replace):
            return action.fn(value)
        return action.to(value.dtype).expand(value.shape) if action.is_floating_point() else action


def do(fn: Callable | None = None, *, actions: Mapping[str, object]):
    """Intervene on a model: as a context manager, ``pce.do(actions=...)``, or as a wrapper,
    ``pce.do(model, actions=...)``.

    :param fn: a model (optional).
    :param actions: site or node name -> :class:`~pyro_causal_eq.groups.LieGroupElement`,
        :class:`~pyro_causal_eq.Replace`, or a constant (hard intervention).

    >>> import torch, pyro_causal_eq as pce
    >>> def model():
    ...     return pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1.0},
    ...                            init={"x": torch.zeros((), dtype=torch.float64)})
    >>> float(pce.do(model, actions={"x": pce.Scale(1.5)})()["x"])  # x = 1.5 (x / 2 + 1)
    6.0
    """
    messenger = DoMessenger(actions)
    return messenger(fn) if fn is not None else messenger
