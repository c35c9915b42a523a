//! Response values written as JSON directly, byte for byte what `serde_json` writes.
//!
//! Through serde, every string of a response went through `serde_json`'s escaping loop, a
//! table lookup per byte: two thirds of the serialisation of a nested page (callgrind on
//! deep, whose comment bodies and titles are most of its bytes). Response strings rarely
//! hold anything to escape, so each is first checked in one pass the compiler vectorises
//! and, when clean, copied whole; a string that needs escaping, a number, and anything
//! unusual are still written by `serde_json`, so the output never differs from its own.

use async_graphql::Value;

/// `serde_json`'s private name for a raw value, as `async-graphql-value` copies it.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Appends `value` as compact JSON.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(text) => write_str(out, text),
        Value::Enum(name) => write_str(out, name),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        // async-graphql hands serde_json a raw value as a one-entry object under this
        // key: serde writes that one.
        Value::Object(map) if !is_raw(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
        Value::Number(_) | Value::Binary(_) | Value::Object(_) => with_serde(out, value),
    }
}

/// Whether `map` is async-graphql's wrapper of a raw JSON value.
fn is_raw(map: &async_graphql::indexmap::IndexMap<async_graphql::Name, Value>) -> bool {
    map.len() == 1
        && map
            .keys()
            .next()
            .is_some_and(|key| key.as_str() == RAW_VALUE_TOKEN)
}

/// Appends `text` as a JSON string.
fn write_str(out: &mut Vec<u8>, text: &str) {
    if needs_escape(text.as_bytes()) {
        with_serde(out, text);
    } else {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

/// Whether JSON needs any byte of `bytes` escaped: a control character, `"` or `\`.
fn needs_escape(bytes: &[u8]) -> bool {
    let escaped = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
    // Sixteen bytes at a time without a branch inside: LLVM turns each chunk's test into a
    // few vector instructions. (Eight at a time in a `u64` was slower on response strings,
    // mostly short ids, names and times: the padded tail costs more than it saves.)
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |seen, &b| seen | escaped(b)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| escaped(b))
}

fn with_serde<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a `Vec` fails only for values JSON cannot hold (a map with non-string
    // keys); async-graphql's values are never such.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{Name, Number};

    fn same_as_serde(value: &Value) {
        let mut ours = Vec::new();
        write_value(&mut ours, value);
        let theirs = serde_json::to_vec(value).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
    }

    #[test]
    fn every_byte_that_needs_escaping_is_found_wherever_it_is() {
        let naive = |bytes: &[u8]| bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
        for len in 0..40 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut text = vec![b'x'; len];
                    text[at] = byte;
                    assert_eq!(needs_escape(&text), naive(&text), "{len} {at} {byte}");
                }
            }
            assert!(!needs_escape(&vec![0xc3; len]));
        }
    }

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        let strings = [
            "",
            "plain",
            "quote \" and backslash \\",
            "line\nbreak\ttab\r\u{8}\u{c}",
            "control \u{1} \u{1f} and DEL \u{7f}",
            "unicode é ✓ 😀 and \u{2028}\u{2029}",
            "a/slash </script>",
            &"long text without anything to escape ".repeat(40),
            &format!("{}\"", "x".repeat(70)),
        ];
        for text in strings {
            same_as_serde(&Value::String(text.to_owned()));
            same_as_serde(&Value::Enum(Name::new("PUBLISHED")));
        }
        for number in [
            Number::from(0),
            Number::from(-7),
            Number::from(u64::MAX),
            Number::from_f64(1.5).unwrap(),
            Number::from_f64(1e300).unwrap(),
            Number::from_f64(-0.000_1).unwrap(),
        ] {
            same_as_serde(&Value::Number(number));
        }
        let object = |entries: Vec<(&str, Value)>| {
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (Name::new(k), v))
                    .collect(),
            )
        };
        same_as_serde(&object(vec![]));
        same_as_serde(&object(vec![("only", Value::Null)]));
        same_as_serde(&object(vec![(
            "one",
            object(vec![("nested", Value::String("x".into()))]),
        )]));
        same_as_serde(&Value::List(vec![]));
        same_as_serde(&Value::Binary(bytes::Bytes::from_static(b"\x00\x01\xff")));
        same_as_serde(&object(vec![
            ("data", Value::Null),
            (
                "posts",
                Value::List(vec![
                    object(vec![
                        ("id", Value::String("UG9zdDox".into())),
                        ("title", Value::String("Hello \"world\"".into())),
                        ("published", Value::Boolean(true)),
                        ("draft", Value::Boolean(false)),
                        ("tags", Value::List(vec![Value::Enum(Name::new("A"))])),
                        ("likes", Value::Number(3.into())),
                    ]),
                    Value::Null,
                ]),
            ),
            ("key with \"quote\"", Value::String("x".into())),
        ]));
    }
}
