"""The layout's rules, checked on the source so a change that breaks one fails here, not in review.

docs/ARCHITECTURE.md explains them: modules small enough to be one thing, one adapter per outside
system, the downloader wired by itself and speaking no HTTP, dependencies pointing one way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chalicelib import errors
from tests.conftest import ROOT

PACKAGES = ("chalicelib", "downloader")
MAX_LINES = 400
#: S3 operations only the object-store adapter may call.
S3_ONLY_IN_OBJECTS = frozenset(
    {
        "create_multipart_upload",
        "upload_part",
        "complete_multipart_upload",
        "abort_multipart_upload",
        "list_multipart_uploads",
        "generate_presigned_url",
    }
)
HTTP_ERRORS = frozenset(
    name
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, errors.ApiError)
)


def modules(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) for every import in the file; name is None for ``import module``."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
    return found


def attribute_calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", modules(*PACKAGES), ids=relative)
def test_no_module_is_two_things(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{relative(path)} has {lines} lines: probably two modules"


def test_the_downloader_wires_itself_and_raises_no_http_errors() -> None:
    for path in modules("downloader"):
        for module, name in imports(path):
            assert module != "chalicelib.bootstrap", f"{relative(path)} boots the API's container"
            if module == "chalicelib.errors":
                assert name not in HTTP_ERRORS, f"{relative(path)} imports the HTTP error {name}"


def test_s3_multipart_and_presigning_live_in_the_object_store_adapter() -> None:
    for path in modules(*PACKAGES):
        used = attribute_calls(path) & S3_ONLY_IN_OBJECTS
        if relative(path) != "chalicelib/adapters/objects.py":
            assert not used, f"{relative(path)} calls {sorted(used)} outside the R2 adapter"


def test_the_indexer_is_spoken_to_by_its_adapter_alone() -> None:
    """requests is the HTTP client of the TMDB, indexer and D1 adapters; nothing in the downloader
    makes HTTP calls of its own (the NZB comes through ``NewznabClient.nzb``)."""
    for path in modules("downloader"):
        assert all(module != "requests" for module, _ in imports(path)), relative(path)


def test_getting_the_bytes_and_making_a_movie_do_not_know_the_streaming_tail() -> None:
    for package in ("downloader/usenet", "downloader/post"):
        for path in sorted((ROOT / package).glob("*.py")):
            for module, _ in imports(path):
                assert not module.startswith("downloader.streaming"), relative(path)


def test_the_service_never_imports_the_downloader() -> None:
    for path in [*modules("chalicelib"), ROOT / "app.py"]:
        assert all(not module.startswith("downloader") for module, _ in imports(path)), path
