"""Every InvlearnWarning points at the caller's line, never at package source such as
``return Split(`` (chapter 1)."""
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import invlearn
from invlearn.errors import InvlearnWarning
from invlearn.splits import Split, label_fraction, random_split

PACKAGE = Path(invlearn.__file__).resolve().parent
ROOT = PACKAGE.parent


def table(users, items, labels) -> pd.DataFrame:
    return pd.DataFrame({"user": np.asarray(users, np.int64), "item": np.asarray(items, np.int64),
                         "label": np.asarray(labels, np.float32)})


TRAIN = table([0, 0, 1, 1], [0, 1, 0, 1], [1, 0, 1, 0])
VALID = table([0, 1], [1, 0], [1, 0])  # every pair also in train: an overlap warning
TEST = table([2, 2], [2, 0], [1, 0])  # user 2 and item 2 never in train: an unseen warning
REPEATED = table([0, 0, 0, 1, 1], [0, 0, 1, 0, 1], [1, 1, 0, 1, 0])  # a repeated pair


def caught(call):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always", InvlearnWarning)
        line = sys._getframe().f_lineno + 1
        call()
    return got, line


@pytest.mark.parametrize("build", [
    lambda: Split(TRAIN, VALID, TEST, n_users=3, n_items=3),
    lambda: Split(REPEATED, VALID, TEST, n_users=3, n_items=3),
    lambda: random_split(pd.concat([TRAIN, TEST, TRAIN.assign(user=3)]), seed=0),
    lambda: label_fraction(Split(TRAIN, VALID, TEST, n_users=3, n_items=3), 0.5),
], ids=["Split", "Split, repeated pair", "random_split", "label_fraction"])
def test_warnings_point_at_this_file(build):
    got, _ = caught(build)
    assert got, "the case must warn"
    for w in got:
        assert issubclass(w.category, InvlearnWarning)
        assert Path(w.filename).resolve() == Path(__file__).resolve(), (w.filename, w.lineno)


def test_warning_names_the_calling_line(tmp_path):
    script = tmp_path / "user.py"
    script.write_text(
        "import warnings\n"
        "from invlearn.splits import Split\n"
        "import pandas as pd\n"
        "t = pd.DataFrame({'user': [0, 0, 1, 1], 'item': [0, 1, 0, 1],\n"
        "                  'label': [1.0, 0.0, 1.0, 0.0]})\n"
        "v = pd.DataFrame({'user': [0, 1], 'item': [1, 0], 'label': [1.0, 0.0]})\n"
        "s = Split(t, v, v.assign(user=[2, 2]), n_users=3, n_items=3)  # line 7\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert f"{script}:7: InvlearnWarning" in proc.stderr
    assert "return Split(" not in proc.stderr and str(PACKAGE) not in proc.stderr
