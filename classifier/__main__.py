"""python -m classifier: the same program as script_modelo.py and the clasificar command."""

from .cli import run

run()
