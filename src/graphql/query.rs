//! The root query type.

use async_graphql::{Context, Object, SimpleObject, ID};

use super::connection::{Fetch, Total};
use super::context::{ContextExt, RequestInfo};
use super::ids::{self, Kind};
use super::inputs::{PostFilter, PostOrder};
use super::types::{
    load_node, post_joins, Node, Post, PostConnection, PostStatus, TagConnection, User,
};
use crate::error::{AppError, AppResult};
use crate::graphql::datetime::Timestamp;
use crate::graphql::in_order::InOrder;
use crate::store::keyset::{self, PostKey, PostOrdering};
use crate::store::{self, posts};

/// Most ids `nodes` accepts at once.
const MAX_NODES: usize = 100;

/// The root of every read.
#[derive(Default)]
pub struct Query;

/// The root of every read.
///
/// Cache hints: an answer is public for 5 seconds (`Cache-Control: public, max-age=5`, and
/// the server's response cache for anonymous callers) unless it selects a field marked
/// otherwise. Gatehouse invalidates its own caches on every write; the 5 seconds bound
/// what browsers and CDNs, which it cannot reach, may keep.
#[Object(cache_control(max_age = 5))]
impl Query {
    /// Fetches any object by its global id; null when it does not exist or is not visible.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A global id.")] id: ID,
    ) -> async_graphql::Result<Option<Node>> {
        Ok(load_node(ctx, "id", &id).await?)
    }

    /// Fetches objects by global id, in order; null for each that does not exist or is not
    /// visible. At most 100 ids.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global ids.")] ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(AppError::invalid("ids", format!("at most {MAX_NODES} ids")).into());
        }
        // Concurrent loads land in the same loader batches: one statement per type.
        let loads = ids.iter().map(|id| load_node(ctx, "ids", id));
        let nodes = futures_util::future::try_join_all(loads).await?;
        Ok(nodes)
    }

    /// The authenticated caller; null when anonymous.
    #[graphql(cache_control(private))]
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(viewer) = ctx.viewer() else {
            return Ok(None);
        };
        let user = ctx.loaders()?.users.load_one(viewer.id).await?;
        Ok(user.map(User::from))
    }

    /// A user by username.
    async fn user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The username.")] username: String,
    ) -> async_graphql::Result<Option<User>> {
        let found = store::users::find_by_username(ctx.read_db()?, &username).await?;
        Ok(found.map(User::from))
    }

    /// A post by global id; null when it does not exist or the caller may not see it.
    async fn post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post's global id.")] id: ID,
    ) -> async_graphql::Result<Option<Post>> {
        let Some(key) = ids::decode_as("id", &id, Kind::Post)? else {
            return Ok(None);
        };
        Ok(ctx.loaders()?.posts.load_one(key).await?.map(Post::from))
    }

    /// Posts the caller may see, newest first unless `orderBy` says otherwise (drafts sort
    /// after published posts).
    async fn posts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many posts to return (0 to 100).", default = 20)] first: i32,
        #[graphql(desc = "Return posts after this cursor.")] after: Option<String>,
        #[graphql(desc = "Only posts matching all of these.")] filter: Option<PostFilter>,
        #[graphql(desc = "The order of the list.")] order_by: Option<PostOrder>,
    ) -> async_graphql::Result<InOrder<'static, PostConnection>> {
        Ok(InOrder::owned(
            list_posts(ctx, first, after, filter, order_by).await?,
        ))
    }

    /// All tags, newest first.
    async fn tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many tags to return (0 to 100).", default = 20)] first: i32,
        #[graphql(desc = "Return tags after this cursor.")] after: Option<String>,
    ) -> async_graphql::Result<TagConnection> {
        let fetch = Fetch::of(ctx, first)?;
        let after = after
            .as_deref()
            .map(keyset::decode_tag_cursor)
            .transpose()?;
        let rows = store::tags::list_tags(ctx.read_db()?, after, fetch.rows()).await?;
        Ok(TagConnection::new(
            ctx,
            rows,
            fetch,
            after.is_some(),
            |t| keyset::encode_tag_cursor(t.id),
            Total::Tags,
        ))
    }

    /// The caller's budget (per token, or per IP when anonymous) after this operation's
    /// cost. With `dryRun: true` the operation is priced and not run: nothing is charged
    /// and only `rateLimit` is answered.
    #[graphql(cache_control(no_cache))]
    async fn rate_limit(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Price this operation without running or charging it.",
            default = false
        )]
        dry_run: bool,
    ) -> async_graphql::Result<RateLimit> {
        // The guard answers dry runs before execution; here it is always false.
        let _ = dry_run;
        let info = ctx.data_opt::<RequestInfo>();
        let status = match info.and_then(RequestInfo::budget_status) {
            Some(status) => status,
            None => {
                let key = info.map_or("anonymous", |i| i.budget_key.as_str());
                ctx.services()?.budget.peek(key).await
            }
        };
        Ok(RateLimit {
            limit: to_i32(status.limit),
            cost: to_i32(status.cost),
            remaining: to_i32(status.remaining),
            reset_at: Timestamp(status.reset_at),
        })
    }
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A caller's budget, GitHub style.
#[derive(SimpleObject, Clone, Debug)]
pub struct RateLimit {
    /// Points per window.
    pub limit: i32,
    /// Points this request cost.
    pub cost: i32,
    /// Points left in the current window.
    pub remaining: i32,
    /// When the window refills.
    pub reset_at: Timestamp,
}

async fn list_posts(
    ctx: &Context<'_>,
    first: i32,
    after: Option<String>,
    filter: Option<PostFilter>,
    order_by: Option<PostOrder>,
) -> AppResult<PostConnection> {
    let ordering = PostOrdering::from(order_by);
    let fetch = Fetch::of(ctx, first)?;
    let after_key: Option<PostKey> = after
        .as_deref()
        .map(|c| keyset::decode_post_cursor(ordering, c))
        .transpose()?;
    let filter = store_filter(filter.unwrap_or_default())?;
    let visibility = ctx.visibility();
    let Some(filter) = filter else {
        // The filter names an author id of another type: nothing can match.
        return Ok(PostConnection::new(
            ctx,
            Vec::<entity::post::Model>::new(),
            fetch,
            after_key.is_some(),
            |_| String::new(),
            Total::Known(0),
        ));
    };
    let rows = posts::list_posts(
        ctx.read_db()?,
        visibility,
        &filter,
        ordering,
        after_key.as_ref(),
        fetch.rows(),
        post_joins(ctx),
    )
    .await?;
    Ok(PostConnection::new(
        ctx,
        rows,
        fetch,
        after_key.is_some(),
        |p| keyset::encode_post_cursor(ordering, &PostKey::of(&p.row)),
        Total::Posts(visibility, filter),
    ))
}

/// Converts the GraphQL filter; `None` when it can match nothing.
fn store_filter(filter: PostFilter) -> AppResult<Option<posts::PostFilter>> {
    let author_id = match &filter.author_id {
        Some(id) => match ids::decode_as("filter.authorId", id, Kind::User)? {
            Some(id) => Some(id),
            None => return Ok(None),
        },
        None => None,
    };
    let search = filter
        .search
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(AppError::invalid("filter.search", "at most 200 characters"));
    }
    Ok(Some(posts::PostFilter {
        author_id,
        tag: filter.tag.map(|t| t.trim().to_owned()),
        published: filter.status.map(|s| s == PostStatus::Published),
        search,
    }))
}
