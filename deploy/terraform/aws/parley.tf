# Parley itself: an IAM role for its pods (S3 and the KMS key, through EKS Pod Identity), its secrets, and the
# Helm chart wired to everything above.

# The database URLs require TLS (sslmode=require: encrypted, never downgraded to plain text; verify-full would also
# need the RDS CA bundle in the image), and rds.force_ssl refuses any connection without it on the server side.
locals {
  chart_path      = coalesce(var.chart_path, "${path.module}/../../helm/parley")
  service_account = "parley"
  database_url    = "postgresql://parley:${random_password.database.result}@${aws_db_instance.this.endpoint}/parley?sslmode=require"
  read_url        = var.db_read_replica ? "postgresql://parley:${random_password.database.result}@${aws_db_instance.read_replica[0].endpoint}/parley?sslmode=require" : ""
  redis_url       = "rediss://:${random_password.redis.result}@${aws_elasticache_replication_group.this.primary_endpoint_address}:6379/0"
  rabbitmq_url    = replace(aws_mq_broker.this.instances[0].endpoints[0], "amqps://", "amqps://parley:${random_password.rabbitmq.result}@")
}

data "aws_iam_policy_document" "pods_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "parley" {
  statement {
    sid       = "Files"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.files.arn}/*"]
  }
  statement {
    sid       = "Bucket"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.files.arn]
  }
  statement {
    # The same key wraps the S3 objects' keys (GenerateDataKey, Decrypt) and, as the key-encryption key of
    # encryption at rest, every user's data key (Encrypt, Decrypt; DescribeKey at start-up).
    sid       = "DataKeys"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.this.arn]
  }
}

resource "aws_iam_role" "parley" {
  name               = "${var.name}-pods"
  assume_role_policy = data.aws_iam_policy_document.pods_assume.json
}

resource "aws_iam_role_policy" "parley" {
  name   = "parley-files"
  role   = aws_iam_role.parley.id
  policy = data.aws_iam_policy_document.parley.json
}

resource "aws_eks_pod_identity_association" "parley" {
  cluster_name    = aws_eks_cluster.this.name
  namespace       = var.namespace
  service_account = local.service_account
  role_arn        = aws_iam_role.parley.arn
  depends_on      = [aws_eks_addon.pod_identity]
}

resource "random_password" "jwt" {
  length  = 64
  special = false
}

resource "random_password" "admin" {
  length  = 24
  special = false
}

# The secrets land in the Terraform state (keep it encrypted, e.g. an S3 backend with this module's KMS key) and
# in the chart's Kubernetes Secret (encrypted in etcd). To keep them out of the state, put them in AWS Secrets
# Manager yourself and use the chart's externalSecrets values instead (README, "Deploy").
resource "helm_release" "parley" {
  name             = "parley"
  chart            = local.chart_path
  namespace        = var.namespace
  create_namespace = true
  # The migration hook and the rollout together; a failed upgrade rolls back.
  timeout         = 900
  atomic          = true
  wait            = true
  cleanup_on_fail = true

  values = compact([var.extra_values])

  set {
    name  = "image.repository"
    value = var.image_repository
  }
  set {
    name  = "image.tag"
    value = var.image_tag
  }
  set {
    name  = "serviceAccount.name"
    value = local.service_account
  }
  set {
    name  = "s3.bucket"
    value = aws_s3_bucket.files.bucket
  }
  set {
    name  = "s3.region"
    value = var.region
  }
  # Encryption at rest: users' data keys wrapped by the KMS key (a pod's data dir does not last, so no key file).
  set {
    name  = "crypto.provider"
    value = "aws-kms"
  }
  set {
    name  = "crypto.kmsKeyId"
    value = aws_kms_key.this.arn
  }
  set {
    name  = "auth.adminEmail"
    value = var.admin_email
  }
  set {
    name  = "ingress.enabled"
    value = "true"
  }
  set {
    name  = "ingress.className"
    value = var.ingress_class
  }
  set {
    name  = "ingress.host"
    value = var.hostname
  }
  set {
    name  = "ingress.tls.secretName"
    value = var.tls_secret_name
  }
  set {
    name  = "autoscaling.minReplicas"
    value = tostring(var.autoscaling.min_replicas)
  }
  set {
    name  = "autoscaling.maxReplicas"
    value = tostring(var.autoscaling.max_replicas)
  }
  set {
    name  = "autoscaling.activeStreamsPerPod"
    value = tostring(var.autoscaling.active_streams_per_pod)
  }

  set_sensitive {
    name  = "database.url"
    value = local.database_url
  }
  set_sensitive {
    name  = "database.readUrl"
    value = local.read_url
  }
  set_sensitive {
    name  = "redis.url"
    value = local.redis_url
  }
  set_sensitive {
    name  = "rabbitmq.url"
    value = local.rabbitmq_url
  }
  set_sensitive {
    name  = "auth.jwtSecret"
    value = random_password.jwt.result
  }
  set_sensitive {
    name  = "auth.adminPassword"
    value = random_password.admin.result
  }

  depends_on = [aws_eks_node_group.parley, aws_eks_pod_identity_association.parley]
}
