"""Exceptions whose message is the Spanish sentence shown to the user."""


class ClassifierError(Exception):
    """Base class: str(error) is a complete Spanish sentence."""


class ImageError(ClassifierError):
    """A path that cannot be turned into an RGB image."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"No se puede clasificar «{self.path}»: {reason}.")


class InputError(ClassifierError):
    """A command-line input that names no image at all (an empty folder, say)."""

    def __init__(self, path, sentence):
        self.path = str(path)
        super().__init__(sentence)


class ModelLoadError(ClassifierError):
    """The model, its image processor or the device cannot be used."""
