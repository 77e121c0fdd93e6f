"""Local image classifier built on a Hugging Face ViT (google/vit-base-patch16-224)."""

import signal
import sys

from classifier.base.defaults import VERSION as __version__  # the front-end reads it there: no circle

__all__ = ["__version__", "run"]


def run():
    """The program's entry: script_modelo.py, python -m classifier and the clasificar command."""
    from classifier.app.dependencies import check

    check()  # before cli imports PIL and numpy: a missing package is one sentence, not a traceback
    try:
        from classifier.app.cli import run as run_cli
    except KeyboardInterrupt:  # Ctrl+C while the program's modules import, before its own handling
        sys.stderr.write("\nInterrumpido.\n")
        raise SystemExit(128 + signal.SIGINT) from None  # ExitStatus.INTERRUPTED
    run_cli()
