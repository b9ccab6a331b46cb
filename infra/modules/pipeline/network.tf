# How DMS and the functions reach the AWS APIs from their private subnets
# (docs/aws.md, "Network"). By default through VPC endpoints this module
# creates: an S3 gateway endpoint on the subnets' route tables, and interface
# endpoints (private DNS) for every other API a function or DMS calls, behind
# a security group that admits only their security groups on 443. Egress is
# then scoped to that group and S3's prefix list: nothing leaves for the
# internet. A VPC whose endpoints exist already names their security group
# (create_endpoints = false); a team that routes through NAT says so
# (aws_api_access = "nat"), and egress on 443 is then open to any address.

locals {
  via_endpoints    = var.network.aws_api_access == "endpoints"
  create_endpoints = local.via_endpoints && var.network.create_endpoints

  # The APIs called from inside the VPC, by endpoint service name: every
  # service in iam-actions.json but those the Lambda service itself calls
  # (ec2 for the ENIs, sqs for the dead-letter queue). tests/infra.rs checks
  # the two agree. S3 has its gateway endpoint instead.
  interface_endpoints = ["athena", "dms", "glue", "kms", "logs", "monitoring", "secretsmanager", "sns", "states", "sts", "xray"]

  endpoint_security_group = local.create_endpoints ? aws_security_group.endpoints[0].id : var.network.endpoint_security_group_id

  # Where DMS and the functions may go on 443.
  aws_api_egress = local.via_endpoints ? {
    endpoints = { security_group = local.endpoint_security_group, prefix_list = null, cidr = null }
    s3        = { security_group = null, prefix_list = data.aws_prefix_list.s3.id, cidr = null }
    } : {
    nat = { security_group = null, prefix_list = null, cidr = "0.0.0.0/0" }
  }
}

data "aws_prefix_list" "s3" {
  name = "com.amazonaws.${local.region}.s3"
}

resource "aws_security_group" "endpoints" {
  count       = local.create_endpoints ? 1 : 0
  name        = "${local.name}-endpoints"
  description = "VPC interface endpoints of the AWS APIs: in on 443 from DMS and the functions only"
  vpc_id      = var.network.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "endpoints" {
  for_each = local.create_endpoints ? {
    functions = aws_security_group.functions.id
    dms       = aws_security_group.dms.id
  } : {}
  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the ${each.key} security group"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = local.create_endpoints ? toset(local.interface_endpoints) : toset([])
  vpc_id              = var.network.vpc_id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = var.network.subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  tags                = merge(local.tags, { Name = "${local.name}-${each.key}" })
}

resource "aws_vpc_endpoint" "s3" {
  count             = local.create_endpoints ? 1 : 0
  vpc_id            = var.network.vpc_id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.network.route_table_ids
  tags              = merge(local.tags, { Name = "${local.name}-s3" })
}
