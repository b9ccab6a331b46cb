# Erasure (docs/erasure.md): the key of the erasure log's hashes. The secret
# is created without a value, so the value is never in Terraform's state:
# the first `forget` gives it one (GetRandomPassword). Losing or changing it
# would let forgotten keys back in at the next rebuild, so it is never
# rotated, and deleting it waits the longest recovery window.

resource "aws_secretsmanager_secret" "erasure_key" {
  #checkov:skip=CKV2_AWS_57:Rotating the key would make every hash in the erasure log unrecognisable, and forgotten keys would come back; the pipeline refuses a log hashed with another key.
  name                    = "${local.name}-erasure-key"
  description             = "tidemark ${var.pipeline_name} (${var.environment}): the key of the erasure log's hashes. Never rotate nor delete it."
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = 30
  tags                    = local.tags

  lifecycle {
    prevent_destroy = true
  }
}
