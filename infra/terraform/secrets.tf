# One Secrets Manager secret per credential (local.secrets). Terraform creates the secrets, never
# their values: put each value with `aws secretsmanager put-secret-value` (README "Deploy"), so no
# credential lands in a .tfvars file or in the state.
resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV_AWS_149: the AWS managed key is enough here: who can decrypt is decided by the per-secret secretsmanager:GetSecretValue grants, and a customer key would add a key policy to keep in step with four roles
  #checkov:skip=CKV2_AWS_57: third-party credentials (TMDB, indexer, Usenet, Cloudflare) cannot be rotated by a rotation Lambda; rotate them at the provider and put the new value
  for_each = local.secrets

  name                    = "${local.name}/${each.key}"
  description             = each.value
  recovery_window_in_days = var.secret_recovery_window_days
}
