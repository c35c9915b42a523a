//! `User`.

use async_graphql::{ComplexObject, Context, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::user;

use super::post::{post_page, PostConnection};
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::ids::{self, Kind};
use crate::graphql::loaders::CountKey;
use crate::store::posts::PostParent;

/// A registered account. Emails and password hashes are never exposed.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct User {
    #[graphql(skip)]
    pub(crate) db_id: i64,
    /// Unique login name: 3 to 32 characters of `a-z`, `0-9` and `_`.
    pub username: String,
    /// The name shown to other users.
    pub display_name: String,
    /// A short self-description, if the user wrote one.
    pub bio: Option<String>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

/// The author of a post or comment: the one its page's statement joined, else through the
/// users loader. `owner` names the row for the error when the author row is missing.
pub(crate) async fn author_of(
    ctx: &Context<'_>,
    joined: Option<&user::Model>,
    author_id: i64,
    owner: impl FnOnce() -> String,
) -> async_graphql::Result<User> {
    let user = match joined {
        Some(user) => Some(user.clone()),
        None => ctx.loaders()?.users.load_one(author_id).await?,
    };
    let user = user.ok_or_else(|| AppError::from(anyhow::anyhow!("{} has no author", owner())))?;
    Ok(user.into())
}

impl From<user::Model> for User {
    fn from(m: user::Model) -> Self {
        Self {
            db_id: m.id,
            username: m.username,
            display_name: m.display_name,
            bio: m.bio,
            created_at: m.created_at,
        }
    }
}

#[ComplexObject]
impl User {
    /// The global id of this user.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::User, self.db_id)
    }

    /// This user's posts that the caller may see, newest first.
    async fn posts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many posts to return (0 to 100).", default = 20)] first: i32,
        #[graphql(desc = "Return posts after this cursor.")] after: Option<String>,
    ) -> async_graphql::Result<PostConnection> {
        Ok(post_page(ctx, PostParent::Author, self.db_id, first, after).await?)
    }

    /// How many of this user's posts the caller may see.
    async fn post_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let n = ctx
            .loaders()?
            .counts
            .load_one(CountKey::PostsOfAuthor(self.db_id))
            .await?
            .unwrap_or(0);
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

/// A session token and the account it belongs to.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuthPayload {
    /// A JWT to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The authenticated user.
    pub user: User,
}
