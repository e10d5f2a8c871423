"""Misusing the Python API raises InvlearnError (a ValueError) naming the cause (chapter 1)."""
import pytest
import torch

from invlearn import InvlearnError, TrainConfig, train


@pytest.mark.parametrize("kwargs,match", [
    ({"config": {"method": "ns"}}, "config must be a TrainConfig"),
    ({"model": "gmf"}, "model must be a torch.nn.Module"),
    ({"lr": "0.1"}, "lr must be a number"),
    ({"lr": float("inf")}, "lr must be finite"),
    ({"seed": 0.5}, "seed must be an integer"),
    ({"seed": -1}, "seed must be at least 0"),
    ({"epochs": True}, "epochs must be an integer"),
    ({"learning_rate": 0.1}, "unknown setting"),
    ({"device": "cuda:1"}, "not available" if not torch.cuda.is_available() else "cuda"),
    ({"device": "tpu"}, "device"),
    ({"alpha_ratio": -1.0}, "alpha_ratio must be at least 0"),
    ({"srns_std_weight": float("nan")}, "srns_std_weight must be finite"),
    ({"threads": 0}, "threads must be at least 1"),
    ({"patience": 0}, "patience must be at least 1"),
    ({"method": "bpr"}, "method must be one of"),
    ({"label_fraction": 1.5}, "label_fraction must lie in"),
])
def test_train_rejects_misuse(toy_split, kwargs, match):
    with pytest.raises(InvlearnError, match=match):
        train(toy_split, progress=False, **kwargs)


def test_data_must_be_a_split():
    with pytest.raises(InvlearnError, match="data must be an invlearn Split"):
        train({"train": []}, progress=False)


def test_errors_are_value_errors_and_from_dict_checks_keys():
    assert issubclass(InvlearnError, ValueError)
    with pytest.raises(InvlearnError, match="unknown setting"):
        TrainConfig.from_dict({"methd": "ns"})
    with pytest.raises(InvlearnError, match="settings must be a dict"):
        TrainConfig.from_dict([("method", "ns")])


# -- the second fuzz: ten calls that raised something else ------------------------------------

def _table(split):
    import pandas as pd

    return pd.concat([split.train, split.valid, split.test], ignore_index=True)


def _misuse_calls():
    from torch import nn

    from invlearn.data import Split, label_fraction, random_split, unlabeled_pool
    from invlearn.grid import run_grid

    return {
        "a model that does not take (users, items)": (
            lambda s, tmp: train(s, model=nn.Linear(2, 1), progress=False), "model must map"),
        "a model returning the wrong shape": (
            lambda s, tmp: train(s, model=nn.Embedding(60, 3), progress=False), "model must map"),
        "n_users=10**13": (
            lambda s, tmp: Split(s.train, s.valid, s.test, n_users=10**13, n_items=s.n_items),
            "n_users must be at most"),
        "label_fraction of text": (lambda s, tmp: label_fraction("x", 0.5), "needs an invlearn"),
        "unlabeled_pool of None": (lambda s, tmp: unlabeled_pool(None, "hidden"),
                                   "needs an invlearn"),
        "random_split seed -1": (lambda s, tmp: random_split(_table(s), seed=-1), "seed"),
        "random_split of text": (lambda s, tmp: random_split("x"), "DataFrame"),
        "run_grid of text cells": (lambda s, tmp: run_grid(["x"], tmp / "g", progress=False),
                                   r"cells\[0\] must be a dict"),
        "run_grid into a file": (
            lambda s, tmp: run_grid([{"method": "ns", "dataset": "sim", "sim_size": "toy"}],
                                    tmp / "file", progress=False), "is a file"),
        "device meta": (lambda s, tmp: train(s, device="meta", progress=False), "'meta'"),
        "equal steps at f=1e-320": (
            lambda s, tmp: train(s, label_fraction=1e-320, equal_steps=True, progress=False),
            "equal_steps"),
        "equal steps at f=1e-9": (
            lambda s, tmp: train(s, label_fraction=1e-9, equal_steps=True, progress=False),
            "over 1000000"),
    }


@pytest.mark.parametrize("case", list(_misuse_calls()))
def test_misuse_raises_invlearn_error(case, toy_split, tmp_path):
    call, match = _misuse_calls()[case]
    (tmp_path / "file").write_text("kept\n")
    with pytest.raises(InvlearnError, match=match):
        call(toy_split, tmp_path)
    assert (tmp_path / "file").read_text() == "kept\n"
    assert not (tmp_path / "g").exists()


def test_mps_is_refused_where_absent():
    from invlearn.config import check_device

    if torch.backends.mps.is_available():
        pytest.skip("this machine has an Apple GPU")
    with pytest.raises(InvlearnError, match="not available"):
        check_device("mps")


def test_a_custom_model_is_called_in_eval_mode_without_gradients(toy_split):
    from torch import nn

    calls = []

    class Dot(nn.Module):
        def __init__(self):
            super().__init__()
            self.user = nn.Embedding(toy_split.n_users, 4)
            self.item = nn.Embedding(toy_split.n_items, 4)

        def forward(self, users, items):
            calls.append((self.training, torch.is_grad_enabled()))
            return (self.user(users) * self.item(items)).sum(-1)

    model = Dot()
    train(toy_split, model=model, epochs=1, progress=False, full_ranking=False)
    assert calls[0] == (False, False) and (True, True) in calls and model.training



def test_one_integer_check_names_the_argument(tmp_path):
    from invlearn.data import check_data_keys
    from invlearn.metrics import ndcg_at_k
    from invlearn.simfeed import simulate_feed

    with pytest.raises(InvlearnError, match="k must be a positive integer, got True"):
        ndcg_at_k([0], [1], [0.5], k=True)
    with pytest.raises(InvlearnError, match="seed must be an integer >= 0, got -1"):
        simulate_feed("toy", seed=-1)
    (tmp_path / "x.csv").write_text("u1,i1,1\n")
    with pytest.raises(InvlearnError, match=r"eval_negatives must be an integer in \[1, 1000\]"):
        check_data_keys({"dataset": "files", "data": str(tmp_path / "x.csv"),
                         "eval_negatives": 1001})


def test_integer_check_takes_numpy_integers_and_refuses_bools():
    import numpy as np

    from invlearn.errors import check_int

    assert check_int(np.int32(3), "n") == 3 and type(check_int(np.int64(3), "n")) is int
    assert check_int(0, "seed", 0) == 0
    for bad in (True, 2.0, "2", 0):
        with pytest.raises(InvlearnError, match="n must be a positive integer"):
            check_int(bad, "n")
