# The D1 gateway Worker (infra/d1-gateway/worker.js): the job store's D1 path past the Cloudflare API
# budget. Every REST call counts against 1,200 requests / 5 min per user (shared by all of that user's
# tokens); the Worker's D1 binding does not. It answers the REST /query envelope, so the services only
# change CF_API_BASE_URL (local.d1_api_base_url) and CF_API_TOKEN (the d1_gateway_token secret).
#
# The Worker's GATEWAY_TOKEN secret is put once outside Terraform (README "Deploy"), like every other
# credential, and kept across uploads by keep_bindings: its value never reaches a .tfvars file or the
# state. The allow-list (ALLOWED_SQL) is generated from chalicelib/adapters/store by `make package`.
# schema.sql is still applied over the REST API (cloudflare.tf): DDL is not on the allow-list.

resource "cloudflare_workers_script" "d1_gateway" {
  count = var.d1_gateway ? 1 : 0

  account_id         = var.cloudflare_account_id
  script_name        = local.d1_gateway_name
  main_module        = "worker.js"
  content_file       = "${path.module}/../d1-gateway/worker.js"
  content_sha256     = filesha256("${path.module}/../d1-gateway/worker.js")
  compatibility_date = "2026-04-01"

  bindings = [
    {
      type = "d1"
      name = "DB"
      id   = cloudflare_d1_database.jobs.id
    },
    {
      type = "json"
      name = "ALLOWED_SQL"
      json = file("${path.module}/d1_gateway_allowlist.json")
    },
  ]
  # GATEWAY_TOKEN (secret_text) is not declared here: declaring it would put its value in the state.
  keep_bindings = ["secret_text"]

  lifecycle {
    precondition {
      condition     = var.d1_gateway_url != null || var.workers_subdomain != null
      error_message = "d1_gateway = true needs workers_subdomain (the account's workers.dev subdomain) or d1_gateway_url."
    }
  }
}

# Serve it on <script>.<workers_subdomain>.workers.dev (unless d1_gateway_url names a route of yours).
resource "cloudflare_workers_script_subdomain" "d1_gateway" {
  count = var.d1_gateway && var.d1_gateway_url == null ? 1 : 0

  account_id       = var.cloudflare_account_id
  script_name      = cloudflare_workers_script.d1_gateway[0].script_name
  enabled          = true
  previews_enabled = false
}
