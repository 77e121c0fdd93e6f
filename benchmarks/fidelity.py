"""The fast mode's fidelity gate: does a precision keep a trained model's answers?

    python -m benchmarks.fidelity [--model CARPETA]

For each precision (bfloat16, float16) and for the whole --rapido route as this
CPU chooses it, on the trained EfficientNet-Lite0 of the tests (tests/trained_model.py)
unless --model is given: top-1 agreement with the exact mode and the largest shift of
the exact mode's top-1 probability, over the photos in images/ and views of them
(mirrored, cropped, turned). The gate: at least 98 % agreement.
"""

import argparse
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GATE = 0.98


class Fidelity(NamedTuple):
    same_top1: int
    images: int
    max_shift: float  # largest |p_fast - p_exact| of the exact mode's top-1 class

    @property
    def agreement(self):
        return self.same_top1 / self.images

    @property
    def passes(self):
        return self.agreement >= GATE

    def sentence(self):
        return (f"top-1 igual en {self.same_top1} de {self.images} ({self.agreement:.1%}); "
                f"mayor cambio de la probabilidad top-1: {self.max_shift:.4f}").replace(".", ",")


def views(paths):
    """Each photo, mirrored, three crops and a quarter turn: different inputs, the same kind of content."""
    from PIL import Image

    pictures = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        width, height = image.size
        side = round(min(width, height) * 0.8)
        pictures += [
            image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), image.transpose(Image.Transpose.ROTATE_90),
            image.crop((0, 0, side, side)), image.crop((width - side, height - side, width, height)),
            image.crop(((width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2)),
        ]
    return pictures


def photos():
    return sorted((REPO / "images").glob("*.[jp][pn]g"))


def load(folder, precision):
    """A Classifier on the CPU in the given precision (None: the exact mode)."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from classifier.model import Classifier
    from classifier.model.precision import apply_precision

    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder, backend="pil")
    dtype = apply_precision(model, precision, torch.device("cpu"))
    return Classifier(model, processor, torch.device("cpu"), dtype, fast=precision is not None)


def compare(exact, fast, pictures):
    """Fidelity of fast against exact on the same pictures (the same pixels in: only the precision differs)."""
    pixels = torch.cat([exact.preprocess(picture) for picture in pictures])
    return fidelity(probabilities(exact, pixels), probabilities(fast, pixels))


def probabilities(classifier, pixels, batch=8):
    return torch.cat([classifier.probabilities(pixels[start:start + batch])
                      for start in range(0, len(pixels), batch)])


def fidelity(reference, candidate):
    """Fidelity of rows of candidate probabilities against the reference rows for the same pictures."""
    top = reference.argmax(dim=1)
    same = int((candidate.argmax(dim=1) == top).sum())
    rows = torch.arange(len(top))
    shift = float((candidate[rows, top] - reference[rows, top]).abs().max())
    return Fidelity(same, len(top), shift)


def compare_routes(exact, fast, paths):
    """Fidelity of whole runs: files through the engine, with the fast mode's reduced JPEG decoding."""
    from classifier.engine.classifying import Engine

    same, shift = 0, 0.0
    for path in paths:
        [reference] = Engine(exact, exact.num_labels).classify(str(path)).predictions[:1]
        scores = {p.id: p.score for p in Engine(fast, fast.num_labels).classify(str(path)).predictions}
        same += int(max(scores, key=scores.get) == reference.id)
        shift = max(shift, abs(scores[reference.id] - reference.score))
    return Fidelity(same, len(paths), shift)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="carpeta del modelo (por defecto: EfficientNet-Lite0 de las pruebas)")
    parser.add_argument("--precisiones", nargs="*", default=["bfloat16", "float16"],
                        help="precisiones que comparar con el modo exacto (por defecto: bfloat16 float16)")
    parser.add_argument("--jpeg", nargs="*", default=[], help="JPEG que recorrer también con el modo rápido entero")
    args = parser.parse_args()
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from classifier.model import Classifier
    from classifier.model.precision import cpu_features

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.model
        if folder is None:
            sys.path.insert(0, str(REPO / "tests"))
            from trained_model import build_trained_model

            folder = str(build_trained_model(Path(scratch) / "lite0"))
        pictures = views(photos())
        exact = load(folder, None)
        print(f"CPU: {', '.join(k for k, v in cpu_features().items() if v)}; {len(pictures)} imágenes "
              f"({len(photos())} fotos de images/ y 5 variantes de cada una)")
        for precision in args.precisiones:
            try:
                result = compare(exact, load(folder, precision), pictures)
            except RuntimeError as exc:
                print(f"{precision}: no disponible en esta CPU ({str(exc)[:80]})")
                continue
            print(f"{precision}: {result.sentence()}: {'pasa' if result.passes else 'NO pasa'} (≥ {GATE:.0%})")
        fast = Classifier.load(folder, device="cpu", fast=True)
        files = [*photos(), *map(Path, args.jpeg)]
        result = compare_routes(exact, fast, files)
        print(f"--rapido entero ({fast.precision.name}, con decodificación reducida de JPEG), {len(files)} archivos: "
              f"{result.sentence()}")


if __name__ == "__main__":
    main()
