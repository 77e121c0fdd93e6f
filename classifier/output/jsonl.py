"""One JSON object per result, on one line: for stdout (--json) and the --guardar log alike."""

import json


class JsonLinesWriter:
    """One JSON object per input, errors included, with full-precision scores.

    Paths are exact: a byte that is not UTF-8 comes out as the JSON escape of the
    character Python holds for it (b"\\xff" -> "\\udcff"), so os.fsencode(json.loads(
    line)["path"]) gives back the name's bytes. Other invisible characters are escaped
    too: the file is valid UTF-8 and shows nothing raw on a terminal.
    """

    def __init__(self, out, err):
        self.out = out

    def write(self, result):
        # One write per line: an interrupted run leaves only whole lines behind.
        self.out.write(json_record(result) + "\n")
        self.out.flush()


def json_record(result, with_map=True):
    """One result's JSON line: its path and its predictions (and --mapa's file, unless with_map is
    False: the log keeps no maps), or its path and its error."""
    if result.error is not None:
        record = {"path": result.path, "error": result.error}
    else:
        record = {"path": result.path, "predictions": [
            {"id": int(p.id), "label": p.label, "score": float(p.score)} for p in result.predictions]}
        if with_map and result.map_file is not None:
            record["map"] = result.map_file
    return json_line(record)


def json_line(record):
    """One JSON object on one line: exact names (lone surrogates escaped), nothing invisible written raw."""
    # NaN is not JSON: a score that is not a number is a bug upstream, never a line.
    line = json.dumps(record, ensure_ascii=False, allow_nan=False)  # escapes U+0000..U+001F, leaves the rest
    if line.isprintable():
        return line
    # Outside strings json.dumps writes only printable ASCII: every other character is in a string.
    return "".join(c if c.isprintable() else _json_escape(c) for c in line)


def _json_escape(c):
    units = c.encode("utf-16-be", "surrogatepass")  # a pair of \\u escapes above U+FFFF
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2))
