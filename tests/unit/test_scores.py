"""Scores that learn nothing (popularity, item_mean) and the simulator's truth metrics
(chapter 9): known values on tiny tables, AUC by hand, a model that knows the truth."""
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from invlearn import InvlearnError, TrainConfig, build_model, train
from invlearn.data import Split, load_dataset
from invlearn.record import flat_row, run_experiment
from invlearn.scores import PRIOR_STRENGTHS, ItemScore, item_mean, popularity
from invlearn.simfeed import truth_test_set
from invlearn.splits import label_fraction
from invlearn.training import evaluate, final_metrics


def _table(rows):
    frame = pd.DataFrame(rows, columns=["user", "item", "label"])
    return frame.astype({"user": np.int64, "item": np.int64, "label": np.float32})


def tiny_split() -> Split:
    """3 users, 4 items. Kept labels: item 0 → 1, 1, 0; item 1 → 0, 0; item 2 → 1; item 3 none.
    Hidden pool: (0, 2) and (1, 3)."""
    train_rows = _table([(0, 0, 1), (1, 0, 1), (2, 0, 0), (0, 1, 0), (1, 1, 0), (2, 2, 1)])
    valid = _table([(0, 3, 0), (1, 2, 1)])
    test = _table([(0, 2, 1), (1, 3, 0), (2, 1, 0), (2, 3, 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = Split(train_rows, valid, test, n_users=3, n_items=4, name="tiny")
    split.hidden = _table([(0, 2, 1), (1, 3, 0)])
    return split


def test_popularity_counts_kept_rows_and_the_pool_rows():
    split = tiny_split()
    assert popularity(split, "random").tolist() == [3, 2, 1, 0]  # labels unused
    assert popularity(split, "hidden").tolist() == [3, 2, 2, 1]
    with pytest.raises(InvlearnError, match="ambiguous"):
        popularity(split, "ambiguous")


def test_item_mean_is_shrunk_toward_the_global_mean():
    # g = 3 / 6 = 0.5; k = 2: item 0 (2 + 1) / (3 + 2) = 0.6, item 1 (0 + 1) / (2 + 2) = 0.25,
    # item 2 (1 + 1) / (1 + 2) = 2/3, item 3 (no row) = g = 0.5
    np.testing.assert_allclose(item_mean(tiny_split(), 2.0), [0.6, 0.25, 2 / 3, 0.5])
    with pytest.raises(InvlearnError, match="prior strength"):
        item_mean(tiny_split(), 0.0)


def test_auc_of_the_scores_by_hand():
    split, cpu = tiny_split(), torch.device("cpu")
    # item_mean at k = 2 scores the test rows .667 (+), .5 (−), .25 (−), .5 (+): of the four
    # (positive, negative) pairs three are won and one tied → (3 + 0.5) / 4 = 0.875
    model = ItemScore(torch.as_tensor(item_mean(split, 2.0)), 3)
    assert evaluate(model, split.test, cpu)["auc"] == pytest.approx(0.875)
    # popularity (random pool) counts 1 (+), 0 (−), 2 (−), 0 (+): wins 1, ties 1 → 1.5 / 4
    result = train(split, method="popularity", progress=False, device="cpu")
    assert result.metrics["auc"] == pytest.approx(0.375)
    assert result.best_epoch == 0 and not list(result.model.parameters())
    torch.testing.assert_close(result.model.score_all(torch.tensor([0, 2])),
                               torch.log1p(torch.tensor([[3., 2, 1, 0]] * 2)))
    # with the hidden pool the counts become 3, 2, 2, 1: test scores 2 (+), 1 (−), 2 (−), 1 (+)
    # → pairs (2, 1) win, (2, 2) tie, (1, 1) tie, (1, 2) lose → 2 / 4
    hidden = train(split, method="popularity", pool="hidden", progress=False, device="cpu")
    assert hidden.metrics["auc"] == pytest.approx(0.5)


def test_item_mean_chooses_its_prior_strength_on_validation(toy_split):
    data = label_fraction(toy_split, 0.3, seed=0)
    result = train(toy_split, method="item_mean", label_fraction=0.3, progress=False,
                   device="cpu")
    cpu = torch.device("cpu")
    aucs = [evaluate(ItemScore(torch.as_tensor(item_mean(data, k)), 40), data.valid, cpu)["auc"]
            for k in PRIOR_STRENGTHS]
    assert result.metrics["prior_strength"] == PRIOR_STRENGTHS[int(np.argmax(aucs))]
    assert result.valid["auc"] == pytest.approx(max(aucs))
    assert {"auc", "gauc", "ndcg@10", "mrr", "recall@20", "ndcg@50"} <= set(result.metrics)
    with pytest.raises(InvlearnError, match="takes no model"):
        train(toy_split, method="item_mean", progress=False,
              model=build_model("gmf", toy_split.n_users, toy_split.n_items))


def test_a_grid_run_of_a_score_makes_a_record():
    record = run_experiment({"dataset": "sim", "sim_size": "toy", "method": "item_mean",
                             "label_fraction": 0.1, "pool": "ambiguous", "device": "cpu"})
    row = flat_row(record)
    assert row["method"] == "item_mean" and row["epochs_run"] == 0
    for key in ("auc", "auc_truth", "auc_truthset", "gauc_truth", "recall@20_truth",
                "prior_strength", "valid_auc", "hidden_truth_share"):
        assert np.isfinite(row[key]), key


class Truth(nn.Module):
    """Scores every pair by the simulator's true preference (as a logit)."""

    def __init__(self, feed):
        super().__init__()
        self.feed = feed

    def forward(self, users, items):
        p = self.feed.true_preference(users.numpy(), items.numpy()).astype(np.float64)
        return torch.as_tensor(np.log(p) - np.log1p(-p), dtype=torch.float32)


@pytest.fixture(scope="module")
def sim_split():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_dataset("sim", size="toy", seed=0)


def test_truth_metrics_of_a_model_that_knows_the_truth(sim_split):
    metrics = final_metrics(Truth(sim_split.truth), sim_split, torch.device("cpu"),
                           TrainConfig(full_ranking=False))
    test = sim_split.test
    wrong = test["label"] != sim_split.truth.true_label(test["user"], test["item"])
    assert wrong.any() and metrics["auc"] < 1  # observed labels are noisy ...
    assert metrics["auc_truth"] == 1.0 and metrics["gauc_truth"] == 1.0  # ... the truth is not
    assert metrics["auc_truthset"] == 1.0 and metrics["mrr_truthset"] == 1.0
    assert "hidden_truth_share" not in metrics  # every label kept: no hidden pool


def test_truth_test_set_and_the_hidden_pools_liked_share(sim_split):
    table = truth_test_set(sim_split)
    n = len(sim_split.test)
    assert len(table) == 2 * n and (table["source"] == "random").sum() == n
    np.testing.assert_array_equal(table["item"].to_numpy()[:n], sim_split.test["item"])
    np.testing.assert_array_equal(
        table["label"], sim_split.truth.true_label(table["user"], table["item"]))
    pd.testing.assert_frame_equal(table, truth_test_set(sim_split))  # the same rows every run
    part = label_fraction(sim_split, 0.2, seed=1)
    metrics = final_metrics(Truth(sim_split.truth), part, torch.device("cpu"),
                           TrainConfig(full_ranking=False))
    liked = sim_split.truth.true_label(part.hidden["user"], part.hidden["item"])
    assert metrics["hidden_truth_share"] == pytest.approx(liked.mean())
    assert metrics["hidden_label_share"] == pytest.approx(part.hidden["label"].mean())
    assert metrics["hidden_truth_share"] != metrics["hidden_label_share"]


def test_no_truth_no_truth_metrics(toy_split):
    metrics = train(toy_split, method="none", epochs=1, progress=False, full_ranking=False,
                    device="cpu").metrics
    assert not [k for k in metrics if "truth" in k]
    with pytest.raises(InvlearnError, match="truth"):
        truth_test_set(toy_split)
