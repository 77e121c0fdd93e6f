"""The command line as a user drives it: Spanish options and their aliases, --, stop signals,
outputs that cannot be written, and --guardar runs that resume after any interruption."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from classifier.cli import parse_args
from conftest import PHOTOS, REPO, reliability

TRIED = reliability.setdefault("interrupciones", set())

ALIASES = [
    (["--formato", "json"], ["--format", "json"]),
    (["--formato", "texto", "-k", "2"], ["--format", "text", "-k", "2"]),
    (["--modelo", "m"], ["--model", "m"]),
    (["--dispositivo", "cpu"], ["--device", "cpu"]),
    (["--recursivo"], ["--recursive"]),
    (["--lote", "3"], ["--batch-size", "3"]),
    (["--detallado"], ["--verbose"]),
    (["--idioma", "en"], ["--language", "en"]),
    (["--guardar", "r.csv"], ["--save", "r.csv"]),
]


@pytest.mark.parametrize(("spanish", "english"), ALIASES)
def test_every_spanish_option_and_its_english_alias_mean_the_same(spanish, english):
    assert vars(parse_args([*spanish, "x.jpg"])) == vars(parse_args([*english, "x.jpg"]))
    assert vars(parse_args([*spanish, "x.jpg"])) != vars(parse_args(["x.jpg"]))


def test_unknown_options_get_the_spanish_error_and_the_help_lists_aliases_once(capsys):
    assert _main_status(["--formatoo", "json", "x.jpg"]) == 2
    assert "argumentos no reconocidos: --formatoo" in capsys.readouterr().err
    assert _main_status(["--help"]) == 0
    help_text = capsys.readouterr().out
    assert len(re.findall(r"--format\b", help_text)) == 1 and "--formato FORMATO" in help_text  # once: the epilog


def _main_status(argv):
    from classifier.cli import main

    return main(argv)


def test_a_double_dash_makes_everything_after_it_a_path():
    args = parse_args(["-k", "3", "--", "-r", "--mapa"])
    assert args.paths == ["-r", "--mapa"] and not args.recursive and args.mapa is None


def test_python_dash_m_classifier_is_the_same_program():
    done = subprocess.run([sys.executable, "-m", "classifier", "--version"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("clasificar ")


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("muchas")
    Image.open(PHOTOS[0]).convert("RGB").resize((320, 240)).save(folder / "base.png")
    for index in range(400):
        os.symlink(folder / "base.png", folder / f"foto_{index:03d}.png")
    return folder


def _start(model, *args, **options):
    return subprocess.Popen([sys.executable, "script_modelo.py", "--modelo", str(model), *map(str, args)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_end_a_batch_like_ctrl_c_with_their_own_status(tiny_model_dir, many_photos, signum,
                                                                          status):
    program = _start(tiny_model_dir, "--lote", 1, "-f", "json", many_photos)
    first = [program.stdout.readline() for _ in range(3)]
    program.send_signal(signum)
    rest, err = program.communicate(timeout=60)
    assert program.returncode == status, err
    records = [json.loads(line) for line in b"".join(first + [rest]).decode().splitlines()]  # whole lines
    assert 3 <= len(records) < 400
    assert err.decode() == "\nDetenido.\n"
    TRIED.add(f"{signal.Signals(signum).name} a mitad de un lote")


def test_ctrl_c_during_a_map_batch_stops_it(tiny_model_dir, many_photos, tmp_path):
    program = _start(tiny_model_dir, "--lote", 1, "-f", "json", "--mapa", tmp_path / "mapas", many_photos)
    first = [program.stdout.readline() for _ in range(2)]
    program.send_signal(signal.SIGINT)
    time.sleep(0.005)
    program.send_signal(signal.SIGINT)  # a second one, 5 ms later, must not print from the interpreter's exit
    rest, err = program.communicate(timeout=60)
    assert program.returncode == 130, err
    records = [json.loads(line) for line in b"".join(first + [rest]).decode().splitlines()]
    assert 2 <= len(records) < 100, "the batch ran on after Ctrl+C"
    assert err.decode() == "\nInterrumpido.\n"
    TRIED.add("Ctrl+C a mitad de un lote con --mapa (dos veces en 5 ms)")


def test_a_full_disk_is_one_spanish_sentence_and_status_74(tiny_model_dir):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "script_modelo.py", "--modelo", str(tiny_model_dir), str(PHOTOS[0])],
                              cwd=REPO, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 74
    assert done.stderr == "Error: No se pudieron escribir los resultados: no queda espacio en el disco.\n"
    TRIED.add("salida a un disco lleno (/dev/full)")


def test_a_closed_stdout_is_one_spanish_sentence_and_status_74(tiny_model_dir):
    done = subprocess.run(f'"{sys.executable}" script_modelo.py --modelo "{tiny_model_dir}" "{PHOTOS[0]}" >&-',
                          shell=True, cwd=REPO, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 74
    assert done.stderr.startswith("Error: ") and "Traceback" not in done.stderr
    TRIED.add("salida estándar cerrada")


@pytest.mark.parametrize("stderr", ["closed", "full"])
def test_a_closed_or_full_stderr_does_not_stop_the_batch(tiny_model_dir, tmp_path, stderr):
    missing = tmp_path / "no-existe.jpg"
    redirect = "2>&-" if stderr == "closed" else "2>/dev/full"
    done = subprocess.run(
        f'"{sys.executable}" script_modelo.py --modelo "{tiny_model_dir}" -f json "{missing}" "{PHOTOS[0]}" '
        f'{redirect}', shell=True, cwd=REPO, stdout=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(missing), str(PHOTOS[0])] and "predictions" in records[1]
    TRIED.add(f"salida de errores {'cerrada' if stderr == 'closed' else 'llena'}")


@pytest.mark.parametrize("how", ["kill -9", "Ctrl+C"])
@pytest.mark.parametrize("name", ["resultados.csv", "resultados.jsonl"])
def test_a_saved_run_resumes_after_an_interruption_and_records_each_image_once(tiny_model_dir, tmp_path, name, how):
    folder = tmp_path / "fotos"
    folder.mkdir()
    Image.open(PHOTOS[0]).convert("RGB").resize((320, 240)).save(folder / "base.png")
    for index in range(150):
        os.symlink(folder / "base.png", folder / f"foto_{index:03d}.png")
    saved = tmp_path / name
    program = _start(tiny_model_dir, "--lote", 1, "-f", "json", "--guardar", saved, folder)
    for _ in range(5):
        program.stdout.readline()
    program.send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGINT)
    program.communicate(timeout=60)
    if how == "kill -9":
        with open(saved, "ab") as file:
            file.write(b'{"path": "' if name.endswith("jsonl") else b'"half a ro')  # a power cut's torn line
    done = subprocess.run([sys.executable, "script_modelo.py", "--modelo", str(tiny_model_dir), "--lote", "4",
                           "-f", "json", "--guardar", str(saved), str(folder)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rerun = [json.loads(line)["path"] for line in done.stdout.splitlines()]
    assert 0 < len(rerun) < 151, "the rerun should classify only what was not recorded"
    text = saved.read_text(encoding="utf-8")
    if name.endswith("jsonl"):
        paths = [json.loads(line)["path"] for line in text.splitlines()]
    else:
        import csv
        import io

        paths = [row["path"] for row in csv.DictReader(io.StringIO(text))]
    expected = sorted(str(path) for path in folder.iterdir())
    assert sorted(paths) == expected  # every input exactly once
    TRIED.add(f"--guardar reanudado tras {how}")
