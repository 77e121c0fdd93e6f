"""Nothing a model folder or a file name holds gets executed; Pillow's bomb limit stays."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

from PIL import Image

from classifier.app.cli import main
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


SHELL_LOOKING = ["a;$(touch PWNED).png", "`touch PWNED`.png", "x && touch PWNED.png", "-rf --help.png",
                 "'; touch PWNED '.png"]


def test_shell_looking_file_names_are_just_names(capsys, tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pictures = []
    for name in SHELL_LOOKING:
        Image.open(PHOTOS[0]).save(tmp_path / name, format="PNG")
        pictures.append(name)  # relative, as typed: a shell would read every character
    code = main(["--model", str(tiny_model_dir), "--format", "json", "--", *pictures])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [json.loads(line)["path"] for line in out.splitlines()] == pictures
    assert not list(tmp_path.glob("PWNED*")) and not (REPO / "PWNED").exists()


# Run as its own process: the audit hook cannot be taken back, and it must see the whole program.
_UNDER_AUDIT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from classifier.app.cli import main
model, photo, out = sys.argv[2:5]
assert main(["--modelo", model, "-f", "json", photo]) == 0  # every module the program needs is imported now
events = []
FORBIDDEN = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
             "pickle.find_class", "ctypes.dlopen")
sys.addaudithook(lambda event, args: events.append(event) if event.startswith(FORBIDDEN) else None)
main(["--modelo", model, "-f", "json", "--mapa", out + "/mapas", "--guardar", out + "/r.csv", photo, photo + ".no"])
main(["--modelo", model, "-f", "json", "--guardar", out + "/r.csv", photo + ".no"])  # a rerun retries the failed one
sys.stderr.write(json.dumps(sorted(set(events))) + "\\n")
"""


def test_a_whole_run_starts_no_program_and_unpickles_nothing(tmp_path, tiny_model_copy):
    with open(tiny_model_copy / "pytorch_model.bin", "wb") as trap:  # a pickle beside the safetensors
        pickle.dump(_Trap(tmp_path / "pwned"), trap)
    done = subprocess.run([sys.executable, "-c", _UNDER_AUDIT, str(REPO), str(tiny_model_copy), str(PHOTOS[0]),
                           str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == [], done.stderr
    assert (tmp_path / "mapas").is_dir() and (tmp_path / "r.csv").is_file()
    assert not (tmp_path / "pwned").exists()
