"""Checks HTTP responses against docs/API_CONTRACT.yml.

Every test gets its client from the ``api`` fixture, which runs each response through ``Contract``; a
response whose status the operation does not declare, that lacks a header declared ``required`` or
carries a declared header whose value breaks its schema, whose content type is not JSON, or whose body
does not match the declared schema fails the test that received it. The response schemas are closed
(``additionalProperties``/``unevaluatedProperties: false``), so a field the code adds and the contract
does not declare fails too: drift is caught in both directions. A request no operation matches (an
unknown path, a method the path does not serve) is held to the gateway's answers,
``x-gateway-responses``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

CONTRACT_PATH = Path(__file__).resolve().parent.parent / "docs" / "API_CONTRACT.yml"


class ContractViolation(AssertionError):
    pass


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        validate(document)
        self.document = document
        self._routes = [
            (re.compile("^" + re.sub(r"\{[^/}]+\}", "[^/]+", template) + "$"), template)
            for template in document["paths"]
        ]

    def operation(self, method: str, path: str) -> dict[str, Any]:
        path = path.split("?", 1)[0]
        for pattern, template in self._routes:
            if pattern.match(path):
                operations = self.document["paths"][template]
                if method.lower() not in operations:
                    raise ContractViolation(f"{method} {template} is not in the contract")
                return dict(operations[method.lower()])
        raise ContractViolation(f"no contract path matches {path}")

    def matches(self, method: str, path: str) -> bool:
        """Whether an operation of the contract serves this request."""
        try:
            self.operation(method, path)
        except ContractViolation:
            return False
        return True

    def check(
        self, method: str, path: str, status: int, headers: dict[str, str], body: bytes
    ) -> None:
        if self.matches(method, path):
            responses = self.operation(method, path)["responses"]
            declared = responses.get(str(status))
        else:
            responses = self.document["x-gateway-responses"]
            declared = responses.get(str(status), responses.get(f"{str(status)[0]}XX"))
        if declared is None:
            raise ContractViolation(
                f"{method} {path} answered {status}, which the contract does not declare"
            )
        declared = self._resolve(declared)
        received = {k.lower(): v for k, v in headers.items()}
        self._check_headers(f"{method} {path} {status}", declared.get("headers", {}), received)
        content = declared.get("content")
        if not content:
            return
        content_type = received.get("content-type", "")
        media = content_type.split(";")[0].strip()
        if media not in content or (media != "application/json" and "application/json" in content):
            raise ContractViolation(
                f"{method} {path} answered {content_type!r}, not {' or '.join(content)}"
            )
        schema = {**content[media]["schema"], "components": self.document["components"]}
        validator = OAS31Validator(schema, format_checker=OAS31Validator.FORMAT_CHECKER)
        document = json.loads(body) if media == "application/json" else body.decode()
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        if errors:
            details = "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
            raise ContractViolation(f"{method} {path} {status} body breaks the contract: {details}")

    def _check_headers(
        self, where: str, declared: dict[str, Any], received: dict[str, str]
    ) -> None:
        for name, spec in declared.items():
            spec = self._resolve(spec)
            value = received.get(name.lower())
            if value is None:
                if spec.get("required"):
                    raise ContractViolation(f"{where} lacks the {name} header")
                continue
            schema = spec.get("schema", {})
            parsed: object = value
            if schema.get("type") == "integer":
                if not re.fullmatch(r"-?[0-9]+", value):
                    raise ContractViolation(f"{where} {name} header {value!r} is no integer")
                parsed = int(value)
            errors = list(OAS31Validator(schema).iter_errors(parsed))
            if errors:
                raise ContractViolation(f"{where} {name} header: {errors[0].message}")

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node


@cache
def load_contract() -> Contract:
    return Contract(yaml.safe_load(CONTRACT_PATH.read_text()))
