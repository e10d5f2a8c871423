"""Loss formulas against values computed by hand."""
import math

import pytest
import torch

from invlearn import losses


def test_idl_weights_known_values():
    w1, w0 = losses.idl_weights(torch.tensor([0.0, 2.0, -1.0], dtype=torch.float64))
    # s = 0: both losses are log 2, so the weights are equal
    assert w1.tolist() == pytest.approx([0.5, 0.9964513312709131, 0.05383666297790494])
    assert (w1 + w0).tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_idl_weights_match_the_papers_normalised_form():
    s = torch.linspace(-6, 6, 25, dtype=torch.float64)
    l1, l0 = torch.nn.functional.softplus(-s), torch.nn.functional.softplus(s)
    z = l0 / l1 + l1 / l0
    w1, w0 = losses.idl_weights(s)
    torch.testing.assert_close(w1, l0 / (z * l1))
    torch.testing.assert_close(w0, l1 / (z * l0))


def test_idl_gradient_is_sigmoid_minus_w1():
    s = torch.linspace(-5, 5, 21, dtype=torch.float64, requires_grad=True)
    losses.idl_terms(s).sum().backward()
    w1, _ = losses.idl_weights(s.detach())
    torch.testing.assert_close(s.grad, torch.sigmoid(s.detach()) - w1)
    # it pushes every logit further to the side it leans to (gradient descent: s -= grad)
    lean = torch.sign(s.detach())
    assert torch.all(-s.grad[lean != 0] * lean[lean != 0] > 0)


def test_idl_mean_and_no_gradient_through_weights():
    s = torch.tensor([0.3, -2.0], requires_grad=True)
    loss = losses.inverse_dual_loss(s)
    l1 = [math.log1p(math.exp(-v)) for v in (0.3, -2.0)]
    l0 = [math.log1p(math.exp(v)) for v in (0.3, -2.0)]
    expected = sum((a * a * b + b * b * a) / (a * a + b * b) for a, b in zip(l0, l1)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("it,expected", [(0, 0.0), (500, 0.05), (1000, 0.1), (2000, 0.2),
                                         (10**6, 0.2)])
def test_drop_rate_schedule(it, expected):
    assert losses.drop_rate(it, eps_max=0.2, eps_n=2000) == pytest.approx(expected)


def test_truncated_bce_drops_largest_loss_positives_only():
    # ten positives with increasing loss (decreasing logit), and negatives with huge loss
    logits = torch.cat([torch.linspace(3, -3, 10), torch.full((5,), 8.0)])
    labels = torch.cat([torch.ones(10), torch.zeros(5)])
    # ⌊rate · 15 rows⌋ dropped, never more than the 10 positives
    for rate, n_drop in [(0.0, 0), (0.1, 1), (0.3, 4), (0.5, 7), (0.8, 10), (0.99, 10)]:
        loss, dropped = losses.truncated_bce(logits, labels, rate)
        assert int(dropped.sum()) == n_drop
        assert not dropped[10:].any()  # negatives are never dropped
        assert dropped[10 - n_drop:10].all()  # the largest-loss positives are
        full = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, labels, reduction="none")
        assert float(loss) == pytest.approx(float(full[~dropped].mean()))


def test_truncated_bce_counts_over_the_schedule():
    labels = torch.cat([torch.ones(40), torch.zeros(60)])
    logits = torch.randn(100, generator=torch.Generator().manual_seed(0))
    counts = [int(losses.truncated_bce(logits, labels, losses.drop_rate(t, 0.25, 100))[1].sum())
              for t in (0, 40, 100, 400)]
    assert counts == [0, 10, 25, 25]  # ⌊ε(T) · 100 rows⌋ (Wang et al.), not ε(T) · 40 positives


def test_rce_weights_known_values():
    logits = torch.tensor([0.0, math.log(3.0), math.log(3.0)])
    labels = torch.tensor([1.0, 1.0, 0.0])  # σ(log 3) = 0.75
    w = losses.rce_weights(logits, labels, beta=0.5)
    assert w.tolist() == pytest.approx([0.5 ** 0.5, 0.75 ** 0.5, 0.25 ** 0.5], rel=1e-6)
    assert losses.rce_weights(logits, labels, beta=0.0).tolist() == [1.0, 1.0, 1.0]


def test_reweighted_bce_is_weighted_mean_with_detached_weights():
    logits = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    labels = torch.tensor([1.0, 0.0, 0.0])
    loss = losses.reweighted_bce(logits, labels, beta=0.25)
    w = losses.rce_weights(logits, labels, 0.25)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    assert float(loss) == pytest.approx(float((w * ce).mean()))
    loss.backward()
    expected = w * (torch.sigmoid(logits.detach()) - labels) / 3
    torch.testing.assert_close(logits.grad, expected)
