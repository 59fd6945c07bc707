"""Offline checks of infra/terraform (no provider registry here, so no ``terraform validate``).

The HCL is parsed with python-hcl2 and checked against the code it deploys: every setting the code
reads from the environment reaches the process that reads it (or is deliberately left to its default),
credentials travel only as secrets, the queue feeds the dispatcher, the cleanup schedule exists, IAM
names specific resources (the dashboard and alarms: ``test_infra_monitoring.py``). With
``chalice.tf.json`` present (``make package``; ``make infra-check`` always runs it) the override is also
checked against the generated file, and ``terraform providers`` merges the two. ``terraform fmt`` runs
when terraform is installed.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from chalice.app import Rate, ScheduledEventConfig, SQSEventConfig
from pydantic import SecretStr

from chalicelib.adapters.dispatch import task_environment
from chalicelib.adapters.store.executor import ADDED_COLUMNS, schema_statements
from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import movie_object_key
from chalicelib.logs import SECRET_ENV_VARS
from chalicelib.settings import Settings
from tests.fakes import d1
from tests.infra_model import (
    INTERPOLATION,
    ROOT,
    TF_DIR,
    chalice_config,
    default,
    environment_reads,
    generated,
    load_script,
    module,
    needs_generated,
    parse_hcl,
    secret_choices,
    strings,
)

#: Settings and environment variables the code reads that the deployment deliberately does not set,
#: and why. Anything the code reads must be provided by Terraform or be listed here, so a new setting
#: without infrastructure fails this module.
LEFT_TO_DEFAULT = {
    "TMDB_BASE_URL": "the code's default is TMDB's production origin; only tests point elsewhere",
    "TMDB_IMAGE_BASE_URL": "the code's default is TMDB's production image CDN",
    "TMDB_TIMEOUT_SECONDS": "a code-level tuning (5 s) matched to API Gateway's 29 s limit",
    "NZBGEEK_TIMEOUT_SECONDS": "a code-level tuning (10 s) matched to API Gateway's 29 s limit",
    "SQLITE_PATH": "local only: production runs JOB_STORE=d1",
    "R2_CREATE_BUCKET": "local only: Terraform creates the bucket; never create buckets against R2",
    "STREAM_URL_SECONDS": "the code's 4 h default is the product decision (README), not per deployment",
    "STALE_JOB_MINUTES": "the code's default (30 min) is tied to the downloader's 1-minute heartbeat",
    "PURGE_AFTER_DAYS": "the code's default (30 days) is the product decision (README)",
    "NNTP_TLS_READS": "a diagnostic for bench/download.py --tls; production reads TLS GIL-free",
    "NOTIFY_ALLOW_LOOPBACK": "local stage only (refused elsewhere): the sandbox's loopback receiver",
}

#: Set per task by the dispatcher (RunTask container overrides), never in the task definition.
PER_TASK = frozenset(
    task_environment(JobMessage(job_id="job_1_a", movie_id=1, release_id="r", release_title="t"))
)

#: The credentials each process needs: what its code path reads through the settings' helpers.
SECRETS_NEEDED = {
    # discovery (TMDB), releases and fetch (indexer), API keys, the job store, stream URLs (R2)
    "api_handler": {
        "TMDB_API_KEY",
        "NZBGEEK_API_KEY",
        "API_KEYS",
        "CF_API_TOKEN",
        "R2_ACCESS_KEY_ID",
        "R2_SECRET_ACCESS_KEY",
    },
    # claims jobs in D1, then RunTask (IAM); signs the event of a job it could not start
    "dispatch_jobs": {"CF_API_TOKEN", "NOTIFY_SECRET"},
    # and the event of a job it fails as stale (services/notices.py)
    "cleanup": {"CF_API_TOKEN", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "NOTIFY_SECRET"},
    "downloader": {
        "NZBGEEK_API_KEY",
        "NNTP_SERVERS",
        "CF_API_TOKEN",
        "R2_ACCESS_KEY_ID",
        "R2_SECRET_ACCESS_KEY",
        "NOTIFY_SECRET",  # signs the job's event (downloader/notify.py)
    },
}

#: What the downloader task reads besides credentials (downloader/task.py and the settings it uses).
DOWNLOADER_NEEDS = {
    "JOB_STORE",
    "CF_ACCOUNT_ID",
    "D1_DATABASE_ID",
    "CF_API_BASE_URL",
    "R2_ENDPOINT_URL",
    "R2_BUCKET",
    "NZBGEEK_BASE_URL",
    "RETENTION_HOURS",
    "MAX_RELEASE_GB",
    "NOTIFY_ALLOWED_HOSTS",
    "WORK_DIR",
    "POWERTOOLS_METRICS_NAMESPACE",
}

#: What starting a downloader needs (Settings.ecs_target, jobs_queue_url, the launcher).
DISPATCH_NEEDS = {
    "DISPATCH",
    "JOBS_QUEUE_URL",
    "ECS_CLUSTER",
    "ECS_TASK_DEFINITION",
    "ECS_CONTAINER_NAME",
    "ECS_SUBNETS",
    "ECS_SECURITY_GROUPS",
    "ECS_ASSIGN_PUBLIC_IP",
}

#: Actions without resource-level permissions, for which AWS requires ``"*"``.
AWS_REQUIRES_STAR = frozenset({"ecr:GetAuthorizationToken"})


# --- terraform itself ----------------------------------------------------------------------------


def test_terraform_fmt() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed: `terraform fmt -check` NOT run")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def test_terraform_merges_the_override_into_the_generated_module() -> None:
    needs_generated()
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed: the override merge is NOT checked by terraform")
    result = subprocess.run(
        [terraform, f"-chdir={TF_DIR}", "providers", "-no-color"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for provider in ("hashicorp/aws", "cloudflare/cloudflare", "hashicorp/null"):
        assert provider in result.stdout


def test_references_resolve() -> None:
    """What `terraform validate` would catch first, offline: every reference names a declaration."""
    mod = module()
    declared_resources = {
        f"{kind}.{name}" for kind, named in mod.resources.items() for name in named
    } | {f"{kind}.{name}" for kind, named in mod.override.items() for name in named}
    declared_data = {f"data.{kind}.{name}" for kind, named in mod.data.items() for name in named}
    declared_resources |= expected_chalice_resources()  # chalice.tf.json, maybe not generated yet
    problems = []
    for text in strings([mod.resources, mod.override, mod.data, mod.locals, mod.outputs]):
        for expression in INTERPOLATION.findall(text):
            for name in re.findall(r"\bvar\.(\w+)", expression):
                if name not in mod.variables:
                    problems.append(f"var.{name}")
            for name in re.findall(r"\blocal\.(\w+)", expression):
                if name not in mod.locals:
                    problems.append(f"local.{name}")
            for ref in re.findall(r"\bdata\.(\w+\.[\w-]+)", expression):
                if f"data.{ref}" not in declared_data:
                    problems.append(f"data.{ref}")
            for ref in re.findall(
                r"(?<![.\w])((?:aws|cloudflare|terraform)_\w+\.[\w-]+)", expression
            ):
                if ref not in declared_resources:
                    problems.append(ref)
    assert not problems, f"undeclared references: {sorted(set(problems))}"


# --- settings: every one reaches its process, credentials only as secrets ------------------------


def lambda_environment() -> set[str]:
    return module().local_keys("lambda_environment")


def downloader_environment() -> set[str]:
    return module().local_keys("downloader_environment")


def secret_settings() -> dict[str, dict[str, str]]:
    value: dict[str, dict[str, str]] = module().locals["secret_settings"]
    return value


def test_every_setting_the_code_reads_is_provided_or_deliberately_left_to_its_default() -> None:
    read = set(Settings.model_fields) | environment_reads()
    provided = lambda_environment() | downloader_environment()
    for settings in secret_settings().values():
        provided |= set(settings)
    missing = sorted(read - provided - set(LEFT_TO_DEFAULT) - PER_TASK)
    assert not missing, f"settings the code reads but no Lambda or task gets: {missing}"
    stale = sorted(set(LEFT_TO_DEFAULT) - read)
    assert not stale, f"LEFT_TO_DEFAULT names settings the code no longer reads: {stale}"
    both = sorted(set(LEFT_TO_DEFAULT) & provided)
    assert not both, f"listed as left to default but provided: {both}"
    assert not PER_TASK & provided, "per-task variables belong to RunTask overrides only"
    assert "JOB_MESSAGE" in PER_TASK


def test_each_process_gets_what_its_code_path_needs() -> None:
    assert downloader_environment() >= DOWNLOADER_NEEDS
    assert lambda_environment() >= DISPATCH_NEEDS
    assert {name: set(found) for name, found in secret_settings().items()} == SECRETS_NEEDED
    # .chalice/config.json's variables survive the override's environment block.
    config = chalice_config()
    stage = default("stage")
    from_config = set(config["environment_variables"]) | set(
        config["stages"][stage]["environment_variables"]
    )
    assert from_config <= lambda_environment()
    shared = module().locals["shared_environment"]
    assert shared["JOB_STORE"] == "d1"
    assert shared["POWERTOOLS_METRICS_NAMESPACE"] == "${var.metrics_namespace}"
    assert module().locals["lambda_only_environment"]["DISPATCH"] == "sqs"


def test_credentials_travel_only_as_secrets() -> None:
    secret_fields = {
        name
        for name, field in Settings.model_fields.items()
        if SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
    }
    credentials = secret_fields | set(SECRET_ENV_VARS) | {"NNTP_SERVERS"}
    plain = lambda_environment() | downloader_environment()
    assert not credentials & plain, f"credentials as plain environment: {credentials & plain}"
    secrets = module().locals["secrets"]
    used = set()
    for process, settings in secret_settings().items():
        assert set(settings) <= credentials, process
        chosen = set().union(*(secret_choices(value) for value in settings.values()))
        assert chosen <= set(secrets), process
        used |= chosen
    assert used == set(secrets), "a secret nobody reads"
    # The Lambdas get <SETTING>_SECRET_ARN (read at cold start), the task the values via `secrets`.
    arns = module().locals["lambda_secret_environment"]
    assert '"${setting}_SECRET_ARN"' in arns or "${setting}_SECRET_ARN" in arns
    assert "local.secret_settings" in arns
    assert 'function != "downloader"' in arns
    container = module().locals["downloader_container_definition"]
    assert "local.downloader_environment" in container["environment"]
    assert "local.secret_settings.downloader" in container["secrets"]
    assert "valueFrom" in container["secrets"]
    task = module().resource("aws_ecs_task_definition", "downloader")
    assert task["container_definitions"] == "${jsonencode([local.downloader_container_definition])}"
    # Secrets Manager secrets carry no value in Terraform (never in the state).
    assert "aws_secretsmanager_secret_version" not in module().resources
    for function in ("api_handler", "dispatch_jobs", "cleanup"):
        body = module().override["aws_lambda_function"][function]
        assert body["environment"] == [
            {
                "variables": "${merge(local.lambda_environment, "
                f"local.lambda_secret_environment.{function}, "
                "local.secrets_extension_environment)}"
            }
        ]
        assert body["layers"] == "${local.lambda_layers}"


def test_the_secrets_extension_layer_comes_with_the_port_the_code_reads() -> None:
    """Set, the layer and PARAMETERS_SECRETS_EXTENSION_HTTP_PORT go together (the code reads the
    secrets over loopback only when the port is set); unset, neither."""
    from chalicelib.settings import EXTENSION_PORT_ENV

    assert default("secrets_extension_layer_arn") == ""
    assert module().locals["lambda_layers"] == "${compact([var.secrets_extension_layer_arn])}"
    environment = module().locals["secrets_extension_environment"]
    assert 'var.secrets_extension_layer_arn == ""' in environment
    assert f'{EXTENSION_PORT_ENV} = "2773"' in environment


# --- the Chalice part: SQS → dispatcher, the schedule, the generated file -------------------------


def chalice_app_sources() -> tuple[SQSEventConfig, ScheduledEventConfig]:
    """The SQS and the scheduled event source of app.py."""
    from app import app

    sqs = [s for s in app.event_sources if isinstance(s, SQSEventConfig)]
    scheduled = [s for s in app.event_sources if isinstance(s, ScheduledEventConfig)]
    assert len(sqs) == 1
    assert len(scheduled) == 1
    return sqs[0], scheduled[0]


def expected_chalice_resources() -> set[str]:
    """What `chalice package` makes of app.py (checked against chalice.tf.json when present)."""
    sqs, scheduled = chalice_app_sources()
    return {
        "aws_api_gateway_rest_api.rest_api",
        "aws_api_gateway_deployment.rest_api",
        "aws_lambda_function.api_handler",
        "aws_lambda_permission.rest_api_invoke",
        f"aws_lambda_function.{sqs.name}",
        f"aws_lambda_event_source_mapping.{sqs.name}-sqs-event-source",
        f"aws_lambda_function.{scheduled.name}",
        f"aws_cloudwatch_event_rule.{scheduled.name}-event",
        f"aws_cloudwatch_event_target.{scheduled.name}-event",
        f"aws_lambda_permission.{scheduled.name}-event",
    }


def test_the_job_queue_feeds_the_dispatcher() -> None:
    dispatcher = chalice_app_sources()[0].name
    mod = module()
    mapping = mod.override["aws_lambda_event_source_mapping"][f"{dispatcher}-sqs-event-source"]
    assert mapping["event_source_arn"] == "${terraform_data.dispatcher_permissions.output}"
    assert mod.resource("terraform_data", "dispatcher_permissions")["input"] == (
        "${aws_sqs_queue.jobs.arn}"
    )
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["scaling_config"] == [
        {"maximum_concurrency": "${var.dispatcher_max_concurrency}"}
    ]
    function = mod.override["aws_lambda_function"][dispatcher]
    assert function["role"] == f'${{aws_iam_role.lambda["{dispatcher}"].arn}}'
    assert mod.resource("aws_iam_role_policy", "dispatcher")["role"] == (
        f'${{aws_iam_role.lambda["{dispatcher}"].id}}'
    )
    # Lambda requires a visibility timeout of at least 6x the consumer's timeout.
    config = chalice_config()
    stage = config["stages"][default("stage")]
    timeout = int(stage.get("lambda_timeout", config.get("lambda_timeout", 60)))
    gen = generated()
    if gen is not None:
        timeout = int(gen["resource"]["aws_lambda_function"][dispatcher]["timeout"])
    queue = mod.resource("aws_sqs_queue", "jobs")
    assert queue["visibility_timeout_seconds"] >= 6 * timeout
    assert "aws_sqs_queue.jobs_dlq.arn" in queue["redrive_policy"]
    assert re.search(r"maxReceiveCount\s*=\s*\d+", queue["redrive_policy"])
    assert queue["sqs_managed_sse_enabled"] is True


def test_the_cleanup_schedule_exists() -> None:
    scheduled = chalice_app_sources()[1]
    cleanup = scheduled.name
    expression = scheduled.schedule_expression
    assert isinstance(expression, Rate)
    assert expression.to_string() == "rate(1 hour)"
    rule = module().override["aws_cloudwatch_event_rule"][f"{cleanup}-event"]
    assert rule["name"] == "${local.name}-cleanup"  # Chalice's name is the same in every stage
    gen = generated()
    if gen is not None:
        resources = gen["resource"]
        generated_rule = resources["aws_cloudwatch_event_rule"][f"{cleanup}-event"]
        assert generated_rule["schedule_expression"] == "rate(1 hour)"
        target = resources["aws_cloudwatch_event_target"][f"{cleanup}-event"]
        assert target["arn"] == f"${{aws_lambda_function.{cleanup}.arn}}"


def test_the_override_matches_the_generated_module() -> None:
    gen = needs_generated()
    resources = gen["resource"]
    made = {f"{kind}.{name}" for kind, named in resources.items() for name in named}
    assert made == expected_chalice_resources()
    for kind, named in module().override.items():
        for name in named:
            assert name in resources.get(kind, {}), f"Chalice no longer makes {kind}.{name}"
    functions = resources["aws_lambda_function"]
    assert set(functions) == set(module().locals["lambda_functions"])
    assert "aws_iam_role" not in resources, "make package must turn off Chalice's IAM role"
    for function in functions.values():
        assert function["filename"] == "${path.module}/deployment.zip"
        assert set(function["environment"]["variables"]) <= lambda_environment()
    stage = module().locals["api_stage"]
    assert resources["aws_api_gateway_deployment"]["rest_api"]["stage_name"] == stage
    assert chalice_config()["stages"][default("stage")].get("api_gateway_stage", "api") == stage


# --- IAM: specific resources -----------------------------------------------------------------------


def policy_statements() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, document in module().data["aws_iam_policy_document"].items():
        for statement in document.get("statement", []):
            yield name, statement


def test_iam_policies_name_specific_resources() -> None:
    for name, statement in policy_statements():
        actions = set(statement.get("actions", []))
        assert not any(action.endswith("*") for action in actions), (name, actions)
        for resource in statement.get("resources", []):
            if resource == "*":
                assert actions <= AWS_REQUIRES_STAR, f"{name}: {actions} on '*'"
                assert statement.get("__comments__"), f"{name}: '*' without a comment saying why"
            elif "*" in resource:
                # Only a suffix within a named resource: log streams of a group, task revisions.
                assert resource.endswith(":*"), (name, resource)
                assert "${" in resource, (name, resource)
    pass_role = [s for _, s in policy_statements() if "iam:PassRole" in s.get("actions", [])]
    assert len(pass_role) == 1
    assert pass_role[0]["resources"] == ["${aws_iam_role.downloader_execution.arn}"]
    assert pass_role[0]["condition"][0]["variable"] == "iam:PassedToService"
    run_task = [s for _, s in policy_statements() if "ecs:RunTask" in s.get("actions", [])]
    assert len(run_task) == 1
    assert run_task[0]["resources"][0].endswith("task-definition/${local.downloader_family}:*")
    assert run_task[0]["condition"][0]["variable"] == "ecs:cluster"
    # Every policy is a policy document (so the checks above see it); no managed policies.
    for kind in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment", "aws_iam_policy"):
        assert kind not in module().resources
    for body in module().resources["aws_iam_role_policy"].values():
        assert re.fullmatch(
            r"\$\{data\.aws_iam_policy_document\.\w+(\[each\.key\])?\.json\}", body["policy"]
        )
    for body in module().resources["aws_iam_role"].values():
        assert re.fullmatch(
            r"\$\{data\.aws_iam_policy_document\.\w+\.json\}", body["assume_role_policy"]
        )


def test_checkov_skips_say_why() -> None:
    for name, text in module().texts.items():
        for line in text.splitlines():
            if "checkov:skip" in line:
                found = re.search(r"#checkov:skip=(CKV2?_[A-Z]+_\d+):\s*(.+)", line)
                assert found, f"{name}: {line.strip()}"
                assert len(found.group(2)) >= 40, f"{name}: say why: {line.strip()}"


def test_make_infra_check_scans_for_secrets_too() -> None:
    """checkov's default run includes the secrets framework; ``make infra-check`` must not be the
    narrower of the two (it once ran ``--framework terraform`` alone and missed 5 findings)."""
    recipe = re.search(r"checkov .*--framework ([a-z ]+?) --", (ROOT / "Makefile").read_text())
    assert recipe is not None
    assert set(recipe.group(1).split()) >= {"terraform", "secrets"}


def test_checkov_finds_no_secret_in_the_terraform() -> None:
    """What the secrets framework flagged (names and descriptions of secrets read as secrets) is
    skipped line by line with its reason; anything new it finds fails here."""
    checkov = ROOT / "infra" / ".venv" / "bin" / "checkov"
    if not checkov.exists():
        pytest.skip(
            "infra/.venv has no checkov (make infra-check installs it): secrets NOT scanned"
        )
    result = subprocess.run(
        [checkov, "--directory", TF_DIR, "--framework", "secrets", "--quiet", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


# --- Cloudflare: schema, lifecycle, CORS --------------------------------------------------------


def test_schema_statements_are_idempotent() -> None:
    for statement in schema_statements():
        assert re.match(r"CREATE (UNIQUE )?(TABLE|INDEX) IF NOT EXISTS ", statement.sql), (
            statement.sql.splitlines()[0]
        )


#: What the schema script reads: the fake D1's account, database, token and API base.
SCHEMA_SCRIPT_ENV = {
    "CF_ACCOUNT_ID": d1.ACCOUNT,
    "D1_DATABASE_ID": d1.DATABASE,
    "CLOUDFLARE_API_TOKEN": d1.TOKEN,
    "CF_API_BASE_URL": d1.BASE,
}


def test_schema_script_applies_the_statements_in_one_request_again_and_again(
    tmp_path: Path,
) -> None:
    script = load_script("apply_schema")
    environ = dict(SCHEMA_SCRIPT_ENV)
    with responses.RequestsMock() as mock:
        fake = d1.FakeD1(tmp_path / "d1.sqlite3")  # starts with the schema: re-applying must pass
        fake.install(mock)
        assert script.main(environ) == 0
        assert script.main(environ) == 0
    expected = [s.sql for s in schema_statements()]
    # then nothing to add: the fake has today's schema
    columns = [f"PRAGMA table_info({t})" for t in sorted({t for t, _, _ in ADDED_COLUMNS})]
    sent = [[s["sql"] for s in body.get("batch", [body])] for body in fake.requests]
    assert sent == [expected, columns, expected, columns]
    assert script.main({}) == 2
    resource = module().resource("terraform_data", "d1_schema")
    assert "infra/scripts/apply_schema.py" in resource["provisioner"][0]["local-exec"]["command"]
    assert any("schema.sql" in item for item in resource["triggers_replace"])


def test_the_schema_script_adds_columns_an_existing_d1_database_lacks(tmp_path: Path) -> None:
    """CREATE TABLE IF NOT EXISTS leaves a production jobs table from an older schema.sql alone; a
    write naming a newer column (the downloader's ``servers`` at a job's end) would then fail."""
    script = load_script("apply_schema")
    environ = dict(SCHEMA_SCRIPT_ENV)
    with responses.RequestsMock() as mock:
        fake = d1.FakeD1(tmp_path / "d1.sqlite3")
        fake.install(mock)
        fake.query("ALTER TABLE jobs DROP COLUMN servers")
        fake.query("ALTER TABLE jobs DROP COLUMN notes")
        assert script.main(environ) == 0
        columns = {row["name"] for row in fake.query("PRAGMA table_info(jobs)")}
    assert {"servers", "notes"} <= columns
    assert [s["sql"] for s in fake.requests[-1].get("batch", [])] == [
        "ALTER TABLE jobs ADD COLUMN notes TEXT",
        "ALTER TABLE jobs ADD COLUMN servers TEXT",
    ]


def test_r2_lifecycle_is_a_backstop_and_cors_allows_reads_from_web_origins() -> None:
    rules = module().resource("cloudflare_r2_bucket_lifecycle", "movies")["rules"]
    expire = next(r for r in rules if "delete_objects_transition" in r)
    assert expire["conditions"]["prefix"] == "movies/"
    condition = expire["delete_objects_transition"]["condition"]
    assert condition == {"type": "Age", "max_age": "${var.r2_max_object_age_days * 86400}"}
    assert default("r2_max_object_age_days") * 24 > default("retention_hours")
    abort = next(r for r in rules if "abort_multipart_uploads_transition" in r)
    assert abort["abort_multipart_uploads_transition"]["condition"] == {
        "type": "Age",
        "max_age": 86400,
    }
    cors = module().resource("cloudflare_r2_bucket_cors", "movies")["rules"]
    assert len(cors) == 1
    assert cors[0]["allowed"]["methods"] == ["GET", "HEAD"]
    assert cors[0]["allowed"]["origins"] == "${var.web_origins}"
    # The object keys cleanup deletes and the downloader writes live under the rule's prefix.
    assert movie_object_key("job_1_a", ".mp4").startswith(expire["conditions"]["prefix"])
    pipeline = (ROOT / "downloader" / "pipeline.py").read_text()
    assert "movie_object_key(message.job_id" in pipeline


# --- the downloader task: sizing and networking --------------------------------------------------

#: Fargate CPU units -> memory (MiB) range.
FARGATE_MEMORY = {
    256: (512, 2048),
    512: (1024, 4096),
    1024: (2048, 8192),
    2048: (4096, 16384),
    4096: (8192, 30720),
    8192: (16384, 61440),
    16384: (32768, 122880),
}


def test_downloader_task_is_sized_for_a_4k_release() -> None:
    cpu, memory = default("downloader_cpu"), default("downloader_memory")
    low, high = FARGATE_MEMORY[cpu]
    assert low <= memory <= high
    assert memory % 1024 == 0
    storage = default("downloader_ephemeral_storage_gib")
    assert 21 <= storage <= 200
    # Same formula as local.max_release_gb: 2.5x the release must fit, with room for the image.
    max_release_gb = math.floor((storage - 5) * 1.073741824 / 2.5)
    assert max_release_gb >= 60, "a 4K release (remux) is 40-80 GB"
    formula = "(var.downloader_ephemeral_storage_gib - 5) * 1.073741824 / 2.5"
    assert formula in module().locals["max_release_gb"]
    task = module().resource("aws_ecs_task_definition", "downloader")
    assert task["ephemeral_storage"] == [{"size_in_gib": "${var.downloader_ephemeral_storage_gib}"}]
    assert task["requires_compatibilities"] == ["FARGATE"]
    assert task["network_mode"] == "awsvpc"
    assert "task_role_arn" not in task, "the downloader calls no AWS API: no task role"
    assert module().locals["downloader_work_dir"] == "/data"
    assert "WORK_DIR=/data" in (ROOT / "downloader" / "Dockerfile").read_text()
    assert (
        module().locals["downloader_container"]
        == Settings.model_fields["ECS_CONTAINER_NAME"].default
    )


# --- variables, outputs, the example -------------------------------------------------------------


def test_variables_are_described_and_the_example_sets_the_required_ones() -> None:
    variables = module().variables
    for name, body in variables.items():
        assert len(body.get("description", "")) >= 20, f"variable {name} needs a description"
    for name in ("api_url", "r2_bucket", "jobs_queue_url", "ecs_cluster"):
        assert name in module().outputs
    for name, body in module().outputs.items():
        assert body.get("description"), f"output {name} needs a description"
    example = set(parse_hcl(TF_DIR / "terraform.tfvars.example")) - {"__comments__"}
    assert set(example) <= set(variables)
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= set(example), f"not in the example: {required - set(example)}"
