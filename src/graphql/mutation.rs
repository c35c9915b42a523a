//! The root mutation type. Each mutation checks input and authorization, then calls one
//! store function; multi-row writes run in a transaction, so a failure writes nothing.
//! After the write commits, and before the mutation returns, it invalidates exactly the
//! cached rows and counts it changed (and, with them, every cached response).

use async_graphql::{Context, Object, ID};
use entity::{comment, post};

use super::context::ContextExt;
use super::ids::{self, Kind};
use super::inputs::{
    bounds, check_length, check_username, normalize_email, normalize_tags, CreatePostInput,
    LoginInput, RegisterInput, UpdatePostInput,
};
use super::types::{AuthPayload, Comment, Post, User};
use crate::auth::password::{hash_password, verify_password};
use crate::auth::{Role, Viewer};
use crate::cache::{EntityKey, EntityKind};
use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::store::{self, posts, users};

/// The root of every write.
#[derive(Default)]
pub struct Mutation;

/// The root of every write.
#[Object]
impl Mutation {
    /// Creates an account and returns a token for it.
    async fn register(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new account.")] input: RegisterInput,
    ) -> async_graphql::Result<AuthPayload> {
        check_username(&input.username)?;
        let email = normalize_email(&input.email)?;
        check_length(
            "password",
            &input.password,
            bounds::PASSWORD.0,
            bounds::PASSWORD.1,
        )?;
        let display_name = input.display_name.trim().to_owned();
        check_length(
            "displayName",
            &display_name,
            bounds::DISPLAY_NAME.0,
            bounds::DISPLAY_NAME.1,
        )?;
        let services = ctx.services()?;
        let password_hash = hash_password(input.password)
            .await
            .map_err(AppError::from)?;
        let user = users::create_user(
            &services.db,
            users::NewUser {
                username: input.username,
                email,
                display_name,
                password_hash,
                role: users::ROLE_USER,
            },
        )
        .await?;
        // No cached row changed, but a cached response may say "no such user".
        services.caches.invalidate([]).await;
        let token = services
            .jwt
            .issue(user.id, Role::User)
            .map_err(AppError::from)?;
        Ok(AuthPayload {
            token,
            user: user.into(),
        })
    }

    /// Exchanges a username (or email) and password for a token.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The credentials.")] input: LoginInput,
    ) -> async_graphql::Result<AuthPayload> {
        let services = ctx.services()?;
        let found = users::find_by_login(&services.db, input.username_or_email.trim()).await?;
        let Some(user) = found else {
            return Err(AppError::BadCredentials("wrong username or password").into());
        };
        let ok = verify_password(input.password, user.password_hash.clone())
            .await
            .map_err(AppError::from)?;
        if !ok {
            return Err(AppError::BadCredentials("wrong username or password").into());
        }
        let token = services
            .jwt
            .issue(user.id, Role::parse(&user.role))
            .map_err(AppError::from)?;
        Ok(AuthPayload {
            token,
            user: User::from(user),
        })
    }

    /// Writes a post, as a draft unless `publish` is true.
    async fn create_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new post.")] input: CreatePostInput,
    ) -> async_graphql::Result<Post> {
        let viewer = ctx.require_viewer()?;
        check_length("title", &input.title, bounds::TITLE.0, bounds::TITLE.1)?;
        check_length(
            "body",
            &input.body,
            bounds::POST_BODY.0,
            bounds::POST_BODY.1,
        )?;
        let tags = normalize_tags(input.tags)?;
        let publish = input.publish.unwrap_or(false);
        let services = ctx.services()?;
        let written = posts::create_post(
            &services.db,
            posts::NewPost {
                author_id: viewer.id,
                title: input.title,
                body: input.body,
                tags,
                publish,
            },
        )
        .await?;
        let post = written.post;
        let mut changed = tags_posts(&written.tags_touched);
        changed.push(EntityKind::AuthorPostCount.key(post.author_id));
        services.caches.invalidate(changed).await;
        if publish {
            services
                .events
                .publish(Event::PostPublished { post_id: post.id });
        }
        Ok(post.into())
    }

    /// Edits a post (its author or an admin).
    async fn update_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post's global id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdatePostInput,
    ) -> async_graphql::Result<Post> {
        let viewer = ctx.require_viewer()?;
        if let Some(title) = &input.title {
            check_length("title", title, bounds::TITLE.0, bounds::TITLE.1)?;
        }
        if let Some(body) = &input.body {
            check_length("body", body, bounds::POST_BODY.0, bounds::POST_BODY.1)?;
        }
        let tags = input.tags.map(|t| normalize_tags(Some(t))).transpose()?;
        let post = owned_post(ctx, &viewer, &id).await?;
        let changes = posts::PostChanges {
            title: input.title,
            body: input.body,
            tags,
        };
        let services = ctx.services()?;
        let written = posts::update_post(&services.db, post, changes).await?;
        let mut changed = tags_posts(&written.tags_touched);
        changed.push(EntityKind::Post.key(written.post.id));
        changed.push(EntityKind::PostTags.key(written.post.id));
        services.caches.invalidate(changed).await;
        Ok(written.post.into())
    }

    /// Publishes a draft (its author or an admin); publishing a published post changes
    /// nothing.
    async fn publish_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post's global id.")] id: ID,
    ) -> async_graphql::Result<Post> {
        let viewer = ctx.require_viewer()?;
        let post = owned_post(ctx, &viewer, &id).await?;
        let services = ctx.services()?;
        let (post, changed) = posts::publish_post(&services.db, post).await?;
        if changed {
            let tags = store::tags::tag_ids_of_post(&services.db, post.id).await?;
            let mut keys = tags_posts(&tags);
            keys.push(EntityKind::Post.key(post.id));
            keys.push(EntityKind::AuthorPostCount.key(post.author_id));
            services.caches.invalidate(keys).await;
            services
                .events
                .publish(Event::PostPublished { post_id: post.id });
        }
        Ok(post.into())
    }

    /// Deletes a post with its comments and likes (its author or an admin); returns its id.
    async fn delete_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post's global id.")] id: ID,
    ) -> async_graphql::Result<ID> {
        let viewer = ctx.require_viewer()?;
        let post = owned_post(ctx, &viewer, &id).await?;
        let services = ctx.services()?;
        // Read before the cascade takes the links away.
        let tags = store::tags::tag_ids_of_post(&services.db, post.id).await?;
        posts::delete_post(&services.db, post.id).await?;
        let mut keys = tags_posts(&tags);
        keys.extend(
            [
                EntityKind::Post,
                EntityKind::PostTags,
                EntityKind::CommentCount,
                EntityKind::LikeCount,
            ]
            .map(|kind| kind.key(post.id)),
        );
        keys.push(EntityKind::AuthorPostCount.key(post.author_id));
        services.caches.invalidate(keys).await;
        Ok(id)
    }

    /// Comments on a post the caller can see.
    async fn add_comment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post's global id.")] post_id: ID,
        #[graphql(desc = "1 to 5,000 characters.")] body: String,
    ) -> async_graphql::Result<Comment> {
        let viewer = ctx.require_viewer()?;
        check_length("body", &body, bounds::COMMENT.0, bounds::COMMENT.1)?;
        let post_id = post_key("postId", &post_id)?;
        let services = ctx.services()?;
        let db = &services.db;
        let comment = store::comments::comment_on_visible_post(
            db,
            post_id,
            viewer.id,
            body,
            ctx.visibility(),
        )
        .await?
        .ok_or(AppError::NotFound { what: "post" })?;
        services
            .caches
            .invalidate([EntityKind::CommentCount.key(post_id)])
            .await;
        services.events.publish(Event::CommentAdded {
            post_id,
            comment_id: comment.id,
        });
        Ok(comment.into())
    }

    /// Deletes a comment (its author or an admin); returns its id.
    async fn delete_comment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The comment's global id.")] id: ID,
    ) -> async_graphql::Result<ID> {
        let viewer = ctx.require_viewer()?;
        let comment = visible_comment(ctx, &id).await?;
        if !viewer.may_act_on(comment.author_id) {
            return Err(AppError::Forbidden.into());
        }
        let services = ctx.services()?;
        store::comments::delete_comment(&services.db, comment.id).await?;
        services
            .caches
            .invalidate([EntityKind::CommentCount.key(comment.post_id)])
            .await;
        Ok(id)
    }

    /// Likes a post; liking twice is the same as liking once.
    async fn like_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post's global id.")] post_id: ID,
    ) -> async_graphql::Result<Post> {
        let viewer = ctx.require_viewer()?;
        let post = visible_post(ctx, "postId", &post_id).await?;
        let services = ctx.services()?;
        store::likes::like(&services.db, viewer.id, post.id).await?;
        services
            .caches
            .invalidate([EntityKind::LikeCount.key(post.id)])
            .await;
        Ok(post.into())
    }

    /// Takes a like back; unliking a post not liked changes nothing.
    async fn unlike_post(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The post's global id.")] post_id: ID,
    ) -> async_graphql::Result<Post> {
        let viewer = ctx.require_viewer()?;
        let post = visible_post(ctx, "postId", &post_id).await?;
        let services = ctx.services()?;
        store::likes::unlike(&services.db, viewer.id, post.id).await?;
        services
            .caches
            .invalidate([EntityKind::LikeCount.key(post.id)])
            .await;
        Ok(post.into())
    }
}

/// The row id of the post `id` names (`NOT_FOUND` when it names another kind of node).
fn post_key(field: &str, id: &ID) -> AppResult<i64> {
    ids::decode_as(field, id, Kind::Post)?.ok_or(AppError::NotFound { what: "post" })
}

/// The post `id` names, if the caller may see it (else `NOT_FOUND`).
async fn visible_post(ctx: &Context<'_>, field: &str, id: &ID) -> AppResult<post::Model> {
    let not_found = AppError::NotFound { what: "post" };
    let key = post_key(field, id)?;
    let visibility = ctx.visibility();
    let found = posts::find_posts(&ctx.services()?.db, &[key], visibility).await?;
    found.into_iter().next().ok_or(not_found)
}

/// The post `id` names, if the caller may see it and may change it.
async fn owned_post(ctx: &Context<'_>, viewer: &Viewer, id: &ID) -> AppResult<post::Model> {
    let post = visible_post(ctx, "id", id).await?;
    if !viewer.may_act_on(post.author_id) {
        return Err(AppError::Forbidden);
    }
    Ok(post)
}

/// The comment `id` names, if the caller may see it.
async fn visible_comment(ctx: &Context<'_>, id: &ID) -> AppResult<comment::Model> {
    let not_found = AppError::NotFound { what: "comment" };
    let key = ids::decode_as("id", id, Kind::Comment)?.ok_or(not_found.clone())?;
    let found =
        store::comments::find_comments(&ctx.services()?.db, &[key], ctx.visibility()).await?;
    found.into_iter().next().ok_or(not_found)
}

/// The post counts of `tags`, which a post joining or leaving them changes.
fn tags_posts(tags: &[i64]) -> Vec<EntityKey> {
    tags.iter()
        .map(|id| EntityKind::TagPostCount.key(*id))
        .collect()
}
