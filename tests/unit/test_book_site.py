"""The book as a site: the API page covers the whole package, and the Colab cells agree with
``_config.yml`` on where the repository lives."""
from __future__ import annotations

import json
import pkgutil
import re

import yaml
from conftest import BOOK, ROOT

import invlearn

CHAPTERS = sorted(BOOK.glob("0*.ipynb")) + [BOOK / "experiment.ipynb"]


def public_modules() -> list[str]:
    return ["invlearn"] + [f"invlearn.{m.name}" for m in pkgutil.iter_modules(invlearn.__path__)
                           if not m.name.startswith("_")]


def test_api_page_documents_every_module() -> None:
    page = (BOOK / "api.md").read_text()
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", page, flags=re.MULTILINE))
    in_table = set(re.findall(r"^\| \{mod\}`(\S+)` \|", page, flags=re.MULTILINE))
    modules = set(public_modules())
    assert modules - documented == set(), "add an automodule entry to book/api.md"
    assert modules - in_table == set(), "add the module (and its chapter) to the table"
    assert documented - modules == set() and in_table - modules == set(), "a module is gone"


def test_api_page_is_in_the_toc() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert "book/api" in files


def first_code_cell(path) -> dict:
    notebook = json.loads(path.read_text())
    return next(c for c in notebook["cells"] if c["cell_type"] == "code")


def test_colab_cells_clone_the_repository_of_the_config() -> None:
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    for path in CHAPTERS:
        cell = first_code_cell(path)
        source = "".join(cell["source"])
        assert "google.colab" in source, path.name
        assert re.findall(r"https?://[^\s\"']+", source) == [url], path.name
        assert 'os.environ.get("INVLEARN_REPO"' in source, path.name
        assert '"clone", "--depth", "1"' in source, path.name
        assert "torch" not in source.replace("Colab's own torch", ""), path.name
        assert {"nbval-skip", "hide-input"} <= set(cell["metadata"].get("tags", [])), path.name


def test_colab_cells_are_one_cell() -> None:
    sources = {"".join(first_code_cell(p)["source"]) for p in CHAPTERS}
    assert len(sources) == 1, "the Colab cell differs between chapters"
