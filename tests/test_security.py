"""Nothing a model folder or a file name holds gets executed; Pillow's bomb limit stays."""

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from classifier.cli import main
from conftest import PHOTOS, REPO, reliability

PILLOW_DEFAULT_LIMIT = int(1024 * 1024 * 1024 // 4 // 3)  # Pillow's documented default, 89,478,485


class _Trap:
    """Unpickling this writes a marker file: proof that pickle code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path(self.marker).write_text, ("pickle code ran",))


def test_pickle_weights_beside_safetensors_are_never_unpickled(capsys, tiny_model_copy, tmp_path):
    marker = tmp_path / "pwned-by-pickle"
    with open(tiny_model_copy / "pytorch_model.bin", "wb") as trap:
        pickle.dump(_Trap(marker), trap)
    code = main(["--model", str(tiny_model_copy), str(PHOTOS[0])])
    assert code == 0, capsys.readouterr().err
    assert not marker.exists()
    reliability.setdefault("modelos", set()).add("pesos pickle con código junto a safetensors")


def test_remote_code_in_a_model_folder_is_never_run(capsys, tiny_model_copy, tmp_path):
    marker = tmp_path / "pwned-by-remote-code"
    (tiny_model_copy / "modeling_trap.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('remote code ran')\n"
    )
    config_path = tiny_model_copy / "config.json"
    config = json.loads(config_path.read_text())
    config.update(model_type="trap", auto_map={"AutoConfig": "modeling_trap.TrapConfig",
                                               "AutoModelForImageClassification": "modeling_trap.TrapModel"})
    config_path.write_text(json.dumps(config))
    code = main(["--model", str(tiny_model_copy), str(PHOTOS[0])])
    err = capsys.readouterr().err
    assert code == 2 and "nunca ejecuta código que venga con un modelo" in err and "Traceback" not in err
    assert not marker.exists()
    reliability.setdefault("modelos", set()).add("código propio del modelo (auto_map)")


def test_the_decompression_bomb_limit_is_pillows_default(capsys, tiny_model_dir):
    assert main(["--model", str(tiny_model_dir), str(PHOTOS[0])]) == 0
    assert Image.MAX_IMAGE_PIXELS == PILLOW_DEFAULT_LIMIT


@pytest.mark.parametrize("name", ["a;$(touch PWNED).png", "`touch PWNED`.png", "x && touch PWNED.png",
                                  "-rf --help.png", "'; touch PWNED '.png"])
def test_shell_looking_file_names_are_just_names(tmp_path, tiny_model_dir, name):
    picture = tmp_path / name
    Image.open(PHOTOS[0]).save(picture, format="PNG")
    done = subprocess.run([sys.executable, str(REPO / "script_modelo.py"), "--model", str(tiny_model_dir),
                           "--format", "json", "--", str(picture)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["path"] == str(picture)
    assert not list(tmp_path.glob("PWNED*")) and not (REPO / "PWNED").exists()


def test_the_package_never_starts_a_shell_or_evaluates_text():
    for source in (REPO / "classifier").glob("*.py"):
        text = source.read_text()
        if source.name == "hub.py":
            # The one process the program starts: its own download, this interpreter, an argument list.
            uses = set(re.findall(r"\bsubprocess\.(\w+)", text))
            assert uses <= {"Popen", "PIPE", "DEVNULL", "TimeoutExpired"}, uses
            assert text.count("subprocess.Popen(") == 1
            assert re.search(r'subprocess\.Popen\(\s*\[sys\.executable, "-m", "classifier\.hub", ', text)
            text = re.sub(r"\bsubprocess\b", "", text)
        for forbidden in (r"\bsubprocess\b", r"os\.system", r"os\.popen", r"shell=True", r"(?<![.\w])eval\(",
                          r"(?<![.\w])exec\(", r"import pickle", r"torch\.load\("):
            assert not re.search(forbidden, text), f"{source.name} matches {forbidden}"
        if source.name == "model.py":
            assert "use_safetensors=True" in text and text.count("trust_remote_code=False") == 2
