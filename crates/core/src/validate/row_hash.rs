//! `row_hash`: the hash of a row's business values, which the merge compares
//! to tell a real change from a repeat. Its bits are part of every history
//! table, so what each value is hashed as must never change within a
//! format. `typed` hashes the bytes of numbers, dates, timestamps and
//! booleans, and the text of the rest; `hex` and `bigint` hash Arrow's
//! default display of every value, which the common types write by fast
//! paths that produce exactly the same text (the tests compare them with
//! Arrow's formatter).

use crate::metadata::{RowHashFormat, TableMetadata};
use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::fmt::Write;
use std::sync::Arc;

/// How one column's values are written for the row hash: as text, or as
/// bytes ([`Text::write_typed_rows`]).
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
    /// Arrow displays floats with `ryu` (`NaN`, `inf`, `-inf` included).
    F32(&'a [f32], FloatCache),
    F64(&'a [f64], FloatCache),
    Decimal(&'a [i128], u8),
    /// Microseconds; Arrow's formatter for years outside 0..=9999. The
    /// last day written is kept: timestamps of neighbouring rows mostly share it.
    Timestamp(&'a [i64], Option<ArrayFormatter<'a>>, DayCache),
    /// Days; Arrow's formatter for years outside 0..=9999.
    Date(&'a [i32], Option<ArrayFormatter<'a>>, DayCache),
    Other(ArrayFormatter<'a>),
    /// A type Arrow cannot display: left out of the hash.
    None,
}

/// The `yyyy-mm-dd` text of the day last written (`None`: not in 0..=9999).
struct DayCache {
    day: i64,
    text: Option<[u8; 10]>,
}

impl DayCache {
    fn new() -> DayCache {
        DayCache {
            day: i64::MIN,
            text: date(i64::MIN),
        }
    }

    fn get(&mut self, day: i64) -> Option<[u8; 10]> {
        if day != self.day {
            self.day = day;
            self.text = date(day);
        }
        self.text
    }
}

/// The text of recently written floats, by their bits: prices, rates and
/// measures repeat, and ryu takes tens of nanoseconds a value.
struct FloatCache {
    bits: Vec<u64>,
    texts: Vec<([u8; 24], u8)>,
}

impl FloatCache {
    const SLOTS: usize = 256;

    /// Every slot starts as the value `bits` written as `text` (zero).
    fn new(bits: u64, text: &str) -> FloatCache {
        let mut entry = [0u8; 24];
        entry[..text.len()].copy_from_slice(text.as_bytes());
        FloatCache {
            bits: vec![bits; Self::SLOTS],
            texts: vec![(entry, text.len() as u8); Self::SLOTS],
        }
    }

    fn write(
        &mut self,
        bits: u64,
        format: impl FnOnce(&mut ryu::Buffer) -> &[u8],
        out: &mut Vec<u8>,
    ) {
        let slot = (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize;
        if self.bits[slot] != bits {
            let mut buffer = ryu::Buffer::new();
            let text = format(&mut buffer);
            // ryu writes at most 24 bytes (`-1.2345678901234567e-308`).
            let len = text.len().min(24);
            self.bits[slot] = bits;
            self.texts[slot].0[..len].copy_from_slice(&text[..len]);
            self.texts[slot].1 = len as u8;
        }
        let (text, len) = &self.texts[slot];
        out.extend_from_slice(&text[..*len as usize]);
    }
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
            DataType::Float32 => Text::F32(
                array.as_primitive::<Float32Type>().values(),
                FloatCache::new(0f32.to_bits() as u64, ryu::Buffer::new().format(0f32)),
            ),
            DataType::Float64 => Text::F64(
                array.as_primitive::<Float64Type>().values(),
                FloatCache::new(0f64.to_bits(), ryu::Buffer::new().format(0f64)),
            ),
            DataType::Decimal128(_, scale) if *scale >= 0 => Text::Decimal(
                array.as_primitive::<Decimal128Type>().values(),
                *scale as u8,
            ),
            DataType::Timestamp(TimeUnit::Microsecond, None) => Text::Timestamp(
                array.as_primitive::<TimestampMicrosecondType>().values(),
                formatter(),
                DayCache::new(),
            ),
            DataType::Date32 => Text::Date(
                array.as_primitive::<Date32Type>().values(),
                formatter(),
                DayCache::new(),
            ),
            _ => match formatter() {
                Some(f) => Text::Other(f),
                None => Text::None,
            },
        }
    }

    /// Appends the text of value `first + k` to `rows[k]`, framed as `frame`
    /// says, for every present value: one loop per type, so that a row's
    /// values are written without deciding each one's type again.
    fn write_rows(&mut self, frame: &Frame<'_>, first: usize, rows: &mut [Vec<u8>]) {
        match self {
            Text::Str(a) => {
                let (offsets, values) = (a.value_offsets(), a.values());
                frame.each(first, rows, |i, out| {
                    put(out, values, offsets[i] as usize, offsets[i + 1] as usize)
                })
            }
            Text::Bool(a) => frame.each(first, rows, |i, out| {
                out.extend_from_slice(if a.value(i) { b"true" } else { b"false" })
            }),
            Text::I8(v) => frame.each(first, rows, |i, out| integer(v[i] as i64, out)),
            Text::I16(v) => frame.each(first, rows, |i, out| integer(v[i] as i64, out)),
            Text::I32(v) => frame.each(first, rows, |i, out| integer(v[i] as i64, out)),
            Text::I64(v) => frame.each(first, rows, |i, out| integer(v[i], out)),
            Text::U8(v) => frame.each(first, rows, |i, out| digits(v[i] as u64, out)),
            Text::U16(v) => frame.each(first, rows, |i, out| digits(v[i] as u64, out)),
            Text::U32(v) => frame.each(first, rows, |i, out| digits(v[i] as u64, out)),
            Text::U64(v) => frame.each(first, rows, |i, out| digits(v[i], out)),
            Text::F32(v, cache) => frame.each(first, rows, |i, out| {
                let v = v[i];
                cache.write(v.to_bits() as u64, |b| b.format(v).as_bytes(), out)
            }),
            Text::F64(v, cache) => frame.each(first, rows, |i, out| {
                let v = v[i];
                cache.write(v.to_bits(), |b| b.format(v).as_bytes(), out)
            }),
            Text::Decimal(v, scale) => frame.each(first, rows, |i, out| decimal(v[i], *scale, out)),
            Text::Timestamp(v, fallback, cache) => frame.each(first, rows, |i, out| {
                let micros = v[i];
                let (days, in_day) = (
                    micros.div_euclid(86_400_000_000),
                    micros.rem_euclid(86_400_000_000),
                );
                match cache.get(days) {
                    Some(text) => {
                        out.extend_from_slice(&text);
                        time_of_day(in_day, out);
                    }
                    None => formatted(fallback.as_ref(), i, out),
                }
            }),
            Text::Date(v, fallback, cache) => {
                frame.each(first, rows, |i, out| match cache.get(v[i] as i64) {
                    Some(text) => out.extend_from_slice(&text),
                    None => formatted(fallback.as_ref(), i, out),
                })
            }
            Text::Other(f) => frame.each(first, rows, |i, out| formatted(Some(f), i, out)),
            Text::None => {}
        }
    }

    /// As [`Text::write_rows`], for `typed` row hashes: integers of every
    /// width, dates (days) and timestamps (microseconds) as 8 little-endian
    /// bytes; decimals as their 16 unscaled ones; floats as a `f64`'s bits,
    /// every NaN as one; booleans as one byte; strings and other text after
    /// their length in 4 bytes, so that a value cannot pass for the framing
    /// of the next column.
    fn write_typed_rows(&mut self, frame: &Frame<'_>, first: usize, rows: &mut [Vec<u8>]) {
        fn le(out: &mut Vec<u8>, bytes: [u8; 8]) {
            out.extend_from_slice(&bytes);
        }
        fn float(v: f64, out: &mut Vec<u8>) {
            let v = if v.is_nan() { f64::NAN } else { v };
            le(out, v.to_bits().to_le_bytes())
        }
        match self {
            Text::Str(a) => {
                let (offsets, values) = (a.value_offsets(), a.values());
                frame.each(first, rows, |i, out| {
                    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                    out.extend_from_slice(&((end - start) as u32).to_le_bytes());
                    put(out, values, start, end)
                })
            }
            Text::Bool(a) => frame.each(first, rows, |i, out| out.push(u8::from(a.value(i)))),
            Text::I8(v) => frame.each(first, rows, |i, out| le(out, (v[i] as i64).to_le_bytes())),
            Text::I16(v) => frame.each(first, rows, |i, out| le(out, (v[i] as i64).to_le_bytes())),
            Text::I32(v) => frame.each(first, rows, |i, out| le(out, (v[i] as i64).to_le_bytes())),
            Text::I64(v) => frame.each(first, rows, |i, out| le(out, v[i].to_le_bytes())),
            Text::U8(v) => frame.each(first, rows, |i, out| le(out, (v[i] as u64).to_le_bytes())),
            Text::U16(v) => frame.each(first, rows, |i, out| le(out, (v[i] as u64).to_le_bytes())),
            Text::U32(v) => frame.each(first, rows, |i, out| le(out, (v[i] as u64).to_le_bytes())),
            Text::U64(v) => frame.each(first, rows, |i, out| le(out, v[i].to_le_bytes())),
            Text::F32(v, _) => frame.each(first, rows, |i, out| float(v[i] as f64, out)),
            Text::F64(v, _) => frame.each(first, rows, |i, out| float(v[i], out)),
            Text::Decimal(v, _) => frame.each(first, rows, |i, out| {
                out.extend_from_slice(&v[i].to_le_bytes())
            }),
            Text::Timestamp(v, ..) => frame.each(first, rows, |i, out| le(out, v[i].to_le_bytes())),
            Text::Date(v, ..) => {
                frame.each(first, rows, |i, out| le(out, (v[i] as i64).to_le_bytes()))
            }
            Text::Other(f) => frame.each(first, rows, |i, out| {
                let at = out.len();
                out.extend_from_slice(&[0; 4]);
                formatted(Some(f), i, out);
                let len = (out.len() - at - 4) as u32;
                out[at..at + 4].copy_from_slice(&len.to_le_bytes());
            }),
            Text::None => {}
        }
    }
}

/// What stands around each present value of a column in a row's bytes:
/// `name 0x1f` before it, `0x1e` after it; and the column's nulls, which
/// have no text.
struct Frame<'a> {
    /// `name 0x1f`, padded with zeros to at least 32 bytes so that [`put`]
    /// copies a short one as one chunk.
    prefix: Vec<u8>,
    len: usize,
    nulls: Option<&'a NullBuffer>,
}

impl<'a> Frame<'a> {
    fn new(name: &str, nulls: Option<&'a NullBuffer>) -> Frame<'a> {
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0x1f);
        let len = prefix.len();
        prefix.resize(len.max(32), 0);
        Frame {
            prefix,
            len,
            nulls: nulls.filter(|b| b.null_count() > 0),
        }
    }

    /// Appends value `first + k`, framed and written by `text`, to `rows[k]`.
    #[inline(always)]
    fn each(&self, first: usize, rows: &mut [Vec<u8>], mut text: impl FnMut(usize, &mut Vec<u8>)) {
        for (k, out) in rows.iter_mut().enumerate() {
            let i = first + k;
            if self.nulls.is_none_or(|b| b.is_valid(i)) {
                put(out, &self.prefix, 0, self.len);
                text(i, out);
                out.push(0x1e);
            }
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

/// The two digits of 0 to 99.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

fn pair(v: u64) -> [u8; 2] {
    let at = (v % 100) as usize * 2;
    [PAIRS[at], PAIRS[at + 1]]
}

/// An integer in decimal digits.
fn integer(v: i64, out: &mut Vec<u8>) {
    if v < 0 {
        out.push(b'-');
    }
    digits(v.unsigned_abs(), out);
}

fn digits(n: u64, out: &mut Vec<u8>) {
    let count = n.checked_ilog10().unwrap_or(0) as usize + 1;
    let mut buf = [0u8; 20];
    let (mut n, mut at) = (n, count);
    while n >= 100 {
        at -= 2;
        buf[at..at + 2].copy_from_slice(&pair(n));
        n /= 100;
    }
    if n >= 10 {
        buf[..2].copy_from_slice(&pair(n));
    } else {
        buf[0] = b'0' + n as u8;
    }
    put_chunk(out, &buf, count);
}

/// Appends the first `len` bytes of `chunk` with one copy of a fixed size:
/// for values of a few bytes, a call to `memcpy` each costs more than the copy.
#[inline(always)]
fn put_chunk<const N: usize>(out: &mut Vec<u8>, chunk: &[u8; N], len: usize) {
    let at = out.len();
    out.extend_from_slice(chunk);
    out.truncate(at + len);
}

/// Appends `source[start..end]`, as [`put_chunk`] when it is short and not at
/// the very end of `source`.
#[inline(always)]
fn put(out: &mut Vec<u8>, source: &[u8], start: usize, end: usize) {
    let chunk = source
        .get(start..start + 32)
        .and_then(|c| <&[u8; 32]>::try_from(c).ok());
    match chunk {
        Some(chunk) if end - start <= 32 => put_chunk(out, chunk, end - start),
        _ => out.extend_from_slice(&source[start..end]),
    }
}

/// Writes `n`'s digits at the end of `buf`; returns where they start.
fn digits_into(mut n: u64, buf: &mut [u8; 40]) -> usize {
    let mut at = buf.len();
    while n >= 100 {
        at -= 2;
        buf[at..at + 2].copy_from_slice(&pair(n));
        n /= 100;
    }
    if n >= 10 {
        at -= 2;
        buf[at..at + 2].copy_from_slice(&pair(n));
    } else {
        at -= 1;
        buf[at] = b'0' + n as u8;
    }
    at
}

/// [`digits_into`] for any unsigned 128-bit value: 64-bit divisions when
/// the value fits (128-bit ones are slow), as almost every decimal does.
fn wide_digits_into(n: u128, buf: &mut [u8; 40]) -> usize {
    if let Ok(small) = u64::try_from(n) {
        return digits_into(small, buf);
    }
    let (mut n, mut at) = (n, buf.len());
    while n > 0 {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    at
}

/// An unscaled decimal with `scale` fractional digits, as Arrow writes it
/// (`12.50`, `-0.05`, `0.00`).
fn decimal(v: i128, scale: u8, out: &mut Vec<u8>) {
    if v < 0 {
        out.push(b'-');
    }
    let scale = scale as usize;
    if let (Ok(mut m), true) = (u64::try_from(v.unsigned_abs()), scale <= 19) {
        // Right to left into a buffer of the text's length: the fraction's
        // digits, the point, then the integer's digits (at least a 0).
        let count = m.checked_ilog10().unwrap_or(0) as usize + 1;
        let whole = count.saturating_sub(scale).max(1);
        let len = if scale == 0 { whole } else { whole + 1 + scale };
        let mut buf = [0u8; 40];
        let mut at = len;
        for _ in 0..scale {
            at -= 1;
            buf[at] = b'0' + (m % 10) as u8;
            m /= 10;
        }
        if scale > 0 {
            at -= 1;
            buf[at] = b'.';
        }
        loop {
            at -= 1;
            buf[at] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
        put_chunk(out, &buf, len);
        return;
    }
    let mut buf = [0u8; 40];
    let at = wide_digits_into(v.unsigned_abs(), &mut buf);
    let digits = &buf[at..];
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

/// `yyyy-mm-dd` of days since 1970-01-01, for years 0 to 9999 (`None` otherwise).
fn date(days: i64) -> Option<[u8; 10]> {
    // Days to civil date (proleptic Gregorian), after Howard Hinnant.
    let z = days.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (year, month, day) = (year as u64, month as u64, day as u64);
    let [y0, y1] = pair(year / 100);
    let [y2, y3] = pair(year);
    let [m0, m1] = pair(month);
    let [d0, d1] = pair(day);
    Some([y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1])
}

/// `Thh:mm:ss` and the fraction as chrono's Debug writes it: none, 3 or 6 digits.
fn time_of_day(micros: i64, out: &mut Vec<u8>) {
    let micros = micros as u64;
    let secs = micros / 1_000_000;
    let fraction = micros % 1_000_000;
    let [h0, h1] = pair(secs / 3600);
    let [m0, m1] = pair(secs / 60 % 60);
    let [s0, s1] = pair(secs % 60);
    out.extend_from_slice(&[b'T', h0, h1, b':', m0, m1, b':', s0, s1]);
    if fraction == 0 {
        return;
    }
    if fraction.is_multiple_of(1000) {
        let ms = fraction / 1000;
        let [a1, a2] = pair(ms);
        out.extend_from_slice(&[b'.', b'0' + (ms / 100) as u8, a1, a2]);
    } else {
        let [a0, a1] = pair(fraction / 10_000);
        let [b0, b1] = pair(fraction / 100);
        let [c0, c1] = pair(fraction);
        out.extend_from_slice(&[b'.', a0, a1, b0, b1, c0, c1]);
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Hash of each row's business values: columns in name order, nulls left
/// out, so adding a nullable column does not change the hash of rows that
/// lack it. Each present value contributes `name 0x1f value 0x1e`, the
/// value as `format` writes it (text, or [`Text::write_typed_rows`]); the
/// row's bytes are hashed with XXH3-128, stored as `format` says.
pub(crate) fn row_hashes(
    meta: &TableMetadata,
    columns: &[ArrayRef],
    n: usize,
    format: RowHashFormat,
) -> ArrayRef {
    let mut order: Vec<usize> = (0..meta.columns.len()).collect();
    order.sort_by(|&a, &b| meta.columns[a].name.cmp(&meta.columns[b].name));
    let options = FormatOptions::default();
    let mut parts: Vec<(Frame<'_>, Text<'_>)> = order
        .into_iter()
        .filter_map(|c| {
            let text = Text::new(&columns[c], &options);
            let frame = Frame::new(&meta.columns[c].name, columns[c].nulls());
            (!matches!(text, Text::None)).then_some((frame, text))
        })
        .collect();
    // Rows are written a block at a time, a column at a time: few enough
    // rows that their bytes stay in the core's first-level cache until they
    // are hashed (64 rows of 256 bytes: 16 KiB).
    const BLOCK: usize = 64;
    let mut rows: Vec<Vec<u8>> = (0..BLOCK.min(n)).map(|_| Vec::with_capacity(256)).collect();
    let mut hashes: Vec<u128> = Vec::with_capacity(n);
    for first in (0..n).step_by(BLOCK) {
        let rows = &mut rows[..BLOCK.min(n - first)];
        rows.iter_mut().for_each(Vec::clear);
        for (frame, text) in parts.iter_mut() {
            match format {
                RowHashFormat::Typed => text.write_typed_rows(frame, first, rows),
                RowHashFormat::Hex | RowHashFormat::Bigint => text.write_rows(frame, first, rows),
            }
        }
        hashes.extend(rows.iter().map(|row| xxhash_rust::xxh3::xxh3_128(row)));
    }
    match format {
        RowHashFormat::Bigint | RowHashFormat::Typed => Arc::new(Int64Array::from_iter_values(
            hashes.iter().map(|h| (h >> 64) as u64 as i64),
        )),
        RowHashFormat::Hex => {
            let mut values: Vec<u8> = Vec::with_capacity(n * 32);
            for h in hashes {
                let digest = h.to_be_bytes();
                let mut hex = [0u8; 32];
                for (k, b) in digest.iter().enumerate() {
                    hex[2 * k] = HEX[(b >> 4) as usize];
                    hex[2 * k + 1] = HEX[(b & 0xf) as usize];
                }
                values.extend_from_slice(&hex);
            }
            let offsets =
                OffsetBuffer::new(ScalarBuffer::from_iter((0..=n).map(|i| (i * 32) as i32)));
            // Hex digits are ASCII.
            Arc::new(StringArray::new(offsets, Buffer::from_vec(values), None))
        }
    }
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
            let mut fast = Text::new(&array, &options);
            let unframed = Frame::new("", None);
            for i in 0..array.len() {
                let mut out = [Vec::new()];
                fast.write_rows(&unframed, i, &mut out);
                let [mut out] = out;
                assert_eq!(out.pop(), Some(0x1e));
                assert_eq!(out.remove(0), 0x1f);
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
        check(Arc::new(Int32Array::from_iter_values(
            micros.iter().map(|v| *v as i32),
        )));
        check(Arc::new(UInt32Array::from_iter_values(
            micros.iter().map(|v| *v as u32),
        )));
        let floats = micros.iter().zip(&decimals).map(|(m, d)| {
            let f = *m as f64 / 10f64.powi((*d % 30) as i32);
            match d % 50 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => -0.0,
                4 => f64::from_bits(*m as u64),
                _ => f,
            }
        });
        let floats: Vec<f64> = floats.collect();
        check(Arc::new(Float64Array::from(floats.clone())));
        // Strings of 0 to 60 bytes, short ones copied in fixed-size chunks.
        check(Arc::new(arrow::array::StringArray::from_iter_values(
            (0..2000).map(|i| {
                "é-x0123456789"
                    .repeat(i % 5)
                    .chars()
                    .take(i % 61)
                    .collect::<String>()
            }),
        )));
        // Repeating values, more than the float cache has slots: hits and misses.
        check(Arc::new(Float64Array::from_iter_values(
            (0..micros.len()).map(|_| (next() % 700) as f64 / 7.0 - 50.0),
        )));
        check(Arc::new(Float32Array::from_iter_values(
            floats.iter().map(|f| *f as f32),
        )));
        check(Arc::new(Int8Array::from_iter_values(
            micros.iter().map(|v| *v as i8),
        )));
        check(Arc::new(UInt64Array::from_iter_values(
            micros.iter().map(|v| *v as u64),
        )));
        for scale in [0, 1, 2, 6, 18, 19, 20, 38] {
            let bound = 10i128.pow(38) - 1;
            let values: Vec<i128> = decimals.iter().map(|d| d % bound).collect();
            check(Arc::new(
                Decimal128Array::from(values)
                    .with_precision_and_scale(38, scale)
                    .unwrap(),
            ));
        }
    }

    /// A table with a column of every type, and seven rows of edge values.
    fn every_type() -> (TableMetadata, Vec<ArrayRef>, usize) {
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
        (meta, columns, n)
    }

    #[test]
    fn fast_paths_hash_exactly_like_arrows_display() {
        let (meta, columns, n) = every_type();
        let hex = row_hashes(&meta, &columns, n, RowHashFormat::Hex);
        let hex: Vec<String> = (0..n)
            .map(|i| hex.as_string::<i32>().value(i).to_string())
            .collect();
        assert_eq!(hex, reference(&meta, &columns, n));
        // `bigint` is the hex's first 16 digits, as a signed integer.
        let bigint = row_hashes(&meta, &columns, n, RowHashFormat::Bigint);
        let bigint: Vec<String> = (0..n)
            .map(|i| format!("{:016x}", bigint.as_primitive::<Int64Type>().value(i)))
            .collect();
        let prefixes: Vec<String> = hex.iter().map(|h| h[..16].to_string()).collect();
        assert_eq!(bigint, prefixes);

        // Rows are hashed in blocks: the same rows, 31 times over (217 rows,
        // the last block partial; each block starts at a different one).
        let repeated: Vec<ArrayRef> = columns
            .iter()
            .map(|c| arrow::compute::concat(&vec![c.as_ref(); 31]).unwrap())
            .collect();
        let hex = row_hashes(&meta, &repeated, 31 * n, RowHashFormat::Hex);
        let hex: Vec<String> = (0..31 * n)
            .map(|i| hex.as_string::<i32>().value(i).to_string())
            .collect();
        assert_eq!(hex, reference(&meta, &repeated, 31 * n));
    }

    /// The definition of `typed`: each value's bytes from its scalar.
    fn typed_reference(meta: &TableMetadata, columns: &[ArrayRef], n: usize) -> Vec<i64> {
        let mut order: Vec<usize> = (0..meta.columns.len()).collect();
        order.sort_by(|&a, &b| meta.columns[a].name.cmp(&meta.columns[b].name));
        let options = FormatOptions::default();
        (0..n)
            .map(|i| {
                let mut h = xxhash_rust::xxh3::Xxh3::new();
                for &c in &order {
                    let column = &columns[c];
                    if column.is_null(i) {
                        continue;
                    }
                    let bytes: Vec<u8> = match column.data_type() {
                        DataType::Boolean => vec![column.as_boolean().value(i) as u8],
                        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                            let wide = arrow::compute::cast(column, &DataType::Int64).unwrap();
                            wide.as_primitive::<Int64Type>()
                                .value(i)
                                .to_le_bytes()
                                .to_vec()
                        }
                        DataType::UInt8
                        | DataType::UInt16
                        | DataType::UInt32
                        | DataType::UInt64 => {
                            let wide = arrow::compute::cast(column, &DataType::UInt64).unwrap();
                            wide.as_primitive::<UInt64Type>()
                                .value(i)
                                .to_le_bytes()
                                .to_vec()
                        }
                        DataType::Float32 | DataType::Float64 => {
                            let wide = arrow::compute::cast(column, &DataType::Float64).unwrap();
                            let v = wide.as_primitive::<Float64Type>().value(i);
                            let bits = if v.is_nan() {
                                f64::NAN.to_bits()
                            } else {
                                v.to_bits()
                            };
                            bits.to_le_bytes().to_vec()
                        }
                        DataType::Decimal128(..) => {
                            let v = column.as_primitive::<Decimal128Type>().value(i);
                            v.to_le_bytes().to_vec()
                        }
                        DataType::Date32 => {
                            let days = column.as_primitive::<Date32Type>().value(i) as i64;
                            days.to_le_bytes().to_vec()
                        }
                        DataType::Timestamp(TimeUnit::Microsecond, None) => column
                            .as_primitive::<TimestampMicrosecondType>()
                            .value(i)
                            .to_le_bytes()
                            .to_vec(),
                        _ => {
                            let f = ArrayFormatter::try_new(column.as_ref(), &options).unwrap();
                            let text = f.value(i).to_string().into_bytes();
                            let mut bytes = (text.len() as u32).to_le_bytes().to_vec();
                            bytes.extend(text);
                            bytes
                        }
                    };
                    h.update(meta.columns[c].name.as_bytes());
                    h.update(&[0x1f]);
                    h.update(&bytes);
                    h.update(&[0x1e]);
                }
                (h.digest128() >> 64) as u64 as i64
            })
            .collect()
    }

    fn typed(meta: &TableMetadata, columns: &[ArrayRef], n: usize) -> Vec<i64> {
        let hashes = row_hashes(meta, columns, n, RowHashFormat::Typed);
        hashes.as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn typed_hashes_each_values_bytes() {
        let (meta, columns, n) = every_type();
        let hashes = typed(&meta, &columns, n);
        assert_eq!(hashes, typed_reference(&meta, &columns, n));
        // Not the text's hash: a different format, recorded as one.
        let bigint = row_hashes(&meta, &columns, n, RowHashFormat::Bigint);
        assert_ne!(hashes, bigint.as_primitive::<Int64Type>().values().to_vec());

        // In blocks, as above.
        let repeated: Vec<ArrayRef> = columns
            .iter()
            .map(|c| arrow::compute::concat(&vec![c.as_ref(); 31]).unwrap())
            .collect();
        assert_eq!(
            typed(&meta, &repeated, 31 * n),
            typed_reference(&meta, &repeated, 31 * n)
        );
    }

    #[test]
    fn typed_hashes_a_value_the_same_at_every_width_and_nan_as_one() {
        let meta = |ty: &str| {
            TableMetadata::from_json(
                "m",
                &format!(r#"{{"name":"t","primary_key":["v"],"columns":[{{"name":"v","type":"{ty}","nullable":false}}]}}"#),
            )
            .unwrap()
        };
        let ints = [0i64, 1, -1, 100, -128, 127];
        let narrow: ArrayRef = Arc::new(Int8Array::from_iter_values(ints.map(|v| v as i8)));
        let wide: ArrayRef = Arc::new(Int64Array::from_iter_values(ints));
        assert_eq!(
            typed(&meta("int8"), &[narrow], ints.len()),
            typed(&meta("int64"), &[wide], ints.len())
        );
        let nans: ArrayRef = Arc::new(Float64Array::from(vec![
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff8_0000_0000_0001),
        ]));
        let hashes = typed(&meta("float64"), &[nans], 3);
        assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
        let zeros: ArrayRef = Arc::new(Float32Array::from(vec![0.0, -0.0]));
        let hashes = typed(&meta("float32"), &[zeros], 2);
        assert_ne!(
            hashes[0], hashes[1],
            "0 and -0 display differently, so differ"
        );
    }

    /// A string's length goes before it: a value cannot pass for the
    /// framing of the next column, as it can in the text formats.
    #[test]
    fn typed_strings_cannot_pass_for_the_next_column() {
        let meta = TableMetadata::from_json(
            "m",
            r#"{"name":"t","primary_key":["a"],"columns":[{"name":"a","type":"string","nullable":false},{"name":"b","type":"string"}]}"#,
        )
        .unwrap();
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("x\u{1e}b\u{1f}y"), Some("x")]));
        let b: ArrayRef = Arc::new(StringArray::from(vec![None, Some("y")]));
        let columns = [a, b];
        let hashes = typed(&meta, &columns, 2);
        assert_ne!(hashes[0], hashes[1]);
        let text = row_hashes(&meta, &columns, 2, RowHashFormat::Bigint);
        let text = text.as_primitive::<Int64Type>();
        assert_eq!(text.value(0), text.value(1));
    }
}
