//! `row_hash`: the hash of a row's business values, which the merge compares
//! to tell a real change from a repeat. Its bytes are part of every history
//! table, so the text each value is hashed as must never change: it is
//! Arrow's default display of the value, with fast paths for the common
//! types that write exactly the same text.

use crate::metadata::TableMetadata;
use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use arrow::datatypes::{
    DataType, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::fmt::Write;

/// How one column's values are turned into text.
enum Text<'a> {
    Str(&'a StringArray),
    Bool(&'a arrow::array::BooleanArray),
    Int(Box<dyn Fn(usize) -> i128 + 'a>),
    Other(ArrayFormatter<'a>),
    /// A type Arrow cannot display: left out, as before.
    None,
}

impl<'a> Text<'a> {
    fn new(array: &'a ArrayRef, options: &'a FormatOptions<'a>) -> Text<'a> {
        macro_rules! int {
            ($t:ty) => {{
                let a = array.as_primitive::<$t>();
                Text::Int(Box::new(move |i| a.value(i) as i128))
            }};
        }
        match array.data_type() {
            DataType::Utf8 => Text::Str(array.as_string::<i32>()),
            DataType::Boolean => Text::Bool(array.as_boolean()),
            DataType::Int8 => int!(Int8Type),
            DataType::Int16 => int!(Int16Type),
            DataType::Int32 => int!(Int32Type),
            DataType::Int64 => int!(Int64Type),
            DataType::UInt8 => int!(UInt8Type),
            DataType::UInt16 => int!(UInt16Type),
            DataType::UInt32 => int!(UInt32Type),
            DataType::UInt64 => int!(UInt64Type),
            _ => match ArrayFormatter::try_new(array.as_ref(), options) {
                Ok(f) => Text::Other(f),
                Err(_) => Text::None,
            },
        }
    }

    /// Feeds value `i`'s text to the hasher.
    fn hash(&self, i: usize, buf: &mut String, h: &mut xxhash_rust::xxh3::Xxh3) {
        match self {
            Text::Str(a) => h.update(a.value(i).as_bytes()),
            Text::Bool(a) => h.update(if a.value(i) { b"true" } else { b"false" }),
            Text::Int(v) => {
                buf.clear();
                let _ = write!(buf, "{}", v(i));
                h.update(buf.as_bytes());
            }
            Text::Other(f) => {
                buf.clear();
                let _ = write!(buf, "{}", f.value(i));
                h.update(buf.as_bytes());
            }
            Text::None => {}
        }
    }
}

/// Hash of each row's business values: columns in name order, nulls left
/// out, so adding a nullable column does not change the hash of rows that lack it.
pub(crate) fn row_hashes(meta: &TableMetadata, columns: &[ArrayRef], n: usize) -> StringArray {
    let mut order: Vec<usize> = (0..meta.columns.len()).collect();
    order.sort_by(|&a, &b| meta.columns[a].name.cmp(&meta.columns[b].name));
    let options = FormatOptions::default();
    let texts: Vec<Text<'_>> = columns.iter().map(|c| Text::new(c, &options)).collect();
    let mut out = StringBuilder::with_capacity(n, n * 32);
    let mut buf = String::new();
    for i in 0..n {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for &c in &order {
            if matches!(texts[c], Text::None) || !columns[c].is_valid(i) {
                continue;
            }
            h.update(meta.columns[c].name.as_bytes());
            h.update(&[0x1f]);
            texts[c].hash(i, &mut buf, &mut h);
            h.update(&[0x1e]);
        }
        let _ = write!(out, "{:032x}", h.digest128());
        out.append_value("");
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
        Int8Array, Int16Array, Int32Array, Int64Array, TimestampMicrosecondArray, UInt8Array,
        UInt16Array, UInt32Array, UInt64Array,
    };
    use std::sync::Arc;

    /// The definition: every value through Arrow's formatter, one String each.
    fn reference(meta: &TableMetadata, columns: &[ArrayRef], n: usize) -> Vec<String> {
        let mut order: Vec<usize> = (0..meta.columns.len()).collect();
        order.sort_by(|&a, &b| meta.columns[a].name.cmp(&meta.columns[b].name));
        let options = FormatOptions::default();
        let formatters: Vec<_> = columns
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect();
        (0..n)
            .map(|i| {
                let mut h = xxhash_rust::xxh3::Xxh3::new();
                for &c in &order {
                    if let (true, Ok(f)) = (columns[c].is_valid(i), &formatters[c]) {
                        h.update(meta.columns[c].name.as_bytes());
                        h.update(&[0x1f]);
                        h.update(f.value(i).to_string().as_bytes());
                        h.update(&[0x1e]);
                    }
                }
                format!("{:032x}", h.digest128())
            })
            .collect()
    }

    #[test]
    fn fast_paths_hash_exactly_like_arrows_display() {
        let types = [
            ("b", "bool"),
            ("i8", "int8"),
            ("i16", "int16"),
            ("i32", "int32"),
            ("i64", "int64"),
            ("u8", "uint8"),
            ("u16", "uint16"),
            ("u32", "uint32"),
            ("u64", "uint64"),
            ("f32", "float32"),
            ("f64", "float64"),
            ("d", "decimal128(12,2)"),
            ("s", "string"),
            ("bin", "binary"),
            ("dt", "date32"),
            ("ts", "timestamp(us)"),
        ];
        let cols: Vec<String> = types
            .iter()
            .map(|(n, t)| format!(r#"{{"name":"{n}","type":"{t}"}}"#))
            .collect();
        let meta = TableMetadata::from_json(
            "m",
            &format!(
                r#"{{"name":"t","primary_key":["k"],"columns":[{{"name":"k","type":"int64","nullable":false}},{}]}}"#,
                cols.join(",")
            ),
        )
        .unwrap();
        let n = 7;
        let ints = [0i64, -1, 1, i64::MIN, i64::MAX, 42, -1000];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(0..n as i64)),
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
                Some(false),
                Some(true),
                None,
            ])),
            Arc::new(Int8Array::from_iter_values(ints.map(|v| v as i8))),
            Arc::new(Int16Array::from_iter_values(ints.map(|v| v as i16))),
            Arc::new(Int32Array::from_iter_values(ints.map(|v| v as i32))),
            Arc::new(Int64Array::from_iter_values(ints)),
            Arc::new(UInt8Array::from_iter_values(ints.map(|v| v as u8))),
            Arc::new(UInt16Array::from_iter_values(ints.map(|v| v as u16))),
            Arc::new(UInt32Array::from_iter_values(ints.map(|v| v as u32))),
            Arc::new(UInt64Array::from_iter_values(ints.map(|v| v as u64))),
            Arc::new(Float32Array::from(vec![
                0.1,
                -2.5,
                1e20,
                f32::NAN,
                3.0,
                0.0,
                -0.0,
            ])),
            Arc::new(Float64Array::from(vec![
                0.1,
                -2.5,
                1e300,
                f64::INFINITY,
                3.0,
                1.0 / 3.0,
                -0.0,
            ])),
            Arc::new(
                Decimal128Array::from(vec![
                    Some(1050),
                    Some(-1),
                    None,
                    Some(0),
                    Some(10),
                    Some(99),
                    Some(123456789),
                ])
                .with_precision_and_scale(12, 2)
                .unwrap(),
            ),
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some(""),
                Some("é, \"x\""),
                None,
                Some("\n"),
                Some("0"),
                Some("true"),
            ])),
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\xff"[..]),
                Some(b""),
                None,
                Some(b"ab"),
                Some(b"c"),
                Some(b"d"),
                Some(b"e"),
            ])),
            Arc::new(Date32Array::from(vec![
                0, 1, -1, 20000, 365, -719162, 2932896,
            ])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                0,
                1,
                -1,
                1_793_528_040_000_000,
                123_456,
                1_000_000,
                -62_135_596_800_000_000,
            ])),
        ];
        let fast = row_hashes(&meta, &columns, n);
        let fast: Vec<String> = (0..n).map(|i| fast.value(i).to_string()).collect();
        assert_eq!(fast, reference(&meta, &columns, n));
    }
}
