"""Learnable replacement mechanisms: an MLP of the auxiliary node's parents."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import nn

from .nodes import NodeRef


def mlp(
    in_features: int,
    out_features: int,
    hidden: Sequence[int] = (32, 32),
    activation: type[nn.Module] = nn.Tanh,
    dtype: torch.dtype | None = None,
) -> nn.Sequential:
    """A multilayer perceptron with a zero-initialized last layer (so it starts constant).

    :param in_features: input size.
    :param out_features: output size.
    :param hidden: hidden layer widths (the paper uses two hidden layers).
    :param activation: activation module class.
    :param dtype: parameter dtype (default: the default dtype).

    >>> net = mlp(2, 1, hidden=(8,))
    >>> net(torch.ones(5, 2)).shape
    torch.Size([5, 1])
    """
    dtype = dtype or torch.get_default_dtype()
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, size, dtype=dtype), activation()]
        width = size
    last = nn.Linear(width, out_features, dtype=dtype)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    layers.append(last)
    return nn.Sequential(*layers)


class InvariantMechanism(nn.Module):
    """The learned soft intervention ``f_k^(u)(Pa_k)`` on the auxiliary node.

    Reads only the auxiliary node's parents in the unintervened graph (the ``features``: whole
    parent nodes or single elements of them), standardizes them with fixed statistics, applies
    ``network`` and de-standardizes its output. When trained over a range of intervention
    values, the Lie-algebra coordinates of the intervention (``coords``) are extra inputs.

    Call it with the parents as keyword arguments (as a mechanism); its value is the auxiliary
    node's (or element's) new assignment.

    :param features: the parent references read, in order.
    :param event_dims: parent node -> number of event dimensions.
    :param out_shape: event shape of the output (``()`` for an element).
    :param network: module mapping ``batch + (n_features [+ n_coords],)`` to
        ``batch + (out_size,)``.
    :param n_coords: number of intervention coordinates appended to the inputs.

    >>> from pyro_causal_eq.invariance import NodeRef
    >>> m = InvariantMechanism([NodeRef("y", (1,))], {"y": 1}, torch.Size(), mlp(1, 1, (4,)))
    >>> m.set_statistics(torch.tensor([[1.0], [3.0]]), torch.tensor([[2.0], [4.0]]))
    >>> m(y=torch.tensor([[0.0, 5.0], [0.0, 7.0]]))  # starts at the mean auxiliary value
    tensor([3., 3.], grad_fn=<ViewBackward0>)
    """

    def __init__(
        self,
        features: Sequence[NodeRef],
        event_dims: dict[str, int],
        out_shape: torch.Size,
        network: nn.Module,
        n_coords: int = 0,
    ):
        super().__init__()
        self.features = tuple(features)
        self.event_dims = dict(event_dims)
        self.out_shape = torch.Size(out_shape)
        self.network = network
        self.n_coords = n_coords
        self.coords: torch.Tensor | None = None
        self.parents = tuple(dict.fromkeys(ref.node for ref in self.features))
        # the argument names are the parents read (so pce.Replace sees the mechanism's parents)
        self.__signature__ = inspect.Signature(
            [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in self.parents]
        )
        dtype = next((p.dtype for p in network.parameters()), torch.get_default_dtype())
        self.register_buffer("in_shift", torch.zeros(0, dtype=dtype))
        self.register_buffer("in_scale", torch.ones(0, dtype=dtype))
        out_size = max(int(self.out_shape.numel()), 1)
        self.register_buffer("out_shift", torch.zeros(out_size, dtype=dtype))
        self.register_buffer("out_scale", torch.ones(out_size, dtype=dtype))

    def extract(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """The raw feature vector ``batch + (n_features,)`` from parent values."""
        return extract_features(self.features, self.event_dims, values)

    def set_statistics(self, features: torch.Tensor, outputs: torch.Tensor) -> None:
        """Fix the standardization from unintervened features and auxiliary values."""
        flat_f = features.reshape(-1, features.shape[-1]).detach()
        flat_o = outputs.reshape(-1, self.out_shift.shape[0]).detach()
        self.in_shift = flat_f.mean(0)
        self.in_scale = _spread(flat_f)
        self.out_shift = flat_o.mean(0)
        self.out_scale = _spread(flat_o)

    def forward(self, **values: torch.Tensor) -> torch.Tensor:
        features = self.extract(values)
        if self.in_shift.numel():
            features = (features - self.in_shift) / self.in_scale
        if self.n_coords:
            if self.coords is None:
                raise RuntimeError(
                    "this mechanism was trained over a range of interventions: set its "
                    "intervention coordinates (use the result's handler(...) / actions(...))"
                )
            coords = self.coords.reshape(self.coords.shape[:-1] + (self.n_coords,))
            batch = torch.broadcast_shapes(features.shape[:-1], coords.shape[:-1])
            features = torch.cat(
                [features.expand(batch + features.shape[-1:]), coords.expand(batch + (-1,))], -1
            )
        out = self.out_shift + self.out_scale * self.network(features)
        return out.reshape(out.shape[:-1] + self.out_shape)


def extract_features(
    features: Sequence[NodeRef], event_dims: dict[str, int], values: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Concatenate the referenced (flattened) parent values into ``batch + (n_features,)``."""
    parts = [ref.select(values[ref.node], event_dims[ref.node]) for ref in features]
    if not parts:
        raise ValueError("InvariantMechanism has no features")
    batch = torch.broadcast_shapes(*(p.shape[:-1] for p in parts))
    return torch.cat([p.expand(batch + p.shape[-1:]) for p in parts], dim=-1)


def _spread(values: torch.Tensor) -> torch.Tensor:
    """Per-column standard deviation, floored at 5 % of the column's magnitude; a column that
    does not vary over the draws (e.g. a structurally constant parent) is scaled by the largest
    column magnitude instead, so that it is not blown up into a huge, useless sensitivity."""
    std = values.std(0) if values.shape[0] > 1 else torch.zeros_like(values[0])
    magnitude = values.abs().mean(0)
    largest = magnitude.max().clamp_min(1e-12)
    constant = std <= 1e-9 * (magnitude + largest)
    spread = torch.maximum(std, 0.05 * magnitude)
    return torch.where(constant, torch.maximum(magnitude, largest), spread).clamp_min(1e-12)
