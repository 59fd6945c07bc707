"""The contract itself: valid OpenAPI 3.1, in step with the error table and the app's routes."""

from __future__ import annotations

from app import app
from chalicelib.errors import CONTRACT_CODES, GATEWAY_CODES
from tests.conftest import ApiClient
from tests.contract import load_contract


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
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


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
