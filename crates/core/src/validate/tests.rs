use super::*;
use crate::batch_id::BatchId;
use crate::dms::{ByteSource, ControlColumns};
use crate::error::StoreError;
use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;

fn meta() -> TableMetadata {
    TableMetadata::from_json(
        "orders.json",
        r#"{"name":"orders","primary_key":["id"],"columns":[
            {"name":"id","type":"int64","nullable":false},
            {"name":"status","type":"string","nullable":false},
            {"name":"amount","type":"decimal128(12,2)"},
            {"name":"paid","type":"bool"}]}"#,
    )
    .unwrap()
}

/// A Parquet file of string columns (as a CSV-sourced or quirky DMS file would be).
fn parquet(columns: &[(&str, Vec<Option<&str>>)]) -> Bytes {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, _)| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|(_, v)| Arc::new(StringArray::from(v.clone())) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    Bytes::from(write_parquet(&schema, &[batch]).unwrap())
}

fn check(name: &str, bytes: Bytes) -> FileOutcome {
    let meta = meta();
    let control = ControlColumns::default();
    FileCheck {
        file: &format!("landing/public/orders/{name}"),
        name,
        meta: &meta,
        control: &control,
        batch_id: BatchId::FIRST,
    }
    .run(bytes)
}

fn good_cdc() -> Vec<(&'static str, Vec<Option<&'static str>>)> {
    vec![
        ("op", vec![Some("I"), Some("U"), Some("D")]),
        (
            "extraction_timestamp",
            vec![
                Some("2026-11-01 10:00:00.000000"),
                Some("2026-11-01 10:00:00.000000"),
                Some("2026-11-02 08:00:00.123456"),
            ],
        ),
        ("scn", vec![Some("0001"), Some("0002"), None]),
        ("id", vec![Some("1"), Some("1"), Some("2")]),
        ("status", vec![Some("new"), Some("paid"), Some("new")]),
        ("amount", vec![Some("10.50"), Some("10.50"), None]),
        ("paid", vec![Some("false"), Some("t"), Some("0")]),
    ]
}

fn rules(o: &FileOutcome) -> Vec<(Rule, Option<u64>, Option<String>)> {
    o.findings
        .sample
        .iter()
        .map(|f| (f.rule, f.row, f.column.clone()))
        .collect()
}

#[test]
fn a_good_cdc_file_is_normalised() {
    let o = check("20261101-100000000.parquet", parquet(&good_cdc()));
    assert!(o.accepted(), "{:?}", o.findings);
    assert_eq!(
        (o.rows, o.ops.inserts, o.ops.updates, o.ops.deletes),
        (3, 1, 1, 1)
    );
    let out = arrow::util::pretty::pretty_format_batches(&o.normalised)
        .unwrap()
        .to_string();
    let expected = [
        "| id | status | amount | paid  | op | valid_from                 | change_seq                                 |",
        "| 1  | new    | 10.50  | false | I  | 2026-11-01T10:00:00        | 0001                                       |",
        "| 1  | paid   | 10.50  | true  | U  | 2026-11-01T10:00:00        | 0002                                       |",
        "| 2  | new    |        | false | D  | 2026-11-02T08:00:00.123456 | 20261101-100000000.parquet#000000000003 |",
    ];
    for line in expected {
        let cells: Vec<&str> = line
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert!(
            out.lines().any(|l| {
                let got: Vec<&str> = l
                    .split('|')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect();
                got.len() > cells.len() && got[..cells.len()] == cells[..]
            }),
            "missing {cells:?} in\n{out}"
        );
    }
    assert_eq!(
        o.valid_from_range.map(|(lo, hi)| hi - lo),
        Some(22 * 3_600_000_000 + 123_456)
    );
}

#[test]
fn full_load_rows_are_l_without_an_op_column() {
    let mut cols = good_cdc();
    cols.remove(0);
    cols[2].1[1] = Some("3"); // a full load holds each key once
    let o = check("LOAD00000001.parquet", parquet(&cols));
    assert!(o.accepted(), "{:?}", o.findings);
    assert_eq!(o.ops.loads, 3);
    // Its rows need no row number to order them: each key is there once.
    assert_eq!(
        change_seqs(&o),
        ["0001", "0002", "LOAD00000001.parquet"].map(Some)
    );
    // DMS's full loads leave the change-seq column empty.
    cols[1].1 = vec![None; 3];
    let o = check("LOAD00000002.parquet", parquet(&cols));
    assert_eq!(change_seqs(&o), [Some("LOAD00000002.parquet"); 3]);
}

fn change_seqs(o: &FileOutcome) -> Vec<Option<&str>> {
    use arrow::array::AsArray;
    o.normalised
        .iter()
        .flat_map(|b| b.column_by_name("change_seq").unwrap().as_string::<i32>())
        .collect()
}

#[test]
fn row_rules_name_row_column_and_value() {
    let mut cols = good_cdc();
    cols[0].1[1] = Some("X"); // op
    cols[1].1[2] = Some("yesterday"); // timestamp
    cols[3].1[0] = None; // primary key
    cols[4].1[2] = None; // not-null status
    cols[5].1[0] = Some("ten"); // decimal
    let o = check("20261101-100000000.parquet", parquet(&cols));
    assert!(!o.accepted());
    assert!(o.normalised.is_empty());
    let mut got = rules(&o);
    got.sort();
    assert_eq!(
        got,
        vec![
            (Rule::Type, Some(1), Some("amount".into())),
            (Rule::NotNull, Some(3), Some("status".into())),
            (Rule::PrimaryKeyNull, Some(1), Some("id".into())),
            (Rule::Op, Some(2), Some("op".into())),
            (
                Rule::Timestamp,
                Some(3),
                Some("extraction_timestamp".into())
            ),
        ]
    );
    let bad_decimal = o
        .findings
        .sample
        .iter()
        .find(|f| f.rule == Rule::Type)
        .unwrap();
    assert_eq!(bad_decimal.value.as_deref(), Some("ten"));
    assert_eq!(
        bad_decimal.to_string(),
        "landing/public/orders/20261101-100000000.parquet row 1 column amount: [type] not a valid decimal128(12,2)"
    );
}

#[test]
fn column_set_is_checked_before_rows() {
    let mut cols = good_cdc();
    cols.retain(|(n, _)| *n != "paid");
    cols.push(("colour", vec![Some("red"), None, None]));
    let o = check("20261101-100000000.parquet", parquet(&cols));
    assert_eq!(
        rules(&o),
        vec![
            (Rule::MissingColumn, None, Some("paid".into())),
            (Rule::UnexpectedColumn, None, Some("colour".into()))
        ]
    );
    let mut cols = good_cdc();
    cols.remove(0);
    let o = check("20261101-100000000.parquet", parquet(&cols));
    assert_eq!(rules(&o), vec![(Rule::Op, None, Some("op".into()))]);
}

#[test]
fn unreadable_and_misnamed_files_are_findings() {
    let o = check(
        "20261101-100000000.parquet",
        Bytes::from_static(b"PAR1garbage"),
    );
    assert_eq!(rules(&o), vec![(Rule::Readable, None, None)]);
    let mut truncated = parquet(&good_cdc()).to_vec();
    truncated.truncate(truncated.len() / 2);
    let o = check("20261101-100000000.parquet", Bytes::from(truncated));
    assert_eq!(o.findings.sample[0].rule, Rule::Readable);
    let o = check("orders.parquet", parquet(&good_cdc()));
    assert_eq!(rules(&o), vec![(Rule::FileName, None, None)]);
}

#[test]
fn findings_are_counted_exactly_and_sampled_boundedly() {
    let n = 100;
    let cols = vec![
        ("op", vec![Some("I"); n]),
        (
            "extraction_timestamp",
            vec![Some("2026-11-01 10:00:00.000000"); n],
        ),
        ("scn", vec![None; n]),
        ("id", vec![Some("x"); n]),
        ("status", vec![Some("new"); n]),
        ("amount", vec![Some("1"); n]),
        ("paid", vec![Some("true"); n]),
    ];
    let o = check("20261101-100000000.parquet", parquet(&cols));
    assert_eq!(o.findings.total, 100);
    assert_eq!(
        o.findings.counts,
        vec![RuleCount {
            rule: Rule::Type,
            column: Some("id".into()),
            count: 100
        }]
    );
    assert_eq!(o.findings.sample.len(), SAMPLE_PER_RULE);
}

/// The `row_hash` column of an accepted file's first normalised batch.
fn hash(o: &FileOutcome) -> arrow::array::ArrayData {
    let b = &o.normalised[0];
    b.column(b.schema().index_of("row_hash").unwrap()).to_data()
}

#[test]
fn row_hash_ignores_column_order_and_absent_nulls() {
    let a = check("20261101-100000000.parquet", parquet(&good_cdc()));
    let mut reordered = good_cdc();
    reordered.reverse();
    let b = check("20261101-100000000.parquet", parquet(&reordered));
    assert_eq!(hash(&a), hash(&b));
    let mut changed = good_cdc();
    changed[4].1[0] = Some("paid");
    assert_ne!(
        hash(&a),
        hash(&check("20261101-100000000.parquet", parquet(&changed)))
    );
    // A typed Int64 id hashes like the same id read from text.
    let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2]));
    let mut fields: Vec<Field> = good_cdc()
        .iter()
        .map(|(n, _)| Field::new(*n, DataType::Utf8, true))
        .collect();
    fields[3] = Field::new("id", DataType::Int64, false);
    let schema = Arc::new(Schema::new(fields));
    let arrays: Vec<ArrayRef> = good_cdc()
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            if i == 3 {
                ids.clone()
            } else {
                Arc::new(StringArray::from(v.clone())) as ArrayRef
            }
        })
        .collect();
    let typed = Bytes::from(
        write_parquet(
            &schema,
            &[RecordBatch::try_new(schema.clone(), arrays).unwrap()],
        )
        .unwrap(),
    );
    assert_eq!(hash(&a), hash(&check("20261101-100000000.parquet", typed)));
}

fn check_with(name: &str, options: &CheckOptions, bytes: Bytes) -> FileOutcome {
    let meta = meta();
    let control = ControlColumns::default();
    FileCheck {
        file: &format!("landing/public/orders/{name}"),
        name,
        meta: &meta,
        control: &control,
        batch_id: BatchId::FIRST,
    }
    .run_with(options, bytes)
}

#[test]
fn unexpected_columns_can_be_allowed_and_are_then_left_out() {
    let mut cols = good_cdc();
    cols.push(("colour", vec![Some("red"), None, None]));
    let options = CheckOptions {
        allow_unexpected: true,
        ..Default::default()
    };
    let o = check_with("20261101-100000000.parquet", &options, parquet(&cols));
    assert!(o.accepted(), "{:?}", o.findings);
    assert_eq!(o.ignored_columns, ["colour"]);
    assert!(o.normalised[0].schema().index_of("colour").is_err());
    let plain = check("20261101-100000000.parquet", parquet(&good_cdc()));
    assert_eq!(
        hash(&o),
        hash(&plain),
        "an ignored column does not change row_hash"
    );
}

#[test]
fn duplicate_keys_in_a_full_load_are_found_exactly_but_allowed_in_cdc() {
    let mut cols = good_cdc();
    cols.remove(0); // full loads have no op column
    let o = check("LOAD00000001.parquet", parquet(&cols));
    assert_eq!(
        rules(&o),
        vec![(Rule::DuplicatePrimaryKey, Some(2), Some("id".into()))]
    );
    let f = &o.findings.sample[0];
    assert_eq!(f.value.as_deref(), Some("1"));
    assert!(f.message.contains("row 1"), "{}", f.message);
    assert!(check("20261101-100000000.parquet", parquet(&good_cdc())).accepted());
}

#[test]
fn empty_files_are_findings() {
    let o = check("20261101-100000000.parquet", Bytes::new());
    assert_eq!(rules(&o), vec![(Rule::EmptyFile, None, None)]);
    let no_rows: Vec<(&str, Vec<Option<&str>>)> = good_cdc()
        .into_iter()
        .map(|(n, _)| (n, Vec::new()))
        .collect();
    let o = check("20261101-100000000.parquet", parquet(&no_rows));
    assert_eq!(rules(&o), vec![(Rule::EmptyFile, None, None)]);
    let o = check(
        "20261101-100000000.csv",
        Bytes::from("op,extraction_timestamp,id,status,amount,paid\n"),
    );
    assert_eq!(rules(&o), vec![(Rule::EmptyFile, None, None)]);
}

#[test]
fn an_op_column_in_a_full_load_must_still_hold_i_u_or_d() {
    let mut cols = good_cdc();
    cols[0].1[1] = Some("X");
    let o = check("LOAD00000001.parquet", parquet(&cols));
    assert!(
        rules(&o).contains(&(Rule::Op, Some(2), Some("op".into()))),
        "{:?}",
        rules(&o)
    );
    assert!(!rules(&o).iter().any(|r| r.1 == Some(1) && r.0 == Rule::Op));
}

/// A source in memory that fails after some bytes, like a dropped connection.
struct Flaky(Bytes);
impl ByteSource for Flaky {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        if offset > 0 {
            return Err(StoreError::Io {
                key: "k".into(),
                message: "connection reset".into(),
            });
        }
        self.0.read_at(offset, len)
    }
}

#[test]
fn a_store_failure_is_an_error_never_a_finding() {
    let meta = meta();
    let control = ControlColumns::default();
    let mut text = String::from("op,extraction_timestamp,scn,id,status,amount,paid\n");
    for i in 0..400_000 {
        text.push_str(&format!("I,2026-11-01 10:00:00.000000,,{i},new,1.00,t\n"));
    }
    let e = FileCheck {
        file: "20261101-100000000.csv",
        name: "20261101-100000000.csv",
        meta: &meta,
        control: &control,
        batch_id: BatchId::FIRST,
    }
    .check(
        &CheckOptions::default(),
        Arc::new(Flaky(Bytes::from(text))),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&e, CheckError::Source { source, .. } if source.to_string().contains("connection reset")),
        "{e}"
    );
}

/// Checks `bytes` twice, streaming the normalised file to a sink and
/// keeping its rows in memory; both must be accepted and hold the same rows.
/// Returns the streamed file's footer.
fn streamed_equals_in_memory(
    meta: &TableMetadata,
    options: &CheckOptions,
    name: &str,
    bytes: Bytes,
) -> parquet::file::metadata::ParquetMetaData {
    struct Collect(Vec<u8>);
    impl ByteSink for Collect {
        fn write(&mut self, part: Bytes) -> Result<(), StoreError> {
            self.0.extend_from_slice(&part);
            Ok(())
        }
    }
    let control = ControlColumns::default();
    let check = FileCheck {
        file: name,
        name,
        meta,
        control: &control,
        batch_id: BatchId::FIRST,
    };
    let mut sink = Collect(Vec::new());
    let streamed = check
        .check(options, Arc::new(bytes.clone()), Some(&mut sink))
        .unwrap();
    assert!(streamed.accepted(), "{:?}", streamed.findings);
    assert!(streamed.normalised.is_empty());
    let file = Bytes::from(sink.0);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .with_batch_size(1024);
    let footer = reader.metadata().as_ref().clone();
    let read: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
    let in_memory = check.run_with(options, bytes);
    let pretty = |b: &[RecordBatch]| {
        arrow::util::pretty::pretty_format_batches(b)
            .unwrap()
            .to_string()
    };
    assert_eq!(pretty(&read), pretty(&in_memory.normalised));
    assert_eq!(streamed.digest, in_memory.digest);
    footer
}

#[test]
fn the_rows_digest_ignores_order_and_sees_any_changed_value() {
    let digest = |columns: &[(&str, Vec<Option<&str>>)]| {
        let outcome = check("20261101-100000000.parquet", parquet(columns));
        assert!(outcome.accepted(), "{:?}", outcome.findings);
        outcome.digest
    };
    let rows = good_cdc();
    let reversed: Vec<(&str, Vec<Option<&str>>)> = rows
        .iter()
        .map(|(n, v)| (*n, v.iter().rev().cloned().collect()))
        .collect();
    assert_eq!(digest(&rows), digest(&reversed));
    let mut repriced = rows.clone();
    repriced[5].1[0] = Some("10.51");
    assert_ne!(digest(&rows), digest(&repriced));
    let mut fewer = rows.clone();
    for (_, v) in &mut fewer {
        v.pop();
    }
    assert_ne!(digest(&rows), digest(&fewer));
    assert_eq!(digest(&rows).combine(RowsDigest::default()), digest(&rows));
    let written = serde_json::to_string(&digest(&rows)).unwrap();
    assert!(written.starts_with("\"3:"), "{written}");
    assert_eq!(
        serde_json::from_str::<RowsDigest>(&written).unwrap(),
        digest(&rows)
    );
    assert!(serde_json::from_str::<RowsDigest>("\"3\"").is_err());
}

#[test]
fn the_streamed_parquet_output_holds_exactly_the_normalised_rows() {
    let options = CheckOptions::default();
    streamed_equals_in_memory(
        &meta(),
        &options,
        "20261101-100000000.parquet",
        parquet(&good_cdc()),
    );
}

#[test]
fn every_type_is_encoded_as_the_merge_reads_it() {
    let meta = TableMetadata::from_json(
        "wide.json",
        r#"{"name":"wide","primary_key":["id"],"columns":[
            {"name":"id","type":"uint64","nullable":false},
            {"name":"i8","type":"int8"}, {"name":"i16","type":"int16"},
            {"name":"i32","type":"int32"}, {"name":"u32","type":"uint32"},
            {"name":"d9","type":"decimal128(9,2)"}, {"name":"d18","type":"decimal128(18,4)"},
            {"name":"d38","type":"decimal128(38,10)"},
            {"name":"f","type":"float64"}, {"name":"day","type":"date32"},
            {"name":"ms","type":"timestamp(ms)"}, {"name":"ns","type":"timestamp(ns)"},
            {"name":"s","type":"string","enum":["a","b"]}, {"name":"b","type":"bool"}]}"#,
    )
    .unwrap();
    let rows = 3000;
    let text = |f: &dyn Fn(usize) -> String| -> Vec<String> { (0..rows).map(f).collect() };
    let columns: Vec<(&str, Vec<String>)> = vec![
        (
            "extraction_timestamp",
            text(&|_| "2026-11-01 10:00:00.000000".into()),
        ),
        ("id", text(&|i| (u64::MAX - i as u64).to_string())),
        ("i8", text(&|i| ((i % 256) as i64 - 128).to_string())),
        ("i16", text(&|i| (i as i64 * 7 - 10_000).to_string())),
        (
            "i32",
            text(&|i| (i as i64 * 1_000_003 % 2_000_000_000).to_string()),
        ),
        ("u32", text(&|i| (u32::MAX - i as u32).to_string())),
        ("d9", text(&|i| format!("{}.{:02}", i, i % 100))),
        (
            "d18",
            text(&|i| format!("-{}.{:04}", i * 99_991, i % 10_000)),
        ),
        (
            "d38",
            text(&|i| format!("{}123456789012345678.{:010}", i, i)),
        ),
        ("f", text(&|i| format!("{}", i as f64 / 7.0))),
        (
            "day",
            text(&|i| format!("2026-{:02}-{:02}", i % 12 + 1, i % 28 + 1)),
        ),
        (
            "ms",
            text(&|i| format!("2026-11-01 10:00:{:02}.{:03}000", i % 60, i % 1000)),
        ),
        (
            "ns",
            text(&|i| format!("2026-11-01 10:{:02}:00.000001", i % 60)),
        ),
        ("s", text(&|i| if i % 3 == 0 { "a" } else { "b" }.into())),
        ("b", text(&|i| (i % 2 == 0).to_string())),
    ];
    let columns: Vec<(&str, Vec<Option<&str>>)> = columns
        .iter()
        .map(|(n, v)| (*n, v.iter().map(|s| Some(s.as_str())).collect()))
        .collect();
    let footer = streamed_equals_in_memory(
        &meta,
        &CheckOptions::default(),
        "LOAD00000001.parquet",
        parquet(&columns),
    );
    use parquet::basic::Encoding;
    let group = footer.row_group(0);
    let chunk = |name: &str| {
        group
            .columns()
            .iter()
            .find(|c| c.column_path().string() == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    for name in [
        "id",
        "i8",
        "i16",
        "i32",
        "u32",
        "d9",
        "d18",
        "day",
        "ms",
        "ns",
        "valid_from",
    ] {
        assert!(
            chunk(name)
                .encodings()
                .any(|e| e == Encoding::DELTA_BINARY_PACKED),
            "{name}: {:?}",
            chunk(name).encodings().collect::<Vec<_>>()
        );
    }
    assert!(
        chunk("change_seq")
            .encodings()
            .any(|e| e == Encoding::DELTA_BYTE_ARRAY)
    );
    for name in ["d38", "f", "row_hash"] {
        assert!(
            chunk(name).encodings().any(|e| e == Encoding::PLAIN),
            "{name}"
        );
    }
    for name in ["s", "op", "batch_id"] {
        assert!(chunk(name).dictionary_page_offset().is_some(), "{name}");
    }
    // What a delta encoding packs is left as it is, and `row_hash`'s
    // random bits; the rest is compressed.
    use parquet::basic::{Compression, ZstdLevel};
    for name in ["id", "d18", "ns", "valid_from", "change_seq", "row_hash"] {
        assert_eq!(
            chunk(name).compression(),
            Compression::UNCOMPRESSED,
            "{name}"
        );
    }
    for name in ["d38", "f", "s", "b", "op", "batch_id"] {
        assert_eq!(
            chunk(name).compression(),
            Compression::ZSTD(ZstdLevel::default()),
            "{name}"
        );
    }
    // A generation that stores `row_hash` as hex digits compresses them.
    let hex = CheckOptions {
        row_hash: RowHashFormat::Hex,
        ..Default::default()
    };
    let footer = streamed_equals_in_memory(&meta, &hex, "LOAD00000001.parquet", parquet(&columns));
    let group = footer.row_group(0);
    let row_hash = group
        .columns()
        .iter()
        .find(|c| c.column_path().string() == "row_hash")
        .unwrap();
    assert_eq!(row_hash.column_type(), parquet::basic::Type::BYTE_ARRAY);
    assert_eq!(
        row_hash.compression(),
        Compression::ZSTD(ZstdLevel::default())
    );
    let with_statistics: Vec<String> = group
        .columns()
        .iter()
        .filter(|c| c.statistics().is_some())
        .map(|c| c.column_path().string())
        .collect();
    assert_eq!(with_statistics, ["id", "valid_from", "batch_id"]);
}

#[test]
fn a_large_file_is_normalised_into_row_groups_an_engine_reads_in_parallel() {
    use super::output::ROW_GROUP_ROWS;
    let rows = 2 * ROW_GROUP_ROWS + 5;
    let ids: Vec<String> = (1..=rows).map(|i| i.to_string()).collect();
    let columns = vec![
        (
            "extraction_timestamp",
            vec![Some("2026-11-01 10:00:00.000000"); rows],
        ),
        ("id", ids.iter().map(|i| Some(i.as_str())).collect()),
        ("status", vec![Some("new"); rows]),
        ("amount", vec![None; rows]),
        ("paid", vec![None; rows]),
    ];
    let footer = streamed_equals_in_memory(
        &meta(),
        &CheckOptions::default(),
        "LOAD00000001.parquet",
        parquet(&columns),
    );
    let groups: Vec<i64> = footer.row_groups().iter().map(|g| g.num_rows()).collect();
    let full = ROW_GROUP_ROWS as i64;
    assert_eq!(groups, [full, full, 5]);
}

#[test]
fn the_sample_keeps_every_rule_even_when_one_is_noisy() {
    let n = 100;
    let mut cols = vec![
        ("op", vec![Some("I"); n]),
        (
            "extraction_timestamp",
            vec![Some("2026-11-01 10:00:00.000000"); n],
        ),
        ("scn", vec![None; n]),
        ("id", vec![Some("x"); n]),
        ("status", vec![Some("new"); n]),
        ("amount", vec![Some("1"); n]),
        ("paid", vec![Some("true"); n]),
    ];
    cols[6].1[99] = Some("maybe");
    let o = check("20261101-100000000.parquet", parquet(&cols));
    assert_eq!(o.findings.total, 101);
    assert!(
        o.findings
            .sample
            .iter()
            .any(|f| f.column.as_deref() == Some("paid") && f.row == Some(100)),
        "{:?}",
        o.findings.sample
    );
}

#[test]
fn a_headerless_csv_is_read_in_the_metadatas_order_and_a_misfit_names_the_dms_settings() {
    // As DMS writes CSV by default (AddColumnName=false): Op, the timestamp,
    // the table's columns, the change-seq.
    let o = check(
        "20261101-100000000.csv",
        Bytes::from(
            "I,2026-11-01 10:00:00.000000,1,new,10.50,false,0001\n\
             U,2026-11-01 10:00:00.000000,1,paid,10.50,t,0002\n",
        ),
    );
    assert!(o.accepted(), "{:?}", o.findings);
    assert_eq!((o.rows, o.ops.inserts, o.ops.updates), (2, 1, 1));
    // A full load without IncludeOpForFullLoad.
    let o = check(
        "LOAD00000001.csv",
        Bytes::from("2026-11-01 10:00:00.000000,1,new,10.50,false,0001\n"),
    );
    assert!(o.accepted(), "{:?}", o.findings);
    // A CDC file a column short (it would fit a full load without Op): the
    // file is refused, naming row 1 and the settings that decide the layout.
    let o = check(
        "20261101-100000000.csv",
        Bytes::from("I,2026-11-01 10:00:00.000000,1,new,10.50,0001\n"),
    );
    assert_eq!(rules(&o), vec![(Rule::Readable, Some(1), None)]);
    let message = &o.findings.sample[0].message;
    assert!(
        message.contains("AddColumnName") && message.contains("IncludeOpForFullLoad"),
        "{message}"
    );
}
