"""Jacobians by tracing the torch operations of a map (forward mode over whole matrices).

A black-box Jacobian costs ``n`` vector-Jacobian products: for ``x ↦ A x + y`` that is the
matrix product ``I A`` (``2n³`` flops, three times a dense LU). Tracing the operations instead
propagates each intermediate's Jacobian as a matrix and knows that the Jacobian of ``x`` is the
identity, so ``A @ x`` contributes ``A`` itself and elementwise operations scale rows: the
Jacobian of a map built from matrix products with constants and elementwise operations costs
``O(n²)``. Any operation without a rule (in-place updates, data-dependent indexing, products
of two traced tensors, ...) aborts the trace and the caller falls back to ``torch.func``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.overrides import TorchFunctionMode


class Untraceable(Exception):
    """The map uses an operation the tracer has no rule for."""


#: the Jacobian of the input itself (materialized only when an operation needs it)
IDENTITY = object()

#: elementwise operations ``out = g(a)`` and their derivative ``g'`` from ``(a, out)``
_UNARY: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "tanh": lambda a, out: 1 - out.square(),
    "sigmoid": lambda a, out: out * (1 - out),
    "exp": lambda a, out: out,
    "expm1": lambda a, out: out + 1,
    "log": lambda a, out: 1 / a,
    "log1p": lambda a, out: 1 / (1 + a),
    "sin": lambda a, out: a.cos(),
    "cos": lambda a, out: -a.sin(),
    "sqrt": lambda a, out: 0.5 / out,
    "square": lambda a, out: 2 * a,
    "abs": lambda a, out: a.sign(),
    "relu": lambda a, out: (a > 0).to(a.dtype),
    "softplus": lambda a, out: torch.sigmoid(a),
    "neg": lambda a, out: -torch.ones_like(a),
    "__neg__": lambda a, out: -torch.ones_like(a),
    "clone": lambda a, out: None,
    "contiguous": lambda a, out: None,
    "positive": lambda a, out: None,
}
#: the elementwise operations above that are linear
_LINEAR_UNARY = {"neg", "__neg__", "clone", "contiguous", "positive"}
#: shape operations applied to the Jacobian as to the value (dimension arguments refer to the
#: value's dimensions and are normalized, the Jacobian's column dimension stays last)
_SHAPE = {"reshape", "view", "flatten", "unsqueeze", "squeeze", "expand", "broadcast_to"}
#: operations that return no new data or a derivative-free value (ignored by the trace)
_CONSTANT = {"detach", "sign", "floor", "ceil", "round", "trunc", "zeros_like", "ones_like"}


class JacobianTracer(TorchFunctionMode):
    """Records the Jacobian with respect to ``x`` of every tensor computed from it.

    :param x: the traced input, a 1-D tensor of ``n`` scalars.
    """

    def __init__(self, x: torch.Tensor):
        super().__init__()
        self.x, self.n = x, x.shape[-1]
        #: no operation so far made the Jacobian depend on ``x`` (the map is affine)
        self.affine = True
        #: ids of values whose Jacobian is a fresh tensor (no view or alias of any input)
        self.owned: set[int] = set()
        # id -> (tensor, jacobian of shape tensor.shape + (n,) or IDENTITY); the tensor is
        # kept so its id is not reused during the trace
        self.jacobians: dict[int, tuple[torch.Tensor, object]] = {id(x): (x, IDENTITY)}

    def jacobian(self, value) -> object | None:
        """The recorded Jacobian of ``value`` (``None`` when it does not depend on ``x``)."""
        if isinstance(value, torch.Tensor):
            entry = self.jacobians.get(id(value))
            if entry is not None and entry[0] is value:
                return entry[1]
        return None

    def dense(self, jac: object) -> torch.Tensor:
        if jac is IDENTITY:
            return torch.eye(self.n, dtype=self.x.dtype, device=self.x.device)
        return jac  # type: ignore[return-value]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if all(self.jacobian(a) is None for a in _tensors(args, kwargs)):
            return out
        name = getattr(func, "__name__", "")
        if name in ("__get__", "__len__", "size", "dim", "numel", "is_floating_point"):
            # shape and metadata queries; a property returning new data (.T, .mT) has no rule
            if isinstance(out, torch.Tensor) and out.is_floating_point() and out is not args[0]:
                raise Untraceable("a tensor property of a traced tensor")
            return out
        if name in _CONSTANT:
            # a value of x held constant (detach, sign, rounding) makes the map depend on x
            # beyond its Jacobian: not affine (a zeros_like or ones_like does not)
            self.affine &= name in ("zeros_like", "ones_like")
            return out
        if name.endswith("_") and not name.endswith("__"):
            raise Untraceable(f"in-place operation {name}")
        results = out if isinstance(out, tuple | list) else (out,)
        if not all(isinstance(r, torch.Tensor) for r in results):
            return out
        if not any(r.is_floating_point() for r in results):
            return out  # comparisons, masks, indices: no derivative
        rule = _RULES.get(name)
        if rule is None and name in _UNARY:
            rule = _unary_rule
        if rule is None and name in _SHAPE:
            rule = _shape_rule
        if rule is None:
            raise Untraceable(f"no Jacobian rule for {name or func}")
        try:
            jac = rule(self, name, out, *args, **kwargs)
        except Untraceable:
            raise
        except Exception as error:  # an argument form the rule does not know
            raise Untraceable(f"{name}: {error}") from error
        if isinstance(out, tuple | list):
            for value, part in zip(out, jac, strict=True):
                self.jacobians[id(value)] = (value, part)
        else:
            if jac is not IDENTITY and tuple(jac.shape) != (*out.shape, self.n):
                raise Untraceable(f"{name}: Jacobian shape {tuple(jac.shape)} for {out.shape}")
            self.jacobians[id(out)] = (out, jac)
            if jac is not IDENTITY and self._owns(jac, _tensors(args, kwargs)):
                self.owned.add(id(out))
        return out

    def _owns(self, jac: torch.Tensor, inputs) -> bool:
        """Whether ``jac`` may be overwritten: contiguous, sharing memory with no input and
        with no input's Jacobian unless that one is owned (a view of a fresh Jacobian, e.g.
        by a reshape, is fresh too)."""
        storage = _storage(jac)
        if storage is None or not jac.is_contiguous():
            return False
        for value in inputs:
            if _storage(value) == storage:
                return False
            inner = self.jacobian(value)
            shared = isinstance(inner, torch.Tensor) and _storage(inner) == storage
            if shared and id(value) not in self.owned:
                return False
        return True


def _storage(t: torch.Tensor) -> int | None:
    """The address of ``t``'s storage (shared by all its views); ``None`` without storage
    (a ``torch.func`` wrapper: then nothing counts as fresh)."""
    try:
        return t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return None


def _tensors(args, kwargs):
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, tuple | list):
            yield from (v for v in value if isinstance(v, torch.Tensor))


def _column(value, like: torch.Tensor) -> torch.Tensor:
    """``value`` (a tensor or number) with a trailing unit dimension, to scale Jacobian rows."""
    if isinstance(value, torch.Tensor):
        return value.unsqueeze(-1)
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _broadcast(tracer, jac, shape) -> torch.Tensor:
    jac = tracer.dense(jac)
    return jac.expand(*shape, tracer.n)


def _linear_combination(tracer, out, terms) -> object:
    """``Σ c_k J_k`` over ``terms = [(c_k, J_k)]`` broadcast to ``out``'s shape (``J_k``
    ``None``: no term); the identity stays lazy when it passes through unchanged."""
    terms = [(c, j) for c, j in terms if j is not None]
    lazy = len(terms) == 1 and terms[0][0] is None and terms[0][1] is IDENTITY
    if lazy and out.shape == tracer.x.shape:
        return IDENTITY
    total = None
    for coefficient, jac in terms:
        if coefficient is None:
            part = _broadcast(tracer, jac, out.shape)
        elif jac is IDENTITY and out.shape == tracer.x.shape:
            part = torch.diag_embed(torch.as_tensor(coefficient, dtype=out.dtype).expand(out.shape))
        else:
            part = _column(coefficient, out) * tracer.dense(jac)
            if part.shape != (*out.shape, tracer.n):
                part = part.expand(*out.shape, tracer.n)
        total = part if total is None else total + part
    return total


def _add_rule(tracer, name, out, a, b, *, alpha=1):
    if name.startswith("__r"):  # b + a
        a, b = b, a
    sign = -1 if "sub" in name else 1
    scale = sign * alpha
    return _linear_combination(
        tracer,
        out,
        [(None, tracer.jacobian(a)), (None if scale == 1 else scale, tracer.jacobian(b))],
    )


def _mul_rule(tracer, name, out, a, b):
    ja, jb = tracer.jacobian(a), tracer.jacobian(b)
    tracer.affine &= ja is None or jb is None
    return _linear_combination(tracer, out, [(b, ja), (a, jb)])


def _div_rule(tracer, name, out, a, b, *, rounding_mode=None):
    if rounding_mode is not None:
        raise Untraceable("division with rounding")
    if name in ("__rtruediv__", "__rdiv__"):
        a, b = b, a
    ja, jb = tracer.jacobian(a), tracer.jacobian(b)
    terms = [(1 / b if isinstance(b, torch.Tensor) else 1.0 / b, ja)]
    if jb is not None:
        tracer.affine = False
        terms.append((-out / b, jb))
    return _linear_combination(tracer, out, terms)


def _pow_rule(tracer, name, out, a, b):
    if name == "__rpow__" or tracer.jacobian(b) is not None:
        raise Untraceable("power with a traced exponent")
    if isinstance(b, torch.Tensor) and b.dim() > 0:
        raise Untraceable("power with a tensor exponent")
    tracer.affine &= b in (0, 1)
    return _linear_combination(tracer, out, [(b * a.pow(b - 1), tracer.jacobian(a))])


def _matmul_rule(tracer, name, out, a, b):
    if name == "__rmatmul__":
        a, b = b, a
    ja, jb = tracer.jacobian(a), tracer.jacobian(b)
    if ja is not None and jb is not None:
        raise Untraceable("product of two traced tensors")
    if jb is not None and a.dim() == 2 and b.dim() == 1:  # M @ t
        return a if jb is IDENTITY else a @ jb
    if ja is not None and a.dim() == 1 and b.dim() == 2:  # t @ M
        return b.T if ja is IDENTITY else b.T @ ja
    if jb is not None and a.dim() == 1 and b.dim() == 1:  # c · t
        return a @ tracer.dense(jb) if jb is not IDENTITY else a.clone()
    if ja is not None and a.dim() == 1 and b.dim() == 1:
        return b @ tracer.dense(ja) if ja is not IDENTITY else b.clone()
    raise Untraceable(f"{name} of shapes {tuple(a.shape)} and {tuple(b.shape)}")


def _unary_rule(tracer, name, out, a, *args, **kwargs):
    if args or kwargs:
        raise Untraceable(f"{name} with arguments")
    tracer.affine &= name in _LINEAR_UNARY
    derivative = _UNARY[name](a, out)
    return _linear_combination(tracer, out, [(derivative, tracer.jacobian(a))])


def _value_dim(dim: int, value_dim: int) -> int:
    return dim + value_dim if dim < 0 else dim


def _shape_rule(tracer, name, out, a, *args, **kwargs):
    if tracer.jacobian(a) is IDENTITY and out.shape == a.shape:
        return IDENTITY  # e.g. unpacking a single node
    jac = tracer.dense(tracer.jacobian(a))
    if name in ("reshape", "view", "expand", "broadcast_to"):
        if kwargs:
            raise Untraceable(f"{name} with keyword arguments")
        return (
            jac.reshape(*out.shape, tracer.n)
            if name in ("reshape", "view")
            else (jac.expand(*out.shape, tracer.n))
        )
    if name == "flatten" and not args and not kwargs:
        return jac.reshape(*out.shape, tracer.n)
    if name == "unsqueeze":
        (dim,) = args or (kwargs["dim"],)
        return jac.unsqueeze(_value_dim(dim, a.dim() + 1))
    if name == "squeeze":
        return jac.reshape(*out.shape, tracer.n)
    raise Untraceable(f"{name} with these arguments")


def _getitem_rule(tracer, name, out, a, index):
    index = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, torch.Tensor) for i in index):
        raise Untraceable("indexing with a tensor")
    if Ellipsis in index:
        position = index.index(Ellipsis)
        consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
        index = index[:position] + (slice(None),) * (a.dim() - consumed) + index[position + 1 :]
    return tracer.dense(tracer.jacobian(a))[index]


def _cat_rule(tracer, name, out, tensors, dim=0):
    parts = []
    for t in tensors:
        jac = tracer.jacobian(t)
        if jac is None:
            parts.append(torch.zeros(*t.shape, tracer.n, dtype=out.dtype, device=out.device))
        else:
            parts.append(tracer.dense(jac).to(out.dtype))
    if name == "stack":
        return torch.stack(parts, _value_dim(dim, out.dim()))
    return torch.cat(parts, _value_dim(dim, out.dim()))


def _split_rule(tracer, name, out, a, split, dim=0):
    jac = tracer.dense(tracer.jacobian(a))
    return jac.split(split, _value_dim(dim, a.dim()))


def _sum_rule(tracer, name, out, a, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        raise Untraceable("sum with a dtype")
    jac = tracer.dense(tracer.jacobian(a))
    if dim is None:
        return jac.reshape(-1, tracer.n).sum(0)
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return jac.sum([_value_dim(d, a.dim()) for d in dims], keepdim=keepdim)


def _clamp_rule(tracer, name, out, a, min=None, max=None):
    if name == "clamp_max":
        min, max = None, min
    if tracer.jacobian(min) is not None or tracer.jacobian(max) is not None:
        raise Untraceable("clamp with traced bounds")
    tracer.affine = False
    inside = torch.ones_like(a, dtype=torch.bool)  # torch's rule: derivative 1 on the bounds
    if min is not None:
        inside = inside & (a >= min)
    if max is not None:
        inside = inside & (a <= max)
    return _linear_combination(tracer, out, [(inside.to(out.dtype), tracer.jacobian(a))])


def _mean_rule(tracer, name, out, a, dim=None, keepdim=False, *, dtype=None):
    return _sum_rule(tracer, name, out, a, dim, keepdim, dtype=dtype) * (out.numel() / a.numel())


def _linear_rule(tracer, name, out, a, weight, bias=None):
    if tracer.jacobian(weight) is not None or a.dim() != 1:
        raise Untraceable("linear with a traced weight or a batched input")
    jac = tracer.jacobian(a)
    return weight if jac is IDENTITY else weight @ jac


def _where_rule(tracer, name, out, condition, a, b):
    tracer.affine = False  # piecewise: the condition may depend on x
    ja, jb = tracer.jacobian(a), tracer.jacobian(b)
    shape = (*out.shape, tracer.n)
    zero = torch.zeros((), dtype=out.dtype, device=out.device)
    first = _broadcast(tracer, ja, out.shape) if ja is not None else zero.expand(shape)
    second = _broadcast(tracer, jb, out.shape) if jb is not None else zero.expand(shape)
    return torch.where(condition.unsqueeze(-1), first, second)


def _to_rule(tracer, name, out, a, *args, **kwargs):
    return tracer.dense(tracer.jacobian(a)).to(out.dtype)


_RULES = {
    **dict.fromkeys(("add", "__add__", "__radd__", "sub", "__sub__", "__rsub__"), _add_rule),
    **dict.fromkeys(("mul", "__mul__", "__rmul__", "multiply"), _mul_rule),
    **dict.fromkeys(
        ("div", "__truediv__", "__rtruediv__", "__div__", "__rdiv__", "true_divide", "divide"),
        _div_rule,
    ),
    **dict.fromkeys(("pow", "__pow__", "__rpow__"), _pow_rule),
    **dict.fromkeys(("matmul", "__matmul__", "__rmatmul__", "mv", "mm", "dot"), _matmul_rule),
    "__getitem__": _getitem_rule,
    "cat": _cat_rule,
    "concat": _cat_rule,
    "concatenate": _cat_rule,
    "stack": _cat_rule,
    "split": _split_rule,
    "sum": _sum_rule,
    "mean": _mean_rule,
    **dict.fromkeys(("clamp", "clip", "clamp_min", "clamp_max"), _clamp_rule),
    "linear": _linear_rule,
    "where": _where_rule,
    **dict.fromkeys(("to", "double", "float", "type_as"), _to_rule),
}


def traced_jacobian(f: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """``∂f/∂z`` at a 1-D ``z`` by tracing ``f``'s operations; raises :class:`Untraceable`
    when an operation has no rule.

    >>> A = torch.tensor([[0.5, 0.25], [0.0, 0.5]])
    >>> traced_jacobian(lambda x: 2.0 * (A @ x) + x, torch.zeros(2))  # 2A + I
    tensor([[2.0000, 0.5000],
            [0.0000, 2.0000]])
    """
    return trace_jacobian(f, z)[0]


def trace_jacobian(
    f: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor
) -> tuple[torch.Tensor, bool, bool]:
    """``(∂f/∂z, affine, owned)`` at a 1-D ``z``, see :func:`trace`.

    >>> A = torch.tensor([[0.5, 0.25], [0.0, 0.5]])
    >>> [trace_jacobian(g, torch.zeros(2))[1:] for g in (lambda x: A @ x + 1, torch.tanh)]
    [(True, False), (False, True)]
    """
    return trace(f, z)[:3]


def trace(
    f: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor
) -> tuple[torch.Tensor, bool, bool, torch.Tensor]:
    """``(∂f/∂z, affine, owned, f(z))`` at a 1-D ``z``: ``affine`` when no traced operation was
    nonlinear (the Jacobian is then the same everywhere, along this code path of ``f``),
    ``owned`` when the Jacobian is a fresh tensor that the caller may overwrite (not, e.g.,
    the matrix ``A`` of ``A @ x`` itself), and the value the traced evaluation computed.

    >>> jac, affine, owned, value = trace(lambda x: 2.0 * x + 1.0, torch.zeros(2))
    >>> jac.diagonal().tolist(), affine, owned, value.tolist()
    ([2.0, 2.0], True, True, [1.0, 1.0])
    """
    if z.dim() != 1:
        raise Untraceable("batched input")
    x = z.detach().clone()
    tracer = JacobianTracer(x)
    try:
        with torch.no_grad(), tracer:
            out = f(x)
    except Untraceable:
        raise
    except Exception as error:  # a genuine error of f reappears in the untraced evaluation
        raise Untraceable(f"the map failed under tracing: {error}") from error
    if not isinstance(out, torch.Tensor):
        raise Untraceable("the map did not return a tensor")
    jac, owned = tracer.jacobian(out), id(out) in tracer.owned
    if jac is None:
        jac, owned = torch.zeros(out.shape[-1], z.shape[-1], dtype=z.dtype, device=z.device), True
    elif jac is IDENTITY:
        jac, owned = tracer.dense(jac), True
    if tuple(jac.shape) != (z.shape[-1], z.shape[-1]):
        raise Untraceable(f"Jacobian of shape {tuple(jac.shape)}")
    if jac.dtype != z.dtype:
        jac, owned = jac.to(z.dtype), True
    return jac, tracer.affine, owned, out
