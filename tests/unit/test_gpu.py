"""On a CUDA machine: training runs there, and IG's meta-step never waits for the host."""
import pytest
import torch

from invlearn import ig_meta_step, losses, train
from invlearn.models import GMF
from invlearn.optim import Adam

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
def test_training_runs_on_cuda(toy_split):
    result = train(toy_split, method="ig", epochs=2, batch_size=64, progress=False)
    assert next(result.model.parameters()).device.type == "cuda"
    assert 0 <= result.metrics["auc"] <= 1


@cuda
def test_meta_step_and_gamma_step_have_no_host_synchronisation():
    dev = torch.device("cuda")
    model = GMF(1000, 50_000, 32).to(dev)
    opt = Adam(model, 1e-3)
    gen = torch.Generator(device=dev).manual_seed(0)
    batch = [torch.randint(0, n, (1024,), device=dev, generator=gen)
             for n in (1000, 50_000, 1000, 50_000)]
    y = torch.randint(0, 2, (1024,), device=dev, generator=gen).float()
    ig_meta_step(model, (batch[0], batch[1]), (batch[2], batch[3], y), 1e-4)  # warm-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for rule in ("sgd", "sign"):
            ig_meta_step(model, (batch[0], batch[1]), (batch[2], batch[3], y), 1e-4, rule)
            opt.zero_grad()
            losses.bce(model(batch[2], batch[3]), y).backward()
            opt.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")


# -- the static-shape path (invlearn.static): CUDA graphs --------------------------------------
def _static_run(split, method, graphs, backbone="gmf", fixed_items=True):
    from invlearn import TrainConfig
    from invlearn.static import StaticRun

    cfg = TrainConfig(method=method, backbone=backbone, epochs=2, batch_size=64, lr=1e-2,
                      device="cuda", full_ranking=False, optimizer="dense")
    run = StaticRun(split, cfg, None, "pad", graphs, 8)

    def fixed(users):  # no randomness, so captured and eager runs see the same items
        return (users * 7 + 3) % split.n_items, torch.ones_like(users, dtype=torch.bool)
    if fixed_items:
        run.sampler.sample = fixed
    return run


@cuda
@pytest.mark.parametrize("method", ["ns", "ig"])
@pytest.mark.parametrize("backbone", ["gmf", "neumf", "gmf_bias"])
def test_cuda_graph_replay_equals_eager_static_steps(toy_split, method, backbone):
    graph = _static_run(toy_split, method, True, backbone)
    eager = _static_run(toy_split, method, False, backbone)
    for epoch in (1, 2):
        loss_g, loss_e = graph.epoch(epoch), eager.epoch(epoch)
        assert loss_g == pytest.approx(loss_e, rel=1e-5)
    assert set(graph.trainer.graphs) == ({"supervised", "meta"} if method == "ig"
                                         else {"supervised"})
    for (name, a), b in zip(graph.model.state_dict().items(),
                            eager.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)
    if method == "ig":
        for a, b in zip(graph.meta_log, eager.meta_log):
            assert list(a["direction"]) == list(b["direction"])


@cuda
def test_cuda_graph_replay_has_no_host_synchronisation(toy_split):
    run = _static_run(toy_split, "ig", True, fixed_items=False)  # the device sampler
    run.epoch(1)  # captures both graphs
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            run.trainer.call("supervised")
            run.trainer.call("meta")
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    assert torch.isfinite(run.trainer.log_losses).all()


@cuda
def test_train_static_on_cuda_uses_graphs(toy_split):
    from invlearn.static import train_static

    result = train_static(toy_split, method="ig", optimizer="dense", epochs=2, batch_size=64,
                          full_ranking=False)
    assert result.static["graphs"] is True and result.static["unfixed_collisions"] == 0
    assert next(result.model.parameters()).device.type == "cuda"
    assert 0 <= result.metrics["auc"] <= 1


@cuda
def test_yardstick_runs():
    from invlearn.bench import yardstick_step_time

    assert 0 < yardstick_step_time(6040, 3706, steps=20) < 1
