"""Parameter uncertainty propagated to the intervened equilibrium with ``pyro.infer.Predictive``.

A prior of multiplicative log-normal noise on ``A`` and ``y`` (:meth:`IOModel.model` with
``prior_scale``) is sampled once; the unintervened and the intervened equilibria are solved
for the same draws, batched over samples (one ``pce.equilibrate`` call on a batch). The
relative GHG and social changes per draw are returned as ArviZ ``InferenceData``.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pyro
import torch
from pyro.infer import Predictive

from ..handlers import do
from .interventions import assignment_actions, demand_actions
from .io_model import IOModel


def propagate_uncertainty(
    io: IOModel,
    alpha,
    *,
    prior_scale: tuple[float, float] = (0.05, 0.05),
    num_samples: int = 100,
    target: str = "assignment",
    ghg: str | None = None,
    social: str | None = None,
    seed: int = 0,
) -> az.InferenceData:
    """Distribution of the GHG and social changes caused by the intervention ``α``.

    :param io: the economy.
    :param alpha: factors of the intervention (e.g. ``ds.alpha.sel(lam=...)``).
    :param prior_scale: ``(σ_A, σ_y)``, log-scale of the multiplicative noise on ``A``, ``y``.
    :param num_samples: prior draws (one batched equilibrium solve each for base and
        intervention).
    :param target: ``"assignment"`` or ``"demand"``.
    :returns: ``InferenceData`` whose ``posterior`` group (1 chain) holds ``ghg_change``,
        ``social_change`` (relative), ``ghg``, ``social``, ``ghg_base``, ``social_base``.

    >>> import pymrio
    >>> io = IOModel.from_pymrio(pymrio.load_test(), region="reg1")
    >>> alpha = torch.full((8,), 0.9, dtype=torch.float64)
    >>> idata = propagate_uncertainty(io, alpha, num_samples=20, target="demand")
    >>> post = idata.posterior  # demand cut by 10 %: x = 0.9 x* in every draw
    >>> bool(np.allclose(post.ghg_change, -0.1)), bool(post.ghg.std() > 0)
    (True, True)
    """
    ghg = ghg or io.default_ghg
    social = social or io.default_social
    k_ghg, k_social = io.indicator_index(ghg), io.indicator_index(social)
    alpha = torch.as_tensor(np.asarray(alpha, dtype=np.float64), dtype=torch.float64)
    model = io.model(prior_scale=prior_scale, dtype=torch.float64)
    actions = assignment_actions(alpha) if target == "assignment" else demand_actions(alpha)
    pyro.set_rng_seed(seed)
    sites = ["A_noise", "y_noise", "impacts"]
    with torch.no_grad():
        base = Predictive(model, num_samples=num_samples, return_sites=sites, parallel=True)()
        draws = {key: base[key] for key in ("A_noise", "y_noise")}
        intervened = Predictive(
            do(model, actions=actions),
            posterior_samples=draws,
            return_sites=["impacts"],
            parallel=True,
        )()
    b = base["impacts"].reshape(num_samples, -1).numpy()
    i = intervened["impacts"].reshape(num_samples, -1).numpy()
    posterior = {
        "ghg_base": b[:, k_ghg],
        "social_base": b[:, k_social],
        "ghg": i[:, k_ghg],
        "social": i[:, k_social],
        "ghg_change": i[:, k_ghg] / b[:, k_ghg] - 1.0,
        "social_change": i[:, k_social] / b[:, k_social] - 1.0,
    }
    return az.from_dict(
        posterior={key: value[None] for key, value in posterior.items()},
        attrs={
            "ghg_indicator": ghg,
            "social_indicator": social,
            "sigma_A": prior_scale[0],
            "sigma_y": prior_scale[1],
        },
    )


def uncertainty_summary(idata: az.InferenceData, hdi_prob: float = 0.9):
    """ArviZ summary (mean, sd, HDI) of the relative GHG and social changes.

    :param idata: the result of :func:`propagate_uncertainty`.
    :param hdi_prob: probability mass of the HDI.
    :returns: a ``pandas.DataFrame`` with one row per change (columns mean, sd, HDI bounds).

    >>> draws = np.linspace(-0.2, 0.0, 41)[None]  # 1 chain, as propagate_uncertainty returns
    >>> idata = az.from_dict(posterior={"ghg_change": draws, "social_change": draws / 2})
    >>> table = uncertainty_summary(idata, hdi_prob=0.9)
    >>> list(table.index), list(table.columns)
    (['ghg_change', 'social_change'], ['mean', 'sd', 'hdi_5%', 'hdi_95%'])
    >>> round(float(table.loc["ghg_change", "mean"]), 3)
    -0.1
    """
    return az.summary(
        idata, var_names=["ghg_change", "social_change"], hdi_prob=hdi_prob, kind="stats"
    )


def hdi_plot(idata: az.InferenceData, path=None, hdi_prob: float = 0.9):
    """Posterior plots with HDI of the GHG and social changes; saved atomically to ``path``.

    :param idata: the result of :func:`propagate_uncertainty`.
    :param path: PNG file (optional).
    :param hdi_prob: probability mass of the HDI.
    :returns: the ArviZ axes.
    :raises ValueError: when a quantity has no spread (all draws equal).

    >>> import os, tempfile
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> draws = np.linspace(-0.2, 0.0, 41)[None]  # 1 chain, as propagate_uncertainty returns
    >>> idata = az.from_dict(posterior={"ghg_change": draws, "social_change": draws / 2})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "hdi.png")
    ...     axes = hdi_plot(idata, path=path)
    ...     saved = os.path.getsize(path) > 0
    >>> saved, [ax.get_title() for ax in np.ravel(axes)]
    (True, ['ghg_change', 'social_change'])
    >>> plt.close("all")
    """
    from .outputs import atomic_write

    names = ["ghg_change", "social_change"]
    for name in names:
        draws = np.asarray(idata.posterior[name])
        if np.ptp(draws) == 0:  # a density plot of a point mass has no bins
            raise ValueError(
                f"all draws of {name!r} are equal ({draws.flat[0]:.6g}): there is no "
                "uncertainty to plot; widen the prior (prior_scale) or use uncertainty_summary"
            )
    axes = az.plot_posterior(idata, var_names=names, hdi_prob=hdi_prob)
    if path is not None:
        fig = np.ravel(axes)[0].figure
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    return axes
