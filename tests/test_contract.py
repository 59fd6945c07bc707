"""The contract itself: valid OpenAPI 3.1, in step with the error table and the app's routes."""

from __future__ import annotations

from app import app
from chalicelib.errors import CONTRACT_CODES
from tests.contract import load_contract


def test_contract_is_valid_openapi_31() -> None:
    contract = load_contract()
    assert contract.document["openapi"].startswith("3.1")


def test_error_codes_match_the_error_table() -> None:
    schema = load_contract().document["components"]["schemas"]["Error"]
    assert set(schema["properties"]["code"]["enum"]) == set(CONTRACT_CODES)


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
