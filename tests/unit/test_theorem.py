"""Theorem 1 with logistic regression (invlearn.chapters.theorem, book chapter 4): known answers."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from invlearn import losses
from invlearn.chapters import theorem
from invlearn.ig import ig_meta_step

F64 = torch.float64


def test_labeled_loss_is_the_packages_bce():
    probs = theorem.draw_problems(3, 5, dim=4, seed=1)
    for r in range(3):
        expected = losses.bce(probs.x[r] @ probs.theta[r], probs.y[r])
        torch.testing.assert_close(theorem.labeled_loss(probs.theta[r], probs.x[r], probs.y[r]),
                                   expected)
    assert theorem.labeled_loss(probs.theta, probs.x, probs.y).shape == (3,)


def test_idl_gradient_closed_form_and_per_problem():
    probs = theorem.draw_problems(6, 4, dim=3, unlabeled_size=7, seed=2)
    grad = theorem.idl_gradient(probs.theta, probs.x_unlabeled)
    s = theorem.logistic_logits(probs.theta, probs.x_unlabeled)
    w1, _ = losses.idl_weights(s)
    closed = ((torch.sigmoid(s) - w1).unsqueeze(-1) * probs.x_unlabeled).mean(-2)
    torch.testing.assert_close(grad, closed)
    for r in range(6):  # one problem at a time gives the same gradient
        torch.testing.assert_close(theorem.idl_gradient(probs.theta[r], probs.x_unlabeled[r]),
                                   grad[r])


def test_candidates_are_theta_minus_and_plus_alpha_g():
    theta, g = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 0.25])
    d, i = theorem.candidates(theta, g, 2.0)
    assert d.tolist() == [0.0, -2.5] and i.tolist() == [2.0, -1.5]


def test_ordering_codes():
    cand = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [2.0, 1.0, 2.0], [1.0, 3.0, 2.0],
                         [1.0, 1.0, 2.0], [2.0, 2.0, 2.0]])
    assert theorem.ordering(cand).tolist() == [0, 0, 1, 2, 3, 3]


@pytest.fixture(scope="module")
def single_instances():
    probs = theorem.draw_problems(3000, 1, unlabeled_size=32, seed=3)
    return probs, theorem.idl_gradient(probs.theta, probs.x_unlabeled)


@pytest.mark.parametrize("alpha", [-50.0, -1.0, -1e-3, 1e-3, 0.1, 1.0, 10.0, 50.0])
def test_single_instance_ordering_holds_for_any_alpha(single_instances, alpha):
    probs, grad = single_instances
    cand = theorem.candidate_losses(probs.theta, None, probs.x, probs.y, alpha, grad=grad)
    assert bool((theorem.ordering(cand) == 0).all())
    # and the winner is the one the proof names from the sign of α·g·x and the label
    predicted = theorem.proof_direction(grad, probs.x[:, 0], probs.y[:, 0], alpha)
    assert torch.equal(cand.argmin(-1), predicted)


def test_single_instance_by_hand():
    # θ·x = 0.5, g·x = 1, α = 0.2, y = 1: logits 0.3, 0.5, 0.7 -> the direct move loses
    theta, x, y = torch.tensor([0.5, 0.0], dtype=F64), torch.tensor([[1.0, 0.0]], dtype=F64), \
        torch.tensor([1.0], dtype=F64)
    g = torch.tensor([1.0, 3.0], dtype=F64)
    cand = theorem.candidate_losses(theta, None, x, y, 0.2, grad=g)
    expected = [math.log1p(math.exp(-v)) for v in (0.3, 0.5, 0.7)]
    assert cand.tolist() == pytest.approx(expected)
    assert theorem.proof_direction(g, x[0], y[0], 0.2).item() == 2  # inverse wins
    assert theorem.proof_direction(g, x[0], 1 - y[0], 0.2).item() == 0  # negative: direct wins


def constructed_failure():
    """Two positive rows with g·x of opposite signs and θ·x = 0 on both: θ is the minimum."""
    theta = torch.tensor([0.0, 1.5], dtype=F64)
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=F64)
    y = torch.tensor([1.0, 1.0], dtype=F64)
    x_unlabeled = torch.tensor([[1.0, 1.0]], dtype=F64)
    return theta, x_unlabeled, x, y


@pytest.mark.parametrize("alpha", [1e-3, 0.1, 1.0, 30.0])
def test_constructed_batch_fails_with_theta_the_minimum(alpha):
    theta, x_unlabeled, x, y = constructed_failure()
    g = theorem.idl_gradient(theta, x_unlabeled)
    k = float(g[0])
    assert k != 0.0
    cand = theorem.candidate_losses(theta, x_unlabeled, x, y, alpha)
    both = (F.softplus(torch.tensor(alpha * k)) + F.softplus(torch.tensor(-alpha * k))) / 2
    assert cand.tolist() == pytest.approx([float(both), math.log(2), float(both)])
    assert theorem.ordering(cand).item() == 1
    # each row alone is a single instance: there the ordering holds
    for row in range(2):
        alone = theorem.candidate_losses(theta, x_unlabeled, x[row:row + 1], y[row:row + 1],
                                         alpha)
        assert theorem.ordering(alone).item() == 0


def test_draws_do_not_depend_on_chunks():
    whole = theorem.draw_problems(10, 4, dim=3, seed=7)
    tail = theorem.draw_problems(4, 4, dim=3, seed=7, first=6)
    torch.testing.assert_close(whole.x[6:], tail.x)
    torch.testing.assert_close(whole.theta[6:], tail.theta)
    assert set(whole.y.unique().tolist()) <= {0.0, 1.0}


def test_hold_rates_shape_invariants_and_determinism():
    alphas = [1e-3, 1.0, 100.0]
    table = theorem.hold_rates(alphas, [1, 8, 64], n_draws=300, dim=8, seed=0,
                               max_elements=5_000)
    again = theorem.hold_rates(alphas, [1, 8, 64], n_draws=300, dim=8, seed=0)
    pd.testing.assert_frame_equal(table, again)  # chunking changes nothing
    assert len(table) == 9
    shares = table[list(theorem.ORDERINGS)].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)
    assert (table.loc[table.batch_size == 1, "holds"] == 1.0).all()
    # logistic-regression BCE is convex in θ: θ can never be the worst of the three
    assert (table["theta_max"] == 0).all()
    big = table[table.batch_size == 64].set_index("alpha")["holds"]
    assert big[1e-3] > 0.99 and big[100.0] < 0.05
    # convexity again: for a fixed problem the ordering holds on an interval of α, so with the
    # same problems for every α the hold rate cannot rise with α
    for _, part in table.groupby("batch_size"):
        assert part["holds"].is_monotonic_decreasing
    assert table["agreement"].between(0, 1).all() and table["predicted"].between(0, 1).all()


def test_second_order_tables():
    alphas = [1e-2, 3.0, 10.0, 100.0]
    rates = theorem.hold_rates(alphas, [1, 8], n_draws=50, dim=4, seed=0)
    second, shares = theorem.second_order_tables(rates)
    assert list(second.index) == [1, 8] and second.index.name == "batch size"
    assert list(second.columns) == ["median ‖g‖", "median α*"]
    # only the steps strictly between 1 and the largest α, measured next to predicted
    assert list(shares.columns) == [("α = 3", "measured"), ("α = 3", "predicted"),
                                    ("α = 10", "measured"), ("α = 10", "predicted")]
    row = rates[(rates.batch_size == 8) & np.isclose(rates.alpha, 10.0)].iloc[0]
    assert shares.loc[8, ("α = 10", "measured")] == row["holds"]
    assert shares.loc[8, ("α = 10", "predicted")] == row["predicted"]


def test_hold_rates_direction_option():
    alphas = [1e-2, 1.0, 30.0]
    plain = theorem.hold_rates(alphas, [1, 16], n_draws=200, dim=6, seed=3)
    same = theorem.hold_rates(alphas, [1, 16], n_draws=200, dim=6, seed=3,
                              direction=lambda g: g)
    pd.testing.assert_frame_equal(plain, same)
    # moving along 2·g by α is moving along g by 2α
    doubled = theorem.hold_rates(alphas, [16], n_draws=200, dim=6, seed=3,
                                 direction=lambda g: 2 * g)
    twice = theorem.hold_rates([2 * a for a in alphas], [16], n_draws=200, dim=6, seed=3)
    np.testing.assert_allclose(doubled["holds"], twice["holds"])
    # the sign-like step: one instance still keeps the ordering at every α (any direction
    # with v·x ≠ 0 does); its direction has norm √d
    sign = theorem.hold_rates(alphas, [1, 16], n_draws=200, dim=6, seed=3,
                              direction=torch.sign)
    assert (sign.loc[sign.batch_size == 1, "holds"] == 1.0).all()
    np.testing.assert_allclose(sign["median_grad_norm"], math.sqrt(6))
    assert not np.allclose(sign["holds"], plain["holds"])


def test_critical_alpha_predicts_the_break():
    probs = theorem.draw_problems(300, 64, dim=8, seed=4)
    grad = theorem.idl_gradient(probs.theta, probs.x_unlabeled)
    crit = theorem.critical_alpha(probs.theta, grad, probs.x, probs.y)
    codes = {}
    for factor in (0.1, 10.0):
        codes[factor] = torch.stack([
            theorem.ordering(theorem.candidate_losses(
                probs.theta[r], None, probs.x[r], probs.y[r], float(factor * crit[r]),
                grad=grad[r])) for r in range(len(probs))])
    assert bool((codes[0.1] == 0).all())
    assert bool((codes[10.0] == 1).all())


def test_loss_along_line_matches_candidates():
    probs = theorem.draw_problems(4, 8, dim=5, seed=5)
    grad = theorem.idl_gradient(probs.theta, probs.x_unlabeled)
    line = theorem.loss_along_line(probs.theta, grad, probs.x, probs.y,
                                   torch.tensor([-0.5, 0.0, 0.5]))
    cand = theorem.candidate_losses(probs.theta, None, probs.x, probs.y, 0.5, grad=grad)
    torch.testing.assert_close(line.T, cand)


class _Logistic(torch.nn.Module):
    """Logistic regression on a feature table, with the (users, items) signature of backbones."""

    def __init__(self, theta: torch.Tensor, features: torch.Tensor):
        super().__init__()
        self.theta = torch.nn.Parameter(theta.clone())
        self.features = features

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.features[users] @ self.theta


def test_agrees_with_the_packages_ig_meta_step():
    probs = theorem.draw_problems(1, 16, dim=6, unlabeled_size=16, seed=6)
    features = torch.cat([probs.x[0], probs.x_unlabeled[0]])
    model = _Logistic(probs.theta[0], features)
    lab = torch.arange(16)
    unl = torch.arange(16, 32)
    alpha = 0.7
    cand = ig_meta_step(model, (unl, unl), (lab, lab, probs.y[0]), alpha, rule="sgd").losses
    ours = theorem.candidate_losses(probs.theta[0], probs.x_unlabeled[0], probs.x[0], probs.y[0],
                                    alpha)
    torch.testing.assert_close(cand, ours)


def test_meta_orderings_shares():
    meta = pd.DataFrame({"loss_direct": [1.0, 3.0, 2.0, 1.0],
                         "loss_pass": [2.0, 2.0, 1.0, 1.0],
                         "loss_inverse": [3.0, 1.0, 2.5, 2.0]})
    shares = theorem.meta_orderings(meta)
    assert shares.to_dict() == {"holds": 0.5, "theta_min": 0.25, "theta_max": 0.0, "tie": 0.25}
