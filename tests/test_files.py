"""The one atomic JSON write (the desktop's remembered folder, --rapido's measured precision)."""

import json
import os

import pytest

from classifier.base.files import write_json_atomic


def test_a_write_that_fails_midway_leaves_the_file_as_it_was_and_no_temporary(tmp_path):
    target = tmp_path / "estado.json"
    target.write_bytes(b'{"carpeta": "/home/ana/Fotos"}')
    with pytest.raises(TypeError):
        write_json_atomic(str(target), {"carpeta": object()})  # json.dump fails after writing "{"carpeta": "
    assert target.read_bytes() == b'{"carpeta": "/home/ana/Fotos"}'
    assert os.listdir(tmp_path) == ["estado.json"]


def test_a_write_gives_what_json_reads_back_and_makes_its_folder(tmp_path):
    target = tmp_path / "nueva" / "precision.json"
    data = {"clave": {"elegida": "float32", "ñandú": [1.5, None]}}
    write_json_atomic(str(target), data, indent=1)
    assert json.loads(target.read_text(encoding="utf-8")) == data
    assert "ñandú" in target.read_text(encoding="utf-8")  # written as text, not \\u escapes
    assert os.listdir(target.parent) == ["precision.json"]
