"""Printed names of result columns and searched settings (invlearn.chapters.report)."""
from __future__ import annotations

import pandas as pd

from invlearn.chapters.report import column_label, power_of_ten, setting_label


def test_column_label_maps_metrics_and_settings() -> None:
    assert column_label("ndcg@10") == "NDCG@10"
    assert column_label("gauc_unweighted") == "GAUC (unweighted)"
    assert column_label("tce_eps_n") == "ε_N"
    assert column_label("dns_k") == "K"
    assert column_label("no such column") == "no such column"


def test_setting_label_prints_numbers_with_names_and_words_for_rules() -> None:
    row = pd.Series({"tce_eps_max": 0.05, "tce_eps_n": 30000.0, "alpha_rule": "sgd",
                     "alpha_ratio": 10.0, "meta_steps": "per-train-batch", "select": "auc"})
    assert setting_label(row, ["tce_eps_max", "tce_eps_n"]) == "ε_max = 0.05, ε_N = 30,000"
    assert setting_label(row, ["alpha_rule", "alpha_ratio", "meta_steps"]) == \
        "plain rule, α/γ = 10, per supervised batch"
    # an unknown categorical value keeps its setting's name
    assert setting_label(row, ["select"]) == "select = auc"


def test_setting_label_skips_missing_settings_and_prints_integers_plainly() -> None:
    row = pd.Series({"rce_beta": float("nan"), "dns_k": 2.0})
    assert setting_label(row, ["dns_k", "unknown_setting"]) == "K = 2"
    assert setting_label(row, ["rce_beta"]) == "–"
    assert setting_label({"my_knob": "abc", "alpha_ratio": 10.0}, ["my_knob", "alpha_ratio"]) \
        == "my_knob = abc, α/γ = 10"


def test_power_of_ten_prints_mantissa_and_superscript_exponent() -> None:
    assert power_of_ten(6.1e-08) == "6.1 × 10⁻⁸"
    assert power_of_ten(1.7497e-05) == "1.7 × 10⁻⁵"
    assert power_of_ten(0.000112, digits=2) == "1.12 × 10⁻⁴"
    assert power_of_ten(-3.0e12) == "-3.0 × 10¹²"
    assert power_of_ten(9.96e-3) == "1.0 × 10⁻²"  # rounding carries into the exponent
    assert power_of_ten(0.0) == "0" and power_of_ten(float("nan")) == "–"


def test_signed_prints_a_zero_without_a_sign() -> None:
    from invlearn.chapters.report import signed

    assert [signed(v, 3) for v in (0.0123, -0.0123, -0.00004, 0.0)] == [
        "+0.012", "-0.012", "0.000", "0.000"]
    assert signed(-0.00004, 4) == "0.0000" and signed(-0.00006, 4) == "-0.0001"
