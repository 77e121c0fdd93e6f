"""The sentences a model folder is refused with, shared by the checks that refuse it."""

from classifier.base.errors import ModelLoadError, quoted


def broken(name, reason):
    return ModelLoadError(f"El modelo {quoted(name)} está roto: {reason}.")


def unreadable(name, file_name):
    return ModelLoadError(f"No hay permiso para leer el archivo {file_name} del modelo {quoted(name)}.")


def unnamed_classes(name, detail):
    return ModelLoadError(f"El archivo config.json del modelo {quoted(name)} no da un nombre a cada una de sus "
                          f"clases ({detail}).")
