"""Structure recovery metrics of a learned weight matrix (self-loops excluded)."""

from __future__ import annotations

import torch


def _off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    d = matrix.shape[-1]
    return matrix[~torch.eye(d, dtype=torch.bool)]


def auroc(scores: torch.Tensor, truth: torch.Tensor) -> float:
    """Area under the ROC curve of edge scores (e.g. ``|W_learned|``) against the true edges
    (``truth != 0``), off the diagonal; ties count one half (Mann-Whitney).

    >>> auroc(torch.tensor([[0.0, 0.9], [0.1, 0.0]]), torch.tensor([[0.0, 1.0], [0.0, 0.0]]))
    1.0
    """
    s, edges = _off_diagonal(scores.abs()), _off_diagonal(truth) != 0
    pos, neg = s[edges], s[~edges]
    if not len(pos) or not len(neg):
        raise ValueError("auroc needs at least one edge and one non-edge")
    greater = (pos[:, None] > neg[None, :]).double().sum()
    ties = (pos[:, None] == neg[None, :]).double().sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def shd(learned: torch.Tensor, truth: torch.Tensor, threshold: float = 0.1) -> int:
    """Structural Hamming distance between the graph of ``|learned| > threshold`` and that of
    ``truth != 0`` (directed edges, cycles allowed): missing plus extra edges, a reversed edge
    counting once.

    >>> shd(torch.tensor([[0.0, 0.0], [0.5, 0.0]]), torch.tensor([[0.0, 1.0], [0.0, 0.0]]))
    1
    """
    a = (learned.abs() > threshold) & ~torch.eye(learned.shape[-1], dtype=torch.bool)
    b = (truth != 0) & ~torch.eye(truth.shape[-1], dtype=torch.bool)
    diff = a ^ b
    reversed_ = diff & diff.T & (a ^ a.T) & (b ^ b.T)  # i->j in one graph, j->i in the other
    return int(diff.sum() - reversed_.sum() // 2)
