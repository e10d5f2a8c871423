"""GMF with a global, a user and an item bias (chapter 9): shapes, start at 0, biases learn."""
import numpy as np
import pandas as pd
import pytest
import torch

from invlearn import train
from invlearn.data import Split
from invlearn.methods import METHODS
from invlearn.models import GMF, BiasedGMF, build_model
from invlearn.optim import Adam


def test_shapes_and_biases_start_at_zero():
    model = build_model("gmf_bias", 7, 11, 4)
    assert isinstance(model, BiasedGMF) and isinstance(model, GMF)
    assert model.user_bias.weight.shape == (7, 1) and model.item_bias.weight.shape == (11, 1)
    assert float(model.out.bias.detach()) == 0
    assert not model.user_bias.weight.any() and not model.item_bias.weight.any()
    users, items = torch.tensor([0, 6, 3]), torch.tensor([10, 0, 5])
    assert model(users, items).shape == (3,)
    assert model.score_all(users).shape == (3, 11)
    plain = GMF(7, 11, 4)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if "_bias" not in k})
    with torch.no_grad():  # biases at 0: the same logits as GMF with the same factors
        torch.testing.assert_close(model(users, items), plain(users, items))


def _popularity_table(n_users=60, n_items=12, seed=0):
    """Item i is liked with probability (i + 0.5) / n_items, whoever the user."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), n_items)
    items = np.tile(np.arange(n_items), n_users)
    labels = (rng.random(len(users)) < (items + 0.5) / n_items).astype(np.float32)
    return users, items, labels


def test_biases_learn_item_popularity():
    users, items, labels = _popularity_table()
    torch.manual_seed(0)
    model = BiasedGMF(60, 12, 4)
    opt = Adam(model, 0.05)
    u, i, y = (torch.as_tensor(x) for x in (users, items, labels))
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(u, i), y).backward()
        opt.step()
    item_bias = model.item_bias.weight.detach().squeeze(1).numpy()
    assert np.abs(item_bias).min() > 0 and model.user_bias.weight.abs().sum() > 0
    assert float(model.out.bias.detach()) != 0
    rate = pd.Series(labels).groupby(items).mean().to_numpy()
    assert np.corrcoef(item_bias, rate)[0, 1] > 0.8


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_biased_gmf(method):
    users, items, labels = _popularity_table(40, 30, seed=1)
    table = pd.DataFrame({"user": users, "item": items, "label": labels})
    part = np.random.default_rng(0).permutation(len(table)) % 5
    parts = [table[np.isin(part, p)].reset_index(drop=True) for p in ([0, 1, 2], [3], [4])]
    split = Split(*parts, n_users=40, n_items=30, name="popular")
    result = train(split, method=method, backbone="gmf_bias", epochs=3, lr=0.05, batch_size=64,
                   tce_eps_n=5, progress=False, full_ranking=True, threads=1, device="cpu")
    assert isinstance(result.model, BiasedGMF)
    assert result.metrics["auc"] > 0.6  # the item biases alone rank popular items first
    assert np.isfinite(result.metrics["recall@20"])
