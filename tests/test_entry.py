"""The entry run by a Python without the program's packages: a new terminal, another day, the environment not active."""

import shutil
import subprocess
import sys
import venv

import pytest

from classifier.app.dependencies import REQUIRED, advice
from conftest import REPO


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A Python with none of the program's packages: a venv of this interpreter without pip or site-packages."""
    folder = tmp_path_factory.mktemp("bare")
    venv.create(folder, with_pip=False)
    python = folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    found = subprocess.run([str(python), "-s", "-E", "-c", "import importlib.util as u; print(u.find_spec('PIL'))"],
                           capture_output=True, text=True, env={}, check=True)
    assert found.stdout.strip() == "None"
    return python


@pytest.fixture
def program(tmp_path):
    """A copy of the program, so that whether a .venv lies beside it is the test's choice."""
    folder = tmp_path / "clasificador"
    folder.mkdir()
    shutil.copy(REPO / "script_modelo.py", folder)
    shutil.copy(REPO / "instalar.py", folder)
    shutil.copytree(REPO / "classifier", folder / "classifier", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _run(python, program, *args, cwd=None):
    # -s -E and an empty environment: no user site-packages, no PYTHONPATH, nothing of the test's venv.
    return subprocess.run([str(python), "-s", "-E", *args], cwd=cwd or program, capture_output=True, text=True,
                          env={"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}, timeout=60)


def _error_line(done):
    assert done.stdout == "" and done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert "Traceback" not in done.stderr and "ModuleNotFoundError" not in done.stderr
    return lines[0]


def test_without_the_environment_active_it_says_how_to_activate_it(bare_python, program):
    (program / ".venv" / "bin").mkdir(parents=True)
    line = _error_line(_run(bare_python, program, "script_modelo.py", "images/gato.png"))
    assert "faltan torch, transformers, huggingface_hub, safetensors, PIL, numpy, matplotlib, easygui, tqdm" in line
    assert "«source .venv/bin/activate»" in line and "repita la orden" in line


def test_from_another_folder_the_activate_path_leads_to_the_environment(bare_python, program, tmp_path):
    (program / ".venv" / "bin").mkdir(parents=True)
    line = _error_line(_run(bare_python, program, str(program / "script_modelo.py"), cwd=tmp_path))
    assert "«source clasificador/.venv/bin/activate»" in line


def test_without_an_environment_it_says_how_to_install_and_python_m_says_the_same(bare_python, program):
    line = _error_line(_run(bare_python, program, "script_modelo.py"))
    assert "«python3 instalar.py»" in line and "activate" not in line
    assert _error_line(_run(bare_python, program, "-m", "classifier", "--help")) == line


def test_the_advice_on_windows_names_its_commands(tmp_path):
    (tmp_path / ".venv").mkdir()
    line = advice(["PIL"], tmp_path, windows=True)
    assert "Scripts" in line and "activate" in line and "source" not in line
    other = tmp_path / "otra"
    other.mkdir()
    (other / "instalar.py").touch()
    assert "«py instalar.py»" in advice(["PIL"], other, windows=True)


def test_the_checked_modules_are_the_requirements():
    """Every package of requirements.txt is checked, under the name it is imported by."""
    import_names = {"pillow": "PIL"}
    names = []
    for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        name = line.split("#")[0].split(">")[0].split("=")[0].split("<")[0].strip()
        if name:
            names.append(import_names.get(name.lower(), name))
    assert list(REQUIRED) == names
