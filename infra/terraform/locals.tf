# Names, and the settings each process gets (chalicelib/settings.py reads them from the environment).
# tests/test_infra.py checks that every setting the code reads is provided here or deliberately left
# to its default, and that credentials only ever travel as secrets.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name       = "${var.name}-${var.stage}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Powertools' service name: the `service` dimension of every metric (chalicelib/logs.py SERVICE).
  service = "movies-on-demand"

  # The API Gateway stage Chalice deploys (.chalice/config.json api_gateway_stage).
  api_stage = "api"

  # Lambda functions Chalice generates, keyed by their resource name in chalice.tf.json (the handler
  # name; the HTTP routes share `api_handler`), with the function names the override gives them.
  lambda_functions = {
    api_handler   = local.name
    cleanup       = "${local.name}-cleanup"
    dispatch_jobs = "${local.name}-dispatch_jobs"
  }

  downloader_family    = "${local.name}-downloader"
  downloader_container = "downloader"
  downloader_work_dir  = "/data"

  d1_database_name = coalesce(var.d1_database_name, local.name)
  d1_gateway_name  = "${local.name}-d1-gateway"
  d1_gateway_url = (
    var.d1_gateway_url != null ? var.d1_gateway_url
    : "https://${local.d1_gateway_name}.${coalesce(var.workers_subdomain, "workers-subdomain-unset")}.workers.dev"
  )
  # Where every process sends its job-store SQL: the gateway Worker, or the REST API (the fallback).
  d1_api_base_url = var.d1_gateway ? local.d1_gateway_url : var.cf_api_base_url

  r2_bucket_name = coalesce(var.r2_bucket_name, local.name)
  r2_endpoint = (
    var.r2_jurisdiction == "default"
    ? "https://${var.cloudflare_account_id}.r2.cloudflarestorage.com"
    : "https://${var.cloudflare_account_id}.${var.r2_jurisdiction}.r2.cloudflarestorage.com"
  )

  # A job needs 2.5x the release on disk; keep ~5 GiB of the ephemeral storage for the image layers.
  max_release_gb = coalesce(var.max_release_gb, floor((var.downloader_ephemeral_storage_gib - 5) * 1.073741824 / 2.5))

  # Settings every process shares: the three Lambda functions and the downloader task.
  shared_environment = {
    STAGE                        = var.stage
    LOG_LEVEL                    = var.log_level
    POWERTOOLS_SERVICE_NAME      = local.service
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    JOB_STORE                    = "d1"
    CF_ACCOUNT_ID                = var.cloudflare_account_id
    D1_DATABASE_ID               = cloudflare_d1_database.jobs.id
    CF_API_BASE_URL              = local.d1_api_base_url
    JOB_CACHE_SECONDS            = tostring(var.job_cache_seconds)
    R2_ENDPOINT_URL              = local.r2_endpoint
    R2_BUCKET                    = cloudflare_r2_bucket.movies.name
    RETENTION_HOURS              = tostring(var.retention_hours)
    MAX_RELEASE_GB               = tostring(local.max_release_gb)
    NZBGEEK_BASE_URL             = var.nzbgeek_base_url
    # The API refuses other notify_urls; the downloader, dispatcher and cleanup check them again
    # when they send.
    NOTIFY_ALLOWED_HOSTS = join(",", var.notify_allowed_hosts)
  }

  # With the Parameters and Secrets extension layer the functions read their secrets over loopback
  # HTTP and never import boto3 for them (chalicelib/settings.py resolve_secret_arns).
  lambda_layers = compact([var.secrets_extension_layer_arn])
  secrets_extension_environment = (
    var.secrets_extension_layer_arn == "" ? {} : { PARAMETERS_SECRETS_EXTENSION_HTTP_PORT = "2773" }
  )

  # The Lambda functions (API, dispatcher, cleanup) add what sending jobs and starting tasks need.
  lambda_environment = merge(local.shared_environment, local.lambda_only_environment)
  lambda_only_environment = {
    CORS_ALLOW_ORIGIN    = var.cors_allow_origin
    TMDB_LANGUAGE        = var.tmdb_language
    DISPATCH             = "sqs"
    JOBS_QUEUE_NAME      = aws_sqs_queue.jobs.name
    JOBS_QUEUE_URL       = aws_sqs_queue.jobs.url
    ECS_CLUSTER          = aws_ecs_cluster.downloader.name
    ECS_TASK_DEFINITION  = local.downloader_family
    ECS_CONTAINER_NAME   = local.downloader_container
    ECS_SUBNETS          = join(",", var.subnet_ids)
    ECS_SECURITY_GROUPS  = aws_security_group.downloader.id
    ECS_ASSIGN_PUBLIC_IP = tostring(var.assign_public_ip)
  }

  # The downloader task adds where it works (the Dockerfile sets the same; explicit here).
  downloader_environment = merge(local.shared_environment, local.downloader_only_environment)
  downloader_only_environment = {
    WORK_DIR = local.downloader_work_dir
  }

  # Credentials, one Secrets Manager secret each (values are set outside Terraform, so they never
  # reach the state). With d1_gateway every process sends the gateway's token. On the REST fallback
  # the D1 token is split by consumer so that a throttled downloader cannot lock the API out: that
  # only helps with account-owned API tokens, which have 1,200 requests / 5 min each; user-owned
  # tokens share their user's 1,200.
  secrets = {
    tmdb_api_key         = "TMDB v4 API read access token (TMDB_API_KEY)"
    nzbgeek_api_key      = "Newznab indexer API key (NZBGEEK_API_KEY)"
    api_keys             = "Comma-separated X-Api-Key values the API accepts (API_KEYS)"
    nntp_servers         = "Usenet servers, nntps://user:pass@host:563?connections=N&priority=P, comma-separated (NNTP_SERVERS)" #checkov:skip=CKV_SECRET_4:the URL format with placeholder credentials, not credentials
    d1_token_api         = "Cloudflare API token with D1 Edit, for the API and dispatcher Lambdas (CF_API_TOKEN)"
    d1_token_cleanup     = "Cloudflare API token with D1 Edit, for hourly cleanup (CF_API_TOKEN)"
    d1_token_downloader  = "Cloudflare API token with D1 Edit, for the downloader tasks (CF_API_TOKEN)"
    d1_gateway_token     = "Bearer token of the D1 gateway Worker, the same value as its GATEWAY_TOKEN secret (CF_API_TOKEN when d1_gateway)"
    r2_access_key_id     = "R2 API token id, Object Read & Write on the bucket (R2_ACCESS_KEY_ID)"
    r2_secret_access_key = "SHA-256 hex of the R2 API token value (R2_SECRET_ACCESS_KEY)"
    notify_secret        = "Key signing the job events sent to notify_urls, shared with their receivers (NOTIFY_SECRET)"
  }

  # Which setting each consumer reads from which secret: least privilege per function and task.
  secret_settings = {
    api_handler = {
      TMDB_API_KEY         = "tmdb_api_key"
      NZBGEEK_API_KEY      = "nzbgeek_api_key"
      API_KEYS             = "api_keys"
      CF_API_TOKEN         = var.d1_gateway ? "d1_gateway_token" : "d1_token_api" #checkov:skip=CKV_SECRET_6:the name of a Secrets Manager secret, not its value
      R2_ACCESS_KEY_ID     = "r2_access_key_id"
      R2_SECRET_ACCESS_KEY = "r2_secret_access_key" #checkov:skip=CKV_SECRET_6:the name of a Secrets Manager secret, not its value
    }
    dispatch_jobs = {
      CF_API_TOKEN  = var.d1_gateway ? "d1_gateway_token" : "d1_token_api" #checkov:skip=CKV_SECRET_6:the name of a Secrets Manager secret, not its value
      NOTIFY_SECRET = "notify_secret"
    }
    cleanup = {
      CF_API_TOKEN         = var.d1_gateway ? "d1_gateway_token" : "d1_token_cleanup" #checkov:skip=CKV_SECRET_6:the name of a Secrets Manager secret, not its value
      R2_ACCESS_KEY_ID     = "r2_access_key_id"
      R2_SECRET_ACCESS_KEY = "r2_secret_access_key" #checkov:skip=CKV_SECRET_6:the name of a Secrets Manager secret, not its value
      NOTIFY_SECRET        = "notify_secret"
    }
    downloader = {
      NZBGEEK_API_KEY      = "nzbgeek_api_key"
      NNTP_SERVERS         = "nntp_servers"
      CF_API_TOKEN         = var.d1_gateway ? "d1_gateway_token" : "d1_token_downloader" #checkov:skip=CKV_SECRET_6:the name of a Secrets Manager secret, not its value
      R2_ACCESS_KEY_ID     = "r2_access_key_id"
      R2_SECRET_ACCESS_KEY = "r2_secret_access_key" #checkov:skip=CKV_SECRET_6:the name of a Secrets Manager secret, not its value
      NOTIFY_SECRET        = "notify_secret"
    }
  }

  # Lambda functions get each secret as <SETTING>_SECRET_ARN and read the value at cold start
  # (see README "Deploy"); the task gets the values injected by ECS from its `secrets`.
  lambda_secret_environment = {
    for function, settings in local.secret_settings : function => {
      for setting, secret in settings : "${setting}_SECRET_ARN" => aws_secretsmanager_secret.app[secret].arn
    } if function != "downloader"
  }
}
