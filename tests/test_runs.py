"""The command line as a user drives it: Spanish options and their aliases, --, stop signals,
outputs that cannot be written, and --guardar runs that resume after any interruption."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from classifier.app.cli import parse_args
from conftest import PHOTOS, REPO, reliability, without_screen

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
    from classifier.app.cli import main

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


def _start(model, *args, ignored=(), **options):
    """The program on pipes, its stop signals as a terminal leaves them, except those `ignored` (as nohup does)."""

    def dispositions():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN if signum in ignored else signal.SIG_DFL)

    return subprocess.Popen([sys.executable, "script_modelo.py", "--modelo", str(model), *map(str, args)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=dispositions,
                            **options)


def test_a_batch_started_with_nohup_outlives_the_terminal(tiny_model_dir, many_photos):
    # nohup starts the program with SIGHUP ignored: closing the terminal must not stop it.
    program = _start(tiny_model_dir, "--lote", 8, "-f", "json", many_photos, ignored={signal.SIGHUP})
    first = program.stdout.readline()
    program.send_signal(signal.SIGHUP)
    rest, err = program.stdout.read(), program.stderr.read()  # read(): the reader's buffer holds a part already
    assert program.wait(timeout=600) == 0, err
    assert len((first + rest).decode().splitlines()) == 401 and err == b""
    TRIED.add("SIGHUP a un lote lanzado con nohup")


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
            # A power cut's torn line: the start of a record (the log records absolute paths).
            file.write(b'{"path": "' if name.endswith("jsonl") else os.fsencode(folder / "foto_1"))
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


def test_the_program_starts_where_signal_has_no_sighup_or_sigpipe():
    """Windows has neither: the statuses must not be computed from them at import."""
    code = ("import signal; del signal.SIGHUP, signal.SIGPIPE; "
            "import classifier.app.cli, classifier.gui.timers, classifier.gui.picker, classifier.gui.boxes, "
            "classifier.gui.result_window, classifier.gui.download_window; "
            "from classifier.base.status import ExitStatus; "
            "print(int(ExitStatus.HANGUP), int(ExitStatus.BROKEN_PIPE))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["129", "141"]


def test_the_desktop_module_does_not_import_torch_before_the_picker():
    code = ("import sys, classifier.app.desktop, classifier.gui.timers, classifier.gui.picker, classifier.gui.boxes, "
            "classifier.gui.result_window, classifier.gui.download_window; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_a_results_file_that_cannot_be_written_is_one_sentence_and_status_74(capsys, monkeypatch, tiny_model_dir,
                                                                            tmp_path):
    import errno

    from classifier.app.cli import main
    from classifier.results_log import log_file

    writes = []

    def full_disk(fd, data):
        writes.append(data)
        if len(writes) > 1:  # the header goes in; the first record finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        return len(data)

    monkeypatch.setattr(log_file.os, "write", full_disk)
    code = main(["--modelo", str(tiny_model_dir), "--guardar", str(tmp_path / "r.csv"), str(PHOTOS[0])])
    err = capsys.readouterr().err
    assert code == 74
    assert err.startswith("Error: No se pudo guardar el resultado de") and "no queda espacio en el disco" in err
    assert "Traceback" not in err


def test_a_rerun_with_everything_recorded_says_so(capsys, tiny_model_dir, tmp_path):
    from classifier.app.cli import main

    saved = tmp_path / "r.jsonl"
    assert main(["--modelo", str(tiny_model_dir), "--guardar", str(saved), str(PHOTOS[0])]) == 0
    capsys.readouterr()
    assert main(["--modelo", str(tiny_model_dir), "--guardar", str(saved), str(PHOTOS[0])]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("Todas las imágenes ya están en")


def test_in_the_terminal_mode_the_device_line_never_lands_inside_the_prompt(tiny_model_dir, tmp_path):
    import threading

    env = without_screen()
    program = subprocess.Popen([sys.executable, "script_modelo.py", "--modelo", str(tiny_model_dir), "-k", "2"],
                               cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: program.stdout.read(1), "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while "Ruta de la imagen" not in "".join(seen):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(6)  # the tiny model is long loaded by now, while the prompt waits
    assert "El modelo se ejecuta" not in "".join(seen)
    program.stdin.write(f"{PHOTOS[0]}\nn\n")
    program.stdin.close()
    program.wait(60)
    reader.join(10)
    lines = "".join(seen).splitlines()
    assert any(line.endswith(f"El modelo se ejecuta en la CPU ({os.cpu_count()} núcleos).") for line in lines)
    assert program.returncode == 0 and program.stderr.read() == ""


def test_a_strip_too_elongated_for_the_model_is_one_sentence_and_the_batch_goes_on(capsys, trained_model_dir,
                                                                                 tmp_path):
    """EfficientNet's processor keeps the aspect ratio: 1 x 100000 would become 256 x 25,600,000."""
    from classifier.app.cli import main

    strip = tmp_path / "tira.png"
    Image.new("RGB", (1, 100_000), (90, 90, 90)).save(strip)
    code = main(["--modelo", str(trained_model_dir), "-k", "1", "-f", "json", str(strip), str(PHOTOS[0])])
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [("error" in r) for r in records] == [True, False]
    assert "demasiado alargada (1 × 100000 píxeles)" in records[0]["error"]


def _save_model_with_labels(folder, labels):
    import conftest

    conftest.build_tiny_model(folder)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = labels
    (folder / "config.json").write_text(json.dumps(config))


def test_a_model_that_names_only_some_classes_is_refused_in_one_sentence(capsys, tmp_path):
    from classifier.app.cli import main

    labels = {str(i): f"clase {i}" for i in range(13) if i != 11}  # twelve names, but none for 11
    _save_model_with_labels(tmp_path / "m", labels)
    capsys.readouterr()
    assert main(["--modelo", str(tmp_path / "m"), str(PHOTOS[0])]) == 2
    err = capsys.readouterr().err
    assert "no da un nombre a cada una de sus clases" in err and "Traceback" not in err


def test_labels_that_are_numbers_or_escape_sequences_print_safely(capsys, tmp_path):
    from classifier.app.cli import main

    labels = {str(i): i * 10 for i in range(12)}
    labels["0"] = "\x1b[31mrojo\x1b[0m"
    _save_model_with_labels(tmp_path / "m", labels)
    capsys.readouterr()
    assert main(["--modelo", str(tmp_path / "m"), "-k", "12", str(PHOTOS[0])]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\u001b[31mrojo" in out and "  110  " in out.replace(" 110 ", "  110  ")


def test_a_count_beyond_any_model_is_a_usage_error(capsys):
    from classifier.app.cli import main

    assert main(["-k", "100000000", "x.jpg"]) == 2
    assert "debe estar entre 1 y 100000" in capsys.readouterr().err


def test_a_path_named_twice_is_recorded_once(capsys, tiny_model_dir, tmp_path):
    from classifier.app.cli import main

    saved = tmp_path / "r.jsonl"
    assert main(["--modelo", str(tiny_model_dir), "--guardar", str(saved), str(PHOTOS[0]), str(PHOTOS[0])]) == 0
    assert [json.loads(line)["path"] for line in saved.read_text().splitlines()] == [str(PHOTOS[0])]


def test_the_spreadsheet_csv_never_starts_a_cell_with_a_formula_name_and_still_resumes(capsys, tiny_model_dir,
                                                                                       tmp_path, monkeypatch):
    import shutil

    from classifier.app.cli import main

    monkeypatch.chdir(tmp_path)
    photo = "=HYPERLINK(1).png"  # relative, as typed
    shutil.copy(PHOTOS[0], photo)
    args = ["--modelo", str(tiny_model_dir), "--guardar", "hoja.csv", "--csv-es", "-k", "1", photo]
    assert main(args) == 0
    rows = list(csv.reader((tmp_path / "hoja.csv").read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert rows[1][0] == str(tmp_path / photo)  # absolute: the cell starts with "/", never like a formula
    capsys.readouterr()
    assert main([*args[:-1], f"./{photo}"]) == 0  # the rerun knows it as this photo
    assert capsys.readouterr().err.startswith("Todas las imágenes ya están en")


def test_the_terminal_mode_with_stdin_closed_or_write_only_or_stdout_full(tiny_model_dir, tmp_path):
    env = without_screen()
    script = f'"{sys.executable}" script_modelo.py --modelo "{tiny_model_dir}"'
    # Closed, or open for writing only (GNU nohup leaves it so; input() then fails with EBADF).
    for stdin in ("<&-", f'0>"{tmp_path / "entrada"}"'):
        closed = subprocess.run(f"{script} {stdin}", shell=True, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=120)
        assert closed.returncode == 0 and closed.stderr == "", (stdin, closed.stderr)
        assert closed.stdout.rstrip().endswith("¡Hasta luego!")
    full = subprocess.run(f"{script} </dev/null >/dev/full", shell=True, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert full.returncode == 74 and full.stderr.startswith("Error: No se pudo escribir en la terminal")
    assert "Traceback" not in full.stderr
    TRIED.add("modo terminal con la entrada cerrada")
    TRIED.add("modo terminal con la entrada abierta solo para escribir")
    TRIED.add("modo terminal con la salida llena")


def test_one_photo_spelt_five_ways_is_one_record(capsys, tiny_model_dir, tmp_path, monkeypatch):
    import shutil

    from classifier.app.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()
    shutil.copy(PHOTOS[0], tmp_path / "images" / "gato.png")
    spellings = ["images/gato.png", "./images/gato.png", "images//gato.png", "images/../images/gato.png",
                 str(tmp_path / "images" / "gato.png")]
    args = ["--modelo", str(tiny_model_dir), "-f", "json", "--guardar", "r.jsonl"]
    assert main([*args, *spellings]) == 0
    assert [json.loads(line)["path"] for line in (tmp_path / "r.jsonl").read_text().splitlines()] == spellings[-1:]
    capsys.readouterr()
    assert main([*args, spellings[-1]]) == 0
    assert capsys.readouterr().err.startswith("Todas las imágenes ya están en")


def test_a_rerun_retries_a_failed_image_and_ends_with_its_new_state(capsys, tiny_model_dir, tmp_path):
    import shutil

    from classifier.app.cli import main

    missing, saved = tmp_path / "llega_luego.png", tmp_path / "r.csv"
    args = ["--modelo", str(tiny_model_dir), "--guardar", str(saved), str(PHOTOS[0]), str(missing)]
    assert main(args) == 1
    capsys.readouterr()
    shutil.copy(PHOTOS[1], missing)  # the file appears
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert out.startswith(str(missing)) and err == ""  # only the failed one was classified again
    rows = list(csv.reader(saved.read_text(encoding="utf-8").splitlines()))[1:]
    assert [(row[0], bool(row[1])) for row in rows] == [(str(PHOTOS[0]), False), (str(missing), True),
                                                        (str(missing), False)]
    assert main(args) == 0 and capsys.readouterr().err.startswith("Todas las imágenes ya están en")


def test_a_json_lines_log_refuses_another_top_k_before_classifying(capsys, tiny_model_dir, tmp_path):
    from classifier.app.cli import main

    saved = tmp_path / "r.jsonl"
    assert main(["--modelo", str(tiny_model_dir), "--guardar", str(saved), "-k", "3", str(PHOTOS[0])]) == 0
    before = saved.read_bytes()
    capsys.readouterr()
    for k in ("2", "5"):
        assert main(["--modelo", str(tiny_model_dir), "--guardar", str(saved), "-k", k, str(PHOTOS[1])]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("Error: ") and "guarda 3 predicciones" in err, err
    assert saved.read_bytes() == before
    # A model with 12 classes asked for 50 gives 12: the same -k again is the same log.
    assert main(["--modelo", str(tiny_model_dir), "--guardar", str(tmp_path / "t.jsonl"), "-k", "50",
                 str(PHOTOS[0])]) == 0
    assert main(["--modelo", str(tiny_model_dir), "--guardar", str(tmp_path / "t.jsonl"), "-k", "50",
                 str(PHOTOS[1])]) == 0


def test_the_terminal_session_refuses_a_json_lines_log_of_another_top_k(capsys, tiny_model_dir, tmp_path):
    from classifier.app.cli import main

    saved = tmp_path / "r.jsonl"
    assert main(["--modelo", str(tiny_model_dir), "--guardar", str(saved), "-k", "3", str(PHOTOS[0])]) == 0
    before = saved.read_bytes()
    done = subprocess.run([sys.executable, "script_modelo.py", "--modelo", str(tiny_model_dir), "--guardar",
                           str(saved), "-k", "5"], cwd=REPO, input=f"{PHOTOS[1]}\nn\n", capture_output=True,
                          text=True, timeout=120, env=without_screen())
    assert done.returncode == 2, done
    errors = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "guarda 3 predicciones" in errors[0], done
    assert "Traceback" not in done.stderr and saved.read_bytes() == before
