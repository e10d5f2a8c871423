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
