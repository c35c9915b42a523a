//! DataLoaders: every relation and aggregate resolves through one of these, so sibling
//! fields collapse into one statement per level (no N+1).
//!
//! Loaders are built per request (or per WebSocket connection) because what a caller may
//! see depends on who they are, and because async-graphql's `DataLoader` cannot evict a
//! key. They batch but do not cache: a subscription that lives for hours must not serve
//! counts from its first event.

mod by_id;
mod counts;
mod pages;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use sea_orm::DatabaseConnection;

pub use by_id::{CommentById, PostById, TagById, TagsByPost, UserById};
pub use counts::{CountKey, Counts, ViewerLikes};
pub use pages::{CommentPageKey, CommentPages, PostPageKey, PostPages};

use crate::auth::{self, Viewer};
use crate::store::visibility::Visibility;

/// What every loader of one request shares.
pub struct Scope {
    /// The database to read.
    pub db: DatabaseConnection,
    /// What the caller may see.
    pub visibility: Visibility,
    /// The caller, if authenticated.
    pub viewer: Option<Viewer>,
}

/// The loaders of one request.
pub struct Loaders {
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
    /// Loaders reading `db` on behalf of `viewer`.
    pub fn new(db: DatabaseConnection, viewer: Option<Viewer>) -> Self {
        let scope = Arc::new(Scope {
            db,
            visibility: auth::visibility(viewer.as_ref()),
            viewer,
        });
        let s = || scope.clone();
        Self {
            users: DataLoader::new(UserById(s()), tokio::spawn),
            posts: DataLoader::new(PostById(s()), tokio::spawn),
            comments: DataLoader::new(CommentById(s()), tokio::spawn),
            tags: DataLoader::new(TagById(s()), tokio::spawn),
            tags_by_post: DataLoader::new(TagsByPost(s()), tokio::spawn),
            counts: DataLoader::new(Counts(s()), tokio::spawn),
            viewer_likes: DataLoader::new(ViewerLikes(s()), tokio::spawn),
            post_pages: DataLoader::new(PostPages(s()), tokio::spawn),
            comment_pages: DataLoader::new(CommentPages(s()), tokio::spawn),
        }
    }
}
