"""Metrics: AUC, GAUC, NDCG@K and MRR on labeled rows, and full-ranking Recall@K / NDCG@K.

Book chapter 6 ("Reproducing the paper on MovieLens-1M") defines every metric here and compares
them with what the paper's released code prints. The released code's MRR ranks the labels by
the labels (a constant) and its NDCG is over each user's own labeled test rows, most of them
positive; the functions below compute the definitions written in their docstrings, and chapter
6 says what each number can and cannot tell.

Everything is vectorized over users: rows are grouped by one sort (``np.lexsort``) and per-user
sums come from ``np.bincount``; no Python loop runs per user. Scores are compared as float64.
Functions return Python floats; a metric with no row or user to average over is ``nan``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .errors import InvlearnError, check_int
from .sampling import sorted_unique

ArrayLike = np.ndarray | Sequence | torch.Tensor


# -- Input checks ------------------------------------------------------------------------------
def _as_1d(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as a 1-D numpy array, or an :class:`InvlearnError` naming ``name``."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvlearnError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _numeric(values: ArrayLike, name: str, what: str) -> np.ndarray:
    """``values`` as a 1-D float64 array, or an error naming ``name`` and ``what`` it must be."""
    array = _as_1d(values, name)
    if array.dtype.kind not in "biuf":
        raise InvlearnError(f"{name} must be {what}, got dtype {array.dtype}")
    return array.astype(np.float64)


def _check_labels(labels: ArrayLike, name: str = "labels") -> np.ndarray:
    """Labels as a float64 array of 0s and 1s (bool, int or float input)."""
    array = _numeric(labels, name, "numeric 0/1 values")
    if not ((array == 0.0) | (array == 1.0)).all():
        raise InvlearnError(f"{name} must hold only 0 and 1")
    return array


def _check_scores(scores: ArrayLike, name: str = "scores") -> np.ndarray:
    """Scores as a float64 array without NaN (±inf is allowed: it is ordered)."""
    array = _numeric(scores, name, "numeric")
    if np.isnan(array).any():
        raise InvlearnError(f"{name} must not contain NaN")
    return array


def _check_rows(users: ArrayLike | None, labels: ArrayLike,
                scores: ArrayLike) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Check the row arrays: 1-D, equal non-zero length, labels in {0, 1}, scores not NaN."""
    y = _check_labels(labels)
    s = _check_scores(scores)
    u = None if users is None else _as_1d(users, "users")
    if len(y) == 0:
        raise InvlearnError("labels must not be empty")
    if len(s) != len(y):
        raise InvlearnError(f"scores has {len(s)} rows but labels has {len(y)}")
    if u is not None and len(u) != len(y):
        raise InvlearnError(f"users has {len(u)} rows but labels has {len(y)}")
    return u, y, s


# -- Grouped kernels (inputs already checked; ``gid`` are group codes 0 .. n_groups - 1) -------
def _group_auc(gid: np.ndarray, n_groups: int, y: np.ndarray,
               s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group Mann–Whitney AUC with mid-ranks for ties: ``(auc, n_pos, n_rows)``.

    Rows are sorted by (group, score); a run of equal scores inside a group shares the mean of
    its positions. With ``R`` the sum of the positives' 1-based ranks in their group,
    ``AUC = (R − P(P+1)/2) / (P·N)``, which counts each tied (positive, negative) pair as 1/2.
    Groups with only one class get ``nan``.
    """
    n = len(y)
    order = np.lexsort((s, gid))
    g, ys, ss = gid[order], y[order], s[order]
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (g[1:] != g[:-1]) | (ss[1:] != ss[:-1])
    starts = np.flatnonzero(new_run)
    run_len = np.diff(np.append(starts, n))
    mid = starts + (run_len - 1) / 2.0                      # mean 0-based position of each run
    counts = np.bincount(g, minlength=n_groups)
    offset = np.cumsum(counts) - counts                     # first position of each group
    rank = np.repeat(mid, run_len) - offset[g] + 1.0        # 1-based mid-rank inside the group
    n_pos = np.bincount(g, weights=ys, minlength=n_groups)
    rank_sum = np.bincount(g, weights=rank * ys, minlength=n_groups)
    pairs = n_pos * (counts - n_pos)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = np.where(pairs > 0, (rank_sum - n_pos * (n_pos + 1) / 2.0) / pairs, np.nan)
    return auc, n_pos, counts


def _rank_in_groups(gid: np.ndarray, n_groups: int, y: np.ndarray,
                    s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort rows by (group, score descending), ties by original row order.

    Returns the sorted group codes, the sorted labels, each sorted row's 0-based rank inside its
    group, and the first sorted position of each group. ``np.lexsort`` is stable, so rows with
    equal scores keep their input order: the tie-break is deterministic.
    """
    order = np.lexsort((-s, gid))
    g, ys = gid[order], y[order]
    counts = np.bincount(g, minlength=n_groups)
    offset = np.cumsum(counts) - counts
    pos = np.arange(len(y)) - offset[g]
    return g, ys, pos, offset


def _discount_table(k: int) -> np.ndarray:
    """``table[m] = Σ_{r=1..m} 1/log2(r+1)`` for m = 0 .. k: the IDCG of m relevant items."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])


def _ndcg_mrr(gid: np.ndarray, n_groups: int, y: np.ndarray, s: np.ndarray,
              k: int) -> tuple[float, float]:
    """NDCG@k and MRR averaged over the groups with at least one positive."""
    g, ys, pos, offset = _rank_in_groups(gid, n_groups, y, s)
    gains = np.where(pos < k, ys / np.log2(pos + 2.0), 0.0)
    dcg = np.bincount(g, weights=gains, minlength=n_groups)
    n_pos = np.bincount(g, weights=ys, minlength=n_groups)
    has_pos = n_pos > 0
    if not has_pos.any():
        return float("nan"), float("nan")
    idcg = _discount_table(k)[np.minimum(n_pos, k).astype(np.int64)]
    ndcg = float(np.mean(dcg[has_pos] / idcg[has_pos]))
    first = np.minimum.reduceat(np.where(ys > 0, pos, len(y)), offset)
    mrr = float(np.mean(1.0 / (first[has_pos] + 1.0)))
    return ndcg, mrr


def _factorize(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct user ids (sorted) and each row's code into them."""
    uniq, codes = np.unique(users, return_inverse=True)
    return uniq, codes.reshape(-1)


def _gauc_from(auc: np.ndarray, counts: np.ndarray, weighted: bool) -> float:
    """Mean of the defined per-user AUCs, weighted by row counts or not."""
    ok = ~np.isnan(auc)
    if not ok.any():
        return float("nan")
    weights = counts[ok] if weighted else None
    return float(np.average(auc[ok], weights=weights))


# -- Metrics on labeled rows -------------------------------------------------------------------
def auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Pooled ROC AUC over all rows (book chapter 6).

    AUC is the probability that a random positive row scores higher than a random negative one,
    a tie counting 1/2: ``AUC = (1/(P·N)) Σ_{i: y=1} Σ_{j: y=0} [s_i > s_j] + ½[s_i = s_j]``.
    It is computed in O(n log n) from the Mann–Whitney statistic: with mid-ranks for tied
    scores and ``R`` the sum of the positives' ranks, ``AUC = (R − P(P+1)/2) / (P·N)``.
    Returns ``nan`` when the rows hold only one class.
    """
    _, y, s = _check_rows(None, labels, scores)
    values, _, _ = _group_auc(np.zeros(len(y), dtype=np.int64), 1, y, s)
    return float(values[0])


def per_user_auc(users: ArrayLike, labels: ArrayLike,
                 scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-user AUC (book chapter 6): ``(user ids, their AUC, their row counts)``.

    Each user's AUC is :func:`auc` on that user's rows alone (ties count 1/2). Only users whose
    rows hold both labels are returned, sorted by user id.
    """
    u, y, s = _check_rows(users, labels, scores)
    uniq, gid = _factorize(u)
    values, _, counts = _group_auc(gid, len(uniq), y, s)
    ok = ~np.isnan(values)
    return uniq[ok], values[ok], counts[ok]


def gauc(users: ArrayLike, labels: ArrayLike, scores: ArrayLike, weighted: bool = True) -> float:
    """Group AUC (book chapter 6): per-user AUC averaged over users.

    ``GAUC = Σ_u n_u · AUC_u / Σ_u n_u`` over the users whose rows hold both labels, ``n_u``
    being the user's number of rows (all of them, positive and negative). ``weighted=False``
    gives the plain mean ``(1/|U|) Σ_u AUC_u``, the number the paper's released code prints.
    Returns ``nan`` when no user holds both labels.
    """
    _, values, counts = per_user_auc(users, labels, scores)
    return _gauc_from(values, counts, weighted)


def ndcg_at_k(users: ArrayLike, labels: ArrayLike, scores: ArrayLike, k: int = 10) -> float:
    """NDCG@k over each user's own labeled rows (book chapter 6), averaged over users.

    Each user's rows are ranked by score, highest first; rows with equal scores keep their
    input order (a stable sort), so ties are broken deterministically by row order. With binary
    gain = label and rank r = 1, 2, ..., ``DCG@k = Σ_{r ≤ k} label_r / log2(r + 1)`` and
    ``IDCG@k = Σ_{r ≤ min(k, P_u)} 1 / log2(r + 1)``, ``P_u`` being the user's positives.
    The result is the mean of ``DCG@k / IDCG@k`` over users with at least one positive
    (``nan`` if there is none). On ML-1M test rows most labels are positive, so even random
    scores give a high value; chapter 6 discusses it.
    """
    k = check_int(k, "k")
    u, y, s = _check_rows(users, labels, scores)
    uniq, gid = _factorize(u)
    return _ndcg_mrr(gid, len(uniq), y, s, k)[0]


def mrr(users: ArrayLike, labels: ArrayLike, scores: ArrayLike) -> float:
    """Mean reciprocal rank (book chapter 6).

    Each user's rows are ranked by score, highest first, ties by input row order (as in
    :func:`ndcg_at_k`); the user's value is ``1 / r``, ``r`` the 1-based rank of the first
    positive row. The result is the mean over users with at least one positive (``nan`` if
    there is none). The released code ranks the labels by the labels instead, a constant.
    """
    u, y, s = _check_rows(users, labels, scores)
    uniq, gid = _factorize(u)
    return _ndcg_mrr(gid, len(uniq), y, s, 1)[1]


def labeled_metrics(users: ArrayLike, labels: ArrayLike, scores: ArrayLike,
                    k: int = 10) -> dict[str, float]:
    """All labeled-row metrics of book chapter 6 at once, sharing the input checks and sorts.

    Keys: ``auc`` (:func:`auc`), ``gauc`` and ``gauc_unweighted`` (:func:`gauc`),
    ``ndcg@{k}`` (:func:`ndcg_at_k`) and ``mrr`` (:func:`mrr`).
    """
    k = check_int(k, "k")
    u, y, s = _check_rows(users, labels, scores)
    uniq, gid = _factorize(u)
    pooled, _, _ = _group_auc(np.zeros(len(y), dtype=np.int64), 1, y, s)
    values, _, counts = _group_auc(gid, len(uniq), y, s)
    ndcg, rr = _ndcg_mrr(gid, len(uniq), y, s, k)
    return {
        "auc": float(pooled[0]),
        "gauc": _gauc_from(values, counts, weighted=True),
        "gauc_unweighted": _gauc_from(values, counts, weighted=False),
        f"ndcg@{k}": ndcg,
        "mrr": rr,
    }


# -- Full ranking over the catalogue -----------------------------------------------------------
def _check_pairs(users: ArrayLike, items: ArrayLike, n_users: int, n_items: int,
                 name: str) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) id arrays of equal length, ids in ``[0, n_users)`` and ``[0, n_items)``."""
    u = _as_1d(users, f"{name}_users")
    i = _as_1d(items, f"{name}_items")
    if len(u) != len(i):
        raise InvlearnError(f"{name}_users has {len(u)} rows but {name}_items has {len(i)}")
    for array, bound, label in ((u, n_users, f"{name}_users"), (i, n_items, f"{name}_items")):
        if len(array) == 0:
            continue
        if array.dtype.kind not in "iu":
            raise InvlearnError(f"{label} must hold integer ids, got dtype {array.dtype}")
        if array.min() < 0 or array.max() >= bound:
            raise InvlearnError(f"{label} must lie in [0, {bound}), got [{array.min()}, "
                                f"{array.max()}]")
    return u.astype(np.int64), i.astype(np.int64)


def _csr(users: np.ndarray, items: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Items grouped by user: ``items_sorted[indptr[u]:indptr[u + 1]]`` are user u's items."""
    order = np.argsort(users, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=n_users))])
    return indptr, items[order]


def _batch_pairs(indptr: np.ndarray, items: np.ndarray,
                 batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row in batch, item) for every stored item of the users in ``batch``, without a loop."""
    starts, lengths = indptr[batch], indptr[batch + 1] - indptr[batch]
    rows = np.repeat(np.arange(len(batch)), lengths)
    first = np.cumsum(lengths) - lengths
    index = np.arange(lengths.sum()) - np.repeat(first, lengths) + np.repeat(starts, lengths)
    return rows, items[index]


def full_ranking_metrics(score_fn: Callable[[torch.Tensor], torch.Tensor],
                         train_users: ArrayLike, train_items: ArrayLike,
                         test_users: ArrayLike, test_items: ArrayLike,
                         n_users: int, n_items: int, ks: Sequence[int] = (20, 50),
                         batch_users: int = 1024,
                         device: str | torch.device | None = None) -> dict[str, float]:
    """Full-ranking Recall@K and NDCG@K over the whole catalogue (book chapter 6).

    The protocol of DenoisingRec (Wang et al., WSDM'21). ``score_fn(users)`` maps a long tensor
    of user ids (on ``device``, CPU when ``None``) to a ``[len(users), n_items]`` tensor of
    scores. For every user with at least one test pair (``test_users`` / ``test_items`` are the
    *positive* test pairs only), the user's training items get score −inf and the top
    ``max(ks)`` items are taken with ``torch.topk`` (ties broken as ``topk`` does). With
    ``R_u`` the user's distinct test items and ``hit_r = 1`` when the item at rank r is in
    ``R_u`` (a masked training item never counts as a hit):

    * ``Recall@K = Σ_{r ≤ K} hit_r / |R_u|``;
    * ``NDCG@K = (Σ_{r ≤ K} hit_r / log2(r + 1)) / Σ_{r ≤ min(K, |R_u|)} 1 / log2(r + 1)``.

    Both are averaged over those users. Users are scored ``batch_users`` at a time; the
    training and test masks of a batch are built with one scatter each, with no per-user loop.
    Keys: ``recall@K`` and ``ndcg@K`` for each K in ``ks``.
    """
    ks = [check_int(k, "ks") for k in ks]
    if not ks:
        raise InvlearnError("ks must name at least one cut-off")
    batch_users = check_int(batch_users, "batch_users")
    tr_u, tr_i = _check_pairs(train_users, train_items, n_users, n_items, "train")
    te_u, te_i = _check_pairs(test_users, test_items, n_users, n_items, "test")
    if len(te_u) == 0:
        raise InvlearnError("test_users must hold at least one positive test pair")
    device = torch.device("cpu") if device is None else torch.device(device)
    train_ptr, train_sorted = _csr(tr_u, tr_i, n_users)
    test_ptr, test_sorted = _csr(te_u, te_i, n_users)
    eval_users = sorted_unique(te_u)
    k_max = min(max(ks), n_items)
    totals = {f"{name}@{k}": 0.0 for k in ks for name in ("recall", "ndcg")}
    for begin in range(0, len(eval_users), batch_users):
        batch = eval_users[begin:begin + batch_users]
        with torch.no_grad():
            scores = score_fn(torch.as_tensor(batch, dtype=torch.long, device=device))
        if tuple(scores.shape) != (len(batch), n_items):
            raise InvlearnError(f"score_fn must return shape ({len(batch)}, {n_items}), "
                                f"got {tuple(scores.shape)}")
        batch_totals = _rank_batch(scores.detach(), batch, train_ptr, train_sorted,
                                   test_ptr, test_sorted, ks, k_max)
        for key, value in batch_totals.items():
            totals[key] += value
    return {key: value / len(eval_users) for key, value in totals.items()}


def _rank_batch(scores: torch.Tensor, batch: np.ndarray, train_ptr: np.ndarray,
                train_sorted: np.ndarray, test_ptr: np.ndarray, test_sorted: np.ndarray,
                ks: Sequence[int], k_max: int) -> dict[str, float]:
    """Sums over one batch of users of Recall@K and NDCG@K (see :func:`full_ranking_metrics`)."""
    dev = scores.device
    shape = (len(batch), scores.shape[1])

    def mask_of(indptr: np.ndarray, items: np.ndarray) -> torch.Tensor:
        rows, cols = _batch_pairs(indptr, items, batch)
        mask = torch.zeros(shape, dtype=torch.bool, device=dev)
        mask[torch.as_tensor(rows, device=dev), torch.as_tensor(cols, device=dev)] = True
        return mask

    train_mask = mask_of(train_ptr, train_sorted)
    relevant = mask_of(test_ptr, test_sorted)
    ranked = scores.masked_fill(train_mask, float("-inf")).topk(k_max, dim=1).indices
    hits = (relevant.gather(1, ranked) & ~train_mask.gather(1, ranked)).double()
    n_rel = relevant.sum(dim=1).double()
    discount = 1.0 / torch.log2(torch.arange(2, k_max + 2, device=dev, dtype=torch.float64))
    ideal = torch.cat([torch.zeros(1, device=dev, dtype=torch.float64), discount.cumsum(0)])
    sums = {}
    for k in ks:
        top = hits[:, :k]
        idcg = ideal[torch.clamp(n_rel, max=min(k, k_max)).long()]
        sums[f"recall@{k}"] = float((top.sum(dim=1) / n_rel).sum())
        sums[f"ndcg@{k}"] = float(((top * discount[:k]).sum(dim=1) / idcg).sum())
    return sums
