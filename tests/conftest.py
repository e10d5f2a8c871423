"""Shared fixtures: a tiny synthetic split with a learnable structure."""
import numpy as np
import pandas as pd
import pytest

from invlearn.data import Split


def make_split(n_users: int = 40, n_items: int = 60, per_user: int = 15, seed: int = 0) -> Split:
    """Users and items in two groups; a user likes the items of their own group."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for i in rng.choice(n_items, size=per_user, replace=False):
            rows.append((u, i, float((u % 2) == (i % 2))))
    table = pd.DataFrame(rows, columns=["user", "item", "label"])
    table["label"] = table["label"].astype(np.float32)
    part = rng.permutation(len(table)) % 5
    parts = [table[np.isin(part, p)].reset_index(drop=True) for p in ([0, 1, 2], [3], [4])]
    return Split(*parts, n_users=n_users, n_items=n_items, name="toy")


@pytest.fixture
def toy_split() -> Split:
    return make_split()
