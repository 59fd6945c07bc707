# Alarms, the SNS topic they notify, and the dashboard (README "Operating it" says what each figure
# means and what to do). Application metrics are the EMF lines chalicelib/metrics.py prints, in
# var.metrics_namespace; Powertools adds the dimension service = local.service to every one of them,
# so each metric below names its full dimension set. tests/test_infra.py checks every metric name
# and dimension set against what the code emits.

resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26: CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key, and alarm notifications carry no secrets
  name = "${local.name}-alarms"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# --- downloader tasks that died without recording why ------------------------------------------
# A failing job exits 1 after marking itself failed (and counting JobsFailed). Anything else that
# stops a task (exit 2 = misconfigured, 137 = out of memory, an image that cannot be pulled) leaves
# the job to the stale rule: EventBridge copies those task events, with ECS's stoppedReason, to a
# log group (stopped tasks are only describable for about an hour), and a metric filter counts them.

resource "aws_cloudwatch_log_group" "downloader_crashes" {
  #checkov:skip=CKV_AWS_158: ECS task state events carry no secrets (secrets are injected by reference); the default CloudWatch Logs encryption is enough
  #checkov:skip=CKV_AWS_338: operational events kept log_retention_days (30 by default); a year would only add cost
  name              = "/aws/events/${local.name}/downloader-crashes"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_event_rule" "downloader_crashed" {
  name        = "${local.name}-downloader-crashed"
  description = "Downloader tasks that stopped with an exit code other than 0 (ready) or 1 (job failed and recorded), or never started"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [aws_ecs_cluster.downloader.arn]
      lastStatus = ["STOPPED"]
      "$or" = [
        { containers = { exitCode = [{ "anything-but" = [0, 1] }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    }
  })
}

resource "aws_cloudwatch_event_target" "downloader_crashed" {
  rule      = aws_cloudwatch_event_rule.downloader_crashed.name
  target_id = "crash-log"
  arn       = aws_cloudwatch_log_group.downloader_crashes.arn
}

data "aws_iam_policy_document" "events_to_crash_log" {
  statement {
    sid       = "EventBridgeWritesCrashLog"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.downloader_crashes.arn}:*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "delivery.logs.amazonaws.com"]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "events_to_crash_log" {
  policy_name     = "${local.name}-events-to-crash-log"
  policy_document = data.aws_iam_policy_document.events_to_crash_log.json
}

resource "aws_cloudwatch_log_metric_filter" "downloader_crashes" {
  name           = "${local.name}-downloader-crashes"
  log_group_name = aws_cloudwatch_log_group.downloader_crashes.name
  pattern        = "{ $.detail.lastStatus = \"STOPPED\" }"

  metric_transformation {
    name      = "DownloaderTaskCrashes"
    namespace = var.metrics_namespace
    value     = "1"
    unit      = "Count"
  }
}

# --- alarms -------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  alarm_name          = "${local.name}-jobs-dlq-not-empty"
  alarm_description   = "Job messages whose dispatch kept failing are in the DLQ. Read them (job_id inside); RunTask errors are in the dispatcher's log; the stale rule fails the job."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.jobs_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "jobs_failing" {
  alarm_name          = "${local.name}-jobs-failing"
  alarm_description   = "Downloader jobs failed for a cause an operator can fix (JobsFailed by error_class: ${join(", ", var.alarm_job_failure_classes)}). See the job's error_message, README \"Operating it\"."
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  dynamic "metric_query" {
    for_each = var.alarm_job_failure_classes
    content {
      id = "c${metric_query.key}"
      metric {
        namespace   = var.metrics_namespace
        metric_name = "JobsFailed"
        dimensions  = { error_class = metric_query.value, service = local.service }
        period      = 900
        stat        = "Sum"
      }
    }
  }

  metric_query {
    id          = "failed"
    expression  = "SUM(FILL(METRICS(), 0))"
    label       = "jobs failed (alarmed classes)"
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "downloader_crashes" {
  alarm_name          = "${local.name}-downloader-crashes"
  alarm_description   = "Downloader tasks stopped without recording a failure (misconfigured, out of memory, image pull, no capacity). The ECS event with stoppedReason is in ${aws_cloudwatch_log_group.downloader_crashes.name}."
  namespace           = var.metrics_namespace
  metric_name         = "DownloaderTaskCrashes"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${local.name}-api-5xx-rate"
  alarm_description   = "More than ${var.api_5xx_rate_percent}% of API requests answered 5xx (API Gateway's count, which includes Lambda timeouts and crashes). ApiErrors by code says which upstream."
  threshold           = var.api_5xx_rate_percent
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5XXError"
      dimensions  = { ApiName = local.name, Stage = local.api_stage }
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = { ApiName = local.name, Stage = local.api_stage }
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id          = "rate"
    expression  = "IF(requests >= ${var.api_5xx_min_requests}, 100 * errors / requests, 0)"
    label       = "5xx % of requests"
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "d1_throttled" {
  alarm_name          = "${local.name}-d1-throttled"
  alarm_description   = "Cloudflare answered 429 to D1 calls. On the REST API (d1_gateway = false): the user's 1,200 requests / 5 min (shared by all that user's tokens) are spent and every call is blocked for 5 minutes; raise job_cache_seconds or turn d1_gateway on. Through the gateway: the Workers plan's request limit."
  namespace           = var.metrics_namespace
  metric_name         = "UpstreamThrottled"
  dimensions          = { target = "d1", outcome = "429", service = local.service }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "cleanup_failing" {
  alarm_name          = "${local.name}-cleanup-failing"
  alarm_description   = "Hourly cleanup could not delete movies (CleanupFailures) or crashed, ${var.cleanup_alarm_hours} hours in a row: check R2 credentials/permissions and the cleanup log. The bucket lifecycle rule is the backstop."
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = var.cleanup_alarm_hours
  datapoints_to_alarm = var.cleanup_alarm_hours
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id = "failures"
    metric {
      namespace   = var.metrics_namespace
      metric_name = "CleanupFailures"
      dimensions  = { service = local.service }
      period      = 3600
      stat        = "Sum"
    }
  }

  metric_query {
    id = "crashes"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = local.lambda_functions.cleanup }
      period      = 3600
      stat        = "Sum"
    }
  }

  metric_query {
    id          = "failing"
    expression  = "FILL(failures, 0) + FILL(crashes, 0)"
    label       = "cleanup failures + crashed runs"
    return_data = true
  }
}

# --- the dashboard ------------------------------------------------------------------------------
# Metric arrays are [namespace, name, dimension, value, ..., {options}]; SEARCH expressions list the
# exact dimension set ({namespace,dim,...}) because a CloudWatch metric is one per dimension set.

locals {
  dashboard_widgets = [
    {
      type   = "text"
      width  = 24
      height = 2
      properties = {
        markdown = "## ${local.name}\nWhat each figure means and what to do when it moves: README \"Operating it\". Job counts, storage in use and time-to-ready percentiles: `GET /api/movies-on-demand/stats`. Logs: filter on `job_id`, `movie_id` or `request_id`."
      }
    },
    {
      type   = "alarm"
      width  = 24
      height = 3
      properties = {
        title = "Alarms"
        alarms = [
          aws_cloudwatch_metric_alarm.dlq_not_empty.arn,
          aws_cloudwatch_metric_alarm.jobs_failing.arn,
          aws_cloudwatch_metric_alarm.downloader_crashes.arn,
          aws_cloudwatch_metric_alarm.api_5xx_rate.arn,
          aws_cloudwatch_metric_alarm.d1_throttled.arn,
          aws_cloudwatch_metric_alarm.cleanup_failing.arn,
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "API requests and errors (API Gateway)"
        region = var.aws_region
        view   = "timeSeries"
        period = 300
        stat   = "Sum"
        metrics = [
          ["AWS/ApiGateway", "Count", "ApiName", local.name, "Stage", local.api_stage, { label = "requests" }],
          ["AWS/ApiGateway", "4XXError", "ApiName", local.name, "Stage", local.api_stage, { label = "4xx" }],
          ["AWS/ApiGateway", "5XXError", "ApiName", local.name, "Stage", local.api_stage, { label = "5xx" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "ApiErrors by route, status and code"
        region = var.aws_region
        view   = "timeSeries"
        period = 300
        metrics = [
          [{ id = "apierrors", expression = "SEARCH('{${var.metrics_namespace},code,route,service,status} MetricName=\"ApiErrors\"', 'Sum', 300)", label = "" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "ApiRequests by route, status and code"
        region = var.aws_region
        view   = "timeSeries"
        period = 300
        metrics = [
          [{ id = "apirequests", expression = "SEARCH('{${var.metrics_namespace},code,route,service,status} MetricName=\"ApiRequests\"', 'Sum', 300)", label = "" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "ApiLatency p95 (ms) by route"
        region = var.aws_region
        view   = "timeSeries"
        period = 300
        metrics = [
          [{ id = "apilatency", expression = "SEARCH('{${var.metrics_namespace},code,route,service,status} MetricName=\"ApiLatency\"', 'p95', 300)", label = "" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "UpstreamCalls by target and outcome"
        region = var.aws_region
        view   = "timeSeries"
        period = 300
        metrics = [
          [{ id = "upstreamcalls", expression = "SEARCH('{${var.metrics_namespace},outcome,service,target} MetricName=\"UpstreamCalls\"', 'Sum', 300)", label = "" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "UpstreamLatency p95 (ms) by target and outcome"
        region = var.aws_region
        view   = "timeSeries"
        period = 300
        metrics = [
          [{ id = "upstreamlatency", expression = "SEARCH('{${var.metrics_namespace},outcome,service,target} MetricName=\"UpstreamLatency\"', 'p95', 300)", label = "" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "UpstreamThrottled (429s) by target: d1 is the Cloudflare API budget"
        region = var.aws_region
        view   = "timeSeries"
        period = 300
        metrics = [
          [{ id = "throttled", expression = "SEARCH('{${var.metrics_namespace},outcome,service,target} MetricName=\"UpstreamThrottled\"', 'Sum', 300)", label = "" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Jobs: created, ready and failed by error_class (per hour)"
        region = var.aws_region
        view   = "timeSeries"
        period = 3600
        metrics = [
          [var.metrics_namespace, "JobsCreated", "service", local.service, { stat = "Sum", label = "created" }],
          [var.metrics_namespace, "JobsReady", "service", local.service, { stat = "Sum", label = "ready" }],
          [{ id = "failed", expression = "SEARCH('{${var.metrics_namespace},error_class,service} MetricName=\"JobsFailed\"', 'Sum', 3600)", label = "" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Articles per news server by outcome: fetched, missing, corrupt (per hour)"
        region = var.aws_region
        view   = "timeSeries"
        period = 3600
        metrics = [
          [{ id = "serverarticles", expression = "SEARCH('{${var.metrics_namespace},outcome,server,service} MetricName=\"ServerArticles\"', 'Sum', 3600)", label = "" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Bytes and throughput per news server (per hour)"
        region = var.aws_region
        view   = "timeSeries"
        period = 3600
        metrics = [
          [{ id = "serverbytes", expression = "SEARCH('{${var.metrics_namespace},server,service} MetricName=\"ServerBytes\"', 'Sum', 3600)", label = "" }],
          [{ id = "serverthroughput", expression = "SEARCH('{${var.metrics_namespace},server,service} MetricName=\"ServerThroughput\"', 'Average', 3600)", label = "" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "TimeToReady (s), fetch to ready"
        region = var.aws_region
        view   = "timeSeries"
        period = 3600
        metrics = [
          [var.metrics_namespace, "TimeToReady", "service", local.service, { stat = "Average", label = "average" }],
          [var.metrics_namespace, "TimeToReady", "service", local.service, { stat = "p95", label = "p95" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Download and upload throughput per job (bytes/s)"
        region = var.aws_region
        view   = "timeSeries"
        period = 3600
        stat   = "Average"
        metrics = [
          [var.metrics_namespace, "DownloadThroughput", "service", local.service, { label = "download" }],
          [var.metrics_namespace, "UploadThroughput", "service", local.service, { label = "upload" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Storage trend: bytes downloaded vs freed by cleanup (per day)"
        region = var.aws_region
        view   = "timeSeries"
        period = 86400
        stat   = "Sum"
        metrics = [
          [var.metrics_namespace, "DownloadBytes", "service", local.service, { label = "downloaded" }],
          [var.metrics_namespace, "BytesFreed", "service", local.service, { label = "freed" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Hourly cleanup"
        region = var.aws_region
        view   = "timeSeries"
        period = 3600
        stat   = "Sum"
        metrics = [
          [var.metrics_namespace, "CleanupDeleted", "service", local.service, { label = "movies deleted" }],
          [var.metrics_namespace, "StaleJobs", "service", local.service, { label = "stale jobs failed" }],
          [var.metrics_namespace, "CleanupFailures", "service", local.service, { label = "failures" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Service size (hourly, from cleanup)"
        region = var.aws_region
        view   = "timeSeries"
        period = 3600
        stat   = "Maximum"
        metrics = [
          [var.metrics_namespace, "ActiveJobs", "service", local.service, { label = "active jobs" }],
          [var.metrics_namespace, "MoviesReady", "service", local.service, { label = "movies ready" }],
          [var.metrics_namespace, "BytesStored", "service", local.service, { label = "bytes stored", yAxis = "right" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Job queue"
        region = var.aws_region
        view   = "timeSeries"
        period = 300
        stat   = "Maximum"
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.jobs.name, { label = "waiting" }],
          ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", aws_sqs_queue.jobs.name, { label = "oldest (s)", yAxis = "right" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.jobs_dlq.name, { label = "in DLQ" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 12
      height = 6
      properties = {
        title  = "Lambda errors and throttles; downloader crashes"
        region = var.aws_region
        view   = "timeSeries"
        period = 300
        stat   = "Sum"
        metrics = [
          ["AWS/Lambda", "Errors", "FunctionName", local.lambda_functions.api_handler, { label = "API errors" }],
          ["AWS/Lambda", "Errors", "FunctionName", local.lambda_functions.dispatch_jobs, { label = "dispatcher errors" }],
          ["AWS/Lambda", "Errors", "FunctionName", local.lambda_functions.cleanup, { label = "cleanup errors" }],
          ["AWS/Lambda", "Throttles", "FunctionName", local.lambda_functions.api_handler, { label = "API throttles" }],
          [var.metrics_namespace, "DownloaderTaskCrashes", { label = "downloader crashes" }],
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = local.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
