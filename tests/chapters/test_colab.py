"""The Colab door: chapters run as Colab runs them, from a clone made by their own first cell.

A kernel is set up the way Colab looks to the chapters: a module ``google.colab`` is loaded at
start-up, torch, numpy, pandas, matplotlib … are installed, and ``invlearn`` is *not*. The
kernel's Python is a fresh virtual environment whose only view of the book environment's packages
is its ``site-packages`` folder added as a plain path, so the editable install of ``invlearn``
there (a ``.pth`` hook, which Python only runs in real site folders) stays invisible. The first
cell then clones the repository through ``$INVLEARN_REPO`` (a ``file://`` URL of a clone of this
repository's HEAD: committed work only), ``pip install``s it into the fresh environment and moves
into the clone's ``book/`` folder; the chapter must run from there.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest
from conftest import BOOK, ROOT

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

KERNEL = "invlearn-colab"


def colab_kernel(tmp: Path) -> dict[str, str]:
    """A kernelspec of a Colab-like kernel under ``tmp``; returns the environment papermill needs
    to find it."""
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True).stdout.strip()
    # the book environment's packages as a plain path: its .pth files (invlearn's editable
    # install among them) are not run
    Path(site, "book_env.pth").write_text(sysconfig.get_path("purelib") + "\n")

    stub = tmp / "stub"  # what Colab has loaded before the first cell runs
    (stub / "google" / "colab").mkdir(parents=True)
    (stub / "google" / "__init__.py").write_text("")
    (stub / "google" / "colab" / "__init__.py").write_text('"""A stand-in for Colab."""\n')

    home = tmp / "home"
    home.mkdir()
    source = tmp / "source"  # a clone of HEAD, reached through a file:// URL like a remote
    subprocess.run(["git", "clone", "-q", str(ROOT), str(source)], check=True)

    spec = tmp / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=['import google.colab']"],
        "display_name": "Colab stand-in", "language": "python",
        "env": {"PYTHONPATH": str(stub), "HOME": str(home), "INVLEARN_REPO": source.as_uri(),
                "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "MPLBACKEND": "agg"}}))
    return {"JUPYTER_PATH": str(tmp / "jupyter")}


@pytest.fixture(scope="module")
def colab(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("colab")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in colab_kernel(tmp).items():
            patch.setenv(name, value)
        patch.delenv("PYTHONPATH", raising=False)
        python = tmp / "venv" / "bin" / "python"
        found = subprocess.run(
            [str(python), "-c", ("import importlib.util as u; "
                                 "print(u.find_spec('invlearn'), u.find_spec('torch') is not None)")],
            capture_output=True, text=True, check=True, env={"PATH": "/usr/bin"}, cwd=tmp)
        assert found.stdout.split() == ["None", "True"], "invlearn must not be importable yet"
        yield tmp


def execute(colab: Path, notebook: Path, name: str, **parameters) -> None:
    import papermill

    workdir = colab / f"work_{name}"  # like /content: neither the repository nor book/
    workdir.mkdir()
    papermill.execute_notebook(str(notebook), str(colab / f"{name}.ipynb"),
                               parameters=parameters, cwd=str(workdir), kernel_name=KERNEL,
                               progress_bar=False)


def test_chapter_1_on_colab(colab: Path) -> None:
    out = colab / "key_numbers_01.json"
    execute(colab, BOOK / "01_problem.ipynb", "01", SIZE="toy", EPOCHS=2, LR=1e-2, SEEDS=[0],
            KEY_NUMBERS=str(out))
    numbers = json.loads(out.read_text())
    assert 0 <= numbers["ns_test_auc"] <= 1
    clone = colab / "home" / "invlearn"
    assert (clone / ".git" / "shallow").exists()  # cloned with --depth 1
    python = colab / "venv" / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import invlearn; print(invlearn.__file__)"],
                           capture_output=True, text=True, check=True, env={"PATH": "/usr/bin"},
                           cwd=colab)
    assert str(colab / "venv") in where.stdout  # installed into the kernel's environment


def test_chapter_6_finds_its_results_on_colab(colab: Path) -> None:
    notebook = json.loads((BOOK / "06_movielens.ipynb").read_text())
    cells = notebook["cells"]
    last = next(k for k, c in enumerate(cells)
                if 'read_csv(results_dir / "results.csv")' in "".join(c["source"]))
    notebook["cells"] = cells[:last + 1]  # Colab cell, imports, parameters, the result files
    trimmed = colab / "06_first_cells.ipynb"
    trimmed.write_text(json.dumps(notebook))
    execute(colab, trimmed, "06")
    ran = json.loads((colab / "06.ipynb").read_text())
    assert "final runs" in json.dumps(ran["cells"][last]["outputs"])
