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
    let mut text = Ascii::default();
    text.digits(4, year.unsigned_abs());
    text.byte(b'-');
    text.digits(2, date.month());
    text.byte(b'-');
    text.digits(2, date.day());
    text.byte(b'T');
    text.digits(2, seconds / 3600);
    text.byte(b':');
    text.digits(2, seconds / 60 % 60);
    text.byte(b':');
    text.digits(2, seconds % 60);
    if nanos != 0 {
        text.byte(b'.');
        if nanos % 1_000_000 == 0 {
            text.digits(3, nanos / 1_000_000);
        } else if nanos % 1_000 == 0 {
            text.digits(6, nanos / 1_000);
        } else {
            text.digits(9, nanos);
        }
    }
    for &byte in b"+00:00" {
        text.byte(byte);
    }
    text.into_string().unwrap_or_else(|| instant.to_rfc3339())
}

/// A short ASCII text built in place (the longest instant takes 35 bytes).
struct Ascii {
    bytes: [u8; 35],
    len: usize,
}

impl Default for Ascii {
    fn default() -> Self {
        Self {
            bytes: [0; 35],
            len: 0,
        }
    }
}

impl Ascii {
    fn byte(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// `value`'s last `count` decimal digits, zero-padded.
    fn digits(&mut self, count: usize, mut value: u32) {
        for i in (0..count).rev() {
            self.bytes[self.len + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += count;
    }

    /// The text (`None` cannot happen: only ASCII is ever written).
    fn into_string(self) -> Option<String> {
        std::str::from_utf8(&self.bytes[..self.len])
            .ok()
            .map(str::to_owned)
    }
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
