"""Interrupted and piped runs, as a real process: Ctrl+C mid-batch, a closed pipe, odd encodings."""

import csv
import io
import json
import os
import signal
import subprocess
import sys

import pytest
from PIL import Image

from conftest import PHOTOS, REPO, TINY_LABELS, reliability

TRIED = reliability.setdefault("interrupciones", set())


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory):
    """A folder big enough that a batch is still running when we interrupt it."""
    folder = tmp_path_factory.mktemp("muchas")
    source = Image.open(PHOTOS[0]).convert("RGB").resize((320, 240))
    source.save(folder / "base.png")
    for index in range(600):
        os.symlink(folder / "base.png", folder / f"foto_{index:03d}.png")
    return folder


def _start(model, *args):
    return subprocess.Popen(
        [sys.executable, "script_modelo.py", "--model", str(model), "--batch-size", "1", *map(str, args)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _interrupt_after_first_lines(program, lines=3):
    received = [program.stdout.readline() for _ in range(lines)]
    program.send_signal(signal.SIGINT)
    rest, err = program.communicate(timeout=60)
    return b"".join(received) + rest, err.decode()


def test_ctrl_c_mid_batch_leaves_whole_json_lines(tiny_model_dir, many_photos):
    program = _start(tiny_model_dir, "--format", "json", many_photos)
    out, err = _interrupt_after_first_lines(program)
    assert program.returncode == 130, err
    records = [json.loads(line) for line in out.decode("utf-8").splitlines()]  # every line parses
    assert 3 <= len(records) < 600
    assert all(len(r["predictions"]) == 7 for r in records)
    assert "Interrumpido." in err and "Traceback" not in err
    TRIED.add("Ctrl+C en un lote JSON")


def test_ctrl_c_mid_batch_leaves_a_consistent_csv(tiny_model_dir, many_photos):
    program = _start(tiny_model_dir, "--format", "csv", "--top-k", 3, many_photos)
    out, err = _interrupt_after_first_lines(program, lines=4)
    assert program.returncode == 130, err
    rows = list(csv.reader(io.StringIO(out.decode("utf-8"))))
    assert rows[0] == ["path", "rank", "id", "label", "score"]
    body = rows[1:]
    assert len(body) % 3 == 0 and body, "an image's rows were cut"
    for start in range(0, len(body), 3):
        block = body[start:start + 3]
        assert [r[1] for r in block] == ["1", "2", "3"] and len({r[0] for r in block}) == 1
        assert all(r[3] in TINY_LABELS and TINY_LABELS[int(r[2])] == r[3] for r in block)
    assert "Traceback" not in err
    TRIED.add("Ctrl+C en un lote CSV")


def _paused_at_import(module):
    """Python code that runs the program and, when `module` is first imported, says «pausa» and waits:
    a Ctrl+C sent after «pausa» surely lands there, however loaded the machine is."""
    return ("import sys, time, runpy; import importlib.abc\n"
            "class Slow(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name == {module!r}:\n"
            "            print('pausa', flush=True); time.sleep(30)\n"
            "sys.meta_path.insert(0, Slow())\n"
            "sys.argv = ['script_modelo.py', '--model', sys.argv[1], sys.argv[2]]\n"
            "runpy.run_path('script_modelo.py', run_name='__main__')\n")


def _interrupt_at_import(module, model):
    program = subprocess.Popen([sys.executable, "-c", _paused_at_import(module), str(model), str(PHOTOS[0])],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert program.stdout.readline() == b"pausa\n"
    program.send_signal(signal.SIGINT)
    out, err = program.communicate(timeout=60)
    return program.returncode, out, err.decode()


def test_ctrl_c_while_the_model_loads(tiny_model_dir):
    # The model's own class is imported by from_pretrained, in the middle of the loading.
    status, out, err = _interrupt_at_import("transformers.models.vit.modeling_vit", tiny_model_dir)
    assert status == 130 and out == b""
    assert err == "\nInterrumpido.\n"
    TRIED.add("Ctrl+C durante la carga")


def test_a_closed_pipe_ends_quietly(tiny_model_dir, many_photos):
    for fmt in ("json", "csv"):
        program = _start(tiny_model_dir, "--format", fmt, many_photos)
        first = program.stdout.readline()
        program.stdout.close()  # like: ... | head -1
        err = program.stderr.read().decode()
        program.wait(timeout=60)
        assert first
        assert program.returncode == 141, err
        assert "Traceback" not in err and "BrokenPipeError" not in err
    TRIED.add("salida a una tubería cerrada (| head -1)")


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
def test_redirected_output_is_utf8_on_a_windows_code_page(tiny_model_dir, tmp_path, fmt):
    encoding = "cp1252"  # what a redirected stdout gets on a Spanish Windows
    target = tmp_path / f"salida.{fmt}"
    with open(target, "wb") as out:
        done = subprocess.run(
            [sys.executable, "script_modelo.py", "--model", str(tiny_model_dir), "--format", fmt, "-k", "100",
             str(PHOTOS[0])],
            cwd=REPO, stdout=out, stderr=subprocess.PIPE, env={**os.environ, "PYTHONIOENCODING": encoding},
            timeout=120,
        )
    assert done.returncode == 0, done.stderr.decode()
    text = target.read_bytes().decode("utf-8")  # strict: fails on any cp1252 byte
    assert "ñandú, rhea" in text and "niño" in text and "à la carte" in text
    TRIED.add(f"salida redirigida a un archivo con codificación {encoding}")


def test_ctrl_c_while_the_program_imports_its_modules(tiny_model_dir):
    # The first tens of milliseconds, before main() installs its handling: still no traceback. (This test
    # failed with 0 == 130 when the suite ran in the background, which starts programs with Ctrl+C ignored:
    # conftest.py gives the programs a terminal's Ctrl+C.)
    status, out, err = _interrupt_at_import("classifier.app.cli", tiny_model_dir)
    assert status == 130 and out == b""
    assert err == "\nInterrumpido.\n"
    TRIED.add("Ctrl+C mientras se importan los módulos del programa")
