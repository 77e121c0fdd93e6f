"""What both command-line front-ends (cli.py and batch.py) share: the Ctrl+C flag and stderr."""

import sys

from classifier.base.status import StopEvent

# Set by Ctrl+C. Some libraries swallow KeyboardInterrupt while they import (a bare
# "except:"), and a signal landing in a destructor goes to sys.unraisablehook; the
# flag lets us notice afterwards all the same.
INTERRUPTED = StopEvent()


def is_terminal(stream):
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def say(message):
    """One message on stderr; when stderr is closed or full, nothing more can be told."""
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass
