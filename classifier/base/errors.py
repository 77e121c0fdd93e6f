"""Exceptions whose message is the Spanish sentence shown to the user."""

import errno
import os

# Short reasons for the operating system's errors, to end sentences such as
# "no se pudo leer el archivo (permiso denegado)". Looked up by name: some codes
# (EDQUOT, ESTALE) do not exist on every system.
_REASONS = {
    "ENOENT": "no existe",
    "ENOTDIR": "una parte de la ruta no es una carpeta",
    "EACCES": "permiso denegado",
    "EPERM": "operación no permitida",
    "EEXIST": "ya existe",
    "ENOSPC": "no queda espacio en el disco",
    "EDQUOT": "se ha superado la cuota de disco",
    "EROFS": "el disco es de solo lectura",
    "EISDIR": "es una carpeta",
    "ENOTEMPTY": "la carpeta no está vacía",
    "ENAMETOOLONG": "el nombre o la ruta es demasiado largo",
    "ELOOP": "demasiados enlaces simbólicos encadenados",
    "EIO": "error de lectura o escritura en el dispositivo",
    "EMFILE": "hay demasiados archivos abiertos",
    "ENFILE": "el sistema tiene demasiados archivos abiertos",
    "ENOMEM": "no hay memoria suficiente",
    "EBUSY": "el recurso está ocupado",
    "ETXTBSY": "el archivo está en uso",
    "ETIMEDOUT": "se agotó el tiempo de espera",
    "EINVAL": "argumento no válido",
    "EFBIG": "el archivo es demasiado grande",
    "ENXIO": "el dispositivo no existe o no está disponible",
    "ENODEV": "el dispositivo no existe",
    "ESTALE": "el archivo de la unidad de red ya no es válido",
    "ENOTCONN": "la unidad de red o el dispositivo no está conectado",
    "EAGAIN": "el recurso no está disponible por ahora",
    "EINTR": "la operación se interrumpió",
}
_REASON_BY_CODE = {getattr(errno, name): reason for name, reason in _REASONS.items() if hasattr(errno, name)}


def system_reason(error):
    """A short Spanish reason for an OSError or an errno number, never English.

    Codes without a translation read "error del sistema N" (N as errno gives it).
    """
    code = error if isinstance(error, int) else getattr(error, "errno", None)
    if code is None:
        return "error del sistema"
    return _REASON_BY_CODE.get(code, f"error del sistema {code}")


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def display_path(path):
    """The path as printable text: safe on any UTF-8 terminal, for reading only.

    Bytes that are not UTF-8 (Python keeps them as U+DC80..U+DCFF) read \\xff;
    control and other invisible characters (newline, ESC, CSI, right-to-left
    marks) read \\n, \\u001b, \\u009b... so nothing in a name can move the cursor
    or recolour the terminal. Backslashes stay as they are: Windows paths remain
    readable, and sentences already made of display paths pass unchanged.
    """
    return printable(os.fsdecode(path))


def quoted(path):
    """«path» as a sentence shows it: between Spanish quotes, printable."""
    return f"«{display_path(path)}»"


def printable(text):
    """text with every character a terminal would not print written as an escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else escape_character(c) for c in text)


def escape_character(c):
    """\\xNN for a byte kept by surrogateescape, else \\n, \\r, \\t or \\uNNNN / \\UNNNNNNNN."""
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if c in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[c]
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _exact_path(path):
    # Bytes paths become the str Python itself would use (surrogateescape), never "b'...'".
    return os.fsdecode(path)


class ClassifierError(Exception):
    """Base class: str(error) is a complete Spanish sentence."""


class ImageError(ClassifierError):
    """A path that cannot be turned into an RGB image.

    path is the exact name; the sentence shows it as display_path does.
    """

    def __init__(self, path, reason):
        self.path = _exact_path(path)
        self.reason = reason
        super().__init__(f"No se puede clasificar «{display_path(self.path)}»: {reason}.")


class PictureError(ClassifierError):
    """A decoded picture this model cannot take; the engine names the file (ImageError)."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(reason)


class OutputFailed(ClassifierError):
    """The results cannot be written (a full disk, a closed output); str() is the Spanish sentence."""

    def __init__(self, what, exc):
        reason = system_reason(exc) if isinstance(exc, OSError) else "la salida está cerrada"
        super().__init__(f"No se {what}: {reason}.")


class InputError(ClassifierError):
    """A command-line input that names no image at all (an empty folder, say).

    path is the exact name; the sentence, written by the caller, shows display_path(path).
    """

    def __init__(self, path, sentence):
        self.path = _exact_path(path)
        super().__init__(sentence)


class ModelLoadError(ClassifierError):
    """The model, its image processor or the device cannot be used."""


class DownloadInterrupted(KeyboardInterrupt):
    """Ctrl+C (or Cancelar) during the model's download: every mode says the same sentence."""

    SENTENCE = "Descarga interrumpida: el programa la intentará de nuevo la próxima vez."
