# What the Lambda functions from `make package` (chalice.tf.json) need around them: one IAM role and
# one log group per function, and the API's throttling. chalice_override.tf attaches them.

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_158: log lines are scrubbed of every secret (chalicelib/logs.py); the default CloudWatch Logs encryption is enough and a KMS key would need a key policy for the logs service
  #checkov:skip=CKV_AWS_338: operational logs and EMF metrics, kept log_retention_days (30 by default); a year would only add cost
  for_each = local.lambda_functions

  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  for_each = local.lambda_functions

  name               = each.value
  description        = "Lambda function ${each.value}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# Every function: its own log group, and the secrets of its settings (read at cold start).
data "aws_iam_policy_document" "lambda" {
  for_each = local.lambda_functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"]
  }
  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for secret in values(local.secret_settings[each.key]) : aws_secretsmanager_secret.app[secret].arn]
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.lambda_functions

  name   = "logs-and-secrets"
  role   = aws_iam_role.lambda[each.key].id
  policy = data.aws_iam_policy_document.lambda[each.key].json
}

# The API (POST /fetch) queues jobs.
data "aws_iam_policy_document" "api_queue" {
  statement {
    sid       = "SendJobs"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.jobs.arn]
  }
}

resource "aws_iam_role_policy" "api_queue" {
  name   = "send-jobs"
  role   = aws_iam_role.lambda["api_handler"].id
  policy = data.aws_iam_policy_document.api_queue.json
}

# The dispatcher consumes the queue and starts downloader tasks: RunTask of the downloader family
# only, on its cluster only, passing only the downloader's execution role, and only to ECS tasks.
data "aws_iam_policy_document" "dispatcher" {
  statement {
    sid       = "ConsumeJobs"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [aws_sqs_queue.jobs.arn]
  }
  statement {
    sid       = "StartDownloaderTasks"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:task-definition/${local.downloader_family}:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.downloader.arn]
    }
  }
  statement {
    sid       = "PassDownloaderRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.downloader_execution.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "dispatcher" {
  name   = "consume-jobs-start-tasks"
  role   = aws_iam_role.lambda["dispatch_jobs"].id
  policy = data.aws_iam_policy_document.dispatcher.json
}

# Throttling for the whole stage. The stage itself is created by Chalice's deployment resource.
resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225: responses are per-user (jobs, streams) or already cached in the Lambda and by browsers (Cache-Control); an API Gateway cache is billed per hour
  rest_api_id = aws_api_gateway_rest_api.rest_api.id
  stage_name  = local.api_stage
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.api_throttle_rate_limit
    throttling_burst_limit = var.api_throttle_burst_limit
  }

  depends_on = [aws_api_gateway_deployment.rest_api]
}

# Lambda checks the dispatcher role's SQS permissions when the event source mapping is created, and
# an override cannot add depends_on: the mapping takes the queue ARN from here, after the policies.
resource "terraform_data" "dispatcher_permissions" {
  input      = aws_sqs_queue.jobs.arn
  depends_on = [aws_iam_role_policy.dispatcher, aws_iam_role_policy.lambda]
}
