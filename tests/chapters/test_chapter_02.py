"""Smoke test of book chapter 2 (Denoising baselines) on the toy feed."""
from __future__ import annotations

import math

import pytest
from conftest import run_chapter

METHODS = ("ns", "tce", "tce_tuned", "rce", "dns", "srns")


@pytest.fixture(scope="module")
def numbers(tmp_path_factory) -> dict:
    return run_chapter("02_denoising", tmp_path_factory.mktemp("ch02"), SIZE="toy", EPOCHS=10,
                       LR=1e-2, SEEDS=[0], TCE_WARMUP_EPOCHS=2)


def test_tce_drops_are_measured(numbers: dict) -> None:
    for key in ("tce_drop_precision_last", "tce_drop_recall_last", "tce_noisy_share"):
        assert 0 <= numbers[key] <= 1
    assert numbers["tce_noisy_share"] < 0.2  # finish-rate positives are rarely wrong
    assert numbers["tce_eps_n"] >= 1


def test_rce_weights(numbers: dict) -> None:
    for key in ("rce_weight_false_negatives", "rce_weight_true_negatives"):
        assert 0 < numbers[key] <= 1


def test_every_method_is_scored(numbers: dict) -> None:
    for method in METHODS:
        for metric in ("auc", "gauc", "ndcg10"):
            value = numbers[f"{method}_test_{metric}"]
            assert not math.isnan(value) and 0 <= value <= 1
    assert numbers["ns_test_auc"] > 0.6  # about 0.69 on the toy feed


def test_hard_negatives_are_more_often_positive(numbers: dict) -> None:
    for method in ("ns", "dns", "srns"):
        assert 0 <= numbers[f"{method}_negative_true_positive_last"] <= 1
    assert numbers["dns_negative_true_positive_last"] > numbers["ns_negative_true_positive_last"]
