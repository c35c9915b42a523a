//! Tags and the post–tag links.

use std::collections::HashMap;

use entity::{post_tag, tag};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::pages;
use super::sql::Sql;
use crate::error::AppResult;

/// Tags by id.
pub async fn find_tags(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<tag::Model>> {
    Ok(tag::Entity::find()
        .filter(tag::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

/// The tags of each post, by name (byte order, the same on every backend and collation).
pub async fn tags_for_posts(
    db: &impl ConnectionTrait,
    post_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<tag::Model>>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT pt.post_id AS parent_id, t.* FROM post_tags pt JOIN tags t ON t.id = pt.tag_id WHERE pt.post_id IN ")
        .bind_list(post_ids.iter().copied());
    // Sorted here rather than by `ORDER BY t.name`: a post has a few tags (at most ten),
    // and PostgreSQL's sort of the whole batch was ~15% of the statement's CPU.
    let mut groups = pages::grouped::<tag::Model>(db, sql.build()).await?;
    for tags in groups.values_mut() {
        tags.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(groups)
}

/// One page of all tags, newest first.
pub async fn list_tags(
    db: &impl ConnectionTrait,
    after: Option<i64>,
    limit: u64,
) -> AppResult<Vec<tag::Model>> {
    let mut query = tag::Entity::find()
        .order_by_desc(tag::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(tag::Column::Id.lt(after));
    }
    Ok(query.all(db).await?)
}

/// How many tags exist.
pub async fn count_tags(db: &impl ConnectionTrait) -> AppResult<i64> {
    let row = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM tags",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("COUNT returned no row"))?;
    Ok(row.try_get("", "n")?)
}

/// The ids of a post's tags.
pub async fn tag_ids_of_post(db: &impl ConnectionTrait, post_id: i64) -> AppResult<Vec<i64>> {
    Ok(post_tag::Entity::find()
        .select_only()
        .column(post_tag::Column::TagId)
        .filter(post_tag::Column::PostId.eq(post_id))
        .into_tuple()
        .all(db)
        .await?)
}

/// Replaces a post's tags with `names`, creating unknown tags on the fly, and returns the
/// tags whose posts changed (the old ones and the new ones). Run it inside the caller's
/// transaction so a failure leaves the old tags in place.
pub async fn set_post_tags(
    db: &impl ConnectionTrait,
    post_id: i64,
    names: &[String],
) -> AppResult<Vec<i64>> {
    let mut touched = tag_ids_of_post(db, post_id).await?;
    post_tag::Entity::delete_many()
        .filter(post_tag::Column::PostId.eq(post_id))
        .exec(db)
        .await?;
    if names.is_empty() {
        return Ok(touched);
    }
    let new_tags = names.iter().map(|name| tag::ActiveModel {
        name: Set(name.clone()),
        ..Default::default()
    });
    tag::Entity::insert_many(new_tags)
        .on_conflict(
            OnConflict::column(tag::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let ids: Vec<i64> = tag::Entity::find()
        .select_only()
        .column(tag::Column::Id)
        .filter(tag::Column::Name.is_in(names.iter().cloned()))
        .into_tuple()
        .all(db)
        .await?;
    touched.extend_from_slice(&ids);
    let links = ids.into_iter().map(|tag_id| post_tag::ActiveModel {
        post_id: Set(post_id),
        tag_id: Set(tag_id),
    });
    post_tag::Entity::insert_many(links)
        .exec_without_returning(db)
        .await?;
    Ok(touched)
}
