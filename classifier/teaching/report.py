"""What a teaching found, in Spanish sentences: the classes, the cross-validated accuracy per class,
the pairs most often confused, and the warnings with what to do. Nothing here prints."""

import numpy as np

from classifier.base.spanish import percent

FEW_PHOTOS = 5
IMBALANCE = 3
LOW_ACCURACY = 0.70
CONFUSED_PAIRS = 3


def _photos(count):
    return f"{count} foto{'' if count == 1 else 's'}"


def classes_lines(names, counts):
    width = max(len(name) for name in names)
    lines = [f"Clases encontradas: {len(names)}."]
    lines += [f"  {name.ljust(width)}  {_photos(count)}" for name, count in zip(names, counts, strict=True)]
    return lines


def input_warnings(names, counts, duplicates):
    """Warnings about the photos themselves, before any fitting. duplicates: [(class a, class b, path a, path b)]."""
    lines = []
    for name, count in zip(names, counts, strict=True):
        if count < FEW_PHOTOS:
            lines.append(f"Aviso: la clase «{name}» tiene solo {_photos(count)}: añada al menos {FEW_PHOTOS} "
                         "(mejor 20 o más) para que el modelo la aprenda y la estimación sea fiable.")
    most, least = max(counts), min(counts)
    if least and most > IMBALANCE * least:
        big, small = names[counts.index(most)], names[counts.index(least)]
        lines.append(f"Aviso: las clases están desequilibradas: «{big}» tiene {_photos(most)} y «{small}» "
                     f"{_photos(least)} (más de {IMBALANCE} veces menos); el modelo tenderá a responder «{big}»: "
                     f"añada fotos de «{small}».")
    for first, second, first_path, second_path in duplicates:
        lines.append(f"Aviso: la misma foto está en «{first}» ({first_path}) y en «{second}» ({second_path}): "
                     "déjela solo en la clase que le corresponde.")
    return lines


def accuracy_lines(names, labels, held_out, folds):
    """The cross-validated accuracy, each class's, the most confused pairs, and the low-accuracy warning."""
    labels, held_out = np.asarray(labels), np.asarray(held_out)
    right = int((labels == held_out).sum())
    lines = [f"Precisión estimada (validación cruzada en {folds} partes, cada foto juzgada por un modelo que no la "
             f"vio): {percent(right / len(labels))} ({right} de {len(labels)} fotos)."]
    width = max(len(name) for name in names)
    weak = []
    for index, name in enumerate(names):
        members = labels == index
        hits, total = int((held_out[members] == index).sum()), int(members.sum())
        share = hits / total
        lines.append(f"  {name.ljust(width)}  {percent(share).rjust(7)}  ({hits} de {total})")
        if share < LOW_ACCURACY:
            weak.append(name)
    pairs = confused_pairs(labels, held_out, len(names))
    if pairs:
        lines.append("Las clases que más se confunden:")
        for first, second, count in pairs[:CONFUSED_PAIRS]:
            lines.append(f"  «{names[first]}» y «{names[second]}»: {_photos(count)}")
    if right / len(labels) < LOW_ACCURACY or weak:
        which = ", ".join(f"«{name}»" for name in (weak or names))
        lines.append(f"Aviso: la precisión es baja: añada fotos más variadas de {which} (otros fondos, luces, "
                     "ángulos y distancias).")
    return lines


def confused_pairs(labels, predicted, classes):
    """[(class a, class b, photos of either taken for the other)], most confused first; pairs with none left out."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    pairs = [(a, b, int(matrix[a, b] + matrix[b, a])) for a in range(classes) for b in range(a + 1, classes)]
    return sorted((pair for pair in pairs if pair[2]), key=lambda pair: (-pair[2], pair[0], pair[1]))
