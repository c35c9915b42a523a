//! `Comment`.

use async_graphql::{ComplexObject, Context, SimpleObject, ID};
use entity::comment;

use super::user::author_of;
use super::{Post, User};
use crate::graphql::connection::connection;
use crate::graphql::context::ContextExt;
use crate::graphql::datetime::Timestamp;
use crate::graphql::ids::{self, Kind};
use crate::graphql::in_order::{InOrder, Waits};
use crate::store::rows::Joined;

/// A comment on a post. It is visible exactly when its post is.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Comment {
    #[graphql(skip)]
    pub(crate) db_id: i64,
    #[graphql(skip)]
    pub(crate) post_id: i64,
    #[graphql(skip)]
    pub(crate) author_id: i64,
    /// The author, when the statement that read the comment joined it.
    #[graphql(skip)]
    pub(crate) joined_author: Option<User>,
    /// The comment text (1 to 5,000 characters).
    pub body: String,
    /// When the comment was written.
    pub created_at: Timestamp,
}

impl From<comment::Model> for Comment {
    fn from(m: comment::Model) -> Self {
        Joined::from(m).into()
    }
}

impl From<Joined<comment::Model>> for Comment {
    fn from(Joined { row: m, author, .. }: Joined<comment::Model>) -> Self {
        Self {
            db_id: m.id,
            post_id: m.post_id,
            author_id: m.author_id,
            joined_author: author.map(User::from),
            body: m.body,
            created_at: Timestamp(m.created_at),
        }
    }
}

#[ComplexObject]
impl Comment {
    /// The global id of this comment.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Comment, self.db_id)
    }

    /// Who wrote the comment.
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<InOrder<'_, User>> {
        let joined = self.joined_author.as_ref();
        author_of(ctx, joined, self.author_id, || {
            format!("comment {}", self.db_id)
        })
        .await
    }

    /// The post this comment belongs to.
    async fn post(&self, ctx: &Context<'_>) -> async_graphql::Result<InOrder<'static, Post>> {
        let post = ctx.loaders()?.posts.load_one(self.post_id).await?;
        let post = post.ok_or(crate::error::AppError::NotFound { what: "post" })?;
        Ok(InOrder::owned(post.into()))
    }
}

impl Waits for Comment {
    fn waits(&self, name: &str) -> bool {
        name != "author" || self.joined_author.is_none()
    }
}

connection!(
    CommentConnection,
    CommentEdge,
    Comment,
    "A page of comments, newest first.",
    "A comment in a page, with its cursor."
);
