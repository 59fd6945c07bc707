"""A TMDB-shaped HTTP server answering from the recorded TMDB responses in ``tests/fixtures/tmdb``.

Those files are real TMDB v3 replies (BSD-2-Clause, see their NOTICE.md) and are served unchanged
where TMDB would send them (search, popular, top rated, similar; details of movie 12313). Details of
the other recorded films are that same recorded document with the film's own summary fields laid over
it, plus the few facts the lists lack (IMDb id, runtime) from ``FACTS`` below; films outside ``FACTS``
have no IMDb id, as many small TMDB entries do, so the API shows them with no releases. Auth is TMDB's:
a ``Bearer`` token, else 401 with TMDB's own error body. Images (``/t/p/{size}/{path}``) are SVG cards,
so a browser pointed at the sandbox shows posters without reaching the internet.
"""

from __future__ import annotations

import copy
import html
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sandbox.httpd import Reply, Request, StandIn

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tmdb"
DETAILS_ID = 12313
#: TMDB's movie genre ids (GET /3/genre/movie/list).
GENRES = {
    28: "Action", 12: "Adventure", 16: "Animation", 35: "Comedy", 80: "Crime", 99: "Documentary",
    18: "Drama", 10751: "Family", 14: "Fantasy", 36: "History", 27: "Horror", 10402: "Music",
    9648: "Mystery", 10749: "Romance", 878: "Science Fiction", 10770: "TV Movie", 53: "Thriller",
    10752: "War", 37: "Western",
}  # fmt: skip


@dataclass(frozen=True)
class Facts:
    imdb_id: str
    runtime: int


#: Films the Newznab stand-in has releases for (their public IMDb ids and runtimes).
FACTS = {
    550: Facts("tt0137523", 139),
    238: Facts("tt0068646", 175),
    240: Facts("tt0071562", 202),
    278: Facts("tt0111161", 142),
    424: Facts("tt0108052", 195),
    502356: Facts("tt6718170", 92),
    640146: Facts("tt10954600", 125),
    155: Facts("tt0468569", 152),
    680: Facts("tt0110912", 154),
    13: Facts("tt0109830", 142),
    129: Facts("tt0245429", 125),
    497: Facts("tt0120689", 189),
    DETAILS_ID: Facts("tt0409732", 100),
}
NOT_FOUND = {
    "success": False,
    "status_code": 34,
    "status_message": "The resource you requested could not be found.",
}
_MOVIE = re.compile(r"^/3/movie/(\d+)(/similar|/external_ids)?$")


@cache
def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def summaries() -> dict[int, dict[str, Any]]:
    """Every film in the recorded lists, by id (the first recording of a film wins)."""
    films: dict[int, dict[str, Any]] = {}
    for name in ("search__movie", "movie_lists__top_rated", "movie_lists__popular"):
        for movie in fixture(name)["results"]:
            films.setdefault(int(movie["id"]), movie)
    return films


def catalogue() -> list[tuple[int, str, int | None, str]]:
    """(TMDB id, title, year, IMDb id) of the films with releases, for the Newznab stand-in."""
    films = summaries()
    details = fixture("movies__details_with_append_to_response")
    rows = []
    for movie_id, facts in FACTS.items():
        movie = details if movie_id == DETAILS_ID else films[movie_id]
        date = str(movie.get("release_date") or "")
        rows.append((movie_id, str(movie["title"]), int(date[:4]) if date else None, facts.imdb_id))
    return rows


def details(movie_id: int, append: set[str]) -> dict[str, Any] | None:
    """The details document of a recorded film, with the ``append_to_response`` parts asked for."""
    recorded = fixture("movies__details_with_append_to_response")
    if movie_id == DETAILS_ID:
        document = copy.deepcopy(recorded)
    else:
        summary = summaries().get(movie_id)
        if summary is None:
            return None
        document = copy.deepcopy(recorded)
        facts = FACTS.get(movie_id)
        document.update({k: v for k, v in summary.items() if k != "genre_ids"})
        document.update(
            genres=[
                {"id": g, "name": GENRES.get(g, "Other")} for g in summary.get("genre_ids", [])
            ],
            imdb_id=facts.imdb_id if facts else None,
            runtime=facts.runtime if facts else 0,
            tagline="",
            homepage="",
            belongs_to_collection=None,
            budget=0,
            revenue=0,
            production_companies=[],
            production_countries=[],
            spoken_languages=[],
            origin_country=[],
            credits={"cast": [], "crew": []},
            external_ids={"imdb_id": facts.imdb_id if facts else None},
            images={"backdrops": [], "logos": [], "posters": []},
        )
    for key in list(document):
        if (
            isinstance(recorded.get(key), dict)
            and key not in append
            and key != "belongs_to_collection"
        ):
            del document[key]
    if "similar" in append:
        document["similar"] = _without(fixture("movies__similar"), movie_id)
    return document


def route(token: str) -> Any:
    """The request handler for a stand-in that accepts ``token`` as its v4 read access token."""

    def answer(request: Request) -> Reply:
        if request.path.startswith("/t/p/"):
            return _image(request.path)
        if request.headers.get("authorization") != f"Bearer {token}":
            return Reply.json(401, fixture("authentication__validate_key_unsuccessful"))
        page = request.query.get("page", "1")
        if request.path == "/3/configuration":
            return Reply.json(200, {"images": {"secure_base_url": "/t/p/", "base_url": "/t/p/"}})
        if request.path == "/3/search/movie":
            return Reply.json(200, _search(request.query.get("query", ""), page))
        if request.path in ("/3/movie/popular", "/3/movie/top_rated"):
            name = "movie_lists__" + request.path.rsplit("/", 1)[1]
            return Reply.json(200, _page(fixture(name), page))
        match = _MOVIE.match(request.path)
        if match is None:
            return Reply.json(404, NOT_FOUND)
        movie_id, part = int(match.group(1)), match.group(2)
        append = {p.strip() for p in request.query.get("append_to_response", "").split(",")}
        document = details(movie_id, append | {"external_ids"})
        if document is None:
            return Reply.json(404, NOT_FOUND)
        if part == "/similar":
            return Reply.json(200, _page(_without(fixture("movies__similar"), movie_id), page))
        if part == "/external_ids":
            return Reply.json(200, {"id": movie_id, **document["external_ids"]})
        if "external_ids" not in append:
            del document["external_ids"]
        return Reply.json(200, document)

    return answer


def start(token: str, port: int = 0) -> StandIn:
    return StandIn(route(token), port=port, name="tmdb-stand-in").start()


def _search(query: str, page: str) -> dict[str, Any]:
    words = query.lower().split()
    hits = [m for m in summaries().values() if all(w in str(m["title"]).lower() for w in words)]
    results = hits if words else []
    base = {"total_pages": 1 if results else 0, "total_results": len(results), "results": results}
    return _page({"page": 1, **base}, page)


def _page(document: dict[str, Any], page: str) -> dict[str, Any]:
    """Page 1 is the recording; later pages keep its totals but are empty (nothing was recorded)."""
    number = int(page) if page.isdigit() and int(page) >= 1 else 1
    return document if number == 1 else {**document, "page": number, "results": []}


def _without(document: dict[str, Any], movie_id: int) -> dict[str, Any]:
    results = [m for m in document["results"] if m.get("id") != movie_id]
    return {**document, "results": results}


def _image(path: str) -> Reply:
    label = html.escape(path.rsplit("/", 1)[-1])
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="500" height="750" viewBox="0 0 500 750">'
        '<rect width="500" height="750" fill="#1b2a3a"/><text x="250" y="375" fill="#9fb3c8" '
        f'font-family="sans-serif" font-size="22" text-anchor="middle">{label}</text></svg>'
    )
    return Reply(200, svg.encode(), "image/svg+xml", {"Cache-Control": "max-age=86400"})
