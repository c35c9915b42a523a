//! Who may see which posts: anonymous callers see published posts, an author also their own
//! drafts, an admin everything. Every post query applies this one rule.

use super::sql::Sql;

/// The caller's view of posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Published posts only.
    Public,
    /// Published posts and this author's drafts.
    Author(i64),
    /// Everything (admins).
    All,
}

impl Visibility {
    /// Whether a post passes the rule (the same rule as [`Visibility::push_filter`], for
    /// rows read without it, such as cached ones).
    pub fn allows(self, post: &entity::post::Model) -> bool {
        match self {
            Visibility::Public => post.published_at.is_some(),
            Visibility::Author(id) => post.published_at.is_some() || post.author_id == id,
            Visibility::All => true,
        }
    }

    /// Appends ` AND <rule>` for the posts table aliased `alias`.
    pub fn push_filter(self, sql: &mut Sql, alias: &str) {
        match self {
            // `published_at IS NOT NULL` rather than `status = 'published'`: the two are
            // equal by a CHECK constraint, and the feed index is on `published_at`.
            Visibility::Public => {
                sql.push(&format!(" AND {alias}.published_at IS NOT NULL"));
            }
            Visibility::Author(id) => {
                sql.push(&format!(
                    " AND ({alias}.published_at IS NOT NULL OR {alias}.author_id = "
                ))
                .bind(id)
                .push(")");
            }
            Visibility::All => {}
        }
    }
}
