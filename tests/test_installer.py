"""instalar.py: the torch build each machine gets, and the tested versions it installs."""

import sys

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import instalar
from conftest import REPO

TAG = f"cp{sys.version_info.major}{sys.version_info.minor}"


def _index(*builds, version="2.13.0", platform=None):
    """A stand-in for download.pytorch.org: the simple-index page of each build, listing one torch wheel."""
    platform = platform or instalar.wheel_platform()
    pages = {f"{instalar.PYTORCH_INDEX}{b}/torch/":
             f'<a href="/whl/{b}/torch-{version}%2B{b}-{TAG}-{TAG}-manylinux_2_28_{platform}.whl#sha256=0">'
             for b in builds}
    asked = []

    def fetch(url):
        asked.append(url)
        return pages.get(url, "<html></html>")

    fetch.asked = asked
    return fetch


def unreachable(url):
    return None


def test_linux_without_an_nvidia_gpu_gets_the_cpu_build():
    url, what = instalar.torch_source("2.13.0", platform="linux", cuda=None, fetch=_index("cpu"))
    assert url == "https://download.pytorch.org/whl/cpu" and "para CPU" in what


def test_linux_where_the_pytorch_index_cannot_be_reached_falls_back_to_the_package_index():
    url, what = instalar.torch_source("2.13.0", platform="linux", cuda=None, fetch=unreachable)
    assert url is None and "download.pytorch.org no responde" in what
    # Which build pip takes is known once it has: on our machines the CPU one, which a warning of
    # «varios GB» contradicted. The note comes after, and only when the CUDA libraries came.
    assert "CUDA" not in what


@pytest.mark.parametrize(("cuda", "libraries", "noted"), [(None, True, True), (None, False, False),
                                                          ((12, 8), True, False)])
def test_a_cuda_build_on_a_machine_without_an_nvidia_gpu_is_said_once_it_is_installed(cuda, libraries, noted):
    note = instalar.cuda_note(cuda, libraries)
    assert (note is not None) == noted
    assert note is None or ("CUDA" in note and "docs/instalacion.md" in note)


def test_the_cuda_libraries_are_found_in_the_readmes_environment_as_torch_itself_reports_its_build():
    # The README's own .venv (made by instalar.py; here from the package index, the CPU build): the
    # reference is torch's own word on its build.
    import torch

    if not instalar.venv_python().exists():
        pytest.skip("sin .venv hecho por instalar.py")
    assert instalar.cuda_libraries() == (torch.version.cuda is not None)


def test_an_nvidia_gpu_gets_the_newest_cuda_build_its_driver_supports():
    fetch = _index("cu118", "cu126", "cu128", "cu130")
    url, what = instalar.torch_source("2.13.0", platform="linux", cuda=(12, 8), fetch=fetch)
    assert url == "https://download.pytorch.org/whl/cu128" and "CUDA 12.8" in what
    assert not any("cu130" in u for u in fetch.asked)  # a driver for 12.8 cannot run 13.0
    url, _ = instalar.torch_source("2.13.0", platform="win32", cuda=(12, 7), fetch=fetch)
    assert url == "https://download.pytorch.org/whl/cu126"


def test_a_build_without_the_pinned_version_is_passed_over():
    url, _ = instalar.torch_source("2.13.0", platform="linux", cuda=(13, 0),
                                   fetch=_index("cu126", "cu130", version="2.12.0"))
    assert url is None


def test_windows_and_macos_without_an_nvidia_gpu_use_the_package_index_whose_wheels_have_no_cuda():
    for platform in ("win32", "darwin"):
        fetch = _index("cpu")
        assert instalar.torch_source("2.13.0", platform=platform, cuda=None, fetch=fetch)[0] is None
        assert fetch.asked == []


def test_the_driver_version_is_read_from_nvidia_smi():
    class Done:
        stdout = "| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4     |"

    assert instalar.driver_cuda_version(run=lambda *a, **k: Done(), which=lambda name: "/usr/bin/nvidia-smi") == (12, 4)
    assert instalar.driver_cuda_version(which=lambda name: None) is None


def test_the_constraints_pin_every_requirement_within_its_range():
    pins = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = Version(version)
    for file in ("requirements.txt", "requirements-test.txt"):
        for line in (REPO / file).read_text(encoding="utf-8").splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r"):
                requirement = Requirement(line)
                name = requirement.name.lower().replace("_", "-")
                assert name in pins, f"{name} of {file} is not pinned"
                assert requirement.specifier.contains(pins[name]), (name, pins[name])
    assert str(pins["torch"]) == instalar.pinned_torch(REPO / "constraints.txt")


@pytest.mark.parametrize("file", ["pyproject.toml"])
def test_the_supported_python_is_the_one_the_installer_asks_for(file):
    minimum = ".".join(map(str, instalar.MINIMUM_PYTHON))
    assert f'requires-python = ">={minimum}"' in (REPO / file).read_text(encoding="utf-8")
