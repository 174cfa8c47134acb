"""Traced Jacobians (forward mode over whole matrices) against torch.func.jacrev, the checked
fallback to torch.func, the LU wrapper, and the automatic solver that uses both."""

import pytest
import torch
import torch.nn.functional as F
from pyro import poutine

import pyro_causal_eq as pce
from pyro_causal_eq.internals.solvers import traced_jacobian as tj
from pyro_causal_eq.internals.solvers.jacobian import cheap_jacobian, dense_jacobian
from pyro_causal_eq.internals.solvers.lu import LU

N = 6
g = torch.Generator().manual_seed(0)
A = torch.randn(N, N, generator=g, dtype=torch.float64)
B = torch.randn(N, N, generator=g, dtype=torch.float64)
Y = torch.randn(N, generator=g, dtype=torch.float64)
SCALE = torch.rand(N, generator=g, dtype=torch.float64) + 0.5
W = torch.randn(3, N, generator=g, dtype=torch.float64)

TRACEABLE = {
    "affine": (lambda x: A @ x + Y, True),
    "scaled": (lambda x: SCALE * (A @ x + Y), True),
    "row vector": (lambda x: x @ A.T - F.linear(x, B, Y), True),
    "tanh": (lambda x: torch.tanh(A @ x + Y), False),
    "chain": (lambda x: B @ torch.tanh(A @ x) + x, False),
    "arithmetic": (lambda x: 2 - x / SCALE + x**2 - 1 / (1 + x.abs()), False),
    "split and cat": (
        lambda x: torch.cat([torch.sigmoid(x[..., :3] * 2), F.softplus(x[3:]) @ W[:, 3:].T], -1),
        False,
    ),
    "stack": (
        lambda x: torch.stack(
            [
                x[0] * x[1],
                x[2:4].sum(),
                torch.where(x[4] > 0, x[4], -x[5]),
                x[1].exp(),
                (A @ x).mean(),
                torch.dot(Y, x),
            ]
        ),
        False,
    ),
    "shapes": (
        lambda x: (
            (x.reshape(2, 3) * torch.ones(2, 3, dtype=x.dtype)).flatten().unsqueeze(0)[0]
            - x.clamp(min=0)
        ),
        False,
    ),
    "detach": (lambda x: x.detach() * x, False),  # affine only in autograd's view
}


@pytest.mark.parametrize("name", sorted(TRACEABLE))
def test_traced_jacobian_matches_jacrev(name):
    f, affine = TRACEABLE[name]
    z = torch.randn(N, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    jac, is_affine, _ = tj.trace_jacobian(f, z)
    torch.testing.assert_close(jac, torch.func.jacrev(f)(z), rtol=1e-12, atol=1e-12)
    assert is_affine is affine
    checked = cheap_jacobian(f, z)
    assert checked is not None and torch.equal(checked[0], jac)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: x.clone().mul_(2.0),  # in place
        lambda x: (x.unsqueeze(0).mT).squeeze(-1),  # a tensor property
        lambda x: torch.outer(x, x).sum(0),  # no rule
        lambda x: x[torch.tensor([1, 0, 2, 3, 4, 5])],  # tensor index
    ],
)
def test_untraceable_maps_fall_back_to_torch_func(f):
    z = torch.randn(N, dtype=torch.float64)
    with pytest.raises(tj.Untraceable):
        tj.traced_jacobian(f, z)
    assert cheap_jacobian(f, z) is None
    assert getattr(f, "untraceable", False)  # not traced again
    torch.testing.assert_close(dense_jacobian(f, z), torch.func.jacrev(f)(z))


def test_a_wrong_rule_is_caught_by_the_check(monkeypatch):
    """The traced Jacobian is checked against an exact vector-Jacobian product: a wrong rule
    (here: tanh's derivative taken as 1) falls back to torch.func instead of a wrong number."""
    monkeypatch.setitem(tj._UNARY, "tanh", lambda a, out: torch.ones_like(a))

    def f(x):
        return torch.tanh(A @ x)

    z = torch.randn(N, dtype=torch.float64)
    assert cheap_jacobian(f, z) is None
    torch.testing.assert_close(dense_jacobian(f, z), torch.func.jacrev(f)(z))


def test_batched_input_is_not_traced():
    z = torch.randn(2, N, dtype=torch.float64)
    with pytest.raises(tj.Untraceable, match="batched"):
        tj.traced_jacobian(lambda x: x @ A.T, z)
    expected = A.expand(2, N, N)
    torch.testing.assert_close(dense_jacobian(lambda x: x @ A.T, z), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batched", [False, True])
def test_lu_solves_both_ways(dtype, batched):
    gen = torch.Generator().manual_seed(2)
    shape = (3, 5, 5) if batched else (5, 5)
    m = torch.randn(shape, generator=gen, dtype=dtype) + 3 * torch.eye(5, dtype=dtype)
    b = torch.randn(shape[:-1], generator=gen, dtype=dtype)
    lu = LU(m.clone())
    assert (lu._lapack is None) is batched  # LAPACK for a single CPU matrix
    assert not bool(lu.singular.any())
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {}
    expected = torch.linalg.solve(m, b.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(lu.solve(b), expected, **tol)
    expected_t = torch.linalg.solve(m.transpose(-1, -2), b.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(lu.solve(b, transpose=True), expected_t, **tol)


def test_lu_reports_singular_and_non_finite():
    assert bool(LU(torch.zeros(3, 3, dtype=torch.float64)).singular)
    m = torch.eye(3, dtype=torch.float64)
    m[1, 1] = float("nan")
    assert bool(LU(m).singular)
    assert LU(torch.zeros(2, 3, 3)).singular.tolist() == [True, True]


def _leontief(n, seed, signed=False):
    gen = torch.Generator().manual_seed(seed)
    if signed:
        a = torch.randn(n, n, generator=gen, dtype=torch.float64)
        a *= 0.9 / float(torch.linalg.eigvals(a).abs().max())
    else:
        a = torch.rand(n, n, generator=gen, dtype=torch.float64)
        a *= 0.9 / float(torch.linalg.eigvals(a).abs().max())
    return a, torch.rand(n, generator=gen, dtype=torch.float64) + 0.1


@pytest.mark.parametrize(
    ("n", "signed", "solver", "handed_over"),
    [(300, False, "newton", False), (700, True, "newton", True)],
)
def test_default_uses_the_cheap_jacobian(n, signed, solver, handed_over):
    """Through pce.do(Scale): Newton from init at 300 scalars (cheap Jacobian), and at 700 on a
    signed table (eigenvalues filling a disc) Anderson hands over to Newton early; the solution
    and the gradient match the dense solve."""
    a, y = _leontief(n, seed=n, signed=signed)
    c = torch.linspace(0.5, 1.5, n, dtype=torch.float64)
    alpha = torch.full((n,), 0.95, dtype=torch.float64, requires_grad=True)
    with poutine.trace() as tracer, pce.do(actions={"x": pce.Scale(alpha)}):
        x = pce.equilibrate("io", {"x": lambda x: a @ x + y}, init={"x": torch.zeros(n)})["x"]
    (grad,) = torch.autograd.grad(c @ x, alpha)
    info = tracer.trace.nodes["x"]["infer"]["equilibrium"]
    assert info["solver"] == solver
    assert bool(info["handovers"]) is handed_over
    if handed_over:
        assert info["handovers"][0]["iteration"] <= 15 and "slow" in info["handovers"][0]["reason"]
    alpha_ref = alpha.detach().clone().requires_grad_()
    m = torch.eye(n, dtype=torch.float64) - alpha_ref[:, None] * a
    x_ref = torch.linalg.solve(m, alpha_ref * y)
    (grad_ref,) = torch.autograd.grad(c @ x_ref, alpha_ref)
    torch.testing.assert_close(x.detach(), x_ref.detach(), rtol=1e-11, atol=0)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=0)


def test_a_black_box_jacobian_keeps_anderson_going():
    """Above 600 scalars the early hand-over is conditional: with a Jacobian that cannot be
    traced (flip has no rule) Anderson continues under the black-box budget, recorded."""
    n = 700
    a, y = _leontief(n, seed=5, signed=True)
    perm = torch.arange(n - 1, -1, -1)
    a = a[:, perm]  # (a[:, perm]) @ x.flip(0) == a @ x

    with poutine.trace() as tracer:
        x = pce.equilibrate("bb", {"x": lambda x: a @ x.flip(0) + y}, init={"x": torch.zeros(n)})[
            "x"
        ]
    info = tracer.trace.nodes["x"]["infer"]["equilibrium"]
    first = info["handovers"][0]
    assert (first["from"], first["to"]) == ("anderson", "anderson")
    assert "not cheap" in first["reason"]
    expected = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - a[:, perm], y)
    torch.testing.assert_close(x, expected, rtol=1e-10, atol=0)


def test_ownership_of_the_traced_jacobian():
    """Newton may overwrite a fresh Jacobian in place, never a user's tensor behind it."""
    z = torch.zeros(N, dtype=torch.float64)
    owned = {
        "A @ x + y": tj.trace_jacobian(lambda x: A @ x + Y, z)[2],
        "(A @ x).to(float64)": tj.trace_jacobian(lambda x: (A @ x).to(torch.float64), z)[2],
        "x @ A.T": tj.trace_jacobian(lambda x: x @ A.T, z)[2],
        "scale * (A @ x)": tj.trace_jacobian(lambda x: SCALE * (A @ x), z)[2],
        "tanh": tj.trace_jacobian(torch.tanh, z)[2],
        "(scale * (A @ x)).reshape(N)": tj.trace_jacobian(
            lambda x: (SCALE * (A @ x)).reshape(N), z
        )[2],
        "(A @ x).reshape(N)": tj.trace_jacobian(lambda x: (A @ x).reshape(N), z)[2],
    }
    assert owned == {
        "A @ x + y": False,
        "(A @ x).to(float64)": False,
        "x @ A.T": False,
        "scale * (A @ x)": True,
        "tanh": True,
        "(scale * (A @ x)).reshape(N)": True,  # a view of a fresh Jacobian is fresh
        "(A @ x).reshape(N)": False,  # a view of A
    }
    a_before = A.clone()
    with pce.do(actions={"x": pce.Scale(torch.ones(N, dtype=torch.float64))}):
        pce.equilibrate("s", {"x": lambda x: 0.1 * (A @ x) + Y}, init={"x": z})
    pce.equilibrate("s", {"x": lambda x: 0.1 * A @ x + Y}, init={"x": z})
    assert torch.equal(A, a_before)


def test_a_rule_that_cannot_handle_its_arguments_falls_back():
    """Argument forms a rule does not know (here: ``torch.add(x, y, out=...)``-like keyword
    misuse inside a rule, simulated by an unexpected keyword) abort the trace, not the solve."""

    def f(x):
        return torch.sum(x * 1.0, dim=0, keepdim=False, dtype=torch.float64).expand(N) + x

    z = torch.randn(N, dtype=torch.float64)
    assert cheap_jacobian(f, z) is None
    torch.testing.assert_close(dense_jacobian(f, z), torch.func.jacrev(f)(z))

    def g(x):
        return torch.clamp(x, torch.zeros(N, dtype=x.dtype), None) + x.sum(dim=(0,))

    torch.testing.assert_close(dense_jacobian(g, z), torch.func.jacrev(g)(z))


def test_an_unchecked_traced_jacobian_never_decides_stability(monkeypatch):
    """Newton's first step uses the traced Jacobian before any check. With a wrong rule
    (matmul's Jacobian scaled by 0.1) the step misses, the next Jacobian is checked and falls
    back to torch.func, and the stability check sees the true Jacobian: this fixed point of a
    map with spectral radius 1.5 is not attracting, whatever the wrong matrix's norm bound."""
    n = 200
    gen = torch.Generator().manual_seed(3)
    a = torch.rand(n, n, generator=gen, dtype=torch.float64)
    a *= 1.5 / torch.linalg.eigvals(a).abs().max()
    y = torch.rand(n, generator=gen, dtype=torch.float64)
    rule = tj._RULES["__matmul__"]
    monkeypatch.setitem(tj._RULES, "__matmul__", lambda *args: 0.1 * rule(*args))
    with pytest.raises(pce.EquilibriumError, match="not attracting"):
        pce.equilibrate("wrong", {"x": lambda x: a @ x + y}, init={"x": torch.zeros(n)})


@pytest.mark.parametrize("verified", [True, False])
def test_the_stability_stand_ins_of_an_unchecked_step_are_dropped(verified):
    """A one-step Newton solve on an unchecked traced Jacobian (a nonlinear map's probe)
    leaves no stand-ins for the stability check (it forms the Jacobian at the solution)."""
    from pyro_causal_eq.internals.auto_solver import _settle_traced_step
    from pyro_causal_eq.internals.solvers import newton
    from pyro_causal_eq.internals.solvers.jacobian import TracedJacobian

    z0 = torch.zeros(N, dtype=torch.float64)
    a = 0.4 * A / torch.linalg.matrix_norm(A, 2)
    result = newton(lambda z: a @ z + Y, z0, jacobian=(a + 0.0).clone(), overwrite_jacobian=True)
    assert result.iterations == 1 and "norm_bound" in result.state
    _settle_traced_step(result, TracedJacobian(a, False, True, verified, Y))
    assert ("norm_bound" in result.state) is verified


def test_an_affine_probe_is_checked_by_a_forward_difference(monkeypatch):
    """An affine map's traced Jacobian is checked by ``f(z + u) - f(z) = J u``, even in columns
    the Newton step hardly moves (a zero entry of the solution); a wrong rule is caught."""
    a = torch.tensor([[0.5, 0.0], [0.25, 0.5]], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0], dtype=torch.float64)
    z = torch.zeros(2, dtype=torch.float64)
    assert cheap_jacobian(lambda x: a @ x + y, z, verify=False).verified
    rule = tj._RULES["__matmul__"]
    wrong = a.clone()
    wrong[1, 0] = 0.0  # the column the solution's zero first entry leaves out of the step

    def wrong_rule(tracer, name, out, m, x):
        return wrong if m is a else rule(tracer, name, out, m, x)

    for name in ("matmul", "__matmul__"):
        monkeypatch.setitem(tj._RULES, name, wrong_rule)
    assert cheap_jacobian(lambda x: a @ x + y, z, verify=False) is None


def test_a_one_step_newton_solve_of_an_unstable_point_is_still_checked():
    """Review finding: near an unstable fixed point of a nonlinear map (a warm start), one
    Newton step converges on the unchecked traced Jacobian; its stand-ins are dropped, and the
    check must then form the Jacobian at the solution (not skip): not attracting, so Picard
    retries from init and finds the attracting fixed point."""
    from pyro_causal_eq.internals.auto_solver import AutoSolver

    z0 = torch.full((100,), -5e-4, dtype=torch.float64)
    z, info = AutoSolver().solve(lambda z: 3 * torch.tanh(z) + 1e-3, z0)
    assert info["solver"] == "picard" and "not attracting" in info["handovers"][0]["reason"]
    torch.testing.assert_close(z, torch.full_like(z, float(z[0])), rtol=0, atol=1e-12)
    assert float(z[0]) > 2.9


def test_an_init_that_is_already_an_unstable_solution_is_rejected():
    """Zero iterations leave the solver no certificate: a power iteration decides."""
    from pyro_causal_eq.internals.auto_solver import AutoSolver

    z0 = torch.full((100,), 2.0, dtype=torch.float64)  # the fixed point of 1.5 z - 1
    with pytest.raises(pce.EquilibriumError, match="not attracting"):
        AutoSolver().solve(lambda z: 1.5 * z - 1.0, z0)


def test_an_unrolled_backward_keeps_the_gradient_of_newtons_first_step():
    """Review finding: the traced evaluation (no graph) must not stand in for f(init) when the
    backward is unrolled through Newton's iterations."""
    from pyro_causal_eq.internals.auto_solver import AutoSolver

    theta = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    eye = torch.eye(20, dtype=torch.float64)
    z, _ = AutoSolver(backward="unrolled").solve(
        lambda z: 0.3 * eye @ z + theta, torch.zeros(20, dtype=torch.float64)
    )
    (grad,) = torch.autograd.grad(z.sum(), theta)
    torch.testing.assert_close(grad, torch.tensor(20 / 0.7, dtype=torch.float64))
