"""Tests of invlearn.metrics against brute-force per-user loops and hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from invlearn import metrics
from invlearn.errors import InvlearnError

# ---------------------------------------------------------------------------------------------
# Brute-force references: plain Python loops, straight from the definitions.


def brute_auc(labels, scores) -> float:
    pos = [s for y, s in zip(labels, scores) if y == 1]
    neg = [s for y, s in zip(labels, scores) if y == 0]
    if not pos or not neg:
        return math.nan
    total = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return total / (len(pos) * len(neg))


def rows_by_user(users, labels, scores) -> dict:
    out: dict = {}
    for row, (u, y, s) in enumerate(zip(users, labels, scores)):
        out.setdefault(u, []).append((row, int(y), float(s)))
    return out


def brute_gauc(users, labels, scores, weighted=True) -> float:
    num = den = 0.0
    for rows in rows_by_user(users, labels, scores).values():
        value = brute_auc([r[1] for r in rows], [r[2] for r in rows])
        if math.isnan(value):
            continue
        weight = len(rows) if weighted else 1
        num += weight * value
        den += weight
    return num / den if den else math.nan


def ranked_labels(rows) -> list:
    """Labels in score order, highest first, ties by row order (the documented tie-break)."""
    return [y for _, y, _ in sorted(rows, key=lambda r: (-r[2], r[0]))]


def brute_ndcg(users, labels, scores, k=10) -> float:
    values = []
    for rows in rows_by_user(users, labels, scores).values():
        ys = ranked_labels(rows)
        if sum(ys) == 0:
            continue
        dcg = sum(y / math.log2(r + 2) for r, y in enumerate(ys[:k]))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(k, sum(ys))))
        values.append(dcg / idcg)
    return sum(values) / len(values) if values else math.nan


def brute_mrr(users, labels, scores) -> float:
    values = []
    for rows in rows_by_user(users, labels, scores).values():
        ys = ranked_labels(rows)
        if sum(ys):
            values.append(1.0 / (ys.index(1) + 1))
    return sum(values) / len(values) if values else math.nan


def random_rows(rng, n_rows, n_users, tied=True, p_pos=0.6):
    users = rng.integers(0, n_users, n_rows)
    labels = (rng.random(n_rows) < p_pos).astype(int)
    scores = rng.integers(0, 4, n_rows).astype(float) if tied else rng.normal(size=n_rows)
    # One user with only positives, one with only negatives, one with a single row.
    extra_u = np.array([n_users, n_users, n_users + 1, n_users + 1, n_users + 2])
    extra_y = np.array([1, 1, 0, 0, 1])
    extra_s = np.array([1.0, 1.0, 2.0, 0.0, 3.0])
    return (np.concatenate([users, extra_u]), np.concatenate([labels, extra_y]),
            np.concatenate([scores, extra_s]))


CASES = [(seed, tied) for seed in range(6) for tied in (True, False)]


# ---------------------------------------------------------------------------------------------
# Labeled-row metrics


@pytest.mark.parametrize("seed,tied", CASES)
def test_against_brute_force(seed, tied):
    rng = np.random.default_rng(seed)
    users, labels, scores = random_rows(rng, int(rng.integers(20, 120)), 8, tied)
    assert metrics.auc(labels, scores) == pytest.approx(brute_auc(labels, scores), abs=1e-12)
    for weighted in (True, False):
        assert metrics.gauc(users, labels, scores, weighted) == pytest.approx(
            brute_gauc(users, labels, scores, weighted), abs=1e-12)
    for k in (1, 3, 10):
        assert metrics.ndcg_at_k(users, labels, scores, k) == pytest.approx(
            brute_ndcg(users, labels, scores, k), abs=1e-12)
    assert metrics.mrr(users, labels, scores) == pytest.approx(
        brute_mrr(users, labels, scores), abs=1e-12)
    out = metrics.labeled_metrics(users, labels, scores, k=5)
    assert list(out) == ["auc", "gauc", "gauc_unweighted", "ndcg@5", "mrr"]
    assert out["auc"] == pytest.approx(brute_auc(labels, scores), abs=1e-12)
    assert out["gauc"] == pytest.approx(brute_gauc(users, labels, scores), abs=1e-12)
    assert out["gauc_unweighted"] == pytest.approx(
        brute_gauc(users, labels, scores, weighted=False), abs=1e-12)
    assert out["ndcg@5"] == pytest.approx(brute_ndcg(users, labels, scores, 5), abs=1e-12)
    assert out["mrr"] == pytest.approx(brute_mrr(users, labels, scores), abs=1e-12)
    assert all(isinstance(v, float) for v in out.values())


@pytest.mark.parametrize("seed", range(4))
def test_per_user_auc_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    users, labels, scores = random_rows(rng, 80, 6, tied=True)
    ids, values, counts = metrics.per_user_auc(users, labels, scores)
    expected = {}
    for u, rows in rows_by_user(users, labels, scores).items():
        value = brute_auc([r[1] for r in rows], [r[2] for r in rows])
        if not math.isnan(value):
            expected[u] = (value, len(rows))
    assert list(ids) == sorted(expected)
    np.testing.assert_allclose(values, [expected[u][0] for u in ids], atol=1e-12)
    assert list(counts) == [expected[u][1] for u in ids]
    assert 6 not in ids and 7 not in ids and 8 not in ids  # one-class users are left out


def test_hand_computed_four_rows():
    # One user; scores 0.9, 0.8, 0.7, 0.1 with labels 0, 1, 1, 0.
    users = [7, 7, 7, 7]
    labels = [0, 1, 1, 0]
    scores = [0.9, 0.8, 0.7, 0.1]
    # Pairs (pos, neg): (0.8, 0.9) lose, (0.8, 0.1) win, (0.7, 0.9) lose, (0.7, 0.1) win -> 2/4.
    assert metrics.auc(labels, scores) == 0.5
    assert metrics.gauc(users, labels, scores) == 0.5
    # Ranked labels 0, 1, 1, 0: DCG = 1/log2(3) + 1/log2(4), IDCG = 1 + 1/log2(3).
    ndcg = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    assert metrics.ndcg_at_k(users, labels, scores, k=10) == pytest.approx(ndcg)
    assert metrics.ndcg_at_k(users, labels, scores, k=1) == 0.0
    assert metrics.mrr(users, labels, scores) == 0.5


def test_hand_computed_ties_and_users():
    # Pooled: positives 2, 1; negatives 1, 0 -> pairs: 1 + 1 + 0.5 + 1 = 3.5 of 4.
    users = np.array([0, 0, 1, 1])
    labels = np.array([1, 0, 1, 0])
    scores = np.array([2.0, 1.0, 1.0, 0.0])
    assert metrics.auc(labels, scores) == 0.875
    assert metrics.gauc(users, labels, scores) == 1.0
    # Full tie within a user: AUC 1/2; the stable tie-break puts row order first.
    assert metrics.auc([1, 0], [3, 3]) == 0.5
    assert metrics.mrr([0, 0], [0, 1], [3, 3]) == 0.5
    assert metrics.mrr([0, 0], [1, 0], [3, 3]) == 1.0
    # Weighted vs unweighted GAUC: user 0 (4 rows) AUC 1, user 1 (2 rows) AUC 0.
    users = [0, 0, 0, 0, 1, 1]
    labels = [1, 1, 0, 0, 1, 0]
    scores = [4, 3, 2, 1, 0, 5]
    assert metrics.gauc(users, labels, scores) == pytest.approx(4 / 6)
    assert metrics.gauc(users, labels, scores, weighted=False) == 0.5


def test_nan_cases():
    assert math.isnan(metrics.auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(metrics.gauc([0, 0, 1], [1, 1, 0], [0.1, 0.2, 0.3]))
    assert math.isnan(metrics.ndcg_at_k([0, 1], [0, 0], [0.1, 0.2]))
    assert math.isnan(metrics.mrr([0, 1], [0, 0], [0.1, 0.2]))
    ids, values, counts = metrics.per_user_auc([0, 1], [1, 0], [0.5, 0.5])
    assert len(ids) == len(values) == len(counts) == 0


@pytest.mark.parametrize("seed", range(3))
def test_monotone_transform_invariance(seed):
    rng = np.random.default_rng(seed)
    users, labels, scores = random_rows(rng, 200, 10, tied=True)
    base = metrics.labeled_metrics(users, labels, scores)
    for transform in (lambda s: 3 * s - 7, np.exp, lambda s: 1 / (1 + np.exp(-s)),
                      lambda s: s.astype(np.float32), lambda s: s.astype(np.int64)):
        assert metrics.labeled_metrics(users, labels, transform(scores)) == pytest.approx(base)


@pytest.mark.parametrize("seed", range(3))
def test_row_permutation_invariance(seed):
    rng = np.random.default_rng(seed)
    users, labels, scores = random_rows(rng, 200, 10, tied=False)
    base = metrics.labeled_metrics(users, labels, scores)
    perm = rng.permutation(len(users))
    assert metrics.labeled_metrics(users[perm], labels[perm], scores[perm]) == pytest.approx(base)
    # With tied scores AUC and GAUC stay invariant (ties are averaged), NDCG / MRR need not be.
    users, labels, scores = random_rows(rng, 200, 10, tied=True)
    perm = rng.permutation(len(users))
    for weighted in (True, False):
        assert metrics.gauc(users[perm], labels[perm], scores[perm], weighted) == pytest.approx(
            metrics.gauc(users, labels, scores, weighted))
    assert metrics.auc(labels[perm], scores[perm]) == pytest.approx(metrics.auc(labels, scores))


def test_user_ids_of_any_kind():
    rng = np.random.default_rng(0)
    users, labels, scores = random_rows(rng, 100, 5, tied=True)
    names = np.array([f"user-{u}" for u in users])
    assert metrics.labeled_metrics(names, labels, scores) == pytest.approx(
        metrics.labeled_metrics(users * 1000 - 5, labels, scores))
    assert metrics.labeled_metrics(torch.as_tensor(users), torch.as_tensor(labels == 1),
                                   torch.as_tensor(scores)) == pytest.approx(
        metrics.labeled_metrics(users, labels, scores))


@pytest.mark.parametrize("call,match", [
    (lambda: metrics.auc([1, 0], [0.1]), "scores"),
    (lambda: metrics.auc([], []), "labels"),
    (lambda: metrics.auc([1, 2], [0.1, 0.2]), "labels"),
    (lambda: metrics.auc([1, np.nan], [0.1, 0.2]), "labels"),
    (lambda: metrics.auc([1, 0], [0.1, np.nan]), "scores"),
    (lambda: metrics.auc([[1, 0]], [[0.1, 0.2]]), "labels"),
    (lambda: metrics.auc(["a", "b"], [0.1, 0.2]), "labels"),
    (lambda: metrics.gauc([0], [1, 0], [0.1, 0.2]), "users"),
    (lambda: metrics.ndcg_at_k([0, 0], [1, 0], [0.1, 0.2], k=0), "k"),
    (lambda: metrics.mrr([0, 0], [1, -1], [0.1, 0.2]), "labels"),
    (lambda: metrics.labeled_metrics([0, 0], [1, 0], [0.1, 0.2, 0.3]), "scores"),
    (lambda: metrics.per_user_auc([0, 0, 0], [1, 0], [0.1, 0.2]), "users"),
])
def test_input_errors(call, match):
    with pytest.raises(InvlearnError, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# Full ranking


def brute_full_ranking(score_matrix, train_pairs, test_pairs, ks):
    n_items = score_matrix.shape[1]
    train: dict = {}
    test: dict = {}
    for u, i in train_pairs:
        train.setdefault(u, set()).add(i)
    for u, i in test_pairs:
        test.setdefault(u, set()).add(i)
    sums = {f"{name}@{k}": 0.0 for k in ks for name in ("recall", "ndcg")}
    for u, relevant in test.items():
        candidates = [i for i in range(n_items) if i not in train.get(u, set())]
        ranked = sorted(candidates, key=lambda i: -score_matrix[u, i])
        for k in ks:
            hits = [1.0 if i in relevant else 0.0 for i in ranked[:k]]
            sums[f"recall@{k}"] += sum(hits) / len(relevant)
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2) for r in range(min(k, len(relevant))))
            sums[f"ndcg@{k}"] += dcg / idcg
    return {key: value / len(test) for key, value in sums.items()}


def random_ranking_problem(seed, n_users=13, n_items=30):
    rng = np.random.default_rng(seed)
    score_matrix = rng.normal(size=(n_users, n_items))  # continuous: no ties for topk
    train_pairs = sorted({(int(rng.integers(n_users)), int(rng.integers(n_items)))
                          for _ in range(120)})
    test_pairs = [(int(rng.integers(n_users - 2)), int(rng.integers(n_items))) for _ in range(40)]
    test_pairs = [p for p in test_pairs if p not in set(train_pairs)]
    test_pairs += test_pairs[:3]  # duplicated test pairs count once
    return score_matrix, train_pairs, test_pairs


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("batch_users", [1, 4, 1024])
def test_full_ranking_against_brute_force(seed, batch_users):
    score_matrix, train_pairs, test_pairs = random_ranking_problem(seed)
    table = torch.as_tensor(score_matrix)
    tr_u, tr_i = np.array(train_pairs).T
    te_u, te_i = np.array(test_pairs).T
    ks = (3, 10)
    got = metrics.full_ranking_metrics(lambda users: table[users], tr_u, tr_i, te_u, te_i,
                                       score_matrix.shape[0], score_matrix.shape[1], ks=ks,
                                       batch_users=batch_users)
    expected = brute_full_ranking(score_matrix, train_pairs, test_pairs, ks)
    assert list(got) == ["recall@3", "ndcg@3", "recall@10", "ndcg@10"]
    assert got == pytest.approx(expected, abs=1e-12)
    assert all(isinstance(v, float) for v in got.values())


def test_full_ranking_hand_computed_and_cutoff_beyond_catalogue():
    # One user, 4 items; item 0 is a training item with the highest score; test item is 2.
    table = torch.tensor([[9.0, 3.0, 2.0, 1.0]])
    out = metrics.full_ranking_metrics(lambda u: table[u], [0], [0], [0], [2], 1, 4, ks=(1, 2, 9))
    assert out["recall@1"] == 0.0 and out["ndcg@1"] == 0.0
    assert out["recall@2"] == 1.0 and out["ndcg@2"] == pytest.approx(1 / math.log2(3))
    # K = 9 is beyond the 4 items: the masked item 0 fills a slot but is never a hit.
    assert out["recall@9"] == 1.0 and out["ndcg@9"] == pytest.approx(1 / math.log2(3))
    # Without training items the top item is a hit.
    out = metrics.full_ranking_metrics(lambda u: table[u], [], [], [0], [0], 1, 4, ks=(1,))
    assert out == {"recall@1": 1.0, "ndcg@1": 1.0}


def test_full_ranking_input_errors():
    table = torch.zeros(2, 3)

    def score(users):
        return table[users]

    def run(**changes):
        args = {"score_fn": score, "train_users": [0], "train_items": [1], "test_users": [1],
                "test_items": [2], "n_users": 2, "n_items": 3}
        args.update(changes)
        return metrics.full_ranking_metrics(**args)

    with pytest.raises(InvlearnError, match="test_items"):
        run(test_items=[3])
    with pytest.raises(InvlearnError, match="train_users"):
        run(train_users=[0, 1])
    with pytest.raises(InvlearnError, match="test_users"):
        run(test_users=[], test_items=[])
    with pytest.raises(InvlearnError, match="train_users"):
        run(train_users=[-1])
    with pytest.raises(InvlearnError, match="ks"):
        run(ks=(0,))
    with pytest.raises(InvlearnError, match="score_fn"):
        run(score_fn=lambda users: torch.zeros(len(users), 2))
