"""The one Spanish number formatter: written out by hand, as a person reads them."""

import pytest

from classifier.base import spanish


@pytest.mark.parametrize(("value", "places", "text"), [
    (0.25, 1, "0,2"), (0.35, 1, "0,3"), (346.0123, 1, "346,0"), (1234.56, 2, "1234,56"), (-0.5, 1, "-0,5"),
    (19.7, 1, "19,7"), (1.2345, 2, "1,23"), (3, 0, "3"),
])
def test_decimal(value, places, text):
    assert spanish.decimal(value, places) == text


@pytest.mark.parametrize(("number", "text"), [
    (0, "0"), (999, "999"), (1000, "1.000"), (12345678, "12.345.678"), (178956970, "178.956.970"), (-4096, "-4.096"),
])
def test_thousands(number, text):
    assert spanish.thousands(number) == text


def test_percent():
    assert spanish.percent(0.8734) == "87,3 %"
    assert spanish.percent(1) == "100,0 %"


def test_exact():
    """Every digit of the score, as repr keeps it: the --csv-es log's score column."""
    assert spanish.exact(0.7511999607086182) == "0,7511999607086182"
    assert spanish.exact(1) == "1,0"
    assert spanish.exact(1e-07) == "1e-07"
