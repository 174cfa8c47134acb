"""Targeted causal reduction (TCR; Kekić, Schölkopf & Besserve, arXiv 2311.18639).

TCR learns a linear high-level cause ``Z = T X`` of a target ``Y = τ₀ᵀ X`` from shift
interventions ``i`` on a low-level simulator, with an intervention map ``ω(i) = W i`` and a
linear Gaussian high-level model ``Z ~ N(μ_Z + W i, diag σ_Z²)``, ``Y | Z ~ N(aᵀZ + b, σ²)``,
by minimizing a Gaussian consistency KL between low- and high-level interventional
distributions (paper eq. 29), optionally regularized for homogeneity of ``τ`` and ``ω``
(eq. 9) and for group sparsity with several causes (eq. 18).

Workflow::

    import pyro, pyro_causal_eq as pce
    scm = pce.simulators.LinearGaussianSCM.random(10, seed=0)        # 9 variables + target
    data = scm.simulate(n_interventions=10_000, n_samples=64, seed=0)  # seeded, reusable
    guide = pce.reduction.TCRGuide(scm.n_nodes, tau_mask=scm.tau_mask,
                                   omega_mask=scm.omega_mask)
    # (a) plain SVI: the model observes the data set, the loss reads it from the trace
    svi = pyro.infer.SVI(pce.reduction.data_model, guide, pyro.optim.Adam({"lr": 1e-2}),
                         loss=pce.reduction.TCRLoss(eta_h=0.0))
    for _ in range(1000):
        svi.step(data)
    # (b) or the convenience fit (data-driven init + full-batch L-BFGS) of a data set, a
    # simulator (fit simulates it; seed=, n_interventions=, n_samples=) or a Pyro model
    result = pce.reduction.fit(data, guide)       # or pce.reduction.fit(scm), guide built
    tau, omega = scm.solution()                                        # Proposition 3.3
    pce.reduction.abs_cosine(result.tau[0], tau)                       # ~ 1

The guide's parameters are initialized from the data at the first training step (``SVI.step``
or ``fit``; ``TCRGuide(init="none")`` keeps the random start); evaluating the loss never changes
the guide. The loss value is the paper's eq. 29 (mean over the interventions of the cause and
mechanism KL terms; sample moments are empirical averages, ``1 / S``, as in the paper's App.
E.1; ``TCRLoss(unbiased=True)`` for ``1 / (S - 1)``) ``− η_h L_hom`` (eq. 9) ``+ η_g L_group``
(eq. 18), up to a relative ``1e-10`` diagonal jitter (``TCRLoss(jitter=0)`` removes it).
Too few samples per intervention (fewer than ``n + 2``), a reduction that reads the target, or
data that shift the target raise a ``ValueError`` naming the problem (the target is known from
``TCRGuide(target=...)``, or recovered from the data when ``Y`` is an exact linear function of
``X``).

Any Pyro model can be the low level: apply shifts with ``pce.do(actions={site:
pce.Shift(i)})`` under plates ``(interventions, samples)`` and collect ``X`` and ``Y`` into an
:class:`InterventionalData` (see :mod:`pyro_causal_eq.simulators`). Parameters live in Pyro's
param store (``pyro.get_param_store().save(path)`` / ``.load(path)``).
"""

from .analytic import abs_cosine, linear_gaussian_solution
from .data import InterventionalData, data_model
from .fit import TCRResult, fit
from .guide import TCRGuide
from .loss import TCRLoss, group_sparsity, homogeneity
from .statistics import InterventionStatistics

# Implementation details, no longer exported: importable from their modules.
_MOVED = {
    "initialize": "pyro_causal_eq.reduction.initialization",
    "consistency_terms": "pyro_causal_eq.reduction.loss",
}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        from ..internals.convention import deprecated

        deprecated(f"pyro_causal_eq.reduction.{name}", f"{_MOVED[name]}.{name}")
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "InterventionStatistics",
    "InterventionalData",
    "TCRGuide",
    "TCRLoss",
    "TCRResult",
    "abs_cosine",
    "data_model",
    "fit",
    "group_sparsity",
    "homogeneity",
    "linear_gaussian_solution",
]
