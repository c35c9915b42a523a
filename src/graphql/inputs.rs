//! Input objects and their validation (CONTRACT.md section 3, input bounds). Validation
//! returns the first problem as `BAD_USER_INPUT` naming the field.

use async_graphql::{Enum, InputObject, ID};

use super::types::PostStatus;
use crate::error::{AppError, AppResult};
use crate::store::keyset::{PostOrderField as KeyField, PostOrdering};

/// Fields of a new account.
#[derive(InputObject, Debug)]
pub struct RegisterInput {
    /// 3 to 32 characters of `a-z`, `0-9` and `_`.
    pub username: String,
    /// A valid email address; it is never shown to others.
    pub email: String,
    /// 8 to 128 characters.
    pub password: String,
    /// 1 to 64 characters.
    pub display_name: String,
}

/// Credentials for `login`.
#[derive(InputObject, Debug)]
pub struct LoginInput {
    /// The account's username or email.
    pub username_or_email: String,
    /// The account's password.
    pub password: String,
}

/// Fields of a new post.
#[derive(InputObject, Debug)]
pub struct CreatePostInput {
    /// 1 to 200 characters.
    pub title: String,
    /// 1 to 50,000 characters.
    pub body: String,
    /// Up to 10 tag names of 1 to 32 characters; unknown tags are created.
    pub tags: Option<Vec<String>>,
    /// Publish at once (default: save as a draft).
    pub publish: Option<bool>,
}

/// Changes to a post; omitted fields stay as they are.
#[derive(InputObject, Debug)]
pub struct UpdatePostInput {
    /// New title.
    pub title: Option<String>,
    /// New body.
    pub body: Option<String>,
    /// New tag set, replacing the old one.
    pub tags: Option<Vec<String>>,
}

/// Filters for `posts`; all given filters must match.
#[derive(InputObject, Debug, Default)]
pub struct PostFilter {
    /// Only posts by this user (a `User` id).
    pub author_id: Option<ID>,
    /// Only posts carrying this tag name.
    pub tag: Option<String>,
    /// Only posts in this status (drafts are still only the caller's own).
    pub status: Option<PostStatus>,
    /// Words to search for in title and body.
    pub search: Option<String>,
}

/// Fields posts can be ordered by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum PostOrderField {
    /// Publication time (drafts last), then creation time.
    #[default]
    PublishedAt,
    /// Creation time.
    CreatedAt,
}

/// Sort direction.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum OrderDirection {
    /// Oldest first.
    Asc,
    /// Newest first.
    #[default]
    Desc,
}

/// How to order `posts`.
#[derive(InputObject, Debug, Default)]
pub struct PostOrder {
    /// The field to order by.
    #[graphql(default)]
    pub field: PostOrderField,
    /// The direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl From<Option<PostOrder>> for PostOrdering {
    fn from(order: Option<PostOrder>) -> Self {
        let order = order.unwrap_or_default();
        PostOrdering {
            field: match order.field {
                PostOrderField::PublishedAt => KeyField::PublishedAt,
                PostOrderField::CreatedAt => KeyField::CreatedAt,
            },
            descending: order.direction == OrderDirection::Desc,
        }
    }
}

/// Checks that `value` has `min..=max` characters and is not blank.
pub fn check_length(field: &str, value: &str, min: usize, max: usize) -> AppResult<()> {
    let n = value.chars().count();
    if n < min || n > max || (min > 0 && value.trim().is_empty()) {
        return Err(AppError::invalid(
            field,
            format!("must be {min} to {max} characters and not blank"),
        ));
    }
    Ok(())
}

/// Checks a username: 3 to 32 of `[a-z0-9_]`.
pub fn check_username(username: &str) -> AppResult<()> {
    let ok = (3..=32).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "username",
            "must be 3 to 32 characters of a-z, 0-9 and _",
        ))
    }
}

/// Checks the shape of an email address and returns it lower-cased.
pub fn normalize_email(email: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err(AppError::invalid("email", "is not a valid email address"))
    }
}

/// Checks and normalises tag names: at most 10, each 1 to 32 characters, trimmed, without
/// duplicates.
pub fn normalize_tags(tags: Option<Vec<String>>) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags.unwrap_or_default() {
        let tag = tag.trim().to_owned();
        check_length("tags", &tag, 1, 32)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > 10 {
        return Err(AppError::invalid("tags", "at most 10 tags"));
    }
    Ok(out)
}

/// Bounds of the contract.
pub mod bounds {
    /// Password length.
    pub const PASSWORD: (usize, usize) = (8, 128);
    /// Display name length.
    pub const DISPLAY_NAME: (usize, usize) = (1, 64);
    /// Title length.
    pub const TITLE: (usize, usize) = (1, 200);
    /// Post body length.
    pub const POST_BODY: (usize, usize) = (1, 50_000);
    /// Comment length.
    pub const COMMENT: (usize, usize) = (1, 5_000);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_pattern() {
        assert!(check_username("ada_99").is_ok());
        for bad in ["ab", "Ada", "a-b-c", "ünï", &"a".repeat(33)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_domain() {
        assert_eq!(
            normalize_email(" Ada@Example.org ").unwrap(),
            "ada@example.org"
        );
        for bad in ["ada", "@x.org", "a@b", "a b@c.org", "a@@b.org", "a@.org"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_are_bounded_and_deduplicated() {
        let tags = normalize_tags(Some(vec![" rust ".into(), "rust".into(), "db".into()]));
        assert_eq!(tags.unwrap(), ["rust", "db"]);
        assert!(normalize_tags(Some(vec!["".into()])).is_err());
        assert!(normalize_tags(Some((0..11).map(|i| i.to_string()).collect())).is_err());
        assert!(normalize_tags(Some(vec!["x".repeat(33)])).is_err());
    }

    #[test]
    fn lengths_count_characters_and_refuse_blank() {
        assert!(check_length("title", "é", 1, 1).is_ok());
        assert!(check_length("title", "   ", 1, 200).is_err());
        assert!(check_length("title", "", 1, 200).is_err());
    }
}
