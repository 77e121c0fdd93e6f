"""--aprender without CARPETA, from the desktop, in real windows (Xvfb, openbox, xdotool at the keyboard): the
folder typed into Tk's folder dialog, the reading's window, the summary box closed with Intro, then the usual loop
with the new model; and Cancelar (Esc) in the reading's window. The reference for the loop's answer is the batch
command on the new model, and transformers' pipeline loads it."""

import os

import pytest
from test_desktop import PICKER, PROMPT, WINDOW, Program, _diagnose, _expected_blocks, _wait_drawn
from test_teaching import colour_photos, tree

import xdesktop
from classifier.app.cli import main
from classifier.base.defaults import CONFIG_FOLDER

needs_screen = pytest.mark.skipif(xdesktop.available("openbox") is not None,
                                  reason=str(xdesktop.available("openbox")))

FOLDER_DIALOG = "^Elija la carpeta"
READING = "^Leyendo las fotos"
SUMMARY = "^Modelo nuevo listo"
CLASSES = {"rojo": (200, 40, 40), "azul añil": (40, 40, 200)}
PER_CLASS = 6


def _photos(tmp_path):
    return colour_photos(tmp_path / "clases", per_class=PER_CLASS, classes=CLASSES)


@needs_screen
def test_taught_from_the_desktop_then_the_loop_classifies_with_the_new_model(tiny_model_dir, tmp_path):
    photos, config = _photos(tmp_path), tmp_path / "config"
    destination = config / CONFIG_FOLDER / "modelos" / "clases"  # no --nuevo-modelo: the program's own folder
    photo = photos / "rojo" / "00.png"
    with xdesktop.VirtualScreen(1024, 600, "openbox") as screen:
        program = Program(screen, tiny_model_dir, config, "--aprender")
        try:
            dialog = screen.find(FOLDER_DIALOG, process=program.process)
            screen.settled(dialog)
            screen.screenshot().save(tmp_path / "carpeta.png")  # to look at: pytest --basetemp=CARPETA
            screen.type_and_enter(dialog, str(photos))
            screen.find(READING, process=program.process)
            screen.screenshot().save(tmp_path / "lectura.png")
            summary = screen.find(SUMMARY, process=program.process)
            screen.settled(summary)
            screen.screenshot().save(tmp_path / "resumen.png")
            screen.key(summary, "Return")
            picker = screen.find(PICKER, process=program.process)
            screen.type_and_enter(picker, str(photo))
            window = screen.find(WINDOW, process=program.process)
            _wait_drawn(screen, window)
            screen.screenshot().save(tmp_path / "ventana.png")
            screen.key(window, "Escape")
            out, err = program.finish()
        except (TimeoutError, RuntimeError, AssertionError) as failure:
            raise _diagnose(screen, program, failure) from failure
    assert program.process.returncode == 0, err
    lines = out.splitlines()
    # What the command line prints, in its order, then the loop's block and its end.
    assert lines[:3] == ["Clases encontradas: 2.", f"  azul añil  {PER_CLASS} fotos", f"  rojo       {PER_CLASS} fotos"]
    assert f"Fotos leídas con el modelo: {2 * PER_CLASS}." in lines
    assert any(line.startswith("Precisión estimada") for line in lines)
    saved = lines.index(f"Modelo nuevo guardado en «{destination}». Para usarlo: "
                        f"python script_modelo.py --modelo {destination}")
    assert lines[saved + 1].startswith("Tiempo: ")
    block = _expected_blocks(destination, [photo])[0]
    # The loop runs with the new model: its one answer is the batch command's on the same photo.
    loop = [line for line in lines[saved + 2:] if not line.startswith("El modelo se ejecuta")]
    assert loop == block + [PROMPT + "n", "¡Hasta luego!"]
    assert {line.split("  ")[2] for line in block[1:]} == set(CLASSES)
    assert all(line.startswith("El modelo se ejecuta") for line in err.splitlines()), err

    from transformers import pipeline

    answers = pipeline("image-classification", model=str(destination), device="cpu")(str(photo), top_k=2)
    assert [answer["label"] for answer in answers] == [line.split("  ")[2].strip() for line in block[1:]]


@needs_screen
def test_cancel_in_the_reading_window_writes_no_model_and_keeps_the_cache(tiny_model_dir, tmp_path):
    photos, config = _photos(tmp_path), tmp_path / "config"
    destination = tmp_path / "nuevo"
    with xdesktop.VirtualScreen(1024, 600, "openbox") as screen:
        program = Program(screen, tiny_model_dir, config, "--aprender", "--nuevo-modelo", str(destination))
        try:
            dialog = screen.find(FOLDER_DIALOG, process=program.process)
            screen.type_and_enter(dialog, str(photos))
            reading = screen.find(READING, process=program.process)
            screen.settled(reading, pause=0.1).save(tmp_path / "lectura.png")
            screen.key(reading, "Escape")
            out, err = program.finish()
        except (TimeoutError, RuntimeError, AssertionError) as failure:
            raise _diagnose(screen, program, failure) from failure
    assert program.process.returncode == 0, err
    assert not os.path.lexists(destination)
    assert sorted(os.listdir(tmp_path)) == ["clases", "config", "lectura.png"]  # no temporary folder beside it
    assert err.splitlines()[-1].startswith("Cancelado: no se guardó ningún modelo")
    assert out.splitlines()[:1] == ["Clases encontradas: 2."]
    assert "Modelo nuevo guardado" not in out
    cached = [name for name in tree(config) if name.endswith(".npy")]
    assert cached, "the photos read before Cancelar stay in the cache"


def test_without_a_screen_a_sentence_and_status_2(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    status = main(["--aprender", "--modelo", str(tiny_model_dir)])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert err.splitlines() == ["Error: sin CARPETA, --aprender la pide en una ventana y aquí no hay pantalla: "
                                "indique la carpeta, --aprender CARPETA --nuevo-modelo DESTINO."]
    assert os.listdir(tmp_path) == []


def test_the_summary_box_of_many_classes_keeps_each_list_short_and_the_rest_whole():
    # With 20 classes the box grew past a 600-pixel screen: its lists (classes, their accuracy) keep their
    # first lines and say how many more the terminal shows; every other line is there as printed.
    import itertools

    import numpy as np

    from classifier.app.teach_desktop import BOX_LIST_LINES, _paragraphs
    from classifier.teaching.report import accuracy_lines, classes_lines

    names = [f"clase {index:02}" for index in range(20)]
    labels = np.repeat(np.arange(20), 6)
    held_out = labels.copy()
    held_out[::7] = (held_out[::7] + 1) % 20
    lines = classes_lines(names, [6] * 20) + accuracy_lines(names, labels, held_out, 5)
    lines.append("Modelo nuevo guardado en «/tmp/m». Para usarlo: python script_modelo.py --modelo /tmp/m")
    box = _paragraphs(lines).splitlines()
    listed = [line for line in box if line.startswith("  ")]
    runs = sum(1 for before, line in itertools.pairwise(["", *box])
               if line.startswith("  ") and not before.startswith("  "))
    assert len(listed) <= runs * BOX_LIST_LINES
    assert "  … y 15 más (en la terminal, todas)" in box  # 20 classes: 5 shown
    assert [line for line in box if line.strip() and not line.startswith("  ")] == \
        [line for line in lines if not line.startswith("  ")]
    assert box[1:6] == lines[1:6]  # the first classes as the terminal printed them
