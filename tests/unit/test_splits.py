"""Tests of invlearn.splits: checks of a Split, label sparsity, unlabeled pools (chapters 1, 9)."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from invlearn.errors import InvlearnError, InvlearnWarning
from invlearn.simfeed import simulate_feed
from invlearn.splits import POOLS, Split, label_fraction, random_split, unlabeled_pool


def table(users, items, labels) -> pd.DataFrame:
    return pd.DataFrame({"user": np.asarray(users, np.int64), "item": np.asarray(items, np.int64),
                         "label": np.asarray(labels, np.float32)})


TRAIN = table([0, 0, 1, 1, 2, 2, 0], [0, 1, 0, 2, 1, 2, 3], [1, 0, 1, 0, 1, 0, 1])
VALID = table([0, 1, 2], [2, 1, 0], [1, 0, 1])
TEST = table([1, 2], [3, 3], [1, 0])


def make(train=TRAIN, valid=VALID, test=TEST, **kwargs) -> Split:
    return Split(train, valid, test, n_users=3, n_items=4, name="t", **kwargs)


@pytest.fixture(scope="module")
def sim() -> Split:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        return simulate_feed("toy", seed=2).to_split(seed=2)


# ------------------------------------------------------------------------------ checks


def test_a_clean_split_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split = make()
    assert split.hidden is None and split.ambiguous is None


def test_conflicting_duplicates_are_an_error():
    bad = pd.concat([TRAIN, table([0], [0], [0])], ignore_index=True)  # (0, 0) is 1 in TRAIN
    with pytest.raises(InvlearnError, match=r"t: the train part has 1 \(user, item\) pair\(s\) "
                                            "with both labels 0 and 1"):
        make(train=bad)


def test_identical_duplicates_warn_with_counts():
    twice = pd.concat([TRAIN, TRAIN.iloc[[0, 0, 3]]], ignore_index=True)
    with pytest.warns(InvlearnWarning, match=r"train part repeats 2 .* \(3 extra row\(s\)\)"):
        make(train=twice)


def test_pairs_shared_between_parts_warn_with_counts():
    shared = pd.concat([TEST, TRAIN.iloc[:2]], ignore_index=True)
    with pytest.warns(InvlearnWarning, match=r"2 \(user, item\) pair\(s\) of the test part are "
                                             "also in the train part"):
        make(test=shared)


@pytest.mark.parametrize(("parts", "message"), [
    ({"test": VALID.copy()}, "test part holds the same rows as the valid part"),
    ({"test": TRAIN.iloc[::-1].reset_index(drop=True)}, "same rows as the train part"),
])
def test_identical_parts_are_an_error(parts, message):
    with pytest.raises(InvlearnError, match=message), warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        make(**parts)


@pytest.mark.parametrize("value", [2.0, -1.0, 0.5, np.nan])
def test_labels_outside_0_1_name_the_part_and_value(value):
    bad = VALID.copy()
    bad.loc[1, "label"] = value
    with pytest.raises(InvlearnError, match=rf"t: valid labels must be 0 or 1, found {value}"):
        make(valid=bad)


def test_string_labels_and_float_ids_are_errors():
    with pytest.raises(InvlearnError, match="train labels must be 0 or 1, found 'yes'"):
        make(train=TRAIN.assign(label=["yes"] + [1] * 6))
    with pytest.raises(InvlearnError, match="test item ids must be integers"):
        make(test=TEST.assign(item=TEST["item"].astype(float)))


@pytest.mark.parametrize("part", ["valid", "test"])
def test_a_single_class_valid_or_test_is_an_error(part):
    one_class = {"valid": VALID, "test": TEST}[part].assign(label=np.float32(1))
    with pytest.raises(InvlearnError, match=f"the {part} part has a single class.*AUC"):
        make(**{part: one_class})


def test_unseen_users_and_items_warn_with_counts():
    train = TRAIN[(TRAIN["user"] != 2) & (TRAIN["item"] != 3)].reset_index(drop=True)
    with pytest.warns(InvlearnWarning) as record:
        make(train=train)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1  # one line per split, with every count
    assert "t: never in train: valid 1 users (1 rows)" in messages[0]
    assert "test 1 items (2 rows)" in messages[0]


def test_toy_split_of_conftest_is_valid(toy_split):
    assert toy_split.valid["label"].nunique() == 2


# ------------------------------------------------------------------------------ label_fraction


def big_split(n: int = 2000, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    pairs = rng.choice(50 * 80, size=n, replace=False)
    rows = table(pairs // 80, pairs % 80, rng.integers(0, 2, n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        return random_split(rows, seed=seed, n_users=50, n_items=80)


def keys(frame: pd.DataFrame) -> set:
    return set(zip(frame["user"].tolist(), frame["item"].tolist(), frame["label"].tolist()))


def test_label_fraction_keeps_nested_subsets():
    split = big_split()
    n = len(split.train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        thinned = [label_fraction(split, f, seed=7) for f in (0.01, 0.03, 0.1, 0.5, 1)]
    assert [len(s.train) for s in thinned] == [12, 36, 120, 600, n]
    for small, large in itertools.pairwise(thinned):
        assert keys(small.train) < keys(large.train)
    assert len(thinned[-1].hidden) == 0
    assert keys(thinned[-1].train) == keys(split.train)
    other = label_fraction(split, 0.1, seed=8)
    assert keys(other.train) != keys(thinned[2].train)


def test_hidden_rows_are_exactly_the_withheld_training_rows():
    split = big_split()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        thin = label_fraction(split, 0.05, seed=1)
    assert list(thin.hidden.columns) == ["user", "item", "label"]
    assert not keys(thin.hidden) & keys(thin.train)
    assert keys(thin.hidden) | keys(thin.train) == keys(split.train)
    assert len(thin.hidden) + len(thin.train) == len(split.train)
    assert thin.valid is split.valid and thin.test is split.test
    assert thin.info["label_fraction"] == 0.05
    assert len(unlabeled_pool(thin, "hidden")) == len(thin.hidden)


def test_label_fraction_keeps_at_least_one_row():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        assert len(label_fraction(big_split(), 1e-9).train) == 1


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, float("nan"), "0.1", None, True])
def test_bad_fractions_are_an_error(fraction):
    with pytest.raises(InvlearnError, match="fraction must be a number in"):
        label_fraction(big_split(), fraction)


# ------------------------------------------------------------------------------ pools


def test_ambiguous_impressions_of_the_simulator(sim):
    amb = sim.ambiguous
    assert list(amb.columns) == ["user", "item", "finish", "label"]
    assert len(amb) > 0
    assert amb["finish"].between(0.2, 0.8).all()
    labeled = set().union(*(set(zip(p["user"], p["item"])) for p in (sim.train, sim.valid,
                                                                     sim.test)))
    assert not labeled & set(zip(amb["user"], amb["item"]))
    np.testing.assert_array_equal(amb["label"], sim.truth.true_label(amb["user"], amb["item"]))
    imp = sim.truth.impressions
    assert len(amb) == int((imp["label"] == -1).sum())
    pool = unlabeled_pool(sim, "ambiguous")
    assert list(pool.columns) == ["user", "item"] and len(pool) == len(amb)


def test_unavailable_pools_say_why(sim):
    movielens_like = make()
    with pytest.raises(InvlearnError, match="pool 'ambiguous' needs the simulated feed"):
        unlabeled_pool(movielens_like, "ambiguous")
    with pytest.raises(InvlearnError, match="pool 'hidden' needs label_fraction"):
        unlabeled_pool(movielens_like, "hidden")
    with pytest.raises(InvlearnError, match="pool 'hidden' of .* is empty at fraction 1"):
        unlabeled_pool(label_fraction(sim, 1.0), "hidden")
    with pytest.raises(InvlearnError, match="unknown unlabeled pool 'noise'"):
        unlabeled_pool(sim, "noise")
    assert unlabeled_pool(sim, "random") is None
    assert POOLS == ("random", "hidden", "ambiguous", "unlabeled")


def test_text_labels_are_an_error_even_when_they_read_as_numbers():
    with pytest.raises(InvlearnError, match="test labels must be 0 or 1, found '1'"):
        make(test=TEST.astype({"label": object}).assign(label=["1", 0.0]))


# ------------------------------------------------------------------------------ the module graph


def test_the_data_layer_has_no_import_cycle():
    import ast
    import pathlib

    import invlearn

    folder = pathlib.Path(invlearn.__file__).parent
    graph = {}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        graph[path.stem] = {node.module.split(".")[0] for node in ast.walk(tree)
                            if isinstance(node, ast.ImportFrom) and node.level == 1
                            and node.module}

    def reaches(start: str, goal: str, seen: set) -> bool:
        return any(dep == goal or (dep not in seen and reaches(dep, goal, seen | {dep}))
                   for dep in graph.get(start, ()))

    for module in ("data", "movielens", "splits", "simfeed", "sampling"):
        assert not reaches(module, module, {module}), f"{module} imports itself through others"
    assert graph["simfeed"] <= {"errors", "sampling", "splits"}
    assert graph["movielens"] == {"errors"}


def test_pools_without_their_columns_are_an_error():
    with pytest.raises(InvlearnError, match="the hidden pool must be a table with columns user"):
        make(hidden=pd.DataFrame({"user": [0]}))
    with pytest.raises(InvlearnError, match="ambiguous pool .* label, finish"):
        make(ambiguous=TRAIN)
