//! Loaders of rows by primary key, and of each post's tags.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::{comment, post, tag, user};

use super::{gate, Scope};
use crate::cache::{EntityKey, EntityKind};
use crate::error::{AppError, AppResult};
use crate::store;
use crate::store::visibility::Visibility;

/// `ids` as cache keys of `kind`.
fn keys(kind: EntityKind, ids: &[i64]) -> Vec<EntityKey> {
    ids.iter().map(|id| kind.key(*id)).collect()
}

/// Cached values back by id.
fn by_id<V>(found: HashMap<EntityKey, V>) -> HashMap<i64, V> {
    found.into_iter().map(|(key, v)| (key.id, v)).collect()
}

/// Rows with an `id`, keyed for the cache.
fn keyed<V>(
    kind: EntityKind,
    rows: Vec<V>,
    id: impl Fn(&V) -> i64,
) -> AppResult<HashMap<EntityKey, V>> {
    Ok(rows
        .into_iter()
        .map(|row| (kind.key(id(&row)), row))
        .collect())
}

/// `users` by id.
pub struct UserById(pub Arc<Scope>);

impl Loader<i64> for UserById {
    type Value = user::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        gate::batch_started("users", keys.len());
        let kind = EntityKind::User;
        let found = self
            .0
            .entities(&self::keys(kind, keys), |missing| async move {
                let ids: Vec<i64> = missing.iter().map(|k| k.id).collect();
                let rows = store::users::find_users(&self.0.db, &ids).await?;
                keyed(kind, rows, |row| row.id)
            })
            .await?;
        Ok(by_id(found))
    }
}

/// Posts by id, only those the caller may see.
pub struct PostById(pub Arc<Scope>);

impl Loader<i64> for PostById {
    type Value = post::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        gate::batch_started("posts", keys.len());
        // Cached whatever their status; the caller's visibility applies on the way out.
        let kind = EntityKind::Post;
        let found = self
            .0
            .entities(&self::keys(kind, keys), |missing| async move {
                let ids: Vec<i64> = missing.iter().map(|k| k.id).collect();
                let rows = store::posts::find_posts(&self.0.db, &ids, Visibility::All).await?;
                keyed(kind, rows, |row| row.id)
            })
            .await?;
        let visibility = self.0.visibility;
        Ok(by_id(found)
            .into_iter()
            .filter(|(_, post)| visibility.allows(post))
            .collect())
    }
}

/// Comments by id, only those on posts the caller may see.
pub struct CommentById(pub Arc<Scope>);

impl Loader<i64> for CommentById {
    type Value = comment::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        gate::batch_started("comments", keys.len());
        let rows = store::comments::find_comments(&self.0.db, keys, self.0.visibility).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// `tags` by id.
pub struct TagById(pub Arc<Scope>);

impl Loader<i64> for TagById {
    type Value = tag::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        gate::batch_started("tags", keys.len());
        let kind = EntityKind::Tag;
        let found = self
            .0
            .entities(&self::keys(kind, keys), |missing| async move {
                let ids: Vec<i64> = missing.iter().map(|k| k.id).collect();
                let rows = store::tags::find_tags(&self.0.db, &ids).await?;
                keyed(kind, rows, |row| row.id)
            })
            .await?;
        Ok(by_id(found))
    }
}

/// The tags of each post, by name; posts without tags map to an empty list.
pub struct TagsByPost(pub Arc<Scope>);

impl Loader<i64> for TagsByPost {
    type Value = Vec<tag::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        gate::batch_started("tags_by_post", keys.len());
        let kind = EntityKind::PostTags;
        let found = self
            .0
            .entities(&self::keys(kind, keys), |missing| async move {
                let ids: Vec<i64> = missing.iter().map(|k| k.id).collect();
                let mut found = store::tags::tags_for_posts(&self.0.db, &ids).await?;
                // A post without tags has an empty list, cached like any other.
                Ok(missing
                    .into_iter()
                    .map(|key| (key, found.remove(&key.id).unwrap_or_default()))
                    .collect())
            })
            .await?;
        Ok(by_id(found))
    }
}
