//! `User`.

use async_graphql::{ComplexObject, Context, SimpleObject, ID};
use entity::user;

use super::post::{post_page, PostConnection};
use crate::error::AppError;
use crate::graphql::connection::NodeSelection;
use crate::graphql::context::ContextExt;
use crate::graphql::datetime::Timestamp;
use crate::graphql::ids::{self, Kind};
use crate::graphql::in_order::{InOrder, Waits};
use crate::graphql::loaders::CountKey;
use crate::store::posts::PostParent;
use crate::store::users::{AuthorColumns, Shown, UserDetails};

/// A registered account. Emails and password hashes are never exposed.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct User {
    #[graphql(skip)]
    pub(crate) db_id: i64,
    /// Unique login name: 3 to 32 characters of `a-z`, `0-9` and `_`.
    pub username: String,
    /// The rest of what the user shows, when whoever read the user read it: a page's
    /// statement joins an author's details only when the page selects them.
    #[graphql(skip)]
    details: Option<UserDetails>,
}

/// The fields of `User` that read [`UserDetails`]: a page whose authors select none of
/// them joins only their [`AuthorColumns::Name`].
const DETAIL_FIELDS: [&str; 3] = ["displayName", "bio", "createdAt"];

/// The columns of its nodes' authors a page joins, from what they select of them
/// (`None`: the nodes select no author).
pub(crate) fn author_columns(nodes: &NodeSelection<'_>) -> Option<AuthorColumns> {
    let author = nodes.field("author");
    if !author.exists() {
        return None;
    }
    let details = DETAIL_FIELDS.iter().any(|field| author.selects(field));
    Some(if details {
        AuthorColumns::Details
    } else {
        AuthorColumns::Name
    })
}

/// The author of a post or comment: the one its page's statement joined (lent, not
/// copied), else through the users loader. `owner` names the row for the error when the
/// author row is missing.
pub(crate) async fn author_of<'a>(
    ctx: &Context<'_>,
    joined: Option<&'a User>,
    author_id: i64,
    owner: impl FnOnce() -> String,
) -> async_graphql::Result<InOrder<'a, User>> {
    if let Some(user) = joined {
        return Ok(InOrder::borrowed(user));
    }
    let user = ctx.loaders()?.users.load_one(author_id).await?;
    let user = user.ok_or_else(|| AppError::from(anyhow::anyhow!("{} has no author", owner())))?;
    Ok(InOrder::owned(Shown::from(user).into()))
}

impl From<Shown> for User {
    fn from(shown: Shown) -> Self {
        Self {
            db_id: shown.id,
            username: shown.username,
            details: shown.details,
        }
    }
}

impl From<user::Model> for User {
    fn from(m: user::Model) -> Self {
        Shown::from(m).into()
    }
}

impl User {
    /// The details, or an internal error if they were not read (the page's selection said
    /// they were not needed, which [`author_columns`] never says of a selected field).
    fn details(&self) -> Result<&UserDetails, AppError> {
        self.details.as_ref().ok_or_else(|| {
            AppError::from(anyhow::anyhow!(
                "user {}: details selected but not read",
                self.db_id
            ))
        })
    }
}

#[ComplexObject]
impl User {
    /// The name shown to other users.
    async fn display_name(&self) -> async_graphql::Result<&str> {
        Ok(&self.details()?.display_name)
    }

    /// A short self-description, if the user wrote one.
    async fn bio(&self) -> async_graphql::Result<Option<&str>> {
        Ok(self.details()?.bio.as_deref())
    }

    /// When the account was created.
    async fn created_at(&self) -> async_graphql::Result<Timestamp> {
        Ok(Timestamp(self.details()?.created_at))
    }

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
    ) -> async_graphql::Result<InOrder<'static, PostConnection>> {
        Ok(InOrder::owned(
            post_page(ctx, PostParent::Author, self.db_id, first, after).await?,
        ))
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

// The fields that never wait are all in the shared list (the details were read with the
// user, or their absence is an error); `posts` and `postCount` wait.
impl Waits for User {}

/// A session token and the account it belongs to.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuthPayload {
    /// A JWT to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The authenticated user.
    pub user: User,
}
