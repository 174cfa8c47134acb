"""Implicit differentiation of a fixed point ``z* = f(z*, θ)``, exact to any order needed by
Hessians (double backward), through plain autograd.

With ``ẑ`` the detached solution, ``r(z) = z - f(z, θ)`` and ``P = (I - ∂f/∂z(ẑ))⁻¹`` a
*constant* linear operator (exact solves with exact products at ``ẑ``), the output is two
frozen-Jacobian Newton steps

    ``z₁ = ẑ - P r(ẑ, θ)``,   ``z₂ = z₁ - P r(z₁, θ)``,

each applied with value ``0`` for ``P r`` (so ``z₂ == ẑ`` bit for bit). ``z₁ - z*(θ)`` is
``O(|δθ|²)`` (first derivatives exact: ``dz/dθ = P ∂f/∂θ``, the implicit function theorem)
and every further step gains one order, so ``z₂`` has exact first and second derivatives
(``order=k`` takes ``k`` steps: exact to order ``k``). A
first-order backward only follows the last step (the path through ``z₁`` brings a cotangent
``(I - ∂r/∂zᵀ Pᵀ) g``, zero to solver tolerance, which is dropped outside ``create_graph``):
one adjoint solve ``u = Pᵀ g`` and one vector-Jacobian product through ``f``, as before.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

VJP = Callable[[torch.Tensor], torch.Tensor]
AdjointSolver = Callable[[VJP, torch.Tensor], torch.Tensor]


class _Products:
    """``Jᵀv`` (and, lazily, ``J v`` by the double-vjp trick) at ``ẑ``, plus the two solves with
    ``I - J``; shared by the operators below.

    During the first backward pass the products come from the graph of the final step's
    ``f(z₁)`` (``z₁ == ẑ``), lent by :class:`_CorrectionStep2` for the duration of its adjoint
    solve: held here, that graph (which leads back to the nodes holding this object) would be
    a reference cycle through C++ that the garbage collector cannot see, and every solve's
    factorization would leak. Products of later passes (higher derivatives, ``J v``) use a
    private graph ``f(ẑ)`` from a detached leaf, built once.
    """

    def __init__(self, f, z_star, adjoint_solver, linear_solver, tol, first_order_solver=None):
        self.f, self.z_star, self.tol = f, z_star, tol
        self.adjoint_solver, self.linear_solver = adjoint_solver, linear_solver
        self.first_order_solver = first_order_solver
        self.shared: tuple[torch.Tensor, torch.Tensor] | None = None
        self.private: tuple[torch.Tensor, torch.Tensor] | None = None
        self.higher_order = False
        self.scale: float | None = None
        self._dual = None

    def _graph(self, shared: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        if shared and self.shared is not None and not self.higher_order:
            return self.shared
        if self.private is None:
            with torch.enable_grad():
                z_leaf = self.z_star.clone().requires_grad_(True)
                self.private = (self.f(z_leaf), z_leaf)
        return self.private

    def vjp(self, v: torch.Tensor) -> torch.Tensor:
        f_out, z_in = self._graph()
        (out,) = torch.autograd.grad(f_out, z_in, v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(v) if out is None else out.detach()

    def jvp(self, v: torch.Tensor) -> torch.Tensor:
        self.higher_order = True  # only higher derivatives need J v
        if self._dual is None:
            f_out, z_in = self._graph(shared=False)  # kept: must not hold the shared graph
            with torch.enable_grad():
                w = torch.zeros_like(f_out, requires_grad=True)
                (vjp_w,) = torch.autograd.grad(f_out, z_in, w, create_graph=True, allow_unused=True)
            self._dual = (w, vjp_w)
        w, vjp_w = self._dual
        if vjp_w is None or not vjp_w.requires_grad:  # f does not depend on z: J = 0
            return torch.zeros_like(v)
        (out,) = torch.autograd.grad(vjp_w, w, v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(v) if out is None else out.detach()

    def solve_transposed(self, g: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.adjoint_solver(self.vjp, g.detach())

    def solve(self, h: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.linear_solver(self.jvp, h.detach())


def _norm(x: torch.Tensor) -> float | None:
    """``||x||`` as a float, ``None`` under ``torch.func.vmap`` (no data access there)."""
    try:
        return float(torch.linalg.vector_norm(x.detach()))
    except RuntimeError:
        return None


def _looped(apply, x, in_dim):
    """A vmap rule by a loop over the mapped dimension (the solves are iterative)."""
    if in_dim is None:
        return apply(x), None
    x = x.movedim(in_dim, 0)
    return torch.stack([apply(x[i]) for i in range(x.shape[0])]), 0


class _SolveTransposed(torch.autograd.Function):
    """``g ↦ Pᵀ g`` as a differentiable linear map (its backward is ``P``)."""

    @staticmethod
    def vmap(info, in_dims, g, products):  # noqa: D102
        return _looped(lambda x: _SolveTransposed.apply(x, products), g, in_dims[0])

    @staticmethod
    def forward(g, products):  # noqa: D102
        return products.solve_transposed(g)

    @staticmethod
    def setup_context(ctx, inputs, output):  # noqa: D102
        ctx.products = inputs[1]
        ctx.set_materialize_grads(False)  # a cut path gives None: skip the solve

    @staticmethod
    def backward(ctx, h):  # noqa: D102
        if h is None:
            return None, None
        return _Solve.apply(h, ctx.products), None


class _Solve(torch.autograd.Function):
    """``h ↦ P h`` as a differentiable linear map (its backward is ``Pᵀ``)."""

    @staticmethod
    def vmap(info, in_dims, h, products):  # noqa: D102
        return _looped(lambda x: _Solve.apply(x, products), h, in_dims[0])

    @staticmethod
    def forward(h, products):  # noqa: D102
        return products.solve(h)

    @staticmethod
    def setup_context(ctx, inputs, output):  # noqa: D102
        ctx.products = inputs[1]
        ctx.set_materialize_grads(False)  # a cut path gives None: skip the solve

    @staticmethod
    def backward(ctx, g):  # noqa: D102
        if g is None:
            return None, None
        return _SolveTransposed.apply(g, ctx.products), None


class _CorrectionStep(torch.autograd.Function):
    """``r ↦ P (r - r₀)`` at ``r = r₀``: value zero, derivative ``P``."""

    @staticmethod
    def vmap(info, in_dims, r, products):  # noqa: D102
        return torch.zeros_like(r), in_dims[0]

    @staticmethod
    def forward(r, products):  # noqa: D102
        return torch.zeros_like(r)

    @staticmethod
    def setup_context(ctx, inputs, output):  # noqa: D102
        ctx.products = inputs[1]
        ctx.set_materialize_grads(False)  # a cut path gives None: skip the solve

    @staticmethod
    def backward(ctx, g):  # noqa: D102
        if g is None:
            return None, None
        return _SolveTransposed.apply(g, ctx.products), None


class _CorrectionStep2(torch.autograd.Function):
    """The last correction step ``r ↦ P (r - r₀)`` (value zero, derivative ``P``), given the
    final step's ``z₁`` and ``f(z₁)`` as saved tensors: their graph provides the products of
    its adjoint solve. Records the scale of that solve (the first-order cotangent reaching
    :class:`_HigherOrderOnly` is its residual)."""

    @staticmethod
    def vmap(info, in_dims, r, products, z, f_out):  # noqa: D102
        return torch.zeros_like(r), in_dims[0]

    @staticmethod
    def forward(r, products, z, f_out):  # noqa: D102
        return torch.zeros_like(r)

    @staticmethod
    def setup_context(ctx, inputs, output):  # noqa: D102
        ctx.products = inputs[1]
        ctx.save_for_backward(inputs[2], inputs[3])
        ctx.set_materialize_grads(False)  # a cut path gives None: skip the solve

    @staticmethod
    def backward(ctx, g):  # noqa: D102
        if g is None:
            return None, None, None, None
        products = ctx.products
        if products.first_order_solver is not None and not torch.is_grad_enabled():
            # a first-order pass: the residual of this solve is the cotangent reaching
            # _HigherOrderOnly, which drops it when negligible and else corrects it (a
            # refinement step through the first correction step): no check needed here
            with torch.no_grad():
                u = products.first_order_solver(g.detach())
        else:
            z, f_out = ctx.saved_tensors
            products.shared = (f_out, z)
            try:
                u = _SolveTransposed.apply(g, products)
            finally:
                products.shared = None  # see _Products: never kept
        sizes = (_norm(g), _norm(u))
        products.scale = None if None in sizes else max(sizes)
        if torch.is_grad_enabled():  # create_graph: later passes may free the shared graph
            products.higher_order = True
        return u, None, None, None


class _CorrectionStep1(_CorrectionStep):
    """The first correction step: its backward runs after the pass went through the final
    step's graph (possibly freed), so the products switch to their private graph."""

    @staticmethod
    def backward(ctx, g):  # noqa: D102
        if g is None:
            return None, None
        ctx.products.higher_order = True
        return _SolveTransposed.apply(g, ctx.products), None


class _HigherOrderOnly(torch.autograd.Function):
    """Identity whose backward drops a cotangent that is zero to solver tolerance (at most
    ``10 · tol · max(||g||, ||u||)`` of the last final-step adjoint solve ``u = Pᵀ g``)
    outside ``create_graph``:
    then the guarded path carries no first-order gradient and following it would cost a
    second adjoint solve. A pass of a higher derivative brings a genuine cotangent here (from
    the graph of the previous backward) and follows it."""

    @staticmethod
    def vmap(info, in_dims, z, products):  # noqa: D102
        return z.clone(), in_dims[0]

    @staticmethod
    def forward(z, products):  # noqa: D102
        return z.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):  # noqa: D102
        ctx.products = inputs[1]
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, g):  # noqa: D102
        scale = ctx.products.scale
        if g is None:
            return None, None
        if not torch.is_grad_enabled() and scale is not None:
            size = _norm(g)
            if size is not None and size <= 10 * ctx.products.tol * scale:
                return None, None
        return g, None


def attach_implicit_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    z_star: torch.Tensor,
    adjoint_solver: AdjointSolver,
    linear_solver: AdjointSolver | None = None,
    tol: float | None = None,
    order: int = 2,
    first_order_solver: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Return ``z*`` (same values) carrying exact derivatives up to ``order`` with respect to
    everything ``f`` closes over.

    If no parameter of ``f`` requires a gradient, ``z*`` is returned detached.

    :param f: the map whose fixed point ``z_star`` is.
    :param z_star: the (detached) fixed point.
    :param adjoint_solver: ``(vjp, g) -> u`` solving ``u = vjp(u) + g`` (``vjp(u) = Jᵀu``).
    :param linear_solver: ``(jvp, h) -> w`` solving ``w = jvp(w) + h`` (``jvp(w) = J w``),
        used only for second and higher derivatives (default: Anderson, then a direct solve).
    :param tol: relative accuracy of the solves (default: ``1e-12`` in float64, else ``1e-5``).
    :param first_order_solver: ``g -> u ≈ (I - Jᵀ)⁻¹ g`` for first-order backward passes when
        a cheaper unchecked solve exists (e.g. an exact LU): its residual reaches the first
        correction step, which corrects a non-negligible one with ``adjoint_solver``.
    :param order: frozen Newton steps, i.e. the highest exact derivative order (at least 2;
        first-order backward passes cost the same for any ``order``).

    >>> theta = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    >>> f = lambda z: 0.5 * z + theta**2
    >>> def picard_adjoint(vjp, g):
    ...     u = g
    ...     for _ in range(60):
    ...         u = vjp(u) + g
    ...     return u
    >>> z = attach_implicit_gradient(f, torch.tensor([2.0], dtype=torch.float64), picard_adjoint)
    >>> (grad,) = torch.autograd.grad(z.sum(), theta, create_graph=True)  # z* = 2θ²
    >>> float(grad.detach()), float(torch.autograd.grad(grad, theta)[0])
    (4.0, 4.0)
    """
    z_star = z_star.detach()
    if not torch.is_grad_enabled():
        return z_star
    if tol is None:
        tol = 1e-12 if z_star.dtype == torch.float64 else 1e-5
    if linear_solver is None:
        from .adjoint import generic_solve

        def linear_solver(jvp, h):
            return generic_solve(jvp, h, tol, 1000)

    with torch.enable_grad():
        f_star = f(z_star)
        if not f_star.requires_grad:
            return z_star
        products = _Products(f, z_star, adjoint_solver, linear_solver, tol, first_order_solver)
        # step 1 from the detached solution (only its θ-dependence through f matters)
        z = z_star - _CorrectionStep1.apply(z_star - f_star, products)
        for _ in range(order - 2):  # each further frozen step: one more exact order
            z = _HigherOrderOnly.apply(z, products)
            z = z - _CorrectionStep1.apply(z - f(z), products)
        z = _HigherOrderOnly.apply(z, products)
        f_out = f(z)
        # z == ẑ in value: products with J(ẑ) come from this graph (a non-leaf input)
        return z - _CorrectionStep2.apply(z - f_out, products, z, f_out)
