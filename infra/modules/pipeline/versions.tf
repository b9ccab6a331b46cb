terraform {
  # 1.9: validations may refer to other variables.
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.90: aws_chatbot_slack_channel_configuration, Lambda logging_config,
      # Step Functions encryption_configuration are all there.
      version = ">= 5.90.0, < 7.0.0"
    }
  }
}
