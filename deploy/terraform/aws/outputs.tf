output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name <this> --region <region>)."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint of the cluster."
  value       = aws_eks_cluster.this.endpoint
}

output "database_endpoint" {
  description = "host:port of the RDS PostgreSQL 16 primary."
  value       = aws_db_instance.this.endpoint
}

output "database_read_endpoint" {
  description = "host:port of the read replica (empty without db_read_replica)."
  value       = var.db_read_replica ? aws_db_instance.read_replica[0].endpoint : ""
}

output "redis_endpoint" {
  description = "Primary endpoint of the ElastiCache Redis replication group (TLS, auth token)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "rabbitmq_endpoint" {
  description = "AMQPS endpoint of the Amazon MQ RabbitMQ broker."
  value       = aws_mq_broker.this.instances[0].endpoints[0]
}

output "files_bucket" {
  description = "S3 bucket of uploaded files (SSE-KMS, versioned)."
  value       = aws_s3_bucket.files.bucket
}

output "kms_key_arn" {
  description = "KMS key of this deployment (bucket, database, cache, Kubernetes secrets)."
  value       = aws_kms_key.this.arn
}

output "url" {
  description = "Where Parley answers once DNS points hostname at the ingress controller's load balancer."
  value       = "https://${var.hostname}"
}

output "admin_password" {
  description = "Password of the first admin (admin_email); change it after the first sign-in."
  value       = random_password.admin.result
  sensitive   = true
}
