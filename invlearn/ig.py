"""The Inverse Gradient (IG): Algorithm 1 of Lin et al. (WSDM'24), book chapter 5.

Algorithm 1 splits the labeled training rows into *training-train* (90 %) and *training-test*
(10 %) data and alternates, every epoch,

1. a supervised phase: Adam steps (learning rate γ) on the BCE of training-train batches
   (lines 3–7), and
2. a meta phase (lines 8–21): for a training-test batch and an unlabeled batch, the gradient
   ``g`` of the Inverse Dual Loss on the unlabeled batch gives three candidates
   ``θ − α·g`` (*direct*), ``θ`` (*pass*) and ``θ + α·g`` (*inverse*); the one with the lowest
   labeled BCE is kept, then one γ step on that batch's BCE is taken from it.

Each piece is a function here (:func:`meta_split`, :func:`alpha_step`, :func:`choose`,
:func:`keep_best`, :func:`ig_meta_step`, :func:`windows`) so that :func:`ig_epoch` (the eager
engine) and the static engine share them; :func:`released_meta_step` is the
meta-step as the authors' released code takes it (chapter 7).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from . import losses
from .config import TrainConfig
from .optim import row_gradient, trainable

#: The three candidates in the order their losses are reported and ``choose`` indexes them.
DIRECTIONS = ("direct", "pass", "inverse")
PASS = 1


def alpha_step(grad: torch.Tensor, alpha: float, rule: str) -> torch.Tensor:
    """The move ``α·step(g)`` of one candidate (chapter 5, "Two step rules for θ − α·g").

    ``"sgd"``: ``α·g``, Algorithm 1 as written. ``"sign"``: ``α·g / (|g| + 1e-8)``, which is what
    one step of a freshly created Adam optimizer does (≈ ``α·sign(g)`` on every entry with a
    gradient), the released code's reading.
    """
    if rule == "sgd":
        return alpha * grad
    return alpha * grad / (grad.abs() + 1e-8)


def is_tie(candidate_losses: torch.Tensor) -> torch.Tensor:
    """Whether the lowest of the candidate losses (last dimension) is reached more than
    once (chapter 5). The package's one definition of a tie: :func:`choose` keeps θ on it, and
    chapter 4's :func:`invlearn.chapters.theorem.ordering` counts it."""
    low = candidate_losses.min(dim=-1, keepdim=True).values
    return (candidate_losses == low).sum(dim=-1) > 1


def choose(candidate_losses: torch.Tensor) -> torch.Tensor:
    """Index of the kept candidate among ``[L(θ−αg), L(θ), L(θ+αg)]`` (line 18).

    The lowest loss wins. A *tie* (:func:`is_tie`: the lowest value reached by more than one
    candidate, as when the move is too small to change any parameter) keeps θ (index 1, pass),
    so that a tie never records a move that did not happen. Compare the losses in float64: with
    the plain rule the candidates can be only a few float32 ulps apart, so a float32 comparison
    is decided largely by rounding (chapter 4). Tensor operations only: no value goes back to
    the host.
    """
    best = candidate_losses.argmin()
    return torch.where(is_tie(candidate_losses), torch.full_like(best, PASS), best)


@dataclass
class MetaStep:
    """What one meta-step did: the candidate losses (float64), the kept index, how many
    parameter entries the kept move changed, the move's norm relative to the norm of the
    parameters it touched, and the IDL weights ``w1`` of the unlabeled batch (chapter 5)."""

    losses: torch.Tensor
    kept: torch.Tensor
    changed: torch.Tensor
    relative_move: torch.Tensor
    w1: torch.Tensor


def ig_meta_step(model: nn.Module, unlabeled: tuple[torch.Tensor, torch.Tensor],
                 labeled: tuple[torch.Tensor, torch.Tensor, torch.Tensor], alpha: float,
                 rule: str = "sign") -> MetaStep:
    """Lines 9–20 of Algorithm 1, in place: move ``model`` to the best of θ − α·g, θ, θ +
    α·g (chapter 5).

    ``g`` is the gradient of the Inverse Dual Loss (paper eq. 4) on the ``unlabeled``
    ``(users, items)`` batch; the candidates are compared by the BCE of the ``labeled``
    ``(users, items, labels)`` batch, in float64, with :func:`choose`. Only the embedding rows
    the unlabeled batch touched (and the dense layers) are perturbed, saved and restored.
    """
    logits = model(*unlabeled)
    params = trainable(model)
    grads = torch.autograd.grad(losses.inverse_dual_loss(logits), params, allow_unused=True)
    with torch.no_grad():
        moves = _moves(params, grads, alpha, rule)
        users, items, labels = labeled
        cand, kept = keep_best(lambda sign: move_to(moves, sign),
                               lambda: losses.bce(model(users, items).double(), labels.double()))
        changed, relative = _move_size(moves)
    return MetaStep(cand, kept, changed, relative, losses.idl_weights(logits.detach())[0])


def keep_best(move_to: Callable[[float | torch.Tensor], None],
              loss: Callable[[], torch.Tensor],
              dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Lines 13–20 of Algorithm 1 (chapter 5): ``move_to(s)`` sets the parameters to
    ``θ + s·α·step(g)`` for ``s`` = −1 (direct), 0 (pass) and +1 (inverse); ``loss()`` is the
    labeled BCE there (float64). Returns the three losses and the index :func:`choose` keeps,
    and leaves the parameters at the kept candidate — on the device, without a host sync."""
    scores = []
    for sign in (-1.0, 0.0, 1.0):
        move_to(sign)
        scores.append(loss())
    cand = torch.stack(scores)
    kept = choose(cand)
    move_to((kept - PASS).to(dtype))
    return cand, kept


def _moves(params: list, grads: tuple, alpha: float, rule: str) -> list[tuple]:
    """For every parameter with a gradient: (parameter, rows or None, saved values, move)."""
    moves = []
    for p, g in zip(params, grads):
        if g is None:
            continue
        if g.is_sparse:  # distinct rows on the CPU, fixed-size padded rows on a GPU
            rows, values = row_gradient(g)
            moves.append((p, rows, p.index_select(0, rows), alpha_step(values, alpha, rule)))
        else:
            moves.append((p, None, p.detach().clone(), alpha_step(g, alpha, rule)))
    return moves


def move_to(moves: list[tuple], sign: float | torch.Tensor) -> None:
    """Set every moved parameter to ``saved + sign · move`` (−1 direct, 0 pass, +1 inverse);
    ``moves`` holds (parameter, rows or None for all of it, saved values, move)."""
    for p, rows, saved, delta in moves:
        if rows is None:
            p.copy_(saved + sign * delta)
        else:  # repeated rows (coalesce_rows) carry equal values
            p.index_copy_(0, rows, saved + sign * delta)


def move_size(parts: list[tuple]) -> tuple[torch.Tensor, torch.Tensor]:
    """Entries the kept move changed (as stored, in float32) and ``‖θ_kept − θ‖ / ‖θ‖`` over
    the touched entries, from (values now, saved values, mask of the entries that count or
    None for all) per parameter: tensor operations only, so the static engine's captured
    meta-step takes it too."""
    changed, moved, size = [], [], []
    for now, saved, weight in parts:
        diff = now != saved
        step, base = (now.double() - saved.double()).square(), saved.double().square()
        if weight is not None:
            diff, step, base = diff & weight, step * weight, base * weight
        changed.append(diff.sum())
        moved.append(step.sum())
        size.append(base.sum())
    if not parts:
        return torch.tensor(0), torch.tensor(0.0, dtype=torch.float64)
    changed, moved, size = sum(changed), sum(moved), sum(size)  # left to right, as recorded
    return changed, torch.sqrt(moved) / torch.sqrt(size).clamp(min=1e-300)


def _move_size(moves: list[tuple]) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`move_size` of the moves of :func:`_moves`. Coalesced rows repeat their last row
    (fixed shapes, see :func:`invlearn.optim.coalesce_rows`): each distinct row counts once."""
    parts = []
    for p, rows, saved, _ in moves:
        weight = None
        if rows is not None and rows.device.type != "cpu":  # padded rows: count each once
            first = torch.ones_like(rows, dtype=torch.bool)
            first[1:] = rows[1:] != rows[:-1]
            weight = first.view(-1, *([1] * (saved.dim() - 1))).expand_as(saved)
        parts.append((p if rows is None else p.index_select(0, rows), saved, weight))
    return move_size(parts)


def meta_steps_per_epoch(reading: str, supervised_batches: int, test_batches: int) -> int:
    """How many meta-steps one epoch takes (chapter 5, "Two schedules for Algorithm 1's loop").

    ``"per-test-batch"``: one per training-test batch (the released code). ``"per-train-batch"``:
    as many as supervised batches — the paper writes both loops ``for t = 1 to T`` — with
    training-test batches reshuffled and drawn again as needed.
    """
    if reading == "per-train-batch":
        return supervised_batches
    return test_batches


class IGRun(Protocol):
    """What one epoch of Algorithm 1 (:func:`ig_epoch`) needs from a run: the settings, the
    model, the labeled rows on the device split by :func:`meta_split`, fresh batch orders, one
    γ step, the supervised pass, the epoch's unlabeled stream, the released code's draws and
    state, and a place to log the meta-steps (:class:`invlearn.methods.Run` has them)."""

    cfg: TrainConfig
    model: nn.Module
    users: torch.Tensor
    items: torch.Tensor
    labels: torch.Tensor
    fit_rows: torch.Tensor  # training-train rows
    meta_rows: torch.Tensor  # training-test rows
    train_users: np.ndarray  # the user of every labeled training row (the released draws)
    state: dict  # what a method keeps across epochs (the released candidate gradients)
    iteration: int  # supervised steps taken
    opt: object  # the run's optimizer

    def batches(self, n: int) -> list[torch.Tensor]: ...

    def step(self, loss: torch.Tensor) -> None: ...

    def supervised_pass(self, loss: str, rows: torch.Tensor) -> tuple: ...

    def stream(self) -> Callable[[int], tuple]: ...

    def draw(self, users: np.ndarray, rate: int) -> tuple: ...

    def new_optimizer(self) -> object: ...

    def log_meta(self, epoch: int, steps: list[MetaStep], rows: dict[str, list]) -> None: ...


def ig_epoch(run: IGRun, epoch: int) -> float:
    """One epoch of Algorithm 1 on a run (:class:`IGRun`): the supervised phase on the
    training-train rows (BCE, or IDL with ``ig_supervised="idl"``), then the meta phase —
    :func:`meta_steps_per_epoch` meta-steps, each on a training-test batch with
    ``sampling_rate`` unlabeled rows per labeled row from the run's pool, followed by one γ
    step on that batch (line 21). Returns the mean supervised loss (chapter 5)."""
    cfg, test = run.cfg, run.meta_rows
    # Algorithm 1, lines 3-7: the supervised phase, one pass over the training-train rows
    total, count, supervised = run.supervised_pass(
        "idl" if cfg.ig_supervised == "idl" else "none", run.fit_rows)
    run.state.pop("weights", None)  # IG records the meta phase's weights, not these
    released = cfg.meta_move == "released"  # the released code's meta-step (chapter 7)
    take_unlabeled = None if released else run.stream()
    test_batches = run.batches(len(test))
    alpha = cfg.alpha_ratio * cfg.lr
    steps, recorded = [], {"user": [], "item": [], "w1": [], "true": []}
    # Algorithm 1, lines 8-21: the meta phase, one meta-step (and one γ step) per iteration
    for step in range(meta_steps_per_epoch(cfg.meta_steps, supervised, len(test_batches))):
        # line 15: this meta-step's training-test batch
        if step and step % len(test_batches) == 0:
            test_batches = run.batches(len(test))  # reshuffled, drawn again
        rows = test[test_batches[step % len(test_batches)]]
        labeled = (run.users[rows], run.items[rows], run.labels[rows])
        if released:
            result, (users, items, true) = released_batch_step(run, rows, labeled, alpha)
        else:
            # line 9: the unlabeled batch; lines 10-20 (g, candidates, choice): ig_meta_step
            users, items, true = take_unlabeled(len(rows) * cfg.sampling_rate)
            result = ig_meta_step(run.model, (users, items), labeled, alpha, cfg.alpha_rule)
            # line 21: one γ step on the training-test batch's BCE, from the kept parameters
            run.step(losses.bce(run.model(labeled[0], labeled[1]), labeled[2]))
        steps.append(result)
        for key, value in (("user", users), ("item", items), ("w1", result.w1), ("true", true)):
            if value is not None:
                recorded[key].append(value)
    run.log_meta(epoch, steps, recorded)
    return float(total) / max(count, 1)


def meta_split(n: int, fraction: float, rng: np.random.Generator, device: torch.device,
               order: str = "random") -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 1, line 1: the split of ``n`` labeled training rows into training-test
    (``fraction``, at least one row) and training-train rows, as index tensors on ``device``:
    a seeded random share, or with ``order="file-order"`` the last rows in the data's order, as
    the released code takes them (chapter 5)."""
    n_meta = max(1, round(fraction * n))
    if order == "file-order":
        rows = torch.arange(n, device=device)
        return rows[n - n_meta:], rows[: n - n_meta]
    perm = torch.as_tensor(rng.permutation(n), device=device)
    return perm[:n_meta], perm[n_meta:]


def windows(columns: tuple[torch.Tensor | None, ...]) -> Callable[[int], tuple]:
    """Hand out an epoch's stream of unlabeled rows (equal-length ``columns``; None stays None)
    ``n`` rows at a time: each window starts where the last one ended, or at the top again when
    it would run past the end (chapter 5). Both engines walk IG's stream with it."""
    total, position = len(columns[0]), 0

    def take(n: int) -> tuple:
        nonlocal position
        start = position if position + n <= total else 0
        position = start + n
        return tuple(None if c is None else c[start:position] for c in columns)
    return take


# -- the released code's meta-step -----------------------------------------------------------
class CandidateGrads:
    """The gradients of the released code's two candidate copies, ``direct`` and ``inverse``:
    dense running sums over the whole run, never zeroed (chapter 7). Each meta-step adds the
    IDL gradient to ``direct`` and subtracts it from ``inverse``; the kept candidate's sum also
    receives the labeled batch's BCE gradient taken at that candidate."""

    def __init__(self, params: list[torch.Tensor]):
        self.direct = [torch.zeros_like(p) for p in params]
        self.inverse = [torch.zeros_like(p) for p in params]

    @staticmethod
    def add(sums: list[torch.Tensor], grads: tuple, sign: float = 1.0) -> None:
        """Add ``sign · grads`` (dense or sparse row gradients; None: no gradient) to ``sums``."""
        for total, g in zip(sums, grads):
            if g is not None:
                total.add_(g, alpha=sign)


def fresh_adam_moves(sums: list[torch.Tensor], lr: float) -> list[torch.Tensor]:
    """What one step of a freshly created Adam at ``lr`` subtracts from each parameter whose
    gradient is ``sums``: ``lr · g / (|g| + 1e-8)`` (:func:`alpha_step`, rule ``sign``); zero
    where the gradient is zero."""
    return [alpha_step(g, lr, "sign") for g in sums]


def released_batch_step(run: IGRun, rows: torch.Tensor,
                        labeled: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                        alpha: float) -> tuple[MetaStep, tuple]:
    """The released code's meta-step on the training-test batch ``rows`` (chapter 7): unlabeled
    rows drawn for the batch's own users, ``sampling_rate`` per labeled row, then
    :func:`released_meta_step`. Returns the step and the unlabeled ``(users, items, true)``."""
    users, items, true = run.draw(run.train_users[rows.cpu().numpy()], run.cfg.sampling_rate)
    users, items = users.reshape(-1), items.reshape(-1)
    true = None if true is None else true.reshape(-1)
    return released_meta_step(run, (users, items), labeled, alpha), (users, items, true)


def released_meta_step(run: IGRun, unlabeled: tuple[torch.Tensor, torch.Tensor],
                       labeled: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                       alpha: float) -> MetaStep:
    """One meta-step and the γ step after it, as the released code takes them (chapter 7).

    The IDL gradient ``g`` of the unlabeled batch is added to the direct candidate's running
    gradient and subtracted from the inverse one's (:class:`CandidateGrads`, kept in
    ``run.state`` for the whole run); each candidate is θ moved by one fresh-Adam step at α on
    its running gradient (:func:`fresh_adam_moves`), so every entry any earlier meta-step
    touched moves by about α. The candidates are compared with :func:`choose`. The γ step
    (line 21): from a kept candidate, the batch's BCE gradient joins that candidate's running
    gradient and one fresh-Adam step at γ is taken on the sum; on a pass, the run's optimizer
    takes the step. Afterwards the run's optimizer is replaced by a fresh Adam, so the next
    supervised phase starts with empty moments, as in the released code.
    """
    model, cfg = run.model, run.cfg
    params = trainable(model)
    sums = run.state.get("candidate_grads")
    if sums is None:
        sums = run.state["candidate_grads"] = CandidateGrads(params)
    logits = model(*unlabeled)
    grads = torch.autograd.grad(losses.inverse_dual_loss(logits), params, allow_unused=True)
    sums.add(sums.direct, grads)
    sums.add(sums.inverse, grads, -1.0)
    users, items, labels = labeled
    with torch.no_grad():
        saved = [p.detach().clone() for p in params]
        shift = {0: fresh_adam_moves(sums.direct, alpha), 2: fresh_adam_moves(sums.inverse,
                                                                             alpha)}
        scores = []
        for k in range(3):
            for p, base, d in zip(params, saved, shift.get(k, [None] * len(params))):
                p.copy_(base if d is None else base - d)
            scores.append(losses.bce(model(users, items).double(), labels.double()))
        cand = torch.stack(scores)
        kept = int(choose(cand))
        for p, base, d in zip(params, saved, shift.get(kept, [None] * len(params))):
            p.copy_(base if d is None else base - d)
        moves = [(p, None, base, None) for p, base in zip(params, saved)]
        changed, relative = _move_size(moves)
    if kept == PASS:
        run.step(losses.bce(model(users, items), labels))
    else:
        chosen = sums.direct if kept == 0 else sums.inverse
        bce_grads = torch.autograd.grad(losses.bce(model(users, items), labels), params,
                                        allow_unused=True)
        sums.add(chosen, bce_grads)
        with torch.no_grad():
            for p, d in zip(params, fresh_adam_moves(chosen, cfg.lr)):
                p.sub_(d)
        run.iteration += 1
    run.opt = run.new_optimizer()
    return MetaStep(cand, torch.tensor(kept), changed, relative,
                    losses.idl_weights(logits.detach())[0])
