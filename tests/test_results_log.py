"""The --guardar log: each file checked by an independent reader (csv.reader, json.loads) and byte for byte."""

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from classifier.output import Result, path_from_csv
from classifier.results_log import ResultsLog, ResultsLogError, log_file
from conftest import LINE, PHOTOS, REPO, without_screen


class P(NamedTuple):
    label: str
    score: float
    id: int


RAW_NAME = os.fsdecode(b"raw\xffbyte.jpg")  # a Latin-1 file name on a UTF-8 system
TRICKY_NAMES = [
    "a,b.jpg", 'di "hola".jpg', "cr\ronly.jpg", "nl\nname.jpg", "crlf\r\nname.jpg", "niño ñandú.jpg",
    RAW_NAME, "=1+2.jpg", "semi;colon.jpg", " space .jpg", "'=1+2.jpg", "'apóstrofo.jpg", "''dos.jpg",
]
# repr "1e-05" has no point at all; 1/3 and 0.1 need all 17 digits to come back.
SCORES = [1 / 3, 0.1, 1e-05, 2.5e-08, 0.123456789012345678, 1.0]
LABELS = ["tabby, tabby cat", 'say "cheese"', "grey whale; Eschrichtius", "niño", "x\ny", "café"]
ERROR = "No se puede clasificar «roto.jpg»: el archivo está vacío (0 bytes)."
TOP_K = 3
FOLDER = "/fotos"  # the log records absolute paths: these are, and none of their parts is "." or ".."


def at(name):
    return f"{FOLDER}/{name}"
FLAVOURS = [("r.csv", False), ("r.csv", True), ("r.jsonl", False)]
FLAVOUR_IDS = ["csv", "csv-es", "jsonl"]


def predictions(seed, k=TOP_K):
    return [P(LABELS[(seed + i) % len(LABELS)], SCORES[(seed + i) % len(SCORES)], 100 * seed + i) for i in range(k)]


def sample_results():
    results = [Result(at(name), predictions(i)) for i, name in enumerate(TRICKY_NAMES)]
    results.append(Result(at("dos.jpg"), predictions(3, k=2)))  # fewer than top_k: empty cells
    results.append(Result(at("roto.jpg"), error=ERROR))
    return results


def write_log(path, results, spreadsheet=False, top_k=TOP_K):
    with ResultsLog.open(path, top_k, spreadsheet=spreadsheet) as log:
        for result in results:
            log.write(result)


# --- independent readers ----------------------------------------------------------------------


def read_csv(path, spreadsheet):
    encoding = "utf-8-sig" if spreadsheet else "utf-8"
    with open(path, newline="", encoding=encoding, errors="surrogateescape") as f:
        return list(csv.reader(f, delimiter=";" if spreadsheet else ","))


def read_json_lines(path):
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.decode("utf-8").split("\n")[:-1]]


def read_paths(path, spreadsheet=False):
    if path.suffix == ".jsonl":
        return [record["path"] for record in read_json_lines(path)]
    return [row[0] for row in read_csv(path, spreadsheet)[1:]]


def expected_header(top_k=TOP_K, spreadsheet=False):
    names = ("ruta", "clase", "probabilidad") if spreadsheet else ("path", "label", "score")
    return [names[0], "error"] + [f"{n}_{r}" for r in range(1, top_k + 1) for n in ("id", *names[1:])]


def as_written(cell, spreadsheet):
    """A spreadsheet would run a cell starting like a formula: that flavour writes it behind an apostrophe,
    as it does a cell that starts with one (else the two could not be told apart)."""
    return f"'{cell}" if spreadsheet and cell.startswith(("=", "+", "-", "@", "\t", "\r", "'")) else cell


def _undefused(cell, spreadsheet):
    return cell[1:] if spreadsheet and cell.startswith("'") else cell


def check_csv(path, results, spreadsheet):
    rows = read_csv(path, spreadsheet)
    assert rows[0] == expected_header(spreadsheet=spreadsheet)
    assert len(rows) == len(results) + 1
    for row, result in zip(rows[1:], results, strict=True):
        assert len(row) == 2 + 3 * TOP_K
        assert row[0] == as_written(result.path, spreadsheet)
        if result.error is not None:
            assert row[1:] == [result.error] + [""] * (3 * TOP_K)
            continue
        assert row[1] == ""
        cells = row[2:]
        for i, p in enumerate(result.predictions):
            id_cell, label, score = cells[3 * i:3 * i + 3]
            assert (int(id_cell), path_from_csv(_undefused(label, spreadsheet))) == (p.id, p.label)
            if spreadsheet:
                assert "." not in score
                assert float(score.replace(",", ".")) == p.score
            else:
                assert score == repr(p.score)
        assert cells[3 * len(result.predictions):] == [""] * (3 * (TOP_K - len(result.predictions)))


# --- round trip -------------------------------------------------------------------------------


def test_csv_round_trip(tmp_path):
    path, results = tmp_path / "r.csv", sample_results()
    write_log(path, results)
    check_csv(path, results, spreadsheet=False)
    data = path.read_bytes()
    assert data.startswith(b"path,error,id_1,label_1,score_1,id_2,label_2,score_2,id_3,label_3,score_3\n")
    assert b"\r\n" not in data.replace(b'"/fotos/crlf\r\nname.jpg"', b"")
    assert b'"/fotos/cr\ronly.jpg"' in data  # a lone "\r" is quoted too, or readers would end the row there
    assert b"raw\xffbyte.jpg" in data  # the file name's own bytes, not a replacement character
    assert os.fsencode(read_paths(path)[TRICKY_NAMES.index(RAW_NAME)]) == b"/fotos/raw\xffbyte.jpg"
    assert b"\n/fotos/=1+2.jpg," in data


def test_spreadsheet_round_trip(tmp_path):
    path, results = tmp_path / "r.csv", sample_results()
    write_log(path, results, spreadsheet=True)
    check_csv(path, results, spreadsheet=True)
    data = path.read_bytes()
    # Read by a person in a Spanish spreadsheet: the column names in Spanish too (a new user's trial).
    assert data.startswith("\ufeffruta;error;id_1;clase_1;probabilidad_1;id_2;".encode())
    assert data.endswith(b"\r\n")
    assert data.count(b"\r\n") == len(results) + 1 + 1  # every row, and the "crlf" name
    assert b";0,3333333333333333;" in data and b";1e-05;" in data and b";2,5e-08;" in data
    assert b'"/fotos/cr\ronly.jpg"' in data and b'"/fotos/semi;colon.jpg"' in data
    assert b"raw\xffbyte.jpg" in data


def test_json_lines_round_trip(tmp_path):
    path, results = tmp_path / "r.jsonl", sample_results()
    write_log(path, results)
    records = read_json_lines(path)
    assert len(records) == len(results)
    for record, result in zip(records, results, strict=True):
        if result.error is not None:
            assert record == {"path": result.path, "error": result.error}
        else:
            assert record == {"path": result.path, "predictions": [
                {"id": p.id, "label": p.label, "score": p.score} for p in result.predictions]}
    raw_line = path.read_bytes().split(b"\n")[TRICKY_NAMES.index(RAW_NAME)]
    assert b"\\udcff" in raw_line
    assert os.fsencode(records[TRICKY_NAMES.index(RAW_NAME)]["path"]) == b"/fotos/raw\xffbyte.jpg"
    assert "niño ñandú.jpg".encode() in path.read_bytes()  # readable where nothing forces escapes


@pytest.mark.parametrize("extension", [".json", ".ndjson", ".JSONL"])
def test_other_json_lines_extensions(tmp_path, extension):
    path = tmp_path / f"r{extension}"
    write_log(path, [Result(at("a.jpg"), predictions(0))])
    assert json.loads(path.read_text())["path"] == at("a.jpg")


def test_upper_case_csv_extension(tmp_path):
    path = tmp_path / "R.CSV"
    write_log(path, [Result(at("a.jpg"), predictions(0))])
    assert read_csv(path, False)[1][0] == at("a.jpg")


def test_more_predictions_than_top_k_is_a_bug(tmp_path):
    with ResultsLog.open(tmp_path / "r.csv", 2) as log, pytest.raises(ValueError):
        log.write(Result("a.jpg", predictions(0, k=3)))


# --- resume -----------------------------------------------------------------------------------


def snapshots(path, results, spreadsheet):
    """The file's bytes after opening and after each write (read while the log is still open)."""
    with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
        states = [path.read_bytes()]
        for result in results:
            log.write(result)
            states.append(path.read_bytes())
    return states


# The fourth record is cut everywhere: inside the quoted name right after its "\n", in a
# label, in a score, between "\r" and "\n"; the JSON one also inside a "\udcff" escape. Its
# last score is a float32 probability, as the program's are: each cut in it leaves a shorter number.
RESUME_RESULTS = [Result(at("uno.jpg"), predictions(0)), Result(at("a,b.jpg"), predictions(1)),
                  Result(at("roto.jpg"), error=ERROR)]
FLOAT32_SCORE = 0.0704585388302803  # a score the program printed (ViT, float32)
FOURTH = Result(at(f"nl\n{RAW_NAME}\r\"x\".jpg"), predictions(2)[:-1] + [P("x\ny", FLOAT32_SCORE, 202)])
FIFTH = Result(at("cinco.jpg"), predictions(3))


def three_records_then(path, spreadsheet, tail):
    """A log of RESUME_RESULTS as the program writes it, then tail; (path, the log's bytes before tail)."""
    three = snapshots(path, RESUME_RESULTS, spreadsheet)[-1]
    path.write_bytes(three + tail)
    return path, three


@pytest.mark.parametrize(("name", "spreadsheet"), FLAVOURS, ids=FLAVOUR_IDS)
def test_resume_after_every_possible_cut(tmp_path, name, spreadsheet):
    path = tmp_path / name
    states = snapshots(path, RESUME_RESULTS + [FOURTH, FIFTH], spreadsheet)
    three, four, five = states[3:6]
    fourth = four[len(three):]
    assert fourth.endswith(f"{FLOAT32_SCORE}".replace(".", "," if spreadsheet else ".").encode()
                           + (b"}]}\n" if name.endswith(".jsonl") else b"\r\n" if spreadsheet else b"\n"))
    if name.endswith(".jsonl"):
        assert b"\\udcff" in fourth
    else:
        assert b"\n" in fourth[:-1]  # the name's newline, inside a quoted field
    paths = [r.path for r in RESUME_RESULTS]
    # From this cut on the record proves itself whole: JSON's closing brace, --csv-es's "\r". A CSV row
    # that ends in its score never does ("0.07" of "0.0704…" is a number too): it is torn, and redone.
    whole = len(fourth) - 1 if name.endswith(".jsonl") or spreadsheet else len(fourth)
    for cut in range(1, len(fourth)):
        path.write_bytes(three + fourth[:cut])
        if fourth[:cut].endswith(b"\n"):  # right after the name's newline: a complete line, never deleted
            refused(path, spreadsheet=spreadsheet)
            continue
        with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
            if cut >= whole:  # a whole record: kept as it is, its newline written before the next record
                assert log.recorded == set(paths + [FOURTH.path]), cut
                assert path.read_bytes() == three + fourth[:cut], cut
                log.write(FOURTH)  # already recorded: not again
                log.write(FIFTH)
                assert path.read_bytes() == five, cut
                continue
            assert log.recorded == set(paths), cut
            assert path.read_bytes() == three, cut
            log.write(FOURTH)
            assert FOURTH.path in log.recorded
        assert path.read_bytes() == four, cut
        assert sorted(read_paths(path, spreadsheet)) == sorted(paths + [FOURTH.path])


@pytest.mark.parametrize(("name", "spreadsheet"), FLAVOURS, ids=FLAVOUR_IDS)
def test_resume_after_a_power_cut_left_zeros(tmp_path, name, spreadsheet):
    """A power cut can leave NUL bytes at the end of the file where the last bytes written never reached
    the disk: after the last record, or after the start of a record cut anywhere. The zeros go, and the
    rest is handled as the same file without them is (test_resume_after_every_possible_cut)."""
    path, reference = tmp_path / name, tmp_path / f"sin_ceros{path_suffix(name)}"
    states = snapshots(path, RESUME_RESULTS + [FOURTH], spreadsheet)
    three, four = states[3:5]
    fourth = four[len(three):]
    for cut in range(len(fourth) + 1):
        for zeros in (1, 700, 5000):
            reference.write_bytes(three + fourth[:cut])
            path.write_bytes(three + fourth[:cut] + b"\0" * zeros)
            try:
                with ResultsLog.open(reference, TOP_K, spreadsheet=spreadsheet) as log:
                    expected = log.recorded, reference.read_bytes()
            except ResultsLogError:  # right after the name's newline: a complete line, never deleted
                assert fourth[:cut].endswith(b"\n"), cut
                refused(path, spreadsheet=spreadsheet)
                continue
            with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
                assert (log.recorded, path.read_bytes()) == expected, (cut, zeros)
                log.write(FIFTH)
            assert read_paths(path, spreadsheet)[-1] == FIFTH.path, cut


def path_suffix(name):
    return os.path.splitext(name)[1]


# Complete lines after the last record, each with a NUL: notes a person wrote (one pasted with a NUL,
# one appended by Windows PowerShell 5, whose >> writes UTF-16), or lines a power cut left half zeroed.
NUL_LINES = [
    b"nota: rojo.png es un tomate\nrevisado\0 el lunes por Ana\n",
    "nota: rojo.png es un tomate\r\nrevisado el lunes por Ana\r\n".encode("utf-16-le"),
    b"\0" * 100 + b"\n",
    b"\0" * 5000 + b"\n\0\0",
    b"\0" * 300 + b'.5}]}\n{"path": "/fotos/x',
    b"\0" * 300 + b"\n/fotos/cinco.jpg,,1",
    b"\0" * 40 + b"nota\n",
]


@pytest.mark.parametrize("tail", NUL_LINES, ids=["nota", "powershell", "ceros-nl", "ceros-nl-ceros", "json",
                                                 "csv", "ceros-nota"])
@pytest.mark.parametrize(("name", "spreadsheet"), FLAVOURS, ids=FLAVOUR_IDS)
def test_complete_lines_with_zero_bytes_are_refused(tmp_path, name, spreadsheet, tail):
    """A complete line is never deleted, whatever it holds: the file is refused as it is."""
    path, three = three_records_then(tmp_path / name, spreadsheet, tail)
    first_after = three.count(b"\n") + 1  # the first line after the records
    assert refused(path, spreadsheet=spreadsheet) == (
        f"«{path}» no es un archivo de resultados de este programa: la línea {first_after} no es un resultado; "
        "elija otro archivo (este no se modificará).")


@pytest.mark.parametrize("spreadsheet", [False, True], ids=["csv", "csv-es"])
def test_resume_drops_a_last_row_cut_short(tmp_path, spreadsheet):
    path, three = three_records_then(tmp_path / "r.csv", spreadsheet,
                                     b"/fotos/mitad.jpg;;7;gato" if spreadsheet else b"/fotos/mitad.jpg,,7,gato")
    with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
        assert log.recorded == {r.path for r in RESUME_RESULTS}
    assert path.read_bytes() == three


@pytest.mark.parametrize(("name", "spreadsheet"), FLAVOURS, ids=FLAVOUR_IDS)
def test_a_file_cut_while_being_created_starts_again(tmp_path, name, spreadsheet):
    path = tmp_path / name
    header = snapshots(path, [], spreadsheet)[0]
    for cut in range(len(header)):
        path.write_bytes(header[:cut])
        with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
            assert log.recorded == set()
        assert path.read_bytes() == header


def test_json_lines_first_record_cut(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"path": "/fotos/a.jpg", "predic')
    with ResultsLog.open(path, TOP_K) as log:
        assert log.recorded == set()
    assert path.read_bytes() == b""


def test_rerun_classifies_only_what_is_missing(tmp_path):
    """What the front-end will do: skip `recorded`, write the rest; every input once at the end."""
    path = tmp_path / "r.csv"
    inputs = [at(f"img{i}.jpg") for i in range(10)]
    with ResultsLog.open(path, TOP_K) as log:
        for name in inputs[:4]:
            log.write(Result(name, predictions(1)))
    with open(path, "ab") as f:
        f.write(b"/fotos/img4.jpg,,1,ga")  # killed in the middle of the fifth
    with ResultsLog.open(path, TOP_K) as log:
        assert log.recorded == set(inputs[:4])
        todo = [name for name in inputs if name not in log.recorded]
        for name in todo:
            log.write(Result(name, predictions(1)))
    assert todo == inputs[4:]
    assert read_paths(path) == inputs


def test_a_symlink_to_the_log_is_followed(tmp_path):
    target = tmp_path / "real.csv"
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    write_log(link, [Result(at("a.jpg"), predictions(0))])
    write_log(link, [Result(at("b.jpg"), predictions(0))])
    assert link.is_symlink()
    assert read_paths(target) == [at("a.jpg"), at("b.jpg")]


# --- refusals ---------------------------------------------------------------------------------


def assert_spanish_sentence(message):
    assert message.endswith(".")
    for english in ("No such file", "Permission denied", "Is a directory", "Not a directory", "Errno", "space left"):
        assert english not in message


def refused(path, top_k=TOP_K, spreadsheet=False):
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(ResultsLogError) as caught:
        ResultsLog.open(path, top_k, spreadsheet=spreadsheet)
    if before is not None:
        assert path.read_bytes() == before  # never rewritten
    message = str(caught.value)
    assert_spanish_sentence(message)
    return message


@pytest.mark.parametrize("spreadsheet", [False, True], ids=["csv", "csv-es"])
def test_other_top_k_is_refused(tmp_path, spreadsheet):
    path = tmp_path / "r.csv"
    write_log(path, RESUME_RESULTS, spreadsheet=spreadsheet)
    message = refused(path, top_k=5, spreadsheet=spreadsheet)
    assert "3 predicciones" in message and "5" in message and "elija otro archivo" in message


def test_a_spreadsheet_log_with_the_older_english_header_is_refused_untouched(tmp_path):
    # Before --csv-es named its columns in Spanish: resumed, the file would carry two headers' worth of names.
    path = tmp_path / "viejo.csv"
    write_log(path, RESUME_RESULTS, spreadsheet=True)
    spanish = "ruta;error;" + ";".join(f"id_{r};clase_{r};probabilidad_{r}" for r in range(1, TOP_K + 1))
    english = "path;error;" + ";".join(f"id_{r};label_{r};score_{r}" for r in range(1, TOP_K + 1))
    old = path.read_bytes().replace(spanish.encode(), english.encode(), 1)
    path.write_bytes(old)
    message = refused(path, spreadsheet=True)
    assert "versión anterior" in message and "inglés" in message and "elija otro archivo" in message
    assert path.read_bytes() == old


def test_other_flavour_is_refused(tmp_path):
    plain, sheet = tmp_path / "plain.csv", tmp_path / "sheet.csv"
    write_log(plain, RESUME_RESULTS)
    write_log(sheet, RESUME_RESULTS, spreadsheet=True)
    assert "CSV normal" in refused(plain, spreadsheet=True)
    assert "hoja de cálculo" in refused(sheet, spreadsheet=False)


@pytest.mark.parametrize("photo", PHOTOS, ids=[p.name for p in PHOTOS])
@pytest.mark.parametrize("extension", [".csv", ".jsonl"])
def test_a_photo_renamed_is_refused(tmp_path, photo, extension):
    path = tmp_path / f"foto{extension}"
    path.write_bytes(photo.read_bytes())  # a PNG has zero bytes in its first line
    assert "no es un archivo de resultados" in refused(path)


@pytest.mark.parametrize("content", [b"\0" * 5000, b"\0" * 40 + b"datos\n"])
@pytest.mark.parametrize("name", ["disco.csv", "disco.jsonl"])
def test_a_file_of_zeros_is_refused(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    refused(path)


@pytest.mark.parametrize("content", [b"hola\nadi\xc3\xb3s\n", b"hola", b"hola\n", b'{"a": 1}\n', b"[\n"])
@pytest.mark.parametrize("name", ["notas.csv", "notas.jsonl"])
def test_a_text_file_is_refused(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert "no es un archivo de resultados" in refused(path)


def test_a_record_file_with_a_foreign_last_line_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    write_log(path, RESUME_RESULTS)
    with open(path, "ab") as f:
        f.write(b'{"a": 1}\n')
    refused(path)


@pytest.mark.parametrize(("name", "spreadsheet"), FLAVOURS, ids=FLAVOUR_IDS)
def test_a_bad_line_in_the_middle_is_refused(tmp_path, name, spreadsheet):
    path = tmp_path / name
    states = snapshots(path, RESUME_RESULTS, spreadsheet)
    bad = b"basura sin separadores\n"
    path.write_bytes(states[2] + bad + states[3][len(states[2]):])
    message = refused(path, spreadsheet=spreadsheet)
    line = states[2].count(b"\n") + 1
    assert f"la línea {line} " in message


def test_unknown_extension_is_refused(tmp_path):
    for name in ("r.txt", "r", "r.csv.bak"):
        message = refused(tmp_path / name)
        assert ".csv" in message and ".jsonl" in message
        assert not (tmp_path / name).exists()


def test_spreadsheet_json_lines_is_refused(tmp_path):
    assert "solo para archivos .csv" in refused(tmp_path / "r.jsonl", spreadsheet=True)


def test_a_folder_is_refused(tmp_path):
    (tmp_path / "carpeta.csv").mkdir()
    assert "es una carpeta" in refused(tmp_path / "carpeta.csv")


def test_a_missing_folder_is_refused(tmp_path):
    assert "no existe" in refused(tmp_path / "falta" / "r.csv")
    assert not (tmp_path / "falta").exists()


def test_a_file_used_as_a_folder_is_refused(tmp_path):
    (tmp_path / "archivo").write_text("x")
    assert "no es una carpeta" in refused(tmp_path / "archivo" / "r.jsonl")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_refused(tmp_path):
    os.mkfifo(tmp_path / "tubo.csv")
    assert "no es un archivo normal" in refused(tmp_path / "tubo.csv")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions")
def test_a_read_only_file_is_refused(tmp_path):
    path = tmp_path / "r.csv"
    write_log(path, RESUME_RESULTS)
    path.chmod(0o444)
    assert "permiso denegado" in refused(path)


@pytest.mark.skipif(log_file.fcntl is None, reason="no file locks here")
def test_a_second_session_on_the_same_file_is_refused(tmp_path):
    path = tmp_path / "r.csv"
    with ResultsLog.open(path, TOP_K) as log:
        log.write(RESUME_RESULTS[0])
        assert "Otra sesión" in refused(path)
    with ResultsLog.open(path, TOP_K) as log:
        assert log.recorded == {RESUME_RESULTS[0].path}


def test_a_full_disk_is_a_spanish_sentence(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    with ResultsLog.open(path, TOP_K) as log:
        def no_space(fd, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(log_file.os, "write", no_space)
        with pytest.raises(ResultsLogError) as caught:
            log.write(Result(at("a.jpg"), predictions(0)))
        monkeypatch.undo()
        assert "no queda espacio en el disco" in str(caught.value)
        assert_spanish_sentence(str(caught.value))
        assert at("a.jpg") not in log.recorded


@pytest.mark.parametrize(("code", "words"), [
    (errno.EACCES, "permiso denegado"), (errno.EROFS, "solo lectura"), (errno.ENOSPC, "no queda espacio"),
])
def test_open_errors_are_spanish_sentences(tmp_path, monkeypatch, code, words):
    def failing_open(*args):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(log_file.os, "open", failing_open)
    message = refused(tmp_path / "r.csv")
    assert words in message and "r.csv" in message


def test_every_unknown_errno_is_still_spanish():
    assert log_file._reason(OSError(errno.EMFILE, "Too many open files")) == "hay demasiados archivos abiertos"
    assert log_file._reason(OSError(4095, "Unknown")).startswith("error del sistema")


# --- flushing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "spreadsheet"), FLAVOURS, ids=FLAVOUR_IDS)
def test_each_record_is_visible_before_close(tmp_path, name, spreadsheet):
    path = tmp_path / name
    log = ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet)
    try:
        for i, result in enumerate(RESUME_RESULTS, start=1):
            log.write(result)
            assert read_paths(path, spreadsheet) == [r.path for r in RESUME_RESULTS[:i]]
    finally:
        log.close()
    log.close()  # a second close does nothing


def test_fsync_at_most_once_a_second_and_at_close(tmp_path, monkeypatch):
    clock = [100.0]
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(log_file.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(log_file.os, "fsync", lambda fd: (synced.append(clock[0]), real_fsync(fd)))
    log = ResultsLog.open(tmp_path / "r.jsonl", TOP_K)
    synced.clear()
    for _ in range(50):  # a fast batch: 50 images in 0.5 s
        log.write(RESUME_RESULTS[0])
        clock[0] += 0.01
    assert synced == []
    clock[0] += 0.6  # more than a second since opening
    log.write(RESUME_RESULTS[1])
    assert synced == [clock[0]]
    clock[0] += 5  # the desktop loop: the user takes a while to pick the next image
    log.write(RESUME_RESULTS[2])
    assert synced == [clock[0] - 5, clock[0]]
    log.close()
    assert len(synced) == 3


def test_kill_9_in_the_middle_of_a_batch(tmp_path):
    """A real process killed while writing: every record it wrote is there, whole, and the rerun completes."""
    path = tmp_path / "r.csv"
    script = (
        "import sys\n"
        "from classifier.output import Result\n"
        "from classifier.results_log import ResultsLog\n"
        "from test_results_log import predictions\n"
        "log = ResultsLog.open(sys.argv[1], 3)\n"
        "for i in range(10**9):\n"
        "    log.write(Result(f'/fotos/img{i}.jpg', predictions(i % 5)))\n"
    )
    tests = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tests.parent), str(tests)]))
    child = subprocess.Popen([sys.executable, "-c", script, str(path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while (not path.exists() or path.stat().st_size < 20000) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    written = read_paths(path)
    assert len(written) > 50
    assert written == [at(f"img{i}.jpg") for i in range(len(written))]
    inputs = [at(f"img{i}.jpg") for i in range(len(written) + 20)]
    with ResultsLog.open(path, TOP_K) as log:
        assert log.recorded == set(written)
        for name in inputs:
            if name not in log.recorded:
                log.write(Result(name, predictions(0)))
    assert read_paths(path) == inputs


# --- hand edits, long fields, spellings and retries ----------------------------------------------


@pytest.mark.parametrize("spreadsheet", [False, True], ids=["csv", "csv-es"])
def test_an_unbalanced_quote_added_by_hand_loses_no_row(tmp_path, spreadsheet):
    path = tmp_path / "r.csv"
    plain = [P("gato", 0.5, 1)] * TOP_K
    write_log(path, [Result(at(f"{name}.jpg"), plain) for name in ("uno", "dos", "tres", "cuatro")], spreadsheet)
    lines = path.read_bytes().split(b"\n")
    assert lines[2].startswith(b"/fotos/dos.jpg")
    lines[2] = b'"' + lines[2]  # by hand, in line 3: the quote is never closed and reads to the end
    path.write_bytes(b"\n".join(lines))
    message = refused(path, spreadsheet=spreadsheet)
    assert "la línea 3 " in message


@pytest.mark.parametrize(("name", "spreadsheet"), FLAVOURS, ids=FLAVOUR_IDS)
@pytest.mark.parametrize("notes", [b"notas: revisar estas fotos\n", b"mitad.jpg,,7,gato\n", b"mitad.jpg;;7;gato\r\n",
                                   b'{"path": "a.jpg", "predictions": [roto\n'])
def test_a_complete_last_line_that_is_not_a_record_is_never_deleted(tmp_path, name, spreadsheet, notes):
    path, three = three_records_then(tmp_path / name, spreadsheet, notes)
    refused(path, spreadsheet=spreadsheet)


@pytest.mark.parametrize(("name", "spreadsheet"), FLAVOURS, ids=FLAVOUR_IDS)
def test_a_field_longer_than_the_csv_modules_limit_reads_back(tmp_path, name, spreadsheet):
    path = tmp_path / name
    long_path = at("a" * 200_000 + ".jpg")
    long_label = [P("gato " * 40_000, 0.5, 1)]
    write_log(path, [Result(long_path, predictions(1)), Result(at("b.jpg"), long_label)], spreadsheet=spreadsheet,
              top_k=TOP_K)
    with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
        assert log.recorded == {long_path, at("b.jpg")}
    assert csv.field_size_limit() == 131_072  # lifted only while the log reads its own file
    previous = csv.field_size_limit(1 << 30)
    try:
        assert read_paths(path, spreadsheet) == [long_path, at("b.jpg")]
    finally:
        csv.field_size_limit(previous)


def test_one_photo_is_one_record_whatever_its_spelling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()
    spellings = ["images/gato.png", "./images/gato.png", "images//gato.png", "images/../images/gato.png",
                 str(tmp_path / "images" / "gato.png")]
    with ResultsLog.open("r.jsonl", TOP_K) as log:
        todo = log.pending([(spelling, None) for spelling in spellings])
        assert todo == [("images/gato.png", None)]
        log.write(Result("images/gato.png", predictions(0)))
    with ResultsLog.open("r.jsonl", TOP_K) as log:
        assert log.pending([(spelling, None) for spelling in reversed(spellings)]) == []
        log.write(Result(spellings[-1], predictions(0)))  # picked again in the desktop, by its absolute path
    assert read_paths(tmp_path / "r.jsonl") == [str(tmp_path / "images" / "gato.png")]


@pytest.mark.parametrize(("name", "spreadsheet"), FLAVOURS, ids=FLAVOUR_IDS)
def test_a_failed_image_is_pending_again_and_its_latest_record_is_its_state(tmp_path, name, spreadsheet):
    path = tmp_path / name
    write_log(path, [Result(at("a.jpg"), predictions(0)), Result(at("roto.jpg"), error=ERROR)],
              spreadsheet=spreadsheet)
    with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
        assert log.pending([(at("a.jpg"), None), (at("roto.jpg"), None)]) == [(at("roto.jpg"), None)]
        log.write(Result(at("roto.jpg"), predictions(1)))
    with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
        assert log.pending([(at("a.jpg"), None), (at("roto.jpg"), None)]) == []
    assert read_paths(path, spreadsheet) == [at("a.jpg"), at("roto.jpg"), at("roto.jpg")]


def test_a_json_lines_log_refuses_another_top_k(tmp_path):
    path = tmp_path / "r.jsonl"
    write_log(path, RESUME_RESULTS)
    message = refused(path, top_k=2)
    assert "3 predicciones" in message and "2" in message and "elija otro archivo" in message
    known = {p.id: p.label for result in RESUME_RESULTS for p in result.predictions or []}
    names = [(known.get(i, f"clase {i}"),) for i in range(max(known) + 1)]  # the model that wrote RESUME_RESULTS
    with ResultsLog.open(path, 5) as log:  # more asked than saved: only the model can tell whether it has them
        with pytest.raises(ResultsLogError) as caught:
            log.check_model(5, names)
        assert str(caught.value) == (f"«{path}» guarda 3 predicciones por imagen y ahora se piden 5; elija otro "
                                     "archivo o pida 3 (este no se modificará).")
        log.check_model(3, names)


# --- the program itself: a last line without its newline, a photo named from two folders ------------


def run_program(model, cwd, *args, typed=None):
    """script_modelo.py as a user starts it from the folder cwd (no screen: typed paths in the terminal mode)."""
    return subprocess.run([sys.executable, str(REPO / "script_modelo.py"), "--modelo", str(model), "--lote", "1",
                           *map(str, args)], cwd=cwd, input=typed, capture_output=True, text=True, timeout=300,
                          env=without_screen())


def foreign_sentence(saved, line):
    return (f"Error: «{saved}» no es un archivo de resultados de este programa: la línea {line} no es un resultado; "
            f"elija otro archivo (este no se modificará).\n")


@pytest.mark.parametrize(("name", "spreadsheet", "note"), [
    ("r.csv", False, b"revisar: la del gato sali\xc3\xb3 movida"),
    ("r.csv", True, b"revisar; la del gato sali\xc3\xb3 movida"),
    ("r.jsonl", False, b'{"path": "gato.png", "nota": "revisar"}'),
    ("r.jsonl", False, b'{"path": "/fotos/gato.png", "nota": "revisar"}'),
], ids=["csv", "csv-es", "jsonl", "jsonl-absolute"])
def test_a_note_without_its_newline_is_refused_and_kept(tiny_model_dir, tmp_path, name, spreadsheet, note):
    """Written by hand at the end, with no newline after it: the start of no record this program writes."""
    from classifier.app.cli import main

    saved = tmp_path / name
    sheet = ["--csv-es"] if spreadsheet else []
    assert main(["--modelo", str(tiny_model_dir), "--guardar", str(saved), *sheet, str(PHOTOS[0])]) == 0
    with open(saved, "ab") as file:
        file.write(note)
    before = saved.read_bytes()
    done = run_program(tiny_model_dir, tmp_path, "--guardar", saved, *sheet, PHOTOS[1])
    assert (done.returncode, done.stdout, done.stderr) == (2, "", foreign_sentence(saved, 3 if name.endswith(".csv")
                                                                                   else 2))
    assert saved.read_bytes() == before


@pytest.mark.parametrize(("name", "newline"), [("r.csv", b"\n"), ("r.jsonl", b"\n")], ids=["csv", "jsonl"])
def test_a_whole_record_without_its_newline_is_kept_and_not_classified_again(tiny_model_dir, tmp_path, name, newline):
    """The reference: one run that classified both photos. The log under test holds the first record
    only, its newline removed (an editor that strips it): the rerun classifies what is not proven whole:
    the second photo after a JSON record, both after a CSV row that ends in a score (it may be cut short)."""
    reference, saved = tmp_path / "referencia" / name, tmp_path / name
    reference.parent.mkdir()
    first = run_program(tiny_model_dir, tmp_path, "--guardar", reference, PHOTOS[0], PHOTOS[1])
    assert (first.returncode, first.stderr) == (0, "")
    expected = reference.read_bytes()
    records = expected.split(newline)
    assert len(records) == (4 if name.endswith(".csv") else 3) and records[-1] == b""
    saved.write_bytes(newline.join(records[:-2]))  # the header and the first record, its newline gone
    done = run_program(tiny_model_dir, tmp_path, "-f", "json", "--guardar", saved, PHOTOS[0], PHOTOS[1])
    assert (done.returncode, done.stderr) == (0, "")
    redone = [str(PHOTOS[0])] if name.endswith(".csv") else []
    assert [json.loads(line)["path"] for line in done.stdout.splitlines()] == redone + [str(PHOTOS[1])]
    assert saved.read_bytes() == expected


@pytest.mark.parametrize(("name", "spreadsheet"), FLAVOURS, ids=FLAVOUR_IDS)
def test_a_log_of_the_previous_version_cut_short_is_repaired_as_it_was(tmp_path, name, spreadsheet):
    """The previous version wrote the paths as typed (relative): a record of its own cut short by a power
    cut still goes, as that version would have removed it; the complete ones stay."""
    path = tmp_path / name
    states = snapshots(path, RESUME_RESULTS[:2] + [FIFTH], spreadsheet)
    folder = (FOLDER + "/").encode()
    older = [state.replace(folder, b"") for state in states]  # the same records, relative paths
    assert folder not in older[3] and older[3] != states[3]
    record = older[3][len(older[2]):]
    for cut in (1, len(record) // 2, len(record) - 3):
        path.write_bytes(older[2] + record[:cut])
        with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
            assert log.recorded == {r.path.replace(FOLDER + "/", "") for r in RESUME_RESULTS[:2]}, cut
        assert path.read_bytes() == older[2], cut


@pytest.mark.parametrize("spreadsheet", [False, True], ids=["csv", "csv-es"])
def test_a_score_cut_to_a_shorter_float32_is_not_kept(tmp_path, spreadsheet):
    """A power cut inside the last score can leave a shorter number that float32 holds exactly
    (0.75 of 0.7511999607086182): the row looks whole, but its score is wrong. It goes and is redone."""
    path = tmp_path / "r.csv"
    last = Result(at("tres.jpg"), predictions(1)[:-1] + [P("gato", 0.7511999607086182, 7)])
    states = snapshots(path, RESUME_RESULTS[:2] + [last], spreadsheet)
    cut = states[3].rindex(b"0,7511999607086182" if spreadsheet else b"0.7511999607086182") + 4
    path.write_bytes(states[3][:cut])
    assert path.read_bytes().endswith(b"0,75" if spreadsheet else b"0.75")
    with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
        assert last.path not in log.recorded
        log.write(last)
    assert path.read_bytes() == states[3]


def photo_folders(tmp_path):
    """Two folders, each with its own gato.png: two different photos with one relative name."""
    import shutil

    for folder, photo in (("a", PHOTOS[0]), ("b", PHOTOS[1])):
        (tmp_path / folder).mkdir()
        shutil.copy(photo, tmp_path / folder / "gato.png")
    return tmp_path / "a", tmp_path / "b"


def test_one_photo_named_from_two_folders_is_one_record_and_two_photos_stay_two(tiny_model_dir, tmp_path):
    a, b = photo_folders(tmp_path)
    saved = tmp_path / "r.jsonl"
    first = run_program(tiny_model_dir, a, "--guardar", "../r.jsonl", "gato.png")
    assert (first.returncode, first.stderr) == (0, "")
    after_first = saved.read_bytes()
    assert [record["path"] for record in read_json_lines(saved)] == [str(a / "gato.png")]
    # From b: a's photo again, by another relative name, and b's own gato.png, another photo.
    second = run_program(tiny_model_dir, b, "-f", "json", "--guardar", "../r.jsonl", "../a/gato.png", "gato.png")
    assert (second.returncode, second.stderr) == (0, "")
    assert [json.loads(line)["path"] for line in second.stdout.splitlines()] == ["gato.png"]
    assert saved.read_bytes().startswith(after_first)
    assert [record["path"] for record in read_json_lines(saved)] == [str(a / "gato.png"), str(b / "gato.png")]
    after_second = saved.read_bytes()
    third = run_program(tiny_model_dir, tmp_path, "--guardar", "r.jsonl", "a/gato.png", "b/./gato.png")
    assert (third.returncode, third.stdout) == (0, "")
    assert third.stderr == ("Todas las imágenes ya están en «r.jsonl»: no queda nada por clasificar "
                            "(para repetirlas, elija otro archivo).\n")
    assert saved.read_bytes() == after_second


def test_the_desktop_knows_a_photo_typed_from_another_folder(tiny_model_dir, tmp_path):
    """The terminal session of the desktop mode (no screen), with --guardar: a photo typed with a
    relative path in one session and another from another folder is one record."""
    a, b = photo_folders(tmp_path)
    saved = tmp_path / "sesion.csv"
    first = run_program(tiny_model_dir, a, "--guardar", saved, typed="gato.png\nn\n")
    assert (first.returncode, first.stderr) == (0, "")
    after_first = saved.read_bytes()
    assert [row[0] for row in read_csv(saved, False)[1:]] == [str(a / "gato.png")]
    second = run_program(tiny_model_dir, b, "--guardar", saved, typed="../a/gato.png\ns\ngato.png\nn\n")
    assert (second.returncode, second.stderr) == (0, "")
    assert sum(1 for line in second.stdout.splitlines() if LINE.match(line)) == 2 * 7  # both shown
    assert saved.read_bytes().startswith(after_first)
    assert [row[0] for row in read_csv(saved, False)[1:]] == [str(a / "gato.png"), str(b / "gato.png")]


def test_a_relative_record_of_an_older_version_never_stands_for_another_photo(tiny_model_dir, tmp_path):
    """Older versions recorded paths as typed, relative to a folder the log does not say. Such a record
    is kept, but it counts for no photo: the same name from another folder is another photo."""
    a, b = photo_folders(tmp_path)
    saved = tmp_path / "r.jsonl"
    old = (b'{"path": "gato.png", "predictions": [{"id": 5, "label": "coffee mug", "score": 0.838219404220581}]}\n'
           b'{"path": "roto.png", "error": "No se puede clasificar \xc2\xabroto.png\xc2\xbb: el archivo no existe."}\n')
    saved.write_bytes(old)
    done = run_program(tiny_model_dir, b, "-f", "json", "-k", "1", "--guardar", saved, "gato.png")
    assert (done.returncode, done.stderr) == (0, "")
    assert [json.loads(line)["path"] for line in done.stdout.splitlines()] == ["gato.png"]
    assert saved.read_bytes().startswith(old)
    assert [record["path"] for record in read_json_lines(saved)] == ["gato.png", "roto.png", str(b / "gato.png")]


# --- the rules behind those runs, case by case ---------------------------------------------------------


@pytest.mark.parametrize(("name", "spreadsheet", "tail"), [
    ("r.csv", False, b"/fo"),
    ("r.csv", False, b'"/fotos/a,b'),  # a quote still open
    ("r.csv", False, b'"/fotos/di ""hola'),
    ("r.csv", False, b"/fotos/a.jpg,,5,gato,0.0"),  # the start of any score under 0.1
    ("r.csv", False, b"/fotos/a.jpg,,5,gato,0.07045"),  # not a float32: cut short
    ("r.csv", False, b"/fotos/a.jpg,,5,gato,0.0704585388302803,"),  # the next group is missing
    ("r.csv", False, b"/fotos/a.jpg,,5,gato,0.0704585388302803,6,perro,0.0704585388302803,7,pez,"),
    ("r.csv", True, b"/fotos/a.jpg;;5;gato;0,5;6;perro;0,25;7;pez;0,12"),
    ("r.csv", False, b"/fotos/roto.jpg,No se puede clasificar,,"),
    ("r.jsonl", False, b"{"),
    ("r.jsonl", False, b'{"path": "/fotos/a.jpg", "predictions": [{"id": 5, "label": "ga'),
    ("r.jsonl", False, b'{"path": "/fotos/\\u00'),
    ("r.jsonl", False, b'{"path": "/fotos/ni\xc3'),  # in the middle of a character
    ("r.jsonl", False, b'{"path": "/fotos/a.jpg", "predictions": [{"id": 5, "label": "gato", "score": 0.5}'),
    ("r.jsonl", False, b'{"path": "/fotos/a.jpg", "error": "No se puede'),
], ids=lambda value: value if isinstance(value, str) else None)
def test_the_start_of_a_record_of_ours_is_torn_and_goes(tmp_path, name, spreadsheet, tail):
    path, three = three_records_then(tmp_path / name, spreadsheet, tail)
    with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
        assert log.recorded == {r.path for r in RESUME_RESULTS}
    assert path.read_bytes() == three


@pytest.mark.parametrize(("name", "spreadsheet", "tail"), [
    ("r.csv", False, b"nota sin salto"),
    ("r.csv", False, b'"nota entre comillas'),
    ("r.csv", False, b"a.jpg,,5,gato,0.5"),  # relative: no record this program writes now
    ("r.csv", False, b"/fotos/a.jpg,,cinco"),  # an id is digits
    ("r.csv", False, b"/fotos/a.jpg,error,5"),  # nothing after an error
    ("r.csv", False, b"/fotos/a.jpg,,5,gato,0.5 aprox"),
    ("r.csv", False, b'"/fotos/a.jpg" y algo'),  # text after a closing quote
    ("r.csv", False, b"/fotos/a\rb.jpg"),  # the writer quotes a "\r"
    ("r.csv", True, b"nota; sin salto"),
    ("r.jsonl", False, b'{"path": "a.jpg", "predic'),  # relative
    ("r.jsonl", False, b'{"path": "/fotos/a.jpg", "nota'),
    ("r.jsonl", False, b'{"path": "/fotos/a.jpg", "predictions": [{"id": -1'),
    ("r.jsonl", False, b'{"path": "/fotos/a\tb'),  # a raw tab: json_line escapes it
    ("r.jsonl", False, b'{"path": 5'),
    ("r.jsonl", False, b'{"path": "/fotos/a.jpg", "error": "x"} y algo'),
], ids=lambda value: value if isinstance(value, str) else None)
def test_a_last_line_without_newline_that_no_record_of_ours_starts_is_refused(tmp_path, name, spreadsheet, tail):
    path, three = three_records_then(tmp_path / name, spreadsheet, tail)
    line = three.count(b"\n") + 1
    assert refused(path, spreadsheet=spreadsheet) == (
        f"«{path}» no es un archivo de resultados de este programa: la línea {line} no es un resultado; "
        f"elija otro archivo (este no se modificará).")


@pytest.mark.parametrize(("name", "spreadsheet", "missing"), [
    ("r.csv", False, b"\n"), ("r.csv", True, b"\r\n"), ("r.csv", True, b"\n"), ("r.jsonl", False, b"\n"),
], ids=["csv", "csv-es", "csv-es-cr", "jsonl"])
@pytest.mark.parametrize("last", [
    FOURTH, Result(at("roto2.jpg"), error=ERROR), Result(at("dos.jpg"), predictions(3, 2)),
], ids=["predictions", "error", "fewer"])
def test_a_whole_last_record_without_its_newline_stays(tmp_path, name, spreadsheet, missing, last):
    """Kept when the record proves itself whole: JSON's closing brace, an empty last cell, --csv-es's "\r".
    A CSV row that ends in its score cannot ("0.75" of "0.7511999607086182" is a float32 too): it goes and
    its photo is classified again."""
    path = tmp_path / name
    states = snapshots(path, RESUME_RESULTS + [last, FIFTH], spreadsheet)
    assert states[4].endswith(missing)
    path.write_bytes(states[4][:-len(missing)])
    if last is FOURTH and name.endswith(".csv") and missing != b"\n" * spreadsheet:
        with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
            assert log.recorded == {r.path for r in RESUME_RESULTS}
            log.write(last)
            log.write(FIFTH)
        assert path.read_bytes() == states[5]
        return
    with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
        assert log.recorded == {r.path for r in RESUME_RESULTS + [last]}
        assert log.pending([(last.path, None)]) == ([(last.path, None)] if last.error else [])
    assert path.read_bytes() == states[4][:-len(missing)]  # nothing to write: untouched
    with ResultsLog.open(path, TOP_K, spreadsheet=spreadsheet) as log:
        log.write(FIFTH)
    assert path.read_bytes() == states[5]


def test_a_folder_link_followed_by_dotdot_is_not_collapsed(tmp_path, monkeypatch):
    """"link/.." goes up from the link's target: it names another folder than the one holding the link."""
    from classifier.results_log import same_photo

    monkeypatch.chdir(tmp_path)
    (tmp_path / "lejos" / "dentro").mkdir(parents=True)
    (tmp_path / "enlace").symlink_to(tmp_path / "lejos" / "dentro")
    (tmp_path / "carpeta").mkdir()
    for photo in (tmp_path / "gato.png", tmp_path / "lejos" / "gato.png"):
        photo.write_bytes(b"")
    assert os.path.samefile("carpeta/../gato.png", "gato.png")
    assert not os.path.samefile("enlace/../gato.png", "gato.png")  # lejos/gato.png
    assert same_photo("carpeta/../gato.png") == same_photo("gato.png") == str(tmp_path / "gato.png")
    assert same_photo("enlace/../gato.png") != same_photo("gato.png")
    assert same_photo("enlace/../gato.png") == same_photo(tmp_path / "enlace" / ".." / "gato.png")
    assert same_photo("gato.png/") != same_photo("gato.png")  # not the photo: «no es una carpeta»


# --- the program itself: a log of another model -----------------------------------------------------


def test_a_log_of_a_model_with_fewer_classes_names_a_way_that_works(tmp_path):
    """A CSV log written with the default -k 7 by a model of five classes: each record holds five
    predictions under columns for seven. A model of seven classes cannot continue it with any -k (-k 7
    gives seven predictions, -k 5 does not fit the columns): the sentence names the model it was made
    with, and that model goes on."""
    from conftest import build_tiny_model

    names = ["gato", "perro", "coche", "casa", "arbol", "mesa", "silla"]
    five, seven = build_tiny_model(tmp_path / "cinco", names[:5]), build_tiny_model(tmp_path / "siete", names)
    saved = tmp_path / "log.csv"
    assert run_program(five, tmp_path, "--guardar", saved, PHOTOS[0]).returncode == 0
    before = saved.read_bytes()
    assert before.startswith(b"path,error,id_1,label_1,score_1,id_2,label_2,score_2,id_3,label_3,score_3,id_4,"
                             b"label_4,score_4,id_5,label_5,score_5,id_6,label_6,score_6,id_7,label_7,score_7\n")
    made_with = (f"Error: «{saved}» se hizo con un modelo de 5 clases (guarda 5 predicciones por imagen) y este "
                 "tiene 7; elija otro archivo o use el modelo con el que se hizo (este no se modificará).\n")
    columns = (f"Error: «{saved}» tiene columnas para 7 predicciones por imagen y ahora se piden 5; elija otro archivo "
               "o pida 7 (este no se modificará).\n")
    for k, sentence in ((["-k", "7"], made_with), ([], made_with), (["-k", "5"], columns)):
        done = run_program(seven, tmp_path, *k, "--guardar", saved, PHOTOS[0], PHOTOS[1])
        assert (done.returncode, done.stdout, done.stderr, saved.read_bytes()) == (2, "", sentence, before), k
    done = run_program(five, tmp_path, "-f", "json", "--guardar", saved, PHOTOS[0], PHOTOS[1])
    assert (done.returncode, done.stderr) == (0, "")
    assert [json.loads(line)["path"] for line in done.stdout.splitlines()] == [str(PHOTOS[1])]
    assert saved.read_bytes().startswith(before) and read_paths(saved) == [str(PHOTOS[0]), str(PHOTOS[1])]


@pytest.mark.parametrize("name", ["log.csv", "log.jsonl"])
def test_a_log_of_another_model_is_refused(tiny_model_dir, tmp_path, name):
    """Two models with as many classes and other names: the second does not mix its records into the
    first one's log. The class named is the first the log's records name otherwise (read here with
    csv.reader / json.loads), and the way out is the model it was made with."""
    from conftest import TINY_LABELS, build_tiny_model

    other = build_tiny_model(tmp_path / "otro", [f"clase {i}" for i in range(len(TINY_LABELS))])
    saved = tmp_path / name
    first = run_program(tiny_model_dir, tmp_path, "-k", "3", "--guardar", saved, PHOTOS[0])
    assert (first.returncode, first.stderr) == (0, "")
    before = saved.read_bytes()
    if name.endswith(".csv"):
        ids = [int(cell) for cell in read_csv(saved, False)[1][2::3]]
    else:
        ids = [p["id"] for p in read_json_lines(saved)[0]["predictions"]]
    first_id = min(ids)
    done = run_program(other, tmp_path, "-k", "3", "--guardar", saved, PHOTOS[0], PHOTOS[1])
    assert (done.returncode, done.stdout, saved.read_bytes()) == (2, "", before)
    assert done.stderr == (f"Error: «{saved}» tiene resultados de otro modelo: su clase {first_id} es "
                           f"«{TINY_LABELS[first_id]}» y la de este, «clase {first_id}»; elija otro archivo o use el "
                           "modelo con el que se hizo (este no se modificará).\n")
    again = run_program(tiny_model_dir, tmp_path, "-k", "3", "--guardar", saved, PHOTOS[0], PHOTOS[1])
    assert (again.returncode, again.stderr) == (0, "")
    assert saved.read_bytes().startswith(before) and read_paths(saved) == [str(PHOTOS[0]), str(PHOTOS[1])]


@pytest.mark.parametrize("name", ["log.csv", "log.jsonl"])
@pytest.mark.parametrize("first_language, then", [("en", "es"), ("es", "en")])
def test_a_log_goes_on_in_the_other_language(trained_model_dir, tmp_path, name, first_language, then):
    """An ImageNet model's classes are written in English with --idioma en and in Spanish by default:
    one model, so one log takes both, whichever came first."""
    saved = tmp_path / name
    first = run_program(trained_model_dir, tmp_path, "--idioma", first_language, "-f", "json", "--guardar", saved,
                        PHOTOS[0])
    assert (first.returncode, first.stderr) == (0, "")
    again = run_program(trained_model_dir, tmp_path, "--idioma", then, "-f", "json", "--guardar", saved, PHOTOS[0],
                        PHOTOS[1])
    assert (again.returncode, again.stderr) == (0, "")
    continued = json.loads(again.stdout)
    assert continued["path"] == str(PHOTOS[1])
    reference = run_program(trained_model_dir, tmp_path, "--idioma", first_language, "-f", "json", PHOTOS[1])
    continued_names = {p["label"] for p in continued["predictions"]}
    assert not continued_names & {p["label"] for p in json.loads(reference.stdout)["predictions"]}  # two languages
    assert read_paths(saved) == [str(PHOTOS[0]), str(PHOTOS[1])]


@pytest.mark.parametrize("name", ["log.csv", "log.jsonl"])
def test_a_refused_model_leaves_no_log_of_a_lone_header(tmp_path, name):
    """The log is opened before the model loads: when the model is refused, the file this run made goes
    again (it held a CSV header only); a file that was there before stays, byte for byte."""
    broken = tmp_path / "modelo"
    broken.mkdir()  # no config.json
    saved = tmp_path / name
    done = run_program(broken, tmp_path, "--guardar", saved, PHOTOS[0])
    assert done.returncode == 2 and "config.json" in done.stderr, done
    assert not saved.exists()
    with ResultsLog.open(saved, TOP_K):
        pass  # made, nothing written: gone again
    assert not saved.exists()
    with ResultsLog.open(saved, TOP_K) as log:
        log.write(Result(at("uno.jpg"), predictions(0)))
    before = saved.read_bytes()
    done = run_program(broken, tmp_path, "--guardar", saved, PHOTOS[0])
    assert done.returncode == 2 and saved.read_bytes() == before


@pytest.mark.parametrize("name", ["log.csv", "log.jsonl"])
def test_a_refused_model_leaves_nothing_at_the_target_of_a_link_to_nothing(capsys, tmp_path, tiny_model_dir, name):
    """--guardar through a link whose target is not there yet: the file made there goes again when the model
    is refused, as a file made under the link's own name does; with a model, the records go to the target."""
    from classifier.app.cli import main

    broken = tmp_path / "modelo"
    broken.mkdir()  # no config.json
    (tmp_path / "resultados").mkdir()
    link, target = tmp_path / name, tmp_path / "resultados" / name
    link.symlink_to(Path("resultados") / name)
    assert main(["--modelo", str(broken), "--guardar", str(link), str(PHOTOS[0])]) == 2
    assert "config.json" in capsys.readouterr().err
    assert not target.exists() and link.is_symlink()
    assert main(["--modelo", str(tiny_model_dir), "-k", str(TOP_K), "--guardar", str(link), str(PHOTOS[0])]) == 0
    assert read_paths(target) == [str(PHOTOS[0])] and link.is_symlink()
