//! Per-parent pages: `comments(first: 5)` on each of 20 posts is one statement, as is
//! `posts(first: 3)` on each of 20 authors. Keys with the same page arguments (the usual
//! case: one field in one query) share a statement.
//!
//! Two costs of async-graphql's `DataLoader` are kept small here. It hashes a key about
//! seven times on its way through a batch (`SipHash`, one write per field): the keys hash
//! their parent's id alone, since keys of one request differ in little else, and equality
//! still compares every field. And it clones each value once to hand it over: pages travel
//! as [`Page`]s, an `Arc`, which the resolver unwraps without copying the rows when it
//! holds the last reference (else it clones them, as the loader would have).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::{comment, post};

use super::{gate, Scope};
use crate::error::AppError;
use crate::store;
use crate::store::keyset::{CommentKey, PostKey};
use crate::store::posts::{PostJoins, PostParent};
use crate::store::rows::Joined;
use crate::store::users::AuthorColumns;

/// One page's rows, shared between the loader and the resolver that asked for it.
pub type Page<M> = Arc<Vec<Joined<M>>>;

/// The rows of `page`, moved out when nothing else holds it.
pub fn into_rows<M: Clone>(page: Option<Page<M>>) -> Vec<Joined<M>> {
    page.map(Arc::unwrap_or_clone).unwrap_or_default()
}

/// One parent's page of posts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostPageKey {
    /// Whose posts.
    pub parent: PostParent,
    /// The parent's id.
    pub parent_id: i64,
    /// Start after this position.
    pub after: Option<PostKey>,
    /// Rows to read ([`Fetch::rows`](crate::graphql::connection::Fetch::rows)).
    pub limit: u64,
    /// What the page's statement reads of its posts' fields.
    pub joins: PostJoins,
}

impl Hash for PostPageKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parent_id.hash(state);
    }
}

/// Loads post pages.
pub struct PostPages(pub Arc<Scope>);

impl Loader<PostPageKey> for PostPages {
    type Value = Page<post::Model>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[PostPageKey],
    ) -> Result<HashMap<PostPageKey, Self::Value>, Self::Error> {
        gate::batch_started("post_pages", keys.len());
        type Group<'a> = (PostParent, Option<&'a PostKey>, u64, PostJoins);
        let mut groups: HashMap<Group<'_>, Vec<i64>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.parent, key.after.as_ref(), key.limit, key.joins))
                .or_default()
                .push(key.parent_id);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for ((parent, after, limit, joins), ids) in groups {
            let visibility = self.0.visibility;
            let mut pages =
                store::posts::post_pages(&self.0.db, parent, &ids, visibility, after, limit, joins)
                    .await?;
            for id in ids {
                let key = PostPageKey {
                    parent,
                    parent_id: id,
                    after: after.cloned(),
                    limit,
                    joins,
                };
                out.insert(key, Arc::new(pages.remove(&id).unwrap_or_default()));
            }
        }
        Ok(out)
    }
}

/// One post's page of comments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentPageKey {
    /// The post.
    pub post_id: i64,
    /// Start after this position.
    pub after: Option<CommentKey>,
    /// Rows to read ([`Fetch::rows`](crate::graphql::connection::Fetch::rows)).
    pub limit: u64,
    /// Read these columns of each comment's author in the page's statement (the page's
    /// `author` is selected).
    pub authors: Option<AuthorColumns>,
}

impl Hash for CommentPageKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.post_id.hash(state);
    }
}

/// Loads comment pages.
pub struct CommentPages(pub Arc<Scope>);

impl Loader<CommentPageKey> for CommentPages {
    type Value = Page<comment::Model>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[CommentPageKey],
    ) -> Result<HashMap<CommentPageKey, Self::Value>, Self::Error> {
        gate::batch_started("comment_pages", keys.len());
        type Group<'a> = (Option<&'a CommentKey>, u64, Option<AuthorColumns>);
        let mut groups: HashMap<Group<'_>, Vec<i64>> = HashMap::new();
        for key in keys {
            groups
                .entry((key.after.as_ref(), key.limit, key.authors))
                .or_default()
                .push(key.post_id);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for ((after, limit, authors), ids) in groups {
            let mut pages =
                store::comments::comment_pages(&self.0.db, &ids, after, limit, authors).await?;
            for id in ids {
                let key = CommentPageKey {
                    post_id: id,
                    after: after.cloned(),
                    limit,
                    authors,
                };
                out.insert(key, Arc::new(pages.remove(&id).unwrap_or_default()));
            }
        }
        Ok(out)
    }
}
