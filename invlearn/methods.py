"""The eight training methods of the paper's Tables 1 and 2, and the one ``train`` entry point.

None, NS, T-CE, R-CE, DNS, SRNS, IDL and IG, one implementation each. :data:`METHOD_TABLE` maps a
method's name to how it draws its unlabeled rows and how it computes its loss; ``train`` looks
the method up there and runs the same loop for all of them (IG's epoch is Algorithm 1, in
:mod:`invlearn.ig`). Book chapters 1–3 and 5 explain the methods; chapters 6–9 compare them.

* Every method trains with the same optimizer (:class:`invlearn.optim.Adam`: lazy on embedding
  rows by default, or dense with ``optimizer="dense"``), the same batches of labeled rows and,
  where it uses them, ``sampling_rate`` unlabeled rows per labeled row, redrawn every epoch
  from the run's pool (chapter 9: random pairs, the withheld labels, or the simulator's
  ambiguous impressions).
* The model kept is the one of the best validation epoch (``select``: validation AUC by default,
  or validation BCE); it is tested once.
* ``train`` returns a :class:`~invlearn.training.TrainResult`: test metrics and a
  :class:`~invlearn.training.History` from which the book draws its figures (per-epoch losses and
  validation metrics, IG's direction at every meta-step with its three candidate losses and the
  size of the kept move, IDL weights of unlabeled rows, T-CE's dropped rows).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import losses
from .config import METHODS, POOLS, SCORES, TrainConfig
from .data import Split
from .errors import InvlearnError
from .ig import MetaStep, ig_epoch, meta_split, windows
from .optim import Adam
from .sampling import PairSet, sample_unlabeled
from .serving import catalogue_of, predict
from .splits import unlabeled_pool
from .training import (
    BaseRun,
    TrainResult,
    check_inputs,
    fit,
    log_meta,
    merge_config,
    record_rows,
    with_label_fraction,
)


# -- where unlabeled rows come from ---------------------------------------------------------
class Pool:
    """The unlabeled rows of a run (chapter 9): uniform random non-training pairs for each
    labeled row's user (``"random"``), or rows of a table of pairs — the withheld labels
    (``"hidden"``) or the simulator's ambiguous impressions (``"ambiguous"``) — whose true
    labels are known — or your own unlabeled interactions (``"unlabeled"``), whose are not.
    With ``truth`` (an object with ``true_label(users, items)``, the simulated feed), the random
    pairs come with their true labels too: the oracle of chapter 1."""

    def __init__(self, data: Split, name: str, rng: np.random.Generator, truth=None):
        self.name, self.rng, self.n_items, self.truth = name, rng, data.n_items, truth
        train = data.train
        self.keys = PairSet(train["user"].to_numpy(), train["item"].to_numpy(), data.n_users,
                            data.n_items)
        self.table = None if name == "random" else _pool_table(data, name)

    def draw(self, users: np.ndarray, rate: int) -> tuple[np.ndarray, ...]:
        """``rate`` unlabeled rows for each of the given labeled rows' users: ``(users, items,
        true labels or None)``, each ``[len(users), rate]``."""
        if self.table is None:
            items = sample_unlabeled(users, self.n_items, self.keys, rate, self.rng)
            users = np.repeat(np.asarray(users)[:, None], rate, axis=1)
            true = (None if self.truth is None else
                    np.asarray(self.truth.true_label(users, items), np.float32))
            return users, items, true
        pick = self.rng.integers(0, len(self.table[0]), size=(len(users), rate))
        return tuple(None if column is None else column[pick] for column in self.table)


def _pool_table(data: Split, name: str) -> tuple[np.ndarray, ...]:
    """The (users, items, labels) arrays of a named pool of ``data``; a clear error when it is
    missing or empty (:func:`~invlearn.splits.unlabeled_pool`)."""
    rows = unlabeled_pool(data, name)
    users, items = (rows[c].to_numpy(np.int64) for c in ("user", "item"))
    table = getattr(data, name)
    labels = table["label"].to_numpy(np.float32) if "label" in table.columns else None
    return users, items, labels  # your own unlabeled interactions have no true label


# -- one run --------------------------------------------------------------------------------
class Run(BaseRun):
    """The state of one training run: :class:`~invlearn.training.BaseRun` with its optimizer,
    unlabeled pool and a method's own state. Methods' draw and loss functions receive it."""

    def __init__(self, data: Split, config: TrainConfig, model: nn.Module | None):
        super().__init__(data, config, model, sparse=True)
        self.opt = self.new_optimizer()
        if config.true_labels and data.truth is None:
            raise InvlearnError(f"{data.name}: true_labels needs the true label of every pair "
                                "(a simulated feed's split)")
        self.pool = Pool(data, config.pool, self.rng,
                         truth=data.truth if config.true_labels else None)
        self.train_users = data.train["user"].to_numpy(np.int64, copy=True)
        self.iteration = 0
        self.state: dict = {}  # a method's own state across epochs (SRNS's memory)

    def new_optimizer(self) -> Adam:
        """A fresh optimizer for the run's model at γ = ``lr``."""
        return Adam(self.model, self.cfg.lr, lazy=self.cfg.optimizer == "lazy")

    def batches(self, n: int) -> list[torch.Tensor]:
        """A fresh random order of ``n`` rows, cut into batches of ``batch_size``."""
        return list(self.permutation(n).split(self.cfg.batch_size))

    def draw(self, users: np.ndarray, rate: int) -> tuple[torch.Tensor, ...]:
        """:meth:`invlearn.methods.Pool.draw` on the device: users, items ``[n, rate]`` and true
        labels."""
        users, items, true = self.pool.draw(users, rate)
        on = [torch.as_tensor(x, device=self.device) for x in (users, items)]
        return (*on, None if true is None else torch.as_tensor(true, device=self.device))

    def stream(self) -> Callable[[int], tuple]:
        """IG's unlabeled rows for one epoch's meta phase: the training rows in a random order,
        ``sampling_rate`` pool rows for each, handed out ``n`` at a time and started again
        from the top when a request would run past the end."""
        order = torch.randperm(len(self.users), generator=self.gen).numpy()
        users, items, true = self.draw(self.train_users[order], self.cfg.sampling_rate)
        return windows(tuple(None if x is None else x.reshape(-1) for x in (users, items, true)))

    def step(self, loss: torch.Tensor, accumulate: bool = False) -> None:
        """One Adam step on ``loss`` (γ = ``lr``); with ``accumulate`` the gradients are not
        zeroed first, so the step uses their running sum (``accumulate_grads``, chapter 7)."""
        if not accumulate:
            self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        if accumulate:  # keep a sparse running sum at most one entry per row
            for p in self.opt.params:
                if p.grad is not None and p.grad.is_sparse:
                    p.grad = p.grad.coalesce()
        self.iteration += 1

    def supervised_pass(self, method: str, subset: torch.Tensor | None = None) -> tuple:
        """:func:`supervised_pass` with the unlabeled rows and the loss of ``method`` (a name
        of :data:`METHOD_TABLE`): IG's supervised phase, BCE or IDL."""
        entry = METHOD_TABLE[method]
        return supervised_pass(self, entry.loss, entry.rows(self), subset)

    def record(self, store: dict, epoch: int, columns: dict[str, list]) -> None:
        """Keep the first ``record_rows`` rows of each recorded column of an epoch."""
        record_rows(store, epoch, {k: torch.cat(v) for k, v in columns.items() if v},
                    self.cfg.record_rows)

    def log_meta(self, epoch: int, steps: list[MetaStep], rows: dict[str, list]) -> None:
        """Turn an epoch's meta-steps into rows of ``history.meta`` and record IG's weights."""
        log_meta(self, epoch, *(torch.stack([getattr(s, name) for s in steps])
                                for name in ("losses", "kept", "changed", "relative_move")),
                 {k: torch.cat(v) for k, v in rows.items() if v})


# -- how each method draws its unlabeled rows (once per epoch) ------------------------------
RowsOf = Callable[[torch.Tensor, torch.Tensor], tuple | None]


def no_rows(run: Run) -> RowsOf:
    """None: labeled rows only."""
    return lambda idx, users: None


def pool_rows(run: Run) -> RowsOf:
    """NS, T-CE, R-CE, IDL: ``sampling_rate`` pool rows per labeled row, drawn for the epoch."""
    users, items, true = run.draw(run.train_users, run.cfg.sampling_rate)

    def rows(idx: torch.Tensor, _users: torch.Tensor) -> tuple:
        return (users[idx].reshape(-1), items[idx].reshape(-1),
                None if true is None else true[idx].reshape(-1))
    return rows


def hardest_rows(run: Run) -> RowsOf:
    """DNS (Zhang et al. 2013): of ``dns_k`` pool candidates per row, the highest-scored."""
    users, items, _ = run.draw(run.train_users, run.cfg.dns_k)

    def rows(idx: torch.Tensor, _users: torch.Tensor) -> tuple:
        cand_u, cand_i = users[idx], items[idx]
        scores = predict(run.model, cand_u.reshape(-1), cand_i.reshape(-1)).view(cand_i.shape)
        best = scores.argmax(1, keepdim=True)
        return cand_u.gather(1, best).squeeze(1), cand_i.gather(1, best).squeeze(1), None
    return rows


def memory_rows(run: Run) -> RowsOf:
    """SRNS (Ding et al. 2020), the variant chapter 2 describes: each user keeps a memory of
    ``srns_memory`` random items; once an epoch the memory is scored, the scores pushed into
    each slot's history, half of the memory (lowest value) replaced by fresh items, and every
    row gets ``dns_k`` random slots, of which the one with the highest ``score + w · std of
    recent scores`` is its negative."""
    memory = run.state.get("srns")
    if memory is None:
        memory = run.state["srns"] = SrnsMemory(run)
    else:
        memory.refresh(run)
    slots, cand = memory.candidates(run)

    def rows(idx: torch.Tensor, users: torch.Tensor) -> tuple:
        scores = memory.value[users[:, None], slots[idx]]
        return users, cand[idx].gather(1, scores.argmax(1, keepdim=True)).squeeze(1), None
    return rows


class SrnsMemory:
    """SRNS's per-user memory of candidate items and the history of their scores."""

    def __init__(self, run: Run):
        cfg = run.cfg
        users = np.arange(run.data.n_users)
        self.items = run.draw(users, cfg.srns_memory)[1]  # [n_users, S]
        self.scores = torch.full((*self.items.shape, cfg.srns_history), float("nan"),
                                 device=run.device)
        self.value = None

    def candidates(self, run: Run) -> tuple[torch.Tensor, torch.Tensor]:
        """Score the memory, update each slot's value, and draw ``dns_k`` slots per row."""
        n_users, size = self.items.shape
        users = torch.arange(n_users, device=run.device).repeat_interleave(size)
        prob = torch.sigmoid(predict(run.model, users, self.items.reshape(-1)))
        self.scores = torch.roll(self.scores, 1, dims=2)
        self.scores[..., 0] = prob.view(n_users, size)
        seen = (~self.scores.isnan()).sum(-1).clamp(min=1)
        mean = torch.nansum(self.scores, -1) / seen
        var = torch.nansum((self.scores - mean[..., None]).square(), -1) / seen
        self.value = self.scores[..., 0] + run.cfg.srns_std_weight * var.sqrt()
        slots = run.rng.integers(0, size, size=(len(run.train_users), min(run.cfg.dns_k, size)))
        slots = torch.as_tensor(slots, device=run.device)
        rows = torch.as_tensor(run.train_users, device=run.device)
        return slots, self.items[rows[:, None], slots]

    def refresh(self, run: Run) -> None:
        """Replace the half of each user's memory with the lowest value by fresh items."""
        n_users, size = self.items.shape
        worst = self.value.argsort(dim=1)[:, : size // 2]
        fresh = run.draw(np.arange(n_users), size // 2)[1]
        self.items.scatter_(1, worst, fresh)
        self.scores[torch.arange(n_users, device=run.device)[:, None], worst] = float("nan")


# -- how each method computes its loss on a batch -------------------------------------------
@dataclass
class Batch:
    """One batch: the labeled rows first, then the unlabeled rows drawn for them."""

    users: torch.Tensor
    items: torch.Tensor
    targets: torch.Tensor  # labels of the labeled rows, 0 for the unlabeled rows
    n_labeled: int
    true: torch.Tensor | None = None  # true labels of the unlabeled rows, when known


def bce_loss(run: Run, batch: Batch, logits: torch.Tensor) -> torch.Tensor:
    """None, NS, DNS, SRNS: BCE, with unlabeled rows taken as negatives (chapters 1–2)."""
    return losses.bce(logits, batch.targets)


def truncated_loss(run: Run, batch: Batch, logits: torch.Tensor) -> torch.Tensor:
    """T-CE (Wang et al. 2021): BCE without the largest-loss positives (chapter 2)."""
    cfg = run.cfg
    rate = losses.drop_rate(run.iteration, cfg.tce_eps_max, cfg.tce_eps_n)
    loss, dropped = losses.truncated_bce(logits, batch.targets, rate)
    rec = run.state.setdefault("dropped", {"user": [], "item": [], "count": []})
    rec["count"].append(dropped.sum())
    rec["user"].append(batch.users[dropped])
    rec["item"].append(batch.items[dropped])
    return loss


def reweighted_loss(run: Run, batch: Batch, logits: torch.Tensor) -> torch.Tensor:
    """R-CE (Wang et al. 2021): BCE weighted by ``ŷ^β`` / ``(1 − ŷ)^β`` (chapter 2)."""
    return losses.reweighted_bce(logits, batch.targets, run.cfg.rce_beta)


def inverse_dual_loss(run: Run, batch: Batch, logits: torch.Tensor) -> torch.Tensor:
    """IDL (paper eq. 4, chapter 3): BCE on the labeled rows plus the inverse dual loss on the
    unlabeled rows of the same batch, averaged over all rows."""
    n = batch.n_labeled
    labeled = nn.functional.binary_cross_entropy_with_logits(
        logits[:n], batch.targets[:n], reduction="sum")
    unlabeled = logits[n:]
    rec = run.state.setdefault("weights", {"user": [], "item": [], "w1": [], "true": []})
    rec["user"].append(batch.users[n:])
    rec["item"].append(batch.items[n:])
    rec["w1"].append(losses.idl_weights(unlabeled.detach())[0])
    if batch.true is not None:
        rec["true"].append(batch.true)
    return (labeled + losses.idl_terms(unlabeled).sum()) / len(logits)


def ig_setup(run: Run) -> None:
    """IG's run: Algorithm 1's line 1 splits the labeled training rows into training-train
    (``fit_rows``) and training-test (``meta_rows``) rows (chapter 5)."""
    run.meta_rows, run.fit_rows = meta_split(len(run.users), run.cfg.meta_fraction, run.rng,
                                             run.device, run.cfg.meta_split)


# -- the table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    """How one method trains (its name in tables is :data:`~invlearn.config.METHOD_LABELS`'s):
    how it draws unlabeled rows each epoch, its loss on a batch, the unlabeled pools it can draw
    from, and (IG) a setup and an epoch of its own."""

    rows: Callable[[Run], RowsOf]
    loss: Callable[[Run, Batch, torch.Tensor], torch.Tensor] | None = None
    epoch: Callable | None = None
    setup: Callable[[Run], None] | None = None
    pools: tuple[str, ...] = POOLS


#: Each method's name → how it draws its unlabeled rows and computes its loss.
METHOD_TABLE: dict[str, Method] = {
    "none": Method(no_rows, bce_loss),
    "ns": Method(pool_rows, bce_loss),
    "tce": Method(pool_rows, truncated_loss),
    "rce": Method(pool_rows, reweighted_loss),
    "dns": Method(hardest_rows, bce_loss),
    "srns": Method(memory_rows, bce_loss, pools=("random",)),  # its memory holds random items
    "idl": Method(pool_rows, inverse_dual_loss),
    "ig": Method(pool_rows, epoch=ig_epoch, setup=ig_setup),
}
assert tuple(METHOD_TABLE) == METHODS


def supervised_epoch(run: Run, epoch: int) -> float:
    """One epoch of every method but IG: each batch of labeled rows with the unlabeled rows
    the method draws for it (labeled 0, or their true labels with ``true_labels``), one Adam
    step on the method's loss. Returns the mean loss."""
    method = METHOD_TABLE[run.cfg.method]
    total, count, _ = supervised_pass(run, method.loss, method.rows(run))
    _close_epoch(run, epoch)
    return float(total) / count


def supervised_pass(run: Run, loss_of: Callable, rows_of: RowsOf,
                    subset: torch.Tensor | None = None) -> tuple:
    """One pass over the labeled training rows (or the ``subset`` of their indices, IG's
    training-train rows) in random batches, each with the unlabeled rows ``rows_of`` draws for
    it, one Adam step on ``loss_of`` per batch; with ``accumulate_grads`` the gradients are
    zeroed once, before the pass. Returns the loss summed over rows (a tensor), the rows and
    the steps."""
    accumulate = run.cfg.accumulate_grads
    if accumulate:
        run.opt.zero_grad()
    total, count, steps = 0.0, 0, 0
    for batch_rows in run.batches(len(run.users) if subset is None else len(subset)):
        idx = batch_rows if subset is None else subset[batch_rows]
        u, i, y = run.users[idx], run.items[idx], run.labels[idx]
        extra = rows_of(idx, u)
        if extra is None:
            batch = Batch(u, i, y, len(u))
        else:
            fill = (extra[2].to(y.dtype) if run.cfg.true_labels else
                    torch.zeros(len(extra[0]), dtype=y.dtype, device=y.device))
            batch = Batch(torch.cat([u, extra[0]]), torch.cat([i, extra[1]]),
                          torch.cat([y, fill]), len(u), extra[2])
        loss = loss_of(run, batch, run.model(batch.users, batch.items))
        run.step(loss, accumulate)
        total = total + loss.detach() * len(idx)  # a tensor: no host sync per batch
        count += len(idx)
        steps += 1
    return total, count, steps


def _close_epoch(run: Run, epoch: int) -> None:
    """Move the epoch's recorded rows (IDL weights, T-CE drops) into the history."""
    weights = run.state.pop("weights", None)
    if weights is not None:
        run.record(run.history.weights, epoch, weights)
    dropped = run.state.pop("dropped", None)
    if dropped is not None:
        count = int(sum(int(c) for c in dropped.pop("count")))
        run.record(run.history.dropped, epoch, dropped)
        run.history.dropped[epoch]["count"] = count


# -- the entry point ------------------------------------------------------------------------


def train(data: Split, config: TrainConfig | None = None, model: nn.Module | None = None,
          progress: bool = True, unlabeled: pd.DataFrame | None = None,
          **overrides) -> TrainResult:
    """Train one method on ``data`` and test the best validation epoch; for the scores that
    learn nothing (``popularity``, ``item_mean``), score and test them (:mod:`invlearn.scores`).

    ``config`` (or keyword ``overrides`` of its fields) chooses the method, backbone and
    settings; ``model`` may be any module mapping ``(users, items)`` to logits (default: the
    backbone named in the config). All randomness comes from ``config.seed``. ``unlabeled``:
    your own unlabeled interactions (a table ``user``, ``item`` with the split's original ids),
    which IDL, IG and the negative-sampling family then draw from as their pool (``pool`` is
    set to ``"unlabeled"``; see :mod:`invlearn.owndata`). The result can ``predict``,
    ``recommend`` and ``save`` with the original ids.
    """
    if unlabeled is not None:
        check_inputs(data, model)
        if overrides.get("pool", "unlabeled") != "unlabeled":
            raise InvlearnError(f"unlabeled= makes the pool 'unlabeled'; drop "
                                f"pool={overrides['pool']!r}")
        from .owndata import with_unlabeled

        data = with_unlabeled(data, unlabeled)
        overrides = {**overrides, "pool": "unlabeled"}
    config = merge_config(config, overrides)
    check_inputs(data, model)
    result = _train(data, config, model, progress)
    result.catalogue = catalogue_of(data)
    return result


def _train(data: Split, config: TrainConfig, model: nn.Module | None,
           progress: bool) -> TrainResult:
    """:func:`train` once its inputs are checked."""
    if config.method not in SCORES and uses_static_step(config, model):
        from .static import train_static  # the opt-in engine: it sets up its own run

        return train_static(data, config, model, progress=progress)
    if config.threads:
        torch.set_num_threads(config.threads)
    data = with_label_fraction(data, config)
    if config.method in SCORES:  # popularity, item_mean: nothing to train (chapter 9)
        from .scores import train_score

        return train_score(data, config, model)
    method = METHOD_TABLE[config.method]
    if config.pool not in method.pools:
        raise InvlearnError(f"{config.method} draws from the pool(s) {', '.join(method.pools)}, "
                            f"not {config.pool!r}")
    run = Run(data, config, model)
    if method.setup is not None:
        method.setup(run)
    epoch_fn = method.epoch or supervised_epoch
    return fit(run, lambda epoch: epoch_fn(run, epoch), progress)


def uses_static_step(config: TrainConfig, model: nn.Module | None) -> bool:
    """Whether ``train`` takes the static-shape engine of :mod:`invlearn.static`: only when
    asked to (``step="static"``). ``"auto"`` and the default are the eager engine on every
    device until the CUDA tests pass on a GPU (the book's usage page, "Speed and GPUs")."""
    return config.step == "static"
