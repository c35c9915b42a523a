//! Comment reads and writes. A comment is visible exactly when its post is.

use std::collections::HashMap;

use entity::comment;
use sea_orm::{ConnectionTrait, EntityTrait};

use super::keyset::CommentKey;
use super::now;
use super::pages::{self, PerParent};
use super::rows::{self, Joined};
use super::sql::Sql;
use super::users::{self, AuthorColumns};
use super::visibility::Visibility;
use crate::error::{AppError, AppResult};

const ORDER: &str = "c.created_at DESC, c.id DESC";

/// The visible comments among `ids`.
pub async fn find_comments(
    db: &impl ConnectionTrait,
    ids: &[i64],
    visibility: Visibility,
) -> AppResult<Vec<comment::Model>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT c.* FROM comments c JOIN posts p ON p.id = c.post_id WHERE c.id IN ")
        .bind_list(ids.iter().copied());
    visibility.push_filter(&mut sql, "p");
    rows::all(db, sql.build()).await
}

/// The first `limit` comments of each post, newest first, after `after`, with the
/// `authors` columns of their authors when set. The posts themselves were already checked
/// for visibility by whoever holds them.
pub async fn comment_pages(
    db: &impl ConnectionTrait,
    post_ids: &[i64],
    after: Option<&CommentKey>,
    limit: u64,
    authors: Option<AuthorColumns>,
) -> AppResult<HashMap<i64, Vec<Joined<comment::Model>>>> {
    let (mut select, mut from) = ("c.*".to_owned(), "comments c".to_owned());
    if let Some(columns) = authors {
        users::join_author("c", columns, &mut select, &mut from);
    }
    let statement = PerParent {
        select: &select,
        from: &from,
        parent_col: "c.post_id",
        order: ORDER,
        limit,
    }
    .statement(db.get_database_backend(), post_ids, |sql| {
        if let Some(key) = after {
            sql.push(" AND (c.created_at, c.id) < (")
                .bind(key.created_at)
                .push(", ")
                .bind(key.id)
                .push(")");
        }
    });
    let mut groups = pages::grouped::<Joined<comment::Model>>(db, statement).await?;
    for page in groups.values_mut() {
        page.sort_by_key(|c| std::cmp::Reverse((c.row.created_at, c.row.id)));
    }
    Ok(groups)
}

/// Comments per post.
pub async fn count_by_post(
    db: &impl ConnectionTrait,
    post_ids: &[i64],
) -> AppResult<HashMap<i64, i64>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT c.post_id AS parent_id, COUNT(*) AS n FROM comments c WHERE c.post_id IN ")
        .bind_list(post_ids.iter().copied())
        .push(" GROUP BY c.post_id");
    pages::counts(db, post_ids, sql.build()).await
}

/// Adds a comment to post `post_id` if `visibility` lets the author see it: one
/// statement (`INSERT … SELECT` from the visible post), so a write is one round trip and
/// a post that vanishes in between cannot be commented. `None` when it is not visible.
pub async fn comment_on_visible_post(
    db: &impl ConnectionTrait,
    post_id: i64,
    author_id: i64,
    body: String,
    visibility: Visibility,
) -> AppResult<Option<comment::Model>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("INSERT INTO comments (post_id, author_id, body, created_at) SELECT p.id, ")
        .bind(author_id)
        .push(", ")
        .bind(body)
        .push(", ")
        .bind(now())
        .push(" FROM posts p WHERE p.id = ")
        .bind(post_id);
    visibility.push_filter(&mut sql, "p");
    sql.push(" RETURNING *");
    rows::one(db, sql.build()).await
}

/// Deletes a comment.
pub async fn delete_comment(db: &impl ConnectionTrait, id: i64) -> AppResult<()> {
    let result = comment::Entity::delete_by_id(id).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(AppError::NotFound { what: "comment" });
    }
    Ok(())
}
