"""Chapter 5 (the Inverse Gradient) runs end to end at toy size and records sane numbers."""
import math

from conftest import run_chapter

DIRECTIONS = ("direct", "inverse", "pass")


def test_chapter_05_runs_at_toy_size(tmp_path):
    numbers = run_chapter("05_ig", tmp_path, SIZE="toy", EPOCHS=2, SEEDS=[0],
                          ALPHA_RATIOS=[1, 100], HAND_BATCH=256)
    assert math.isclose(sum(numbers[f"share_{d}"] for d in DIRECTIONS), 1.0)
    for rule in ("sign", "sgd"):
        for ratio in ("0.1", "1", "100"):
            tag = f"{rule}_alpha{ratio}"
            shares = [numbers[f"{tag}_share_{d}"] for d in DIRECTIONS]
            assert all(0.0 <= s <= 1.0 for s in shares) and math.isclose(sum(shares), 1.0)
            assert 0.0 <= numbers[f"{tag}_auc"] <= 1.0
            assert 0.0 <= numbers[f"{tag}_tied"] <= 1.0
    # the default run is the sign rule at α = 0.1 γ
    assert numbers["share_direct"] == numbers["sign_alpha0.1_share_direct"]
    # the sign rule moves every touched coordinate by about α; the plain rule by α·|g| « α
    lr = numbers["lr"]
    assert math.isclose(numbers["sign_alpha1_median_move"], lr, rel_tol=0.05)
    assert numbers["sgd_alpha1_median_move"] < 0.01 * lr
    assert math.isclose(numbers["sign_alpha100_median_move"],
                        100 * numbers["sign_alpha1_median_move"], rel_tol=1e-3)
    # the hand meta-step keeps the candidate with the lowest loss, θ (pass) on a tie
    losses = [numbers[f"hand_loss_{d}"] for d in ("direct", "pass", "inverse")]
    expected = 1 if losses.count(min(losses)) > 1 else losses.index(min(losses))
    assert numbers["hand_direction_index"] == expected
    # α = 0 is IG with its move switched off: every meta-step a tie, kept as a pass
    for rule in ("sign", "sgd"):
        assert numbers[f"{rule}_alpha0_moved"] == 0.0
        assert numbers[f"{rule}_alpha0_share_pass"] == 1.0
    assert numbers["sign_alpha1_moved"] > 0.5
    # the paper's reading takes as many meta-steps as supervised batches (≥ test batches; at toy
    # size both are one batch; tests/unit/test_fidelity.py counts them on a larger split)
    assert numbers["per-train-batch_alpha0_steps_per_epoch"] >= \
        numbers["per-test-batch_alpha0_steps_per_epoch"]
    for name in ("ig_sign", "ig_sgd", "ig_alpha0", "idl", "ns", "none"):
        assert 0.0 <= numbers[f"auc_{name}"] <= 1.0
    assert 0.0 <= numbers["ig_annotation_accuracy_last"] <= 1.0
    for name in ("ig", "idl"):
        assert -1.0 <= numbers[f"{name}_annotation_margin"] <= 1.0
    # the replay of the first meta-steps (checked against the run inside the chapter)
    assert 1 <= numbers["first_steps"] <= 9
    assert 0 <= numbers["first_steps_raised_iff_more_positive"] <= numbers["first_steps"]
    # None is cheaper per epoch than IG in the saved benchmark
    assert all(numbers[f"ig_epoch_ratio_to_none_{b}"] > 1.0 for b in ("gmf", "neumf"))
    assert numbers["meta_steps"] >= 2
