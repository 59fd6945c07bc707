# Merged by Terraform into chalice.tf.json, which `make package` generates from app.py with
# `chalice package --pkg-format terraform` (an *_override.tf file is merged last: each argument here
# replaces the generated one, each nested block replaces the generated blocks of its type). Without
# chalice.tf.json in this directory Terraform stops with "Missing base resource for override": run
# `make package` first. tests/test_infra.py checks every block here against the generated file.

# Chalice pins Terraform < 1.4 and the AWS provider < 5; these replace its pins. They are also the
# module's only provider requirements (Terraform allows one required_providers block per module).
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 5.13"
    }
    null = {
      source  = "hashicorp/null"
      version = ">= 3.0, < 4.0"
    }
  }
}

# --- the three functions: names, roles, settings and log groups from this module ----------------
# The environment block replaces Chalice's, so local.lambda_environment carries every variable of
# .chalice/config.json's stage too (STAGE, JOB_STORE, LOG_LEVEL, POWERTOOLS_SERVICE_NAME).

resource "aws_lambda_function" "api_handler" {
  #checkov:skip=CKV_AWS_50: no X-Ray: every request is one JSON log line with its request_id and each upstream call is timed in logs and metrics; X-Ray would need xray:Put* on "*"
  #checkov:skip=CKV_AWS_115: reserved concurrency is left to the account pool (a new account's pool of 10 cannot reserve); API Gateway throttling caps the request rate instead
  #checkov:skip=CKV_AWS_116: invoked synchronously by API Gateway, which returns the error to the caller; a DLQ applies to asynchronous invocations only
  #checkov:skip=CKV_AWS_117: the function calls only public endpoints (TMDB, the indexer, Cloudflare, SQS, Secrets Manager); a VPC would need a NAT gateway and gain nothing
  #checkov:skip=CKV_AWS_173: the environment holds no secret, only secret ARNs and public settings; the values are read from Secrets Manager at cold start
  #checkov:skip=CKV_AWS_272: deployed from the zip `make package` builds in this repository; code signing needs a signing profile outside this stack
  function_name = local.lambda_functions.api_handler
  role          = aws_iam_role.lambda["api_handler"].arn

  environment {
    variables = merge(
      local.lambda_environment, local.lambda_secret_environment.api_handler, local.secrets_extension_environment
    )
  }

  layers = local.lambda_layers

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.lambda["api_handler"].name
  }
}

resource "aws_lambda_function" "dispatch_jobs" {
  #checkov:skip=CKV_AWS_50: no X-Ray: each dispatch is logged with its job_id and RunTask outcome; X-Ray would need xray:Put* on "*"
  #checkov:skip=CKV_AWS_115: concurrency is capped by the SQS event source (scaling_config maximum_concurrency) instead
  #checkov:skip=CKV_AWS_116: invoked by the SQS event source, whose queue has its own DLQ (redrive policy); a function DLQ applies to asynchronous invocations only
  #checkov:skip=CKV_AWS_117: the function calls only public endpoints (Cloudflare D1, ECS, SQS, Secrets Manager); a VPC would need a NAT gateway and gain nothing
  #checkov:skip=CKV_AWS_173: the environment holds no secret, only secret ARNs and public settings; the values are read from Secrets Manager at cold start
  #checkov:skip=CKV_AWS_272: deployed from the zip `make package` builds in this repository; code signing needs a signing profile outside this stack
  function_name = local.lambda_functions.dispatch_jobs
  role          = aws_iam_role.lambda["dispatch_jobs"].arn

  environment {
    variables = merge(
      local.lambda_environment, local.lambda_secret_environment.dispatch_jobs, local.secrets_extension_environment
    )
  }

  layers = local.lambda_layers

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.lambda["dispatch_jobs"].name
  }
}

resource "aws_lambda_function" "cleanup" {
  #checkov:skip=CKV_AWS_50: no X-Ray: each run logs one summary line and emits the Cleanup* metrics; X-Ray would need xray:Put* on "*"
  #checkov:skip=CKV_AWS_115: runs once an hour; reserving concurrency would only take it from the API
  #checkov:skip=CKV_AWS_116: a failed hourly run is retried by the next one (and alarmed on); a DLQ of schedule events would hold nothing to replay
  #checkov:skip=CKV_AWS_117: the function calls only public endpoints (Cloudflare D1 and R2, Secrets Manager); a VPC would need a NAT gateway and gain nothing
  #checkov:skip=CKV_AWS_173: the environment holds no secret, only secret ARNs and public settings; the values are read from Secrets Manager at cold start
  #checkov:skip=CKV_AWS_272: deployed from the zip `make package` builds in this repository; code signing needs a signing profile outside this stack
  function_name = local.lambda_functions.cleanup
  role          = aws_iam_role.lambda["cleanup"].arn

  environment {
    variables = merge(
      local.lambda_environment, local.lambda_secret_environment.cleanup, local.secrets_extension_environment
    )
  }

  layers = local.lambda_layers

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.lambda["cleanup"].name
  }
}

# --- the SQS trigger of the dispatcher ----------------------------------------------------------
# Chalice builds the queue ARN from JOBS_QUEUE_NAME at package time and never sets
# ReportBatchItemFailures, which the dispatcher's partial-batch replies need.
resource "aws_lambda_event_source_mapping" "dispatch_jobs-sqs-event-source" {
  event_source_arn        = terraform_data.dispatcher_permissions.output
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.dispatcher_max_concurrency
  }
}

# --- the hourly cleanup schedule: Chalice names the rule "cleanup-event" in every stage ----------
resource "aws_cloudwatch_event_rule" "cleanup-event" {
  name        = "${local.name}-cleanup"
  description = "Hourly cleanup: delete movies unwatched past retention, fail silent jobs, purge old rows"
}

# --- the REST API: one name per stage (the ApiName dimension the 5xx alarm reads) ----------------
resource "aws_api_gateway_rest_api" "rest_api" {
  name = local.name

  # Should the API ever be replaced, the new one exists before the old one goes (lifecycle settings
  # merge argument by argument with Chalice's).
  lifecycle {
    create_before_destroy = true
  }
}

# --- the API's deployment: a new one whenever the routes or the gateway responses change --------
# Chalice redeploys when its API definition changes (stage_description = md5 of the swagger body, a
# replacing argument). Gateway responses (gateway_responses.tf) reach the stage only through a
# deployment too, so they are hashed in as well; referring to them also makes the first deployment
# wait for them.
resource "aws_api_gateway_deployment" "rest_api" {
  stage_description = md5(jsonencode([
    aws_api_gateway_rest_api.rest_api.body,
    [for answer in aws_api_gateway_gateway_response.contract : [answer.response_type, answer.status_code, answer.response_templates, answer.response_parameters]],
  ]))

  # Chalice's own setting, said again here where checkov looks (CKV_AWS_217): the new deployment is
  # made before the old one goes, so the stage always has one.
  lifecycle {
    create_before_destroy = true
  }
}
