"""Tests of the simulated passive feed (invlearn.simfeed; book chapter 1)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from invlearn import simfeed
from invlearn.errors import InvlearnError
from invlearn.simfeed import KNOBS, SIZES, SimFeed, simulate_feed


@pytest.fixture(scope="module")
def toy() -> SimFeed:
    return simulate_feed("toy", seed=3)


@pytest.fixture(scope="module")
def small() -> SimFeed:
    return simulate_feed("small", seed=0)


def test_presets() -> None:
    assert list(SIZES) == ["toy", "small", "mid", "industrial"]
    assert SIZES["industrial"]["n_users"] == 37_692
    assert SIZES["industrial"]["n_items"] == 131_690


def test_same_seed_same_feed(toy: SimFeed) -> None:
    again = simulate_feed("toy", seed=3)
    pd.testing.assert_frame_equal(toy.impressions, again.impressions)
    np.testing.assert_array_equal(toy.user_factors, again.user_factors)
    np.testing.assert_array_equal(toy.item_factors, again.item_factors)
    assert toy.threshold == again.threshold
    assert toy.stats() == again.stats()
    other = simulate_feed("toy", seed=4)
    assert not np.array_equal(toy.user_factors, other.user_factors)
    assert not toy.impressions.equals(other.impressions)


def test_shapes_dtypes_and_ranges(toy: SimFeed) -> None:
    imp = toy.impressions
    preset = SIZES["toy"]
    assert (toy.n_users, toy.n_items) == (preset["n_users"], preset["n_items"])
    assert len(imp) == preset["n_impressions"]
    assert list(imp.columns) == ["user", "item", "duration", "watch_time", "finish_rate", "label"]
    assert imp["user"].dtype == np.int64 and imp["item"].dtype == np.int64
    for col in ("duration", "watch_time", "finish_rate"):
        assert imp[col].dtype == np.float32
    assert imp["label"].dtype == np.int8
    assert imp["user"].between(0, toy.n_users - 1).all()
    assert imp["item"].between(0, toy.n_items - 1).all()
    assert not imp.duplicated(["user", "item"]).any()
    per_user = np.bincount(imp["user"], minlength=toy.n_users)
    assert per_user.min() >= KNOBS["min_per_user"]
    assert per_user.max() > 5 * np.median(per_user)  # heavy-tailed activity
    assert imp["duration"].between(KNOBS["duration_min"], KNOBS["duration_max"]).all()
    assert imp["finish_rate"].between(0, 1).all()
    np.testing.assert_allclose(imp["watch_time"], imp["finish_rate"] * imp["duration"], rtol=1e-5)
    assert toy.user_factors.shape == (toy.n_users, 16)
    assert toy.item_factors.shape == (toy.n_items, 16)
    assert toy.name == "sim-toy"


def test_overrides_and_dense_feed() -> None:
    feed = simulate_feed("toy", n_users=20, n_items=30, n_impressions=600, dim=4, seed=1)
    imp = feed.impressions
    assert feed.name == "sim-20x30x600"
    assert len(imp) == 600 and not imp.duplicated(["user", "item"]).any()  # every pair shown
    assert feed.user_factors.shape == (20, 4)
    nearly = simulate_feed("toy", n_users=20, n_items=30, n_impressions=590, seed=1)
    assert len(nearly.impressions) == 590
    assert not nearly.impressions.duplicated(["user", "item"]).any()


def test_label_rule(small: SimFeed) -> None:
    imp = small.impressions
    finish, label = imp["finish_rate"], imp["label"]
    assert ((label == 1) == (finish > 0.8)).all()
    assert ((label == 0) == (finish < 0.2)).all()
    assert ((label == -1) == finish.between(0.2, 0.8)).all()


def test_true_label_follows_affinity(small: SimFeed) -> None:
    rng = np.random.default_rng(5)
    users = rng.integers(0, small.n_users, 50_000)
    items = rng.integers(0, small.n_items, 50_000)
    a = small.affinity(users, items)
    direct = (np.einsum("nd,nd->n", small.user_factors[users], small.item_factors[items])
              + small.user_bias[users] + small.item_bias[items])
    np.testing.assert_allclose(a, direct, rtol=1e-5, atol=1e-5)
    y = small.true_label(users, items)
    assert y.dtype == np.int8 and set(np.unique(y)) <= {0, 1}
    np.testing.assert_array_equal(y, (a > np.float32(small.threshold)).astype(np.int8))
    p = small.true_preference(users, items)
    assert ((p > 0) & (p < 1)).all()
    away = np.abs(a - small.threshold) > 1e-3
    np.testing.assert_array_equal((p > 0.5)[away], y[away] == 1)
    # broadcasting: one user against the whole catalogue
    row = small.true_label(7, np.arange(small.n_items))
    assert row.shape == (small.n_items,)
    np.testing.assert_array_equal(row, small.true_label(np.full(small.n_items, 7),
                                                        np.arange(small.n_items)))


def test_chunked_affinity_matches(small: SimFeed, monkeypatch: pytest.MonkeyPatch) -> None:
    users, items = np.arange(1000) % small.n_users, np.arange(1000) * 7 % small.n_items
    whole = small.affinity(users, items)
    monkeypatch.setattr(simfeed, "_CHUNK", 37)
    np.testing.assert_array_equal(small.affinity(users, items), whole)


@pytest.mark.parametrize("rate", [0.35, 0.2])
def test_random_pairs_hit_positive_rate(rate: float) -> None:
    feed = simulate_feed("small", positive_rate=rate, seed=2)
    rng = np.random.default_rng(11)
    n = 200_000
    drawn = feed.true_label(rng.integers(0, feed.n_users, n),
                            rng.integers(0, feed.n_items, n))
    assert abs(drawn.mean() - rate) < 0.01
    assert abs(feed.stats()["random_true_positive_rate"] - rate) < 0.005


def test_labels_agree_with_truth(small: SimFeed) -> None:
    lab = small.labeled()
    truth = small.true_label(lab["user"].to_numpy(), lab["item"].to_numpy())
    y = lab["label"].to_numpy()
    agree = (truth == y).mean()
    chance = y.mean() * truth.mean() + (1 - y.mean()) * (1 - truth.mean())
    assert agree > chance + 0.2
    assert 0.85 <= agree <= 0.97  # mostly right, not perfect
    stats = small.stats()
    assert stats["label_agreement"] == pytest.approx(agree)
    assert 0.2 <= stats["labeled_fraction"] <= 0.45
    assert 0.35 <= stats["positive"] / stats["labeled"] <= 0.65  # roughly balanced


def test_feed_leans_toward_liked_items(small: SimFeed) -> None:
    stats = small.stats()
    assert stats["feed_true_positive_rate"] > stats["random_true_positive_rate"] + 0.1


def test_stats_counts(small: SimFeed) -> None:
    s = small.stats()
    assert s["impressions"] == len(small.impressions) == SIZES["small"]["n_impressions"]
    assert s["labeled"] == s["positive"] + s["negative"]
    assert s["labeled"] + s["unlabeled"] == s["impressions"]
    assert (s["users"], s["items"]) == (small.n_users, small.n_items)


def test_labeled_table(small: SimFeed) -> None:
    lab = small.labeled()
    assert lab["user"].dtype == np.int64 and lab["item"].dtype == np.int64
    assert lab["label"].dtype == np.float32
    assert set(np.unique(lab["label"])) == {0.0, 1.0}
    assert len(lab) == small.stats()["labeled"]


def test_to_split(small: SimFeed) -> None:
    split = small.to_split(seed=1)
    parts = [split.train, split.valid, split.test]
    n = small.stats()["labeled"]
    assert sum(len(p) for p in parts) == n
    for part, frac in zip(parts, (0.6, 0.2, 0.2)):
        assert abs(len(part) - frac * n) <= 1
        assert part["user"].dtype == np.int64 and part["label"].dtype == np.float32
    keys = [set(zip(p["user"], p["item"])) for p in parts]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert split.truth is small and split.name == "sim-small"
    assert split.info["labeled"] == n and split.info["split_seed"] == 1
    assert (split.n_users, split.n_items) == (small.n_users, small.n_items)
    pd.testing.assert_frame_equal(small.to_split(seed=1).test, split.test)
    assert not small.to_split(seed=2).test.equals(split.test)
    other = small.to_split(fractions=(0.8, 0.1, 0.1))
    assert abs(len(other.train) - 0.8 * n) <= 1


@pytest.mark.parametrize("kwargs", [
    {"size": "huge"},
    {"n_users": 0},
    {"n_users": 1.5},
    {"n_items": -3},
    {"n_impressions": True},
    {"n_users": 10, "n_items": 10, "n_impressions": 101},
    {"n_users": 100, "n_items": 10, "n_impressions": 50},
    {"positive_rate": 0.0},
    {"positive_rate": 1.0},
    {"positive_rate": float("nan")},
    {"dim": 0},
    {"seed": -1},
    {"no_such_knob": 1},
    {"explore": 1.5},
    {"temperature": 0},
    {"n_candidates": 0},
    {"duration_min": 100.0},
])
def test_bad_arguments(kwargs: dict) -> None:
    args = {"size": "toy", **kwargs}
    with pytest.raises(InvlearnError):
        simulate_feed(**args)


def test_bad_ids_and_fractions(toy: SimFeed) -> None:
    with pytest.raises(InvlearnError, match="users"):
        toy.affinity([toy.n_users], [0])
    with pytest.raises(InvlearnError, match="items"):
        toy.true_label([0], [-1])
    with pytest.raises(InvlearnError, match="integer"):
        toy.true_label([0.5], [1])
    with pytest.raises(InvlearnError, match="fractions"):
        toy.to_split(fractions=(0.5, 0.5))
    with pytest.raises(InvlearnError, match="fractions"):
        toy.to_split(fractions=(0.7, 0.2, 0.2))
