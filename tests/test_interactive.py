"""The desktop loop with the picker, the window and input() replaced by fakes."""

import threading
import unicodedata
import warnings

import pytest
from PIL import Image

from classifier.cli import build_parser, main
from classifier.errors import ModelLoadError
from classifier.interactive import (
    BackgroundLoader,
    DisplayUnavailable,
    interactive_loop,
    parse_answer,
    picker_filetypes,
    run_interactive,
)
from conftest import LINE, PHOTOS, TINY_LABELS
from fakes import FakeUI, Script


def _ready_loader(classifier, say):
    return BackgroundLoader(lambda: classifier, say).start()


@pytest.mark.parametrize("text", ["s", "S", " si ", "Si", "SÍ", "sí", unicodedata.normalize("NFD", "sí"), "\tS\n"])
def test_yes_answers(text):
    assert parse_answer(text) is True


@pytest.mark.parametrize("text", ["n", "N", " no ", "No", "NO\n"])
def test_no_answers(text):
    assert parse_answer(text) is False


@pytest.mark.parametrize("text", ["", " ", "x", "yes", "sii", "nop", "s n", "0"])
def test_other_answers_ask_again(text):
    assert parse_answer(text) is None


def test_a_session_with_a_photo_a_cancel_and_a_bad_file(tiny_classifier, tmp_path):
    bad = tmp_path / "roto.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    ui = FakeUI([str(PHOTOS[0]), None, str(bad)])
    script = Script(["s", "sí", "n"])
    code = interactive_loop(ui, _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask)
    assert code == 0
    [(image, predictions, path)] = ui.shown
    assert path == str(PHOTOS[0])
    [expected] = tiny_classifier.classify([Image.open(PHOTOS[0]).convert("RGB")], 7)
    assert [p.label for p in predictions] == [p.label for p in expected]
    assert [p.score for p in predictions] == pytest.approx([p.score for p in expected], abs=1e-5)
    assert ui.maps[0].shape == (4, 6)  # the window gets the attention map of the 4 x 6 patch grid
    block = script.lines[0].splitlines()
    assert block[0] == str(PHOTOS[0])
    assert [LINE.match(line)[3] for line in block[1:]] == [f"{p.score:.3f}" for p in predictions]
    assert "No se eligió ninguna imagen." in script.lines
    assert any(line.startswith("Error: No se puede clasificar") and "roto.jpg" in line for line in script.lines)
    assert script.prompts == ["¿Clasificar otra imagen? (s/n) "] * 3
    assert script.lines[-1] == "¡Hasta luego!"


def test_an_unclear_answer_is_asked_again(tiny_classifier):
    script = Script(["quizá", "", "N"])
    code = interactive_loop(FakeUI([None]), _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask)
    assert code == 0
    assert len(script.prompts) == 3
    assert script.lines.count("Responda «s» para elegir otra imagen o «n» para terminar.") == 2


def test_end_of_input_at_the_prompt_ends_cleanly(tiny_classifier):
    script = Script([EOFError()])
    assert interactive_loop(FakeUI([None]), _ready_loader(tiny_classifier, script.say), 7,
                            script.say, script.ask) == 0


def test_top_k_reaches_the_terminal_and_the_window(tiny_classifier):
    ui = FakeUI([str(PHOTOS[1])])
    script = Script(["n"])
    interactive_loop(ui, _ready_loader(tiny_classifier, script.say), 100, script.say, script.ask)
    assert len(ui.shown[0][1]) == len(TINY_LABELS)
    assert len(script.lines[0].splitlines()) == 1 + len(TINY_LABELS)


def test_picking_before_the_model_is_ready_says_it_is_loading(tiny_classifier):
    release = threading.Event()

    def slow_load():
        release.wait(10)
        return tiny_classifier

    script = Script(["n"])
    loader = BackgroundLoader(slow_load, script.say).start()
    threading.Timer(0.2, release.set).start()
    code = interactive_loop(FakeUI([str(PHOTOS[0])]), loader, 7, script.say, script.ask)
    assert code == 0
    assert script.lines[0] == "Cargando el modelo…"
    assert script.lines[1].startswith(str(PHOTOS[0]))


def test_a_model_that_failed_while_the_picker_was_open_exits_2_after_one_message():
    script = Script([])
    loader = BackgroundLoader(lambda: (_ for _ in ()).throw(ModelLoadError("No hay modelo.")), script.say).start()
    loader._done.wait(5)
    code = interactive_loop(FakeUI([str(PHOTOS[0])]), loader, 7, script.say, script.ask)
    assert code == 2
    assert script.lines == ["Error: No hay modelo."]
    assert script.prompts == []


def test_a_model_that_fails_while_the_user_waits_exits_2_after_one_message():
    release = threading.Event()

    def failing_load():
        release.wait(10)
        raise ModelLoadError("Los pesos están dañados.")

    script = Script([])
    loader = BackgroundLoader(failing_load, script.say).start()
    threading.Timer(0.2, release.set).start()
    code = interactive_loop(FakeUI([str(PHOTOS[0])]), loader, 7, script.say, script.ask)
    assert code == 2
    assert script.lines == ["Cargando el modelo…", "Error: Los pesos están dañados."]


def test_a_picker_that_cannot_open_falls_back_to_the_terminal(tiny_classifier):
    script = Script([str(PHOTOS[0]), "n"])
    ui = FakeUI([DisplayUnavailable("no display name and no $DISPLAY")])
    code = interactive_loop(ui, _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask)
    assert code == 0
    assert script.lines[0].startswith("No se puede abrir una ventana")
    assert script.prompts[0].startswith("Ruta de la imagen")
    assert script.lines[1].startswith(str(PHOTOS[0]))


def _interactive_args(model_dir, *extra):
    return build_parser().parse_intermixed_args(["--model", str(model_dir), *extra])


def _answers(monkeypatch, answers):
    answers = list(answers)

    def fake_input(prompt=""):
        print(prompt, end="")
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr("builtins.input", fake_input)


def test_without_a_display_paths_are_typed_in_the_terminal(monkeypatch, capsys, tiny_model_dir):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _answers(monkeypatch, [f'"{PHOTOS[0]}"', "s", "", "no"])
    code = main(["--model", str(tiny_model_dir), "-k", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("No hay pantalla disponible")
    assert f"{PHOTOS[0]}\n" in out
    assert len([line for line in out.splitlines() if LINE.match(line)]) == 3
    assert "No se eligió ninguna imagen." in out and out.rstrip().endswith("¡Hasta luego!")


@pytest.mark.parametrize("where", ["picker", "prompt"])
def test_ctrl_c_ends_cleanly_with_status_0(monkeypatch, capsys, tiny_model_dir, where):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _answers(monkeypatch, [KeyboardInterrupt()] if where == "picker" else ["", KeyboardInterrupt()])
    code = run_interactive(_interactive_args(tiny_model_dir))
    out, err = capsys.readouterr()
    assert code == 0
    assert out.rstrip().endswith("¡Hasta luego!") and "Traceback" not in out + err


def test_ctrl_d_in_the_terminal_picker_ends_cleanly(monkeypatch, capsys, tiny_model_dir):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _answers(monkeypatch, [EOFError(), EOFError()])
    assert run_interactive(_interactive_args(tiny_model_dir)) == 0


def test_the_picker_offers_images_first_then_everything():
    images, everything = picker_filetypes()
    assert images[-1] == "Imágenes" and everything == ["*", "Todos los archivos"]
    for ext in ("jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff"):
        assert f"*.{ext}" in images and f"*.{ext.upper()}" in images


def test_the_easygui_filter_list_opens_on_images(monkeypatch):
    from easygui.boxes import fileopen_box

    import classifier.interactive as interactive

    seen = {}

    def fake_dialog(**options):
        seen.update(options)
        return ""

    monkeypatch.setattr(fileopen_box.ut.tk_FileDialog, "askopenfilename", fake_dialog)
    monkeypatch.setattr(fileopen_box.tk, "Tk", FakeTk)
    assert interactive._easygui_open("/tmp") is None
    assert seen["title"] == "Elija una imagen para clasificar"
    assert [name for name, _ in seen["filetypes"]] == ["Imágenes", "Todos los archivos"]
    assert fileopen_box.ut.tk_FileDialog.askopenfilename is fake_dialog  # easygui left as it was


class FakeTk:
    def withdraw(self):
        pass

    def destroy(self):
        pass


# --- the window, drawn off screen -----------------------------------------------------------------


@pytest.fixture()
def agg(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_the_window_shows_the_main_prediction_and_one_bar_per_class(agg, tiny_classifier):
    from classifier.window import build_figure

    image = Image.open(PHOTOS[0]).convert("RGB")
    [predictions] = tiny_classifier.classify([image], 7)
    figure = build_figure(image, predictions, str(PHOTOS[0]), agg)
    picture, bars = figure.axes
    assert predictions[0].label in picture.get_title() and f"{predictions[0].score:.3f}" in picture.get_title()
    widths = [patch.get_width() for patch in bars.patches]
    assert widths == pytest.approx([p.score for p in predictions])
    assert [t.get_text() for t in bars.get_yticklabels()][0].startswith(predictions[0].label[:10])


@pytest.mark.parametrize("size", [(5000, 10), (10, 5000), (1, 1), (4000, 3000)])
def test_the_window_fits_a_small_screen_for_any_shape(agg, tiny_classifier, size):
    from classifier.window import build_figure

    image = Image.new("RGB", size, (200, 40, 40))
    [predictions] = tiny_classifier.classify([image], 7)
    figure = build_figure(image, predictions, "x.png", agg)
    width, height = figure.get_size_inches() * figure.dpi
    assert width <= 1280 and height <= 720


def test_many_images_leave_no_figure_open(agg, tiny_classifier):
    from classifier.window import show_result

    image = Image.open(PHOTOS[0]).convert("RGB")
    [predictions] = tiny_classifier.classify([image], 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "More than 20 figures have been opened"
        warnings.filterwarnings("ignore", "FigureCanvasAgg is non-interactive")
        for _ in range(25):
            show_result(image, predictions, "x.png")
    assert agg.get_fignums() == []
