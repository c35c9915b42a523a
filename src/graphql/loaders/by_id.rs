//! Loaders of rows by primary key, and of each post's tags.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::{comment, post, tag, user};

use super::{gate, Scope};
use crate::error::AppError;
use crate::store;

/// `users` by id.
pub struct UserById(pub Arc<Scope>);

impl Loader<i64> for UserById {
    type Value = user::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        gate::batch_started("users", keys.len());
        let rows = store::users::find_users(&self.0.db, keys).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// Posts by id, only those the caller may see.
pub struct PostById(pub Arc<Scope>);

impl Loader<i64> for PostById {
    type Value = post::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        gate::batch_started("posts", keys.len());
        let rows = store::posts::find_posts(&self.0.db, keys, self.0.visibility).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
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
        let rows = store::tags::find_tags(&self.0.db, keys).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// The tags of each post, by name; posts without tags map to an empty list.
pub struct TagsByPost(pub Arc<Scope>);

impl Loader<i64> for TagsByPost {
    type Value = Vec<tag::Model>;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        gate::batch_started("tags_by_post", keys.len());
        let mut found = store::tags::tags_for_posts(&self.0.db, keys).await?;
        Ok(keys
            .iter()
            .map(|id| (*id, found.remove(id).unwrap_or_default()))
            .collect())
    }
}
