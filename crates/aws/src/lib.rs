//! tidemark on AWS. For now: the Lambda runtime glue every function binary
//! shares, and the table of AWS actions each function may call
//! ([`permissions`], from which the IAM roles are generated). The AWS adapters
//! of the ports (S3, Athena, Glue, SNS, DMS) land here next; until then the
//! functions run over the local adapters.

pub mod lambda;
pub mod permissions;
