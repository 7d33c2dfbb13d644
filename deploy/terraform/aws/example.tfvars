# terraform -chdir=deploy/terraform/aws apply -var-file=example.tfvars  (copy it and fill in your values)
name               = "parley-eu"
region             = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
image_repository   = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/parley"
image_tag          = "0.1.0"
hostname           = "chat.example.com"
admin_email        = "admin@example.com"
db_read_replica    = true
