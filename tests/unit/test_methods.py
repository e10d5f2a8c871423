"""Training methods: every method runs, learns, is deterministic, and IG chooses correctly."""
import numpy as np
import pytest
import torch
from torch import nn

from invlearn import InvlearnError, ig_meta_step, losses, train
from invlearn.methods import METHODS
from invlearn.models import GMF, BiasedGMF, NeuMF
from invlearn.optim import Adam, coalesce_rows, unique_rows
from invlearn.sampling import is_pair, pair_keys, sample_unlabeled

KEYS = ("auc", "gauc", "gauc_unweighted", "ndcg@10", "mrr", "bce")


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_records_history(toy_split, method):
    result = train(toy_split, method=method, epochs=3, lr=0.01, batch_size=64, tce_eps_n=5,
                   progress=False, full_ranking=False, threads=1)
    assert set(KEYS) <= set(result.metrics)
    assert 1 <= result.best_epoch <= 3
    table = result.history.table()
    assert list(table.index) == [1, 2, 3] and np.isfinite(table["loss"]).all()
    if method in ("idl", "ig"):
        assert set(result.history.weights) == {1, 2, 3}
        w1 = result.history.weights[3]["w1"]
        assert ((w1 >= 0) & (w1 <= 1)).all() and len(w1) > 0
    if method == "ig":
        meta = result.history.meta
        assert set(meta["direction"]) <= {"direct", "pass", "inverse"}
        cands = meta[["loss_direct", "loss_pass", "loss_inverse"]].to_numpy()
        chosen = np.array(["direct", "pass", "inverse"])[cands.argmin(1)]
        assert (chosen == meta["direction"].to_numpy()).all()
    if method == "tce":
        assert result.history.dropped[3]["count"] > 0


def test_gmf_learns_the_toy_structure(toy_split):
    result = train(toy_split, method="ns", epochs=30, lr=0.02, batch_size=64,
                   progress=False, full_ranking=True)
    assert result.metrics["auc"] > 0.9
    assert 0 <= result.metrics["recall@20"] <= 1


def test_same_seed_same_metrics_on_cpu(toy_split):
    runs = [train(toy_split, method=m, epochs=2, lr=0.01, batch_size=64, seed=3, device="cpu",
                  progress=False, full_ranking=False).metrics for m in ("ig", "ig", "srns")]
    assert runs[0] == runs[1]
    other = train(toy_split, method="ig", epochs=2, lr=0.01, batch_size=64, seed=4, device="cpu",
                  progress=False, full_ranking=False).metrics
    assert other != runs[0]


def test_neumf_backbone_and_any_module(toy_split):
    result = train(toy_split, method="idl", backbone="neumf", epochs=1, batch_size=64,
                   progress=False, full_ranking=True)
    assert np.isfinite(result.metrics["ndcg@20"])

    class Dot(nn.Module):  # a plain module with dense embeddings
        def __init__(self):
            super().__init__()
            self.u, self.i = nn.Embedding(40, 4), nn.Embedding(60, 4)

        def forward(self, users, items):
            return (self.u(users) * self.i(items)).sum(-1)

    result = train(toy_split, model=Dot(), method="ig", epochs=1, batch_size=64,
                   progress=False, full_ranking=True)
    assert np.isfinite(result.metrics["auc"])


def test_bad_settings_are_named(toy_split):
    for kw, name in [({"method": "magic"}, "method"), ({"backbone": "mlp"}, "backbone"),
                     ({"epochs": 0}, "epochs"), ({"alpha_rule": "adam"}, "alpha_rule"),
                     ({"meta_fraction": 1.5}, "meta_fraction"), ({"lr": -1.0}, "lr")]:
        with pytest.raises(InvlearnError, match=name):
            train(toy_split, progress=False, **kw)
    with pytest.raises(InvlearnError, match="do not fit"):
        train(toy_split, model=GMF(10, 60), progress=False)


# -- the inverse gradient ---------------------------------------------------------------
class Linear(nn.Module):
    """Logistic regression on fixed item features: logit = θ · x_item."""

    def __init__(self, features: torch.Tensor, theta: torch.Tensor):
        super().__init__()
        self.x = features
        self.theta = nn.Parameter(theta.clone())

    def forward(self, users, items):
        return self.x[items] @ self.theta


def _toy_ig(label: float):
    # item 0 is unlabeled and the model leans positive on it; item 1 is the labeled item and
    # shares its features, so following IDL (raising the logit) helps iff the label is 1
    x = torch.tensor([[1.0, 0.5], [1.0, 0.5]], dtype=torch.float64)
    model = Linear(x, torch.tensor([1.0, 1.0], dtype=torch.float64))
    unlabeled = (torch.tensor([0, 0]), torch.tensor([0, 0]))
    labeled = (torch.tensor([0]), torch.tensor([1]), torch.tensor([label], dtype=torch.float64))
    return model, unlabeled, labeled


@pytest.mark.parametrize("label,choice", [(0.0, 2), (1.0, 0)])
@pytest.mark.parametrize("rule", ["sgd", "sign"])
def test_ig_meta_step_picks_the_direction_the_labels_ask_for(label, choice, rule):
    model, unlabeled, labeled = _toy_ig(label)
    theta = model.theta.detach().clone()
    logits = model(*unlabeled)
    g = torch.autograd.grad(losses.inverse_dual_loss(logits), model.theta)[0]
    step = 0.1 * g if rule == "sgd" else 0.1 * g / (g.abs() + 1e-8)
    result = ig_meta_step(model, unlabeled, labeled, alpha=0.1, rule=rule)
    cand, w1 = result.losses, result.w1
    assert int(cand.argmin()) == choice  # 0 direct, 1 pass, 2 inverse
    sign = choice - 1
    torch.testing.assert_close(model.theta.detach(), theta + sign * step)
    expected = [losses.bce(model.x[[1]] @ (theta + s * step), labeled[2]) for s in (-1, 0, 1)]
    torch.testing.assert_close(cand, torch.stack(expected))
    assert float(w1[0]) > 0.5  # the unlabeled pair is annotated positive


def test_ig_meta_step_passes_at_the_optimum():
    # the labeled loss is at its minimum in the direction of g: both moves make it worse
    x = torch.tensor([[1.0], [1.0]], dtype=torch.float64)
    model = Linear(x, torch.tensor([0.0], dtype=torch.float64))
    labeled = (torch.tensor([0, 0]), torch.tensor([1, 1]),
               torch.tensor([1.0, 0.0], dtype=torch.float64))
    model.theta.data += 0.3  # lean positive so IDL's gradient is not zero
    model.x = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    model.theta.data.zero_()
    model.theta.data += 0.0
    # unlabeled item 0 has feature 1, labeled item 1 has feature 0 on θ... use a 2-d model:
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    model = Linear(x, torch.tensor([0.5, 0.0], dtype=torch.float64))
    model.x = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    cand = ig_meta_step(model, (torch.tensor([0]), torch.tensor([0])), labeled, alpha=0.5).losses
    assert int(cand.argmin()) == 1
    torch.testing.assert_close(model.theta.detach(),
                               torch.tensor([0.5, 0.0], dtype=torch.float64))


def test_ig_meta_step_sparse_rows_match_dense_tables():
    torch.manual_seed(0)
    sparse = GMF(30, 500, 8, sparse=True)
    dense = GMF(30, 500, 8, sparse=False)
    dense.load_state_dict(sparse.state_dict())
    gen = torch.Generator().manual_seed(1)
    unl = (torch.randint(0, 30, (64,), generator=gen), torch.randint(0, 500, (64,), generator=gen))
    lab = (torch.randint(0, 30, (64,), generator=gen), torch.randint(0, 500, (64,), generator=gen),
           torch.randint(0, 2, (64,), generator=gen).float())
    for rule in ("sgd", "sign"):
        a = ig_meta_step(sparse, unl, lab, alpha=0.05, rule=rule).losses
        b = ig_meta_step(dense, unl, lab, alpha=0.05, rule=rule).losses
        torch.testing.assert_close(a, b)
        for (name, p), q in zip(sparse.named_parameters(), dense.parameters()):
            torch.testing.assert_close(p, q, msg=name)


def test_coalesce_rows_sums_repeats():
    table = nn.Embedding(10, 3, sparse=True)
    idx = torch.tensor([7, 2, 7, 7, 5, 2])
    (table(idx) * torch.arange(18.0).view(6, 3)).sum().backward()
    rows, vals = coalesce_rows(table.weight.grad)
    dense = table.weight.grad.to_dense()
    assert rows.tolist()[:3] == [2, 5, 7] and set(rows.tolist()) == {2, 5, 7}
    torch.testing.assert_close(vals, dense[rows])


def test_unique_rows_gives_the_bits_of_coalesce_rows():
    gen = torch.Generator().manual_seed(4)
    for n in (1, 7, 300):
        idx = torch.randint(0, 9, (n,), generator=gen)  # many repeats
        grad = torch.sparse_coo_tensor(idx[None], torch.randn(n, 5, generator=gen), (9, 5))
        rows, values = unique_rows(grad)
        padded_rows, padded_values = coalesce_rows(grad)
        k = len(rows)
        assert torch.equal(rows, padded_rows[:k]) and torch.equal(values, padded_values[:k])
        assert torch.equal(rows, torch.unique(idx))


def test_lazy_adam_is_adam_on_the_rows_it_touches():
    # when every batch touches every row, the lazy update equals torch's dense Adam exactly
    torch.manual_seed(0)
    ours, ref = NeuMF(20, 30, 4, 8, (8, 4)), NeuMF(20, 30, 4, 8, (8, 4), sparse=False)
    ref.load_state_dict(ours.state_dict())
    opt, ref_opt = Adam(ours, lr=0.01), torch.optim.Adam(ref.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        u = torch.arange(20).repeat(3)[torch.randperm(60, generator=gen)]
        i = torch.arange(30).repeat(2)[torch.randperm(60, generator=gen)]
        y = torch.randint(0, 2, (60,), generator=gen).float()
        for model, o in ((ours, opt), (ref, ref_opt)):
            o.zero_grad()
            losses.bce(model(u, i), y).backward()
            o.step()
    for p, q in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q)
    # rows a batch does not touch do not move
    before = ours.item.weight.detach().clone()
    opt.zero_grad()
    losses.bce(ours(torch.tensor([0, 1]), torch.tensor([3, 3])), torch.ones(2)).backward()
    opt.step()
    moved = (ours.item.weight.detach() != before).any(1)
    assert moved.nonzero().flatten().tolist() == [3]


def test_dense_part_is_torch_adam_to_the_last_bit():
    torch.manual_seed(3)
    ours, ref = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1)), nn.Sequential(
        nn.Linear(6, 4), nn.Linear(4, 1))
    ref.load_state_dict(ours.state_dict())
    opt, ref_opt = Adam(ours, lr=0.03), torch.optim.Adam(ref.parameters(), lr=0.03)
    for step in range(7):
        x = torch.randn(16, 6)
        for model, o in ((ours, opt), (ref, ref_opt)):
            o.zero_grad()
            model(x).square().mean().backward()
            o.step()
        for p, q in zip(ours.parameters(), ref.parameters()):
            assert torch.equal(p, q), f"step {step}"


def _two_steps(lazy: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Item table after one step on items 0 and 1, and after a second step on item 2 only."""
    torch.manual_seed(1)
    model = GMF(3, 4, 2)
    opt = Adam(model, lr=0.1, lazy=lazy)
    for items in ([0, 1], [2]):
        opt.zero_grad()
        users = torch.zeros(len(items), dtype=torch.long)
        losses.bce(model(users, torch.tensor(items)), torch.ones(len(items))).backward()
        opt.step()
        if items == [0, 1]:
            first = model.item.weight.detach().clone()
    return first, model.item.weight.detach().clone()


def test_dense_adam_moves_unused_rows_by_momentum_lazy_does_not():
    first, second = _two_steps(lazy=False)
    assert not torch.equal(first[0], second[0]) and not torch.equal(first[1], second[1])
    assert torch.equal(first[3], second[3])  # never used: zero moments, no move
    first, second = _two_steps(lazy=True)
    assert torch.equal(first[:2], second[:2]) and not torch.equal(first[2], second[2])


def test_dense_adam_on_sparse_tables_is_torch_adam_bit_for_bit():
    torch.manual_seed(0)
    ours, ref = NeuMF(20, 30, 4, 8, (8, 4)), NeuMF(20, 30, 4, 8, (8, 4), sparse=False)
    ref.load_state_dict(ours.state_dict())
    opt, ref_opt = Adam(ours, lr=0.01, lazy=False), torch.optim.Adam(ref.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    for step in range(6):  # batches of distinct rows, a few of the tables' rows each
        u = torch.randperm(20, generator=gen)[:7]
        i = torch.randperm(30, generator=gen)[:7]
        y = torch.randint(0, 2, (7,), generator=gen).float()
        for model, o in ((ours, opt), (ref, ref_opt)):
            o.zero_grad()
            losses.bce(model(u, i), y).backward()
            o.step()
        for p, q in zip(ours.parameters(), ref.parameters()):
            assert torch.equal(p, q), f"step {step}"


def test_the_optimizer_setting_reaches_the_run(toy_split):
    settings = {"method": "ns", "epochs": 1, "batch_size": 64, "full_ranking": False,
                "device": "cpu"}
    lazy, dense = (train(toy_split, optimizer=o, progress=False, **settings)
                   for o in ("lazy", "dense"))
    assert lazy.config.optimizer == "lazy" and dense.config.optimizer == "dense"
    assert lazy.metrics["auc"] != dense.metrics["auc"]
    with pytest.raises(InvlearnError, match="optimizer must be one of lazy, dense"):
        train(toy_split, optimizer="sgd", **settings)


# -- the unlabeled sampler ----------------------------------------------------------------
def test_sampler_avoids_training_pairs_and_is_seeded():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 50, 2000)
    items = rng.integers(0, 30, 2000)
    keys = pair_keys(users, items, 30)
    out = sample_unlabeled(users, 30, keys, 3, np.random.default_rng(1))
    assert out.shape == (2000, 3)
    assert not is_pair(keys, np.repeat(users, 3), out.reshape(-1), 30).any()
    again = sample_unlabeled(users, 30, keys, 3, np.random.default_rng(1))
    assert (out == again).all()


def test_sampler_reports_users_with_no_free_items():
    users = np.repeat([4], 5)
    items = np.arange(5)
    with pytest.raises(InvlearnError, match=r"users \[4\]"):
        sample_unlabeled(users, 5, pair_keys(users, items, 5), 1, np.random.default_rng(0))
    with pytest.raises(InvlearnError, match="sampling rate"):
        sample_unlabeled(users, 5, pair_keys(users, items, 5), 0, np.random.default_rng(0))


@pytest.mark.parametrize("model", [GMF(7, 11, 4), NeuMF(7, 11, 4, 6, (8, 4)),
                                   BiasedGMF(7, 11, 4)])
def test_score_all_equals_forward_on_the_grid(model):
    with torch.no_grad():  # non-zero biases (BiasedGMF starts them at 0)
        for name, p in model.named_parameters():
            if "bias" in name:
                p.normal_(0, 0.5)
    users = torch.tensor([0, 3, 6, 2])
    grid = model(users.repeat_interleave(11), torch.arange(11).repeat(4)).view(4, 11)
    with torch.no_grad():
        torch.testing.assert_close(model.score_all(users), grid.detach())


@pytest.mark.parametrize("chunk", [None, 1, 3, 100])
def test_neumf_score_all_in_chunks_equals_forward(chunk):
    torch.manual_seed(1)
    model = NeuMF(7, 11, 4, 6, (8, 4))
    with torch.no_grad():
        for p in model.parameters():  # non-zero biases, weights of both signs
            p.normal_(0, 0.5)
    users = torch.tensor([0, 3, 6, 2, 5])
    grid = model(users.repeat_interleave(11), torch.arange(11).repeat(5)).view(5, 11)
    with torch.no_grad():
        torch.testing.assert_close(model.score_all(users, chunk=chunk), grid.detach())


def test_one_annotation_function_for_every_accuracy():
    from invlearn.training import History, annotation

    class Truth:  # item 1 is the only true positive
        def true_label(self, users, items):
            return (np.asarray(items) == 1).astype(np.float32)

    rec = {"user": np.array([0, 1, 2]), "item": np.array([1, 1, 5]),
           "w1": np.array([0.9, 0.2, 0.6], np.float32), "true": np.array([1, 0, 0], np.float32)}
    called, true = annotation(rec, Truth())
    assert called.tolist() == [True, False, True] and true.tolist() == [True, False, False]
    assert annotation(rec, Truth(), recorded=False)[1].tolist() == [True, True, False]
    history = History(weights={1: rec, 2: {k: v for k, v in rec.items() if k != "true"}})
    assert history.annotation_accuracy(Truth()).tolist() == [2 / 3, 1 / 3]
    with pytest.raises(InvlearnError, match="truth="):
        annotation({k: v for k, v in rec.items() if k != "true"})


def _members(protocol: type) -> set[str]:
    return set(protocol.__annotations__) | {
        name for name, value in vars(protocol).items()
        if callable(value) and not name.startswith("_")}


def test_both_engines_have_the_declared_run_interfaces(toy_split):
    from invlearn.config import TrainConfig
    from invlearn.ig import IGRun
    from invlearn.methods import METHOD_TABLE, Run
    from invlearn.static import StaticRun
    from invlearn.training import TrainingRun

    config = TrainConfig(method="ig", device="cpu").check()
    run = Run(toy_split, config, None)
    METHOD_TABLE["ig"].setup(run)
    assert {"cfg", "model", "batches", "step", "stream", "log_meta", "fit_rows"} <= _members(IGRun)
    assert all(hasattr(run, name) for name in _members(IGRun) | _members(TrainingRun))
    static = StaticRun(toy_split, TrainConfig(method="ig", device="cpu", step="static",
                                               optimizer="dense").check(), None, "pad", None, 8)
    assert all(hasattr(static, name) for name in _members(TrainingRun))
    # one meta split (Algorithm 1, line 1) from the same seed: the same rows on both engines
    assert torch.equal(run.meta_rows, static.meta_rows)
    assert torch.equal(run.fit_rows, static.fit_rows)
    assert len(run.meta_rows) + len(run.fit_rows) == len(toy_split.train)


@pytest.mark.parametrize("dim", [1, 3])
def test_dense_adam_trains_tables_of_any_width(dim):
    # torch 2.13's to_dense() gives zeros for one-column sparse gradients; the dense step
    # must still move the used row by lr on its first step, as torch.optim.Adam does
    table = torch.nn.Embedding(4, dim, sparse=True)
    torch.nn.init.ones_(table.weight)
    opt = Adam(table, lr=0.1, lazy=False)
    table(torch.tensor([2, 2])).sum().backward()
    opt.step()
    assert torch.allclose(table.weight[2], torch.full((dim,), 0.9))
    assert torch.equal(table.weight[[0, 1, 3]], torch.ones(3, dim))


def test_ig_stream_windows_continue_then_start_again_from_the_top():
    from invlearn.ig import windows

    take = windows((torch.arange(10), None, torch.arange(10) * 2))
    users, none, doubled = take(4)
    assert users.tolist() == [0, 1, 2, 3] and none is None and doubled.tolist() == [0, 2, 4, 6]
    assert take(4)[0].tolist() == [4, 5, 6, 7]
    assert take(4)[0].tolist() == [0, 1, 2, 3]  # 8..11 would run past the end
    assert take(2)[0].tolist() == [4, 5] and take(4)[0].tolist() == [6, 7, 8, 9]
    assert take(20)[0].tolist() == list(range(10))  # longer than the stream: all of it
