"""Terraform wiring of the D1 gateway Worker (infra/terraform/d1_gateway.tf), against the code.

What an operator would notice: the Worker is deployed with the job database bound as ``DB`` and the
allow-list ``make package`` generates; with ``d1_gateway`` (the default) every process sends its SQL
to the Worker with the gateway token, and turning it off sends each back to the REST API with its
own token; the gateway's secret value never passes through Terraform.
"""

from __future__ import annotations

import re

from chalicelib.adapters.store.allowlist import allowlist
from tests.infra_model import ROOT, TF_DIR, load_script, module, secret_choices

CONSUMERS = {
    "api_handler": "d1_token_api",
    "dispatch_jobs": "d1_token_api",
    "cleanup": "d1_token_cleanup",
    "downloader": "d1_token_downloader",
}


def worker() -> dict[str, object]:
    return module().resource("cloudflare_workers_script", "d1_gateway")


def test_the_gateway_is_on_by_default_and_deployed_only_when_on() -> None:
    assert module().variables["d1_gateway"]["default"] is True
    assert worker()["count"] == "${var.d1_gateway ? 1 : 0}"
    subdomain = module().resource("cloudflare_workers_script_subdomain", "d1_gateway")
    assert subdomain["count"] == "${var.d1_gateway && var.d1_gateway_url == null ? 1 : 0}"
    assert subdomain["enabled"] is True


def test_the_worker_runs_worker_js_with_the_job_database_and_the_generated_allowlist() -> None:
    script = worker()
    assert script["main_module"] == "worker.js"
    assert script["content_file"] == "${path.module}/../d1-gateway/worker.js"
    assert "filesha256" in str(script["content_sha256"])  # a changed worker.js is uploaded again
    bindings = {b["name"]: b for b in script["bindings"]}  # type: ignore[attr-defined]
    assert bindings["DB"] == {"type": "d1", "name": "DB", "id": "${cloudflare_d1_database.jobs.id}"}
    assert bindings["ALLOWED_SQL"]["type"] == "json"
    # The file Terraform reads is the one `make package` writes, and it is not committed.
    package = load_script("package")
    assert package.ALLOWLIST.name in bindings["ALLOWED_SQL"]["json"]
    assert package.ALLOWLIST.parent == TF_DIR
    assert f"/{package.ALLOWLIST.name}" in (TF_DIR / ".gitignore").read_text()
    source = (ROOT / "infra" / "d1-gateway" / "worker.js").read_text()
    assert all(f"env.{name}" in source for name in bindings)


def test_the_allowlist_holds_no_schema_change_so_the_schema_still_goes_over_rest() -> None:
    patterns = allowlist()
    assert patterns
    assert not [p for p in patterns if re.match(r"(CREATE|DROP|ALTER|PRAGMA)\b", p)]
    schema = module().resource("terraform_data", "d1_schema")
    environment = schema["provisioner"][0]["local-exec"]["environment"]
    assert environment["CF_API_BASE_URL"] == "${var.cf_api_base_url}"


def test_the_gateway_token_never_passes_through_terraform() -> None:
    script = worker()
    assert [b for b in script["bindings"] if b["type"] == "secret_text"] == []  # type: ignore[attr-defined]
    assert script["keep_bindings"] == ["secret_text"]  # the secret put once survives each upload
    assert not [name for name in module().variables if "token" in name]
    example = (TF_DIR / "terraform.tfvars.example").read_text()
    assert not re.search(r"^\s*#?\s*\w*token\w*\s*=", example, re.M | re.I)


def test_every_process_talks_to_the_gateway_when_on_and_to_rest_when_off() -> None:
    shared = module().locals["shared_environment"]
    assert shared["CF_API_BASE_URL"] == "${local.d1_api_base_url}"
    assert module().locals["d1_api_base_url"] == (
        "${var.d1_gateway ? local.d1_gateway_url : var.cf_api_base_url}"
    )
    url = module().locals["d1_gateway_url"]
    assert "var.d1_gateway_url" in url
    assert "${local.d1_gateway_name}.${coalesce(var.workers_subdomain" in url
    assert url.rstrip(")}").endswith('.workers.dev"')
    settings = module().locals["secret_settings"]
    for process, rest_token in CONSUMERS.items():
        value = settings[process]["CF_API_TOKEN"]
        assert value == f'${{var.d1_gateway ? "d1_gateway_token" : "{rest_token}"}}', process
        assert secret_choices(value) == {"d1_gateway_token", rest_token}
    assert "d1_gateway_token" in module().locals["secrets"]


def test_the_gateway_url_is_an_output_and_needs_a_subdomain_or_a_url() -> None:
    assert module().outputs["d1_gateway_url"]["value"] == (
        "${var.d1_gateway ? local.d1_gateway_url : null}"
    )
    [condition] = worker()["lifecycle"][0]["precondition"]  # type: ignore[index]
    assert (
        condition["condition"] == "${var.d1_gateway_url != null || var.workers_subdomain != null}"
    )
