//! Which AWS actions each Lambda function may call: the one table the
//! functions' IAM roles are generated from.
//!
//! Each function (named by its `functions/<name>` directory) lists the
//! [`Access`]es it needs: the ports its step uses, each with the actions that
//! port's AWS adapter calls, plus what the Lambda runtime itself needs. The
//! infra test renders [`policy_document`] to
//! `infra/modules/pipeline/iam-actions.json` and fails when the committed file
//! differs; Terraform builds each role's only policy from that file, so a role
//! grants exactly what this table says and nothing else.
//!
//! **Rule for the AWS adapters in this crate:** an adapter calls only the
//! actions listed for its port here. A new SDK call means a new action in
//! [`Access::grants`], then `UPDATE_GOLDEN=1 cargo nextest run -p tidemark-tests --test infra`
//! to regenerate the JSON, then review the diff like any other permission change.
//!
//! Resources are named by [`Resource`]; Terraform maps each name to the ARNs
//! of what it created (`local.iam_arns` in `infra/modules/pipeline/iam.tf`).
//! Only the actions in [`UNSCOPED_ACTIONS`], which support no resource-level
//! permissions, may be granted on [`Resource::Any`] (`*`).

use serde::Serialize;
use std::collections::BTreeMap;
use tidemark_core::steps::Step;

/// Something a policy statement applies to, as Terraform resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// The function's own log group (`…:log-group:/aws/lambda/<fn>`), for its log streams.
    OwnLogStreams,
    /// The customer-managed KMS key that encrypts every bucket, topic, queue, log group and environment.
    DataKey,
    /// The KMS key of the source's credentials secret, when that is not the data key.
    SourceSecretKey,
    /// The rendered `tidemark.toml` in the artifacts bucket.
    ConfigObject,
    /// The landing bucket (the DMS target) itself, for listing.
    LandingBucket,
    /// Objects under the landing bucket's DMS folder.
    LandingObjects,
    /// The lake bucket itself, for listing.
    LakeBucket,
    /// Objects under a prefix of the lake bucket (`metadata/`, `validated/`, …).
    LakeObjects(&'static str),
    /// The Athena results bucket itself.
    ResultsBucket,
    /// Objects in the Athena results bucket.
    ResultsObjects,
    /// The pipeline's Athena workgroup.
    Workgroup,
    /// The account's Glue Data Catalog (every Glue table action also names it).
    GlueCatalog,
    /// The pipeline's Glue database.
    GlueDatabase,
    /// Tables and views in the pipeline's Glue database.
    GlueTables,
    /// The alert topic.
    AlertTopic,
    /// The DMS replication tasks, or DMS Serverless replication configs, of this source.
    Replications,
    /// The source database's credentials secret.
    SourceSecret,
    /// The notify function's dead-letter queue (asynchronous invocations by EventBridge).
    OwnDeadLetterQueue,
    /// Executions of the pipeline's state machine.
    Executions,
    /// The erasure key's secret (docs/erasure.md).
    ErasureKeySecret,
    /// The landing objects, when `[erasure] rewrite_landed` lets `forget`
    /// rewrite them (Terraform's `erasure.rewrite_landed`; none otherwise).
    LandingRewrite,
    /// `*`: only for [`UNSCOPED_ACTIONS`].
    Any,
}

impl Resource {
    /// The key Terraform's `local.iam_arns` resolves, and the path appended to each ARN.
    pub fn reference(self) -> (&'static str, String) {
        match self {
            Resource::OwnLogStreams => ("log_group", ":*".into()),
            Resource::DataKey => ("data_key", String::new()),
            Resource::SourceSecretKey => ("source_secret_key", String::new()),
            Resource::ConfigObject => ("config_object", String::new()),
            Resource::LandingBucket => ("landing_bucket", String::new()),
            Resource::LandingObjects => ("landing_objects", String::new()),
            Resource::LakeBucket => ("lake_bucket", String::new()),
            Resource::LakeObjects(prefix) => ("lake_bucket", format!("/{prefix}*")),
            Resource::ResultsBucket => ("results_bucket", String::new()),
            Resource::ResultsObjects => ("results_bucket", "/*".into()),
            Resource::Workgroup => ("workgroup", String::new()),
            Resource::GlueCatalog => ("glue_catalog", String::new()),
            Resource::GlueDatabase => ("glue_database", String::new()),
            Resource::GlueTables => ("glue_tables", String::new()),
            Resource::AlertTopic => ("alert_topic", String::new()),
            Resource::Replications => ("replications", String::new()),
            Resource::SourceSecret => ("source_secret", String::new()),
            Resource::OwnDeadLetterQueue => ("dead_letter_queue", String::new()),
            Resource::Executions => ("executions", String::new()),
            Resource::ErasureKeySecret => ("erasure_key_secret", String::new()),
            Resource::LandingRewrite => ("landing_rewrite", String::new()),
            Resource::Any => ("any", String::new()),
        }
    }
}

/// Actions that support no resource-level permissions, so IAM needs `*`.
/// Each must say why it is called.
pub const UNSCOPED_ACTIONS: &[(&str, &str)] = &[
    (
        "xray:PutTraceSegments",
        "active tracing: the runtime sends trace segments",
    ),
    (
        "xray:PutTelemetryRecords",
        "active tracing: the runtime sends telemetry",
    ),
    (
        "ec2:CreateNetworkInterface",
        "the function runs in the VPC (Lambda manages its ENIs)",
    ),
    (
        "ec2:DescribeNetworkInterfaces",
        "the function runs in the VPC",
    ),
    ("ec2:DescribeSubnets", "the function runs in the VPC"),
    ("ec2:DeleteNetworkInterface", "the function runs in the VPC"),
    (
        "ec2:AssignPrivateIpAddresses",
        "the function runs in the VPC",
    ),
    (
        "ec2:UnassignPrivateIpAddresses",
        "the function runs in the VPC",
    ),
    (
        "secretsmanager:GetRandomPassword",
        "the erasure key's first value: a random string, tied to no secret",
    ),
    (
        "dms:DescribeReplicationTasks",
        "a list call: the adapter filters by the task ARN",
    ),
    (
        "dms:DescribeReplications",
        "a list call: the adapter filters by the config ARN",
    ),
    (
        "cloudwatch:GetMetricData",
        "CDC latency comes from the AWS/DMS metrics",
    ),
];

/// One statement: these actions on these resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub actions: &'static [&'static str],
    pub resources: &'static [Resource],
}

/// What a function touches: a port's AWS adapter (and how it uses it), or the Lambda runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Every function: logs, traces, ENIs in the VPC, the environment's KMS key.
    Runtime,
    /// Every function: reads `tidemark.toml` from the artifacts bucket at cold start.
    Config,
    /// `Ports::landing`, read only (`list`, `get`): the pipeline never writes landed files.
    LandingRead,
    /// `Ports::lake`, `list` and `get` anywhere in the lake.
    LakeRead,
    /// `Ports::lake`, `put` (and the put half of `copy`) under the listed prefixes.
    LakeWrite(&'static [Resource]),
    /// `Ports::lake`, `put_parts` (multipart upload of large files, aborted on
    /// failure) under the listed prefixes.
    LakeWriteParts(&'static [Resource]),
    /// `Ports::lake`, `delete`: only leases are ever deleted.
    LakeLease,
    /// `Ports::engine` on Athena for the merge: queries in the workgroup, Glue
    /// metadata of the history tables and change logs, reads of the change logs,
    /// reads and writes of the Iceberg warehouse (`history/`), the results bucket.
    EngineMerge,
    /// `Ports::engine` on Athena for DDL only (the `_current` views): the same
    /// without writing the warehouse.
    EngineDdl,
    /// `Ports::catalog` on Glue: descriptions of the history table and its
    /// `_current` view, and a rebuild's swap (the entries of the live, staged
    /// and previous history tables; never their data).
    Catalog,
    /// `Ports::notifier` on SNS: one message per alert to the KMS-encrypted topic.
    Notifier,
    /// `Ports::replication` on DMS: state, start/resume/reload, table statistics, CDC latency.
    Replication,
    /// `Ports::metadata` on the source: the credentials secret (the schema is read over the VPC).
    SourceMetadata,
    /// The function is invoked asynchronously (EventBridge) and keeps failed events in its DLQ.
    DeadLetter,
    /// Every function: each invocation's usage, under `usage/` (`tidemark_core::cost`).
    Usage,
    /// `Ports::metering`: the execution's history, for its state transitions.
    Metering,
    /// `Ports::secrets`, reading the erasure key (to apply the erasure log).
    ErasureKeyRead,
    /// `Ports::secrets`, reading the erasure key or giving it its first value.
    ErasureKey,
    /// `forget` rewrites the table's files without a data subject's rows:
    /// the change log, quarantined copies and reports, the erasure log, and
    /// the landed files when `[erasure] rewrite_landed` says so.
    Erasure,
}

/// The lake prefixes each writer owns (see `tidemark_core::layout::LakeLayout`).
const METADATA: &[Resource] = &[Resource::LakeObjects("metadata/")];
const VALIDATION: &[Resource] = &[
    Resource::LakeObjects("validated/"),
    Resource::LakeObjects("quarantine/"),
    Resource::LakeObjects("reports/"),
    Resource::LakeObjects("state/"),
];
const VALIDATED_FILES: &[Resource] = &[Resource::LakeObjects("validated/")];
const LEDGER_AND_LEASE: &[Resource] = &[Resource::LakeObjects("state/")];
const RUN_RECORDS: &[Resource] = &[Resource::LakeObjects("runs/")];
const USAGE: &[Resource] = &[Resource::LakeObjects("usage/")];
const ERASURE: &[Resource] = &[
    Resource::LakeObjects("erasures/"),
    Resource::LakeObjects("validated/"),
    Resource::LakeObjects("quarantine/"),
    Resource::LakeObjects("reports/"),
];

impl Access {
    /// The statements this access needs.
    pub fn grants(self) -> Vec<Grant> {
        use Resource::*;
        match self {
            Access::Runtime => vec![
                Grant {
                    actions: &["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources: &[OwnLogStreams],
                },
                Grant {
                    actions: &[
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:CreateNetworkInterface",
                        "ec2:DeleteNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:UnassignPrivateIpAddresses",
                        "xray:PutTelemetryRecords",
                        "xray:PutTraceSegments",
                    ],
                    resources: &[Any],
                },
                Grant {
                    actions: &["kms:Decrypt"],
                    resources: &[DataKey],
                },
            ],
            Access::Config => vec![Grant {
                actions: &["s3:GetObject"],
                resources: &[ConfigObject],
            }],
            Access::LandingRead => vec![
                Grant {
                    actions: &["s3:ListBucket"],
                    resources: &[LandingBucket],
                },
                Grant {
                    actions: &["s3:GetObject"],
                    resources: &[LandingObjects],
                },
            ],
            Access::LakeRead => vec![
                Grant {
                    actions: &["s3:ListBucket"],
                    resources: &[LakeBucket],
                },
                Grant {
                    actions: &["s3:GetObject"],
                    resources: &[LakeObjects("")],
                },
            ],
            Access::LakeWrite(prefixes) => vec![
                Grant {
                    actions: &["s3:PutObject"],
                    resources: prefixes,
                },
                Grant {
                    actions: &["kms:GenerateDataKey"],
                    resources: &[DataKey],
                },
            ],
            Access::LakeWriteParts(prefixes) => vec![
                Grant {
                    actions: &["s3:AbortMultipartUpload", "s3:PutObject"],
                    resources: prefixes,
                },
                Grant {
                    actions: &["kms:Decrypt", "kms:GenerateDataKey"],
                    resources: &[DataKey],
                },
            ],
            Access::LakeLease => vec![Grant {
                actions: &["s3:DeleteObject"],
                resources: &[LakeObjects("state/")],
            }],
            Access::EngineMerge => {
                let mut grants = athena_grants();
                grants.push(Grant {
                    actions: &[
                        "s3:AbortMultipartUpload",
                        "s3:DeleteObject",
                        "s3:ListMultipartUploadParts",
                        "s3:PutObject",
                    ],
                    resources: &[LakeObjects("history/")],
                });
                grants
            }
            Access::EngineDdl => athena_grants(),
            Access::Catalog => vec![Grant {
                actions: &[
                    "glue:CreateTable",
                    "glue:DeleteTable",
                    "glue:GetTable",
                    "glue:UpdateTable",
                ],
                resources: &[GlueCatalog, GlueDatabase, GlueTables],
            }],
            Access::Notifier => vec![
                Grant {
                    actions: &["sns:Publish"],
                    resources: &[AlertTopic],
                },
                Grant {
                    actions: &["kms:Decrypt", "kms:GenerateDataKey"],
                    resources: &[DataKey],
                },
            ],
            Access::Replication => vec![
                Grant {
                    actions: &[
                        "dms:DescribeReplicationTableStatistics",
                        "dms:DescribeTableStatistics",
                        "dms:ReloadReplicationTables",
                        "dms:ReloadTables",
                        "dms:StartReplication",
                        "dms:StartReplicationTask",
                    ],
                    resources: &[Replications],
                },
                Grant {
                    actions: &[
                        "cloudwatch:GetMetricData",
                        "dms:DescribeReplicationTasks",
                        "dms:DescribeReplications",
                    ],
                    resources: &[Any],
                },
            ],
            Access::SourceMetadata => vec![
                Grant {
                    actions: &["secretsmanager:GetSecretValue"],
                    resources: &[SourceSecret],
                },
                Grant {
                    actions: &["kms:Decrypt"],
                    resources: &[SourceSecretKey],
                },
            ],
            Access::DeadLetter => vec![
                Grant {
                    actions: &["sqs:SendMessage"],
                    resources: &[OwnDeadLetterQueue],
                },
                Grant {
                    actions: &["kms:GenerateDataKey"],
                    resources: &[DataKey],
                },
            ],
            Access::Usage => Access::LakeWrite(USAGE).grants(),
            Access::Metering => vec![Grant {
                actions: &["states:GetExecutionHistory"],
                resources: &[Executions],
            }],
            Access::ErasureKeyRead => vec![Grant {
                actions: &[
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                ],
                resources: &[ErasureKeySecret],
            }],
            Access::ErasureKey => vec![
                Grant {
                    actions: &[
                        "secretsmanager:DescribeSecret",
                        "secretsmanager:GetSecretValue",
                        "secretsmanager:PutSecretValue",
                    ],
                    resources: &[ErasureKeySecret],
                },
                Grant {
                    actions: &["secretsmanager:GetRandomPassword"],
                    resources: &[Any],
                },
                Grant {
                    actions: &["kms:GenerateDataKey"],
                    resources: &[DataKey],
                },
            ],
            Access::Erasure => {
                let mut grants = Access::LakeWrite(ERASURE).grants();
                grants.push(Grant {
                    actions: &["s3:PutObject"],
                    resources: &[LandingRewrite],
                });
                grants
            }
        }
    }
}

/// What Athena does with the caller's credentials for any statement: run it
/// in the workgroup, read and write Glue table metadata, read the change logs
/// and the Iceberg warehouse, write results; all under the data key.
fn athena_grants() -> Vec<Grant> {
    use Resource::*;
    vec![
        Grant {
            actions: &[
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StartQueryExecution",
                "athena:StopQueryExecution",
            ],
            resources: &[Workgroup],
        },
        Grant {
            actions: &[
                "glue:CreateTable",
                "glue:DeleteTable",
                "glue:GetDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:UpdateTable",
            ],
            resources: &[GlueCatalog, GlueDatabase, GlueTables],
        },
        Grant {
            actions: &["s3:GetBucketLocation", "s3:ListBucket"],
            resources: &[LakeBucket, ResultsBucket],
        },
        Grant {
            actions: &["s3:GetObject"],
            resources: &[
                LakeObjects("validated/"),
                LakeObjects("history/"),
                ResultsObjects,
            ],
        },
        Grant {
            actions: &[
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
                "s3:PutObject",
            ],
            resources: &[ResultsObjects],
        },
        Grant {
            actions: &["kms:Decrypt", "kms:GenerateDataKey"],
            resources: &[DataKey],
        },
    ]
}

/// The table: each step's function and what it touches.
pub const FUNCTIONS: &[(Step, &[Access])] = &[
    (
        Step::StartReplication,
        &[
            Access::Runtime,
            Access::Config,
            Access::Usage,
            Access::Replication,
            // A reload's mark: what had landed before it asked for a fresh load.
            Access::LandingRead,
            Access::LakeWrite(LEDGER_AND_LEASE),
        ],
    ),
    (
        Step::ExtractMetadata,
        &[
            Access::Runtime,
            Access::Config,
            Access::Usage,
            Access::SourceMetadata,
            Access::LakeRead,
            Access::LakeWrite(METADATA),
        ],
    ),
    (
        Step::ValidateLanded,
        &[
            Access::Runtime,
            Access::Config,
            Access::Usage,
            Access::LandingRead,
            Access::LakeRead,
            Access::LakeWrite(VALIDATION),
            Access::LakeWriteParts(VALIDATED_FILES),
            // Completing a rebuild's pending swap, under the table's lease.
            Access::LakeLease,
            Access::Catalog,
            // Leaving forgotten keys out of what it validates.
            Access::ErasureKeyRead,
        ],
    ),
    (
        Step::MergeHistory,
        &[
            Access::Runtime,
            Access::Config,
            Access::Usage,
            Access::LakeRead,
            Access::LakeWrite(LEDGER_AND_LEASE),
            Access::LakeLease,
            Access::EngineMerge,
            Access::Catalog,
            Access::ErasureKey,
            Access::Erasure,
            // forget reads landed files to rewrite them ([erasure] rewrite_landed).
            Access::LandingRead,
        ],
    ),
    (
        Step::PublishCatalog,
        &[
            Access::Runtime,
            Access::Config,
            Access::Usage,
            Access::LakeRead,
            Access::LakeWrite(RUN_RECORDS),
            Access::EngineDdl,
            Access::Catalog,
            // Completing a rebuild's pending swap, under the table's lease.
            Access::LakeWrite(LEDGER_AND_LEASE),
            Access::LakeLease,
        ],
    ),
    (
        Step::Notify,
        &[
            Access::Runtime,
            Access::Config,
            Access::Usage,
            Access::LakeRead,
            Access::LakeWrite(RUN_RECORDS),
            Access::Notifier,
            Access::DeadLetter,
            Access::Metering,
        ],
    ),
];

/// A resource as the JSON names it for Terraform.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ResourceRef {
    /// A key of Terraform's `local.iam_arns` (a list of ARNs).
    #[serde(rename = "ref")]
    pub reference: String,
    /// Appended to each ARN (`/validated/*`, `:*`).
    pub suffix: String,
}

/// One policy statement as Terraform reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub sid: String,
    pub actions: Vec<String>,
    pub resources: Vec<ResourceRef>,
}

/// `iam-actions.json`: per function, its statements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyDocument {
    #[serde(rename = "//")]
    pub comment: &'static str,
    pub functions: BTreeMap<String, Vec<Statement>>,
}

/// The statements of one function: one per distinct resource set, actions
/// merged and sorted, so the document reads like a hand-written policy.
pub fn statements(accesses: &[Access]) -> Vec<Statement> {
    let mut by_resources: BTreeMap<Vec<ResourceRef>, Vec<String>> = BTreeMap::new();
    for access in accesses {
        for grant in access.grants() {
            let mut resources: Vec<ResourceRef> = grant
                .resources
                .iter()
                .map(|r| {
                    let (reference, suffix) = r.reference();
                    ResourceRef {
                        reference: reference.to_string(),
                        suffix,
                    }
                })
                .collect();
            resources.sort();
            resources.dedup();
            let actions = by_resources.entry(resources).or_default();
            actions.extend(grant.actions.iter().map(|a| a.to_string()));
        }
    }
    by_resources
        .into_iter()
        .enumerate()
        .map(|(i, (resources, mut actions))| {
            actions.sort();
            actions.dedup();
            Statement {
                sid: format!("S{i:02}{}", sid_hint(&resources)),
                actions,
                resources,
            }
        })
        .collect()
}

/// A readable tail for a statement id (IAM allows only `[A-Za-z0-9]`).
fn sid_hint(resources: &[ResourceRef]) -> String {
    resources
        .iter()
        .map(|r| {
            let name = if r.reference == "any" {
                "unscoped"
            } else {
                &r.reference
            };
            name.split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("")
}

/// The whole document Terraform reads.
pub fn policy_document() -> PolicyDocument {
    PolicyDocument {
        comment: "Generated from crates/aws/src/permissions.rs by tests/infra.rs (UPDATE_GOLDEN=1); do not edit by hand.",
        functions: FUNCTIONS
            .iter()
            .map(|(step, accesses)| (step.name().to_string(), statements(accesses)))
            .collect(),
    }
}

/// Every action granted to `function`, sorted.
pub fn actions_of(function: &str) -> Vec<String> {
    let mut actions: Vec<String> = FUNCTIONS
        .iter()
        .filter(|(step, _)| step.name() == function)
        .flat_map(|(_, accesses)| accesses.iter().flat_map(|a| a.grants()))
        .flat_map(|g| g.actions.iter().map(|a| a.to_string()))
        .collect();
    actions.sort();
    actions.dedup();
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_grants() -> impl Iterator<Item = Grant> {
        FUNCTIONS
            .iter()
            .flat_map(|(_, accesses)| accesses.iter().flat_map(|a| a.grants()))
    }

    #[test]
    fn no_wildcard_actions() {
        for grant in all_grants() {
            for action in grant.actions {
                let (service, name) = action.split_once(':').expect("service:Action");
                assert!(!service.is_empty() && !name.is_empty(), "{action}");
                assert!(!action.contains('*'), "{action} is a wildcard action");
            }
        }
    }

    #[test]
    fn only_unscoped_actions_get_star() {
        for grant in all_grants() {
            if grant.resources.contains(&Resource::Any) {
                assert_eq!(
                    grant.resources,
                    &[Resource::Any],
                    "mix `*` with nothing else"
                );
                for action in grant.actions {
                    assert!(
                        UNSCOPED_ACTIONS.iter().any(|(a, _)| a == action),
                        "{action} supports resource-level permissions: scope it"
                    );
                }
            }
        }
    }

    #[test]
    fn every_unscoped_action_is_used() {
        for (action, _) in UNSCOPED_ACTIONS {
            assert!(
                all_grants().any(|g| g.actions.contains(action)),
                "{action} is allowed `*` but no function calls it"
            );
        }
    }

    #[test]
    fn statement_ids_are_unique_and_valid() {
        for (name, accesses) in FUNCTIONS {
            let statements = statements(accesses);
            let mut sids: Vec<&str> = statements.iter().map(|s| s.sid.as_str()).collect();
            assert!(
                sids.iter()
                    .all(|s| s.chars().all(|c| c.is_ascii_alphanumeric()))
            );
            sids.dedup();
            assert_eq!(sids.len(), statements.len(), "{name}");
        }
    }

    #[test]
    fn only_the_table_lease_holders_delete_and_only_leases() {
        let holders = [
            Step::ValidateLanded,
            Step::MergeHistory,
            Step::PublishCatalog,
        ];
        for (step, _) in FUNCTIONS {
            let deletes = actions_of(step.name()).contains(&"s3:DeleteObject".to_string());
            assert_eq!(deletes, holders.contains(step), "{step}: s3:DeleteObject");
        }
        for grant in all_grants() {
            if grant.actions.contains(&"s3:DeleteObject") {
                let history = Resource::LakeObjects("history/");
                assert!(
                    grant
                        .resources
                        .iter()
                        .all(|r| *r == Resource::LakeObjects("state/") || *r == history),
                    "{grant:?}"
                );
            }
        }
    }

    #[test]
    fn nobody_writes_the_landing_bucket() {
        for grant in all_grants() {
            if grant.resources.contains(&Resource::LandingObjects) {
                assert_eq!(grant.actions, &["s3:GetObject"]);
            }
        }
    }
}
