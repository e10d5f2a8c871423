"""The static-shape step (invlearn.static) on the CPU: same logic as the CUDA-graph path, eager."""
import numpy as np
import pytest
import torch

from invlearn import InvlearnError, TrainConfig, ig_meta_step, losses
from invlearn.models import build_model
from invlearn.optim import Adam
from invlearn.static import (
    DeviceSampler,
    adam_step,
    ensure_grads,
    init_adam_state,
    make_optimizer,
    mark_tables,
    static_meta_step,
    train_static,
    weighted_bce,
)

torch.set_num_threads(1)


def _pair(backbone, n_users, n_items, seed=0):
    torch.manual_seed(seed)
    sparse = build_model(backbone, n_users, n_items, 8, sparse=True)
    dense = build_model(backbone, n_users, n_items, 8, sparse=False)
    dense.load_state_dict(sparse.state_dict())
    return sparse, dense


def _full_batch(n_users, n_items, seed=0):
    """Every user and every item appears in the batch (with repeats)."""
    g = torch.Generator().manual_seed(seed)
    n = 3 * max(n_users, n_items)
    users = torch.cat([torch.arange(n_users), torch.randint(0, n_users, (n - n_users,),
                                                           generator=g)])
    items = torch.cat([torch.arange(n_items), torch.randint(0, n_items, (n - n_items,),
                                                           generator=g)])
    labels = torch.randint(0, 2, (n,), generator=g).float()
    return users, items, labels


@pytest.mark.parametrize("backbone", ["gmf", "neumf", "gmf_bias"])
def test_dense_static_step_equals_lazy_eager_step_when_every_row_is_touched(backbone):
    sparse, dense = _pair(backbone, 7, 11)
    users, items, labels = _full_batch(7, 11)
    lazy = Adam(sparse, 1e-2)
    opt = make_optimizer(dense, 1e-2, torch.device("cpu"))
    ensure_grads(dense)
    init_adam_state(opt)
    weights = torch.ones_like(labels)
    for _ in range(5):
        lazy.zero_grad()
        losses.bce(sparse(users, items), labels).backward()
        lazy.step()
        adam_step(dense, opt, weighted_bce(dense(users, items), labels, weights))
    for (name, a), b in zip(sparse.state_dict().items(), dense.state_dict().values()):
        # Adam divides by √v: entries whose gradient is ~1e-9 in both (float summation order
        # differs) can move 1e-6 apart; the steps themselves are lr = 1e-2 per entry
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=name)
    # and the parameters did move
    assert not torch.equal(sparse.user.weight, _pair(backbone, 7, 11)[0].user.weight)


def test_init_adam_state_moves_nothing():
    _, dense = _pair("gmf", 5, 6)
    before = {k: v.clone() for k, v in dense.state_dict().items()}
    opt = make_optimizer(dense, 1e-2, torch.device("cpu"))
    init_adam_state(opt)
    for k, v in dense.state_dict().items():
        assert torch.equal(v, before[k])
    assert all(float(st["step"]) == 0 for st in opt.state.values())


@pytest.mark.parametrize("bitmap_limit", [1 << 27, 0])  # dense bitmap, then searchsorted
def test_device_sampler_never_returns_a_training_pair(toy_split, bitmap_limit):
    t = toy_split.train
    sampler = DeviceSampler(t["user"].to_numpy(), t["item"].to_numpy(), toy_split.n_users,
                            toy_split.n_items, torch.device("cpu"), bitmap_limit=bitmap_limit)
    assert (sampler.pairs.bitmap is None) == (bitmap_limit == 0)
    torch.manual_seed(0)
    users = torch.as_tensor(t["user"].to_numpy(np.int64, copy=True)).repeat(50)
    items, ok = sampler.sample(users)
    keys = set(zip(t["user"].tolist(), t["item"].tolist()))
    drawn = list(zip(users.tolist(), items.tolist()))
    colliding = np.array([p in keys for p in drawn])
    assert np.array_equal(colliding, ~ok.numpy())  # every collision is reported
    assert colliding.mean() < 1e-4  # ~0 after 8 rounds (toy density ≈ 0.15)
    assert items.min() >= 0 and items.max() < toy_split.n_items
    # uniform over the free items: every item is drawn
    assert len(set(items.tolist())) == toy_split.n_items


def test_device_sampler_reports_rows_it_cannot_fix():
    # user 0 has every item but one; user 1 has every item: its rows can never be fixed
    n_items = 5
    users = np.array([0] * 4 + [1] * 5)
    items = np.array([0, 1, 2, 3] + [0, 1, 2, 3, 4])
    sampler = DeviceSampler(users, items, 2, n_items, torch.device("cpu"), rounds=60)
    torch.manual_seed(0)
    got, ok = sampler.sample(torch.tensor([0] * 20 + [1] * 7))
    assert ok[:20].all() and (got[:20] == 4).all()
    assert not ok[20:].any()


@pytest.mark.parametrize("backbone", ["gmf", "neumf", "gmf_bias"])
@pytest.mark.parametrize("rule", ["sign", "sgd"])
@pytest.mark.parametrize("alpha", [1e-4, 0.5])
def test_static_meta_step_equals_ig_meta_step(backbone, rule, alpha):
    sparse, dense = _pair(backbone, 20, 30, seed=1)
    mark_tables(dense)
    g = torch.Generator().manual_seed(2)
    uu, ui = torch.randint(0, 20, (64,), generator=g), torch.randint(0, 30, (64,), generator=g)
    lu, li = torch.randint(0, 20, (32,), generator=g), torch.randint(0, 30, (32,), generator=g)
    y = torch.randint(0, 2, (32,), generator=g).float()
    eager = ig_meta_step(sparse, (uu, ui), (lu, li, y), alpha, rule)
    static = static_meta_step(dense, (uu, ui, torch.ones(64)), (lu, li, y, torch.ones(32)),
                              alpha, rule)
    assert int(static.kept) == int(eager.kept)
    torch.testing.assert_close(static.losses, eager.losses, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(static.w1, eager.w1)
    for (name, a), b in zip(sparse.state_dict().items(), dense.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7, msg=name)
    torch.testing.assert_close(static.relative_move.double(), eager.relative_move.double(),
                               rtol=1e-3, atol=1e-12)


def test_static_meta_step_can_pick_each_direction():
    """Labels that ask for a move one way or the other, as in test_methods."""
    kept = set()
    for label in (0.0, 1.0):
        sparse, dense = _pair("gmf", 4, 4, seed=3)
        mark_tables(dense)
        u, i = torch.arange(4), torch.arange(4)
        y = torch.full((4,), label)
        eager = ig_meta_step(sparse, (u, i), (u, i, y), 0.5, "sign")
        static = static_meta_step(dense, (u, i, torch.ones(4)), (u, i, y, torch.ones(4)),
                                  0.5, "sign")
        assert int(static.kept) == int(eager.kept)
        kept.add(int(static.kept))
    assert kept == {0, 2}


@pytest.mark.parametrize("method", ["none", "ns", "ig"])
@pytest.mark.parametrize("backbone", ["gmf", "neumf", "gmf_bias"])
def test_train_static_on_the_toy_split(toy_split, method, backbone):
    result = train_static(toy_split, optimizer="dense", method=method, backbone=backbone,
                          epochs=3, batch_size=64, lr=1e-2, full_ranking=False, threads=1,
                          device="cpu")
    assert 0 <= result.metrics["auc"] <= 1
    assert np.isfinite([e["loss"] for e in result.history.epochs]).all()
    assert result.static == {"step": "static", "graphs": False, "last_batch": "pad",
                             "redraw_rounds": 8, "unfixed_collisions": 0, "sampler": "bitmap"}
    assert result.to_dict()["static"]["last_batch"] == "pad"
    assert not any(m.sparse for m in result.model.modules() if isinstance(m, torch.nn.Embedding))
    if method == "ig":
        meta = result.history.meta
        assert len(meta) > 0 and set(meta["direction"]) <= {"direct", "pass", "inverse"}
        assert set(result.history.weights[1]) == {"user", "item", "w1"}
        assert "directions" in result.to_dict()


def test_train_static_learns_the_toy_structure(toy_split):
    result = train_static(toy_split, optimizer="dense", method="ns", epochs=30, batch_size=64,
                          lr=1e-2, full_ranking=False, threads=1, device="cpu")
    assert result.metrics["auc"] > 0.8


def test_train_static_drop_and_seeds(toy_split):
    a = train_static(toy_split, optimizer="dense", method="ig", epochs=2, batch_size=64,
                     full_ranking=False, device="cpu", last_batch="drop")
    b = train_static(toy_split, optimizer="dense", method="ig", epochs=2, batch_size=64,
                     full_ranking=False, device="cpu", last_batch="drop")
    assert a.static["last_batch"] == "drop"
    assert a.metrics == b.metrics  # same seed, same run on the CPU


def test_train_with_step_static_keeps_the_label_fraction_once(toy_split):
    """``train(step="static")`` and ``train_static`` run the same run: the label fraction is
    applied once (applied twice, 0.5 kept a quarter of the labeled rows)."""
    from invlearn import train

    settings = {"optimizer": "dense", "method": "ns", "epochs": 1, "batch_size": 64,
                "label_fraction": 0.5, "full_ranking": False, "device": "cpu"}
    via_train = train(toy_split, step="static", progress=False, **settings)
    direct = train_static(toy_split, **settings)
    assert via_train.metrics == direct.metrics


def test_the_static_engine_is_opt_in_only():
    from invlearn.methods import uses_static_step

    assert TrainConfig().step == "eager"
    assert not uses_static_step(TrainConfig(step="auto"), None)
    assert uses_static_step(TrainConfig(step="static", optimizer="dense"), None)


def test_train_static_rejects_what_it_does_not_support(toy_split):
    with pytest.raises(InvlearnError, match="set optimizer dense"):
        train_static(toy_split, method="ns", epochs=1)  # lazy Adam: the eager step only
    with pytest.raises(InvlearnError, match="step static has dense Adam only"):
        TrainConfig(step="static").check()  # refused with the settings, before any data
    with pytest.raises(InvlearnError, match="none, ns, ig"):
        train_static(toy_split, optimizer="dense", method="tce", epochs=1)
    with pytest.raises(InvlearnError, match="last_batch"):
        train_static(toy_split, optimizer="dense", method="ns", epochs=1, last_batch="keep")
    with pytest.raises(InvlearnError, match="CUDA"):
        train_static(toy_split, optimizer="dense", method="ns", epochs=1, device="cpu", graphs=True)
    with pytest.raises(InvlearnError, match="sparse=False"):
        train_static(toy_split, optimizer="dense", method="ns", epochs=1, device="cpu",
                     model=build_model("gmf", toy_split.n_users, toy_split.n_items))


def test_bench_report_names_the_machine_and_prints_the_static_tables():
    import pandas as pd

    from invlearn.bench import format_report, machine

    info = machine()
    assert info["torch"] == torch.__version__ and info["threads"] >= 1
    epochs = pd.DataFrame([{"backbone": "gmf", "method": m, "s_per_epoch": s, "valid_auc": 0.5,
                            "ratio_to_ns": s / 2.0, "ratio_to_yardstick": s / 0.1}
                           for m, s in (("ns", 2.0), ("ig", 2.5))])
    report = {"device": "cuda", **info, "dataset": "toy", "train_rows": 100, "epochs": epochs,
              "static_epochs": [{"backbone": "gmf", "method": "ig", "s_per_epoch": 0.3,
                                 "valid_auc": 0.5, "ratio_to_yardstick": 3.0}],
              "yardstick": {"s_per_step": 1e-4, "batches": 1000, "s_per_epoch": 0.1},
              "evaluation": {"test_rows": 10, "labeled_metrics_s": 0.1, "full_ranking_s": 0.2,
                             "users_x_items": "2 x 3"},
              "meta_step": {500: 1e-3}, "peak_memory_mb": 10.0}
    text = format_report(report)
    assert f"torch {torch.__version__}" in text and "inter-op" in text
    assert "yardstick" in text and "ratio_to_yardstick" in text and "static step" in text


def test_cpu_speedup_pairs_each_gpu_time_with_its_own_cpu_time():
    import pandas as pd

    from invlearn.bench import add_cpu_speedup, format_report, machine

    gpu = pd.DataFrame([{"backbone": "gmf", "method": "ns", "s_per_epoch": 0.5},
                        {"backbone": "neumf", "method": "ns", "s_per_epoch": 1.0},
                        {"backbone": "gmf", "method": "ig", "s_per_epoch": 0.25}])
    cpu = pd.DataFrame([{"backbone": "neumf", "method": "ns", "s_per_epoch": 4.0},
                        {"backbone": "gmf", "method": "ns", "s_per_epoch": 1.5}])
    add_cpu_speedup(gpu, cpu)
    assert gpu["cpu1_s_per_epoch"].tolist()[:2] == [1.5, 4.0]
    assert gpu["speedup_vs_cpu1"].tolist()[:2] == [3.0, 4.0]
    assert gpu["speedup_vs_cpu1"].isna().tolist() == [False, False, True]  # IG: no CPU time
    gpu["ratio_to_ns"] = 1.0
    static = gpu.assign(ratio_to_yardstick=2.0)
    report = {"device": "cuda", **machine(), "dataset": "toy", "train_rows": 100,
              "epochs": gpu, "static_epochs": static.to_dict("records"),
              "yardstick": {"s_per_step": 1e-4, "batches": 1000, "s_per_epoch": 0.1},
              "evaluation": {"test_rows": 10, "labeled_metrics_s": 0.1, "full_ranking_s": 0.2,
                             "users_x_items": "2 x 3"},
              "meta_step": {500: 1e-3}, "peak_memory_mb": 10.0}
    text = format_report(report)
    assert text.count("speedup_vs_cpu1") == 2 and "speed-up over one CPU core" in text
