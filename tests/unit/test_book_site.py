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
    return ["invlearn"] + [m.name for m in pkgutil.walk_packages(invlearn.__path__, "invlearn.")
                           if not m.name.rsplit(".", 1)[-1].startswith("_")]


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


def test_headings_carry_no_hand_written_numbers() -> None:
    # Jupyter Book numbers the chapters and their sections (numbered: true in _toc.yml)
    for path in CHAPTERS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                numbered = re.findall(r"^#+ \d[\d.]*\s.*$", "".join(cell["source"]), flags=re.MULTILINE)
                assert not numbered, (path.name, numbered)


def test_every_figure_has_a_numbered_caption_below_it() -> None:
    for path in CHAPTERS:
        cells = json.loads(path.read_text())["cells"]
        chapter = path.name[:2].lstrip("0") if path.name[0] == "0" else None
        figures = [k for k, c in enumerate(cells) if c["cell_type"] == "code" and any(
            "image/png" in o.get("data", {}) for o in c.get("outputs", []))]
        for number, k in enumerate(figures, start=1):
            caption = "".join(cells[k + 1]["source"]) if k + 1 < len(cells) else ""
            label = f"**Figure {chapter}.{number}.** " if chapter else "**Figure.** "
            assert caption.startswith(label), (path.name, k, caption[:60])


def test_imports_and_key_numbers_are_collapsed() -> None:
    for path in CHAPTERS:
        code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        imports = code[1]
        assert "".join(imports["source"]).startswith("import "), path.name
        assert "hide-input" in imports["metadata"].get("tags", []), path.name
        writers = [c for c in code if "KEY_NUMBERS" in "".join(c["source"])
                   and "parameters" not in c["metadata"].get("tags", [])]
        for cell in writers[-1:]:  # collapsed, or left out of the page
            tags = set(cell["metadata"].get("tags", []))
            assert tags & {"hide-input", "remove-input", "remove-cell"}, path.name


SOURCE_CALL = re.compile(r"^print\(inspect\.getsource\(\w+(?:\.\w+)*\.(\w+)\)\)", re.MULTILINE)
TOP_DEFINITION = re.compile(r"^(?:async )?(?:def|class) (\w+)", re.MULTILINE)


def printed_definitions(text: str) -> list[str]:
    """The names of the top-level ``def`` / ``class`` lines of a printed source."""
    return TOP_DEFINITION.findall(text)


def test_printed_definitions_finds_top_level_names_only() -> None:
    text = "@dataclass\nclass Memory:\n    def add(self):\n        pass\n\ndef drop_rate(t):\n"
    assert printed_definitions(text) == ["Memory", "drop_rate"]
    assert SOURCE_CALL.findall("print(inspect.getsource(losses.rce_weights))  # note") == [
        "rce_weights"]


def test_printed_source_shows_the_function_the_cell_names() -> None:
    # a cell that prints a function's source must show that function: an output computed while
    # the package was being edited shows other lines of the file (inspect reads line numbers)
    checked = 0
    for path in CHAPTERS:
        for k, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] != "code":
                continue
            names = SOURCE_CALL.findall("".join(cell["source"]))
            if not names:
                continue
            printed = "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                              if o.get("output_type") == "stream")
            assert printed_definitions(printed) == names, (path.name, k)
            checked += 1
    assert checked >= 10  # chapters 1 to 6 print about fifteen sources


def glossary_rows() -> dict[str, str]:
    """Every term of the glossary's ```{glossary} blocks with its definition: a block lists one
    or more term lines, then the definition indented (several terms may share one)."""
    rows: dict[str, str] = {}
    inside, terms = False, []
    for line in (BOOK / "glossary.md").read_text().splitlines():
        if line.startswith("```"):
            inside, terms = line == "```{glossary}", []
        elif inside and line.startswith("  "):
            for term in terms:
                rows[term] = (rows.get(term, "") + " " + line.strip()).strip()
        elif inside and line.strip():
            if rows.get(terms[-1] if terms else ""):
                terms = []  # a term line after a definition starts the next entry
            assert line not in rows and line not in terms, f"glossary: {line!r} has two entries"
            terms.append(line)
    return rows


def test_glossary_rows_are_short() -> None:
    rows = glossary_rows()
    long = {term: len(m.split()) for term, m in rows.items() if len(m.split()) > 40}
    assert len(rows) > 50 and not long, long


def test_glossary_gmf_rows_match_the_models() -> None:
    from invlearn import models

    rows = glossary_rows()
    assert "+ b" in (models.GMF.__doc__ or "") and "+ b + b_u + b_i" in (
        models.BiasedGMF.__doc__ or "")
    assert r"$h^\top(p_u \odot q_i) + b$" in rows["GMF"] and "b_u" not in rows["GMF"]
    assert r"$h^\top(p_u \odot q_i) + b + b_u + b_i$" in rows["biased GMF"]
