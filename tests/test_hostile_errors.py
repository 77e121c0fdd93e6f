"""Sentences about paths and system errors: printable whatever the name, Spanish whatever the error."""

import errno
import os

import pytest

from classifier.base.errors import ImageError, InputError, display_path, system_reason
from classifier.images import expand_inputs


@pytest.mark.parametrize(("path", "shown"), [
    ("/fotos/Ñandú en el café.PNG", "/fotos/Ñandú en el café.PNG"),
    ("C:\\Users\\Begoña\\gato.jpg", "C:\\Users\\Begoña\\gato.jpg"),
    (b"foto\xff\xfe.png", "foto\\xff\\xfe.png"),
    ("foto\udcff.png", "foto\\xff.png"),
    ("a\x1b[2Jb", "a\\u001b[2Jb"),
    ("a\rb\nc\td\x07e", "a\\rb\\nc\\td\\u0007e"),
    ("csi\x9b31m", "csi\\u009b31m"),
    ("del\x7f", "del\\u007f"),
    ("rlo\u202egnp.exe", "rlo\\u202egnp.exe"),
    ("tag\U000e0041", "tag\\U000e0041"),
])
def test_display_path_escapes_what_a_terminal_would_act_on(path, shown):
    assert display_path(path) == shown
    assert display_path(shown) == shown  # sentences made of display paths pass through unchanged
    shown.encode("utf-8")


def test_an_image_error_shows_the_display_form_and_keeps_the_exact_path(tmp_path):
    path = os.path.join(os.fsencode(tmp_path), b"falta\xff\x1b[31m.png")
    error = ImageError(path, "el archivo no existe")
    assert error.path == os.fsdecode(path) and os.fsencode(error.path) == path
    assert str(error) == f"No se puede clasificar «{display_path(path)}»: el archivo no existe."
    assert str(error).isprintable() and "\\xff\\u001b[31m" in str(error)
    assert InputError(path, "frase").path == os.fsdecode(path)


def test_folder_sentences_show_the_display_form(tmp_path):
    folder = os.path.join(os.fsencode(tmp_path), b"vac\xeda\x1b")
    os.mkdir(folder)
    [(given, error)] = list(expand_inputs([os.fsdecode(folder)]))
    assert given == os.fsdecode(folder) and error.path == given
    assert str(error).startswith(f"La carpeta «{display_path(folder)}» no contiene imágenes")
    assert str(error).isprintable()


# --- the operating system's reasons --------------------------------------------------------------

TRANSLATED = ["ENOENT", "EACCES", "EPERM", "EEXIST", "ENOSPC", "EROFS", "EISDIR", "ENOTDIR", "ENAMETOOLONG",
              "ELOOP", "EIO", "EDQUOT", "EMFILE", "ENOMEM", "EBUSY", "ETIMEDOUT", "EINVAL", "EFBIG"]


@pytest.mark.parametrize("name", TRANSLATED)
def test_every_common_system_error_has_a_spanish_reason(name):
    code = getattr(errno, name)
    reason = system_reason(code)
    assert not reason.startswith("error del sistema") and reason == system_reason(OSError(code, "English"))
    assert os.strerror(code) not in reason


def test_system_reasons_read_as_spanish_and_unknown_codes_do_not_fall_back_to_english():
    assert system_reason(errno.EACCES) == "permiso denegado"
    assert system_reason(PermissionError(errno.EACCES, "Permission denied")) == "permiso denegado"
    assert system_reason(OSError(errno.ENOSPC, "No space left on device")) == "no queda espacio en el disco"
    assert system_reason(FileExistsError(errno.EEXIST, "File exists")) == "ya existe"
    assert system_reason(OSError(9999, "Something odd")) == "error del sistema 9999"
    assert system_reason(OSError("no errno at all")) == "error del sistema"
