"""Unit tests of invlearn.chapters.report (book chapters 6–7) on tiny tables with known
answers."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from invlearn.chapters.report import (
    best_method,
    format_p,
    format_side_by_side,
    format_summary,
    mean_std,
    paired_test,
    paper_table,
    side_by_side,
    summarize,
)
from invlearn.errors import InvlearnError


def runs() -> pd.DataFrame:
    """Two backbones, methods a and b, seeds 0..3; a − b = 1, 2, 2, 3 on gmf."""
    rows = []
    for seed, (a, b) in enumerate([(1, 0), (2, 0), (3, 1), (4, 1)]):
        rows.append({"backbone": "gmf", "method": "a", "seed": seed, "auc": a, "valid": a})
        rows.append({"backbone": "gmf", "method": "b", "seed": seed, "auc": b, "valid": b})
        rows.append({"backbone": "neumf", "method": "a", "seed": seed, "auc": 0.0, "valid": 0})
        rows.append({"backbone": "neumf", "method": "b", "seed": seed, "auc": seed, "valid": 5})
    return pd.DataFrame(rows)


def test_summarize_mean_std_n() -> None:
    table = pd.DataFrame({"g": ["x", "x", "x", "y"], "m": [1.0, 2.0, 3.0, 5.0]})
    out = summarize(table, "g", ["m"])
    assert list(out.index) == ["x", "y"]
    assert out.loc["x", "m_mean"] == 2.0 and out.loc["x", "m_std"] == 1.0
    assert out.loc["x", "n"] == 3 and out.loc["y", "n"] == 1
    assert math.isnan(out.loc["y", "m_std"])  # one run: no spread


def test_summarize_several_columns_and_missing() -> None:
    out = summarize(runs(), ["backbone", "method"], ["auc"])
    assert out.loc[("gmf", "a"), "auc_mean"] == 2.5
    assert out.loc[("neumf", "b"), "auc_mean"] == 1.5
    with pytest.raises(InvlearnError):
        summarize(runs(), "dataset", ["auc"])


def test_paper_table_numbers() -> None:
    paper = paper_table()
    assert len(paper) == 32
    row = paper.set_index(["dataset", "backbone", "method"]).loc[("ml-1m", "gmf", "ig")]
    assert (row["ndcg@10"], row["auc"], row["gauc"]) == (0.9521, 0.8318, 0.7642)
    mv = paper.set_index(["dataset", "backbone", "method"]).loc[("micro-video", "neumf", "none")]
    assert (mv["ndcg@10"], mv["auc"], mv["gauc"]) == (0.6649, 0.7504, 0.6916)


def test_side_by_side() -> None:
    table = pd.DataFrame({"backbone": ["gmf"] * 3 + ["gmf"], "method": ["ig"] * 3 + ["xx"],
                          "auc": [0.80, 0.82, 0.84, 0.5]})
    out = side_by_side(table, ["auc"])
    assert out.loc[("gmf", "ig"), "auc_paper"] == 0.8318
    assert out.loc[("gmf", "ig"), "auc_mean"] == pytest.approx(0.82)
    assert out.loc[("gmf", "ig"), "auc_std"] == pytest.approx(0.02)
    assert out.loc[("gmf", "ig"), "auc_diff"] == pytest.approx(0.82 - 0.8318)
    assert math.isnan(out.loc[("gmf", "xx"), "auc_paper"])
    text = format_side_by_side(out, ["auc"])
    assert text.loc[("gmf", "ig"), ("auc", "paper")] == "0.832"
    assert text.loc[("gmf", "ig"), ("auc", "ours")] == "0.820 ± 0.020"
    assert text.loc[("gmf", "xx"), ("auc", "paper")] == "–"
    with pytest.raises(InvlearnError):
        side_by_side(table, ["mrr"])


def test_best_method() -> None:
    best = best_method(runs(), "valid", group="backbone")
    assert best["gmf"] == "a" and best["neumf"] == "b"
    assert best_method(runs(), "valid", group="backbone", exclude=("a",))["gmf"] == "b"
    assert best_method(runs(), "valid", higher_is_better=False) == "a"
    assert best_method(runs()[runs()["backbone"] == "gmf"], "valid") == "a"


def test_paired_test_known_answer() -> None:
    gmf = runs()[runs()["backbone"] == "gmf"]
    res = paired_test(gmf, "a", "b", "auc", match=["seed"])
    # differences 1, 2, 2, 3: mean 2, sd sqrt(2/3), t = 2 / (sd / 2) = sqrt(24)
    assert res["n"] == 4 and res["wins"] == 4 and res["losses"] == 0 and res["ties"] == 0
    assert res["mean_diff"] == 2.0 and res["mean_a"] == 2.5 and res["mean_b"] == 0.5
    assert res["std_diff"] == pytest.approx(math.sqrt(2 / 3))
    assert res["t"] == pytest.approx(math.sqrt(24))
    from scipy import stats
    assert res["p_t"] == pytest.approx(2 * stats.t.sf(math.sqrt(24), 3))
    assert res["p_sign"] == pytest.approx(0.125)  # 2 · (1/2)^4
    assert res["p_wilcoxon"] == pytest.approx(0.125)  # all ranks positive, exact
    assert res["min_p_sign"] == pytest.approx(0.125)
    assert "no sign or rank test" in res["note"]
    flipped = paired_test(gmf, "b", "a", "auc", match=["seed"])
    assert flipped["t"] == pytest.approx(-res["t"]) and flipped["wins"] == 0


def test_paired_test_ties_and_six_pairs() -> None:
    table = pd.DataFrame({"method": ["a"] * 6 + ["b"] * 6, "seed": list(range(6)) * 2,
                          "m": [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]})
    res = paired_test(table, "a", "b", "m", match=["seed"])
    assert res["wins"] == 6 and res["p_sign"] == pytest.approx(1 / 32)
    assert math.isnan(res["p_t"])  # constant differences: t undefined
    assert "6 pairs" in res["note"]
    same = table.assign(m=1.0)
    tie = paired_test(same, "a", "b", "m", match=["seed"])
    assert tie["ties"] == 6 and math.isnan(tie["p_sign"]) and math.isnan(tie["p_wilcoxon"])


def test_paired_test_needs_unique_matches() -> None:
    with pytest.raises(InvlearnError, match="several runs"):
        paired_test(runs(), "a", "b", "auc", match=["seed"])  # two backbones per seed
    with pytest.raises(InvlearnError, match="no runs"):
        paired_test(runs(), "a", "zz", "auc", match=["backbone", "seed"])
    res = paired_test(runs(), "a", "b", "auc", match=["backbone", "seed"])
    assert res["n"] == 8


def test_formatting() -> None:
    assert mean_std(0.83449, 0.0021) == "0.834 ± 0.002"
    assert mean_std(0.5, float("nan"), 2) == "0.50"
    assert mean_std(float("nan"), 0.1) == "–"
    assert format_p(0.03125) == "0.031" and format_p(1e-5) == "<0.001"
    assert format_p(float("nan")) == "–"
    out = format_summary(summarize(runs(), ["backbone", "method"], ["auc"]), ["auc"], 1)
    assert out.loc[("gmf", "b"), "auc"] == "0.5 ± 0.6"


def test_percent_prints_a_labeled_fraction():
    from invlearn.chapters.report import percent

    assert [percent(f) for f in (0.01, 0.03, 0.1, 0.3, 1.0, 0.005)] == [
        "1%", "3%", "10%", "30%", "100%", "0.5%"]


def test_setting_value_prints_numbers_and_names_values() -> None:
    from invlearn.chapters.report import setting_value

    assert [setting_value(v) for v in (30000.0, 1000, 2.0, 0.1, 1e-4)] == \
        ["30,000", "1,000", "2", "0.1", "0.0001"]
    assert setting_value("per-test-batch") == "per training-test batch"
    assert setting_value("something else") == "something else"
