"""Models that cannot be used: one Spanish sentence, exit 2, no traceback, nothing guessed."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from fakehub import FakeHub

from classifier.app.cli import main
from conftest import PHOTOS, REPO, reliability

TRIED = reliability.setdefault("modelos", set())


def _run(capsys, model):
    capsys.readouterr()  # drop what building the broken model printed
    code = main(["--model", str(model), str(PHOTOS[0])])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_sentence(code, out, err, phrase):
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and lines[0].endswith("."), err
    assert phrase in lines[0], lines[0]


def _edit_config(folder, change):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def _no_weights(folder):
    os.remove(folder / "model.safetensors")


def _pickle_only(folder):
    from safetensors.torch import load_file

    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    os.remove(folder / "model.safetensors")


def _truncated_weights(folder):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


def _scrambled_header(folder):
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[8:40] = b"\xff" * 32
    (folder / "model.safetensors").write_bytes(bytes(data))


def _no_labels(folder):
    _edit_config(folder, lambda c: [c.pop("id2label"), c.pop("label2id")])


def _wrong_label_count(folder):
    _edit_config(folder, lambda c: c.update(id2label={str(i): f"clase {i}" for i in range(5)},
                                            label2id={f"clase {i}": i for i in range(5)}))


def _no_processor(folder):
    os.remove(folder / "preprocessor_config.json")


def _broken_config(folder):
    (folder / "config.json").write_text("{ esto no es json")


def _nested_config(folder):
    (folder / "config.json").write_text("[" * 200_000 + "]" * 200_000)


BROKEN = {
    "sin pesos": (_no_weights, "no contiene los pesos"),
    "solo pesos pickle": (_pickle_only, "pickle"),
    "pesos truncados": (_truncated_weights, "dañados"),
    "cabecera de safetensors corrupta": (_scrambled_header, "dañados"),
    "config sin nombres de clases": (_no_labels, "no trae los nombres de sus clases"),
    "cabeza de otro tamaño": (_wrong_label_count, "no corresponden"),
    "sin preprocesador": (_no_processor, "preprocesador"),
    "config.json que no es JSON": (_broken_config, "config.json"),
    "config.json anidado sin fin": (_nested_config, "config.json"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_model_folder(capsys, tiny_model_copy, case):
    breaker, phrase = BROKEN[case]
    breaker(tiny_model_copy)
    _assert_one_sentence(*_run(capsys, tiny_model_copy), phrase)
    TRIED.add(case)


def test_a_text_model_is_not_an_image_classifier(capsys, tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, id2label={0: "malo", 1: "bueno"}, label2id={"malo": 0, "bueno": 1})
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    _assert_one_sentence(*_run(capsys, tmp_path), "no es un clasificador de imágenes")
    TRIED.add("modelo de texto")


def test_a_folder_that_is_not_a_model(capsys, tmp_path):
    _assert_one_sentence(*_run(capsys, tmp_path), "falta config.json")
    TRIED.add("carpeta sin modelo")


def test_an_invalid_hub_id(capsys):
    _assert_one_sentence(*_run(capsys, "no vale/esto"), "identificador válido")
    TRIED.add("identificador de hub no válido")


def test_the_default_model_without_network_or_cache(capsys):
    code = main([str(PHOTOS[0])])
    out, err = capsys.readouterr()
    _assert_one_sentence(code, out, err, "google/vit-base-patch16-224")
    # The tests run with HF_HUB_OFFLINE=1 (conftest): the sentence names it, rather than blame the connection.
    assert "HF_HUB_OFFLINE=1 prohíbe descargarlo" in err and "--modelo CARPETA" in err
    TRIED.add("modelo por defecto sin red ni caché")


@pytest.mark.parametrize(("given", "sentence"), [
    ("modelo/config.json", "«modelo/config.json» es un archivo, no la carpeta de un modelo: use --modelo «modelo», la "
                           "carpeta que lo contiene."),
    ("modelo/model.safetensors", "«modelo/model.safetensors» es un archivo, no la carpeta de un modelo: use --modelo "
                                 "«modelo», la carpeta que lo contiene."),
    ("/dev/null", "«/dev/null» es un dispositivo, no la carpeta de un modelo (la que contiene config.json) ni un "
                  "identificador de Hugging Face."),
])
def test_a_file_given_as_the_model_is_named_for_what_it_is_before_any_network(tiny_model_dir, tmp_path, given,
                                                                              sentence):
    # Taken for a hub id, modelo/config.json went to the network and blamed the connection; /dev/null was
    # «No existe la carpeta». The stand-in hub must hear nothing.
    if given.startswith("/dev/") and not os.path.exists(given):
        pytest.skip("no /dev/null here")
    shutil.copytree(tiny_model_dir, tmp_path / "modelo")
    with FakeHub(tiny_model_dir) as hub:
        done = subprocess.run([sys.executable, str(REPO / "script_modelo.py"), "--modelo", given, str(PHOTOS[0])],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env=hub.env(tmp_path / "hf-home"))
        assert hub.requests == []
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"Error: {sentence}\n")
    TRIED.add(f"--modelo que es un archivo ({given})")
