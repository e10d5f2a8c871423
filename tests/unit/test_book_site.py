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
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", page, flags=re.M))
    in_table = set(re.findall(r"^\| \{mod\}`(\S+)` \|", page, flags=re.M))
    modules = set(public_modules())
    assert modules - documented == set(), "add an automodule entry to book/api.md"
    assert modules - in_table == set(), "add the module (and its chapter) to the table"
    assert documented - modules == set() and in_table - modules == set(), "a module is gone"


def test_api_page_is_in_the_toc() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert "book/api" in files
