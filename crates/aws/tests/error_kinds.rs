//! Each AWS adapter turns a service's failure into the error kind the state
//! machine acts on, from the answer's error code and HTTP status: throttling
//! and 5xx answers are `Tidemark.Transient` (every Task state retries that
//! name: `tests/infra.rs`), what does not exist is named, and a wrong request
//! is not retried. The answers are real HTTP responses in each service's
//! protocol, replayed through the SDK's own deserialisers (aws-smithy-mocks),
//! with the SDK's retries off so the adapter sees the first answer.

use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use tidemark_aws::athena::{AthenaEngine, Deadline, Polling};
use tidemark_aws::dms::{DmsMode, DmsReplication, DmsReplicationRef};
use tidemark_aws::glue::GlueCatalog;
use tidemark_aws::s3::{S3Location, S3Store};
use tidemark_aws::sns::SnsNotifier;
use tidemark_core::ErrorName::{self, InvalidInput, Merge, Transient};
use tidemark_core::alert::Alert;
use tidemark_core::error::Error;
use tidemark_core::events::StartReplicationEvent;
use tidemark_core::ports::{
    Catalog, CatalogEntry, Notifier, ObjectStore, QueryEngine, Replication,
};

/// An HTTP answer as the service sends it.
fn answer(status: u16, content_type: &str, body: &str) -> HttpResponse {
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", content_type.to_string());
    response
}

/// JSON protocols (Athena, Glue, DMS): the code in `__type`.
fn json(status: u16, code: &str) -> HttpResponse {
    answer(
        status,
        "application/x-amz-json-1.1",
        &format!(r#"{{"__type":"{code}","message":"{code} from the replay"}}"#),
    )
}

/// S3's REST-XML error document.
fn s3_xml(status: u16, code: &str) -> HttpResponse {
    answer(
        status,
        "application/xml",
        &format!("<Error><Code>{code}</Code><Message>{code} from the replay</Message></Error>"),
    )
}

/// SNS's query-protocol error document.
fn query_xml(status: u16, code: &str) -> HttpResponse {
    answer(
        status,
        "text/xml",
        &format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code} from the replay</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        ),
    )
}

/// Answers that must come out `Tidemark.Transient`: throttling as each
/// service spells it, a server error, and a 5xx whose code the adapter has
/// never heard of (the status decides).
const TRANSIENT: [(u16, &str); 3] = [
    (400, "ThrottlingException"),
    (500, "InternalServerException"),
    (503, "SomethingNewException"),
];

fn no_retries<B>(builder: B, set: impl Fn(B, RetryConfig) -> B) -> B {
    set(builder, RetryConfig::disabled())
}

fn check(what: &str, error: &Error, expected: ErrorName, names: &[&str]) {
    assert_eq!(error.name(), expected, "{what}: {error}");
    for name in names {
        assert!(
            error.to_string().contains(name),
            "{what}: the message does not name {name:?}: {error}"
        );
    }
}

#[tokio::test]
async fn s3_answers_become_store_errors_of_their_kind() {
    let cases = [
        (s3_xml(503, "SlowDown"), Transient),
        (s3_xml(500, "InternalError"), Transient),
        (s3_xml(502, "SomethingNew"), Transient),
        (s3_xml(403, "AccessDenied"), InvalidInput),
        (s3_xml(404, "NoSuchKey"), InvalidInput),
    ];
    for (response, expected) in cases {
        let response = std::sync::Mutex::new(Some(response));
        let rule = mock!(aws_sdk_s3::Client::get_object)
            .then_http_response(move || response.lock().unwrap().take().unwrap());
        let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&rule], |c| {
            no_retries(c, aws_sdk_s3::config::Builder::retry_config)
        });
        let store = S3Store::new(client, S3Location::parse("s3://lake/p/").unwrap());
        let error: Error = store.get("state/t/ledger.json").await.unwrap_err().into();
        check("S3 GetObject", &error, expected, &["state/t/ledger.json"]);
    }
}

#[tokio::test]
async fn athena_answers_become_engine_errors_of_their_kind() {
    let mut cases: Vec<(HttpResponse, ErrorName)> = TRANSIENT
        .iter()
        .map(|(status, code)| (json(*status, code), Transient))
        .collect();
    cases.push((json(400, "TooManyRequestsException"), Transient));
    cases.push((json(400, "InvalidRequestException"), Merge));
    for (response, expected) in cases {
        let response = std::sync::Mutex::new(Some(response));
        let rule = mock!(aws_sdk_athena::Client::start_query_execution)
            .then_http_response(move || response.lock().unwrap().take().unwrap());
        let client = mock_client!(aws_sdk_athena, RuleMode::Sequential, [&rule], |c| {
            no_retries(c, aws_sdk_athena::config::Builder::retry_config)
        });
        let engine = AthenaEngine::new(
            client,
            "tidemark".into(),
            "s3://lake/".into(),
            Polling::default(),
            Deadline::default(),
        );
        let error: Error = engine.execute("SELECT 1").await.unwrap_err().into();
        check("Athena StartQueryExecution", &error, expected, &[]);
    }
}

fn entry(table: &str) -> CatalogEntry {
    CatalogEntry {
        database: "shop".into(),
        table: table.into(),
        current_view: format!("{table}_current"),
        description: "d".into(),
        primary_key: vec!["id".into()],
        columns: Vec::new(),
        metadata_version: 1,
        view_digest: String::new(),
    }
}

#[tokio::test]
async fn glue_answers_become_catalog_errors_of_their_kind() {
    let mut cases: Vec<(HttpResponse, ErrorName)> = TRANSIENT
        .iter()
        .map(|(status, code)| (json(*status, code), Transient))
        .collect();
    cases.push((json(400, "ConcurrentModificationException"), Transient));
    cases.push((json(400, "AccessDeniedException"), InvalidInput));
    for (response, expected) in cases {
        let response = std::sync::Mutex::new(Some(response));
        let rule = mock!(aws_sdk_glue::Client::get_table)
            .then_http_response(move || response.lock().unwrap().take().unwrap());
        let client = mock_client!(aws_sdk_glue, RuleMode::Sequential, [&rule], |c| {
            no_retries(c, aws_sdk_glue::config::Builder::retry_config)
        });
        let error = GlueCatalog::new(client)
            .publish(&entry("orders"))
            .await
            .unwrap_err();
        check("Glue GetTable", &error, expected, &["shop.orders"]);
    }
    // A table that is not there: NotFound, naming it.
    let rule = mock!(aws_sdk_glue::Client::get_table)
        .then_http_response(|| json(400, "EntityNotFoundException"));
    let client = mock_client!(aws_sdk_glue, RuleMode::MatchAny, [&rule], |c| {
        no_retries(c, aws_sdk_glue::config::Builder::retry_config)
    });
    let error = GlueCatalog::new(client)
        .publish(&entry("nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Catalog(c) if c.kind == tidemark_core::error::ErrorKind::NotFound),
        "{error:?}"
    );
    check(
        "Glue, a missing table",
        &error,
        InvalidInput,
        &["shop.nope"],
    );
}

#[tokio::test]
async fn sns_answers_become_notify_errors_of_their_kind() {
    let topic = "arn:aws:sns:us-east-1:000000000000:alerts";
    let cases = [
        (query_xml(400, "Throttling"), Transient),
        (query_xml(500, "InternalError"), Transient),
        (query_xml(503, "SomethingNew"), Transient),
        (query_xml(404, "NotFound"), InvalidInput),
        (query_xml(403, "AuthorizationError"), InvalidInput),
    ];
    for (response, expected) in cases {
        let response = std::sync::Mutex::new(Some(response));
        let rule = mock!(aws_sdk_sns::Client::publish)
            .then_http_response(move || response.lock().unwrap().take().unwrap());
        let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&rule], |c| {
            no_retries(c, aws_sdk_sns::config::Builder::retry_config)
        });
        let alert = Alert {
            run_id: "r".into(),
            database: "shop".into(),
            failed: true,
            input: Default::default(),
            replication: None,
            tables: Vec::new(),
            rerun: String::new(),
            cost: None,
        };
        let error = SnsNotifier::new(client, topic.into())
            .send(&alert)
            .await
            .unwrap_err();
        check("SNS Publish", &error, expected, &[topic]);
    }
}

#[tokio::test]
async fn dms_answers_become_replication_errors_of_their_kind() {
    let arn = "arn:aws:dms:us-east-1:000000000000:task:CDC";
    let mut cases: Vec<(HttpResponse, ErrorName)> = TRANSIENT
        .iter()
        .map(|(status, code)| (json(*status, code), Transient))
        .collect();
    // A replication the configuration names wrongly: a person must act.
    cases.push((json(400, "ResourceNotFoundFault"), InvalidInput));
    for (response, expected) in cases {
        let response = std::sync::Mutex::new(Some(response));
        let rule = mock!(aws_sdk_databasemigration::Client::describe_replication_tasks)
            .then_http_response(move || response.lock().unwrap().take().unwrap());
        let client = mock_client!(
            aws_sdk_databasemigration,
            RuleMode::Sequential,
            [&rule],
            |c| { no_retries(c, aws_sdk_databasemigration::config::Builder::retry_config) }
        );
        let replication = DmsReplication::new(
            client,
            DmsMode::Instance,
            vec![DmsReplicationRef {
                kind: "cdc".into(),
                arn: arn.into(),
            }],
        );
        let error: Error = replication
            .start(
                &StartReplicationEvent::default(),
                &[("orders".into(), tidemark_core::config::TableMode::Cdc)],
            )
            .await
            .unwrap_err()
            .into();
        check("DMS DescribeReplicationTasks", &error, expected, &[]);
    }
}
