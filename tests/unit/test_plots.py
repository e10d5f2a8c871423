"""The book's figures on tiny fake histories: each returns a Figure with the expected axes."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from invlearn import History, InvlearnError
from invlearn.chapters import plots


class FakeTruth:
    """Affinity ``user − item`` with threshold 0: pair (u, i) is positive when ``u > i``."""

    threshold = 0.0

    def affinity(self, users, items):
        return np.asarray(users, dtype=np.float32) - np.asarray(items, dtype=np.float32)

    def true_label(self, users, items):
        return (self.affinity(users, items) > self.threshold).astype(np.int8)


def fake_history(n_epochs: int = 3, ig: bool = False, seed: int = 0) -> History:
    rng = np.random.default_rng(seed)
    history = History()
    for epoch in range(1, n_epochs + 1):
        history.epochs.append({"epoch": epoch, "loss": 1.0 / epoch, "seconds": 0.1,
                               "valid_auc": 0.5 + 0.1 * epoch, "valid_bce": 0.7 - 0.05 * epoch})
        users = rng.integers(0, 10, 40)
        items = rng.integers(0, 10, 40)
        w1 = np.where(users > items, 0.9, 0.2).astype(np.float32)
        w1[:4] = 1.0 - w1[:4]  # four wrong annotations per epoch
        history.weights[epoch] = {"user": users, "item": items, "w1": w1}
    if ig:
        steps = 3
        losses = rng.uniform(0.3, 0.7, (n_epochs * steps, 3))
        history.meta = pd.DataFrame({
            "epoch": np.repeat(np.arange(1, n_epochs + 1), steps),
            "step": np.tile(np.arange(steps), n_epochs),
            "direction": np.array(["direct", "pass", "inverse"])[losses.argmin(1)],
            "loss_direct": losses[:, 0], "loss_pass": losses[:, 1], "loss_inverse": losses[:, 2]})
    return history


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_idl_weights_two_epochs_two_panels_each():
    fig = plots.plot_idl_weights(fake_history(4))
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert "epoch 1" in fig.axes[0].get_title() and "epoch 4" in fig.axes[2].get_title()
    assert fig.axes[2].get_xlabel() and fig.axes[0].get_ylabel()
    # the bars of each panel add up to 100% of the pairs
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert sum(heights) == pytest.approx(100.0)
    assert len(plots.plot_idl_weights(fake_history(4), epochs=(1, 2, 3)).axes) == 6


def test_plot_idl_weights_w1_only_with_the_truly_positive_share():
    history = fake_history(4)
    fig = plots.plot_idl_weights(history, w0=False, truth=FakeTruth())
    assert len(fig.axes) == 2 and all("w1" in ax.get_title() for ax in fig.axes)
    rec = history.weights[4]
    truly = FakeTruth().true_label(rec["user"], rec["item"]).mean()
    text = fig.axes[1].texts[0].get_text()
    assert f"w1 > 0.5: {100 * np.mean(rec['w1'] > 0.5):.0f} %" in text
    assert f"truly positive: {100 * truly:.0f} %" in text
    assert not plots.plot_idl_weights(history).axes[0].texts  # chapter 3's figure unchanged


def test_plot_idl_weights_rejects_missing_epochs():
    with pytest.raises(InvlearnError, match="epoch"):
        plots.plot_idl_weights(fake_history(2), epochs=(1, 5))
    with pytest.raises(InvlearnError, match="no IDL weights"):
        plots.plot_idl_weights(History())


def test_direction_shares_sum_to_one_and_list_every_direction():
    meta = pd.DataFrame({"direction": ["direct", "direct", "inverse", "direct"]})
    shares = plots.direction_shares(meta)
    assert list(shares.index) == ["direct", "inverse", "pass"]
    assert shares.tolist() == [0.75, 0.25, 0.0]


def test_plot_directions_one_line_and_one_marker_series_per_direction():
    history = fake_history(3, ig=True)
    fig = plots.plot_directions(history.meta, title="IG")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.lines) == 4
    trace = ax.lines[0].get_ydata()
    kept = history.meta[["loss_direct", "loss_pass", "loss_inverse"]].min(axis=1)
    np.testing.assert_allclose(trace, kept.to_numpy())
    assert sum(len(line.get_xdata()) for line in ax.lines[1:]) == len(history.meta)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "IG"


def test_plot_directions_adds_the_control_as_a_fifth_dashed_line():
    history, control = fake_history(3, ig=True), fake_history(3, ig=True, seed=1)
    fig = plots.plot_directions(history.meta, control=control.meta, control_label="IG (α = 0)")
    ax = fig.axes[0]
    assert len(ax.lines) == 5
    line = ax.lines[-1]
    assert line.get_label() == "IG (α = 0)" and line.get_linestyle() == "--"
    kept = control.meta[["loss_direct", "loss_pass", "loss_inverse"]].min(axis=1)
    np.testing.assert_allclose(line.get_ydata(), kept.to_numpy())
    assert "IG (α = 0)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_plot_alpha_study_draws_each_rule_against_alpha_and_the_control():
    index = pd.MultiIndex.from_tuples(
        [("sgd", 0.0), ("sgd", 10.0), ("sgd", 1.0), ("sign", 0.0), ("sign", 1.0), ("sign", 10.0)],
        names=["rule", "α / γ"])
    table = pd.DataFrame({"valid AUC": [0.80, 0.82, 0.81, 0.80, 0.79, 0.60],
                          "test AUC": [0.78, 0.80, 0.79, 0.78, 0.77, 0.58]}, index=index)
    fig = plots.plot_alpha_study(table, title="IG")
    ax = fig.axes[0]
    assert len(ax.lines) == 5  # validation and test per rule, one control line
    sgd_valid, sgd_test, sign_valid = ax.lines[:3]
    np.testing.assert_allclose(sgd_valid.get_xdata(), [1.0, 10.0])  # sorted, α = 0 left out
    np.testing.assert_allclose(sgd_valid.get_ydata(), [0.81, 0.82])
    np.testing.assert_allclose(sgd_test.get_ydata(), [0.79, 0.80])
    np.testing.assert_allclose(sign_valid.get_ydata(), [0.79, 0.60])
    np.testing.assert_allclose(ax.lines[4].get_ydata(), [0.80, 0.80])  # the α = 0 control
    assert [line.get_label() for line in ax.lines[:2]] == [
        "plain rule, validation", "plain rule, test"]  # settings in words, not code labels
    assert ax.get_xscale() == "log" and ax.get_ylabel() and ax.get_title() == "IG"
    with pytest.raises(InvlearnError, match="test AUC"):
        plots.plot_alpha_study(table[["valid AUC"]])
    with pytest.raises(InvlearnError, match="α / γ > 0"):
        plots.plot_alpha_study(table.xs(0.0, level=1, drop_level=False))
    plt.close("all")


def test_plot_learning_curves_one_panel_per_metric_one_line_per_run():
    histories = {"ns": fake_history(3), "idl": fake_history(5, seed=1)}
    fig = plots.plot_learning_curves(histories)
    assert len(fig.axes) == 2
    assert all(len(ax.lines) == 2 for ax in fig.axes)
    assert len(fig.axes[1].lines[1].get_xdata()) == 5
    assert "AUC" in fig.axes[1].get_ylabel()
    fig = plots.plot_learning_curves(histories, metrics=("valid_bce",))
    assert len(fig.axes) == 1
    with pytest.raises(InvlearnError, match="no column"):
        plots.plot_learning_curves(histories, metrics=("valid_xyz",))


def test_annotation_by_distance_counts_and_accuracy():
    history = fake_history(2)
    truth = FakeTruth()
    table = plots.annotation_by_distance(history, truth, bins=4)
    assert table["pairs"].sum() == 40
    assert ((table["accuracy"] >= 0) & (table["accuracy"] <= 1)).all()
    rec = history.weights[2]
    overall = np.mean((rec["w1"] > 0.5) == truth.true_label(rec["user"], rec["item"]))
    assert np.average(table["accuracy"], weights=table["pairs"]) == pytest.approx(overall)
    signed = plots.annotation_by_distance(history, truth, epoch=1, bins=[-10, 0.5, 10],
                                          signed=True)
    assert signed["truly_positive"].tolist() == [0.0, 1.0]


def test_annotation_plots_return_figures():
    history = fake_history(3)
    truth = FakeTruth()
    fig = plots.plot_annotation_accuracy({"idl": history}, truth, reference={"all negative": 0.6})
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
    acc = fig.axes[0].lines[0].get_ydata()
    assert np.allclose(acc, history.annotation_accuracy(truth).to_numpy())
    tables = {"first": plots.annotation_by_distance(history, truth, epoch=1, signed=True),
              "last": plots.annotation_by_distance(history, truth, signed=True)}
    fig = plots.plot_annotation_by_distance(tables)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 3  # two runs and the zero line
    # each signed line breaks once, between the negative and the positive side
    assert np.isnan(fig.axes[0].lines[0].get_xdata()).sum() == 1


def test_weight_histograms_from_records(toy_split):
    from invlearn import train
    from invlearn.training import history_record

    result = train(toy_split, method="ig", epochs=3, batch_size=32, progress=False,
                   full_ranking=False)
    fig = plots.plot_weight_histograms({"IG": history_record(result.history)})
    axes = fig.axes
    assert len(axes) == 2 and axes[0].get_title() == "IG, epoch 1"
    heights = [p.get_height() for p in axes[1].patches]
    assert sum(heights) == pytest.approx(100.0)
    with pytest.raises(InvlearnError, match="histories"):
        plots.plot_weight_histograms({"x": {}})


def test_plot_against_paper_differences_to_a_baseline():
    import matplotlib.pyplot as plt

    from invlearn.chapters.plots import plot_against_paper
    from invlearn.chapters.report import paper_table

    rows = [{"dataset": d, "backbone": b, "method": m, "seed": s,
             "auc": {"none": 0.80, "ig": 0.81}[m] + 0.001 * s}
            for d in ("ml-1m", "ml-1m-paper") for b in ("gmf", "neumf") for m in ("none", "ig")
            for s in (0, 1, 2)]
    fig, axes = plt.subplots(1, 2)
    plot_against_paper(pd.DataFrame(rows), "auc", "AUC − None", axes, baseline="none")
    ours = axes[0].lines[0].get_ydata()  # first data set's markers: None, then IG
    assert np.allclose(ours, [0.0, 0.01])
    paper = paper_table().set_index(["dataset", "backbone", "method"])["auc"]
    crosses = next(line for line in axes[0].lines if line.get_marker() == "x").get_ydata()
    assert np.allclose(crosses, [0.0, paper["ml-1m", "gmf", "ig"] - paper["ml-1m", "gmf", "none"]])
    with pytest.raises(InvlearnError, match="baseline 'ns'"):
        plot_against_paper(pd.DataFrame(rows), "auc", "", axes, baseline="ns")
    plt.close(fig)


def test_plot_annotation_margins_one_line_per_method_and_a_zero_line():
    table = pd.DataFrame({"method": ["idl", "idl", "ig", "ig", "ig0"],
                          "label_fraction": [0.01, 0.1, 0.01, 0.1, 0.01],
                          "over_best_trivial": [-0.03, 0.01, -0.01, 0.0, -0.16],
                          "accuracy_std": [0.01, np.nan, 0.02, 0.01, 0.03]})
    fig = plots.plot_annotation_margins(table, "Toy", baseline_label="all liked")
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "Toy"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["all liked", "IDL", "IG", "IG (α = 0)"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1%", "10%"]
    plt.close(fig)
    with pytest.raises(InvlearnError, match="accuracy_std"):
        plots.plot_annotation_margins(table.drop(columns="accuracy_std"), "Toy")
