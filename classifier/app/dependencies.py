"""Before anything imports PIL or torch: are the program's packages in this Python? Standard library only.

A new terminal on another day runs `python3 script_modelo.py` with the environment not active;
without this check the student meets `ModuleNotFoundError: No module named 'PIL'`.
"""

import importlib.util
import os
import sys
from pathlib import Path

from classifier.base.status import ExitStatus

# The import names of requirements.txt's packages (Pillow is PIL).
REQUIRED = ("torch", "transformers", "huggingface_hub", "safetensors", "PIL", "numpy", "matplotlib", "easygui",
            "tqdm")


def missing_modules():
    """The required modules this Python cannot find; find_spec of a top-level name imports nothing."""
    missing = []
    for name in REQUIRED:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or half-installed package
            found = False
        if not found:
            missing.append(name)
    return missing


def _shown(path):
    """The path as the student would type it: relative when it lies under the current folder."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


def _in_environment(venv):
    try:
        return Path(sys.prefix).resolve() == venv.resolve()
    except OSError:
        return False


def advice(missing, root, windows):
    """The one Spanish sentence that says what to do, for this system."""
    venv = root / ".venv"
    names = ", ".join(missing)
    installer = "py instalar.py" if windows else "python3 instalar.py"
    if venv.is_dir() and not _in_environment(venv):
        activate = (f"{_shown(venv / 'Scripts' / 'activate')}" if windows
                    else f"source {_shown(venv / 'bin' / 'activate')}")
        return (f"Este Python no tiene los paquetes del programa (faltan {names}): active primero su entorno con "
                f"«{activate}» y repita la orden.")
    if venv.is_dir():
        return (f"Al entorno {_shown(venv)} le faltan paquetes ({names}): la instalación no terminó; repítala con "
                f"«{installer}» en la carpeta del programa.")
    if (root / "instalar.py").is_file():
        return (f"Faltan los paquetes del programa ({names}): instálelos con «{installer}» en la carpeta del "
                "programa y ejecútelo como dice el README.")
    return f"Faltan los paquetes del programa ({names}): vuelva a instalarlo."


def check():
    """Exit with the setup status and one sentence when a required package is missing."""
    missing = missing_modules()
    if not missing:
        return
    root = Path(__file__).resolve().parents[2]  # classifier/app/dependencies.py -> the program's folder
    sys.stderr.write(f"Error: {advice(missing, root, os.name == 'nt')}\n")
    raise SystemExit(ExitStatus.SETUP)
