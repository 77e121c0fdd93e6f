"""Instala el programa en .venv, con el torch que necesita este equipo: python3 instalar.py [--pruebas]

Standard library only: it runs before anything is installed. Why an installer of ours and not
uv's --torch-backend=auto: docs/instalacion.md.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOG = VENV / "instalar.log"
PYTORCH_INDEX = "https://download.pytorch.org/whl/"
# PyTorch's CUDA builds, newest first; each needs a driver that supports at least that CUDA version.
CUDA_BUILDS = ("cu132", "cu130", "cu129", "cu128", "cu126", "cu124", "cu121", "cu118")
MINIMUM_PYTHON = (3, 11)  # transformers 5.24 and the versions of constraints.txt need it
WINDOWS = os.name == "nt"


class SetupError(Exception):
    """Its text is the Spanish sentence the student reads."""


def say(message):
    print(message, flush=True)


def pinned_torch(constraints):
    """The torch version of constraints.txt (without a local label such as +cpu)."""
    for line in constraints.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"torch==([0-9][0-9.]*)(\+\S+)?\s*", line.strip())
        if match:
            return match[1]
    raise SetupError(f"«{constraints.name}» no fija la versión de torch: recupere el archivo del repositorio.")


def driver_cuda_version(run=subprocess.run, which=shutil.which):
    """(major, minor) of the CUDA version the NVIDIA driver supports, or None where there is no NVIDIA GPU."""
    smi = which("nvidia-smi")
    if smi is None:
        return None
    try:
        output = run([smi], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", output or "")
    return (int(match[1]), int(match[2])) if match else None


def wheel_platform():
    """What the name of a torch wheel for this machine contains (and what a wheel for another does not)."""
    machine = os.environ.get("PROCESSOR_ARCHITECTURE", "") if WINDOWS else os.uname().machine
    if WINDOWS:
        return "win_arm64" if machine.upper() == "ARM64" else "win_amd64"
    return "aarch64" if machine in ("aarch64", "arm64") else "x86_64"


def index_has(build, version, fetch):
    """True when the PyTorch index of that build lists torch `version` for this Python and machine;
    None when the index cannot be reached."""
    page = fetch(f"{PYTORCH_INDEX}{build}/torch/")
    if page is None:
        return None
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    wheel = re.compile(rf"torch-{re.escape(version)}%2B{build}-{tag}-{tag}-[^\"#<]*{wheel_platform()}|"
                       rf"torch-{re.escape(version)}\+{build}-{tag}-{tag}-[^\"#<]*{wheel_platform()}")
    return bool(wheel.search(page))


def fetch_page(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def torch_source(version, platform=sys.platform, cuda=None, fetch=fetch_page):
    """(extra index URL or None for the package index alone, what to tell the student)."""
    if platform == "darwin":
        return None, f"torch {version} para macOS (CPU y la GPU de Apple)"
    if cuda is None:
        if platform.startswith("win"):  # the package index's Windows wheels are the CPU build
            return None, f"torch {version} para CPU (no hay GPU NVIDIA)"
        found = index_has("cpu", version, fetch)
        if found:
            return PYTORCH_INDEX + "cpu", f"torch {version} para CPU (no hay GPU NVIDIA), de download.pytorch.org"
        if found is None:
            # Whether that is the CUDA build is known only once pip has chosen: cuda_note() says so then.
            return None, f"torch {version} del índice de paquetes, porque download.pytorch.org no responde"
        return None, f"torch {version} del índice de paquetes, porque download.pytorch.org no tiene su versión para CPU"
    usable = [b for b in CUDA_BUILDS if (int(b[2:-1]), int(b[-1])) <= cuda]
    for build in usable:
        found = index_has(build, version, fetch)
        if found is None:
            return None, (f"torch {version} del índice de paquetes: hay GPU NVIDIA, pero download.pytorch.org no "
                          "responde")
        if found:
            return PYTORCH_INDEX + build, (f"torch {version} para la GPU NVIDIA (CUDA {build[2:-1]}.{build[-1]}; "
                                           f"el controlador admite CUDA {cuda[0]}.{cuda[1]})")
    return None, (f"torch {version} del índice de paquetes, porque download.pytorch.org no tiene una versión para "
                  f"el CUDA {cuda[0]}.{cuda[1]} de su controlador")


def venv_python():
    return VENV / ("Scripts/python.exe" if WINDOWS else "bin/python")


def activate_command():
    return r".venv\Scripts\activate" if WINDOWS else "source .venv/bin/activate"


def make_venv():
    if venv_python().exists():
        say("El entorno .venv ya existe: se completa.")
        return
    say("Creando el entorno .venv…")
    try:
        venv.EnvBuilder(with_pip=True).create(VENV)
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(VENV, ignore_errors=True)  # a half-made .venv would make the next try believe it is there
        hint = " (en Debian y Ubuntu: sudo apt install python3-venv)" if sys.platform.startswith("linux") else ""
        raise SetupError(f"No se pudo crear el entorno .venv{hint}: {exc}.") from None


def pip_install(arguments, log):
    """pip, quiet, its output in .venv/instalar.log: a student reads Spanish here, pip's English goes to the log."""
    command = [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
               *arguments]
    log.write("$ " + " ".join(command) + "\n")
    log.flush()
    status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    if status != 0:
        raise SetupError(f"La instalación de los paquetes falló (pip terminó con el código {status}); el detalle "
                         f"está en «{LOG.relative_to(ROOT)}». Compruebe la conexión y el espacio en disco y repita la "
                         "orden: lo ya instalado se conserva.")


def installed_torch():
    """The version pip installed, with its build (2.13.0+cpu): what the student got, whatever the index gave."""
    done = subprocess.run([str(venv_python()), "-c", "import importlib.metadata as m; print(m.version('torch'))"],
                          capture_output=True, text=True)
    return done.stdout.strip() or "?"


def cuda_libraries():
    """Whether pip brought PyTorch's CUDA libraries (the nvidia-* packages) into .venv."""
    code = ("import importlib.metadata as m; "
            "print(any((d.metadata['Name'] or '').lower().startswith('nvidia-') for d in m.distributions()))")
    done = subprocess.run([str(venv_python()), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() == "True"


def cuda_note(cuda, with_cuda_libraries):
    """A sentence when the package index gave the CUDA build to a machine without an NVIDIA GPU, else None."""
    if cuda is not None or not with_cuda_libraries:
        return None
    return ("Este torch trae CUDA (varios GB) aunque no hay GPU NVIDIA: funciona en la CPU; docs/instalacion.md dice "
            "cómo cambiarlo por el de CPU, más pequeño.")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="instalar.py", description="Instala el programa en la carpeta .venv.")
    parser.add_argument("--pruebas", action="store_true", help="instala también lo que necesitan las pruebas")
    args = parser.parse_args(argv)
    if sys.version_info < MINIMUM_PYTHON:
        raise SetupError(f"Este programa necesita Python {'.'.join(map(str, MINIMUM_PYTHON))} o más reciente, y "
                         f"este es {sys.version.split()[0]}: instale uno de python.org y repita la orden con él.")
    constraints = ROOT / "constraints.txt"
    version = pinned_torch(constraints)
    cuda = None if sys.platform == "darwin" else driver_cuda_version()
    extra_index, what = torch_source(version, cuda=cuda)
    make_venv()
    requirements = ROOT / ("requirements-test.txt" if args.pruebas else "requirements.txt")
    say(f"Se instala {what}.")
    say(f"Instalando torch y los paquetes de {requirements.name}: unos minutos (el detalle, en "
        f"{LOG.relative_to(ROOT)})…")
    with open(LOG, "a", encoding="utf-8") as log:
        # torch of that build first: a +cpu or +cuXXX version satisfies torch==X of the constraints afterwards.
        pip_install([f"torch=={version}", "-c", str(constraints),
                     *(("--extra-index-url", extra_index) if extra_index else ())], log)
        pip_install(["-r", str(requirements), "-c", str(constraints)], log)
    note = cuda_note(cuda, cuda_libraries()) if sys.platform.startswith("linux") else None
    if note:
        say(note)
    then = "python -m pytest" if args.pruebas else "python script_modelo.py"
    say(f"Listo (torch {installed_torch()}). Para usarlo, ahora y cualquier otro día, en esta carpeta: "
        f"{activate_command()} y después {then}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SetupError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\nInstalación interrumpida: repita la orden para terminarla.", file=sys.stderr)
        sys.exit(130)
