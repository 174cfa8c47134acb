"""Plots of learned TCR maps (matplotlib, imported lazily).

- :func:`plot_maps`: ``τ_k`` and ``ω_k`` side by side as bars per low-level variable, normalized
  as in the paper (``(τ_k)_j / Σ_j' (τ_k)_j'``, or by the largest magnitude), optionally with
  the analytic solution overlaid;
- :func:`plot_time_maps`: maps over time for simulators whose variables are trajectories
  (e.g. the double well: position and velocity blocks);
- :func:`plot_mechanism`: the high-level mechanism ``E[Y | Z]`` over reduced samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def normalize(weights: torch.Tensor, how: str = "max") -> torch.Tensor:
    """Normalize maps for display: ``"sum"`` (the paper's ``w / Σ w``, sign-fixed so the sum is
    positive), ``"max"`` (divide by the largest magnitude, sign of the largest entry positive)
    or ``"none"``.

    >>> normalize(torch.tensor([1., -3.]))
    tensor([-0.3333,  1.0000])
    """
    weights = torch.as_tensor(weights).detach().to(torch.get_default_dtype())
    if how == "none":
        return weights
    if how == "sum":
        return weights / weights.sum(-1, keepdim=True)
    if how == "max":
        index = weights.abs().argmax(-1, keepdim=True)
        return weights / weights.gather(-1, index)
    raise ValueError(f"unknown normalization {how!r}")


def plot_maps(
    tau: torch.Tensor,
    omega: torch.Tensor,
    labels: Sequence[str] | None = None,
    analytic: tuple[torch.Tensor, torch.Tensor] | None = None,
    how: str = "max",
    axes=None,
):
    """Bar plots of ``τ_k`` (left) and ``ω_k`` (right) for every cause ``k``.

    :param tau: ``(N,)`` or ``(n, N)``.
    :param omega: ``(D,)`` or ``(n, D)``.
    :param labels: names of the low-level variables (ticks).
    :param analytic: optional ``(τ, ω)`` reference shown as black markers.
    :param how: normalization, see :func:`normalize`.
    :param axes: two matplotlib axes (created when ``None``).
    :returns: the axes.
    """
    import matplotlib.pyplot as plt

    tau, omega = torch.atleast_2d(normalize(tau, how)), torch.atleast_2d(normalize(omega, how))
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3))
    n = tau.shape[0]
    width = 0.8 / n
    for ax, maps, title in ((axes[0], tau, "τ"), (axes[1], omega, "ω")):
        positions = torch.arange(maps.shape[-1], dtype=torch.float64)
        for k in range(n):
            ax.bar(
                (positions + (k - (n - 1) / 2) * width).numpy(),
                maps[k].numpy(),
                width,
                label=f"{title}{k + 1}",
            )
        ax.set_title(f"learned {title} (normalized)")
        ax.axhline(0, color="grey", lw=0.5)
        if labels is not None and len(labels) == maps.shape[-1]:
            ax.set_xticks(positions.tolist(), labels, rotation=90)
    if analytic is not None:
        for ax, ref, maps in ((axes[0], analytic[0], tau), (axes[1], analytic[1], omega)):
            ref = normalize(ref, how)
            sign = torch.sign((ref * maps[0]).sum())  # maps are defined up to sign
            ax.plot((sign * ref).numpy(), "k_", ms=14, mew=2, label="analytic")
            ax.legend(fontsize=7)
    return axes


def plot_time_maps(
    weights: torch.Tensor,
    times: torch.Tensor,
    blocks: Sequence[str] = ("position", "velocity"),
    title: str = "τ",
    ax=None,
):
    """Plot a map whose variables are consecutive time blocks (e.g. positions then velocities).

    :param weights: ``(len(blocks) · T,)`` weights.
    :param times: ``(T,)`` times.
    :param blocks: names of the blocks.
    :param title: plot title.
    :param ax: a matplotlib axis (created when ``None``).
    """
    import matplotlib.pyplot as plt

    weights = normalize(weights, "max")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    n_times = len(times)
    for b, name in enumerate(blocks):
        ax.plot(
            torch.as_tensor(times).numpy(),
            weights[b * n_times : (b + 1) * n_times].numpy(),
            label=name,
        )
    ax.set_xlabel("time")
    ax.set_title(f"{title} over time (normalized)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend()
    return ax


def plot_mechanism(guide, z: torch.Tensor, y: torch.Tensor, ax=None):
    """Scatter reduced samples ``(z, y)`` and the learned ``E[Y | Z]`` (first cause).

    :param guide: a fitted :class:`~pyro_causal_eq.reduction.TCRGuide`.
    :param z: ``(M,)`` or ``(M, n)`` high-level cause samples ``T x``.
    :param y: ``(M,)`` target samples.
    :param ax: a matplotlib axis (created when ``None``).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    z = torch.as_tensor(z).detach()
    z = z.unsqueeze(-1) if z.dim() == 1 else z
    ax.scatter(
        z[:, 0].numpy(), torch.as_tensor(y).detach().numpy(), s=2, alpha=0.3, label="samples"
    )
    grid = torch.linspace(float(z[:, 0].min()), float(z[:, 0].max()), 100)
    full = z.mean(0).expand(100, -1).clone()
    full[:, 0] = grid
    with torch.no_grad():
        ax.plot(grid.numpy(), guide.conditional_mean(full).numpy(), "r", label="E[Y | Z]")
    ax.set_xlabel("Z")
    ax.set_ylabel("Y")
    ax.legend()
    return ax
