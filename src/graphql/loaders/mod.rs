//! DataLoaders: every relation and aggregate resolves through one of these, so sibling
//! fields collapse into one statement per level (no N+1). One exception saves a level: a
//! page whose nodes select `author`, `commentCount` or `likeCount` reads them in the page's
//! own statement ([`crate::store::rows::Joined`]), and those nodes skip the loaders.
//!
//! Loaders are built per request (or per WebSocket connection) because what a caller may
//! see depends on who they are, and because async-graphql's `DataLoader` cannot evict a
//! key. They batch but keep nothing themselves (a subscription that lives for hours must
//! not serve counts from its first event): rows and counts by id read through the shared
//! [`Caches`], which writes invalidate.

mod by_id;
mod counts;
pub mod gate;
mod pages;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use std::time::Duration;

use async_graphql::dataloader::DataLoader;
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;

pub use by_id::{CommentById, PostById, TagById, TagsByPost, UserById};
pub use counts::{CountKey, Counts, ViewerLikes};
pub use gate::Gate;
pub use pages::{into_rows, CommentPageKey, CommentPages, PostPageKey, PostPages};

use crate::auth::{self, Viewer};
use crate::cache::{Caches, EntityKey};
use crate::db::{RequestStats, REQUEST_STATS};
use crate::error::AppResult;
use crate::store::visibility::Visibility;

/// What every loader of one request shares.
pub struct Scope {
    /// The database to read.
    pub db: DatabaseConnection,
    /// What the caller may see.
    pub visibility: Visibility,
    /// The caller, if authenticated.
    pub viewer: Option<Viewer>,
    /// The entity cache rows and counts read through.
    pub caches: Arc<Caches>,
    /// False for mutations: what a mutation returns is read from the primary, not from a
    /// cache that a read replica may have filled.
    pub use_cache: bool,
}

impl Scope {
    /// Values for `keys` through the entity cache (unless this scope bypasses it);
    /// `fetch` loads what the cache does not hold.
    pub async fn entities<V, F, Fut>(
        &self,
        keys: &[EntityKey],
        fetch: F,
    ) -> AppResult<HashMap<EntityKey, V>>
    where
        V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
        F: FnOnce(Vec<EntityKey>) -> Fut,
        Fut: Future<Output = AppResult<HashMap<EntityKey, V>>>,
    {
        if self.use_cache {
            self.caches.entities(keys, fetch).await
        } else {
            fetch(keys.to_vec()).await
        }
    }
}

/// The loaders of one request.
pub struct Loaders {
    /// What the loaders share: the connection read, the viewer.
    pub scope: Arc<Scope>,
    /// `users` by id.
    pub users: DataLoader<UserById>,
    /// Visible `posts` by id.
    pub posts: DataLoader<PostById>,
    /// Visible `comments` by id.
    pub comments: DataLoader<CommentById>,
    /// `tags` by id.
    pub tags: DataLoader<TagById>,
    /// Tags of each post.
    pub tags_by_post: DataLoader<TagsByPost>,
    /// Aggregates: comment, like and post counts.
    pub counts: DataLoader<Counts>,
    /// Whether the viewer liked each post.
    pub viewer_likes: DataLoader<ViewerLikes>,
    /// Per-parent post pages (`User.posts`, `Tag.posts`).
    pub post_pages: DataLoader<PostPages>,
    /// Per-post comment pages (`Post.comments`).
    pub comment_pages: DataLoader<CommentPages>,
}

impl Loaders {
    /// Loaders reading `db` (through `caches` when `use_cache`) on behalf of `viewer`. With a `gate` (HTTP requests, whose
    /// future is wrapped in [`gate::Tracked`]) a batch runs as soon as the request waits
    /// for data; without one (subscriptions) after async-graphql's short default delay.
    pub fn new(
        db: DatabaseConnection,
        viewer: Option<Viewer>,
        caches: Arc<Caches>,
        use_cache: bool,
        gate: Option<(Arc<Gate>, Arc<RequestStats>)>,
    ) -> Self {
        let scope = Arc::new(Scope {
            db,
            visibility: auth::visibility(viewer.as_ref()),
            viewer,
            caches,
            use_cache,
        });
        let s = || scope.clone();
        Self {
            scope: scope.clone(),
            users: loader(UserById(s()), &gate),
            posts: loader(PostById(s()), &gate),
            comments: loader(CommentById(s()), &gate),
            tags: loader(TagById(s()), &gate),
            tags_by_post: loader(TagsByPost(s()), &gate),
            counts: loader(Counts(s()), &gate),
            viewer_likes: loader(ViewerLikes(s()), &gate),
            post_pages: loader(PostPages(s()), &gate),
            comment_pages: loader(CommentPages(s()), &gate),
        }
    }
}

/// A batching (never caching) DataLoader whose batches pass through `gate` and count
/// their statements in the request's stats.
fn loader<T: Send + Sync + 'static>(
    inner: T,
    gate: &Option<(Arc<Gate>, Arc<RequestStats>)>,
) -> DataLoader<T> {
    match gate {
        None => DataLoader::new(inner, tokio::spawn),
        Some((gate, stats)) => {
            let (gate, stats) = (gate.clone(), stats.clone());
            let spawner = move |batch: BoxFuture<'static, ()>| {
                let admission = gate.enqueue();
                tokio::spawn(REQUEST_STATS.scope(stats.clone(), admission.run(batch)))
            };
            // The gate decides when; the built-in timer would only add latency.
            DataLoader::new(inner, spawner).delay(Duration::ZERO)
        }
    }
}
