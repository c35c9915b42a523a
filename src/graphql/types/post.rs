//! `Post`, its status, and the per-parent post pages shared by `User.posts` and `Tag.posts`.

use async_graphql::{ComplexObject, Context, Enum, SimpleObject, ID};
use entity::post;

use super::user::{author_columns, author_of};
use super::{CommentConnection, Tag, User};
use crate::error::{AppError, AppResult};
use crate::graphql::connection::{connection, Fetch, NodeSelection, Total};
use crate::graphql::context::ContextExt;
use crate::graphql::datetime::Timestamp;
use crate::graphql::ids::{self, Kind};
use crate::graphql::in_order::{InOrder, InOrderList, Waits};
use crate::graphql::loaders::{into_rows, CommentPageKey, CountKey, PostPageKey};
use crate::store::keyset::{self, CommentKey, PostKey, PostOrdering};
use crate::store::posts::{PostJoins, PostParent};
use crate::store::rows::Joined;

/// Whether a post is visible to everyone.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum PostStatus {
    /// Visible to its author (and admins) only.
    Draft,
    /// Visible to everyone.
    Published,
}

/// A blog post.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Post {
    #[graphql(skip)]
    pub(crate) db_id: i64,
    #[graphql(skip)]
    pub(crate) author_id: i64,
    /// The author, when the statement that read the post joined it.
    #[graphql(skip)]
    pub(crate) joined_author: Option<User>,
    /// The comment count, when the statement that read the post read it.
    #[graphql(skip)]
    pub(crate) joined_comment_count: Option<i64>,
    /// The like count, when the statement that read the post read it.
    #[graphql(skip)]
    pub(crate) joined_like_count: Option<i64>,
    /// The title (1 to 200 characters).
    pub title: String,
    /// The text, unless the statement that read the post left it out (its page selected
    /// no `body`).
    #[graphql(skip)]
    pub(crate) body: Option<String>,
    /// Draft or published.
    pub status: PostStatus,
    /// When the post was published; null for drafts.
    pub published_at: Option<Timestamp>,
    /// When the post was created.
    pub created_at: Timestamp,
    /// When the post was last changed.
    pub updated_at: Timestamp,
}

impl From<post::Model> for Post {
    fn from(m: post::Model) -> Self {
        Joined::from(m).into()
    }
}

impl From<Joined<post::Model>> for Post {
    fn from(
        Joined {
            row: m,
            author,
            comment_count,
            like_count,
            body_read,
        }: Joined<post::Model>,
    ) -> Self {
        Self {
            db_id: m.id,
            author_id: m.author_id,
            joined_author: author.map(User::from),
            joined_comment_count: comment_count,
            joined_like_count: like_count,
            title: m.title,
            body: body_read.then_some(m.body),
            status: if m.published_at.is_some() {
                PostStatus::Published
            } else {
                PostStatus::Draft
            },
            published_at: m.published_at.map(Timestamp),
            created_at: Timestamp(m.created_at),
            updated_at: Timestamp(m.updated_at),
        }
    }
}

fn to_i32(n: Option<i64>) -> i32 {
    i32::try_from(n.unwrap_or(0)).unwrap_or(i32::MAX)
}

#[ComplexObject]
impl Post {
    /// The text (1 to 50,000 characters).
    async fn body(&self) -> async_graphql::Result<&str> {
        // Unread only when the page's selection had no `body`, which look-ahead never
        // says of a selected field: an internal error, never an empty text.
        let body = self.body.as_deref().ok_or_else(|| {
            AppError::from(anyhow::anyhow!(
                "post {}: body selected but not read",
                self.db_id
            ))
        })?;
        Ok(body)
    }

    /// The global id of this post.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Post, self.db_id)
    }

    /// Who wrote the post.
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<InOrder<'_, User>> {
        let joined = self.joined_author.as_ref();
        author_of(ctx, joined, self.author_id, || {
            format!("post {}", self.db_id)
        })
        .await
    }

    /// The post's tags, by name.
    async fn tags(&self, ctx: &Context<'_>) -> async_graphql::Result<InOrderList<'static, Tag>> {
        let tags = ctx.loaders()?.tags_by_post.load_one(self.db_id).await?;
        Ok(tags
            .unwrap_or_default()
            .into_iter()
            .map(|tag| InOrder::owned(Tag::from(tag)))
            .collect())
    }

    /// How many users like this post.
    async fn like_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        if let Some(n) = self.joined_like_count {
            return Ok(to_i32(Some(n)));
        }
        let n = ctx
            .loaders()?
            .counts
            .load_one(CountKey::LikesOfPost(self.db_id))
            .await?;
        Ok(to_i32(n))
    }

    /// Whether the caller likes this post (false when anonymous).
    #[graphql(cache_control(private))]
    async fn viewer_has_liked(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        if ctx.viewer().is_none() {
            return Ok(false);
        }
        let liked = ctx.loaders()?.viewer_likes.load_one(self.db_id).await?;
        Ok(liked.unwrap_or(false))
    }

    /// How many comments the post has.
    async fn comment_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        if let Some(n) = self.joined_comment_count {
            return Ok(to_i32(Some(n)));
        }
        let n = ctx
            .loaders()?
            .counts
            .load_one(CountKey::CommentsOfPost(self.db_id))
            .await?;
        Ok(to_i32(n))
    }

    /// The post's comments, newest first.
    async fn comments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many comments to return (0 to 100).", default = 20)] first: i32,
        #[graphql(desc = "Return comments after this cursor.")] after: Option<String>,
    ) -> async_graphql::Result<InOrder<'static, CommentConnection>> {
        let fetch = Fetch::of(ctx, first)?;
        let after_key = after
            .as_deref()
            .map(keyset::decode_comment_cursor)
            .transpose()?;
        let has_after = after_key.is_some();
        let rows = into_rows(
            ctx.loaders()?
                .comment_pages
                .load_one(CommentPageKey {
                    post_id: self.db_id,
                    after: after_key,
                    limit: fetch.rows(),
                    authors: author_columns(&NodeSelection::of(ctx)),
                })
                .await?,
        );
        Ok(InOrder::owned(CommentConnection::new(
            ctx,
            rows,
            fetch,
            has_after,
            |c| keyset::encode_comment_cursor(&CommentKey::of(&c.row)),
            Total::Loader(CountKey::CommentsOfPost(self.db_id)),
        )))
    }
}

impl Waits for Post {
    fn waits(&self, name: &str) -> bool {
        match name {
            "author" => self.joined_author.is_none(),
            "commentCount" => self.joined_comment_count.is_none(),
            "likeCount" => self.joined_like_count.is_none(),
            _ => true,
        }
    }
}

connection!(
    PostConnection,
    PostEdge,
    Post,
    "A page of posts.",
    "A post in a page, with its cursor."
);

/// What a page of posts reads in its own statement: the fields its nodes select of those
/// it can.
pub(crate) fn post_joins(ctx: &Context<'_>) -> PostJoins {
    let nodes = NodeSelection::of(ctx);
    PostJoins {
        author: author_columns(&nodes),
        comment_count: nodes.selects("commentCount"),
        like_count: nodes.selects("likeCount"),
        without_body: !nodes.selects("body"),
    }
}

/// One parent's page of posts through the batched page loader (newest first).
pub(crate) async fn post_page(
    ctx: &Context<'_>,
    parent: PostParent,
    parent_id: i64,
    first: i32,
    after: Option<String>,
) -> AppResult<PostConnection> {
    let ordering = PostOrdering::default();
    let fetch = Fetch::of(ctx, first)?;
    let after_key = after
        .as_deref()
        .map(|c| keyset::decode_post_cursor(ordering, c))
        .transpose()?;
    let has_after = after_key.is_some();
    let rows = into_rows(
        ctx.loaders()?
            .post_pages
            .load_one(PostPageKey {
                parent,
                parent_id,
                after: after_key,
                limit: fetch.rows(),
                joins: post_joins(ctx),
            })
            .await?,
    );
    let total = match parent {
        PostParent::Author => CountKey::PostsOfAuthor(parent_id),
        PostParent::Tag => CountKey::PostsOfTag(parent_id),
    };
    Ok(PostConnection::new(
        ctx,
        rows,
        fetch,
        has_after,
        |p| keyset::encode_post_cursor(ordering, &PostKey::of(&p.row)),
        Total::Loader(total),
    ))
}
