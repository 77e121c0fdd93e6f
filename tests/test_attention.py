"""Attention rollout against an independent NumPy reading of the paper's formula."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageClassification

from classifier.attention import MapUnavailable, class_token_maps, rollout
from classifier.cli import main
from classifier.drawing import MAP_FILE_BOX, display_copy, plan_layout
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
    assert maps.shape == (3, 4, 6)  # a 32 x 48 input in 8 x 8 patches: not only 14 x 14
    reference = AutoModelForImageClassification.from_pretrained(tiny_model_dir, attn_implementation="eager").eval()
    with torch.inference_mode():
        attentions = reference(pixel_values=pixels, output_attentions=True).attentions
    for image in range(3):
        expected = numpy_rollout([a[image].numpy() for a in attentions])[0, 1:].reshape(4, 6)
        np.testing.assert_allclose(maps[image], expected, rtol=1e-4, atol=1e-6)


def test_maps_change_neither_the_scores_nor_the_default_attention(tiny_classifier):
    pixels = _pixels(tiny_classifier)
    assert tiny_classifier.model.config._attn_implementation == "sdpa"
    plain = tiny_classifier.probabilities(pixels)
    with_maps, _ = tiny_classifier.probabilities_and_maps(pixels)
    torch.testing.assert_close(with_maps, plain, rtol=0, atol=1e-5)  # the bar the pipeline tests set
    assert tiny_classifier.model.config._attn_implementation == "sdpa"


def test_the_drawn_figure_overlays_the_map_on_the_picture(tiny_classifier):
    from matplotlib.figure import Figure

    from classifier.drawing import HEAT_COLORMAP, draw_result

    image = Image.open(PHOTOS[0]).convert("RGB")
    [(predictions, heatmap)] = tiny_classifier.classify_with_maps([image], 7)
    figure = Figure()
    draw_result(figure, image, predictions, heatmap, image)
    picture, overlay, legend, bars = figure.axes
    layers = overlay.get_images()
    assert len(layers) == 2 and layers[1].get_cmap().name == HEAT_COLORMAP
    shown = np.asarray(layers[1].get_array())
    assert shown.shape == (4, 6) and shown.max() == pytest.approx(1.0)
    assert int(shown.argmax()) == int(np.argmax(heatmap))
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
    assert out.splitlines()[-1] == f"  mapa de atención: {tmp_path / (PHOTOS[0].stem + '_mapa.png')}"


def test_a_map_folder_that_cannot_be_made_is_a_usage_error(capsys, tiny_model_dir, tmp_path):
    blocker = tmp_path / "archivo"
    blocker.write_text("no soy una carpeta")
    code = main(["--model", str(tiny_model_dir), "--mapa", str(blocker / "mapas"), str(PHOTOS[0])])
    err = capsys.readouterr().err
    assert code == 2 and "No se puede crear la carpeta de mapas" in err


def test_a_model_without_attention_says_so_and_the_desktop_goes_on_without_a_map(capsys, tmp_path):
    from transformers import ConvNextConfig, ConvNextForImageClassification
    from transformers.models.convnext.image_processing_pil_convnext import ConvNextImageProcessorPil

    from classifier.desktop import BackgroundLoader, desktop_loop
    from classifier.model import Classifier

    labels = {0: "perro", 1: "gato", 2: "pez"}
    config = ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, id2label=labels,
                            label2id={v: k for k, v in labels.items()})
    ConvNextForImageClassification(config).save_pretrained(tmp_path)
    ConvNextImageProcessorPil(size={"shortest_edge": 32}).save_pretrained(tmp_path)
    capsys.readouterr()

    code = main(["--model", str(tmp_path), "--mapa", str(tmp_path / "mapas"), str(PHOTOS[0])])
    err = capsys.readouterr().err
    assert code == 2 and "no se puede calcular el mapa" in err and "Traceback" not in err

    classifier = Classifier.load(str(tmp_path), device="cpu")
    ui, script = FakeUI([str(PHOTOS[0])]), Script(["n"])
    loader = BackgroundLoader(lambda: classifier, script.say).start()
    assert desktop_loop(ui, loader, 3, script.say, script.ask) == 0
    [result] = ui.shown
    assert result.heatmap is None and len(result.predictions) == 3


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
