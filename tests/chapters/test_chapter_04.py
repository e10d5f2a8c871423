"""Chapter 4 (Theorem 1, with logistic regression) runs end to end at toy size."""
import itertools
import math

from conftest import run_chapter


def test_chapter_04_toy(tmp_path):
    numbers = run_chapter("04_theorem", tmp_path, N_DRAWS=150, BATCH_SIZES=[1, 8, 64],
                          N_ALPHAS=6, UNLABELED_SINGLE=16, SIZE="toy", EPOCHS=2, IG_BATCH=64,
                          ALPHA_RATIOS=[0.1, 1000.0])
    # one instance: the proof is exact, for every α on the grid, both signs
    assert numbers["single_pairs"] == 150 * 6 * 2
    assert numbers["single_hold_rate"] == 1.0
    assert numbers["single_proof_agreement"] == 1.0
    alphas = sorted({k.rsplit("_", 1)[1] for k in numbers if k.startswith("hold_rate_b1_")},
                    key=float)
    assert len(alphas) == 6
    for a in alphas:
        assert numbers[f"hold_rate_b1_alpha_{a}"] == 1.0
    # batches: the ordering holds at small α, fails at large α, and never rises with α
    for n in (8, 64):
        rates = [numbers[f"hold_rate_b{n}_alpha_{a}"] for a in alphas]
        assert rates[0] > 0.97 and rates[-1] < 0.2
        assert all(x >= y for x, y in itertools.pairwise(rates))
    # logistic regression is convex: every failure has θ as the minimum (IG's pass)
    assert numbers["logistic_failures"] > 0
    assert numbers["logistic_failure_share_theta_min"] == 1.0
    assert numbers["logistic_theta_max"] == 0 and numbers["logistic_ties"] == 0
    assert 0.8 < numbers["second_order_agreement_batches"] <= 1.0
    # IG-GMF: shares are shares; with α = 1 per coordinate both moves overshoot
    assert 0.0 <= numbers["gmf_hold_rate_alpha_1e-04"] <= 1.0
    assert numbers["gmf_hold_rate_alpha_1e+00"] < 0.5
    share = numbers["gmf_failure_share_theta_min"]
    assert share is None or math.isnan(share) or 0.0 <= share <= 1.0  # None: no failure (null)
    assert 0.0 <= numbers["gmf_sgd_tie_share"] <= 1.0
