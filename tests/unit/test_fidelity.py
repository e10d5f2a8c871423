"""The baselines as their papers define them, and an IG whose move is measured (chapters 2, 5, 6)."""
import numpy as np
import pandas as pd
import pytest
import torch

from invlearn import InvlearnError, losses, train
from invlearn.chapters.report import method_label
from invlearn.data import Split
from invlearn.ig import choose, ig_meta_step, is_tie, meta_steps_per_epoch
from invlearn.methods import METHOD_TABLE
from invlearn.models import GMF, NeuMF
from invlearn.training import ranking_metrics


def test_tce_drops_a_share_of_the_whole_batch_from_the_largest_loss_positives():
    # 4 labeled positives, 2 labeled negatives, 6 sampled negatives: 12 rows
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0, 1.0, 1.0] + [0.0] * 6)
    labels = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 0.0] + [0.0] * 6)
    _, dropped = losses.truncated_bce(logits, labels, 0.2)  # ⌊0.2 · 12⌋ = 2
    assert dropped.tolist() == [False, True, False, True] + [False] * 8  # logits −1 and −3
    _, dropped = losses.truncated_bce(logits, labels, 0.5)  # ⌊6⌋ > 4 positives: all of them
    assert dropped.tolist() == [True] * 4 + [False] * 8


def test_neumf_tower_is_ncf_three_layers():
    model = NeuMF(10, 20)
    shapes = [tuple(m.weight.shape) for m in model.mlp if isinstance(m, torch.nn.Linear)]
    assert shapes == [(128, 256), (64, 128), (32, 64)]  # 256 → 128 → 64 → 32
    assert sum(p.numel() for p in model.mlp.parameters()) == 43_232
    assert tuple(model.out.weight.shape) == (1, 64)


def _ranking_split() -> Split:
    # one user, 6 items; train item 0, valid item 1 (positive), test positive item 2
    train_rows = pd.DataFrame({"user": [0, 1], "item": [0, 3], "label": [1.0, 1.0]})
    valid = pd.DataFrame({"user": [0, 1], "item": [1, 4], "label": [1.0, 0.0]})
    test = pd.DataFrame({"user": [0, 0], "item": [2, 5], "label": [1.0, 0.0]})
    return Split(train_rows, valid, test, n_users=2, n_items=6, name="rank")


class _FixedScores(torch.nn.Module):
    """Scores item i with 10 − i for every user: item 0 ranks first."""

    n_users, n_items = 2, 6

    def forward(self, users, items):
        return 10.0 - items.float()

    def score_all(self, users):
        return (10.0 - torch.arange(6.0)).repeat(len(users), 1)


@pytest.mark.parametrize("mask,rank", [("train", 2), ("train+valid", 1)])
def test_both_ranking_masks_on_a_tiny_example(mask, rank):
    # user 0's ranking: items 0 (masked: train), 1 (valid), 2 (the test positive), ...
    out = ranking_metrics(_FixedScores(), _ranking_split(), torch.device("cpu"), mask)
    assert out["recall@20"] == 1.0
    assert out["ndcg@20"] == pytest.approx(1.0 / np.log2(rank + 1))


def test_candidates_are_compared_in_float64_and_a_tie_passes():
    assert int(choose(torch.tensor([0.5, 0.5, 0.7], dtype=torch.float64))) == 1
    assert int(choose(torch.tensor([0.3, 0.3, 0.3], dtype=torch.float64))) == 1
    a = torch.tensor(0.693147, dtype=torch.float64)
    # differences far below float32 resolution still decide in float64
    assert int(choose(torch.stack([a - 1e-12, a, a + 1e-12]))) == 0
    assert int(choose(torch.stack([a + 1e-12, a, a - 1e-12]))) == 2
    assert is_tie(torch.tensor([[1.0, 1.0, 2.0], [1.0, 2.0, 3.0]])).tolist() == [True, False]


def _meta_batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    unl = (torch.randint(0, 30, (64,), generator=gen), torch.randint(0, 50, (64,), generator=gen))
    lab = (torch.randint(0, 30, (64,), generator=gen), torch.randint(0, 50, (64,), generator=gen),
           torch.randint(0, 2, (64,), generator=gen).float())
    return unl, lab


def test_alpha_zero_changes_nothing_and_is_recorded_as_pass():
    torch.manual_seed(0)
    model = GMF(30, 50, 8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = ig_meta_step(model, *_meta_batch(), alpha=0.0, rule="sign")
    assert int(result.kept) == 1 and int(result.changed) == 0
    assert float(result.relative_move) == 0.0
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_sign_rule_at_alpha_gamma_changes_entries_it_reports():
    torch.manual_seed(0)
    model = GMF(30, 50, 8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = ig_meta_step(model, *_meta_batch(), alpha=1e-3, rule="sign")
    changed = sum(int((v != before[k]).sum()) for k, v in model.state_dict().items())
    assert int(result.kept) in (0, 2)
    assert int(result.changed) == changed > 0
    assert 0 < float(result.relative_move) < 1


def test_plain_rule_moves_far_less_than_the_sign_rule_at_the_same_alpha():
    # α·g scales with the IDL gradient, which is small; α·sign(g) moves every touched entry by α
    sizes = {}
    for rule in ("sgd", "sign"):
        torch.manual_seed(0)
        model = GMF(30, 50, 32)
        sizes[rule] = ig_meta_step(model, *_meta_batch(), alpha=1e-5, rule=rule)
    assert float(sizes["sgd"].relative_move) < 0.01 * float(sizes["sign"].relative_move)
    assert int(sizes["sgd"].changed) < int(sizes["sign"].changed)


@pytest.mark.parametrize("reading,expected", [("per-test-batch", 3), ("per-train-batch", 27)])
def test_meta_step_readings_count(reading, expected):
    assert meta_steps_per_epoch(reading, supervised_batches=27, test_batches=3) == expected


@pytest.mark.parametrize("reading", ["per-test-batch", "per-train-batch"])
def test_training_takes_as_many_meta_steps_as_the_reading_says(toy_split, reading):
    n = len(toy_split.train)
    n_meta = round(0.1 * n)
    result = train(toy_split, method="ig", epochs=2, batch_size=32, meta_steps=reading,
                   progress=False, full_ranking=False)
    test_batches = -(-n_meta // 32)
    train_batches = -(-(n - n_meta) // 32)
    per_epoch = test_batches if reading == "per-test-batch" else train_batches
    assert len(result.history.meta) == 2 * per_epoch
    assert result.history.meta.groupby("epoch").size().tolist() == [per_epoch] * 2


def test_ig_honours_the_sampling_rate(toy_split):
    one = train(toy_split, method="ig", epochs=1, batch_size=32, progress=False,
                full_ranking=False, sampling_rate=1, record_rows=10**6)
    three = train(toy_split, method="ig", epochs=1, batch_size=32, progress=False,
                  full_ranking=False, sampling_rate=3, record_rows=10**6)
    assert len(three.history.weights[1]["w1"]) == 3 * len(one.history.weights[1]["w1"])


def test_ig_alpha_zero_is_supervised_training_and_reports_no_move(toy_split):
    result = train(toy_split, method="ig", epochs=2, batch_size=32, alpha_ratio=0.0,
                   progress=False, full_ranking=False)
    record = result.to_dict()
    assert record["share_moved"] == 0.0 and record["share_pass"] == 1.0
    assert record["median_changed"] == 0.0
    moving = train(toy_split, method="ig", epochs=2, batch_size=32, alpha_ratio=1.0,
                   alpha_rule="sign", progress=False, full_ranking=False).to_dict()
    assert moving["share_moved"] > 0.5 and moving["median_changed"] > 0


def test_method_table_and_labels():
    assert tuple(METHOD_TABLE) == ("none", "ns", "tce", "rce", "dns", "srns", "idl", "ig")
    assert method_label("tce") == "T-CE"
    assert method_label("ig", 0.0) == "IG (α = 0)" and method_label("ig", 1) == "IG"


def test_srns_needs_the_random_pool(toy_split):
    with pytest.raises(InvlearnError, match="srns.*pool"):
        train(toy_split, method="srns", pool="hidden", label_fraction=0.5, progress=False)


def test_eval_every_validates_less_often_and_always_at_the_end(toy_split):
    result = train(toy_split, method="ns", epochs=7, eval_every=3, batch_size=64,
                   progress=False, full_ranking=False)
    assert [e["epoch"] for e in result.history.epochs] == [3, 6, 7]
    assert result.best_epoch in (3, 6, 7) and result.to_dict()["epochs_run"] == 7
    stopped = train(toy_split, method="ns", epochs=40, eval_every=2, patience=1, lr=0.5,
                    batch_size=64, progress=False, full_ranking=False)
    assert stopped.to_dict()["epochs_run"] % 2 == 0 and stopped.to_dict()["epochs_run"] < 40


def test_epoch_budget_scales_with_the_label_fraction():
    from invlearn import TrainConfig
    from invlearn.training import epoch_budget

    assert epoch_budget(TrainConfig(epochs=20, eval_every=1)) == (20, 1)
    assert epoch_budget(TrainConfig(epochs=20, label_fraction=0.03)) == (20, 1)
    assert epoch_budget(TrainConfig(epochs=20, label_fraction=0.03, equal_steps=True)) == (667, 34)
    assert epoch_budget(TrainConfig(epochs=20, label_fraction=1.0, equal_steps=True)) == (20, 1)


def test_label_fraction_and_pools_in_training():
    from invlearn.simfeed import simulate_feed

    split = simulate_feed("toy", seed=0).to_split(seed=0)
    kept = train(split, method="idl", epochs=1, label_fraction=0.3, pool="hidden",
                 progress=False, full_ranking=False, record_rows=10**6)
    rec = kept.history.weights[1]
    hidden_pairs = set(zip(*(split.train[c] for c in ("user", "item"))))
    # every unlabeled row of the hidden pool is a training pair whose label was withheld
    assert all((u, i) in hidden_pairs for u, i in zip(rec["user"], rec["item"]))
    n_kept = -(-3 * len(split.train) // 10)  # ⌈0.3 n⌉ labeled rows, one pool row each
    assert len(rec["w1"]) == n_kept and "true" in rec
    assert 0 <= kept.history.annotation_accuracy().iloc[0] <= 1  # scored against the labels
    amb = train(split, method="ig", epochs=1, pool="ambiguous", progress=False,
                full_ranking=False)
    assert 0 <= amb.history.annotation_accuracy().iloc[0] <= 1
    ns = train(split, method="ns", epochs=1, label_fraction=0.5, progress=False,
               full_ranking=False)
    assert 0 <= ns.metrics["auc"] <= 1


def test_unavailable_pools_are_clear_errors(toy_split):
    with pytest.raises(InvlearnError, match="ambiguous"):
        train(toy_split, method="idl", pool="ambiguous", progress=False)
    with pytest.raises(InvlearnError, match="hidden"):
        train(toy_split, method="idl", pool="hidden", progress=False)
    with pytest.raises(InvlearnError, match="label_fraction"):
        train(toy_split, method="idl", label_fraction=0.0, progress=False)
