"""The second edition's decision rule (chapter 9), against a case computed by hand."""
import numpy as np
import pandas as pd
import pytest

from invlearn import InvlearnError
from invlearn.chapters.report import bh_qvalues, decision_rule


def test_bh_qvalues_by_hand():
    # p sorted: .01 (j=1), .03 (j=2), .04 (j=3), .2 (j=4); p·m/j = .04, .06, .0533, .2;
    # running minimum from the top: .2, .0533, .0533, .04 → in the input order below
    q = bh_qvalues([0.01, 0.04, 0.03, 0.2, float("nan")])
    np.testing.assert_allclose(q[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert np.isnan(q[4])  # an undefined test is no test: m = 4
    np.testing.assert_allclose(bh_qvalues([0.9, 0.8]), [0.9, 0.9])
    assert bh_qvalues([0.5]).tolist() == [0.5] and np.isnan(bh_qvalues([np.nan])).all()
    with pytest.raises(InvlearnError, match=r"\[0, 1\]"):
        bh_qvalues([1.5])


def test_bh_matches_scipy_where_scipy_has_it():
    stats = pytest.importorskip("scipy.stats")
    if not hasattr(stats, "false_discovery_control"):
        pytest.skip("scipy without false_discovery_control")
    p = np.random.default_rng(0).random(30) ** 3
    np.testing.assert_allclose(bh_qvalues(p), stats.false_discovery_control(p))


def test_decision_rule_on_a_case_computed_by_hand():
    # Four cells, three seeds each; gap d = a − b per seed. With 3 pairs the t statistic has
    # 2 degrees of freedom, where the two-sided p-value is exactly 1 − |t| / √(2 + t²).
    #   A: d = .010, .012, .014: mean .012, sd .002, t = .012·√3/.002 = 6√3, t² = 108,
    #      p = 1 − √(108/110) = .0091326
    #   B: d = .0030, .0031, .0032: mean .0031, sd .0001, t = 31√3, t² = 2883,
    #      p = 1 − √(2883/2885) = .00034668
    #   C: d = .001, .003, .005: mean .003, sd .002, t = 1.5√3, t² = 6.75,
    #      p = 1 − √(6.75/8.75) = .12169
    #   D: d = −.012, −.010, −.014: as A with the sign flipped, p = .0091326
    # BH over m = 4: sorted B (j=1), A (2), D (3), C (4); p·4/j = .0013867, .018265, .012177,
    # .12169; running minimum from the top: q_C = .12169, q_D = .012177, q_A = min(.018265,
    # .012177) = .012177, q_B = .0013867.
    # Verdicts (q < .05 and |gap| ≥ .005): A a better, D b better; B's q is tiny but its gap
    # .0031 < .005: no difference; C: q = .12 ≥ .05, no difference.
    gaps = {"A": [.010, .012, .014], "B": [.0030, .0031, .0032], "C": [.001, .003, .005],
            "D": [-.012, -.010, -.014]}
    b = np.array([0.70, 0.72, 0.69])
    pairs = pd.DataFrame([{"cell": c, "seed": s, "a": b[s] + d[s], "b": b[s]}
                          for c, d in gaps.items() for s in range(3)])
    out = decision_rule(pairs, "cell").set_index("cell")
    p = {"A": 1 - np.sqrt(108 / 110), "B": 1 - np.sqrt(2883 / 2885),
         "C": 1 - np.sqrt(6.75 / 8.75)}
    p["D"] = p["A"]
    for cell in gaps:
        assert out.loc[cell, "p_t"] == pytest.approx(p[cell], rel=1e-6)
    assert out.loc["B", "q"] == pytest.approx(4 * p["B"], rel=1e-6)
    assert out.loc["A", "q"] == pytest.approx(4 / 3 * p["A"], rel=1e-6)
    assert out.loc["D", "q"] == pytest.approx(4 / 3 * p["A"], rel=1e-6)
    assert out.loc["C", "q"] == pytest.approx(p["C"], rel=1e-6)
    assert out["verdict"].to_dict() == {"A": "a better", "B": "no difference",
                                        "C": "no difference", "D": "b better"}
    assert out.loc["A", "gap"] == pytest.approx(0.012)
    assert out[["wins", "losses"]].to_numpy().tolist() == [[3, 0], [3, 0], [3, 0], [0, 3]]
    assert out.loc["D", "p_sign"] == pytest.approx(0.25)  # 2 · 0.5³


def test_decision_rule_needs_its_columns_and_leaves_undefined_tests_out():
    with pytest.raises(InvlearnError, match="no column"):
        decision_rule(pd.DataFrame({"cell": [1], "a": [0.5]}), "cell")  # no b
    one_seed = pd.DataFrame({"f": [0.01, 0.1], "pool": ["random"] * 2, "a": [0.8, 0.7],
                             "b": [0.6, 0.7]})
    out = decision_rule(one_seed, ["f", "pool"])
    assert out["q"].isna().all() and (out["verdict"] == "no difference").all()
