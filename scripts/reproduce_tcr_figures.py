"""Reproduce the TCR paper's Figs. 3, 4, 5 and 9 (Kekić, Schölkopf & Besserve, 2311.18639).

- Fig. 3: learned vs analytic τ, ω (absolute cosine) over random linear Gaussian graphs;
- Fig. 4: chain graphs with and without homogeneity (η_h = 0 / 1): mean normalized τ and ω;
- Fig. 5: double well: τ, ω over time (position, velocity), pushforward densities of Z without
  and with a shift intervention, and the high-level mechanism E[Y | Z];
- Fig. 9: two-branch graph, two causes with group sparsity: each cause on its branch.

Run: ``OMP_NUM_THREADS=1 python scripts/reproduce_tcr_figures.py [--small] [--figure 3 4 5 9]
[--out DIR]`` (PNG files and a JSON summary are written to ``DIR``, default ``tcr_figures``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pyro  # noqa: E402
import torch  # noqa: E402

import pyro_causal_eq.simulators  # noqa: E402,F401
from pyro_causal_eq import reduction, simulators  # noqa: E402
from pyro_causal_eq.reduction import TCRGuide, TCRLoss, fit  # noqa: E402
from pyro_causal_eq.reduction.plots import normalize, plot_mechanism, plot_time_maps  # noqa: E402


def _save(fig, out: Path, name: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=out, suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    os.replace(tmp, out / name)
    plt.close(fig)


def figure3(out: Path, n_graphs: int, n_int: int, n_samp: int) -> dict:
    cos = []
    for g in range(n_graphs):
        pyro.clear_param_store()
        scm = simulators.LinearGaussianSCM.random(10, seed=g)
        data = scm.simulate(n_int, n_samp, seed=g)
        guide = TCRGuide(10, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
        result = fit(data, guide)
        tau, omega = scm.solution()
        cos.append(
            [
                float(reduction.abs_cosine(result.tau[0], tau)),
                float(reduction.abs_cosine(result.omega[0], omega)),
            ]
        )
    cos_t = torch.tensor(cos)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.boxplot([cos_t[:, 0].numpy(), cos_t[:, 1].numpy()])
    ax.set_xticks([1, 2], ["τ", "ω"])
    ax.set_ylabel("|cos| to analytic solution")
    ax.set_title(f"Fig. 3: {n_graphs} random graphs")
    _save(fig, out, "fig3_cosine.png")
    return {"mean": cos_t.mean(0).tolist(), "min": cos_t.min(0).values.tolist()}


def _mean_maps(scm_factory, n_runs, n_int, n_samp, loss_kwargs, n_causes=1):
    taus, omegas = [], []
    for g in range(n_runs):
        pyro.clear_param_store()
        scm = scm_factory(g)
        data = scm.simulate(n_int, n_samp, seed=g)
        guide = TCRGuide(
            scm.n_nodes, n_causes=n_causes, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask
        )
        result = fit(data, guide, loss=TCRLoss(**loss_kwargs))
        tau, omega = result.tau, result.omega
        if n_causes == 2:  # order the causes by their weight on the first group
            first = scm.groups[0]
            if (tau[0, first] ** 2).sum() < (tau[1, first] ** 2).sum():
                tau, omega = tau.flip(0), omega.flip(0)
        taus.append(normalize(tau, "sum").abs())
        omegas.append(normalize(omega, "sum").abs())
    return torch.stack(taus).mean(0), torch.stack(omegas).mean(0)


def figure4(out: Path, n_runs: int, n_int: int, n_samp: int) -> dict:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
    summary = {}
    for ax, eta_h in zip(axes, (0.0, 1.0), strict=False):
        tau, omega = _mean_maps(
            lambda g: simulators.LinearGaussianSCM.chain(10, seed=g),
            n_runs,
            n_int,
            n_samp,
            {"eta_h": eta_h},
        )
        ax.plot(tau[0, :9].numpy(), "o-", label="τ")
        ax.plot(omega[0, :9].numpy(), "s-", label="ω")
        ax.set_title(f"Fig. 4: chain, η_h = {eta_h:g}")
        ax.set_xlabel("variable index along the chain")
        ax.legend()
        summary[f"eta_h={eta_h:g}"] = {
            "tau": tau[0].tolist(),
            "omega": omega[0].tolist(),
            "cos(tau, omega)": float(reduction.abs_cosine(tau[0], omega[0])),
        }
    _save(fig, out, "fig4_chain_homogeneity.png")
    return summary


def figure5(out: Path, n_int: int, n_samp: int, steps: int) -> dict:
    pyro.clear_param_store()
    well = simulators.DoubleWell()
    data = well.simulate(n_int, n_samp, seed=0)
    guide = TCRGuide(well.n_low, tau_mask=well.tau_mask, omega_mask=well.omega_mask)
    result = fit(data, guide, steps=steps)
    fig, axes = plt.subplots(2, 2, figsize=(10, 6))
    plot_time_maps(result.tau[0], well.times, title="τ", ax=axes[0, 0])
    plot_time_maps(result.omega[0], well.times, title="ω", ax=axes[0, 1])
    unintervened = well.simulate(1, 2000, seed=1, interventions=torch.zeros(1, well.n_low))
    shifted = well.simulate(1, 2000, seed=2, interventions=well.sample_interventions(1))
    with torch.no_grad():
        for label, d in (("unintervened", unintervened), ("shift intervention", shifted)):
            axes[1, 0].hist(
                guide.reduce(d.x[0])[:, 0].numpy(), bins=50, alpha=0.5, density=True, label=label
            )
        axes[1, 0].set_title("pushforward density of Z")
        axes[1, 0].legend()
        z = guide.reduce(data.x.reshape(-1, well.n_low))
        plot_mechanism(guide, z[:5000], data.y.reshape(-1)[:5000], ax=axes[1, 1])
    fig.suptitle("Fig. 5: double well")
    _save(fig, out, "fig5_double_well.png")
    return {"final_loss": result.losses[-1], "a": float(result.a[0])}


def figure9(out: Path, n_runs: int, n_int: int, n_samp: int) -> dict:
    tau, omega = _mean_maps(
        lambda g: simulators.LinearGaussianSCM.two_branch(seed=g),
        n_runs,
        n_int,
        n_samp,
        {"eta_g": 1.0, "groups": [list(range(4)), list(range(4, 9))]},
        n_causes=2,
    )
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
    for ax, maps, name in ((axes[0], tau, "τ"), (axes[1], omega, "ω")):
        for k in range(2):
            ax.bar(
                (torch.arange(9) + (k - 0.5) * 0.4).numpy(),
                maps[k, :9].numpy(),
                0.4,
                label=f"{name}{k + 1}",
            )
        ax.set_title(f"Fig. 9 (two branches): mean |normalized {name}|")
        ax.set_xlabel("low-level variable")
        ax.legend()
    _save(fig, out, "fig9_two_branch.png")
    share = (tau[:, :4].sum(-1) / tau[:, :9].sum(-1)).tolist()
    return {"share of cause k on branch 1": share}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--figure", nargs="*", type=int, default=[3, 4, 5, 9])
    parser.add_argument("--out", type=Path, default=Path("tcr_figures"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    args.out.mkdir(parents=True, exist_ok=True)
    runs, n_int, n_samp = (3, 500, 32) if args.small else (20, 10_000, 64)
    well = (50, 16, 30) if args.small else (1000, 64, 1000)
    summary = {}
    if 3 in args.figure:
        summary["fig3"] = figure3(args.out, runs, n_int, n_samp)
    if 4 in args.figure:
        summary["fig4"] = figure4(args.out, runs, n_int, n_samp)
    if 5 in args.figure:
        summary["fig5"] = figure5(args.out, *well)
    if 9 in args.figure:
        summary["fig9"] = figure9(args.out, runs, n_int, n_samp)
    fd, tmp = tempfile.mkstemp(dir=args.out, suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(summary, handle, indent=1)
    os.replace(tmp, args.out / "summary.json")
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
