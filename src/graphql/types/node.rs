//! The Relay `Node` interface and loading any node by global id.

use async_graphql::{Context, Interface, ID};

use super::{Comment, Post, Tag, User};
use crate::error::AppResult;
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{self, Kind};

/// An object with a global id, refetchable through `node(id:)`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The global id of the object."))]
pub enum Node {
    /// A user.
    User(User),
    /// A post.
    Post(Post),
    /// A comment.
    Comment(Comment),
    /// A tag.
    Tag(Tag),
}

/// Loads the node a global id names, through the batched loaders; `None` when it does not
/// exist or the caller may not see it.
pub async fn load_node(ctx: &Context<'_>, field: &str, id: &ID) -> AppResult<Option<Node>> {
    let (kind, key) = ids::decode(field, id)?;
    let loaders = ctx.loaders()?;
    Ok(match kind {
        Kind::User => loaders
            .users
            .load_one(key)
            .await?
            .map(|m| Node::User(m.into())),
        Kind::Post => loaders
            .posts
            .load_one(key)
            .await?
            .map(|m| Node::Post(m.into())),
        Kind::Comment => loaders
            .comments
            .load_one(key)
            .await?
            .map(|m| Node::Comment(m.into())),
        Kind::Tag => loaders
            .tags
            .load_one(key)
            .await?
            .map(|m| Node::Tag(m.into())),
    })
}
