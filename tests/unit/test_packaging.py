"""The package metadata: an SPDX licence with its file, the Python floor, a library-first page."""
import pytest
from conftest import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; on 3.10 these checks are skipped


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_licence_is_an_spdx_string_with_its_file():
    meta = project()
    assert meta["license"] == "MIT"  # a table is deprecated by setuptools
    assert meta["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert not [c for c in meta["classifiers"] if c.startswith("License ::")]  # SPDX replaces


def test_metadata_matches_the_readme_and_leads_with_the_library():
    meta = project()
    assert meta["requires-python"] == ">=3.10" and "Python ≥ 3.10" in (
        ROOT / "README.md").read_text(encoding="utf-8")
    assert meta["authors"] and {"Homepage", "Source", "Issues"} <= set(meta["urls"])
    page = (ROOT / meta["readme"]).read_text(encoding="utf-8")
    assert "pip install invlearn" in page and "invlearn.train(" in page
    assert page.index("On your own data") < page.index("book")
