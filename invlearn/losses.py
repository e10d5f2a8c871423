"""Losses on logits: BCE, T-CE, R-CE (Wang et al., WSDM'21) and the Inverse Dual Loss (eq. 4).

Notation (book chapter 1): ``s`` is a logit, ``ℓ1(s) = softplus(−s)`` the loss of calling a pair
positive, ``ℓ0(s) = softplus(s)`` the loss of calling it negative. Every function returns a *mean*
over rows.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits, averaged over rows (book chapter 1)."""
    return F.binary_cross_entropy_with_logits(logits, labels)


def idl_weights(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse dual weights ``(w1, w0)`` of paper eq. 4 (book chapter 3).

    ``w1 = ℓ0² / (ℓ0² + ℓ1²)`` and ``w0 = ℓ1² / (ℓ0² + ℓ1²)``: the label whose loss is *smaller*
    gets the larger weight. The paper writes them with a normaliser ``z_w = ℓ0/ℓ1 + ℓ1/ℓ0``; the
    two forms are equal. No epsilon is needed because the denominator ``ℓ0² + ℓ1² ≥ 2 (log 2)²``
    for every logit, its value at 0. The weights are computed without gradient: they are
    constants of the loss.
    """
    with torch.no_grad():
        l1 = F.softplus(-logits)
        l0 = F.softplus(logits)
        w1 = l0.square() / (l0.square() + l1.square())
    return w1, 1.0 - w1


def inverse_dual_loss(logits: torch.Tensor) -> torch.Tensor:
    """Inverse Dual Loss on unlabeled pairs, ``mean(w1·ℓ1 + w0·ℓ0)`` (paper eq. 4, chapter 3).

    Its gradient with respect to a logit is ``σ(s) − w1``: each prediction is pushed further to
    the side it already leans to.
    """
    return idl_terms(logits).mean()


def idl_terms(logits: torch.Tensor) -> torch.Tensor:
    """Per-row IDL, ``w1·ℓ1 + w0·ℓ0`` (not averaged) (chapters 2–3)."""
    w1, w0 = idl_weights(logits)
    return w1 * F.softplus(-logits) + w0 * F.softplus(logits)


def drop_rate(iteration: int, eps_max: float, eps_n: int) -> float:
    """T-CE's drop-rate schedule ``ε(T) = min(ε_max · T / ε_N, ε_max)`` (Wang et al. eq.
    3) (chapters 2–3)."""
    return min(eps_max * iteration / max(eps_n, 1), eps_max)


def truncated_bce(logits: torch.Tensor, labels: torch.Tensor,
                  rate: float) -> tuple[torch.Tensor, torch.Tensor]:
    """T-CE: BCE without the largest-loss *positive* rows (Wang et al. Algorithm 1, line 5;
    chapter 2).

    The batch holds labeled rows and sampled negatives together; ``⌊rate · len(batch)⌋`` rows
    are dropped, taken from the positives with the largest loss (all positives if there are
    fewer). Negatives are never dropped. Returns the mean loss over the kept rows and the
    boolean mask of dropped rows.
    """
    losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    positive = labels > 0.5
    n_drop = min(math.floor(rate * len(labels)), int(positive.sum()))
    dropped = torch.zeros_like(positive)
    if n_drop > 0:
        ranked = torch.where(positive, losses.detach(), torch.full_like(losses, -1.0))
        dropped[torch.topk(ranked, n_drop).indices] = True
    kept = ~dropped
    return losses[kept].mean(), dropped


def rce_weights(logits: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """R-CE weights: ``ŷ^β`` on positives and ``(1 − ŷ)^β`` on negatives, detached (chapter 2)."""
    with torch.no_grad():
        p = torch.sigmoid(logits)
        return torch.where(labels > 0.5, p, 1.0 - p).pow(beta)


def reweighted_bce(logits: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """R-CE: BCE weighted by :func:`rce_weights` (Wang et al. eq. 6), averaged over
    rows (chapters 2–3)."""
    losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return (rce_weights(logits, labels, beta) * losses).mean()
