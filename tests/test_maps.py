"""The maps: the attention rollout against an independent NumPy reading of the paper's formula,
Grad-CAM against CAM on convolutional models of five families, and a model with no map.

Whether the maps point at anything is tested on trained models in tests/test_pointing_game.py.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageClassification

from classifier.app.cli import main
from classifier.gui.drawing import MAP_FILE_BOX, display_copy, plan_layout
from classifier.maps import GRAD_CAM, ROLLOUT, Heatmap, MapUnavailable, class_token_maps, rollout
from conftest import PHOTOS
from fakes import FakeUI, Script


def numpy_rollout(attentions):
    """Abnar and Zuidema (2020): A_l = mean over heads, (A_l + I) with rows renormalised,
    rollout = A_L ... A_2 A_1. attentions: list of (heads, tokens, tokens) arrays."""
    tokens = attentions[0].shape[-1]
    flow = np.eye(tokens)
    for layer in attentions:
        mixed = layer.astype(np.float64).mean(axis=0) + np.eye(tokens)
        mixed /= mixed.sum(axis=1, keepdims=True)
        flow = mixed @ flow
    return flow


def _random_attentions(layers=3, batch=2, heads=3, tokens=25, seed=0):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(layers, batch, heads, tokens, tokens, generator=generator) * 2
    return list(scores.softmax(dim=-1))


def test_rollout_equals_the_numpy_formula_on_random_attention():
    attentions = _random_attentions()
    flow = rollout(attentions)
    for image in range(2):
        expected = numpy_rollout([a[image].numpy() for a in attentions])
        np.testing.assert_allclose(flow[image].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_rollout_rows_sum_to_one_and_the_map_has_the_patch_grid_shape():
    attentions = _random_attentions(tokens=1 + 4 * 6)
    flow = rollout(attentions)
    torch.testing.assert_close(flow.sum(dim=-1), torch.ones(2, 25))
    maps = class_token_maps(attentions, (4, 6))
    assert maps.shape == (2, 4, 6)
    assert (maps >= 0).all() and (maps.sum(dim=(1, 2)) <= 1 + 1e-6).all()
    torch.testing.assert_close(maps.reshape(2, -1), flow[:, 0, 1:])


@pytest.mark.parametrize("patch", [0, 5, 6, 17, 23])
def test_attention_forced_onto_one_patch_peaks_there(patch):
    rows, columns, tokens = 4, 6, 25
    attention = torch.full((1, 2, tokens, tokens), 0.1 / (tokens - 1))
    attention[..., 1 + patch] = 0.9  # every token, in every head, looks at this patch
    maps = class_token_maps([attention] * 3, (rows, columns))[0]
    assert divmod(int(maps.argmax()), columns) == divmod(patch, columns)
    assert maps.flatten()[patch] > 5 * np.delete(maps.flatten().numpy(), patch).max()


def test_a_distillation_token_is_skipped_and_odd_shapes_are_refused():
    attentions = _random_attentions(tokens=2 + 4 * 6)  # class and distillation tokens, as in DeiT
    flow = rollout(attentions)
    torch.testing.assert_close(class_token_maps(attentions, (4, 6)).reshape(2, -1), flow[:, 0, 2:])
    with pytest.raises(MapUnavailable):
        class_token_maps(_random_attentions(tokens=31), (4, 6))
    with pytest.raises(MapUnavailable):
        class_token_maps([], (4, 6))


def _pixels(classifier):
    return torch.cat([classifier.preprocess(Image.open(p).convert("RGB")) for p in PHOTOS[:3]])


def test_the_model_map_is_the_rollout_of_its_own_attention(tiny_classifier, tiny_model_dir):
    pixels = _pixels(tiny_classifier)
    probs, maps = tiny_classifier.probabilities_and_maps(pixels)
    assert [m.values.shape for m in maps] == [(4, 6)] * 3  # a 32 x 48 input in 8 x 8 patches: not only 14 x 14
    assert all(m.method is ROLLOUT for m in maps)
    reference = AutoModelForImageClassification.from_pretrained(tiny_model_dir, attn_implementation="eager").eval()
    with torch.inference_mode():
        attentions = reference(pixel_values=pixels, output_attentions=True).attentions
    for image in range(3):
        expected = numpy_rollout([a[image].numpy() for a in attentions])[0, 1:].reshape(4, 6)
        np.testing.assert_allclose(maps[image].values, expected, rtol=1e-4, atol=1e-6)


def test_maps_change_neither_the_scores_nor_the_default_attention(tiny_classifier):
    pixels = _pixels(tiny_classifier)
    assert tiny_classifier.model.config._attn_implementation == "sdpa"
    plain = tiny_classifier.probabilities(pixels)
    with_maps, _ = tiny_classifier.probabilities_and_maps(pixels)
    torch.testing.assert_close(with_maps, plain, rtol=0, atol=1e-5)  # the bar the pipeline tests set
    assert tiny_classifier.model.config._attn_implementation == "sdpa"


def test_the_drawn_figure_overlays_the_map_on_the_picture(tiny_classifier):
    from matplotlib.figure import Figure

    from classifier.gui.drawing import HEAT_COLORMAP, draw_result

    image = Image.open(PHOTOS[0]).convert("RGB")
    [(predictions, heatmap)] = tiny_classifier.classify_with_maps([image], 7)
    figure = Figure()
    draw_result(figure, image, predictions, heatmap, image)
    picture, overlay, legend, bars = figure.axes
    layers = overlay.get_images()
    assert len(layers) == 2 and layers[1].get_cmap().name == HEAT_COLORMAP
    shown = np.asarray(layers[1].get_array())
    assert shown.shape == (4, 6) and shown.max() == pytest.approx(1.0)
    assert int(shown.argmax()) == int(np.argmax(heatmap.values))
    assert overlay.get_title() == "Dónde se fijó el modelo\npor su atención (rollout)"
    assert [t.get_text() for t in legend.get_xticklabels()] == ["poca atención", "mucha atención"]
    assert len(bars.patches) == 7 and len(picture.get_images()) == 1


def test_batch_saves_one_map_per_image_named_after_it(capsys, tiny_model_dir, tmp_path):
    twin = tmp_path / "otra"
    twin.mkdir()
    Image.open(PHOTOS[0]).save(twin / PHOTOS[0].name)
    maps = tmp_path / "mapas"
    code = main(["--model", str(tiny_model_dir), "--format", "json", "--mapa", str(maps),
                 str(PHOTOS[0]), str(PHOTOS[1]), str(twin / PHOTOS[0].name)])
    out = capsys.readouterr().out
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    stem0, stem1 = PHOTOS[0].stem, PHOTOS[1].stem
    assert [r["map"] for r in records] == [str(maps / f"{stem0}_mapa.png"), str(maps / f"{stem1}_mapa.png"),
                                           str(maps / f"{stem0}_mapa_2.png")]
    for record in records:
        saved = Image.open(record["map"])
        picture = display_copy(Image.open(record["path"]).convert("RGB")).size
        layout = plan_layout(picture, picture, True, 7, MAP_FILE_BOX)  # the tiny ViT sees the whole picture
        assert saved.format == "PNG" and saved.size == (layout.width, layout.height)
        assert np.asarray(saved.convert("L"), dtype=float).std() > 30


def test_text_output_says_where_the_map_went(capsys, tiny_model_dir, tmp_path):
    code = main(["--model", str(tiny_model_dir), "--mapa", str(tmp_path), str(PHOTOS[0])])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[-1] == f"  mapa: {tmp_path / (PHOTOS[0].stem + '_mapa.png')}"


def test_a_map_folder_that_cannot_be_made_is_a_usage_error(capsys, tiny_model_dir, tmp_path):
    blocker = tmp_path / "archivo"
    blocker.write_text("no soy una carpeta")
    code = main(["--model", str(tiny_model_dir), "--mapa", str(blocker / "mapas"), str(PHOTOS[0])])
    err = capsys.readouterr().err
    assert code == 2 and "No se puede crear la carpeta de mapas" in err


def test_the_map_is_drawn_over_the_region_a_cropping_processor_keeps(tiny_classifier):
    """A processor that resizes the short side and crops the centre (as DeiT's does) sees less
    than the whole picture: the overlay must cover exactly that part."""
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    from classifier.model import Classifier

    processor = ViTImageProcessorPil(size={"shortest_edge": 64}, do_center_crop=True,
                                     crop_size={"height": 32, "width": 48})
    cropping = Classifier(tiny_classifier.model, processor, tiny_classifier.device, tiny_classifier.dtype)
    picture = Image.fromarray(np.random.default_rng(5).integers(0, 256, (200, 400, 3), dtype=np.uint8))
    seen = cropping.seen_region(picture)
    # Independently: 400 x 200 -> short side 64 (scale 0.32) -> 128 x 64 -> centre 48 x 32,
    # i.e. 150 x 100 pixels of the original, centred.
    assert seen.size == (150, 100)
    np.testing.assert_array_equal(np.asarray(seen), np.asarray(picture)[50:150, 125:275])
    # And the model input is that region, up to resampling noise.
    direct = processor(images=seen.resize((48, 32), Image.Resampling.BILINEAR), do_resize=False,
                       do_center_crop=False, return_tensors="pt")["pixel_values"]
    assert (cropping.preprocess(picture) - direct).abs().mean() < 0.15
    assert tiny_classifier.seen_region(picture) is picture  # the tiny model's processor keeps it all


# Tiny convolutional classifiers of five families, as transformers builds them from a config.
LABELS = {0: "perro", 1: "gato", 2: "pez"}


def _efficientnet():
    from transformers import EfficientNetConfig, EfficientNetForImageClassification

    return EfficientNetForImageClassification(EfficientNetConfig(
        width_coefficient=0.1, depth_coefficient=0.1, hidden_dim=128, image_size=64, id2label=LABELS))


def _resnet():
    from transformers import ResNetConfig, ResNetForImageClassification

    return ResNetForImageClassification(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                                     id2label=LABELS))


def _regnet():
    from transformers import RegNetConfig, RegNetForImageClassification

    return RegNetForImageClassification(RegNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                                     groups_width=8, id2label=LABELS))


def _mobilenet_v2():
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    return MobileNetV2ForImageClassification(MobileNetV2Config(depth_multiplier=0.25, image_size=64,
                                                               id2label=LABELS))


def _convnext():
    from transformers import ConvNextConfig, ConvNextForImageClassification

    return ConvNextForImageClassification(ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2,
                                                         id2label=LABELS))


def _swin():
    from transformers import SwinConfig, SwinForImageClassification

    return SwinForImageClassification(SwinConfig(image_size=64, embed_dim=8, depths=[1, 1], num_heads=[1, 1],
                                                 window_size=4, id2label=LABELS))


CONVOLUTIONAL = {"efficientnet": _efficientnet, "resnet": _resnet, "regnet": _regnet, "mobilenet_v2": _mobilenet_v2,
                 "convnext": _convnext}


def _save(build, folder, seed=0):
    """A random model of this family and a 64 x 64 PIL processor, saved as the program loads them."""
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    torch.manual_seed(seed)
    build().save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


def _linear_head(model):
    return [m for m in model.classifier.modules() if isinstance(m, torch.nn.Linear)][-1]


@pytest.mark.parametrize("family", ["efficientnet", "resnet", "regnet", "mobilenet_v2"])
def test_grad_cam_is_the_class_activation_map_where_the_head_is_linear(family, tmp_path):
    """With global average pooling and one linear layer after the last feature map A, the
    top class's gradient is W[c] / (h w) everywhere, so Grad-CAM = ReLU(sum_k W[c, k] A_k) / (h w):
    the CAM of Zhou et al. (2016), computed here from the weights, without autograd."""
    from classifier.model import Classifier

    classifier = Classifier.load(str(_save(CONVOLUTIONAL[family], tmp_path)), device="cpu")
    pixels = _pixels(classifier)
    probs, maps = classifier.probabilities_and_maps(pixels)
    assert classifier.map_method is GRAD_CAM and all(m.method is GRAD_CAM for m in maps)
    reference = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    with torch.inference_mode():
        features = reference.base_model(pixel_values=pixels).last_hidden_state.numpy().astype(np.float64)
        logits = reference(pixel_values=pixels).logits
    weight = _linear_head(reference).weight.detach().numpy().astype(np.float64)
    for image, top in enumerate(logits.argmax(-1).tolist()):
        cam = np.maximum(np.einsum("k,khw->hw", weight[top], features[image]), 0) / np.prod(features.shape[2:])
        assert maps[image].values.shape == features.shape[2:]
        np.testing.assert_allclose(maps[image].values, cam, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(probs, classifier.probabilities(pixels), rtol=0, atol=1e-5)


def test_grad_cam_of_convnext_peaks_where_the_features_push_the_class(tmp_path):
    """ConvNeXt normalises after pooling, so its gradient is not the weights: plant one bright spot
    in an otherwise flat picture and follow Grad-CAM's definition with autograd on the plain model."""
    from classifier.model import Classifier

    classifier = Classifier.load(str(_save(_convnext, tmp_path, seed=3)), device="cpu")
    pixels = _pixels(classifier)
    _, maps = classifier.probabilities_and_maps(pixels)
    reference = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    features = reference.base_model(pixel_values=pixels).last_hidden_state
    logits = reference.classifier(reference.base_model.layernorm(features.mean((-2, -1))))
    for image in range(len(pixels)):
        [gradient] = torch.autograd.grad(logits[image].max(), features, retain_graph=True)
        alpha = gradient[image].mean((1, 2))
        expected = torch.relu((alpha[:, None, None] * features[image]).sum(0)).detach().numpy()
        np.testing.assert_allclose(maps[image].values, expected, rtol=1e-4, atol=1e-6)


def test_packed_layers_give_the_same_gradients_as_plain_ones(trained_model_dir):
    """The CPU speed-up packs linear layers into a kernel with no backward; a map with gradients
    goes through the plain weight read back from it. Same map as a model never packed."""
    from classifier.model import Classifier

    packed = Classifier.load(str(trained_model_dir), device="cpu")
    plain = Classifier.load(str(trained_model_dir), device="cpu", pack=False)
    assert type(packed.model.classifier).__name__ == "PackedLinear"
    pixels = torch.cat([packed.preprocess(Image.open(p).convert("RGB")) for p in PHOTOS[:2]])
    [a, b], [c, d] = packed.probabilities_and_maps(pixels)[1], plain.probabilities_and_maps(pixels)[1]
    for one, other in ((a, c), (b, d)):
        np.testing.assert_allclose(one.values, other.values, rtol=1e-4, atol=1e-6)
        assert one.values.shape == (7, 7) and one.values.max() > 0


def test_maps_need_gradients_only_when_asked_and_leave_no_trace(tiny_classifier, trained_model_dir):
    from classifier.model import Classifier

    classifier = Classifier.load(str(trained_model_dir), device="cpu")
    pixels = classifier.preprocess(Image.open(PHOTOS[0]).convert("RGB"))
    assert classifier.probabilities(pixels).is_inference()  # no graph, no gradients: inference mode
    before = {name: p.detach().clone() for name, p in classifier.model.named_parameters()}
    classifier.probabilities_and_maps(pixels)
    for name, parameter in classifier.model.named_parameters():
        assert parameter.grad is None and torch.equal(parameter, before[name]), name
    assert not classifier.model.training
    # The rollout needs no gradient at all.
    assert tiny_classifier.probabilities_and_maps(_pixels(tiny_classifier))[0].is_inference()


def test_a_model_with_no_map_is_classified_all_the_same(capsys, tmp_path):
    """Swin's attention is windowed (no class token over a patch grid) and its backbone ends in
    tokens, not a feature map: no map. --mapa says so once, writes nothing, and the batch goes on."""
    from classifier.app.batch import NO_MAP_SENTENCE
    from classifier.app.desktop import BackgroundLoader, desktop_loop
    from classifier.model import Classifier

    model = _save(_swin, tmp_path / "swin")
    maps = tmp_path / "mapas" / "dentro"
    broken = tmp_path / "roto.jpg"
    broken.write_bytes(b"no es una foto")
    code = main(["--model", str(model), "--format", "json", "--mapa", str(maps), "--lote", "1",
                 str(PHOTOS[0]), str(broken), str(PHOTOS[1]), str(PHOTOS[2])])
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1  # the broken file; the three photos are classified
    assert [("error" in r, "map" in r) for r in records] == [(False, False), (True, False), (False, False),
                                                             (False, False)]
    assert captured.err.count(NO_MAP_SENTENCE) == 1 and "Traceback" not in captured.err
    assert not (tmp_path / "mapas").exists()  # neither the folder nor its parent, both made for the maps

    classifier = Classifier.load(str(model), device="cpu")
    ui, script = FakeUI([str(PHOTOS[0])]), Script(["n"])
    loader = BackgroundLoader(lambda: classifier, script.say).start()
    assert desktop_loop(ui, loader, 3, script.say, script.ask) == 0
    [result] = ui.shown
    assert result.heatmap is None and len(result.predictions) == 3


def test_an_existing_map_folder_stays_when_the_model_has_no_map(capsys, tmp_path):
    from classifier.app.batch import NO_MAP_SENTENCE

    model = _save(_swin, tmp_path / "swin")
    maps = tmp_path / "mapas"
    maps.mkdir()
    assert main(["--model", str(model), "--mapa", str(maps), str(PHOTOS[0])]) == 0
    assert NO_MAP_SENTENCE in capsys.readouterr().err
    assert maps.is_dir() and not list(maps.iterdir())


def test_the_trained_efficientnet_saves_a_grad_cam_map_named_in_its_legend(capsys, trained_model_dir, tmp_path):
    from matplotlib.figure import Figure

    from classifier.gui.drawing import draw_result

    maps = tmp_path / "mapas"
    code = main(["--model", str(trained_model_dir), "--format", "json", "--mapa", str(maps), str(PHOTOS[0]),
                 str(PHOTOS[1])])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and [Path(r["map"]).parent for r in records] == [maps, maps]
    for record in records:
        assert Image.open(record["map"]).format == "PNG"

    from classifier.model import Classifier

    classifier = Classifier.load(str(trained_model_dir), device="cpu")
    image = Image.open(PHOTOS[1]).convert("RGB")
    [(predictions, heatmap)] = classifier.classify_with_maps([image], 7)
    figure = Figure()
    draw_result(figure, image, predictions, heatmap, classifier.seen_region(image), box=(1500, 800))
    _, overlay, legend, _ = figure.axes
    assert overlay.get_title() == "Dónde se fijó el modelo\npor gradientes (Grad-CAM)"
    assert [t.get_text() for t in legend.get_xticklabels()] == ["poco peso", "mucho peso"]
    figure = Figure()
    draw_result(figure, image, predictions, heatmap, classifier.seen_region(image), box=(280, 1200))
    _, overlay, legend, _ = figure.axes
    # A narrow panel keeps both ends whole (issue 26.12: it read «poco peso mucho»; test_desktop_loop
    # checks they fit on every screen).
    assert [t.get_text() for t in legend.get_xticklabels()] == ["poco peso", "mucho peso"]
    first, second = overlay.get_title().split("\n")
    assert first in ("Dónde se fijó el modelo", "Dónde se fijó") and second in (GRAD_CAM.name, "Grad-CAM")


def test_a_bare_array_is_drawn_without_a_method_line():
    from matplotlib.figure import Figure

    from classifier.gui.drawing import draw_result
    from classifier.model import Prediction

    figure = Figure()
    picture = Image.new("RGB", (60, 40), "white")
    draw_result(figure, picture, [Prediction("x", 1.0, 0)], Heatmap(np.eye(4), GRAD_CAM).values)
    assert figure.axes[1].get_title() == "Dónde se fijó el modelo"


def test_a_map_folder_made_for_a_model_that_does_not_load_goes_again(capsys, tmp_path):
    maps = tmp_path / "mapas" / "hoy"
    code = main(["--model", str(tmp_path / "no-existe"), "--mapa", str(maps), str(PHOTOS[0])])
    assert code == 2 and "No existe la carpeta del modelo" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
