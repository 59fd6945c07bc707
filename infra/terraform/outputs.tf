output "api_url" {
  description = "Base URL of the API (append /health, /search, ...). The stage is `api` and every route starts with /api/movies-on-demand."
  value       = "https://${aws_api_gateway_rest_api.rest_api.id}.execute-api.${var.aws_region}.amazonaws.com/${local.api_stage}/api/movies-on-demand"
}

output "r2_bucket" {
  description = "R2 bucket holding the movies (movies/{job_id}/movie.{ext})."
  value       = cloudflare_r2_bucket.movies.name
}

output "r2_endpoint" {
  description = "S3 endpoint of the bucket (for aws s3 --endpoint-url, e.g. to empty it before destroy)."
  value       = local.r2_endpoint
}

output "d1_database_id" {
  description = "D1 database UUID (D1_DATABASE_ID)."
  value       = cloudflare_d1_database.jobs.id
}

output "d1_gateway_url" {
  description = "Base URL of the D1 gateway Worker (the services' CF_API_BASE_URL); null on the REST fallback. Put its GATEWAY_TOKEN once (README \"Deploy\")."
  value       = var.d1_gateway ? local.d1_gateway_url : null
}

output "d1_gateway_script" {
  description = "Script name of the D1 gateway Worker (for `PUT .../workers/scripts/<name>/secrets`); null on the REST fallback."
  value       = var.d1_gateway ? cloudflare_workers_script.d1_gateway[0].script_name : null
}

output "jobs_queue_url" {
  description = "URL of the job queue."
  value       = aws_sqs_queue.jobs.url
}

output "jobs_dlq_url" {
  description = "URL of the job queue's dead-letter queue."
  value       = aws_sqs_queue.jobs_dlq.url
}

output "ecs_cluster" {
  description = "ECS cluster the downloader tasks run in."
  value       = aws_ecs_cluster.downloader.name
}

output "downloader_task_family" {
  description = "Task definition family of the downloader (the dispatcher runs its latest revision)."
  value       = aws_ecs_task_definition.downloader.family
}

output "ecr_repository_url" {
  description = "ECR repository to push the downloader image to."
  value       = aws_ecr_repository.downloader.repository_url
}

output "secret_ids" {
  description = "Secrets Manager secret names by credential: set each value with `aws secretsmanager put-secret-value --secret-id <name> --secret-string ...`."
  value       = { for key, secret in aws_secretsmanager_secret.app : key => secret.name }
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify (add subscriptions beyond alarm_email here)."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_url" {
  description = "The CloudWatch dashboard."
  value       = "https://${var.aws_region}.console.aws.amazon.com/cloudwatch/home?region=${var.aws_region}#dashboards/dashboard/${aws_cloudwatch_dashboard.main.dashboard_name}"
}
