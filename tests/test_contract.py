"""The contract itself: valid OpenAPI 3.1, in step with the error table and the app's routes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from app import app
from chalicelib import bootstrap
from chalicelib.domain.jobs import JobStatus, SkippedRelease, encode_skipped
from chalicelib.errors import CONTRACT_CODES, GATEWAY_CODES
from tests.conftest import TMDB, ApiClient, tmdb_fixture
from tests.contract import ContractViolation, load_contract
from tests.seeding import seed_job


def test_contract_is_valid_openapi_31() -> None:
    contract = load_contract()
    assert contract.document["openapi"].startswith("3.1")


def test_error_codes_match_the_error_table() -> None:
    schema = load_contract().document["components"]["schemas"]["Error"]
    assert set(schema["properties"]["code"]["enum"]) == set(CONTRACT_CODES) | set(GATEWAY_CODES)
    assert not set(CONTRACT_CODES) & set(GATEWAY_CODES)


def test_every_route_of_the_app_is_in_the_contract() -> None:
    paths = load_contract().document["paths"]
    for path, methods in app.routes.items():
        assert path in paths, f"{path} is served but not in the contract"
        for method in methods:
            assert method.lower() in paths[path], (
                f"{method} {path} is served but not in the contract"
            )


def test_declared_error_statuses_use_the_error_schema() -> None:
    contract = load_contract()
    for path, operations in contract.document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    resolved = contract._resolve(response)
                    schema = resolved["content"]["application/json"]["schema"]
                    if status == "409":  # an Error that also carries the job in the way
                        assert schema == {"$ref": "#/components/schemas/ActiveJobConflict"}
                        continue
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    schemas = contract.document["components"]["schemas"]
    conflict = schemas["ActiveJobConflict"]
    assert set(schemas["Error"]["required"]) < set(conflict["required"])
    assert set(schemas["Error"]["properties"]) < set(conflict["properties"])


# -- the contract catches drift in both directions -------------------------------------------------

#: Open on purpose: a building block, closed by every schema that uses it.
BUILDING_BLOCKS = {"MovieFields", "ServerFigureFields"}


def object_schemas(node: Any, where: str, closed_above: bool = False) -> Iterator[tuple[str, Any]]:
    """Every schema that describes an object's fields, with whether something closes it: itself,
    or an ``unevaluatedProperties: false`` around the ``allOf`` it is part of."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from object_schemas(item, f"{where}[{index}]", closed_above)
        return
    if not isinstance(node, dict):
        return
    closes = node.get("unevaluatedProperties") is False
    if "properties" in node:
        yield where, closed_above or closes or node.get("additionalProperties") is False
    for key, child in node.items():
        if key in {"if", "then", "else"}:  # conditions on a closed schema, not shapes of their own
            continue
        yield from object_schemas(
            child, f"{where}.{key}", (closed_above or closes) and key in {"allOf", "$ref"}
        )


def test_every_response_schema_is_closed() -> None:
    """A field added to a response in code and not in the contract must fail the suite."""
    schemas = load_contract().document["components"]["schemas"]
    found = [
        (where, closed)
        for name, schema in schemas.items()
        if name not in BUILDING_BLOCKS
        for where, closed in object_schemas(schema, name)
    ]
    assert len(found) > 15  # the walk does find them
    assert [where for where, closed in found if not closed] == []


def test_maps_name_their_keys() -> None:
    stats = load_contract().document["components"]["schemas"]["Stats"]["properties"]
    assert "propertyNames" in stats["errors_last_24h"]


def job_body(api: ApiClient) -> tuple[str, dict[str, Any]]:
    job = seed_job(
        bootstrap.container().store,
        JobStatus.DOWNLOADING,
        skipped_releases=encode_skipped([SkippedRelease("r0", "Old.Release", "password")]),
    )
    path = f"/api/movies-on-demand/jobs/{job.job_id}"
    return path, api.get(path).json


@pytest.mark.parametrize(
    "stray",
    [
        lambda body: {**body, "debug": True},
        lambda body: {**body, "skipped_releases": [{**body["skipped_releases"][0], "size": 1}]},
    ],
    ids=["top level", "nested item"],
)
def test_a_field_the_contract_does_not_declare_breaks_it(
    api: ApiClient, stray: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    path, body = job_body(api)
    contract = load_contract()
    headers = {"Content-Type": "application/json", "X-Request-Id": "r-1"}
    contract.check("GET", path, 200, headers, json.dumps(body).encode())  # as answered: fine

    with pytest.raises(ContractViolation, match="Additional properties are not allowed"):
        contract.check("GET", path, 200, headers, json.dumps(stray(body)).encode())


def test_a_stray_field_in_movie_details_breaks_it_too(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    """MovieDetails extends the summary's fields (``allOf``), closed with unevaluatedProperties."""
    details = tmdb_fixture("movies__details_with_append_to_response")
    upstream.get(f"{TMDB}/3/movie/12313", json=details)
    path = "/api/movies-on-demand/movies/12313"
    response = api.get(path)  # as answered: fine
    body = {**response.json, "debug": True}

    with pytest.raises(ContractViolation, match="Unevaluated properties are not allowed"):
        load_contract().check("GET", path, 200, response.headers, json.dumps(body).encode())


def test_every_response_declares_its_request_id_header() -> None:
    contract = load_contract()
    for path, operations in contract.document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                headers = contract._resolve(response).get("headers", {})
                assert "X-Request-Id" in headers, (method, path, status)
    declared = contract.document["components"]["headers"]["RequestId"]
    assert declared["required"] is True


def test_a_response_without_its_request_id_breaks_the_contract(api: ApiClient) -> None:
    response = api.get("/api/movies-on-demand/health")
    assert response.headers["X-Request-Id"]
    without = {k: v for k, v in response.headers.items() if k.lower() != "x-request-id"}

    with pytest.raises(ContractViolation, match="lacks the X-Request-Id header"):
        load_contract().check("GET", "/api/movies-on-demand/health", 200, without, response.body)


def test_a_declared_header_is_checked_against_its_schema() -> None:
    contract = load_contract()
    headers = {"Content-Type": "application/json", "X-Request-Id": "r", "Retry-After": "soon"}
    body = json.dumps({"error": "x", "code": "TMDB_ERROR", "request_id": "r"}).encode()

    with pytest.raises(ContractViolation, match="Retry-After header 'soon' is no integer"):
        contract.check("GET", "/api/movies-on-demand/popular", 502, headers, body)


def test_usenet_failures_are_job_failures_not_error_codes() -> None:
    """No request waits on a news server, so no response can carry a Usenet error code; the
    contract says where such a failure shows instead."""
    document = load_contract().document
    assert not any("USENET" in code for code in CONTRACT_CODES)
    upstream = document["components"]["responses"]["UpstreamError"]["description"]
    assert "no request waits on Usenet" in " ".join(upstream.split())
    assert {"usenet", "usenet_auth"} <= set(document["components"]["schemas"]["ErrorClass"]["enum"])


def test_the_gateway_answers_are_declared_with_the_error_schema() -> None:
    contract = load_contract()
    gateway = contract.document["x-gateway-responses"]
    assert {"404", "405", "429", "504", "4XX", "5XX"} <= set(gateway)
    for status, response in gateway.items():
        schema = contract._resolve(response)["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, status
    # Each code the gateway alone gives is declared at its status.
    for code, status in GATEWAY_CODES.items():
        if status is not None:
            description = contract._resolve(gateway[str(status)])["description"]
            assert description.startswith(f"`{code}`"), (code, description)
    assert contract._resolve(gateway["404"])["description"].startswith("`NOT_FOUND`")
    assert contract._resolve(gateway["405"])["description"].startswith("`METHOD_NOT_ALLOWED`")


def test_a_method_the_path_does_not_serve_is_405_in_the_error_shape(api: ApiClient) -> None:
    response = api.request("DELETE", "/api/movies-on-demand/jobs")
    assert response.status == 405
    assert response.json["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["Allow"] == "GET"
    assert response.headers["X-Request-Id"] == response.json["request_id"]
    assert "it serves GET" in response.json["error"]


def test_a_content_type_on_a_get_is_no_reason_for_chalices_415(api: ApiClient) -> None:
    response = api.get("/api/movies-on-demand/health", headers={"Content-Type": "text/plain"})
    assert response.status == 200
