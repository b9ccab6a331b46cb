//! tidemark on AWS. For now: the Lambda runtime glue every function binary
//! shares. The AWS adapters of the ports (S3, Athena, Glue, SNS, DMS) land
//! here next; until then the functions run over the local adapters.

pub mod lambda;
