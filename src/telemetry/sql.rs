//! One span per SQL statement, made from SeaORM's metric callback.
//!
//! The callback runs in the task that ran the statement, right after it, with the time the
//! statement took (pool wait excluded). So the span is made there directly with the
//! OpenTelemetry API: parent = the current exported span (the execute span, or the
//! DataLoader batch that ran the statement), start = now − elapsed, end = now. That covers
//! every statement, transactions included, without wrapping each call site in `store`.
//!
//! The text is normalised: literals become `?` (statements bind their values, but a
//! `LIMIT 21` or a hand-written literal is a value too) and it is cut at
//! [`MAX_TEXT`] bytes. Bound values are never read.

use std::time::SystemTime;

use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry::KeyValue;
use sea_orm::metric::Info;
use sea_orm::DatabaseBackend;

/// Longest statement text recorded, in bytes.
pub const MAX_TEXT: usize = 2048;

/// The `db.system` value of a backend.
pub fn db_system(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => "postgresql",
        DatabaseBackend::Sqlite => "sqlite",
        DatabaseBackend::MySql => "mysql",
    }
}

/// Records the statement `info` just ran as a span under the current span. Does nothing
/// when tracing is off, or outside any traced work (migrations, start-up, pool upkeep).
pub fn record_statement(system: &'static str, info: &Info<'_>) {
    let Some(tracer) = super::TRACER.get() else {
        return;
    };
    let Some(parent) = super::current_context() else {
        return;
    };
    let end = SystemTime::now();
    let start = end.checked_sub(info.elapsed).unwrap_or(end);
    let text = normalise(&info.statement.sql);
    let mut span = tracer
        .span_builder(operation(&text))
        .with_kind(SpanKind::Client)
        .with_start_time(start)
        .with_attributes([
            KeyValue::new("db.system", system),
            KeyValue::new("db.query.text", text),
        ])
        .start_with_context(tracer, &parent);
    if info.failed {
        span.set_status(Status::error("the statement failed"));
    }
    span.end_with_timestamp(end);
}

/// The span name: the statement's first keyword (`SELECT`, `INSERT` …), low-cardinality.
fn operation(text: &str) -> String {
    let word = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .find(|w| !w.is_empty())
        .unwrap_or("SQL");
    word.to_ascii_uppercase()
}

/// `sql` with string and number literals replaced by `?`, placeholders (`$1`, `?1`) and
/// identifiers (`"t1"`, `gh_rank2`) kept, cut at [`MAX_TEXT`] bytes.
pub fn normalise(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len().min(MAX_TEXT) + 8);
    let mut chars = sql.chars().peekable();
    let mut prev: Option<char> = None;
    while let Some(c) = chars.next() {
        if out.len() >= MAX_TEXT {
            out.push_str(" …");
            break;
        }
        match c {
            '\'' => {
                // A string literal; '' is an escaped quote inside it.
                while let Some(c) = chars.next() {
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push('?');
                prev = Some('?');
            }
            '"' => {
                // A quoted identifier, kept as written.
                out.push(c);
                for c in chars.by_ref() {
                    out.push(c);
                    if c == '"' {
                        break;
                    }
                }
                prev = Some('"');
            }
            c if c.is_ascii_digit()
                && !prev.is_some_and(|p| p.is_alphanumeric() || matches!(p, '_' | '$' | '?')) =>
            {
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || *c == '.')
                {
                    chars.next();
                }
                out.push('?');
                prev = Some('?');
            }
            c => {
                out.push(c);
                prev = Some(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_replaced_and_placeholders_kept() {
        assert_eq!(
            normalise("SELECT \"t1\".\"id\" FROM posts p2 WHERE p2.author_id = $1 AND title = 'it''s' LIMIT 21"),
            "SELECT \"t1\".\"id\" FROM posts p2 WHERE p2.author_id = $1 AND title = ? LIMIT ?"
        );
        assert_eq!(
            normalise("SELECT * FROM t WHERE a = ?1 AND b > 3.5 AND c IN (?, ?)"),
            "SELECT * FROM t WHERE a = ?1 AND b > ? AND c IN (?, ?)"
        );
        assert_eq!(operation("  select 1"), "SELECT");
        assert_eq!(operation("WITH x AS (SELECT 1) SELECT * FROM x"), "WITH");
    }

    #[test]
    fn long_statements_are_cut() {
        let long = format!("SELECT {}", "x, ".repeat(2000));
        let text = normalise(&long);
        assert!(text.len() <= MAX_TEXT + 8, "{}", text.len());
        assert!(text.ends_with(" …"));
    }
}
