"""Shared fixtures (a tiny synthetic split with a learnable structure) and the test tiers.

Tiers, by folder: ``tests/unit`` (fast, marker ``unit``), ``tests/chapters`` (papermill smoke runs
of every chapter at toy size, marker ``chapter``) and the nbval pass over ``book/`` (marker
``notebook``). ``python -m pytest -m unit`` runs only the fast tier while editing.
"""
from pathlib import Path

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


ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"


def run_chapter(name: str, tmp_path, **parameters) -> dict:
    """Execute ``book/<name>.ipynb`` with papermill into ``tmp_path``, the kernel running in the
    book's folder, and return the key numbers the chapter recorded (its ``KEY_NUMBERS`` JSON)."""
    import json

    import papermill

    out = tmp_path / "key_numbers.json"
    papermill.execute_notebook(
        str(BOOK / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
        parameters={**parameters, "KEY_NUMBERS": str(out)},
        cwd=str(BOOK), kernel_name="python3", progress_bar=False)
    return json.loads(out.read_text())


_TIERS = {"unit": ROOT / "tests" / "unit", "chapter": ROOT / "tests" / "chapters", "notebook": BOOK}


def pytest_collection_modifyitems(items) -> None:
    """Mark every test with its tier, from the folder it lives in."""
    for item in items:
        path = Path(str(item.fspath)).resolve()
        for marker, folder in _TIERS.items():
            if folder in path.parents:
                item.add_marker(marker)


FAST = {"epochs": 1, "batch_size": 64, "threads": 1, "full_ranking": False}
TOY = {"dataset": "sim", "sim_size": "toy", "backbone": "gmf", **FAST}


def split_files(folder):
    """Tiny train / valid / test files, and a train file that exists but cannot be read (a run
    with it fails when it loads its data: how the grid tests make a run fail)."""
    lines = {"train": [], "valid": [], "test": []}
    for u in range(20):
        for j in range(10):
            item = (u * 7 + j * 3) % 40
            part = "train" if j < 6 else ("valid" if j < 8 else "test")
            lines[part].append(f"{u}\t{item}\t{5 if (u + item) % 2 else 1}")
    paths = {}
    for part, rows in lines.items():
        paths[part] = folder / f"{part}.tsv"
        paths[part].write_text("\n".join(rows) + "\n")
    paths["broken"] = folder / "broken.tsv"
    paths["broken"].write_text("this,is\nnot a split\n")
    return paths

