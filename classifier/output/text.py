"""Results as the terminal shows them: the path, then the top-k with three decimals; errors to stderr."""

from classifier.base.errors import display_path, printable


def format_predictions(predictions):
    """Aligned lines of rank, label and probability with exactly three decimals."""
    rank_width = len(str(len(predictions)))
    labels = [printable(str(p.label)) for p in predictions]  # a model's label reaches no terminal raw
    label_width = max(map(len, labels), default=0)
    return "\n".join(
        f"  {rank:>{rank_width}}  {label:<{label_width}}  {p.score:.3f}"
        for rank, (p, label) in enumerate(zip(predictions, labels, strict=True), start=1)
    )


def format_result(result):
    """What a terminal shows for one result: its path and top-k, or «Error: » and the sentence."""
    if result.error is not None:
        # printable: sentences name paths with display_path already; any other text is made safe here.
        return f"Error: {printable(result.error)}"
    return f"{display_path(result.path)}\n{format_predictions(result.predictions)}"


class TextWriter:
    """Path, then the top-k; errors go to stderr so stdout holds only results."""

    def __init__(self, out, err):
        self.out, self.err = out, err
        self._first = True

    def write(self, result):
        if result.error is not None:
            self.err.write(format_result(result) + "\n")
            self.err.flush()
            return
        if not self._first:
            self.out.write("\n")
        self._first = False
        self.out.write(format_result(result) + "\n")
        if result.map_file is not None:
            self.out.write(f"  mapa: {display_path(result.map_file)}\n")
        self.out.flush()
