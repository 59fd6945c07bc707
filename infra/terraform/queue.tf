# The job queue between POST /fetch and the dispatcher Lambda, with its dead-letter queue.

resource "aws_sqs_queue" "jobs" {
  name = "${local.name}-jobs"

  # Lambda requires at least 6x the consumer's timeout: the dispatcher has 30 s
  # (.chalice/config.json stages.prod.lambda_timeout; tests/test_infra.py keeps them in step).
  visibility_timeout_seconds = 180
  message_retention_seconds  = 345600 # 4 days: a job older than that is long failed as stale
  sqs_managed_sse_enabled    = true

  # A message whose dispatch keeps failing transiently (throttling, no Fargate capacity) is tried
  # five times, then parked in the DLQ; the stale-job rule fails its job.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.jobs_dlq.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue" "jobs_dlq" {
  name                      = "${local.name}-jobs-dlq"
  message_retention_seconds = 1209600 # 14 days, the maximum: time to read what went wrong
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue_redrive_allow_policy" "jobs_dlq" {
  queue_url = aws_sqs_queue.jobs_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.jobs.arn]
  })
}
