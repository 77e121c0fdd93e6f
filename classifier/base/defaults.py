"""Defaults shared by the command line, the batch runner and the desktop loop."""

import os
import sys

VERSION = "1.0.0"  # pyproject.toml's; --version says it, classifier.__version__ is it
DEFAULT_MODEL = "google/vit-base-patch16-224"
# The commit that added model.safetensors: pinning it keeps results reproducible
# and lets us refuse pickle weights.
DEFAULT_REVISION = "3f49326eb077187dfe1c2a2bb15fbd74e6ab91e3"
DEFAULT_TOP_K = 7
DEFAULT_BATCH_SIZE = 8
DEVICES = ("auto", "cpu", "cuda", "mps")

# Files a folder is scanned for, and the picker offers by default. Files named
# explicitly are tried whatever their extension, but only in the formats these
# extensions stand for (images.readable_formats): content decides among them.
IMAGE_EXTENSIONS = (
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".bmp", ".dib", ".gif",
    ".webp", ".tif", ".tiff", ".ico", ".ppm", ".pgm", ".pbm", ".pnm", ".tga",
    ".qoi", ".avif",
)
# What the picker lists besides those: files the program cannot read but explains in a sentence
# (an iPhone's HEIC photo, a PDF, a vector drawing), which a student would otherwise never see.
EXPLAINED_EXTENSIONS = (".heic", ".heif", ".hif", ".svg", ".pdf", ".eps", ".ps")
# The Pillow formats of those extensions, the only decoders ever run (never EPS, which starts
# Ghostscript on any PostScript content). Pillow's always-loaded plugins first.
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "PPM", "TIFF", "WEBP", "ICO", "DIB", "TGA", "QOI", "AVIF")

# The Software text of every PNG the program writes (a tEXt chunk): --mapa's maps and the window's
# «Guardar la figura». Folder scans leave these files out, so outputs written among the photos are
# never classified as photos; a user's picture of the same name carries no such text.
MAP_SOFTWARE = "clasificador-vit mapa"
FIGURE_SOFTWARE = "clasificador-vit figura"
OUTPUT_SOFTWARE = (MAP_SOFTWARE, FIGURE_SOFTWARE)

# The program's folder of settings and measurements, inside the platform's config folder.
CONFIG_FOLDER = "clasificador-vit"


def config_folder():
    """%APPDATA%, ~/Library/Application Support, $XDG_CONFIG_HOME or ~/.config, plus CONFIG_FOLDER."""
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or os.path.expanduser("~")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.path.join(base, CONFIG_FOLDER)
