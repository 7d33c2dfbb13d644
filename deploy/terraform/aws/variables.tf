variable "name" {
  description = "Name of this Parley deployment: prefixes every resource (one deployment per region, README \"Multi-region\")."
  type        = string
  default     = "parley"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name: 2-31 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of this deployment; its database, cache, broker, bucket and key stay in it."
  type        = string
}

variable "availability_zones" {
  description = "Availability zones to spread subnets, nodes and the database standby over (at least two)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "availability_zones: at least two, for a Multi-AZ database and nodes in more than one zone."
  }
}

variable "vpc_cidr" {
  description = "Address range of the VPC; each zone gets a public and a private /20 from it."
  type        = string
  default     = "10.40.0.0/16"
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (the chart needs 1.29 or newer)."
  type        = string
  default     = "1.31"
}

variable "node_instance_types" {
  description = "Instance types of the EKS managed node group that runs Parley."
  type        = list(string)
  default     = ["m6i.xlarge"]
}

variable "node_count" {
  description = "Minimum, desired and maximum number of nodes (the HPA adds Parley pods within them)."
  type = object({
    min     = number
    desired = number
    max     = number
  })
  default = { min = 2, desired = 3, max = 10 }
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL 16 database."
  type        = string
  default     = "db.r6g.large"
}

variable "db_allocated_storage_gb" {
  description = "Initial database storage in GB (grows automatically up to ten times this)."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Keep a synchronous standby of the database in another zone (automatic failover)."
  type        = bool
  default     = true
}

variable "db_read_replica" {
  description = "Create a read replica and give Parley its URL as DATABASE_READ_URL (README, \"Read replicas\")."
  type        = bool
  default     = false
}

variable "redis_node_type" {
  description = "ElastiCache node type of the Redis replication group (a primary and a replica)."
  type        = string
  default     = "cache.r7g.large"
}

variable "mq_instance_type" {
  description = "Amazon MQ instance type of the RabbitMQ broker."
  type        = string
  default     = "mq.m5.large"
}

variable "mq_multi_az" {
  description = "Run RabbitMQ as a three-node cluster over the zones instead of a single instance."
  type        = bool
  default     = false
}

variable "image_repository" {
  description = "Container repository of Parley's image (built from deploy/Dockerfile), e.g. an ECR repository URL."
  type        = string
}

variable "image_tag" {
  description = "Tag of Parley's image."
  type        = string
}

variable "chart_path" {
  description = "Path of Parley's Helm chart (deploy/helm/parley in the repository)."
  type        = string
  default     = null
}

variable "namespace" {
  description = "Kubernetes namespace Parley is installed into."
  type        = string
  default     = "parley"
}

variable "hostname" {
  description = "Public host name of Parley (the Ingress host; its TLS certificate is the Secret tls_secret_name)."
  type        = string
}

variable "tls_secret_name" {
  description = "Secret of type kubernetes.io/tls holding the certificate of hostname (e.g. made by cert-manager)."
  type        = string
  default     = "parley-tls"
}

variable "ingress_class" {
  description = "IngressClass of the cluster's ingress controller (the chart sets SSE annotations for nginx)."
  type        = string
  default     = "nginx"
}

variable "admin_email" {
  description = "Email of the first admin, created when the database has no users (the password: output admin_password)."
  type        = string
}

variable "autoscaling" {
  description = "Parley replicas: minimum, maximum, and answers being generated per pod that trigger a scale-up."
  type = object({
    min_replicas           = number
    max_replicas           = number
    active_streams_per_pod = number
  })
  default = { min_replicas = 2, max_replicas = 20, active_streams_per_pod = 40 }
}

variable "extra_values" {
  description = "More Helm values for the chart (YAML), merged after the module's own (e.g. config.models)."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags added to every AWS resource."
  type        = map(string)
  default     = {}
}
