# Cloudflare: the D1 job store (with its schema) and the R2 bucket the movies live in.

resource "cloudflare_d1_database" "jobs" {
  account_id            = var.cloudflare_account_id
  name                  = local.d1_database_name
  primary_location_hint = var.d1_location_hint

  # Queries go over the HTTP API, which always reads from the primary; replicas would not be used.
  read_replication = {
    mode = "disabled"
  }
}

# schema.sql applied with the job store's own D1 client (the statements and HTTP path the test suite
# runs against its D1 stand-in). Every statement is CREATE ... IF NOT EXISTS, so re-applying is safe;
# it runs again whenever schema.sql or the database changes. The token comes from the environment
# (CF_API_TOKEN, else CLOUDFLARE_API_TOKEN), never from the state.
resource "terraform_data" "d1_schema" {
  count = var.apply_d1_schema ? 1 : 0

  triggers_replace = [
    cloudflare_d1_database.jobs.id,
    filesha256("${path.module}/../../schema.sql"),
  ]

  provisioner "local-exec" {
    working_dir = "${path.module}/../.."
    command     = "${var.schema_python} infra/scripts/apply_schema.py"
    environment = {
      CF_ACCOUNT_ID   = var.cloudflare_account_id
      D1_DATABASE_ID  = cloudflare_d1_database.jobs.id
      CF_API_BASE_URL = var.cf_api_base_url
    }
  }
}

resource "cloudflare_r2_bucket" "movies" {
  account_id   = var.cloudflare_account_id
  name         = local.r2_bucket_name
  jurisdiction = var.r2_jurisdiction
  location     = var.r2_location
}

# Backstops behind hourly cleanup: movies/ objects never outlive r2_max_object_age_days, and
# multipart uploads a crashed downloader left behind are aborted after a day (R2's default is 7).
# This resource owns the bucket's whole rule set.
resource "cloudflare_r2_bucket_lifecycle" "movies" {
  account_id   = var.cloudflare_account_id
  bucket_name  = cloudflare_r2_bucket.movies.name
  jurisdiction = var.r2_jurisdiction

  rules = [
    {
      id      = "expire-movies"
      enabled = true
      conditions = {
        prefix = "movies/"
      }
      delete_objects_transition = {
        condition = {
          type    = "Age"
          max_age = var.r2_max_object_age_days * 86400 # seconds
        }
      }
    },
    {
      id      = "abort-incomplete-multipart-uploads"
      enabled = true
      conditions = {
        prefix = ""
      }
      abort_multipart_uploads_transition = {
        condition = {
          type    = "Age"
          max_age = 86400 # seconds
        }
      }
    },
  ]
}

# Players on the configured web origins may GET/HEAD (Range included) the presigned stream URLs.
resource "cloudflare_r2_bucket_cors" "movies" {
  count = length(var.web_origins) > 0 ? 1 : 0

  account_id   = var.cloudflare_account_id
  bucket_name  = cloudflare_r2_bucket.movies.name
  jurisdiction = var.r2_jurisdiction

  rules = [
    {
      id = "stream-from-web-origins"
      allowed = {
        methods = ["GET", "HEAD"]
        origins = var.web_origins
        headers = ["Range"]
      }
      expose_headers  = ["Accept-Ranges", "Content-Length", "Content-Range", "Content-Type", "ETag"]
      max_age_seconds = 3600
    },
  ]
}
