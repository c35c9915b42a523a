//! The root subscription type (graphql-transport-ws). Events arrive as ids; each delivery
//! loads the row with the subscriber's own visibility.

use async_graphql::{Context, Subscription, ID};
use futures_util::{Stream, StreamExt as _};

use super::context::ContextExt;
use super::ids::{self, Kind};
use super::types::{Comment, Post};
use crate::auth;
use crate::error::AppError;
use crate::events::Event;
use crate::store;

/// The root of every subscription.
#[derive(Default)]
pub struct Subscription;

/// The root of every subscription: events pushed over a WebSocket (graphql-transport-ws).
#[Subscription]
impl Subscription {
    /// Comments added to a post from now on.
    async fn comment_added(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post's global id.")] post_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = Comment>> {
        let services = ctx.services()?.clone();
        let visibility = auth::visibility(ctx.viewer().as_ref());
        let not_found = AppError::NotFound { what: "post" };
        let post_id = ids::decode_as("postId", &post_id, Kind::Post)?.ok_or(not_found.clone())?;
        let visible = store::posts::find_posts(&services.db, &[post_id], visibility).await?;
        if visible.is_empty() {
            return Err(not_found.into());
        }
        Ok(services.events.subscribe().filter_map(move |event| {
            let services = services.clone();
            async move {
                let Event::CommentAdded {
                    post_id: p,
                    comment_id,
                } = event
                else {
                    return None;
                };
                if p != post_id {
                    return None;
                }
                match store::comments::find_comments(&services.db, &[comment_id], visibility).await
                {
                    Ok(found) => found.into_iter().next().map(Comment::from),
                    Err(err) => {
                        tracing::warn!(error = %err, comment_id, "loading a comment event");
                        None
                    }
                }
            }
        }))
    }

    /// Posts as they are published.
    async fn post_published(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = Post>> {
        let services = ctx.services()?.clone();
        let visibility = auth::visibility(ctx.viewer().as_ref());
        Ok(services.events.subscribe().filter_map(move |event| {
            let services = services.clone();
            async move {
                let Event::PostPublished { post_id } = event else {
                    return None;
                };
                match store::posts::find_posts(&services.db, &[post_id], visibility).await {
                    Ok(found) => found.into_iter().next().map(Post::from),
                    Err(err) => {
                        tracing::warn!(error = %err, post_id, "loading a post event");
                        None
                    }
                }
            }
        }))
    }
}
