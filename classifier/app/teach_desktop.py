"""--aprender without CARPETA: the folder chosen in a window, the reading shown in a progress window with
Cancelar, the result in a box; the command line (cli.py) then runs the usual desktop loop with the new model.
The terminal still gets every line the command line prints. Logic only: the windows are gui/'s."""

import argparse
import os

from classifier.app.console import say
from classifier.app.desktop import has_display, tk_install_hint
from classifier.app.desktop_state import default_state_file, start_folder
from classifier.app.teach import TeachingCancelled, run_teaching
from classifier.base.defaults import config_folder
from classifier.base.status import ExitStatus

MODELS_FOLDER = "modelos"  # inside the program's config folder: where a model taught without --nuevo-modelo goes
SUMMARY_TITLE = "Modelo nuevo listo"
FAILED_TITLE = "No se pudo enseñar el modelo"
CANCELLED = ("Cancelado: no se guardó ningún modelo; las fotos ya leídas quedan en la caché y la próxima vez no "
             "se vuelven a leer.")


def default_destination(classes_folder):
    """The program's own models folder, under the classes folder's name: teaching the same folder again
    replaces the model it wrote there (writing.check_destination), never anything else."""
    name = os.path.basename(os.path.normpath(os.path.abspath(classes_folder))) or "modelo"
    return os.path.join(config_folder(), MODELS_FOLDER, name)


def teach_from_desktop(args):
    """(exit status, the new model's folder or None): the folder only when a model was written."""
    if not has_display():
        say("Error: sin CARPETA, --aprender la pide en una ventana y aquí no hay pantalla: indique la carpeta, "
            "--aprender CARPETA --nuevo-modelo DESTINO.")
        return ExitStatus.USAGE, None
    try:
        from classifier.gui import boxes, picker
        from classifier.gui.reading_window import ReadingWindow
        from classifier.gui.timers import DisplayUnavailable, check_tk

        check_tk()
    except ImportError as exc:
        say(f"Error: este Python no tiene tkinter ({exc}), que hace falta para elegir la carpeta en una ventana: "
            f"{tk_install_hint()}; o indique la carpeta, --aprender CARPETA --nuevo-modelo DESTINO.")
        return ExitStatus.USAGE, None
    try:
        folder = picker.pick_folder(start_folder(default_state_file()))
    except DisplayUnavailable:  # Tk's reason is in English: not for the user
        say("Error: no se puede abrir una ventana: indique la carpeta, --aprender CARPETA --nuevo-modelo DESTINO.")
        return ExitStatus.USAGE, None
    if folder is None:
        say("No se eligió ninguna carpeta.")
        return ExitStatus.OK, None
    destination = args.nuevo_modelo
    if destination is None:
        destination = default_destination(folder)
        try:
            os.makedirs(os.path.dirname(destination), exist_ok=True)
        except OSError:
            pass  # said by check_destination: the folder where the model would go does not exist
    taught = argparse.Namespace(**{**vars(args), "aprender": folder, "nuevo_modelo": destination})
    window, summary, failures = ReadingWindow(), [], []
    try:
        status = run_teaching(taught, window, summary, failures.append)
    except TeachingCancelled:
        say(CANCELLED)
        return ExitStatus.OK, None
    finally:
        window.close()
    try:
        if status != ExitStatus.OK:
            if failures:
                boxes.show_error(FAILED_TITLE, failures[-1])
            return status, None
        boxes.show_error(SUMMARY_TITLE, _paragraphs(summary), kind="info")
    except DisplayUnavailable:
        pass  # the terminal has every line
    return ExitStatus.OK, destination


BOX_LIST_LINES = 6  # of each indented list (classes, their figures, confused pairs) in the box: it fits 1024 x 600


def _paragraphs(lines):
    """The terminal's lines, a blank line before the accuracy and before where the model went: easier to read in
    a box that wraps the long ones. Each indented list keeps its first lines; the terminal has it whole."""
    starts = ("Precisión estimada", "Modelo nuevo guardado")
    shown, run = [], []

    def end_run():
        if len(run) > BOX_LIST_LINES:
            run[BOX_LIST_LINES - 1:] = [f"  … y {len(run) - BOX_LIST_LINES + 1} más (en la terminal, todas)"]
        shown.extend(run)
        run.clear()

    for line in lines:
        if line.startswith("  "):
            run.append(line)
            continue
        end_run()
        shown.append(("\n" + line) if line.startswith(starts) else line)
    end_run()
    return "\n".join(shown)
