//! The demo data set: a few users with known passwords (listed in the README), posts,
//! drafts, tags, comments and likes, so GraphiQL has something to show. Deterministic:
//! timestamps count from a fixed date, so every fresh database looks the same.

use anyhow::Context as _;
use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::{comment, post, post_like, user};
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, EntityTrait, PaginatorTrait, Set, TransactionTrait,
};

use crate::auth::password::hash_password;
use crate::store::{posts, tags, users};

/// Demo accounts: (username, display name, password, role).
pub const DEMO_USERS: [(&str, &str, &str, &str); 3] = [
    (
        "alice",
        "Alice Admin",
        "alice-demo-password",
        users::ROLE_ADMIN,
    ),
    ("bob", "Bob Builder", "bob-demo-password", users::ROLE_USER),
    (
        "carol",
        "Carol Coder",
        "carol-demo-password",
        users::ROLE_USER,
    ),
];

/// (author index, title, tags, published)
const DEMO_POSTS: [(usize, &str, &[&str], bool); 12] = [
    (
        0,
        "Welcome to Gatehouse",
        &["announcements", "graphql"],
        true,
    ),
    (
        1,
        "Batching with DataLoaders",
        &["graphql", "performance"],
        true,
    ),
    (
        2,
        "Keyset pagination explained",
        &["databases", "performance"],
        true,
    ),
    (
        1,
        "Why JWTs for stateless replicas",
        &["security", "kubernetes"],
        true,
    ),
    (2, "Indexes that serve the feed", &["databases"], true),
    (
        0,
        "Rate limits by query cost",
        &["graphql", "security"],
        true,
    ),
    (1, "Scaling on CPU with an HPA", &["kubernetes"], true),
    (2, "Subscriptions over WebSockets", &["graphql"], true),
    (0, "Draft: the roadmap", &["announcements"], false),
    (
        1,
        "Draft: caching that is never wrong",
        &["performance"],
        false,
    ),
    (
        2,
        "Full-text search on PostgreSQL",
        &["databases", "search"],
        true,
    ),
    (2, "Draft: notes to self", &[], false),
];

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Loads the demo data when the database has no users; returns whether it did.
pub async fn seed_demo_if_empty(db: &DatabaseConnection) -> anyhow::Result<bool> {
    if user::Entity::find().count(db).await? > 0 {
        return Ok(false);
    }
    seed_demo(db).await?;
    tracing::info!("loaded the demo data set (see README: demo accounts)");
    Ok(true)
}

/// Loads the demo data in one transaction.
pub async fn seed_demo(db: &DatabaseConnection) -> anyhow::Result<()> {
    let mut hashes = Vec::new();
    for (_, _, password, _) in DEMO_USERS {
        hashes.push(hash_password(password.to_owned()).await?);
    }
    let txn = db.begin().await?;
    let mut user_ids = Vec::new();
    for (i, ((username, display, _, role), hash)) in DEMO_USERS.iter().zip(hashes).enumerate() {
        let created = base() + Duration::days(i64::try_from(i).unwrap_or(0));
        let model = user::ActiveModel {
            username: Set((*username).to_owned()),
            email: Set(format!("{username}@example.com")),
            display_name: Set((*display).to_owned()),
            bio: Set(Some(format!("{display} is a demo account."))),
            password_hash: Set(hash),
            role: Set((*role).to_owned()),
            created_at: Set(created),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .with_context(|| format!("creating demo user {username}"))?;
        user_ids.push(model.id);
    }
    let mut post_ids = Vec::new();
    for (i, (author, title, tag_names, published)) in DEMO_POSTS.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or(0);
        let created = base() + Duration::days(7) + Duration::hours(6 * i);
        let model = post::ActiveModel {
            author_id: Set(user_ids[*author]),
            title: Set((*title).to_owned()),
            body: Set(format!(
                "{title}. This is demo content for Gatehouse, a GraphQL API service: \
                 batched DataLoaders, keyset pagination, cost limits and stateless replicas."
            )),
            status: Set(if *published {
                posts::PUBLISHED
            } else {
                posts::DRAFT
            }
            .to_owned()),
            published_at: Set(published.then(|| created + Duration::minutes(30))),
            created_at: Set(created),
            updated_at: Set(created),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let names: Vec<String> = tag_names.iter().map(|t| (*t).to_owned()).collect();
        tags::set_post_tags(&txn, model.id, &names).await?;
        post_ids.push((model.id, *published, created));
    }
    let remarks = [
        "Great write-up, thanks!",
        "How does this behave with 100 replicas?",
        "We switched to this approach last month.",
        "Could you share the benchmark numbers?",
    ];
    for (p, (post_id, published, created)) in post_ids.iter().enumerate() {
        if !published {
            continue;
        }
        for c in 0..(p % 4 + 1) {
            let commenter = user_ids[(p + c + 1) % user_ids.len()];
            let c64 = i64::try_from(c).unwrap_or(0);
            comment::ActiveModel {
                post_id: Set(*post_id),
                author_id: Set(commenter),
                body: Set(remarks[(p + c) % remarks.len()].to_owned()),
                created_at: Set(*created + Duration::hours(1 + c64)),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
        for (u, user_id) in user_ids.iter().enumerate() {
            if (p + u) % 2 == 0 {
                post_like::ActiveModel {
                    user_id: Set(*user_id),
                    post_id: Set(*post_id),
                    created_at: Set(*created + Duration::hours(2)),
                }
                .insert(&txn)
                .await?;
            }
        }
    }
    txn.commit().await?;
    Ok(())
}
