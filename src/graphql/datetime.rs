//! The `DateTime` scalar: an instant in UTC, as RFC 3339 text.
//!
//! async-graphql's own scalar for `chrono::DateTime<Utc>` writes each value with chrono's
//! `to_rfc3339`, which goes through `fmt`'s machinery (~700 instructions a value, 2% of a
//! nested page that shows a time on every comment). This one writes the same text
//! directly; input is parsed by async-graphql's scalar, so both directions accept and
//! produce exactly what they did.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, Datelike as _, Timelike as _, Utc};

/// An instant, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

/// Implement the DateTime<Utc> scalar
///
/// The input/output is a string in RFC3339 format.
// The description is async-graphql's, word for word: the SDL stays what it was.
#[allow(clippy::doc_markdown)]
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        <DateTime<Utc> as ScalarType>::parse(value)
            .map(Self)
            .map_err(InputValueError::propagate)
    }

    fn to_value(&self) -> Value {
        Value::String(rfc3339(&self.0))
    }
}

/// `instant` as chrono's `to_rfc3339` writes it: seconds, then a fraction of 3, 6 or 9
/// digits when there is one (the fewest that hold it), then `+00:00`.
pub fn rfc3339(instant: &DateTime<Utc>) -> String {
    // Each accessor of a `DateTime` converts it to local time anew: read the parts once.
    let naive = instant.naive_utc();
    let (date, time) = (naive.date(), naive.time());
    let year = date.year();
    let nanos = time.nanosecond();
    // Years of other than four digits and leap seconds: chrono's own spelling.
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return instant.to_rfc3339();
    }
    let seconds = time.num_seconds_from_midnight();
    // Bytes, then one check that they are UTF-8: pushing `char`s encodes each one and cost
    // more than chrono's own formatting.
    let mut text = Vec::with_capacity(35);
    for (count, value, after) in [
        (4, year.unsigned_abs(), b'-'),
        (2, date.month(), b'-'),
        (2, date.day(), b'T'),
        (2, seconds / 3600, b':'),
        (2, seconds / 60 % 60, b':'),
    ] {
        push_digits(&mut text, count, value);
        text.push(after);
    }
    push_digits(&mut text, 2, seconds % 60);
    if nanos != 0 {
        text.push(b'.');
        if nanos % 1_000_000 == 0 {
            push_digits(&mut text, 3, nanos / 1_000_000);
        } else if nanos % 1_000 == 0 {
            push_digits(&mut text, 6, nanos / 1_000);
        } else {
            push_digits(&mut text, 9, nanos);
        }
    }
    text.extend_from_slice(b"+00:00");
    // Only ASCII digits and punctuation were written: never the fallback.
    String::from_utf8(text).unwrap_or_else(|_| instant.to_rfc3339())
}

/// Appends `value`'s last `count` (at most 9) decimal digits, zero-padded.
fn push_digits(text: &mut Vec<u8>, count: usize, value: u32) {
    let mut digits = [b'0'; 9];
    let mut rest = value;
    for digit in digits[..count].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    text.extend_from_slice(&digits[..count]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn instants_are_written_as_chrono_writes_them() {
        let base = Utc.with_ymd_and_hms(2026, 11, 28, 21, 5, 9).unwrap();
        let mut instants = vec![
            base,
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 15, 12, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap(),
        ];
        for nanos in [
            1,
            7,
            1_000,
            410_347_000,
            410_000_000,
            999_999_999,
            123_456_789,
            5_000,
        ] {
            instants.push(base + chrono::Duration::nanoseconds(nanos));
        }
        // A leap second.
        instants.push(
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .unwrap()
                .and_utc(),
        );
        // Two years of instants, a prime number of microseconds apart.
        let mut instant = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        for _ in 0..20_000 {
            instants.push(instant);
            instant += chrono::Duration::microseconds(3_155_692_597);
        }
        for instant in instants {
            assert_eq!(rfc3339(&instant), instant.to_rfc3339(), "{instant:?}");
        }
    }

    #[test]
    fn input_is_parsed_as_async_graphql_parses_it() {
        let text = Value::String("2026-11-28T21:05:09.5+01:00".into());
        let ours = Timestamp::parse(text.clone()).unwrap();
        let theirs = <DateTime<Utc> as ScalarType>::parse(text).unwrap();
        assert_eq!(ours.0, theirs);
        assert!(Timestamp::parse(Value::String("yesterday".into())).is_err());
        assert!(Timestamp::parse(Value::Number(3.into())).is_err());
    }
}
