# Everything that differs between deployments. terraform.tfvars.example shows a filled-in set.

# --- naming and accounts ------------------------------------------------------------------------

variable "name" {
  description = "Application name: the prefix of every resource name (with the stage). Chalice's app_name in .chalice/config.json."
  type        = string
  default     = "movies-on-demand"
}

variable "stage" {
  description = "Deployment stage; also the Chalice stage `make package` packages (.chalice/config.json stages.<stage>)."
  type        = string
  default     = "prod"
}

variable "aws_region" {
  description = "AWS region for the API, queue, downloader tasks and monitoring."
  type        = string
}

variable "cloudflare_account_id" {
  description = "Cloudflare account id (32 hex characters) that owns the D1 database and the R2 bucket."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.cloudflare_account_id))
    error_message = "cloudflare_account_id must be 32 lower-case hex characters."
  }
}

variable "tags" {
  description = "Extra tags for every AWS resource."
  type        = map(string)
  default     = {}
}

# --- Cloudflare: D1 and R2 ----------------------------------------------------------------------

variable "d1_database_name" {
  description = "D1 database name (default: <name>-<stage>). Changing it replaces the database and loses every job."
  type        = string
  default     = null
}

variable "d1_location_hint" {
  description = "D1 primary location hint (wnam, enam, weur, eeur, apac, oc); null lets Cloudflare choose. Pick the one nearest var.aws_region."
  type        = string
  default     = null
}

variable "apply_d1_schema" {
  description = "Apply schema.sql to D1 during `terraform apply` (infra/scripts/apply_schema.py; idempotent, re-run when schema.sql changes). Needs CLOUDFLARE_API_TOKEN with D1 Edit and the repo's .venv."
  type        = bool
  default     = true
}

variable "schema_python" {
  description = "Python interpreter that runs infra/scripts/apply_schema.py, relative to the repository root (it imports chalicelib)."
  type        = string
  default     = ".venv/bin/python"
}

variable "d1_gateway" {
  description = "Send the job store's SQL through the D1 gateway Worker (infra/d1-gateway), whose D1 binding is outside the Cloudflare API's 1,200 requests / 5 min per user. false: every process calls the REST API (cf_api_base_url) with its own d1_token_* secret."
  type        = bool
  default     = true
}

variable "workers_subdomain" {
  description = "The account's workers.dev subdomain (dashboard: Workers & Pages, Subdomain): the gateway is served at https://<name>-<stage>-d1-gateway.<workers_subdomain>.workers.dev. Needed when d1_gateway is true and d1_gateway_url is null."
  type        = string
  default     = null
}

variable "d1_gateway_url" {
  description = "Base URL of the gateway when you serve it on a route of your own zone instead of workers.dev (the route itself is yours to add); null: the workers.dev URL."
  type        = string
  default     = null
}

variable "r2_bucket_name" {
  description = "R2 bucket for the movies (default: <name>-<stage>)."
  type        = string
  default     = null
}

variable "r2_jurisdiction" {
  description = "R2 jurisdiction of the bucket: default, eu or fedramp (eu/fedramp buckets have their own S3 endpoint, which the services are given)."
  type        = string
  default     = "default"

  validation {
    condition     = contains(["default", "eu", "fedramp"], var.r2_jurisdiction)
    error_message = "r2_jurisdiction must be default, eu or fedramp."
  }
}

variable "r2_location" {
  description = "R2 location hint (apac, eeur, enam, weur, wnam, oc), honoured only when the bucket is created; null lets Cloudflare choose."
  type        = string
  default     = null
}

variable "r2_max_object_age_days" {
  description = "Backstop: the bucket's lifecycle rule deletes every object under movies/ this many days after upload, whatever the job store says (cleanup normally deletes movies after RETENTION_HOURS without a watch). A movie still being watched past this age is gone and its stream answers STORAGE_ERROR."
  type        = number
  default     = 30

  validation {
    condition     = var.r2_max_object_age_days >= 2 && var.r2_max_object_age_days <= 3650
    error_message = "r2_max_object_age_days must be between 2 and 3650."
  }
}

variable "web_origins" {
  description = "Browser origins (scheme://host[:port]) allowed to GET/HEAD stream URLs from the bucket (R2 CORS). Empty: no CORS rule (players on other origins cannot read the video with fetch/XHR; a plain <video src> still works)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.web_origins : can(regex("^https?://[^/]+$", o))])
    error_message = "Each web origin is scheme://host[:port], without a path."
  }
}

# --- service settings (become environment variables; see chalicelib/settings.py) ----------------

variable "retention_hours" {
  description = "RETENTION_HOURS: a ready movie is deleted after this long without being watched."
  type        = number
  default     = 168

  validation {
    condition     = var.retention_hours >= 1 && var.retention_hours <= 8760
    error_message = "retention_hours must be between 1 and 8760 (the settings' bounds)."
  }
}

variable "cors_allow_origin" {
  description = "CORS_ALLOW_ORIGIN for API responses. Pass the same value to `make package CORS_ALLOW_ORIGIN=...`: Chalice bakes it into the API Gateway preflight (OPTIONS) responses at package time."
  type        = string
  default     = "*"
}

variable "tmdb_language" {
  description = "TMDB_LANGUAGE: language of titles and overviews."
  type        = string
  default     = "en-US"
}

variable "nzbgeek_base_url" {
  description = "NZBGEEK_BASE_URL: origin of the Newznab indexer (the API and the downloader fetch NZBs only from it)."
  type        = string
  default     = "https://api.nzbgeek.info"
}

variable "cf_api_base_url" {
  description = "CF_API_BASE_URL when d1_gateway is false: the D1 REST API base (1,200 requests / 5 min per user, shared by that user's tokens). Schema changes always go here."
  type        = string
  default     = "https://api.cloudflare.com/client/v4"
}

variable "job_cache_seconds" {
  description = "JOB_CACHE_SECONDS: in-process cache of job reads (raise it when UpstreamThrottled{target=d1} moves)."
  type        = number
  default     = 3
}

variable "log_level" {
  description = "LOG_LEVEL of the Lambda functions and the downloader."
  type        = string
  default     = "INFO"
}

variable "metrics_namespace" {
  description = "POWERTOOLS_METRICS_NAMESPACE: CloudWatch namespace of the EMF metrics; the dashboard and alarms read it."
  type        = string
  default     = "MoviesOnDemand"
}

variable "secret_recovery_window_days" {
  description = "Days a deleted Secrets Manager secret can be restored (0 deletes at once, e.g. for a throw-away stage)."
  type        = number
  default     = 7
}

# --- API Gateway and Lambda ---------------------------------------------------------------------

variable "secrets_extension_layer_arn" {
  description = "ARN of the AWS Parameters and Secrets Lambda Extension layer for this region and CPU architecture (AWS lists them per region). Set, the functions read their secrets over loopback HTTP and a cold start never imports boto3 for them; empty, they read them with boto3."
  type        = string
  default     = ""

  validation {
    condition     = var.secrets_extension_layer_arn == "" || can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:AWS-Parameters-and-Secrets-Lambda-Extension[A-Za-z0-9-]*:[0-9]+$", var.secrets_extension_layer_arn))
    error_message = "secrets_extension_layer_arn must be an AWS-Parameters-and-Secrets-Lambda-Extension layer version ARN, or empty."
  }
}

variable "api_throttle_rate_limit" {
  description = "API Gateway steady-state limit, requests per second for the whole stage. Every job/stream request costs a D1 call from a budget of ~4/s per token."
  type        = number
  default     = 10
}

variable "api_throttle_burst_limit" {
  description = "API Gateway burst limit (requests)."
  type        = number
  default     = 20
}

variable "dispatcher_max_concurrency" {
  description = "Most concurrent dispatcher Lambdas the SQS event source starts (2-1000): caps parallel RunTask calls and D1 claims."
  type        = number
  default     = 2

  validation {
    condition     = var.dispatcher_max_concurrency >= 2 && var.dispatcher_max_concurrency <= 1000
    error_message = "dispatcher_max_concurrency must be between 2 and 1000 (an SQS event source limit)."
  }
}

variable "log_retention_days" {
  description = "Retention of the Lambda, downloader and task-crash log groups."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

# --- the downloader task (ECS Fargate) ----------------------------------------------------------

variable "downloader_image_tag" {
  description = "Tag of the downloader image in the ECR repository (tags are immutable: push a new tag, e.g. the git commit, for each build)."
  type        = string
}

variable "downloader_cpu" {
  description = "Fargate CPU units of a downloader task (1024 = 1 vCPU). 2 vCPU decode ~1 GB/s of yEnc, run par2 repair and an audio transcode at a useful speed."
  type        = number
  default     = 2048
}

variable "downloader_memory" {
  description = "Fargate memory (MiB) of a downloader task; must pair with downloader_cpu (2048 CPU: 4096-16384). The engine needs ~60 MiB; par2 repair and ffmpeg the rest."
  type        = number
  default     = 4096
}

variable "downloader_ephemeral_storage_gib" {
  description = "Fargate ephemeral storage (21-200 GiB). A job needs 2.5x the release on disk (download + unpack + remux), so 200 GiB takes 4K releases up to ~80 GB; MAX_RELEASE_GB is derived from it."
  type        = number
  default     = 200

  validation {
    condition     = var.downloader_ephemeral_storage_gib >= 21 && var.downloader_ephemeral_storage_gib <= 200
    error_message = "Fargate ephemeral storage is 21-200 GiB."
  }
}

variable "downloader_cpu_architecture" {
  description = "CPU architecture of the downloader image and task: X86_64 or ARM64 (build the image for the same one)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.downloader_cpu_architecture)
    error_message = "downloader_cpu_architecture must be X86_64 or ARM64."
  }
}

variable "max_release_gb" {
  description = "MAX_RELEASE_GB override; null derives it from the ephemeral storage (usable GB / 2.5)."
  type        = number
  default     = null
}

variable "container_insights" {
  description = "Enable ECS Container Insights on the cluster (per-task CPU, memory and storage figures; billed as custom metrics)."
  type        = bool
  default     = true
}

variable "ecr_force_delete" {
  description = "Let `terraform destroy` delete the ECR repository with its images."
  type        = bool
  default     = false
}

# --- networking of the downloader tasks ---------------------------------------------------------

variable "subnet_ids" {
  description = "Subnets (one VPC) the downloader tasks run in. Default layout: public subnets with assign_public_ip = true (no NAT gateway to pay for). With private subnets set assign_public_ip = false and give them a NAT gateway: tasks reach ECR, Secrets Manager, CloudWatch Logs, Cloudflare, the indexer and Usenet over the internet."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1 && length(var.subnet_ids) <= 16
    error_message = "Give 1-16 subnets (an ECS RunTask limit)."
  }
}

variable "assign_public_ip" {
  description = "Give downloader tasks a public IP (true for public subnets; false for private subnets behind NAT)."
  type        = bool
  default     = true
}

variable "nntp_ports" {
  description = "TCP ports the downloader may connect out to for Usenet (NNTP 119, NNTPS 563, and 443 which some providers offer); 443 is always open for HTTPS."
  type        = list(number)
  default     = [119, 443, 563]
}

# --- monitoring ---------------------------------------------------------------------------------

variable "alarm_email" {
  description = "Email address subscribed to the alarm topic (the subscription must be confirmed from the email); null: no subscription."
  type        = string
  default     = null
}

variable "api_5xx_rate_percent" {
  description = "Alarm when more than this percentage of API requests answer 5xx (2 of 3 five-minute periods)."
  type        = number
  default     = 5
}

variable "api_5xx_min_requests" {
  description = "Ignore the 5xx rate in five-minute periods with fewer requests than this."
  type        = number
  default     = 20
}

variable "alarm_job_failure_classes" {
  description = "JobsFailed error classes that page (at most 9): failures an operator can fix. Bad releases (password, no_video, missing_articles, repair, unpack, media) are not on it."
  type        = list(string)
  default     = ["config", "internal", "disk", "storage", "usenet_auth", "usenet", "indexer", "stopped", "dispatch"]

  validation {
    condition     = length(var.alarm_job_failure_classes) >= 1 && length(var.alarm_job_failure_classes) <= 9
    error_message = "A metric math alarm holds at most 10 metrics: give 1-9 classes."
  }
}

variable "cleanup_alarm_hours" {
  description = "Alarm when hourly cleanup has failed (CleanupFailures > 0 or the function errored) this many hours in a row."
  type        = number
  default     = 3
}

variable "notify_allowed_hosts" {
  description = "NOTIFY_ALLOWED_HOSTS: the hosts a fetch's notify_url may name (https only; private addresses are refused whatever is listed). Empty: notifications are off."
  type        = list(string)
  default     = []
}
