"""Theorem 1 of the paper, checked with logistic regression (book chapter 4).

Theorem 1 of Lin et al. (WSDM'24, proof in their Appendix A.1) compares three parameter vectors:
``θ``, the *direct* candidate ``θ_d = θ − α·g`` and the *inverse* candidate ``θ_i = θ + α·g``,
where ``g = ∇_θ IDL`` is the gradient of the inverse dual loss on an unlabeled batch. It states
that the labeled loss ``L`` always orders them as ``L(θ_d) > L(θ) > L(θ_i)`` or
``L(θ_d) < L(θ) < L(θ_i)``: ``L(θ)`` lies strictly between the other two.

The proof uses logistic regression, ``ŷ = σ(θ·x)``, and *one* labeled instance. This module
computes the three candidate losses for that model, for one instance or a mini-batch, many random
problems at once, and measures how often the ordering holds as ``α`` grows. The model is a
handful of plain functions on tensors: a batch of ``R`` independent problems is a parameter
tensor of shape ``(R, d)`` with features of shape ``(R, n, d)``, and every function broadcasts
over the leading axes.

The loss of the unlabeled batch is :func:`invlearn.losses.inverse_dual_loss` (chapter 3); the
meta-step that uses the three candidates on a real model is
:func:`invlearn.ig.ig_meta_step` (chapter 5), which returns its losses in the same order as
:func:`candidate_losses` here: ``[L(θ_d), L(θ), L(θ_i)]``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..ig import is_tie
from ..losses import inverse_dual_loss

#: The ways three candidate losses ``[L(θ_d), L(θ), L(θ_i)]`` can be ordered: ``holds`` (Theorem
#: 1: ``L(θ)`` strictly between the other two), ``theta_min`` (``L(θ)`` strictly the smallest:
#: IG's "pass"), ``theta_max`` (``L(θ)`` strictly the largest: both moves help) and ``tie`` (two
#: of the three are equal, so no strict ordering).
ORDERINGS = ("holds", "theta_min", "theta_max", "tie")


def logistic_logits(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Logits ``θ·x`` of logistic regression, the model of the paper's Appendix A.1.

    ``theta`` has shape ``(..., d)`` and ``x`` shape ``(..., n, d)``; the result has shape
    ``(..., n)``. The prediction is ``ŷ = σ(θ·x)`` (paper eq. 7).
    """
    return torch.einsum("...d,...nd->...n", theta, x)


def labeled_loss(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The labeled loss ``L(θ)``: BCE of ``σ(θ·x)`` against ``y``, averaged over the ``n`` rows
    (paper eq. 11; chapter 4). Shapes ``(..., d)``, ``(..., n, d)``, ``(..., n)`` → ``(...)``.
    """
    logits = logistic_logits(theta, x)
    return F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(-1)


def idl_gradient(theta: torch.Tensor, x_unlabeled: torch.Tensor) -> torch.Tensor:
    """``g = ∇_θ IDL(θ)`` on an unlabeled batch, for each problem separately.

    The loss is :func:`invlearn.losses.inverse_dual_loss` of the logits ``θ·x``; its weights are
    constants (paper eq. 4), so ``g = mean_j (σ(θ·x_j) − w1_j)·x_j``. With ``R`` problems of
    ``m`` rows each, the mean over all ``R·m`` rows times ``R`` is the sum of the ``R``
    per-problem losses, whose gradient with respect to row ``r`` of ``theta`` is problem ``r``'s
    gradient. Shapes ``(..., d)`` and ``(..., m, d)`` → ``(..., d)``.
    """
    theta = theta.detach().requires_grad_(True)
    logits = logistic_logits(theta, x_unlabeled)
    n_problems = logits[..., 0].numel()
    (grad,) = torch.autograd.grad(inverse_dual_loss(logits) * n_problems, theta)
    return grad


def candidates(theta: torch.Tensor, grad: torch.Tensor,
               alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The direct and inverse candidates ``θ_d = θ − α·g`` and ``θ_i = θ + α·g`` of Theorem 1
    (paper Definition 2 and Algorithm 1, lines 13–15; chapter 4)."""
    return theta - alpha * grad, theta + alpha * grad


def candidate_losses(theta: torch.Tensor, x_unlabeled: torch.Tensor | None, x: torch.Tensor,
                     y: torch.Tensor, alpha: float,
                     grad: torch.Tensor | None = None) -> torch.Tensor:
    """The labeled losses ``[L(θ_d), L(θ), L(θ_i)]`` of Theorem 1, last axis of size 3.

    ``g`` is :func:`idl_gradient` on ``x_unlabeled`` (pass ``grad`` to reuse one already
    computed). The order is the one :func:`invlearn.ig.ig_meta_step` returns, so
    ``argmin`` of the last axis indexes ``("direct", "pass", "inverse")``.
    """
    if grad is None:
        grad = idl_gradient(theta, x_unlabeled)
    theta_d, theta_i = candidates(theta, grad, alpha)
    return torch.stack([labeled_loss(theta_d, x, y), labeled_loss(theta, x, y),
                        labeled_loss(theta_i, x, y)], dim=-1)


def ordering(cand: torch.Tensor) -> torch.Tensor:
    """Classify candidate losses ``[..., 3] = [L(θ_d), L(θ), L(θ_i)]`` into the codes of
    :data:`ORDERINGS`: 3 a tie — the lowest loss reached by more than one
    candidate, :func:`invlearn.ig.is_tie`, the package's one definition, under which IG keeps
    θ; otherwise 0 holds (``L(θ)`` strictly between the other two, Theorem 1), 1 ``θ`` is the
    minimum, 2 ``θ`` is the maximum (possibly shared with one other candidate)."""
    d, p, i = cand.unbind(-1)
    lo, hi = torch.minimum(d, i), torch.maximum(d, i)
    code = torch.zeros(p.shape, dtype=torch.long, device=cand.device)
    code[p < lo] = 1
    code[p >= hi] = 2
    code[is_tie(cand)] = 3
    return code


def proof_direction(grad: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                    alpha: float) -> torch.Tensor:
    """The winner the proof of Theorem 1 predicts for a *single* labeled instance.

    The direct move changes the logit by ``−α·g·x``. For a positive instance the loss falls when
    the logit rises, so the direct candidate wins when ``α·g·x < 0``; for a negative instance
    when ``α·g·x > 0`` (paper Appendix A.1, eqs. 10–13). Returns the index into
    ``("direct", "pass", "inverse")``: 0 (direct) or 2 (inverse); 1 (pass) only if
    ``g·x = 0``, where the three losses are equal. Shapes ``(..., d)``, ``(..., d)``, ``(...)``.
    """
    shift = alpha * (grad * x).sum(-1)
    sign = torch.sign(shift) * (2 * y - 1)
    return (1 + sign).long()


def critical_alpha(theta: torch.Tensor, grad: torch.Tensor, x: torch.Tensor,
                   y: torch.Tensor) -> torch.Tensor:
    """Second-order estimate of the largest ``α`` for which the ordering holds.

    Along the line ``θ + t·g`` the labeled loss is ``L(t) ≈ L(0) + t·D + t²·C/2`` with slope
    ``D = mean (σ − y)·(g·x)`` and curvature ``C = mean σ(1 − σ)·(g·x)²``. Then
    ``L(α) + L(−α) − 2L(0) ≈ α²C`` and ``|L(α) − L(−α)| ≈ 2α|D|``: ``θ`` stops lying between the
    two candidates (and becomes their minimum) once ``α > 2|D| / C``. For one instance with
    ``g·x ≠ 0`` the true loss is monotone along the line and the ordering holds for every ``α``;
    the estimate is then finite but meaningless, so use it for mini-batches.
    """
    shift = (grad.unsqueeze(-2) * x).sum(-1)
    p = torch.sigmoid(logistic_logits(theta, x))
    slope = ((p - y) * shift).mean(-1)
    curvature = (p * (1 - p) * shift.square()).mean(-1)
    return 2 * slope.abs() / curvature


def loss_along_line(theta: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                    steps: torch.Tensor) -> torch.Tensor:
    """``L(θ + t·g)`` for every ``t`` in ``steps``: shape ``(len(steps), ...)``.

    ``t = −α`` is the direct candidate, ``t = 0`` is ``θ`` and ``t = +α`` the inverse one.
    """
    return torch.stack([labeled_loss(theta + t * grad, x, y) for t in steps.tolist()])


@dataclass
class LogisticProblems:
    """``R`` random Theorem-1 problems for logistic regression.

    ``theta`` ``(R, d)`` is the current model, ``theta_star`` ``(R, d)`` the model that drew the
    labels; ``x`` ``(R, n, d)`` and ``y`` ``(R, n)`` the labeled batch (training-test data in
    Algorithm 1); ``x_unlabeled`` ``(R, m, d)`` the unlabeled batch.
    """

    theta: torch.Tensor
    theta_star: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    x_unlabeled: torch.Tensor

    def __len__(self) -> int:
        return self.theta.shape[0]


def draw_problems(n_draws: int, batch_size: int, *, dim: int = 16,
                  unlabeled_size: int | None = None, signal: float = 2.0, noise: float = 1.0,
                  seed: int = 0, first: int = 0,
                  dtype: torch.dtype = torch.float64) -> LogisticProblems:
    """Draw problems ``first, …, first + n_draws − 1``, each from its own seed.

    Features are ``N(0, I_d)``. A true model ``θ* ~ N(0, signal²/d · I)`` (logits of standard
    deviation ``signal``) draws the labels ``y ~ Bernoulli(σ(θ*·x))``; the current model is
    ``θ = θ* + N(0, noise²/d · I)``, a model part-way through training. The unlabeled batch has
    ``unlabeled_size`` rows (default ``batch_size``: Algorithm 1 pairs each training-test batch
    with an unlabeled batch of the same size) from the same feature distribution. Problem ``r``
    depends only on ``(seed, batch_size, unlabeled_size, dim, r)``, so drawing in chunks gives
    the same problems as drawing all at once.
    """
    m = batch_size if unlabeled_size is None else unlabeled_size
    parts: list[list[np.ndarray]] = [[] for _ in range(5)]
    for r in range(first, first + n_draws):
        rng = np.random.default_rng([seed, batch_size, m, dim, r])
        theta_star = rng.standard_normal(dim) * signal / np.sqrt(dim)
        theta = theta_star + rng.standard_normal(dim) * noise / np.sqrt(dim)
        x = rng.standard_normal((batch_size, dim))
        y = (rng.random(batch_size) < 1.0 / (1.0 + np.exp(-x @ theta_star))).astype(np.float64)
        for store, value in zip(parts, (theta, theta_star, x, y, rng.standard_normal((m, dim)))):
            store.append(value)
    return LogisticProblems(*(torch.as_tensor(np.stack(p), dtype=dtype) for p in parts))


def hold_rates(alphas: Sequence[float], batch_sizes: Sequence[int], n_draws: int = 2000, *,
               dim: int = 16, seed: int = 0, max_elements: int = 2_000_000,
               direction: Callable[[torch.Tensor], torch.Tensor] | None = None,
               **problem_kwargs) -> pd.DataFrame:
    """How often Theorem 1's ordering holds, per batch size and ``α``.

    For each batch size, :func:`draw_problems` draws ``n_draws`` problems (the same problems for
    every ``α``, so the curves are comparable; in chunks of at most ``max_elements`` feature
    values, which changes nothing in the result), computes ``g`` once per problem and classifies
    the candidate losses at every ``α`` with :func:`ordering`. ``direction`` maps ``g`` to the
    direction the candidates move along, ``θ ∓ α·direction(g)`` (e.g. ``torch.sign`` for the
    sign-like step); ``None`` moves along ``g`` itself. Returns one row per
    (``batch_size``, ``alpha``) with

    * ``holds``, ``theta_min``, ``theta_max``, ``tie``: shares of the :data:`ORDERINGS` (sum 1);
    * ``min_of_failures``: the share of failures where ``θ`` is the minimum (NaN if none);
    * ``predicted``: the share of problems with ``α <`` :func:`critical_alpha`, the
      second-order prediction of ``holds``, and ``agreement``: the share of problems where that
      prediction is right;
    * ``median_grad_norm`` (of the direction moved along) and ``median_critical_alpha`` over
      the problems, and ``n_draws``.
    """
    rows = []
    for n in batch_sizes:
        m = problem_kwargs.get("unlabeled_size") or n
        counts = np.zeros((len(alphas), len(ORDERINGS)), dtype=np.int64)
        predicted = np.zeros(len(alphas), dtype=np.int64)
        agreed = np.zeros(len(alphas), dtype=np.int64)
        norms, crits = [], []
        chunk = max(1, max_elements // ((n + m) * dim))
        for first in range(0, n_draws, chunk):
            probs = draw_problems(min(chunk, n_draws - first), n, dim=dim, seed=seed,
                                  first=first, **problem_kwargs)
            grad = idl_gradient(probs.theta, probs.x_unlabeled)
            if direction is not None:
                grad = direction(grad)
            crit = critical_alpha(probs.theta, grad, probs.x, probs.y)
            norms.append(grad.norm(dim=-1))
            crits.append(crit)
            for a, alpha in enumerate(alphas):
                code = ordering(candidate_losses(probs.theta, None, probs.x, probs.y, alpha,
                                                 grad=grad))
                counts[a] += np.bincount(code.numpy(), minlength=len(ORDERINGS))
                guess = abs(alpha) < crit
                predicted[a] += int(guess.sum())
                agreed[a] += int((guess == (code == 0)).sum())
        for a, alpha in enumerate(alphas):
            share = counts[a] / n_draws
            fails = counts[a, 1:].sum()
            rows.append({"batch_size": n, "alpha": float(alpha),
                         **dict(zip(ORDERINGS, share.tolist())),
                         "min_of_failures": counts[a, 1] / fails if fails else float("nan"),
                         "predicted": predicted[a] / n_draws, "agreement": agreed[a] / n_draws,
                         "median_grad_norm": float(torch.cat(norms).median()),
                         "median_critical_alpha": float(torch.cat(crits).median()),
                         "n_draws": n_draws})
    return pd.DataFrame(rows)


def second_order_tables(rates: pd.DataFrame, low: float = 1.0
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two tables of the second-order check (chapter 4, "Why: the loss along the line").

    ``rates`` is :func:`hold_rates`' result. Returns ``(second, shares)``, both indexed by batch
    size: ``second`` has the median ``‖g‖`` and the median critical step ``α*``
    (:func:`critical_alpha`); ``shares`` has, for each ``α`` of the grid strictly between
    ``low`` and the largest ``α`` (where the curves fall), the ``measured`` share where the
    ordering holds and the ``predicted`` one (``α < α*``), under a column level ``"α = …"``.
    """
    second = rates.groupby("batch_size").agg(
        **{"median ‖g‖": ("median_grad_norm", "first"),
           "median α*": ("median_critical_alpha", "first")})
    second.index.name = "batch size"
    alphas = sorted(set(rates["alpha"].tolist()))
    grid = [a for a in alphas if low < a < alphas[-1]]
    shares = pd.concat({f"α = {a:.3g}": rates[np.isclose(rates["alpha"], a)]
                        .set_index("batch_size").loc[second.index, ["holds", "predicted"]]
                        .rename(columns={"holds": "measured"}) for a in grid}, axis=1)
    shares.index.name = "batch size"
    return second, shares


def meta_orderings(meta: pd.DataFrame) -> pd.Series:
    """Shares of :data:`ORDERINGS` over the meta-steps of a real IG run.

    ``meta`` is ``TrainResult.history.meta`` of ``train(..., method="ig")``, with the columns
    ``loss_direct``, ``loss_pass`` and ``loss_inverse``.
    """
    cols = ["loss_direct", "loss_pass", "loss_inverse"]
    cand = torch.tensor(meta[cols].to_numpy(dtype=np.float64, copy=True))
    counts = np.bincount(ordering(cand).numpy(), minlength=len(ORDERINGS))
    return pd.Series(counts / max(len(meta), 1), index=list(ORDERINGS), name="share")


def median_gap_ulps(meta: pd.DataFrame) -> float:
    """Median ``|L(θ_d) − L(θ_i)|`` over IG's meta-steps, in units of the last place of a
    float32 loss: below 1, float32 could not tell the two candidates apart."""
    gap = (meta["loss_direct"] - meta["loss_inverse"]).abs().to_numpy()
    ulp = np.spacing(meta["loss_pass"].to_numpy(np.float32)).astype(np.float64)
    return float(np.median(gap / ulp))
