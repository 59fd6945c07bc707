# The downloader: an ECS Fargate task per job (`python -m downloader run`), started by the dispatcher
# Lambda with RunTask. Image from downloader/Dockerfile, pushed to the ECR repository below.

resource "aws_ecr_repository" "downloader" {
  #checkov:skip=CKV_AWS_136: AES-256 at rest is enough for an image built from public software; a KMS key would add a key policy the task execution role must follow
  name                 = "${local.name}-downloader"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.ecr_force_delete

  image_scanning_configuration {
    scan_on_push = true
  }
}

resource "aws_ecr_lifecycle_policy" "downloader" {
  repository = aws_ecr_repository.downloader.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the 10 newest images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 10
      }
      action = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "downloader" {
  name = "${local.name}-downloader"

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
}

resource "aws_cloudwatch_log_group" "downloader" {
  #checkov:skip=CKV_AWS_158: log lines are scrubbed of every secret (chalicelib/logs.py); the default CloudWatch Logs encryption is enough and a KMS key would need a key policy for the logs service
  #checkov:skip=CKV_AWS_338: operational logs and EMF metrics, kept log_retention_days (30 by default); a year would only add cost
  name              = "/ecs/${local.name}/downloader"
  retention_in_days = var.log_retention_days
}

# Tasks only connect out: HTTPS (ECR, Secrets Manager, CloudWatch Logs, Cloudflare, the indexer) and
# the Usenet ports. Nothing connects in.
resource "aws_security_group" "downloader" {
  #checkov:skip=CKV2_AWS_5: attached at run time: the dispatcher passes it to RunTask (ECS_SECURITY_GROUPS)
  name        = "${local.name}-downloader"
  description = "Downloader tasks: outbound HTTPS and NNTP only"
  vpc_id      = data.aws_subnet.downloader.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "downloader" {
  for_each = toset([for port in distinct(concat([443], var.nntp_ports)) : tostring(port)])

  security_group_id = aws_security_group.downloader.id
  description       = "outbound TCP ${each.value}"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
  cidr_ipv4         = "0.0.0.0/0"
}

data "aws_subnet" "downloader" {
  id = var.subnet_ids[0]
}

# --- the execution role: what ECS itself needs to start the task ---------------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "downloader_execution" {
  name               = "${local.name}-downloader-execution"
  description        = "ECS pulls the downloader image, writes its logs and injects its secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "downloader_execution" {
  statement {
    sid     = "EcrLogin"
    actions = ["ecr:GetAuthorizationToken"]
    # AWS requires "*": ecr:GetAuthorizationToken has no resource-level permissions.
    resources = ["*"]
  }
  statement {
    sid       = "PullDownloaderImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.downloader.arn]
  }
  statement {
    sid       = "WriteTaskLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.downloader.arn}:*"]
  }
  statement {
    sid       = "InjectTaskSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for secret in values(local.secret_settings.downloader) : aws_secretsmanager_secret.app[secret].arn]
  }
}

resource "aws_iam_role_policy" "downloader_execution" {
  name   = "start-downloader"
  role   = aws_iam_role.downloader_execution.id
  policy = data.aws_iam_policy_document.downloader_execution.json
}

# No task role: the downloader makes no AWS API calls (D1 and R2 are Cloudflare, with the credentials
# from its secrets), so its containers get no AWS credentials at all.

# --- the task definition -------------------------------------------------------------------------

locals {
  downloader_container_definition = {
    name      = local.downloader_container
    image     = "${aws_ecr_repository.downloader.repository_url}:${var.downloader_image_tag}"
    essential = true
    # Per job, the dispatcher adds JOB_MESSAGE (and JOB_ID, MOVIE_ID) as container overrides.
    environment = [for name, value in local.downloader_environment : { name = name, value = value }]
    secrets = [
      for name, secret in local.secret_settings.downloader : {
        name      = name
        valueFrom = aws_secretsmanager_secret.app[secret].arn
      }
    ]
    # SIGTERM marks the job stopped (downloader/reporter.py) before ECS kills the container.
    stopTimeout = 60
    # Many NNTP connections per server, plus the upload's.
    ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.downloader.name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "downloader"
      }
    }
  }
}

resource "aws_ecs_task_definition" "downloader" {
  #checkov:skip=CKV_AWS_336: ffmpeg, unar and par2 write temporary files outside WORK_DIR; the container runs as an unprivileged user (uid 10001, downloader/Dockerfile) instead
  family                   = local.downloader_family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.downloader_cpu)
  memory                   = tostring(var.downloader_memory)
  execution_role_arn       = aws_iam_role.downloader_execution.arn

  # Downloads, unpacking and the remuxed file all live in WORK_DIR (/data, created in the image and
  # owned by its user), on the task's ephemeral storage: see downloader_ephemeral_storage_gib.
  ephemeral_storage {
    size_in_gib = var.downloader_ephemeral_storage_gib
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.downloader_cpu_architecture
  }

  container_definitions = jsonencode([local.downloader_container_definition])
}
