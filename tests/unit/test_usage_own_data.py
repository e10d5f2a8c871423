"""The usage page's "Use it on your own data" section runs as written: its code blocks, in order."""
import os
import re
import subprocess
import sys

from conftest import ROOT


def section_blocks() -> list[tuple[str, str]]:
    """The (language, code) blocks between the section's own-data markers in book/usage.md."""
    text = (ROOT / "book" / "usage.md").read_text(encoding="utf-8")
    start, end = text.index("<!-- own-data:start"), text.index("<!-- own-data:end -->")
    return re.findall(r"```(python|bash)\n(.*?)```", text[start:end], flags=re.DOTALL)


def test_the_section_has_python_and_shell_blocks():
    kinds = [kind for kind, _ in section_blocks()]
    assert kinds.count("python") >= 2 and kinds.count("bash") >= 1


def test_the_section_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    namespace: dict = {}
    shell_output = ""
    for kind, code in section_blocks():
        if kind == "python":
            exec(compile(code, "book/usage.md", "exec"), namespace)  # noqa: S102 - our page
        else:
            done = subprocess.run(["bash", "-e", "-c", code], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=300, check=False)
            assert done.returncode == 0, done.stderr
            shell_output += done.stdout
    printed = capsys.readouterr().out
    assert "positive-only" in printed and "sampled negative" in printed
    top = namespace["top"]
    assert list(top.columns) == ["item", "score"] and len(top) == 5
    assert all(str(item).startswith("video_") for item in top["item"])
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "ig.pt").is_file()
    assert "ig / gmf on feed" in shell_output and "ns / gmf on clicks" in shell_output
    assert "evaluation: positive-only" in shell_output
    assert "mean ± std over seeds" in shell_output and (tmp_path / "study" / "results.csv").is_file()
