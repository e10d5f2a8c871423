"""Backbones: GMF and NeuMF (He et al., 2017), as used in the paper's Tables 1 and 2 (chapter 1),
and GMF with biases (chapter 9).

The training methods never look inside a model: any ``torch.nn.Module`` that maps
``(users, items)`` (two int64 tensors) to a tensor of logits works. The two backbones here keep
their embedding tables *sparse* (``nn.Embedding(sparse=True)``) so that one training step, and
one inverse-gradient meta-step, touches only the rows of its batch (see ``invlearn.methods``).
"""
from __future__ import annotations

import torch
from torch import nn

from .config import BACKBONES
from .errors import InvlearnError


def _embedding(n: int, dim: int, sparse: bool) -> nn.Embedding:
    table = nn.Embedding(n, dim, sparse=sparse)
    nn.init.normal_(table.weight, std=0.01)
    return table


class GMF(nn.Module):
    """Generalized matrix factorization: ``h · (p_u ⊙ q_i) + b`` (book chapter 1)."""

    def __init__(self, n_users: int, n_items: int, dim: int = 32, sparse: bool = True):
        super().__init__()
        self.n_users, self.n_items = n_users, n_items
        self.user = _embedding(n_users, dim, sparse)
        self.item = _embedding(n_items, dim, sparse)
        self.out = nn.Linear(dim, 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.out(self.user(users) * self.item(items)).squeeze(-1)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """Logits of ``users`` against every item, ``[len(users), n_items]`` (full ranking)."""
        weighted = self.user(users) * self.out.weight  # fold the output layer into the users
        return weighted @ self.item.weight.T + self.out.bias


class BiasedGMF(GMF):
    """GMF plus a global, a user and an item bias: ``h · (p_u ⊙ q_i) + b + b_u + b_i``
    (chapter 9), so that a model can learn popularity from few labels. All three biases start
    at 0; the global bias is the output layer's bias (GMF's ``b``), the user and item biases are
    one-column embedding tables (sparse like the factors)."""

    def __init__(self, n_users: int, n_items: int, dim: int = 32, sparse: bool = True):
        super().__init__(n_users, n_items, dim, sparse)
        nn.init.zeros_(self.out.bias)
        self.user_bias = nn.Embedding(n_users, 1, sparse=sparse)
        self.item_bias = nn.Embedding(n_items, 1, sparse=sparse)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (super().forward(users, items) + self.user_bias(users).squeeze(-1)
                + self.item_bias(items).squeeze(-1))

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """Logits of ``users`` against every item, ``[len(users), n_items]`` (full ranking)."""
        return super().score_all(users) + self.user_bias(users) + self.item_bias.weight.T


class NeuMF(nn.Module):
    """NeuMF (He et al. 2017; book chapter 1): a GMF branch (dim 32) and an MLP branch whose
    user and item embeddings (128 each) are concatenated (256) and passed through the tower
    256 → 128 → 64 → 32 — three Linear layers with ReLU, NCF's factor 32 with 3 layers —
    then both branches are concatenated into ``Linear(64 → 1)``."""

    def __init__(self, n_users: int, n_items: int, dim: int = 32, mlp_dim: int = 128,
                 tower: tuple[int, ...] = (128, 64, 32), sparse: bool = True):
        super().__init__()
        self.n_users, self.n_items = n_users, n_items
        self.user = _embedding(n_users, dim, sparse)
        self.item = _embedding(n_items, dim, sparse)
        self.user_mlp = _embedding(n_users, mlp_dim, sparse)
        self.item_mlp = _embedding(n_items, mlp_dim, sparse)
        layers: list[nn.Module] = []
        width = 2 * mlp_dim
        for size in tower:
            linear = nn.Linear(width, size)
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.ReLU()]
            width = size
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(dim + width, 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        gmf = self.user(users) * self.item(items)
        mlp = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items)], dim=-1))
        return self.out(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    def score_all(self, users: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """Logits of ``users`` against every item, ``[len(users), n_items]`` (full ranking).

        The tower's first layer acts on ``[p_u, q_i]``, so it splits into a user part and an
        item part computed once each; the GMF branch and the output layer's bias are one matrix
        product; only the rest of the tower runs per (user, item) pair, ``chunk`` users at a time
        (default: about 8,192 pairs per chunk on the CPU, where small blocks stay in cache, and
        about four million on a GPU, where few large launches win).
        """
        first = self.mlp[0]
        half = self.user_mlp.weight.shape[1]
        dim = self.user.weight.shape[1]
        weight = self.out.weight[0]
        if chunk is None:
            pairs = 8192 if users.device.type == "cpu" else 1 << 22
            chunk = max(1, pairs // self.n_items)
        items_part = self.item_mlp.weight @ first.weight[:, half:].T  # [n_items, width]
        users_part = self.user_mlp(users) @ first.weight[:, :half].T + first.bias
        scores = torch.addmm(self.out.bias, self.user(users) * weight[:dim], self.item.weight.T)
        layers = [m for m in self.mlp[1:] if isinstance(m, nn.Linear)]
        for begin in range(0, len(users), chunk):
            hidden = (users_part[begin:begin + chunk, None, :] + items_part[None]).relu_()
            for linear in layers:
                hidden = nn.functional.linear(hidden, linear.weight, linear.bias).relu_()
            scores[begin:begin + chunk] += hidden @ weight[dim:]
        return scores


def build_model(backbone: str, n_users: int, n_items: int, dim: int = 32,
                sparse: bool = True) -> nn.Module:
    """The backbone called ``backbone`` (``"gmf"``, ``"neumf"`` or ``"gmf_bias"``, GMF with
    biases)."""
    if backbone == "gmf":
        return GMF(n_users, n_items, dim, sparse=sparse)
    if backbone == "gmf_bias":
        return BiasedGMF(n_users, n_items, dim, sparse=sparse)
    if backbone == "neumf":
        return NeuMF(n_users, n_items, dim, sparse=sparse)
    raise InvlearnError(f"unknown backbone {backbone!r}: expected one of {', '.join(BACKBONES)}")
