//! Digests of requests: the response cache's key (of a document's normal form: documents
//! that differ only in insignificant characters, whitespace, commas, comments, share a
//! key; variables in any key order share a key) and the validation memo's.

use std::fmt::Write as _;

use async_graphql::Request;
use sha2::{Digest, Sha256};

/// SHA-256 of `document` (the request's text, or its normal form), operation name and
/// variables (in canonical form): everything but the caller that a request's answer, and
/// its validation, depend on.
pub fn digest(document: &str, request: &Request) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(document);
    hasher.update([0]);
    hasher.update(request.operation_name.as_deref().unwrap_or_default());
    hasher.update([0]);
    if request.variables.is_empty() {
        // What `canonical_json` prints for no variables, without building a value.
        hasher.update("{}");
    } else {
        let mut variables = String::new();
        if let Ok(value) = serde_json::to_value(&request.variables) {
            canonical_json(&value, &mut variables);
        }
        hasher.update(variables);
    }
    hasher.finalize().into()
}

/// `document` without insignificant characters: runs of whitespace, commas and comments
/// become one space where two names or numbers would otherwise merge, and nothing
/// elsewhere. String literals (block strings included) are kept byte for byte.
pub fn normalise(document: &str) -> String {
    // Bytes, not chars: every character that matters here is ASCII, and a UTF-8 sequence
    // is copied byte by byte in order, so the output stays valid UTF-8.
    const BOM: &[u8] = "\u{feff}".as_bytes();
    let bytes = document.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut gap = false;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                gap = true;
                at += 1;
            }
            _ if bytes[at..].starts_with(BOM) => {
                gap = true;
                at += BOM.len();
            }
            b'#' => {
                gap = true;
                while bytes.get(at).is_some_and(|b| *b != b'\n' && *b != b'\r') {
                    at += 1;
                }
            }
            b'"' => {
                gap = false;
                let end = string_end(document, at);
                out.extend_from_slice(&bytes[at..end]);
                at = end;
            }
            _ => {
                if gap && word(byte) && out.last().is_some_and(|b| word(*b)) {
                    out.push(b' ');
                }
                gap = false;
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Characters that merge with their neighbours into one token.
fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.' || b == b'-'
}

/// The byte just past the string literal starting at `start` (a `"`): a block string
/// `"""…"""` (where `\"""` is escaped) or a one-line string with `\` escapes. An
/// unterminated string runs to the end; the parser will refuse it anyway.
fn string_end(document: &str, start: usize) -> usize {
    let rest = &document[start..];
    if let Some(body) = rest.strip_prefix("\"\"\"") {
        let mut i = 0;
        while i < body.len() {
            if body[i..].starts_with("\\\"\"\"") {
                i += 4;
            } else if body[i..].starts_with("\"\"\"") {
                return start + 3 + i + 3;
            } else {
                i += body[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
        return document.len();
    }
    let mut escaped = false;
    for (i, c) in rest.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return start + i + 1,
            _ => {}
        }
    }
    document.len()
}

/// `value` as JSON with object keys sorted, so equal variables print equally.
pub fn canonical_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", serde_json::Value::String(key.clone()));
                canonical_json(value, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insignificant_characters_do_not_matter() {
        let a = "query Feed($n: Int = 20) {\n  posts(first: $n) { edges { node { id title } } }\n}";
        let b = "query Feed($n:Int=20){posts(first:$n){edges{node{id,title}}}} # comment";
        assert_eq!(normalise(a), normalise(b));
        assert_eq!(normalise("{ a  b }"), "{a b}");
        assert_ne!(normalise("{ ab }"), normalise("{ a b }"));
        assert_eq!(normalise("\u{feff}{ a,b # c, d\r\n e }"), "{a b e}");
        assert_eq!(normalise("{ f(s: \"é  ü\") g }"), "{f(s:\"é  ü\")g}");
    }

    #[test]
    fn strings_are_kept_as_written() {
        let doc = r#"{ posts(filter: {search: "a  b, # c"}) { id } }"#;
        assert!(normalise(doc).contains(r#""a  b, # c""#));
        assert_ne!(
            normalise(r#"{ f(s: "a b") }"#),
            normalise(r#"{ f(s: "a  b") }"#)
        );
        let escaped = r#"{ f(s: "say \"hi  there\"") }"#;
        assert!(normalise(escaped).contains(r#""say \"hi  there\"""#));
        let block = "{ f(s: \"\"\"one,  two \\\"\"\" three\"\"\") }";
        assert!(normalise(block).contains("\"\"\"one,  two \\\"\"\" three\"\"\""));
    }

    #[test]
    fn variables_print_in_one_order() {
        let a: serde_json::Value = serde_json::json!({"b": [1, {"y": 1, "x": 2}], "a": "s"});
        let b: serde_json::Value = serde_json::json!({"a": "s", "b": [1, {"x": 2, "y": 1}]});
        let (mut x, mut y) = (String::new(), String::new());
        canonical_json(&a, &mut x);
        canonical_json(&b, &mut y);
        assert_eq!(x, y);
        assert_eq!(x, r#"{"a":"s","b":[1,{"x":2,"y":1}]}"#);
    }
}
