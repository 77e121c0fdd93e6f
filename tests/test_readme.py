"""The README is the student's page: one page long, its commands the ones CI runs, its outputs real, its links alive."""

import re
import shlex
import subprocess

import pytest

from classifier.app.cli import main
from conftest import REPO

README = REPO / "README.md"
SETUP = ["python3 instalar.py", "source .venv/bin/activate && python script_modelo.py"]
COMMAND = "python script_modelo.py"
TESTS = "python3 instalar.py --pruebas && source .venv/bin/activate && ruff check . && python -m pytest"


def _text():
    return README.read_text(encoding="utf-8")


def _blocks(text):
    """(language, lines) of each fenced code block."""
    return [(lang, body.splitlines()) for lang, body in re.findall(r"^```(\w*)\n(.*?)^```$", text, re.S | re.M)]


def test_the_readme_is_one_page():
    assert len(_text()) <= 10_000


def test_the_two_set_up_commands_come_first_and_the_tests_have_theirs():
    blocks = _blocks(_text())
    assert blocks[0] == ("bash", SETUP)
    assert ("bash", [TESTS]) in blocks
    assert _text().index("```bash") < _text().index("\n## ")  # before any section


def test_ci_runs_the_readmes_commands_as_written():
    """What `.ci/run` runs is read from the README: its first command (set-up) and the test command."""
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "--ordenes" in ci  # before running it: an older .ci/run would install instead
    assert not re.search(r"pip install\b.*\n(.*\n)*?.*eval \"\$setup_command\"", ci), "installs before the README"
    done = subprocess.run(["bash", str(REPO / ".ci" / "run"), "--ordenes"], capture_output=True, text=True,
                          timeout=30, check=True)
    assert done.stdout.splitlines() == [SETUP[0], TESTS]


def test_the_stand_in_model_has_a_command_with_spanish_help(capsys):
    from trained_model import main as build

    assert "python tests/trained_model.py /tmp/m/effnet" in _text()
    assert "sys.path.insert" not in _text()
    with pytest.raises(SystemExit) as stopped:
        build(["--help"])
    help_text = capsys.readouterr().out
    assert stopped.value.code == 0 and help_text.startswith("uso: python tests/trained_model.py")
    assert not re.search(r"usage|positional|options:|show this help", help_text)


def test_the_outputs_shown_are_what_the_program_prints(trained_model_dir, monkeypatch, capsys):
    """Each `$ python script_modelo.py --modelo /tmp/m/effnet …` transcript, run again with that model."""
    monkeypatch.chdir(REPO)
    shown = 0
    for _, lines in _blocks(_text()):
        starts = [i for i, line in enumerate(lines) if line.startswith(f"$ {COMMAND} --modelo /tmp/m/effnet")]
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(lines)
            argv = [str(trained_model_dir) if a == "/tmp/m/effnet" else a for a in shlex.split(lines[start])[3:]]
            assert main(argv) == 0
            out, err = capsys.readouterr()
            # The device line goes to stderr, and only to a terminal (as the README says of its runs).
            expected = [line for line in lines[start + 1:end] if not line.startswith("El modelo se ejecuta en")]
            assert out.splitlines() == expected
            shown += 1
    assert shown >= 1


@pytest.mark.parametrize("page", ["README.md", "docs/instalacion.md", "docs/uso.md", "docs/descarga.md",
                                  "docs/arquitectura.md"])
def test_the_links_lead_somewhere(page):
    """Every relative link names a file that exists and, after #, one of its headings."""
    path = REPO / page
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
        if target.startswith("http"):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{page}: {target}"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
            assert anchor in slugs, f"{page}: {target}"


def test_no_sentence_for_a_student_names_a_programmers_api():
    """The program's texts (not its docstrings or comments) never send a student to Python code."""
    import ast

    apis = re.compile(r"save_pretrained|from_pretrained|snapshot_download|hf_hub_download|state_dict|AutoModel|"
                      r"AutoImageProcessor|trust_remote_code|torch\.load|pipeline\(")
    found = []
    for path in sorted((REPO / "classifier").rglob("*.py")):  # the packages' modules too
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if apis.search(node.value):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value[:80]}")
    assert found == []
