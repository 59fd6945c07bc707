"""Request parameter rules: strict ids, lenient pages, required trimmed queries."""

from __future__ import annotations

import re

import pytest
import yaml

from chalicelib.errors import InvalidInput
from chalicelib.validation import parse_movie_id, parse_page, parse_query
from tests.contract import CONTRACT_PATH


@pytest.mark.parametrize(
    ("raw", "page"),
    [
        (None, 1),
        ("", 1),
        ("1", 1),
        ("7", 7),
        (" 3 ", 3),
        ("0", 1),
        ("-3", 1),
        ("abc", 1),
        ("2.5", 1),
        ("1e3", 1),
        ("٣", 1),  # a non-ASCII digit is not a page number
        ("500", 500),
        ("501", 500),
        ("99999999999999999999", 500),
    ],
)
def test_page_falls_back_to_1_and_is_clamped_to_500(raw: str | None, page: int) -> None:
    assert parse_page(raw) == page


@pytest.mark.parametrize("raw", ["1", "550", "2147483647", "007"])
def test_movie_ids_accept_positive_integers(raw: str) -> None:
    assert parse_movie_id(raw) == int(raw)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "0",
        "-3",
        "abc",
        "1e3",
        "1.0",
        " 5",
        "+5",
        "2147483648",
        "99999999999999999999",
        "٣",
    ],
)
def test_movie_ids_reject_everything_else(raw: str | None) -> None:
    with pytest.raises(InvalidInput, match="movie id"):
        parse_movie_id(raw)


def test_query_is_trimmed() -> None:
    assert parse_query("  the matrix \t") == "the matrix"


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n"])
def test_query_is_required(raw: str | None) -> None:
    with pytest.raises(InvalidInput, match="required"):
        parse_query(raw)


def test_query_length_is_bounded() -> None:
    assert parse_query("x" * 500) == "x" * 500
    with pytest.raises(InvalidInput, match="at most 500"):
        parse_query("x" * 501)


@pytest.mark.parametrize("raw", ["\x1c", "\ufeff", " \t", "\x85\x00"])
def test_a_query_of_only_blanks_or_control_characters_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="must not be blank"):
        parse_query(raw)


def load_contract_pattern() -> str:
    contract = yaml.safe_load(CONTRACT_PATH.read_text())
    parameters = contract["paths"]["/api/movies-on-demand/search"]["get"]["parameters"]
    (query,) = [p for p in parameters if p.get("name") == "query"]
    return str(query["schema"]["pattern"])


def test_the_contracts_query_pattern_accepts_exactly_what_the_server_does() -> None:
    """Python's regex stands in for JSON Schema's here; the pattern avoids where the two differ."""
    pattern = load_contract_pattern()
    for raw in ["\x1c", "\ufeff", " ", "\u200b", "a", " a ", "\x85", "é"]:
        accepted_by_contract = re.search(pattern, raw) is not None
        try:
            parse_query(raw)
            accepted_by_server = True
        except InvalidInput:
            accepted_by_server = False
        assert accepted_by_contract == accepted_by_server, repr(raw)
