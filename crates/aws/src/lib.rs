//! tidemark on AWS: the adapters of the ports (S3, Athena, Glue, SNS, DMS),
//! the Lambda runtime glue the six functions share, reruns through Step
//! Functions, and the table of AWS actions each function may call
//! ([`permissions`], from which the IAM roles are generated).

pub mod athena;
pub mod backend;
pub mod dms;
pub mod error;
pub mod glue;
pub mod lambda;
pub mod metering;
pub mod permissions;
pub mod s3;
pub mod secrets;
pub mod sfn;
pub mod sns;
pub mod source;

pub use backend::{AwsBackend, AwsEnv, EveryPort, Needs, PortSet, SetupError};
