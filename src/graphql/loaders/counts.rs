//! Aggregates per parent: one `GROUP BY` statement per kind of count in a batch.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use super::{gate, Scope};
use crate::cache::{EntityKey, EntityKind};
use crate::error::{AppError, AppResult};
use crate::store::visibility::Visibility;
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

impl CountKey {
    /// The entity-cache key of this count, when it is the same for every caller who may
    /// ask (post counts differ for authors and admins, who also see drafts).
    fn cache_key(self, visibility: Visibility) -> Option<EntityKey> {
        let public = visibility == Visibility::Public;
        match self {
            CountKey::CommentsOfPost(id) => Some(EntityKind::CommentCount.key(id)),
            CountKey::LikesOfPost(id) => Some(EntityKind::LikeCount.key(id)),
            CountKey::PostsOfAuthor(id) if public => Some(EntityKind::AuthorPostCount.key(id)),
            CountKey::PostsOfTag(id) if public => Some(EntityKind::TagPostCount.key(id)),
            CountKey::PostsOfAuthor(_) | CountKey::PostsOfTag(_) => None,
        }
    }

    /// The count an entity-cache key stands for.
    fn from_cache_key(key: EntityKey) -> Option<Self> {
        match key.kind {
            EntityKind::CommentCount => Some(CountKey::CommentsOfPost(key.id)),
            EntityKind::LikeCount => Some(CountKey::LikesOfPost(key.id)),
            EntityKind::AuthorPostCount => Some(CountKey::PostsOfAuthor(key.id)),
            EntityKind::TagPostCount => Some(CountKey::PostsOfTag(key.id)),
            _ => None,
        }
    }
}

/// Batches counts of every kind.
pub struct Counts(pub Arc<Scope>);

impl Loader<CountKey> for Counts {
    type Value = i64;
    type Error = AppError;

    async fn load(&self, keys: &[CountKey]) -> Result<HashMap<CountKey, i64>, Self::Error> {
        gate::batch_started("counts", keys.len());
        let visibility = self.0.visibility;
        let (mut cache_keys, mut direct) = (Vec::new(), Vec::new());
        for key in keys {
            match key.cache_key(visibility) {
                Some(cache_key) => cache_keys.push(cache_key),
                None => direct.push(*key),
            }
        }
        let through_cache = self.0.entities(&cache_keys, |missing| async move {
            let wanted: Vec<CountKey> = missing
                .iter()
                .filter_map(|key| CountKey::from_cache_key(*key))
                .collect();
            let counts = self.count(&wanted).await?;
            // Zero is a count like any other: cached too, though no row reported it.
            Ok(missing
                .into_iter()
                .filter_map(|key| {
                    let count = counts.get(&CountKey::from_cache_key(key)?).copied();
                    Some((key, count.unwrap_or(0)))
                })
                .collect::<HashMap<_, _>>())
        });
        let (found, mut out) = futures_util::try_join!(through_cache, self.count(&direct))?;
        out.extend(
            found
                .into_iter()
                .filter_map(|(key, n)| Some((CountKey::from_cache_key(key)?, n))),
        );
        Ok(out)
    }
}

impl Counts {
    /// Counts from the database: one statement per kind present, comments and likes of
    /// posts together.
    async fn count(&self, keys: &[CountKey]) -> AppResult<HashMap<CountKey, i64>> {
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
        if !comments.is_empty() && !likes.is_empty() {
            // Both for (usually) the same posts, as a feed asks: one statement, not two.
            let mut posts = [comments.as_slice(), likes.as_slice()].concat();
            posts.sort_unstable();
            posts.dedup();
            let both = store::posts::engagement_by_post(db, &posts).await?;
            let of = |id: &i64| both.get(id).copied().unwrap_or_default();
            out.extend(
                comments
                    .iter()
                    .map(|id| (CountKey::CommentsOfPost(*id), of(id).0)),
            );
            out.extend(
                likes
                    .iter()
                    .map(|id| (CountKey::LikesOfPost(*id), of(id).1)),
            );
        } else if !comments.is_empty() {
            let counts = store::comments::count_by_post(db, &comments).await?;
            out.extend(
                counts
                    .into_iter()
                    .map(|(id, n)| (CountKey::CommentsOfPost(id), n)),
            );
        } else if !likes.is_empty() {
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
