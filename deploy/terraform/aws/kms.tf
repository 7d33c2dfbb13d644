# One customer-managed key per deployment (and so per region): it encrypts the bucket, the database's storage
# and snapshots, the Redis data at rest and Kubernetes Secrets in etcd.
resource "aws_kms_key" "this" {
  description             = "Parley ${var.name}: files, database, cache and Kubernetes secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
