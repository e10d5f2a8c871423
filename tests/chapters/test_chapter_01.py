"""Smoke test of book chapter 1 (The problem: passive feeds and sparse feedback) on the toy feed."""
from __future__ import annotations

import pytest
from conftest import run_chapter


@pytest.fixture(scope="module")
def numbers(tmp_path_factory) -> dict:
    return run_chapter("01_problem", tmp_path_factory.mktemp("ch01"), SIZE="toy", EPOCHS=10,
                       LR=1e-2, SEEDS=[0])


def test_sparsity(numbers: dict) -> None:
    assert 0.1 < numbers["labeled_fraction"] < 0.6
    assert 0 < numbers["density_labeled"] < numbers["density_impressions"] <= 1
    assert numbers["density_labeled"] == pytest.approx(
        numbers["labeled_fraction"] * numbers["density_impressions"])


def test_sampled_negatives_are_the_noisiest_labels(numbers: dict) -> None:
    fnr = numbers["ns_false_negative_rate"]
    assert abs(fnr - numbers["random_true_positive_rate"]) < 0.1
    assert numbers["labeled_positive_noise"] < fnr
    assert numbers["labeled_negative_noise"] < fnr


def test_every_variant_is_scored(numbers: dict) -> None:
    for variant in ("none", "ns", "ns_fixed", "oracle", "oracle_redrawn"):
        for metric in ("auc", "gauc"):
            assert 0 <= numbers[f"{variant}_test_{metric}"] <= 1
    # even the toy feed teaches GMF something in ten epochs (about 0.68 for both)
    assert numbers["ns_test_auc"] > 0.6
    assert numbers["oracle_test_auc"] > 0.6
