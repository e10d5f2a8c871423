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
