//! Likes: one row per (user, post), so liking twice changes nothing.

use std::collections::{HashMap, HashSet};

use entity::post_like;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::now;
use super::pages;
use super::sql::Sql;
use crate::error::AppResult;

/// Records a like; a repeated like is a no-op.
pub async fn like(db: &impl ConnectionTrait, user_id: i64, post_id: i64) -> AppResult<()> {
    post_like::Entity::insert(post_like::ActiveModel {
        user_id: Set(user_id),
        post_id: Set(post_id),
        created_at: Set(now()),
    })
    .on_conflict(
        OnConflict::columns([post_like::Column::UserId, post_like::Column::PostId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Removes a like if there is one.
pub async fn unlike(db: &impl ConnectionTrait, user_id: i64, post_id: i64) -> AppResult<()> {
    post_like::Entity::delete_by_id((user_id, post_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Likes per post.
pub async fn count_by_post(
    db: &impl ConnectionTrait,
    post_ids: &[i64],
) -> AppResult<HashMap<i64, i64>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT l.post_id AS parent_id, COUNT(*) AS n FROM post_likes l WHERE l.post_id IN ")
        .bind_list(post_ids.iter().copied())
        .push(" GROUP BY l.post_id");
    pages::counts(db, post_ids, sql.build()).await
}

/// Which of `post_ids` the user has liked.
pub async fn liked_by(
    db: &impl ConnectionTrait,
    user_id: i64,
    post_ids: &[i64],
) -> AppResult<HashSet<i64>> {
    let ids: Vec<i64> = post_like::Entity::find()
        .select_only()
        .column(post_like::Column::PostId)
        .filter(post_like::Column::UserId.eq(user_id))
        .filter(post_like::Column::PostId.is_in(post_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().collect())
}
