"""Parsing and validation of request parameters, with the leniency the contract documents.

Ids are strict (anything but a canonical positive integer is INVALID_INPUT) because a wrong id silently
reinterpreted would show the wrong movie; ``page`` is lenient because a bad page number has an obvious
harmless meaning (the first page).
"""

from __future__ import annotations

import re

from chalicelib.errors import InvalidInput

MAX_PAGE = 500
MAX_MOVIE_ID = 2_147_483_647
MAX_QUERY_LENGTH = 500

_DIGITS = re.compile(r"[0-9]{1,10}")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def parse_page(raw: str | None) -> int:
    """The page to serve: 1 when missing or not a positive integer, at most ``MAX_PAGE``."""
    digits = (raw or "").strip()
    if not _ASCII_DIGITS.fullmatch(digits):
        return 1
    if len(digits) > 10:  # far past the last page; also keeps int() away from huge strings
        return MAX_PAGE
    return min(max(int(digits), 1), MAX_PAGE)


def parse_movie_id(raw: str | None) -> int:
    """A TMDB movie id: decimal digits only, between 1 and 2,147,483,647."""
    if raw is None or not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_MOVIE_ID:
        raise InvalidInput(f"movie id must be an integer between 1 and {MAX_MOVIE_ID}")
    return int(raw)


def parse_query(raw: str | None) -> str:
    """The search text: required, at most ``MAX_QUERY_LENGTH`` characters, surrounding blanks trimmed."""
    if raw is None or not raw.strip():
        raise InvalidInput("query parameter 'query' is required and must not be blank")
    if len(raw) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"query must be at most {MAX_QUERY_LENGTH} characters")
    return raw.strip()
