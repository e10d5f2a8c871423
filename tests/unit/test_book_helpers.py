"""The helpers chapters share (invlearn.chapters: helpers, report, analysis, theorem): known
values."""
import json

import numpy as np
import pandas as pd
import pytest

from invlearn.chapters import analysis, helpers, report, theorem


def test_run_cache_trains_once_per_call(toy_split):
    runs = helpers.RunCache(toy_split, epochs=1, batch_size=64, full_ranking=False)
    first = runs("ns", seed=0)
    assert runs("ns", seed=0) is first
    assert runs("ns", seed=1) is not first
    assert runs("ns", seed=0, lr=0.01) is not first
    assert len(runs.results) == 3


def test_write_key_numbers_round_trip(tmp_path):
    path = tmp_path / "deep" / "k.json"
    shown = helpers.write_key_numbers(path, {"a": np.float64(0.123456), "n": np.int64(3)})
    assert json.loads(path.read_text()) == {"a": 0.123456, "n": 3}
    assert shown == {"a": 0.1235, "n": 3}


def test_write_key_numbers_writes_a_missing_number_as_null(tmp_path):
    path = tmp_path / "k.json"
    shown = helpers.write_key_numbers(path, {"gap": np.float64("nan"), "n": 2})
    assert "NaN" not in path.read_text()
    assert json.loads(path.read_text()) == {"gap": None, "n": 2}
    assert shown == {"gap": None, "n": 2}


def test_meta_step_batch_pairs_are_not_training_pairs(toy_split):
    labeled, (users, items) = helpers.meta_step_batch(toy_split, 16, seed=0)
    assert len(labeled[0]) == len(users) == 16
    train = set(zip(toy_split.train["user"], toy_split.train["item"]))
    assert not any((int(u), int(i)) in train for u, i in zip(users, items))


def test_first_meta_steps_replays_the_run_and_restores_ig(toy_split):
    from invlearn import ig
    from invlearn.methods import train
    settings = {"epochs": 5, "batch_size": 64, "full_ranking": False, "alpha_ratio": 10.0}
    original = ig.ig_meta_step
    steps = helpers.first_meta_steps(toy_split, 3, seed=0, **settings)
    assert ig.ig_meta_step is original
    assert len(steps) == 3 and list(steps.index) == [1, 2, 3]
    meta = train(toy_split, method="ig", seed=0, progress=False, **settings).history.meta
    losses = [f"loss_{d}" for d in ig.DIRECTIONS]
    np.testing.assert_array_equal(steps[losses].to_numpy(), meta[losses].head(3).to_numpy())
    assert steps["kept"].tolist() == meta["direction"].head(3).tolist()
    assert steps["positive share"].between(0, 1).all() and steps["mean p"].between(0, 1).all()
    # a pass leaves the batch's logits as they were
    assert (steps.loc[steps["kept"] == "pass", "mean Δlogit"] == 0).all()
    assert np.isfinite(steps["mean Δlogit"]).all()


def test_format_columns():
    out = helpers.format_columns(pd.DataFrame({"a": [0.12345], "b": [1]}), {"a": "{:.2f}"})
    assert out.loc[0, "a"] == "0.12" and out.loc[0, "b"] == 1


def test_variants_labels_and_gaps():
    table = pd.DataFrame({"backbone": ["gmf"] * 6, "seed": [0, 1] * 3,
                          "method": ["none", "none", "ig", "ig", "ig", "ig"],
                          "alpha_ratio": [np.nan, np.nan, 1.0, 1.0, 0.0, 0.0],
                          "auc": [0.5, 0.6, 0.7, 0.9, 0.55, 0.6]})
    split = report.split_variants(table)
    assert split["method"].tolist() == ["none", "none", "ig", "ig", "ig0", "ig0"]
    assert report.method_label("ig0") == report.method_label("ig", 0) == "IG (α = 0)"
    gaps = report.gaps_to(split, "auc")
    assert gaps["ig"].tolist() == pytest.approx([0.2, 0.3])
    assert gaps["ig0"].tolist() == pytest.approx([0.05, 0.0])
    assert report.order_methods(split)["method"].tolist()[-2:] == ["ig0", "ig0"]


def test_label_index_prints_the_papers_srns_apart_from_ours():
    frame = pd.DataFrame({"auc": [0.7, 0.6, 0.5]}, index=["ns", "srns", "gmf"])
    assert report.label_index(frame).index.tolist() == ["NS", "SRNS*", "GMF"]
    assert report.label_index(frame, paper=True).index.tolist() == ["NS", "SRNS (paper)", "GMF"]


def test_annotation_scores_and_confidence():
    scores = analysis.annotation_scores([True, False, True, False], [True, True, False, False])
    assert scores == {"accuracy": 0.5, "called positive": 0.5, "recall": 0.5,
                      "specificity": 0.5}
    assert analysis.confident_share(np.array([0.05, 0.5, 0.95, 0.2])) == 0.5


def test_median_gap_in_float32_units():
    meta = pd.DataFrame({"loss_direct": [0.5, 0.5], "loss_inverse": [0.5, 0.5 + 2 ** -23],
                         "loss_pass": [0.5, 0.5]})
    # spacing of float32 at 0.5 is 2**-24: gaps 0 and 2 units
    assert theorem.median_gap_ulps(meta) == pytest.approx(1.0)


def test_data_statistics_known_values():
    a = pd.DataFrame({"user": [0, 0, 1], "item": [0, 1, 1], "label": [1.0, 0.0, 1.0]})
    b = pd.DataFrame({"user": [2], "item": [3], "label": [0.0]})
    stats = report.data_statistics([a, b], n_users=4, n_items=5)
    assert stats.to_dict() == {"users": 3, "items": 3, "positive": 2, "negative": 2, "total": 4,
                               "density": 4 / 20}
    assert report.PAPER_TABLE3.loc["total", "ML1M"] == 1_000_209


def test_history_record_is_json_and_histograms_count_every_row(toy_split):
    from invlearn import train

    result = train(toy_split, method="ig", epochs=2, batch_size=32, progress=False,
                   full_ranking=False)
    record = json.loads(json.dumps(result.to_dict(histories=True)))
    assert len(record["meta"]["direction"]) == len(result.history.meta)
    for epoch, rec in result.history.weights.items():
        assert sum(record["w1_histogram"][str(epoch)]) == len(rec["w1"])
    assert "meta" not in result.to_dict()


def test_data_or_committed_writes_then_checks_then_reads(tmp_path):
    path = tmp_path / "table.csv"
    table = pd.DataFrame({"f": ["1%", "10%"], "rows": [6, 60], "share": [0.5, 0.25]}).set_index("f")
    calls = []

    def compute():
        calls.append(1)
        return table

    assert helpers.data_or_committed(path, compute, available=False) is None  # nothing yet
    assert helpers.data_or_committed(path, compute, available=True) is table  # written
    assert path.is_file() and len(calls) == 1
    again = helpers.data_or_committed(path, compute, available=True)  # checked against the copy
    assert again is table and len(calls) == 2
    committed = helpers.data_or_committed(path, compute, available=False)  # read, not computed
    assert len(calls) == 2
    pd.testing.assert_frame_equal(committed, table)
    changed = table.assign(rows=[6, 61])
    with pytest.raises(helpers.InvlearnError, match="differs from .*table.csv"):
        helpers.data_or_committed(path, lambda: changed, available=True)


def test_dataset_available_never_needs_a_download_for_the_simulator(tmp_path):
    assert helpers.dataset_available("sim", tmp_path)
    assert not helpers.dataset_available("ml-1m", tmp_path)
    assert not helpers.dataset_available("ml-1m-paper", tmp_path)
    (tmp_path / "ml-1m.zip").write_bytes(b"")
    (tmp_path / "ml-1m-paper-split").mkdir()
    assert helpers.dataset_available("ml-1m", tmp_path)
    assert helpers.dataset_available("ml-1m-paper", tmp_path)


def test_data_note_says_which_data_the_tables_come_from():
    assert "not in your data home" in helpers.data_note(False)
    assert "INVLEARN_DATA" in helpers.data_note(False)
    assert "computed here" in helpers.data_note(True)
