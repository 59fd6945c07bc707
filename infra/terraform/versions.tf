# Providers. The provider requirements (aws, cloudflare, null) are in chalice_override.tf: a module
# may have only one required_providers block, and chalice.tf.json (`make package`) brings one whose
# old pins the override must replace anyway.
terraform {
  required_version = ">= 1.5.0"
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge({ app = var.name, stage = var.stage }, var.tags)
  }
}

# Authenticates with the CLOUDFLARE_API_TOKEN environment variable (D1 Edit, Workers Scripts Edit for
# the D1 gateway, and R2 Admin for the bucket, its lifecycle and CORS). Never put it in a .tfvars file.
provider "cloudflare" {}
