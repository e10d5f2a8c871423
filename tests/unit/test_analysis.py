"""Tests of invlearn.chapters.analysis: measurements against the truth (book chapters 1 and 2)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_split

from invlearn import train
from invlearn.chapters import analysis
from invlearn.data import Split
from invlearn.errors import InvlearnError
from invlearn.methods import predict
from invlearn.models import GMF
from invlearn.sampling import is_pair, pair_keys


class ParityTruth:
    """A pair is truly positive when user and item have the same parity."""

    def true_label(self, users, items) -> np.ndarray:
        return ((np.asarray(users) % 2) == (np.asarray(items) % 2)).astype(np.int8)


@pytest.fixture
def split() -> Split:
    data = make_split()
    data.truth = ParityTruth()
    return data


def test_false_negative_rate_known_pairs() -> None:
    users, items = np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1])
    assert analysis.false_negative_rate(ParityTruth(), users, items) == 0.5
    with pytest.raises(InvlearnError):
        analysis.false_negative_rate(ParityTruth(), np.array([], int), np.array([], int))


def test_sample_negatives_avoids_training_pairs(split: Split) -> None:
    neg = analysis.sample_negatives(split, rate=2, seed=1)
    assert len(neg) == 2 * len(split.train)
    np.testing.assert_array_equal(neg["user"], np.repeat(split.train["user"].to_numpy(), 2))
    keys = pair_keys(split.train["user"].to_numpy(), split.train["item"].to_numpy(),
                     split.n_items)
    assert not is_pair(keys, neg["user"].to_numpy(), neg["item"].to_numpy(),
                       split.n_items).any()
    pd.testing.assert_frame_equal(neg, analysis.sample_negatives(split, rate=2, seed=1))
    # uniform items against a parity truth: about half are truly positive
    assert abs(analysis.false_negative_rate(split.truth, neg["user"], neg["item"]) - 0.5) < 0.1


def test_oracle_split_labels_sampled_pairs_with_truth(split: Split) -> None:
    oracle = analysis.oracle_split(split, rate=1, seed=3)
    n = len(split.train)
    assert len(oracle.train) == 2 * n
    pd.testing.assert_frame_equal(oracle.train.iloc[:n].reset_index(drop=True),
                                  split.train[["user", "item", "label"]])
    sampled = oracle.train.iloc[n:]
    truth = split.truth.true_label(sampled["user"], sampled["item"])
    np.testing.assert_array_equal(sampled["label"].to_numpy(), truth.astype(np.float32))
    assert oracle.train["label"].dtype == np.float32
    assert oracle.valid is split.valid and oracle.test is split.test
    fixed = analysis.oracle_split(split, rate=1, seed=3, use_truth=False)
    np.testing.assert_array_equal(fixed.train["item"], oracle.train["item"])
    assert (fixed.train["label"].iloc[n:] == 0).all()
    with pytest.raises(InvlearnError):
        analysis.oracle_split(make_split())  # no truth


def test_drop_precision_recall_counts() -> None:
    # positives (0,0) (0,2) clean, (0,1) (0,3) noisy; the negative (1,0) never counts
    table = pd.DataFrame({"user": [0, 0, 0, 0, 1], "item": [0, 1, 2, 3, 0],
                          "label": np.array([1, 1, 1, 1, 0], np.float32)})
    # the parts must differ (identical parts are an error); valid and test hold two classes
    data = Split(table, table.iloc[[0, 4]], table.iloc[[1, 2, 3, 4]], n_users=2, n_items=4, truth=ParityTruth())
    dropped = {1: {"user": np.array([0, 0]), "item": np.array([1, 2])},
               2: {"user": np.array([0, 0, 0]), "item": np.array([1, 3, 0])},
               3: {"user": np.array([], int), "item": np.array([], int)}}
    out = analysis.drop_precision_recall(dropped, data)
    assert list(out.index) == [1, 2, 3]
    assert out.loc[1, "precision"] == 0.5 and out.loc[1, "recall"] == 0.5
    assert out.loc[2, "precision"] == pytest.approx(2 / 3) and out.loc[2, "recall"] == 1.0
    assert out.loc[3, "dropped"] == 0 and math.isnan(out.loc[3, "precision"])
    assert (out["noisy_share"] == 0.5).all()


def test_row_bce_at_zero_logits() -> None:
    model = GMF(3, 4, dim=2)
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()
    table = pd.DataFrame({"user": [0, 1, 2], "item": [3, 2, 1],
                          "label": np.array([1, 0, 1], np.float32)})
    np.testing.assert_allclose(analysis.row_bce(model, table), [math.log(2)] * 3, rtol=1e-6)


@pytest.mark.parametrize("method", ["ns", "dns", "srns"])
def test_recorder_keeps_the_trained_negatives(split: Split, method: str) -> None:
    settings = {"method": method, "epochs": 2, "batch_size": 64, "seed": 0, "threads": 1,
                "progress": False, "full_ranking": False}
    rec = analysis.NegativeRecorder.for_split(split, seed=0)
    with_rec = train(split, model=rec, **settings)
    without = train(split, **settings)
    assert with_rec.metrics == without.metrics  # recording changes nothing
    steps = math.ceil(len(split.train) / 64)
    assert len(rec.steps) == 2 * steps
    users = np.concatenate([u for u, _ in rec.steps])
    items = np.concatenate([i for _, i in rec.steps])
    assert len(users) == 2 * len(split.train)
    assert np.array_equal(np.sort(users[:len(split.train)]), np.sort(split.train["user"]))
    keys = pair_keys(split.train["user"].to_numpy(), split.train["item"].to_numpy(),
                     split.n_items)
    assert not is_pair(keys, users, items, split.n_items).any()
    # the labeled half: each epoch's training rows once, with the logits of the model at that step
    assert len(rec.labeled) == 2 * steps
    first = np.concatenate([i for _, i, _ in rec.labeled[:steps]])
    assert np.array_equal(np.sort(first), np.sort(split.train["item"]))
    u0, i0, logits0 = rec.labeled[0]  # the first step comes before any update
    fresh = analysis.NegativeRecorder.for_split(split, seed=0).model
    np.testing.assert_allclose(logits0, predict(fresh, torch.as_tensor(u0),
                                                torch.as_tensor(i0)).numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(rec.labeled[-1][2], predict(fresh, torch.as_tensor(rec.labeled[-1][0]),
                                                       torch.as_tensor(rec.labeled[-1][1])).numpy())
    share = analysis.negative_truth_by_epoch(rec, split.truth, steps)
    assert list(share.index) == [1, 2] and ((share >= 0) & (share <= 1)).all()
    with pytest.raises(InvlearnError):
        analysis.negative_truth_by_epoch(rec, split.truth, steps + 1)


def test_true_labels_oracle_trains_each_epoch_draw_on_the_truth(monkeypatch) -> None:
    """NS with ``true_labels``: every epoch's sampled pairs carry feed.true_label, the labeled
    rows keep their labels, and the draws are those of plain NS with the same seed."""
    import dataclasses

    from invlearn import methods
    from invlearn.simfeed import simulate_feed

    feed = simulate_feed("toy", seed=0)
    data = feed.to_split(seed=0)
    seen: list = []

    def spy(run, batch, logits):
        seen.append((run.cfg.true_labels, batch.users.numpy(), batch.items.numpy(),
                     batch.targets.numpy(), batch.n_labeled))
        return methods.bce_loss(run, batch, logits)

    monkeypatch.setitem(methods.METHOD_TABLE, "ns",
                        dataclasses.replace(methods.METHOD_TABLE["ns"], loss=spy))
    settings = {"method": "ns", "epochs": 2, "batch_size": 256, "seed": 4, "progress": False,
                "full_ranking": False, "device": "cpu"}
    train(data, true_labels=True, **settings)
    oracle, seen[:] = list(seen), []
    train(data, **settings)
    assert len(oracle) == len(seen) > 2
    sampled_positive = 0
    for (flag, u, i, y, n), (_, u0, i0, y0, _) in zip(oracle, seen):
        assert flag
        np.testing.assert_array_equal(y[n:], feed.true_label(u[n:], i[n:]).astype(np.float32))
        np.testing.assert_array_equal(y[:n], y0[:n])  # observed labels kept
        np.testing.assert_array_equal(i, i0)  # the same draws as NS ...
        assert (y0[n:] == 0).all()  # ... which calls them all negatives
        sampled_positive += int(y[n:].sum())
    assert sampled_positive > 0
    with pytest.raises(InvlearnError, match="true_labels"):
        train(data, true_labels=True, **{**settings, "method": "idl"})
    with pytest.raises(InvlearnError, match="true_labels"):
        train(make_split(), true_labels=True, **settings)  # no truth
