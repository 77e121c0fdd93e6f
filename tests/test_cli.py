"""The batch command line through main(argv), and once as a real process."""

import csv
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from classifier.app.cli import build_parser, main
from classifier.engine.classifying import Engine
from conftest import LINE, PHOTOS, REPO, TINY_LABELS


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _blocks(text):
    return [block.splitlines() for block in text.strip().split("\n\n")]


def test_text_output_has_path_then_aligned_three_decimal_lines(capsys, tiny_model_dir, reference):
    code, out, err = run(capsys, "--model", tiny_model_dir, *PHOTOS)
    assert code == 0 and err == ""
    blocks = _blocks(out)
    assert [b[0] for b in blocks] == [str(p) for p in PHOTOS]
    for path, *lines in blocks:
        assert len(lines) == 7
        parsed = [LINE.match(line) for line in lines]
        assert all(parsed), lines
        assert [int(m[1]) for m in parsed] == list(range(1, 8))
        assert len({m.start(3) for m in parsed}) == 1, "the scores are not in one column"
        expected = reference(path, top_k=7)
        assert [m[2].rstrip() for m in parsed] == [e["label"] for e in expected]
        assert [m[3] for m in parsed] == [f"{e['score']:.3f}" for e in expected]


def test_json_lines_are_parsed_back_in_input_order_with_errors(capsys, tiny_model_dir, reference, tmp_path):
    folder = tmp_path / "fotos"
    folder.mkdir()
    for photo in PHOTOS[:2]:
        Image.open(photo).save(folder / photo.name)
    missing = tmp_path / "missing.jpg"
    inputs = [PHOTOS[2], missing, str(folder) + os.sep, PHOTOS[3]]
    code, out, err = run(capsys, "--format", "json", "--model", tiny_model_dir, "-k", 3, *inputs)
    assert code == 1
    records = [json.loads(line) for line in out.splitlines()]
    expected_paths = [str(PHOTOS[2]), str(missing)] + [os.path.join(str(folder) + os.sep, p.name)
                                                      for p in PHOTOS[:2]] + [str(PHOTOS[3])]
    assert [r["path"] for r in records] == expected_paths
    assert set(records[1]) == {"path", "error"} and "no existe" in records[1]["error"]
    for record in records[:1] + records[2:]:
        expected = reference(record["path"], top_k=3)
        assert [p["label"] for p in record["predictions"]] == [e["label"] for e in expected]
        assert [TINY_LABELS[p["id"]] for p in record["predictions"]] == [p["label"] for p in record["predictions"]]
        np.testing.assert_allclose([p["score"] for p in record["predictions"]], [e["score"] for e in expected],
                                   atol=1e-5, rtol=0)


def test_csv_is_parsed_back_with_commas_and_quotes_intact(capsys, tiny_model_dir, reference):
    code, out, err = run(capsys, "--format", "csv", "--model", tiny_model_dir, "--top-k", 1000, *PHOTOS[:2])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["path", "rank", "id", "label", "score"]
    assert len(rows) == 2 * len(TINY_LABELS)  # top-k clamped to the number of labels
    for photo in PHOTOS[:2]:
        mine = [r for r in rows if r["path"] == str(photo)]
        expected = reference(str(photo), top_k=len(TINY_LABELS))
        assert [int(r["rank"]) for r in mine] == list(range(1, len(TINY_LABELS) + 1))
        assert [r["label"] for r in mine] == [e["label"] for e in expected]
        assert [TINY_LABELS[int(r["id"])] for r in mine] == [r["label"] for r in mine]  # the id names the class
        np.testing.assert_allclose([float(r["score"]) for r in mine], [e["score"] for e in expected], atol=1e-5)
    assert {'say "cheese"', "tabby, tabby cat", "ñandú, rhea"} <= {r["label"] for r in rows}


def test_bad_inputs_are_reported_and_the_batch_goes_on(capsys, tiny_model_dir, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("hola")
    empty_folder = tmp_path / "vacía"
    empty_folder.mkdir()
    code, out, err = run(capsys, "--model", tiny_model_dir, text, PHOTOS[0], empty_folder, tmp_path / "nope.png")
    assert code == 1
    assert _blocks(out)[0][0] == str(PHOTOS[0])
    errors = err.splitlines()
    assert len(errors) == 3 and all(line.startswith("Error: ") for line in errors)
    assert "archivo de texto" in errors[0] and "no contiene imágenes" in errors[1] and "no existe" in errors[2]
    assert "Traceback" not in err


def test_a_model_that_cannot_load_exits_2_with_one_spanish_sentence(capsys, tmp_path):
    code, out, err = run(capsys, "--model", tmp_path / "no-such-model", PHOTOS[0])
    assert code == 2 and out == ""
    assert err.strip() == f"Error: No existe la carpeta del modelo «{tmp_path / 'no-such-model'}»."


def test_uncached_hub_model_offline_explains_how_to_use_a_local_copy(capsys):
    code, out, err = run(capsys, "--model", "someone/vit-that-is-not-cached", PHOTOS[0])
    assert code == 2 and out == ""
    # HF_HUB_OFFLINE=1 (conftest) is named, rather than the connection blamed.
    assert "HF_HUB_OFFLINE=1 prohíbe descargarlo" in err and "--modelo CARPETA" in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["--top-k", "0"], ["--top-k", "siete"], ["--format", "xml"], ["--nada"],
                                  ["--device", "tpu"], ["--guardar="], ["--mapa", ""]])
def test_usage_errors_exit_2_in_spanish(capsys, args):
    code, out, err = run(capsys, *args, "x.jpg")
    assert code == 2
    assert err.startswith("uso: ") and "error: " in err
    assert not re.search(r"invalid|unrecognized|expected", err)


@pytest.mark.parametrize(("argv0", "usage"), [("script_modelo.py", "python script_modelo.py"),
                                             ("/home/ana/clasificador/script_modelo.py", "python script_modelo.py"),
                                             ("/usr/lib/python3/classifier/__main__.py", "python -m classifier"),
                                             ("/home/ana/.venv/bin/clasificar", "clasificar")])
def test_help_names_the_program_as_the_student_started_it(monkeypatch, capsys, argv0, usage):
    # `python script_modelo.py --help` answered «uso: clasificar …», a command the student never typed.
    import signal

    from classifier.app import cli

    monkeypatch.setattr(sys, "argv", [argv0, "--help"])
    handlers = {signum: signal.getsignal(signum) for signum in cli.STOP_SIGNALS}
    try:
        with pytest.raises(SystemExit) as leaving:
            cli.run()
    finally:
        for signum, handler in handlers.items():  # run() ignores them on its way out of a process
            signal.signal(signum, handler)
    assert leaving.value.code == 0
    assert capsys.readouterr().out.startswith(f"uso: {usage} [-r]")


def test_every_option_states_its_default():
    parser = build_parser()
    for action in parser._actions:
        if action.option_strings and action.dest not in ("help", "version"):
            assert "por defecto" in action.help, action.dest


def test_options_may_come_after_the_paths(capsys, tiny_model_dir):
    code, out, err = run(capsys, PHOTOS[0], "--model", tiny_model_dir, "-k", 2)
    assert code == 0 and len(_blocks(out)[0]) == 3


def test_progress_bar_on_a_terminal_leaves_stdout_clean(monkeypatch, capsys, tiny_model_dir, tmp_path):
    for index in range(12):
        Image.open(PHOTOS[index % len(PHOTOS)]).save(tmp_path / f"{index:02}.png")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = run(capsys, "--model", tiny_model_dir, "--format", "json", tmp_path)
    assert code == 0
    assert "Clasificando" in err
    assert len([json.loads(line) for line in out.splitlines()]) == 12


def _files_taken_before_the_first_result(classifier, count, batch_size, workers):
    """How many of count inputs the engine had taken from its iterator when it gave its first result."""
    consumed = []

    def inputs():
        for index in range(count):
            consumed.append(index)
            yield str(PHOTOS[index % len(PHOTOS)]), None

    results = Engine(classifier, top_k=1).run(inputs(), batch_size=batch_size, workers=workers)
    assert next(results).error is None
    taken = len(consumed)
    results.close()
    return taken


def test_results_stream_before_the_inputs_are_exhausted(tiny_classifier):
    assert _files_taken_before_the_first_result(tiny_classifier, 60, batch_size=4, workers=2) <= 4 + 2 + 1


def test_a_huge_batch_size_still_streams_and_holds_a_bounded_number_of_files(tiny_classifier):
    from classifier.engine.classifying import MAX_BATCH

    # Not all 400 decoded before the first result: one batch of MAX_BATCH, one per worker, one more.
    taken = _files_taken_before_the_first_result(tiny_classifier, 400, batch_size=100_000, workers=1)
    assert taken <= MAX_BATCH + 1 + 1


def test_help_answers_without_importing_torch():
    code = ("import sys; from classifier.app.cli import main; main(['--help']); "
            "print('heavy:', sorted(m for m in ('torch', 'transformers', 'matplotlib', 'PIL') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "heavy: []" in done.stdout and "opciones" not in done.stdout.split("heavy")[1]
    assert "uso: clasificar" in done.stdout


def test_real_process_prints_json_quietly(tiny_model_dir):
    done = subprocess.run(
        [sys.executable, "script_modelo.py", "--model", str(tiny_model_dir), "--format", "json", str(PHOTOS[0])],
        cwd=REPO, capture_output=True, timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "cp1252"},  # a Windows code page: labels must stay UTF-8
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b"", "library warnings or progress bars leaked"
    [record] = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert record["path"] == str(PHOTOS[0]) and len(record["predictions"]) == 7
    assert {p["label"] for p in record["predictions"]} <= set(TINY_LABELS)


def test_fast_mode_stays_close_to_exact_mode(capsys, tiny_model_dir):
    runs = {}
    for mode in ([], ["--rapido"]):
        code, out, err = run(capsys, "--model", tiny_model_dir, "--format", "json", "-k", 100, *mode, *PHOTOS)
        assert code == 0
        runs[bool(mode)] = [json.loads(line) for line in out.splitlines()]
    for exact, fast in zip(runs[False], runs[True], strict=True):
        assert exact["predictions"][0]["label"] == fast["predictions"][0]["label"]
        exact_scores = {p["label"]: p["score"] for p in exact["predictions"]}
        # bfloat16 keeps 8 significant bits: a few hundredths on this tiny model's sharp scores.
        assert max(abs(p["score"] - exact_scores[p["label"]]) for p in fast["predictions"]) < 0.1
