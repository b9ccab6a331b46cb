//! `row_hash`: the hash of a row's business values, which the merge compares
//! to tell a real change from a repeat. Its bytes are part of every history
//! table, so the text each value is hashed as must never change: it is
//! Arrow's default display of the value. The common types are written by
//! fast paths that produce exactly the same text (the tests compare them
//! with Arrow's formatter); the rest go through Arrow's formatter.

use crate::metadata::TableMetadata;
use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::fmt::Write;

/// How one column's values are turned into text.
enum Text<'a> {
    Str(&'a StringArray),
    Bool(&'a arrow::array::BooleanArray),
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
    Decimal(&'a [i128], u8),
    /// Microseconds; Arrow's formatter for years outside 0..=9999.
    Timestamp(&'a [i64], Option<ArrayFormatter<'a>>),
    /// Days; Arrow's formatter for years outside 0..=9999.
    Date(&'a [i32], Option<ArrayFormatter<'a>>),
    Other(ArrayFormatter<'a>),
    /// A type Arrow cannot display: left out of the hash.
    None,
}

impl<'a> Text<'a> {
    fn new(array: &'a ArrayRef, options: &'a FormatOptions<'a>) -> Text<'a> {
        let formatter = || ArrayFormatter::try_new(array.as_ref(), options).ok();
        match array.data_type() {
            DataType::Utf8 => Text::Str(array.as_string::<i32>()),
            DataType::Boolean => Text::Bool(array.as_boolean()),
            DataType::Int8 => Text::I8(array.as_primitive::<Int8Type>().values()),
            DataType::Int16 => Text::I16(array.as_primitive::<Int16Type>().values()),
            DataType::Int32 => Text::I32(array.as_primitive::<Int32Type>().values()),
            DataType::Int64 => Text::I64(array.as_primitive::<Int64Type>().values()),
            DataType::UInt8 => Text::U8(array.as_primitive::<UInt8Type>().values()),
            DataType::UInt16 => Text::U16(array.as_primitive::<UInt16Type>().values()),
            DataType::UInt32 => Text::U32(array.as_primitive::<UInt32Type>().values()),
            DataType::UInt64 => Text::U64(array.as_primitive::<UInt64Type>().values()),
            DataType::Decimal128(_, scale) if *scale >= 0 => Text::Decimal(
                array.as_primitive::<Decimal128Type>().values(),
                *scale as u8,
            ),
            DataType::Timestamp(TimeUnit::Microsecond, None) => Text::Timestamp(
                array.as_primitive::<TimestampMicrosecondType>().values(),
                formatter(),
            ),
            DataType::Date32 => {
                Text::Date(array.as_primitive::<Date32Type>().values(), formatter())
            }
            _ => match formatter() {
                Some(f) => Text::Other(f),
                None => Text::None,
            },
        }
    }

    /// Appends value `i`'s text.
    fn write(&self, i: usize, out: &mut Vec<u8>) {
        match self {
            Text::Str(a) => out.extend_from_slice(a.value(i).as_bytes()),
            Text::Bool(a) => out.extend_from_slice(if a.value(i) { b"true" } else { b"false" }),
            Text::I8(v) => integer(v[i] as i128, out),
            Text::I16(v) => integer(v[i] as i128, out),
            Text::I32(v) => integer(v[i] as i128, out),
            Text::I64(v) => integer(v[i] as i128, out),
            Text::U8(v) => integer(v[i] as i128, out),
            Text::U16(v) => integer(v[i] as i128, out),
            Text::U32(v) => integer(v[i] as i128, out),
            Text::U64(v) => integer(v[i] as i128, out),
            Text::Decimal(v, scale) => decimal(v[i], *scale, out),
            Text::Timestamp(v, fallback) => {
                let micros = v[i];
                let (days, in_day) = (
                    micros.div_euclid(86_400_000_000),
                    micros.rem_euclid(86_400_000_000),
                );
                if !date(days, out) {
                    formatted(fallback.as_ref(), i, out);
                    return;
                }
                time_of_day(in_day, out);
            }
            Text::Date(v, fallback) => {
                if !date(v[i] as i64, out) {
                    formatted(fallback.as_ref(), i, out);
                }
            }
            Text::Other(f) => formatted(Some(f), i, out),
            Text::None => {}
        }
    }
}

/// Appends what Arrow's formatter writes for value `i`.
fn formatted(f: Option<&ArrayFormatter<'_>>, i: usize, out: &mut Vec<u8>) {
    struct Bytes<'b>(&'b mut Vec<u8>);
    impl Write for Bytes<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    if let Some(f) = f {
        let _ = write!(Bytes(out), "{}", f.value(i));
    }
}

/// An integer in decimal digits.
fn integer(v: i128, out: &mut Vec<u8>) {
    if v < 0 {
        out.push(b'-');
    }
    digits(v.unsigned_abs(), out);
}

fn digits(n: u128, out: &mut Vec<u8>) {
    let mut buf = [0u8; 40];
    let at = digits_into(n, &mut buf);
    out.extend_from_slice(&buf[at..]);
}

/// Writes `n`'s digits at the end of `buf`; returns where they start.
fn digits_into(mut n: u128, buf: &mut [u8; 40]) -> usize {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return at;
        }
    }
}

/// An unscaled decimal with `scale` fractional digits, as Arrow writes it
/// (`12.50`, `-0.05`, `0.00`).
fn decimal(v: i128, scale: u8, out: &mut Vec<u8>) {
    if v < 0 {
        out.push(b'-');
    }
    let mut buf = [0u8; 40];
    let at = digits_into(v.unsigned_abs(), &mut buf);
    let digits = &buf[at..];
    let scale = scale as usize;
    if scale == 0 {
        out.extend_from_slice(digits);
    } else if digits.len() > scale {
        let point = digits.len() - scale;
        out.extend_from_slice(&digits[..point]);
        out.push(b'.');
        out.extend_from_slice(&digits[point..]);
    } else {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
        out.extend_from_slice(digits);
    }
}

/// `yyyy-mm-dd` of days since 1970-01-01, for years 0 to 9999 (false otherwise).
fn date(days: i64, out: &mut Vec<u8>) -> bool {
    // Days to civil date (proleptic Gregorian), after Howard Hinnant.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return false;
    }
    padded(year as u64, 4, out);
    out.push(b'-');
    padded(month as u64, 2, out);
    out.push(b'-');
    padded(day as u64, 2, out);
    true
}

/// `Thh:mm:ss` and the fraction as chrono's Debug writes it: none, 3 or 6 digits.
fn time_of_day(micros: i64, out: &mut Vec<u8>) {
    let secs = micros / 1_000_000;
    let fraction = micros % 1_000_000;
    out.push(b'T');
    padded((secs / 3600) as u64, 2, out);
    out.push(b':');
    padded((secs / 60 % 60) as u64, 2, out);
    out.push(b':');
    padded((secs % 60) as u64, 2, out);
    if fraction == 0 {
        return;
    }
    out.push(b'.');
    if fraction % 1000 == 0 {
        padded((fraction / 1000) as u64, 3, out);
    } else {
        padded(fraction as u64, 6, out);
    }
}

/// `v` in at least `width` digits.
fn padded(v: u64, width: usize, out: &mut Vec<u8>) {
    let mut buf = [b'0'; 20];
    let mut at = buf.len();
    let mut v = v;
    while v > 0 || buf.len() - at < width {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[at..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Hash of each row's business values: columns in name order, nulls left
/// out, so adding a nullable column does not change the hash of rows that
/// lack it. Each present value contributes `name 0x1f text 0x1e`; the row's
/// bytes are hashed with XXH3-128 and written as 32 hex digits.
pub(crate) fn row_hashes(meta: &TableMetadata, columns: &[ArrayRef], n: usize) -> StringArray {
    let mut order: Vec<usize> = (0..meta.columns.len()).collect();
    order.sort_by(|&a, &b| meta.columns[a].name.cmp(&meta.columns[b].name));
    let options = FormatOptions::default();
    let texts: Vec<Text<'_>> = columns.iter().map(|c| Text::new(c, &options)).collect();
    let order: Vec<(usize, Option<&NullBuffer>)> = order
        .into_iter()
        .filter(|&c| !matches!(texts[c], Text::None))
        .map(|c| (c, columns[c].nulls()))
        .collect();
    let mut out = StringBuilder::with_capacity(n, n * 32);
    let mut row = Vec::with_capacity(256);
    let mut hex = [0u8; 32];
    for i in 0..n {
        row.clear();
        for &(c, nulls) in &order {
            if nulls.is_none_or(|n| n.is_valid(i)) {
                row.extend_from_slice(meta.columns[c].name.as_bytes());
                row.push(0x1f);
                texts[c].write(i, &mut row);
                row.push(0x1e);
            }
        }
        let digest = xxhash_rust::xxh3::xxh3_128(&row);
        for (k, h) in hex.iter_mut().enumerate() {
            *h = HEX[((digest >> (124 - 4 * k)) & 0xf) as usize];
        }
        // Hex digits are ASCII.
        out.append_value(std::str::from_utf8(&hex).unwrap_or_default());
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

    /// Many values of the fast-path types, from a fixed pseudo-random sequence.
    #[test]
    fn fast_paths_write_exactly_what_arrow_displays() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let n = 20_000;
        let mut micros: Vec<i64> = (0..n)
            .map(|i| {
                let r = next() as i64;
                match i % 4 {
                    0 => r % 400_000_000_000_000_000, // about year -10700 to 14600
                    1 => (r % 300_000_000_000_000) / 1_000_000 * 1_000_000, // whole seconds
                    2 => (r % 300_000_000_000_000) / 1000 * 1000, // milliseconds
                    _ => r % 300_000_000_000_000,
                }
            })
            .collect();
        micros.extend([
            0,
            -1,
            1,
            253_402_300_799_999_999,
            253_402_300_800_000_000,
            -62_167_219_200_000_000,
            -62_167_219_200_000_001,
        ]);
        let days: Vec<i32> = micros.iter().map(|m| (m / 86_400_000_000) as i32).collect();
        let decimals: Vec<i128> = (0..micros.len())
            .map(|i| (next() as i128).wrapping_mul(next() as i128) >> (i % 100))
            .collect();
        let check = |array: ArrayRef| {
            let options = FormatOptions::default();
            let reference = ArrayFormatter::try_new(array.as_ref(), &options).unwrap();
            let fast = Text::new(&array, &options);
            for i in 0..array.len() {
                let mut out = Vec::new();
                fast.write(i, &mut out);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    reference.value(i).to_string(),
                    "{} value {i}",
                    array.data_type()
                );
            }
        };
        check(Arc::new(TimestampMicrosecondArray::from(micros.clone())));
        check(Arc::new(Date32Array::from(days)));
        check(Arc::new(Int64Array::from(micros.clone())));
        check(Arc::new(Int8Array::from_iter_values(
            micros.iter().map(|v| *v as i8),
        )));
        check(Arc::new(UInt64Array::from_iter_values(
            micros.iter().map(|v| *v as u64),
        )));
        for scale in [0, 1, 2, 6, 18, 38] {
            let bound = 10i128.pow(38) - 1;
            let values: Vec<i128> = decimals.iter().map(|d| d % bound).collect();
            check(Arc::new(
                Decimal128Array::from(values)
                    .with_precision_and_scale(38, scale)
                    .unwrap(),
            ));
        }
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
