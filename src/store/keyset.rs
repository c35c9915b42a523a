//! Keyset positions and their opaque cursors.
//!
//! A cursor encodes the sort key of the last row a client saw (never an offset), so pages
//! stay stable when rows are inserted before them. Each cursor names the ordering it
//! belongs to; a cursor from another list or ordering is refused as `BAD_USER_INPUT`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};

use crate::error::{AppError, AppResult};

/// Which column a post list is ordered by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PostOrderField {
    /// `published_at`, then `created_at`, then `id`; drafts after published posts.
    PublishedAt,
    /// `created_at`, then `id`.
    CreatedAt,
}

/// A post list's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PostOrdering {
    /// The leading column.
    pub field: PostOrderField,
    /// Newest first when true.
    pub descending: bool,
}

impl Default for PostOrdering {
    fn default() -> Self {
        Self {
            field: PostOrderField::PublishedAt,
            descending: true,
        }
    }
}

/// The sort key of one post.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PostKey {
    /// `published_at` (None for drafts).
    pub published_at: Option<DateTime<Utc>>,
    /// `created_at`.
    pub created_at: DateTime<Utc>,
    /// `id`, the final tie-breaker.
    pub id: i64,
}

impl PostKey {
    /// The key of a stored post.
    pub fn of(post: &entity::post::Model) -> Self {
        Self {
            published_at: post.published_at,
            created_at: post.created_at,
            id: post.id,
        }
    }
}

/// The sort key of one comment: `created_at`, then `id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommentKey {
    /// `created_at`.
    pub created_at: DateTime<Utc>,
    /// `id`.
    pub id: i64,
}

impl CommentKey {
    /// The key of a stored comment.
    pub fn of(comment: &entity::comment::Model) -> Self {
        Self {
            created_at: comment.created_at,
            id: comment.id,
        }
    }
}

/// Encodes a post position for `ordering`.
pub fn encode_post_cursor(ordering: PostOrdering, key: &PostKey) -> String {
    let dir = if ordering.descending { "d" } else { "a" };
    let text = match ordering.field {
        PostOrderField::PublishedAt => format!(
            "post:p{dir}:{}:{}:{}",
            key.published_at
                .map(|t| t.timestamp_micros().to_string())
                .unwrap_or_else(|| "-".into()),
            key.created_at.timestamp_micros(),
            key.id
        ),
        PostOrderField::CreatedAt => format!(
            "post:c{dir}:{}:{}",
            key.created_at.timestamp_micros(),
            key.id
        ),
    };
    URL_SAFE_NO_PAD.encode(text)
}

/// Decodes a post cursor made for `ordering`.
pub fn decode_post_cursor(ordering: PostOrdering, cursor: &str) -> AppResult<PostKey> {
    let text = decode(cursor)?;
    let parts: Vec<&str> = text.split(':').collect();
    let dir = if ordering.descending { 'd' } else { 'a' };
    let key = match (ordering.field, parts.as_slice()) {
        (PostOrderField::PublishedAt, ["post", tag, published, created, id])
            if *tag == format!("p{dir}") =>
        {
            PostKey {
                published_at: match *published {
                    "-" => None,
                    micros => Some(parse_micros(micros)?),
                },
                created_at: parse_micros(created)?,
                id: parse_id(id)?,
            }
        }
        (PostOrderField::CreatedAt, ["post", tag, created, id]) if *tag == format!("c{dir}") => {
            PostKey {
                published_at: None,
                created_at: parse_micros(created)?,
                id: parse_id(id)?,
            }
        }
        _ => return Err(bad_cursor()),
    };
    Ok(key)
}

/// Encodes a comment position.
pub fn encode_comment_cursor(key: &CommentKey) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "comment:{}:{}",
        key.created_at.timestamp_micros(),
        key.id
    ))
}

/// Decodes a comment cursor.
pub fn decode_comment_cursor(cursor: &str) -> AppResult<CommentKey> {
    let text = decode(cursor)?;
    match text.split(':').collect::<Vec<_>>().as_slice() {
        ["comment", created, id] => Ok(CommentKey {
            created_at: parse_micros(created)?,
            id: parse_id(id)?,
        }),
        _ => Err(bad_cursor()),
    }
}

/// Encodes a tag position (tags are listed newest first, by id).
pub fn encode_tag_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("tag:{id}"))
}

/// Decodes a tag cursor.
pub fn decode_tag_cursor(cursor: &str) -> AppResult<i64> {
    match decode(cursor)?.split_once(':') {
        Some(("tag", id)) => parse_id(id),
        _ => Err(bad_cursor()),
    }
}

fn decode(cursor: &str) -> AppResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(bad_cursor)
}

fn parse_micros(text: &str) -> AppResult<DateTime<Utc>> {
    text.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad_cursor)
}

fn parse_id(text: &str) -> AppResult<i64> {
    text.parse().map_err(|_| bad_cursor())
}

fn bad_cursor() -> AppError {
    AppError::invalid("after", "unknown cursor")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(published: bool) -> PostKey {
        let t = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        PostKey {
            published_at: published.then_some(t),
            created_at: t,
            id: 42,
        }
    }

    #[test]
    fn post_cursors_round_trip_for_their_ordering() {
        for field in [PostOrderField::PublishedAt, PostOrderField::CreatedAt] {
            for descending in [true, false] {
                let ordering = PostOrdering { field, descending };
                let k = key(field == PostOrderField::PublishedAt);
                let cursor = encode_post_cursor(ordering, &k);
                assert_eq!(decode_post_cursor(ordering, &cursor).unwrap(), k);
            }
        }
        let draft = key(false);
        let ordering = PostOrdering::default();
        let cursor = encode_post_cursor(ordering, &draft);
        assert_eq!(decode_post_cursor(ordering, &cursor).unwrap(), draft);
    }

    #[test]
    fn cursors_from_another_ordering_or_list_are_refused() {
        let cursor = encode_post_cursor(PostOrdering::default(), &key(true));
        let other = PostOrdering {
            field: PostOrderField::CreatedAt,
            descending: true,
        };
        assert!(decode_post_cursor(other, &cursor).is_err());
        assert!(decode_comment_cursor(&cursor).is_err());
        assert!(decode_tag_cursor("!!!").is_err());
        assert_eq!(decode_tag_cursor(&encode_tag_cursor(7)).unwrap(), 7);
    }
}
