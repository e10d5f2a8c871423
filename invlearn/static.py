"""Static-shape training step: dense tables, fused Adam, device sampling, CUDA graphs.

On a GPU the eager step of :mod:`invlearn.methods` is launch-bound (sparse gradients,
coalescing, lazy Adam and host-side sampling cost dozens of small kernels per batch), so IG-GMF
runs slower on an H100 than on one CPU core. This module is the opt-in GPU path
(``step="static"``; ``auto`` and the default are the eager step on every device):

* **dense embeddings** and ``torch.optim.Adam`` (fused and ``capturable`` on CUDA). Dense Adam
  moves every row at every step, lazy Adam (:class:`invlearn.optim.Adam`) only the batch's rows;
  they agree when every row is touched. This path runs ``optimizer="dense"`` only and refuses
  ``"lazy"``, so a setting means the same update on either path;
* **device-side sampling** of the ``random`` pool (:class:`DeviceSampler`), redrawn for a fixed
  number of rounds so shapes stay static. A row still colliding with a training pair after the
  last round gets weight 0 and is counted (``TrainResult.static["unfixed_collisions"]``; about
  0.04⁹ per row at ML-1M's density);
* **fixed batch shapes**: the last partial batch of an epoch is **padded** (rows repeated with
  weight 0: every row is seen once, the loss is the mean over real rows) or **dropped**
  (``last_batch="drop"``). Losses are weighted means ``Σ w·ℓ / Σ w``;
* the whole step and IG's meta-step with its γ step (candidates compared in float64 with
  :func:`invlearn.ig.choose`, the move applied as ``saved + (kept − 1)·move``, no host
  synchronisation) read their batch from device buffers through a device step counter, so on
  CUDA each is captured once in a ``torch.cuda.CUDAGraph`` and replayed. On the CPU the same
  functions run eagerly, so the CPU tests exercise their logic.

:func:`train_static` returns the same :class:`invlearn.training.TrainResult` as ``train`` (with
a ``static`` dict of the path's settings) for methods ``none``, ``ns`` and ``ig``, GMF and NeuMF,
with the ``random`` pool.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import losses
from .config import TrainConfig, eager_only_switches
from .data import Split
from .errors import InvlearnError
from .ig import (
    MetaStep,
    alpha_step,
    keep_best,
    meta_split,
    meta_steps_per_epoch,
    move_size,
    move_to,
    windows,
)
from .optim import trainable
from .sampling import PairSet
from .training import (
    BaseRun,
    TrainResult,
    check_inputs,
    fit,
    log_meta,
    merge_config,
    with_label_fraction,
)

STATIC_METHODS = ("none", "ns", "ig")
LAST_BATCH = ("pad", "drop")
#: Redraw rounds of the device sampler; rows still colliding after them get weight 0.
REDRAW_ROUNDS = 8


# -- sampling on the device -----------------------------------------------------------------
class DeviceSampler:
    """Uniform unlabeled items for given users, rejecting training pairs, with static shapes.

    Membership is the eager engine's :class:`invlearn.sampling.PairSet` held on the device (a
    dense bitmap, or sorted keys and ``torch.searchsorted`` above ``bitmap_limit``). Draws use
    torch's default generator of the device (what CUDA graph capture supports)."""

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
                 device: torch.device, rounds: int = REDRAW_ROUNDS,
                 bitmap_limit: int | None = None):
        self.n_items, self.rounds, self.device = n_items, rounds, device
        self.pairs = PairSet(users, items, n_users, n_items, device, bitmap_limit)

    def sample(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Items for ``users`` (same shape) and the mask of rows that are *not* training pairs
        (``False`` only for rows still colliding after the last redraw round)."""
        items = torch.randint(0, self.n_items, users.shape, device=self.device)
        hit = self.pairs.contains(users, items)
        for _ in range(self.rounds):
            items = torch.where(hit, torch.randint(0, self.n_items, users.shape,
                                                   device=self.device), items)
            hit = self.pairs.contains(users, items)
        return items, ~hit


# -- the static functions -------------------------------------------------------------------
def weighted_mean(terms: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ w·ℓ / Σ w`` of per-row losses (the plain mean when every weight is 1)."""
    return (weights * terms).sum() / weights.sum().clamp(min=1e-12)


def weighted_bce(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ w·BCE / Σ w`` (the plain mean when every weight is 1)."""
    return weighted_mean(F.binary_cross_entropy_with_logits(logits, labels, reduction="none"),
                         weights)


def ensure_grads(model: nn.Module) -> list[torch.Tensor]:
    """Give every parameter a zero ``.grad`` once, so captured steps zero and accumulate into
    fixed buffers (never ``None``)."""
    params = trainable(model)
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    return params


def make_optimizer(model: nn.Module, lr: float, device: torch.device) -> torch.optim.Adam:
    """Dense Adam: fused and capturable on CUDA (so it can live in a CUDA graph), plain on CPU."""
    params = trainable(model)
    if device.type == "cuda":
        return torch.optim.Adam(params, lr=lr, fused=True, capturable=True)
    return torch.optim.Adam(params, lr=lr)


def init_adam_state(opt: torch.optim.Optimizer) -> None:
    """Create Adam's state before any capture, equal to a fresh one: one step on zero gradients
    moves nothing (``0 / (0 + eps)``), and its step count is reset."""
    if opt.state:
        return
    for group in opt.param_groups:
        for p in group["params"]:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            else:
                p.grad.zero_()
    opt.step()
    for st in opt.state.values():
        st["step"].zero_()


def adam_step(model: nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """Zero the gradients in place, backward, step: no host sync, fixed buffers."""
    grads = [p.grad for p in trainable(model)]
    torch._foreach_zero_(grads)
    loss.backward()
    opt.step()


def static_meta_step(model: nn.Module, unlabeled: tuple[torch.Tensor, ...],
                     labeled: tuple[torch.Tensor, ...], alpha: float, rule: str = "sign",
                     saved: list[torch.Tensor] | None = None) -> MetaStep:
    """Lines 9–20 of Algorithm 1 on dense parameters, with tensor arithmetic only.

    ``unlabeled`` is ``(users, items, weights)``, ``labeled`` ``(users, items, labels,
    weights)``. ``g`` is the gradient of the (weighted) IDL; each parameter is set to
    ``saved + s·move`` for ``s`` in −1, 0, +1, the BCE of the labeled batch compared in float64 by
    :func:`invlearn.ig.choose`, and the parameter left at ``saved + (kept − 1)·move`` (IG's
    own :func:`~invlearn.ig.keep_best`, :func:`~invlearn.ig.move_to`). Rows without gradient
    have a zero move under both rules, so this equals :func:`invlearn.ig.ig_meta_step` on sparse
    tables. ``saved`` may pass preallocated buffers (a captured graph keeps them).
    ``relative_move`` (:func:`invlearn.ig.move_size`) counts the rows with a nonzero gradient
    and the dense layers."""
    users, items, w_unl = unlabeled
    params = trainable(model)
    logits = model(users, items)
    idl = weighted_mean(losses.idl_terms(logits), w_unl)
    grads = torch.autograd.grad(idl, params, allow_unused=True)
    with torch.no_grad():
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
        if saved is None:
            saved = [p.detach().clone() for p in params]
        else:
            torch._foreach_copy_(saved, [p.detach() for p in params])
        moves = [(p, None, s, alpha_step(g, alpha, rule)) for p, s, g in zip(params, saved, grads)]
        lu, li, y, w_lab = labeled
        cand, kept = keep_best(lambda sign: move_to(moves, sign), lambda: weighted_bce(
            model(lu, li).double(), y.double(), w_lab.double()), params[0].dtype)
        changed, relative = move_size([  # tables: only the rows with a gradient count
            (p, s, (g != 0).any(dim=1, keepdim=True).expand_as(p) if _is_table(p) else None)
            for p, s, g in zip(params, saved, grads)])
    return MetaStep(cand, kept, changed, relative, losses.idl_weights(logits.detach())[0])


def _is_table(p: torch.Tensor) -> bool:
    """Tables are marked by :func:`mark_tables`; other 2-D parameters are dense layers."""
    return getattr(p, "_invlearn_table", False)


def mark_tables(model: nn.Module) -> None:
    """Mark embedding weights, whose touched rows (not all entries) count in the move size."""
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            m.weight._invlearn_table = True


# -- the trainer: buffers, steps, graphs ----------------------------------------------------
class StaticTrainer:
    """The static-shape steps of one run and the device buffers they read.

    ``order`` ``[n_batches, batch]`` holds the labeled rows of every batch of the epoch and
    ``weight`` their weights (0 on padding); ``step_index`` is a device counter the captured
    step advances. IG adds ``meta_order`` / ``meta_weight`` (training-test rows of each
    meta-step), ``meta_users`` (the unlabeled users of each meta-step) and per-epoch logs the
    meta graph writes at ``meta_index``."""

    def __init__(self, run: StaticRun):
        self.run = run
        cfg, dev = run.cfg, run.device
        self.model, self.opt = run.model, run.opt
        self.params = ensure_grads(self.model)
        init_adam_state(self.opt)
        B = cfg.batch_size
        n_fit = len(run.fit_rows)
        self.n_batches = _n_batches(n_fit, B, run.last_batch)
        self.order = torch.zeros(self.n_batches, B, dtype=torch.int64, device=dev)
        self.weight = torch.zeros(self.n_batches, B, device=dev)
        self.step_index = torch.zeros(1, dtype=torch.int64, device=dev)
        self.loss_sum = torch.zeros((), device=dev)
        self.unfixed = torch.zeros((), dtype=torch.int64, device=dev)
        self.graphs: dict[str, torch.cuda.CUDAGraph] = {}
        if cfg.method == "ig":
            n_test = len(run.meta_rows)
            self.test_batches = _n_batches(n_test, B, run.last_batch)
            self.n_meta = meta_steps_per_epoch(cfg.meta_steps, self.n_batches, self.test_batches)
            self.meta_order = torch.zeros(self.n_meta, B, dtype=torch.int64, device=dev)
            self.meta_weight = torch.zeros(self.n_meta, B, device=dev)
            self.n_unl = B * cfg.sampling_rate
            self.meta_users = torch.zeros(self.n_meta, self.n_unl, dtype=torch.int64, device=dev)
            self.meta_index = torch.zeros(1, dtype=torch.int64, device=dev)
            self.saved = [torch.empty_like(p) for p in self.params]
            self.log_losses = torch.zeros(self.n_meta, 3, dtype=torch.float64, device=dev)
            self.log_kept = torch.zeros(self.n_meta, dtype=torch.int64, device=dev)
            self.log_changed = torch.zeros(self.n_meta, dtype=torch.int64, device=dev)
            self.log_relative = torch.zeros(self.n_meta, dtype=torch.float64, device=dev)
            self.log_items = torch.zeros(self.n_meta, self.n_unl, dtype=torch.int64, device=dev)
            self.log_w1 = torch.zeros(self.n_meta, self.n_unl, device=dev)

    # the two static steps ----------------------------------------------------------------
    def supervised_step(self) -> None:
        """Batch ``step_index`` of ``order``: none / NS / IG's supervised phase, one Adam step."""
        run, cfg = self.run, self.run.cfg
        idx = self.order.index_select(0, self.step_index).squeeze(0)
        w = self.weight.index_select(0, self.step_index).squeeze(0)
        users, items, labels = run.users[idx], run.items[idx], run.labels[idx]
        if cfg.method == "ns":
            unl_users = users.repeat(cfg.sampling_rate)
            unl_items, ok = run.sampler.sample(unl_users)
            w_unl = w.repeat(cfg.sampling_rate) * ok
            self.unfixed.add_(((~ok) & (w.repeat(cfg.sampling_rate) > 0)).sum())
            users, items = torch.cat([users, unl_users]), torch.cat([items, unl_items])
            labels = torch.cat([labels, torch.zeros_like(unl_items, dtype=labels.dtype)])
            w = torch.cat([w, w_unl])
        loss = weighted_bce(self.model(users, items), labels, w)
        adam_step(self.model, self.opt, loss)
        with torch.no_grad():
            self.loss_sum.add_(loss.detach() * w[: cfg.batch_size].sum())
            self.step_index.add_(1)

    def meta_step(self) -> None:
        """Meta-step ``meta_index`` (lines 9–20) and its γ step (line 21), logged in place."""
        run, cfg = self.run, self.run.cfg
        k = self.meta_index
        idx = self.meta_order.index_select(0, k).squeeze(0)
        w = self.meta_weight.index_select(0, k).squeeze(0)
        labeled = (run.users[idx], run.items[idx], run.labels[idx], w)
        unl_users = self.meta_users.index_select(0, k).squeeze(0)
        unl_items, ok = run.sampler.sample(unl_users)
        self.unfixed.add_((~ok).sum())
        alpha = cfg.alpha_ratio * cfg.lr
        res = static_meta_step(self.model, (unl_users, unl_items, ok.to(w.dtype)), labeled,
                               alpha, cfg.alpha_rule, saved=self.saved)
        loss = weighted_bce(self.model(labeled[0], labeled[1]), labeled[2], w)
        adam_step(self.model, self.opt, loss)
        with torch.no_grad():
            self.log_losses.index_copy_(0, k, res.losses[None])
            self.log_kept.index_copy_(0, k, res.kept.reshape(1))
            self.log_changed.index_copy_(0, k, res.changed.reshape(1))
            self.log_relative.index_copy_(0, k, res.relative_move.reshape(1))
            self.log_items.index_copy_(0, k, unl_items[None])
            self.log_w1.index_copy_(0, k, res.w1[None])
            self.meta_index.add_(1)

    # capture and replay -------------------------------------------------------------------
    def call(self, name: str) -> None:
        """Run step ``name`` (``"supervised"`` or ``"meta"``): replay its graph on CUDA
        (capturing it the first time), or run it eagerly on the CPU."""
        fn = self.supervised_step if name == "supervised" else self.meta_step
        if not self.run.use_graphs:
            fn()
            return
        graph = self.graphs.get(name)
        if graph is None:
            graph = self.graphs[name] = capture(fn, self._state())
        graph.replay()

    def _state(self) -> list[torch.Tensor]:
        """Every tensor a step changes, so capture can undo its warm-up steps."""
        state = list(self.params)
        for st in self.opt.state.values():
            state += [v for v in st.values() if torch.is_tensor(v)]
        state += [self.step_index, self.loss_sum, self.unfixed]
        if hasattr(self, "meta_index"):
            state += [self.meta_index]
        return state


def capture(fn, state: list[torch.Tensor], warmup: int = 3) -> torch.cuda.CUDAGraph:
    """Capture ``fn`` in a CUDA graph after ``warmup`` eager calls on a side stream (what
    autograd and the fused optimizer need before capture); ``state`` (parameters, optimizer
    moments, counters) is restored in place after each, so the warm-up leaves no trace but
    draws from the default generator. Capture itself executes nothing."""
    snapshot = [t.detach().clone() for t in state]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            fn()
            with torch.no_grad():  # back to the start: counters stay within their buffers
                torch._foreach_copy_(state, snapshot)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    with torch.no_grad():
        torch._foreach_copy_(state, snapshot)
    return graph


def _n_batches(n: int, batch: int, last: str) -> int:
    if last == "drop" and n >= batch:
        return n // batch
    return max(1, math.ceil(n / batch))


def _fill_order(order: torch.Tensor, weight: torch.Tensor, rows: torch.Tensor,
                last: str) -> None:
    """Cut ``rows`` (already permuted) into ``order``'s fixed-size batches: a partial last
    batch is padded with its own first rows at weight 0 (``pad``), or dropped (``drop``;
    kept and padded when the rows fill no whole batch)."""
    n_batches, batch = order.shape
    total = n_batches * batch
    n = min(len(rows), total)
    pad = total - n
    idx = torch.cat([rows[:n], rows[torch.arange(pad, device=rows.device) % max(n, 1)]])
    w = torch.cat([torch.ones(n, device=rows.device), torch.zeros(pad, device=rows.device)])
    order.copy_(idx.view(n_batches, batch))
    weight.copy_(w.view(n_batches, batch))


# -- the run ---------------------------------------------------------------------------------
class StaticRun(BaseRun):
    """:class:`~invlearn.training.BaseRun` with a dense model, fused Adam, the device sampler
    and the trainer of one run."""

    def __init__(self, data: Split, cfg: TrainConfig, model: nn.Module | None,
                 last_batch: str, graphs: bool | None, redraw_rounds: int):
        super().__init__(data, cfg, model, sparse=False)
        self.last_batch = last_batch
        self.use_graphs = self.device.type == "cuda" if graphs is None else graphs
        if self.use_graphs and self.device.type != "cuda":
            raise InvlearnError("graphs=True needs a CUDA device; on the CPU the static steps "
                                "run eagerly (graphs=None or False)")
        if any(isinstance(m, nn.Embedding) and m.sparse for m in self.model.modules()):
            raise InvlearnError("train_static needs dense embedding tables: build the model "
                                "with build_model(..., sparse=False)")
        mark_tables(self.model)
        self.opt = make_optimizer(self.model, cfg.lr, self.device)
        t = data.train
        self.sampler = DeviceSampler(t["user"].to_numpy(), t["item"].to_numpy(), data.n_users,
                                     data.n_items, self.device, redraw_rounds)
        n = len(self.users)
        if cfg.method == "ig":  # Algorithm 1, line 1, as the eager engine's ig_setup
            self.meta_rows, self.fit_rows = meta_split(n, cfg.meta_fraction, self.rng,
                                                       self.device, cfg.meta_split)
        else:
            self.fit_rows = torch.arange(n, device=self.device)
        self.trainer = StaticTrainer(self)

    def shuffled(self, rows: torch.Tensor) -> torch.Tensor:
        return rows[self.permutation(len(rows))]

    def epoch(self, epoch: int) -> float:
        """One epoch: the supervised batches, then (IG) the meta-steps. Returns the mean
        supervised loss over real rows (one host sync, at the end)."""
        tr, cfg = self.trainer, self.cfg
        _fill_order(tr.order, tr.weight, self.shuffled(self.fit_rows), self.last_batch)
        tr.step_index.zero_()
        tr.loss_sum.zero_()
        for _ in range(tr.n_batches):
            tr.call("supervised")
        if cfg.method == "ig":
            self._fill_meta()
            tr.meta_index.zero_()
            for _ in range(tr.n_meta):
                tr.call("meta")
            log_meta(self, epoch, tr.log_losses, tr.log_kept, tr.log_changed, tr.log_relative,
                     {"user": tr.meta_users.reshape(-1), "item": tr.log_items.reshape(-1),
                      "w1": tr.log_w1.reshape(-1)})
        return float(tr.loss_sum) / max(float(tr.weight.sum()), 1.0)

    def _fill_meta(self) -> None:
        """This epoch's training-test batches (reshuffled when drawn again) and unlabeled
        users: the training rows' users in a random order, ``sampling_rate`` each, handed out
        ``n_unl`` at a time by :func:`invlearn.ig.windows` (as
        :meth:`invlearn.methods.Run.stream`)."""
        tr, cfg = self.trainer, self.cfg
        B = cfg.batch_size
        parts_o, parts_w = [], []
        o = torch.zeros(tr.test_batches, B, dtype=torch.int64, device=self.device)
        w = torch.zeros(tr.test_batches, B, device=self.device)
        done = 0
        while done < tr.n_meta:
            _fill_order(o, w, self.shuffled(self.meta_rows), self.last_batch)
            parts_o.append(o.clone())
            parts_w.append(w.clone())
            done += tr.test_batches
        tr.meta_order.copy_(torch.cat(parts_o)[: tr.n_meta])
        tr.meta_weight.copy_(torch.cat(parts_w)[: tr.n_meta])
        stream = self.shuffled(self.users).repeat_interleave(cfg.sampling_rate)
        n = tr.n_unl
        if len(stream) < n:  # fixed shapes: a stream shorter than one window is repeated
            stream = stream.repeat(math.ceil(n / len(stream)))[:n]
        take = windows((stream,))
        tr.meta_users.copy_(torch.stack([take(n)[0] for _ in range(tr.n_meta)]))


@dataclass
class StaticTrainResult(TrainResult):
    """:class:`~invlearn.training.TrainResult` with the static path's settings in ``static``:
    ``step`` ("static"), ``graphs`` (captured CUDA graphs or eager), ``last_batch`` (pad or drop),
    ``redraw_rounds`` and ``unfixed_collisions`` (sampled rows still a training pair after the
    last round, given weight 0)."""

    static: dict = field(default_factory=dict)

    def to_dict(self, histories: bool = False) -> dict:
        return {**super().to_dict(histories), "static": self.static}


def check_static(config: TrainConfig) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` unless the static step runs the resolved
    ``config``: methods none, ns and ig, the random pool (sampled on the device), and our
    reading's switches."""
    if config.method not in STATIC_METHODS or config.pool != "random":
        raise InvlearnError(f"step 'static' supports methods {', '.join(STATIC_METHODS)} with "
                            f"the random pool, not {config.method} with pool {config.pool!r}; "
                            f"use step 'eager' (invlearn.train)")
    switched = eager_only_switches(config)
    if switched:
        raise InvlearnError(f"step 'static' follows our reading; {', '.join(switched)} need "
                            f"step 'eager' (invlearn.train)")


def train_static(data: Split, config: TrainConfig | None = None, model: nn.Module | None = None,
                 progress: bool = False, last_batch: str = "pad", graphs: bool | None = None,
                 redraw_rounds: int = REDRAW_ROUNDS, **overrides) -> StaticTrainResult:
    """Train with static-shape steps (CUDA graphs on CUDA, eager on the CPU) and test the best
    validation epoch, as :func:`invlearn.methods.train` does.

    Supports methods ``none``, ``ns`` and ``ig`` with the ``random`` pool and dense Adam
    (``optimizer="dense"``; lazy Adam is refused), any backbone (or a ``model`` with dense
    embeddings). ``last_batch``: ``"pad"`` (weight-0 rows) or ``"drop"``.
    ``graphs``: default CUDA graphs exactly when the device is CUDA."""
    config = merge_config(config, {**overrides, "step": "static"})  # checked as what it runs
    check_inputs(data, model)
    check_static(config)
    if last_batch not in LAST_BATCH:
        raise InvlearnError(f"last_batch must be one of {', '.join(LAST_BATCH)}, got "
                            f"{last_batch!r}")
    if not isinstance(redraw_rounds, int) or redraw_rounds < 0:
        raise InvlearnError(f"redraw_rounds must be an integer ≥ 0, got {redraw_rounds!r}")
    if config.threads:
        torch.set_num_threads(config.threads)
    data = with_label_fraction(data, config)
    run = StaticRun(data, config, model, last_batch, graphs, redraw_rounds)
    result = fit(run, run.epoch, progress, StaticTrainResult)
    result.static = {"step": "static", "graphs": run.use_graphs, "last_batch": last_batch,
                     "redraw_rounds": redraw_rounds,
                     "unfixed_collisions": int(run.trainer.unfixed),
                     "sampler": "bitmap" if run.sampler.pairs.bitmap is not None else
                     "searchsorted"}
    return result
