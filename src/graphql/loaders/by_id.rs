//! Loaders of rows by primary key, and of each post's tags.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::{comment, post, tag, user};

use super::{gate, Scope};
use crate::cache::{EntityKey, EntityKind};
use crate::error::{AppError, AppResult};
use crate::store;
use crate::store::visibility::Visibility;

/// Values of `kind` for `ids` through the entity cache; `fetch` loads the ids it misses
/// from the database (ids it leaves out do not exist, and are not cached).
async fn cached<V, F, Fut>(
    scope: &Scope,
    kind: EntityKind,
    ids: &[i64],
    fetch: F,
) -> AppResult<HashMap<i64, V>>
where
    V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    F: FnOnce(Vec<i64>) -> Fut,
    Fut: Future<Output = AppResult<HashMap<i64, V>>>,
{
    let keys: Vec<EntityKey> = ids.iter().map(|id| kind.key(*id)).collect();
    let found = scope
        .entities(&keys, |missing| async move {
            let found = fetch(missing.iter().map(|key| key.id).collect()).await?;
            Ok(found
                .into_iter()
                .map(|(id, value)| (kind.key(id), value))
                .collect())
        })
        .await?;
    Ok(found.into_iter().map(|(key, v)| (key.id, v)).collect())
}

/// Rows by their `id`.
fn by_row_id<V>(rows: Vec<V>, id: impl Fn(&V) -> i64) -> HashMap<i64, V> {
    rows.into_iter().map(|row| (id(&row), row)).collect()
}

/// `users` by id.
pub struct UserById(pub Arc<Scope>);

impl Loader<i64> for UserById {
    type Value = user::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        gate::batch_started("users", keys.len());
        cached(&self.0, EntityKind::User, keys, |ids| async move {
            let rows = store::users::find_users(&self.0.db, &ids).await?;
            Ok(by_row_id(rows, |row| row.id))
        })
        .await
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
        let found = cached(&self.0, EntityKind::Post, keys, |ids| async move {
            let rows = store::posts::find_posts(&self.0.db, &ids, Visibility::All).await?;
            Ok(by_row_id(rows, |row| row.id))
        })
        .await?;
        let visibility = self.0.visibility;
        Ok(found
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
        cached(&self.0, EntityKind::Tag, keys, |ids| async move {
            let rows = store::tags::find_tags(&self.0.db, &ids).await?;
            Ok(by_row_id(rows, |row| row.id))
        })
        .await
    }
}

/// The tags of each post, by name; posts without tags map to an empty list.
pub struct TagsByPost(pub Arc<Scope>);

impl Loader<i64> for TagsByPost {
    type Value = Vec<tag::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        gate::batch_started("tags_by_post", keys.len());
        cached(&self.0, EntityKind::PostTags, keys, |ids| async move {
            let mut found = store::tags::tags_for_posts(&self.0.db, &ids).await?;
            // A post without tags has an empty list, cached like any other.
            for id in ids {
                found.entry(id).or_default();
            }
            Ok(found)
        })
        .await
    }
}
