"""The eight training methods of the paper's Tables 1 and 2, and the one ``train`` entry point.

None, NS, T-CE, R-CE, DNS, SRNS, IDL and IG (SPEC §5), one implementation each, chosen by
``TrainConfig.method``. Book chapters 1–3 and 5 explain them; chapter 6 compares them.

* Every method trains with the same optimizer (:class:`invlearn.optim.Adam`, lazy on embedding
  rows), the same batches of labeled rows and, where it uses them, one set of unlabeled pairs
  per labeled row (``sampling_rate``), redrawn every epoch.
* The model kept is the one of the best validation epoch (``select``: validation AUC by default,
  or validation BCE); it is tested once.
* ``train`` returns a :class:`TrainResult`: test metrics and a :class:`History` from which the
  book draws its figures (per-epoch losses and validation metrics, IG's direction at every
  meta-step with its three candidate losses, IDL weights of unlabeled rows, T-CE's dropped rows).
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from . import losses
from .data import Split
from .config import METHODS, TrainConfig, check_device
from .errors import InvlearnError
from .metrics import full_ranking_metrics, labeled_metrics
from .models import build_model
from .optim import Adam, coalesce_rows
from .sampling import pair_keys, sample_unlabeled

DIRECTIONS = ("direct", "pass", "inverse")


@dataclass
class History:
    """What happened during training, for the book's figures.

    ``epochs``: one row per epoch (``epoch``, ``loss``, ``seconds``, ``valid_*`` metrics).
    ``meta``: IG only, one row per meta-step (``epoch``, ``step``, ``direction`` in
    direct / pass / inverse, and the training-test BCE at the three candidates ``loss_direct``,
    ``loss_pass``, ``loss_inverse``; ``tie`` marks steps where the three are equal in floating
    point — the move is then below the precision of the loss, and the first candidate, direct,
    is kept, as ``argmin`` does). ``weights``: IDL and IG, per epoch, the unlabeled rows'
    ``user``, ``item`` and ``w1`` (``w0 = 1 − w1``; at most ``record_rows`` rows an epoch).
    ``dropped``: T-CE, per epoch, the ``user`` and ``item`` of rows dropped (at most
    ``record_rows``) and their number ``count``.
    """

    epochs: list = field(default_factory=list)
    meta: pd.DataFrame | None = None
    weights: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """The per-epoch rows as a DataFrame indexed by epoch."""
        return pd.DataFrame(self.epochs).set_index("epoch")

    def annotation_accuracy(self, truth) -> pd.Series:
        """Per epoch, how often IDL's annotation ``w1 > 0.5`` matches ``truth.true_label``."""
        acc = {}
        for epoch, rec in self.weights.items():
            true = truth.true_label(rec["user"], rec["item"])
            acc[epoch] = float(np.mean((rec["w1"] > 0.5) == (true == 1)))
        return pd.Series(acc, name="annotation_accuracy").rename_axis("epoch")


@dataclass
class TrainResult:
    """Test metrics of the best validation epoch, and the history of the run."""

    metrics: dict
    valid: dict
    best_epoch: int
    seconds_per_epoch: float
    config: TrainConfig
    history: History
    model: nn.Module
    data_name: str = ""

    def to_dict(self) -> dict:
        """A JSON-ready summary: metrics by name, parameters, per-epoch table, IG directions."""
        out = {**self.metrics, "best_epoch": self.best_epoch,
               "seconds_per_epoch": self.seconds_per_epoch, "dataset": self.data_name,
               "params": asdict(self.config),
               "valid": self.valid,
               "epochs": self.history.epochs}
        if self.history.meta is not None:
            counts = self.history.meta["direction"].value_counts()
            out["directions"] = {d: int(counts.get(d, 0)) for d in DIRECTIONS}
        if self.history.weights:
            out["mean_w1"] = {int(e): float(np.mean(r["w1"]))
                              for e, r in self.history.weights.items()}
        return out


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else the CPU."""
    if device:
        check_device(device)
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _tensors(table: pd.DataFrame, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.as_tensor(table[col].to_numpy(dtype, copy=True), device=device)
                 for col, dtype in (("user", np.int64), ("item", np.int64),
                                    ("label", np.float32)))


@torch.no_grad()
def predict(model: nn.Module, users: torch.Tensor, items: torch.Tensor,
            batch: int = 1 << 16) -> torch.Tensor:
    """Logits of ``model`` on the pairs, in evaluation mode, batched."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(u, i) for u, i in zip(users.split(batch), items.split(batch))])
    model.train(was_training)
    return out


def evaluate(model: nn.Module, table: pd.DataFrame, device: torch.device) -> dict:
    """Labeled metrics (AUC, GAUC, NDCG@10, MRR) and BCE of ``model`` on a labeled table."""
    u, i, y = _tensors(table, device)
    logits = predict(model, u, i)
    out = labeled_metrics(table["user"].to_numpy(), table["label"].to_numpy(),
                          logits.float().cpu().numpy())
    out["bce"] = float(losses.bce(logits.float(), y))
    return out


def score_function(model: nn.Module, n_items: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Scores of a batch of users against all items: ``model.score_all`` when the model has
    one, else ``model(users, items)`` on the full grid."""
    if hasattr(model, "score_all"):
        return model.score_all

    def score_all(users: torch.Tensor) -> torch.Tensor:
        items = torch.arange(n_items, device=users.device)
        grid = model(users.repeat_interleave(n_items), items.repeat(len(users)))
        return grid.view(len(users), n_items)

    return score_all


def ranking_metrics(model: nn.Module, data: Split, device: torch.device) -> dict:
    """Full-ranking Recall@K / NDCG@K (K = 20, 50) on the test positives (SPEC §6)."""
    pos = data.test[data.test["label"] > 0.5]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = full_ranking_metrics(
            score_function(model, data.n_items),
            data.train["user"].to_numpy(), data.train["item"].to_numpy(),
            pos["user"].to_numpy(), pos["item"].to_numpy(),
            data.n_users, data.n_items, device=device)
    model.train(was_training)
    return out


def _check_model(model: nn.Module, data: Split) -> None:
    """Clear error when ``data``'s ids do not fit the model's embedding tables."""
    for attr, n, what in (("n_users", data.n_users, "users"), ("n_items", data.n_items, "items")):
        size = getattr(model, attr, None)
        if size is not None and size < n:
            raise InvlearnError(f"the model has {size} {what} but the data has {n}: "
                                f"ids up to {n - 1} do not fit")


class _Run:
    """One training run: the data on the device, the model, the optimizer and the samplers."""

    def __init__(self, data: Split, config: TrainConfig, model: nn.Module | None):
        self.data, self.cfg = data, config
        self.device = pick_device(config.device)
        seeds = np.random.SeedSequence(config.seed).spawn(3)
        self.rng = np.random.default_rng(seeds[0])
        self.gen = torch.Generator().manual_seed(int(seeds[1].generate_state(1)[0]))
        torch.manual_seed(config.seed)
        if model is None:
            model = build_model(config.backbone, data.n_users, data.n_items, config.dim)
        _check_model(model, data)
        self.model = model.to(self.device)
        self.opt = Adam(self.model, config.lr)
        train = data.train
        self.keys = pair_keys(train["user"].to_numpy(), train["item"].to_numpy(), data.n_items)
        self.users, self.items, self.labels = _tensors(train, self.device)
        self.iteration = 0
        self.history = History()

    # -- helpers -------------------------------------------------------------------------
    def batches(self, n: int) -> list[torch.Tensor]:
        perm = torch.randperm(n, generator=self.gen).to(self.device)
        return list(perm.split(self.cfg.batch_size))

    def unlabeled(self, rows: np.ndarray, rate: int) -> torch.Tensor:
        """``rate`` sampled non-training items for each of the given training rows."""
        items = sample_unlabeled(rows, self.data.n_items, self.keys, rate, self.rng)
        return torch.as_tensor(items, device=self.device)

    def step(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.iteration += 1

    def record(self, store: dict, epoch: int, users: list, items: list, **extra) -> None:
        n = self.cfg.record_rows
        u = torch.cat(users)[:n].cpu().numpy()
        i = torch.cat(items)[:n].cpu().numpy()
        store[epoch] = {"user": u, "item": i,
                        **{k: torch.cat(v)[:n].cpu().numpy() for k, v in extra.items()}}

    # -- one epoch of each method --------------------------------------------------------
    def epoch_pointwise(self, epoch: int) -> float:
        """None, NS, T-CE, R-CE and IDL: labeled rows plus (except None) their unlabeled
        pairs, in the same batches."""
        cfg, method = self.cfg, self.cfg.method
        rate = cfg.sampling_rate
        neg_items = None
        if method != "none":
            neg_items = self.unlabeled(self.data.train["user"].to_numpy(), rate)
        total, count = 0.0, 0
        rec_u, rec_i, rec_w, dropped_n = [], [], [], 0
        for idx in self.batches(len(self.users)):
            u, i, y = self.users[idx], self.items[idx], self.labels[idx]
            if method == "none":
                loss = losses.bce(self.model(u, i), y)
            else:
                uu = u.repeat_interleave(rate)
                ui = neg_items[idx].reshape(-1)
                if method == "idl":
                    logits = self.model(torch.cat([u, uu]), torch.cat([i, ui]))
                    labeled, unl = logits[: len(u)], logits[len(u):]
                    bce = nn.functional.binary_cross_entropy_with_logits(
                        labeled, y, reduction="sum")
                    loss = (bce + losses.idl_terms(unl).sum()) / len(logits)
                    rec_u.append(uu)
                    rec_i.append(ui)
                    rec_w.append(losses.idl_weights(unl.detach())[0])
                else:
                    logits = self.model(torch.cat([u, uu]), torch.cat([i, ui]))
                    target = torch.cat([y, torch.zeros_like(uu, dtype=y.dtype)])
                    if method == "ns":
                        loss = losses.bce(logits, target)
                    elif method == "rce":
                        loss = losses.reweighted_bce(logits, target, cfg.rce_beta)
                    else:  # tce
                        rate_t = losses.drop_rate(self.iteration, cfg.tce_eps_max, cfg.tce_eps_n)
                        loss, dropped = losses.truncated_bce(logits, target, rate_t)
                        mask = dropped[: len(u)]
                        dropped_n += int(mask.sum())
                        rec_u.append(u[mask])
                        rec_i.append(i[mask])
            self.step(loss)
            total = total + loss.detach() * len(idx)  # a tensor: no host sync per batch
            count += len(idx)
        if method == "idl":
            self.record(self.history.weights, epoch, rec_u, rec_i, w1=rec_w)
        if method == "tce":
            self.record(self.history.dropped, epoch, rec_u, rec_i)
            self.history.dropped[epoch]["count"] = dropped_n
        return float(total) / count

    def epoch_hard_negative(self, epoch: int) -> float:
        """DNS and SRNS: each labeled row plus one hard negative chosen among candidates."""
        cfg = self.cfg
        users_np = self.data.train["user"].to_numpy()
        if cfg.method == "dns":
            cands = self.unlabeled(users_np, cfg.dns_k)
        else:
            cands = self.srns_candidates(users_np)
        total, count = 0.0, 0
        for idx in self.batches(len(self.users)):
            u, i, y = self.users[idx], self.items[idx], self.labels[idx]
            c = cands[idx]
            if cfg.method == "dns":
                scores = predict(self.model, u.repeat_interleave(c.shape[1]), c.reshape(-1))
                scores = scores.view(c.shape)
            else:  # the memory's value of the row's slots, scored at the start of the epoch
                scores = self.mem_value[u[:, None], self.slot_idx[idx]]
            hard = c.gather(1, scores.argmax(1, keepdim=True)).squeeze(1)
            logits = self.model(torch.cat([u, u]), torch.cat([i, hard]))
            loss = losses.bce(logits, torch.cat([y, torch.zeros_like(y)]))
            self.step(loss)
            total = total + loss.detach() * len(idx)  # a tensor: no host sync per batch
            count += len(idx)
        if cfg.method == "srns":
            self.srns_refresh()
        return float(total) / count

    # -- SRNS: a per-user memory of candidates scored by mean score plus score std --------
    def srns_init(self) -> None:
        cfg = self.cfg
        users = np.arange(self.data.n_users)
        self.memory = self.unlabeled(users, cfg.srns_memory)  # [n_users, S]
        self.mem_hist = torch.full((*self.memory.shape, cfg.srns_history), float("nan"),
                                   device=self.device)

    def srns_candidates(self, users_np: np.ndarray) -> torch.Tensor:
        """Score the whole memory once per epoch, push the scores into each slot's history,
        and give every labeled row ``dns_k`` random slots of its user's memory."""
        cfg = self.cfg
        n_users, size = self.memory.shape
        users = torch.arange(n_users, device=self.device).repeat_interleave(size)
        prob = torch.sigmoid(predict(self.model, users, self.memory.reshape(-1)))
        self.mem_hist = torch.roll(self.mem_hist, 1, dims=2)
        self.mem_hist[..., 0] = prob.view(n_users, size)
        hist = self.mem_hist
        seen = (~hist.isnan()).sum(-1).clamp(min=1)
        mean = torch.nansum(hist, -1) / seen
        var = torch.nansum((hist - mean[..., None]).square(), -1) / seen
        self.mem_value = hist[..., 0] + cfg.srns_std_weight * var.sqrt()
        slots = self.rng.integers(0, size, size=(len(users_np), min(cfg.dns_k, size)))
        self.slot_idx = torch.as_tensor(slots, device=self.device)
        rows = torch.as_tensor(np.array(users_np), device=self.device)
        return self.memory[rows[:, None], self.slot_idx]

    def srns_refresh(self) -> None:
        """Replace the half of each user's memory with the lowest value by fresh samples."""
        n_users, size = self.memory.shape
        worst = self.mem_value.argsort(dim=1)[:, : size // 2]
        fresh = self.unlabeled(np.arange(n_users), size // 2)
        self.memory.scatter_(1, worst, fresh)
        hist = self.mem_hist
        hist[torch.arange(n_users, device=self.device)[:, None], worst] = float("nan")

    # -- IG: Algorithm 1 ------------------------------------------------------------------
    def ig_split(self) -> None:
        n = len(self.users)
        perm = torch.as_tensor(self.rng.permutation(n), device=self.device)
        n_meta = max(1, round(self.cfg.meta_fraction * n))
        self.meta_rows, self.fit_rows = perm[:n_meta], perm[n_meta:]
        self.meta_log: list = []

    def epoch_ig(self, epoch: int) -> float:
        """Algorithm 1: a supervised epoch on training-train, then one meta-step per batch of
        training-test data, each with an unlabeled batch of the same size."""
        cfg = self.cfg
        total, count = 0.0, 0
        fit = self.fit_rows
        for idx in self.batches(len(fit)):
            rows = fit[idx]
            loss = losses.bce(self.model(self.users[rows], self.items[rows]), self.labels[rows])
            self.step(loss)
            total = total + loss.detach() * len(rows)
            count += len(rows)
        meta = self.meta_rows
        pool = torch.randperm(len(self.users), generator=self.gen).to(self.device)
        unl_items = self.unlabeled(self.data.train["user"].to_numpy()[pool.cpu().numpy()], 1)
        unl_users = self.users[pool]
        alpha = cfg.alpha_ratio * cfg.lr
        start = 0
        rec_u, rec_i, rec_w, logs = [], [], [], []
        for idx in self.batches(len(meta)):
            rows = meta[idx]
            end = start + len(rows)
            if end > len(pool):
                start, end = 0, len(rows)
            uu, ui = unl_users[start:end], unl_items[start:end, 0]
            start = end
            cand, w1 = ig_meta_step(self.model, (uu, ui),
                                    (self.users[rows], self.items[rows], self.labels[rows]),
                                    alpha, cfg.alpha_rule)
            loss = losses.bce(self.model(self.users[rows], self.items[rows]), self.labels[rows])
            self.step(loss)
            logs.append(cand)
            rec_u.append(uu)
            rec_i.append(ui)
            rec_w.append(w1)
        cands = torch.stack(logs).cpu().numpy()
        self.meta_log.append(pd.DataFrame({
            "epoch": epoch, "step": np.arange(len(cands)),
            "direction": np.array(DIRECTIONS)[cands.argmin(1)],
            "loss_direct": cands[:, 0], "loss_pass": cands[:, 1], "loss_inverse": cands[:, 2],
            "tie": cands.min(1) == cands.max(1)}))
        self.record(self.history.weights, epoch, rec_u, rec_i, w1=rec_w)
        return float(total) / max(count, 1)


def alpha_step(grad: torch.Tensor, alpha: float, rule: str) -> torch.Tensor:
    """``α·g`` (plain SGD) or ``α·g / (|g| + 1e-8)`` (one fresh Adam step, ≈ ``α·sign(g)``)."""
    if rule == "sgd":
        return alpha * grad
    return alpha * grad / (grad.abs() + 1e-8)


def ig_meta_step(model: nn.Module, unlabeled: tuple[torch.Tensor, torch.Tensor],
                 labeled: tuple[torch.Tensor, torch.Tensor, torch.Tensor], alpha: float,
                 rule: str = "sign") -> tuple[torch.Tensor, torch.Tensor]:
    """Lines 9–20 of Algorithm 1, in place: move ``model`` to the best of θ − α·g, θ, θ + α·g.

    ``g`` is the gradient of the inverse dual loss on the ``unlabeled`` (users, items) batch;
    the three candidates are compared by the BCE of the ``labeled`` (users, items, labels)
    batch. Only the embedding rows the unlabeled batch touched (and the dense layers) are
    perturbed, saved and restored, and the choice is made with tensor operations, so no value
    goes back to the host (book chapter 5). Returns the candidate losses
    ``[L(θ_d), L(θ), L(θ_i)]`` (the lowest is the one kept) and the IDL weights ``w1`` of the
    unlabeled batch.
    """
    users, items = unlabeled
    logits = model(users, items)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(losses.inverse_dual_loss(logits), params, allow_unused=True)
    moves = []
    with torch.no_grad():
        for p, g in zip(params, grads):
            if g is None:
                continue
            if g.is_sparse:
                rows, vals = coalesce_rows(g)
                moves.append((p, rows, p[rows].clone(), alpha_step(vals, alpha, rule)))
            else:
                moves.append((p, None, p.detach().clone(), alpha_step(g, alpha, rule)))

        def move_to(sign) -> None:
            for p, rows, saved, delta in moves:
                if rows is None:
                    p.copy_(saved + sign * delta)
                else:
                    p[rows] = saved + sign * delta

        lu, li, ly = labeled
        loss_pass = losses.bce(model(lu, li), ly)
        move_to(-1.0)
        loss_direct = losses.bce(model(lu, li), ly)
        move_to(1.0)
        loss_inverse = losses.bce(model(lu, li), ly)
        cand = torch.stack([loss_direct, loss_pass, loss_inverse])
        move_to((torch.argmin(cand) - 1).to(cand.dtype))
    w1 = losses.idl_weights(logits.detach())[0]
    return cand.detach(), w1


def _merge_config(config: TrainConfig | None, overrides: dict) -> TrainConfig:
    """``config`` with keyword ``overrides`` of its fields, checked (chapter 1)."""
    if config is not None and not isinstance(config, TrainConfig):
        raise InvlearnError(f"config must be a TrainConfig, got {type(config).__name__} "
                            f"(for a dict, use TrainConfig.from_dict(...) or train(data, "
                            f"**settings))")
    settings = {**(dataclasses.asdict(config) if config else {}), **overrides}
    return TrainConfig.from_dict(settings)


def train(data: Split, config: TrainConfig | None = None, model: nn.Module | None = None,
          progress: bool = True, **overrides) -> TrainResult:
    """Train one method on ``data`` and test the best validation epoch (SPEC §5–§6).

    ``config`` (or keyword ``overrides`` of its fields) chooses the method, backbone and
    settings; ``model`` may be any module mapping ``(users, items)`` to logits (default: the
    backbone named in the config). All randomness comes from ``config.seed``.
    """
    config = _merge_config(config, overrides)
    if not isinstance(data, Split):
        raise InvlearnError(f"data must be an invlearn Split, got {type(data).__name__}")
    if model is not None and not isinstance(model, nn.Module):
        raise InvlearnError(f"model must be a torch.nn.Module mapping (users, items) to logits, "
                            f"got {type(model).__name__} (to choose GMF or NeuMF, pass "
                            f"backbone='gmf' or backbone='neumf')")
    if config.threads:
        torch.set_num_threads(config.threads)
    run = _Run(data, config, model)
    epoch_fn = {"dns": run.epoch_hard_negative, "srns": run.epoch_hard_negative,
                "ig": run.epoch_ig}.get(config.method, run.epoch_pointwise)
    if config.method == "srns":
        run.srns_init()
    if config.method == "ig":
        run.ig_split()
    best, best_state, best_valid, stale = None, None, {}, 0
    bar = tqdm(range(1, config.epochs + 1), desc=f"{config.method}-{config.backbone}",
               disable=not progress, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        loss = epoch_fn(epoch)
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        valid = evaluate(run.model, data.valid, run.device)
        run.history.epochs.append({"epoch": epoch, "loss": loss, "seconds": seconds,
                                   **{f"valid_{k}": v for k, v in valid.items()}})
        value = valid["auc"] if config.select == "auc" else -valid["bce"]
        if best is None or value > best[0]:
            best = (value, epoch)
            best_state = copy.deepcopy(run.model.state_dict())
            best_valid, stale = valid, 0
        else:
            stale += 1
        bar.set_postfix(loss=f"{loss:.4f}", valid_auc=f"{valid['auc']:.4f}")
        if config.patience is not None and stale >= config.patience:
            break
    if config.method == "ig":
        run.history.meta = pd.concat(run.meta_log, ignore_index=True)
    run.model.load_state_dict(best_state)
    metrics = evaluate(run.model, data.test, run.device)
    if config.full_ranking:
        metrics.update(ranking_metrics(run.model, data, run.device))
    seconds = float(np.median([e["seconds"] for e in run.history.epochs]))
    return TrainResult(metrics=metrics, valid=best_valid, best_epoch=best[1],
                       seconds_per_epoch=seconds, config=config, history=run.history,
                       model=run.model, data_name=data.name)
