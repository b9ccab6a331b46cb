//! The Athena engine's polling, hand-back and error mapping, on scripted SDK
//! responses (aws-smithy-mocks): the emulator finishes every query at once
//! and never throttles, so these paths need scripted sequences.

use aws_sdk_athena::Client;
use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_athena::operation::start_query_execution::{
    StartQueryExecutionError, StartQueryExecutionOutput,
};
use aws_sdk_athena::types::error::TooManyRequestsException;
use aws_sdk_athena::types::{
    AthenaError, QueryExecution, QueryExecutionState, QueryExecutionStatistics,
    QueryExecutionStatus, ResultSet,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tidemark_aws::athena::{AthenaEngine, Deadline, Polling};
use tidemark_core::error::EngineError;
use tidemark_core::ports::QueryEngine;

fn execution(
    state: QueryExecutionState,
    reason: Option<&str>,
    retryable: bool,
) -> GetQueryExecutionOutput {
    let mut status = QueryExecutionStatus::builder()
        .state(state)
        .set_state_change_reason(reason.map(str::to_string));
    if reason.is_some() {
        status = status.athena_error(
            AthenaError::builder()
                .error_category(2)
                .retryable(retryable)
                .build(),
        );
    }
    GetQueryExecutionOutput::builder()
        .query_execution(
            QueryExecution::builder()
                .query_execution_id("q-1")
                .status(status.build())
                .statistics(
                    QueryExecutionStatistics::builder()
                        .data_scanned_in_bytes(4096)
                        .engine_execution_time_in_millis(1500)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn started() -> aws_smithy_mocks::Rule {
    mock!(Client::start_query_execution)
        .match_requests(|r| r.work_group() == Some("tidemark"))
        .then_output(|| {
            StartQueryExecutionOutput::builder()
                .query_execution_id("q-1")
                .build()
        })
}

fn fast() -> Polling {
    Polling {
        first: Duration::from_millis(1),
        max: Duration::from_millis(2),
        reserve: Duration::from_secs(30),
    }
}

fn engine(client: Client, deadline: Deadline) -> AthenaEngine {
    AthenaEngine::new(
        client,
        "tidemark".into(),
        "s3://lake".into(),
        fast(),
        deadline,
    )
}

#[tokio::test]
async fn a_statement_is_polled_until_it_succeeds_and_its_costs_are_kept() {
    let start = started();
    let polls = mock!(Client::get_query_execution)
        .sequence()
        .output(|| execution(QueryExecutionState::Queued, None, false))
        .output(|| execution(QueryExecutionState::Running, None, false))
        .times(3)
        .output(|| execution(QueryExecutionState::Succeeded, None, false))
        .build();
    let results = mock!(Client::get_query_results).then_output(|| {
        GetQueryResultsOutput::builder()
            .result_set(ResultSet::builder().build())
            .update_count(42)
            .build()
    });
    let client = mock_client!(
        aws_sdk_athena,
        RuleMode::MatchAny,
        [&start, &polls, &results]
    );
    let out = engine(client, Deadline::default())
        .execute("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE")
        .await
        .unwrap();
    assert_eq!(polls.num_calls(), 5);
    assert_eq!(out.bytes_scanned, Some(4096));
    assert_eq!(out.engine_ms, Some(1500));
    assert!(out.rows.is_empty());
}

#[tokio::test]
async fn a_query_still_running_near_the_deadline_is_handed_back_then_resumed() {
    let start = started();
    let running = mock!(Client::get_query_execution)
        .then_output(|| execution(QueryExecutionState::Running, None, false));
    let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &running]);
    let deadline = Deadline::default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    deadline.set_epoch_ms(now + 10_000); // 10 s left, less than the 30 s reserve
    let handed = engine(client, deadline).execute("MERGE ...").await;
    match handed {
        Err(EngineError::StillRunning { query_id }) => assert_eq!(query_id, "q-1"),
        other => panic!("expected the running query back, got {other:?}"),
    }
    assert_eq!(start.num_calls(), 1);

    // The next invocation has a fresh deadline: it waits for the same query
    // and starts nothing new.
    let start = started();
    let polls = mock!(Client::get_query_execution)
        .match_requests(|r| r.query_execution_id() == Some("q-1"))
        .sequence()
        .output(|| execution(QueryExecutionState::Running, None, false))
        .output(|| execution(QueryExecutionState::Succeeded, None, false))
        .build();
    let results = mock!(Client::get_query_results).then_output(|| {
        GetQueryResultsOutput::builder()
            .result_set(ResultSet::builder().build())
            .build()
    });
    let client = mock_client!(
        aws_sdk_athena,
        RuleMode::MatchAny,
        [&start, &polls, &results]
    );
    let deadline = Deadline::default();
    deadline.set_epoch_ms(now + 900_000);
    let out = engine(client, deadline).resume("q-1").await.unwrap();
    assert_eq!(out.bytes_scanned, Some(4096));
    assert_eq!(start.num_calls(), 0, "resuming starts no query");
}

#[tokio::test]
async fn throttling_and_commit_conflicts_are_transient_and_bad_sql_is_not() {
    let throttled = mock!(Client::start_query_execution).then_error(|| {
        StartQueryExecutionError::TooManyRequestsException(
            // As Athena answers it: the code travels in the error's metadata.
            TooManyRequestsException::builder()
                .message("Rate exceeded")
                .meta(
                    aws_sdk_athena::error::ErrorMetadata::builder()
                        .code("TooManyRequestsException")
                        .message("Rate exceeded")
                        .build(),
                )
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&throttled]);
    let e = engine(client, Deadline::default())
        .execute("SELECT 1")
        .await;
    assert!(
        matches!(e, Err(EngineError::Transient(ref m)) if m.contains("Rate exceeded")),
        "{e:?}"
    );

    for (reason, retryable, transient) in [
        (
            "ICEBERG_COMMIT_ERROR: Failed to commit Iceberg update to table",
            false,
            true,
        ),
        ("GENERIC_INTERNAL_ERROR: something broke", false, true),
        ("the query was cancelled by the system", true, true),
        (
            "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved",
            false,
            false,
        ),
    ] {
        let start = started();
        let failed = mock!(Client::get_query_execution)
            .then_output(move || execution(QueryExecutionState::Failed, Some(reason), retryable));
        let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &failed]);
        let e = engine(client, Deadline::default())
            .execute("SELECT nope")
            .await;
        match (transient, e) {
            (true, Err(EngineError::Transient(m))) => assert!(m.contains(reason), "{m}"),
            (false, Err(EngineError::Query { statement, message })) => {
                assert_eq!(statement, "SELECT nope");
                assert!(message.contains("COLUMN_NOT_FOUND"), "{message}");
            }
            (_, other) => panic!("{reason}: unexpected {other:?}"),
        }
    }
}
