"""python -m classifier: the same program as script_modelo.py and the clasificar command."""

from . import run

run()
