"""A trained model put to work: scores and top-k lists with your original ids, saved and loaded.

:func:`invlearn.methods.train` attaches a :class:`Catalogue` to its result (the split's id maps
and the pairs each user has already interacted with), so that ``result.predict(users, items)``,
``result.recommend(user, k)`` and ``result.save(path)`` work with your own ids (``u123``).
``invlearn.load`` (:func:`read_saved`) reads a saved model back into a
:class:`~invlearn.training.TrainResult` that scores exactly as the one saved. The model-level
scoring every trainer uses lives here too: :func:`predict` (logits of pairs) and
:func:`score_function` (a user against every item).
"""
from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .errors import InvlearnError, check_int
from .sampling import sorted_unique

#: What :func:`read_saved` accepts: the format name and version a saved file carries.
FORMAT = ("invlearn-model", 1)


@dataclass
class Catalogue:
    """The users and items a model knows: ``user_ids`` / ``item_ids`` map its contiguous ids to
    the original ones (``None``: the ids are the contiguous ids themselves), and ``seen`` holds
    the sorted keys ``user · n_items + item`` of every pair the user interacted with in the data
    (train, validation, test, withheld labels and unlabeled pools; not sampled negatives)."""

    n_users: int
    n_items: int
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    seen: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))

    def users(self, values: Any) -> np.ndarray:
        """Contiguous ids of original user ids; an unknown one raises InvlearnError."""
        from .owndata import map_ids

        return map_ids(self.user_ids, values, "user", self.n_users)

    def items(self, values: Any) -> np.ndarray:
        """Contiguous ids of original item ids; an unknown one raises InvlearnError."""
        from .owndata import map_ids

        return map_ids(self.item_ids, values, "item", self.n_items)

    def original_items(self, items: np.ndarray) -> np.ndarray:
        """The original ids of contiguous item ids."""
        return items if self.item_ids is None else np.asarray(self.item_ids)[items]


def catalogue_of(data: Any) -> Catalogue:
    """The :class:`Catalogue` of a split: its id maps and every pair seen in it."""
    tables = [getattr(data, name, None) for name in
              ("train", "valid", "test", "hidden", "ambiguous", "unlabeled")]
    keys = []
    for table in tables:
        if table is None or len(table) == 0:
            continue
        if "sampled" in table.columns:
            table = table[~table["sampled"].to_numpy(dtype=bool)]
        keys.append(table["user"].to_numpy(np.int64) * data.n_items
                    + table["item"].to_numpy(np.int64))
    seen = sorted_unique(np.concatenate(keys)) if keys else np.zeros(0, np.int64)
    return Catalogue(data.n_users, data.n_items, data.user_ids, data.item_ids, seen)


@torch.no_grad()
def predict(model: nn.Module, users: torch.Tensor, items: torch.Tensor,
            batch: int = 1 << 16) -> torch.Tensor:
    """Logits of ``model`` on the pairs, in evaluation mode, batched."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(u, i) for u, i in zip(users.split(batch), items.split(batch))])
    model.train(was_training)
    return out


def score_function(model: nn.Module, n_items: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Scores of a batch of users against all items: ``model.score_all`` when the model has
    one, else ``model(users, items)`` on the full grid."""
    if hasattr(model, "score_all"):
        return model.score_all

    def score_all(users: torch.Tensor) -> torch.Tensor:
        items = torch.arange(n_items, device=users.device)
        grid = model(users.repeat_interleave(n_items), items.repeat(len(users)))
        return grid.view(len(users), n_items)

    return score_all


def _model_device(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def _or_default(catalogue: Catalogue | None, model: nn.Module) -> Catalogue:
    """``catalogue``, or for a result made without one, the model's contiguous ids."""
    if catalogue is not None:
        return catalogue
    return Catalogue(getattr(model, "n_users", 0), getattr(model, "n_items", 0))


def predict_ids(model: nn.Module, catalogue: Catalogue | None, users: Any,
                items: Any) -> np.ndarray:
    """The model's probability that each ``(users[j], items[j])`` is a positive, with original
    ids in (``sigmoid`` of the logit, float32). One user and a list of items also work."""
    cat = _or_default(catalogue, model)
    users_list, items_list = (np.asarray(pd.Series(np.atleast_1d(np.asarray(ids, dtype=object)),
                                                   dtype=object)) for ids in (users, items))
    if len(users_list) == 1 and len(items_list) > 1:
        users_list = np.repeat(users_list, len(items_list))
    if len(users_list) != len(items_list):
        raise InvlearnError(f"predict needs as many users as items (or one user), got "
                            f"{len(users_list)} and {len(items_list)}")
    device = _model_device(model)
    u = torch.as_tensor(cat.users(users_list), device=device)
    i = torch.as_tensor(cat.items(items_list), device=device)
    return torch.sigmoid(predict(model, u, i).float()).cpu().numpy()


def recommend(model: nn.Module, catalogue: Catalogue | None, user: Any, k: int = 10,
              exclude_seen: bool = True) -> pd.DataFrame:
    """The ``k`` items with the highest scores for the original ``user``: a table ``item``
    (original ids) and ``score`` (probability), best first. ``exclude_seen`` leaves out the
    items the user already interacted with in the data the model was trained on."""
    check_int(k, "k")
    cat = _or_default(catalogue, model)
    (u,) = cat.users([user])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        device = _model_device(model)
        logits = score_function(model, cat.n_items)(torch.tensor([u], device=device))[0]
        scores = torch.sigmoid(logits.float()).cpu().numpy()
    model.train(was_training)
    candidates = np.arange(cat.n_items)
    if exclude_seen and len(cat.seen):
        start, stop = np.searchsorted(cat.seen, [u * cat.n_items, (u + 1) * cat.n_items])
        seen = cat.seen[start:stop] - u * cat.n_items
        candidates = np.setdiff1d(candidates, seen, assume_unique=True)
    order = np.argsort(-scores[candidates], kind="stable")[:k]
    best = candidates[order]
    return pd.DataFrame({"item": cat.original_items(best), "score": scores[best]})


def _plain_ids(ids: np.ndarray | None, what: str) -> list | None:
    if ids is None:
        return None
    values = np.asarray(ids).tolist()
    if not all(isinstance(v, (str, int, float, bool)) for v in values):
        bad = next(v for v in values if not isinstance(v, (str, int, float, bool)))
        raise InvlearnError(f"cannot save {what} id {bad!r}: saved ids must be text or numbers")
    return values


def _ids_array(values: list | None) -> np.ndarray | None:
    if values is None:
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    return np.asarray(values, dtype=object)


def save(result: Any, path: str | os.PathLike) -> Path:
    """Write the model's weights, its config, its id maps and seen pairs, and the test metrics
    to ``path`` (one file, read by ``invlearn.load``), whole or not at all (:mod:`invlearn.io`).
    The model must be a backbone ``train`` builds (GMF, NeuMF), rebuilt from the config."""
    from .io import json_ready, write_bytes_atomic
    from .models import build_model

    config, model = result.config, result.model
    cat = _or_default(getattr(result, "catalogue", None), model)
    rebuilt = build_model(config.backbone, cat.n_users, cat.n_items, config.dim)
    if type(rebuilt) is not type(model):
        raise InvlearnError(f"cannot save a {type(model).__name__}: save() rebuilds the backbone "
                            f"{config.backbone!r} of the config; save your own model with "
                            f"torch.save(model.state_dict(), path)")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT[0], "version": FORMAT[1],
        "config": json_ready(dataclasses.asdict(config)),
        "state_dict": state, "n_users": int(cat.n_users), "n_items": int(cat.n_items),
        "user_ids": _plain_ids(cat.user_ids, "user"),
        "item_ids": _plain_ids(cat.item_ids, "item"),
        "seen": torch.as_tensor(np.asarray(cat.seen, np.int64)),
        "metrics": json_ready(result.metrics), "valid": json_ready(result.valid),
        "best_epoch": int(result.best_epoch), "data_name": str(result.data_name),
        "seconds_per_epoch": float(result.seconds_per_epoch),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        return write_bytes_atomic(path, buffer.getvalue())
    except OSError as err:
        raise InvlearnError(f"cannot write the model to {path}: {err.strerror}") from None


def read_saved(path: str | os.PathLike, device: str | None = None) -> dict:
    """What ``result.save(path)`` wrote: ``config`` (a TrainConfig), ``model`` (rebuilt, weights
    loaded, in evaluation mode), ``catalogue``, ``metrics``, ``valid``, ``best_epoch``,
    ``seconds_per_epoch`` and ``data_name``. Only plain data is unpickled
    (``torch.load(weights_only=True)``); ``invlearn.load`` makes a TrainResult of it."""
    from .config import TrainConfig
    from .models import build_model

    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InvlearnError(f"model file {path} does not exist") from None
    except Exception as err:  # noqa: BLE001 - any unreadable file is bad input
        raise InvlearnError(f"{path} is not a model saved by invlearn: "
                            f"{' '.join(str(err).split())[:200]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT[0]:
        raise InvlearnError(f"{path} is not a model saved by invlearn (result.save)")
    if payload.get("version") != FORMAT[1]:
        raise InvlearnError(f"{path} has format version {payload.get('version')}; this invlearn "
                            f"reads version {FORMAT[1]}")
    config = TrainConfig.from_dict({**payload["config"], "device": device})
    model = build_model(config.backbone, payload["n_users"], payload["n_items"], config.dim)
    model.load_state_dict(payload["state_dict"])
    if device is not None:
        model = model.to(device)
    model.eval()
    catalogue = Catalogue(payload["n_users"], payload["n_items"],
                          _ids_array(payload["user_ids"]), _ids_array(payload["item_ids"]),
                          payload["seen"].numpy())
    keys = ("metrics", "valid", "best_epoch", "seconds_per_epoch", "data_name")
    return {"config": config, "model": model, "catalogue": catalogue,
            **{k: payload[k] for k in keys}}
