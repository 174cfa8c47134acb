"""Model parameters over which an intervention must stay invariant: sampling and applying."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping

import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.poutine.messenger import Messenger

Parameters = Mapping[str, torch.distributions.Distribution] | Callable[[int], Mapping]


def sample_parameters(parameters: Parameters, n: int, generator_seed: int | None = None) -> dict:
    """Draw ``n`` parameter values (leading batch dimension ``n``).

    :param parameters: name -> distribution (a model keyword argument or a site of the model),
        or a callable ``n -> {name: batched value}``.
    :param n: number of draws.
    :param generator_seed: seed for reproducible draws (the global RNG state is restored).

    >>> sample_parameters({"a": torch.distributions.Uniform(0.0, 1.0)}, 4)["a"].shape
    torch.Size([4])
    """
    state = torch.random.get_rng_state()
    try:
        if generator_seed is not None:
            torch.manual_seed(generator_seed)
        if callable(parameters) and not isinstance(parameters, Mapping):
            values = dict(parameters(n))
        elif isinstance(parameters, Mapping):
            values = {}
            for name, distribution in parameters.items():
                if not isinstance(distribution, torch.distributions.Distribution):
                    raise TypeError(
                        f"parameter {name!r}: expected a torch Distribution, got {distribution!r}"
                    )
                values[name] = distribution.sample((n,))
        else:
            raise TypeError(
                "parameters must be a dict name -> distribution or a callable n -> dict, got "
                f"{parameters!r}"
            )
    finally:
        if generator_seed is not None:
            torch.random.set_rng_state(state)
    for name, value in values.items():
        value = torch.as_tensor(value)
        if value.dim() == 0 or value.shape[0] != n:
            raise ValueError(
                f"parameter {name!r}: draws must have leading dimension {n}, got {value.shape}"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"parameter {name!r}: draws are not finite")
        values[name] = value
    if not values:
        raise ValueError("parameters: at least one model parameter must vary")
    return values


def reference_parameters(parameters: Parameters, reference: Mapping | None = None) -> dict:
    """Parameter values at the reference point, with a batch dimension of 1.

    Default: the distributions' means (or one draw from a callable, seed 0).
    """
    if reference is not None:
        return {k: torch.as_tensor(v).unsqueeze(0) for k, v in reference.items()}
    if isinstance(parameters, Mapping):
        out = {}
        for name, distribution in parameters.items():
            try:
                mean = distribution.mean
            except NotImplementedError:
                mean = distribution.sample((64,)).mean(0)
            out[name] = mean.unsqueeze(0)
        return out
    return sample_parameters(parameters, 1, generator_seed=0)


class _SetSites(Messenger):
    """Sets the values of sample / deterministic / param sites."""

    def __init__(self, values: Mapping[str, torch.Tensor]):
        super().__init__()
        self.values = dict(values)
        self.matched: set[str] = set()

    def _pyro_sample(self, msg) -> None:
        name = msg["name"]
        if name not in self.values or msg["infer"].get("equilibrium") is not None:
            return
        value = self.values[name]
        self.matched.add(name)
        event_dim = msg["fn"].event_dim
        msg["fn"] = dist.Delta(value, event_dim=event_dim).mask(False)
        msg["value"] = value
        msg["is_observed"] = True

    def _pyro_param(self, msg) -> None:
        name = msg["name"]
        if name in self.values:
            value = self.values[name]
            self.matched.add(name)
            msg["fn"] = lambda *args, **kwargs: value


def model_arguments(model: Callable) -> tuple[set[str], bool]:
    """Keyword names ``model`` accepts, and whether it takes ``**kwargs``."""
    try:
        signature = inspect.signature(model)
    except (TypeError, ValueError):
        return set(), True
    names = {
        p.name
        for p in signature.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    return names, var_kw


def with_parameters(model: Callable, values: Mapping[str, torch.Tensor], args=(), kwargs=None):
    """Run ``model(*args, **kwargs)`` with the parameters set: keyword arguments of the model
    are passed as such, other names set the model's sites of that name (error if none)."""
    names, var_kw = model_arguments(model)
    kwargs = dict(kwargs or {})
    if var_kw:
        names = names | _keyword_names(model, set(values) - names, args, kwargs)
    site_values = {}
    for name, value in values.items():
        if name in names:
            kwargs[name] = value
        else:
            site_values[name] = value
    setter = _SetSites(site_values)
    with setter:
        out = model(*args, **kwargs)
    missing = set(site_values) - setter.matched
    if missing:
        raise KeyError(
            f"parameter(s) {sorted(missing)} are neither keyword arguments of the model "
            f"(arguments: {sorted(names)}) nor sample / param / deterministic sites of it"
        )
    return out


_KEYWORDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _keyword_names(model: Callable, candidates: set[str], args, kwargs) -> set[str]:
    """For a model taking ``**kwargs`` (e.g. a wrapper): which ``candidates`` are not sites of
    it and so must be passed as keyword arguments (probed once by a trace, then cached)."""
    if not candidates:
        return set()
    try:
        cache = _KEYWORDS.setdefault(model, {})
    except TypeError:  # not weakly referenceable: probe every time
        cache = {}
    key = frozenset(candidates)
    if key not in cache:
        try:
            with torch.no_grad(), poutine.block():  # hidden from enclosing handlers
                trace = poutine.trace(model).get_trace(*args, **kwargs)
            cache[key] = {n for n in candidates if n not in trace.nodes}
        except Exception:  # the model needs them to run: they are keyword arguments
            cache[key] = set(candidates)
    return cache[key]
