"""API Gateway's own answers (infra/terraform/gateway_responses.tf) against the contract's.

Each gateway response is rendered as API Gateway would render it (its templates only substitute
``$context`` variables) and validated against the contract's ``Error`` schema at the status
``x-gateway-responses`` declares, with that status's code. Terraform itself renders the templates when
it is installed (``terraform console`` needs no provider), so the Python rendering cannot drift from
Terraform's. And the deployment is replaced when a gateway response changes, since only a deployment
brings one to the stage.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator

from chalicelib.errors import CONTRACT_CODES, GATEWAY_CODES
from tests.contract import load_contract
from tests.infra_model import generated, module

#: The template as gateway_responses.tf writes it, each.value being one entry of the local map.
TEMPLATE = (
    '${format("{\\"error\\":%s,\\"code\\":\\"%s\\",\\"request_id\\":\\"$context.requestId\\"}", '
    'each.value.error == null ? "$context.error.messageString" : jsonencode(each.value.error), '
    "each.value.code)}"
)
#: What API Gateway puts in for the variables: a request id, and its own message as a JSON string.
CONTEXT = {"$context.requestId": "c0ffee00-0000-4000-8000-000000000000"}
GATEWAY_MESSAGE = "Request Too Long"
#: The response types that must be shaped: API Gateway's answers to an unknown route, throttling,
#: its timeout, and the two fallbacks that cover every other type.
REQUIRED = {
    "MISSING_AUTHENTICATION_TOKEN": "404",
    "THROTTLED": "429",
    "INTEGRATION_TIMEOUT": "504",
    "DEFAULT_4XX": "4XX",
    "DEFAULT_5XX": "5XX",
}


def answers() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = module().locals["gateway_responses"]
    return found


def resource() -> dict[str, Any]:
    return module().resource("aws_api_gateway_gateway_response", "contract")


def render(answer: dict[str, Any]) -> str:
    """The template, as Terraform's format/jsonencode make it (the messages are plain ASCII, which
    jsonencode and json.dumps encode alike)."""
    error = answer["error"]
    message = "$context.error.messageString" if error is None else json.dumps(error)
    return f'{{"error":{message},"code":"{answer["code"]}","request_id":"$context.requestId"}}'


def substituted(template: str) -> Any:
    """The body a client receives: API Gateway's substitutions made."""
    for name, value in CONTEXT.items():
        template = template.replace(name, value)
    template = template.replace("$context.error.messageString", json.dumps(GATEWAY_MESSAGE))
    assert "$context" not in template, template
    return json.loads(template)


def declared(status: str) -> dict[str, Any]:
    contract = load_contract()
    gateway = contract.document["x-gateway-responses"]
    return contract._resolve(gateway[status])


def test_every_answer_the_contract_expects_from_api_gateway_is_shaped() -> None:
    shaped = answers()
    for response_type, status in REQUIRED.items():
        assert response_type in shaped, f"{response_type} is left in API Gateway's own shape"
        expected = None if status.endswith("XX") else status
        assert shaped[response_type]["status_code"] == expected, response_type
    assert resource()["for_each"] == "${local.gateway_responses}"
    assert resource()["response_type"] == "${each.key}"
    assert resource()["status_code"] == "${each.value.status_code}"
    assert resource()["rest_api_id"] == "${aws_api_gateway_rest_api.rest_api.id}"


def test_each_body_is_the_contracts_error_at_its_declared_status() -> None:
    assert resource()["response_templates"] == {"application/json": TEMPLATE}
    document = load_contract().document
    schema = {"$ref": "#/components/schemas/Error", "components": document["components"]}
    validator = OAS31Validator(schema)
    for response_type, answer in answers().items():
        status = answer["status_code"] or response_type.removeprefix("DEFAULT_")
        body = substituted(render(answer))
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, (response_type, errors)
        # The contract's description of that status names the code first.
        assert declared(status)["description"].startswith(f"`{answer['code']}`"), response_type
        assert body["request_id"] == CONTEXT["$context.requestId"]
        if answer["error"] is None:
            assert body["error"] == GATEWAY_MESSAGE
        # A status the app gives too keeps the app's code for it (404 NOT_FOUND).
        if answer["code"] in CONTRACT_CODES:
            assert str(CONTRACT_CODES[answer["code"]]) == status, response_type
        else:
            expected = GATEWAY_CODES[answer["code"]]
            assert expected is None or str(expected) == status, response_type


def test_terraform_renders_the_templates_as_the_test_does(tmp_path: Path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed: the templates are NOT rendered by terraform")
    expression = TEMPLATE.removeprefix("${").removesuffix("}").replace("each.value", "v")
    config = {
        "locals": {
            "gateway_responses": answers(),
            "bodies": f"${{ {{ for k, v in local.gateway_responses : k => {expression} }} }}",
        }
    }
    (tmp_path / "main.tf.json").write_text(json.dumps(config))
    result = subprocess.run(
        [terraform, f"-chdir={tmp_path}", "console"],
        input="jsonencode(local.bodies)\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    bodies = json.loads(json.loads(result.stdout.strip().splitlines()[-1]))
    assert bodies == {name: render(answer) for name, answer in answers().items()}


def test_browsers_can_read_them_and_throttled_clients_know_when_to_retry() -> None:
    parameters = resource()["response_parameters"]
    assert (
        '"gatewayresponse.header.Access-Control-Allow-Origin" = "\'${var.cors_allow_origin}\'"'
        in (parameters)
    )
    assert '"gatewayresponse.header.Cache-Control" = "\'no-store\'"' in parameters
    assert re.search(r"each\.value\.retry_after == null \? \{\} : \{", parameters)
    assert '"gatewayresponse.header.Retry-After" = "\'${each.value.retry_after}\'"' in parameters
    for response_type, answer in answers().items():
        if answer["code"] == "RATE_LIMITED":
            assert isinstance(answer["retry_after"], int), response_type
            assert "Retry-After" in declared("429")["headers"]


def test_a_changed_gateway_response_makes_a_new_deployment() -> None:
    deployment = module().override["aws_api_gateway_deployment"]["rest_api"]
    description = deployment["stage_description"]
    assert description.startswith("${md5(jsonencode([")
    assert "aws_api_gateway_rest_api.rest_api.body" in description  # the routes, as Chalice hashes
    assert re.search(r"for \w+ in aws_api_gateway_gateway_response\.contract", description)
    for argument in ("response_templates", "response_parameters", "status_code"):
        assert f".{argument}" in description
    gen = generated()
    if gen is not None:  # Chalice's own hash is of the same swagger body the override hashes
        resources = gen["resource"]
        body = resources["aws_api_gateway_rest_api"]["rest_api"]["body"]
        assert resources["aws_api_gateway_deployment"]["rest_api"]["stage_description"] == (
            f"${{md5({body.removeprefix('${').removesuffix('}')})}}"
        )
