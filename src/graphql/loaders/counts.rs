//! Aggregates per parent: one `GROUP BY` statement per kind of count in a batch.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use super::{gate, Scope};
use crate::error::AppError;
use crate::store::{self, posts::PostParent};

/// Which count of which parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CountKey {
    /// `Post.commentCount`.
    CommentsOfPost(i64),
    /// `Post.likeCount`.
    LikesOfPost(i64),
    /// `User.postCount` (visible posts only).
    PostsOfAuthor(i64),
    /// `Tag.posts.totalCount` (visible posts only).
    PostsOfTag(i64),
}

/// Batches counts of every kind.
pub struct Counts(pub Arc<Scope>);

impl Loader<CountKey> for Counts {
    type Value = i64;
    type Error = AppError;

    async fn load(&self, keys: &[CountKey]) -> Result<HashMap<CountKey, i64>, Self::Error> {
        gate::batch_started("counts", keys.len());
        let (mut comments, mut likes, mut authors, mut tags) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for key in keys {
            match *key {
                CountKey::CommentsOfPost(id) => comments.push(id),
                CountKey::LikesOfPost(id) => likes.push(id),
                CountKey::PostsOfAuthor(id) => authors.push(id),
                CountKey::PostsOfTag(id) => tags.push(id),
            }
        }
        let db = &self.0.db;
        let vis = self.0.visibility;
        let mut out = HashMap::with_capacity(keys.len());
        if !comments.is_empty() {
            let counts = store::comments::count_by_post(db, &comments).await?;
            out.extend(
                counts
                    .into_iter()
                    .map(|(id, n)| (CountKey::CommentsOfPost(id), n)),
            );
        }
        if !likes.is_empty() {
            let counts = store::likes::count_by_post(db, &likes).await?;
            out.extend(
                counts
                    .into_iter()
                    .map(|(id, n)| (CountKey::LikesOfPost(id), n)),
            );
        }
        if !authors.is_empty() {
            let counts =
                store::posts::count_by_parent(db, PostParent::Author, &authors, vis).await?;
            out.extend(
                counts
                    .into_iter()
                    .map(|(id, n)| (CountKey::PostsOfAuthor(id), n)),
            );
        }
        if !tags.is_empty() {
            let counts = store::posts::count_by_parent(db, PostParent::Tag, &tags, vis).await?;
            out.extend(
                counts
                    .into_iter()
                    .map(|(id, n)| (CountKey::PostsOfTag(id), n)),
            );
        }
        Ok(out)
    }
}

/// Whether the viewer liked each post (anonymous callers never reach this loader).
pub struct ViewerLikes(pub Arc<Scope>);

impl Loader<i64> for ViewerLikes {
    type Value = bool;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, bool>, Self::Error> {
        gate::batch_started("viewer_likes", keys.len());
        let Some(viewer) = self.0.viewer else {
            return Ok(keys.iter().map(|id| (*id, false)).collect());
        };
        let liked = store::likes::liked_by(&self.0.db, viewer.id, keys).await?;
        Ok(keys.iter().map(|id| (*id, liked.contains(id))).collect())
    }
}
