//! Post reads and writes.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use entity::post;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseBackend, EntityTrait, Set, TransactionTrait,
};

use super::keyset::{PostKey, PostOrderField, PostOrdering};
use super::pages::{self, PerParent};
use super::rows::{self, Joined, COMMENT_COUNT, LIKE_COUNT, WITHOUT_BODY};
use super::sql::Sql;
use super::users::{self, AuthorColumns};
use super::visibility::Visibility;
use super::{now, tags};
use crate::error::{AppError, AppResult};

/// `posts.status` values.
pub const DRAFT: &str = "draft";
/// `posts.status` values.
pub const PUBLISHED: &str = "published";

/// The filters of `posts(filter:)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PostFilter {
    /// Only this author's posts.
    pub author_id: Option<i64>,
    /// Only posts carrying this tag name.
    pub tag: Option<String>,
    /// Only published (true) or only drafts (false).
    pub published: Option<bool>,
    /// Full-text search over title and body.
    pub search: Option<String>,
}

/// Whose posts a per-parent page lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PostParent {
    /// `User.posts`.
    Author,
    /// `Tag.posts`.
    Tag,
}

impl PostParent {
    fn sql_source(self) -> (&'static str, &'static str) {
        match self {
            PostParent::Author => ("posts p", "p.author_id"),
            PostParent::Tag => (
                "post_tags pt JOIN posts p ON p.id = pt.post_id",
                "pt.tag_id",
            ),
        }
    }
}

/// What a page of posts reads of its posts' fields in its own statement (the page selects
/// them): rows decode as [`Joined`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PostJoins {
    /// Each post's author, these of its columns.
    pub author: Option<AuthorColumns>,
    /// Each post's comment count.
    pub comment_count: bool,
    /// Each post's like count.
    pub like_count: bool,
    /// Leave each post's body out (the page selects no `body`): a body may hold 50,000
    /// characters, read and decoded for nobody.
    pub without_body: bool,
}

/// Post `p`'s columns in the model's order, its body empty, and the [`WITHOUT_BODY`]
/// marker that says so.
static WITHOUT_BODY_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let columns = rows::columns_leaving_out::<post::Model>("p", "body");
    format!("{columns}, TRUE AS {WITHOUT_BODY}")
});

/// The comment count of post `p`.
const COMMENTS_OF_P: &str = "(SELECT COUNT(*) FROM comments c WHERE c.post_id = p.id)";
/// The like count of post `p`.
const LIKES_OF_P: &str = "(SELECT COUNT(*) FROM post_likes l WHERE l.post_id = p.id)";

impl PostJoins {
    /// The select list and `FROM` clause that read posts `p` from `from` with these joins.
    fn select_from(self, from: &str) -> (String, String) {
        let mut select = if self.without_body {
            WITHOUT_BODY_COLUMNS.clone()
        } else {
            "p.*".to_owned()
        };
        let mut from = from.to_owned();
        if let Some(columns) = self.author {
            users::join_author("p", columns, &mut select, &mut from);
        }
        if self.comment_count {
            select.push_str(&format!(", {COMMENTS_OF_P} AS {COMMENT_COUNT}"));
        }
        if self.like_count {
            select.push_str(&format!(", {LIKES_OF_P} AS {LIKE_COUNT}"));
        }
        (select, from)
    }
}

fn order_clause(ordering: PostOrdering) -> &'static str {
    match (ordering.field, ordering.descending) {
        (PostOrderField::PublishedAt, true) => {
            "p.published_at DESC NULLS LAST, p.created_at DESC, p.id DESC"
        }
        (PostOrderField::PublishedAt, false) => {
            "p.published_at ASC NULLS LAST, p.created_at ASC, p.id ASC"
        }
        (PostOrderField::CreatedAt, true) => "p.created_at DESC, p.id DESC",
        (PostOrderField::CreatedAt, false) => "p.created_at ASC, p.id ASC",
    }
}

/// Orders two posts as `ordering` does in SQL (used to keep per-parent pages in order).
pub fn compare(ordering: PostOrdering, a: &post::Model, b: &post::Model) -> Ordering {
    let by_published = || match (a.published_at, b.published_at) {
        // Drafts (None) come after published posts in both directions.
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    let rest = (a.created_at, a.id).cmp(&(b.created_at, b.id));
    let directed = |o: Ordering| if ordering.descending { o.reverse() } else { o };
    match ordering.field {
        PostOrderField::PublishedAt => {
            let nulls = matches!(
                (a.published_at, b.published_at),
                (Some(_), None) | (None, Some(_))
            );
            if nulls {
                by_published()
            } else {
                directed(by_published().then(rest))
            }
        }
        PostOrderField::CreatedAt => directed(rest),
    }
}

/// Appends the keyset condition "comes after `key`".
fn push_after(sql: &mut Sql, ordering: PostOrdering, key: &PostKey) {
    let op = if ordering.descending { "<" } else { ">" };
    match (ordering.field, key.published_at) {
        (PostOrderField::PublishedAt, Some(published)) => {
            sql.push(&format!(
                " AND ((p.published_at, p.created_at, p.id) {op} ("
            ))
            .bind(published)
            .push(", ")
            .bind(key.created_at)
            .push(", ")
            .bind(key.id)
            .push(") OR p.published_at IS NULL)");
        }
        (PostOrderField::PublishedAt, None) => {
            sql.push(&format!(
                " AND p.published_at IS NULL AND (p.created_at, p.id) {op} ("
            ))
            .bind(key.created_at)
            .push(", ")
            .bind(key.id)
            .push(")");
        }
        (PostOrderField::CreatedAt, _) => {
            sql.push(&format!(" AND (p.created_at, p.id) {op} ("))
                .bind(key.created_at)
                .push(", ")
                .bind(key.id)
                .push(")");
        }
    }
}

fn push_filter(sql: &mut Sql, filter: &PostFilter) {
    if let Some(author) = filter.author_id {
        sql.push(" AND p.author_id = ").bind(author);
    }
    match filter.published {
        Some(true) => {
            sql.push(" AND p.published_at IS NOT NULL");
        }
        Some(false) => {
            sql.push(" AND p.published_at IS NULL");
        }
        None => {}
    }
    if let Some(tag) = &filter.tag {
        sql.push(
            " AND p.id IN (SELECT ft.post_id FROM post_tags ft JOIN tags t ON t.id = ft.tag_id WHERE t.name = ",
        )
        .bind(tag.clone())
        .push(")");
    }
    if let Some(search) = &filter.search {
        if sql.backend() == DatabaseBackend::Postgres {
            // Same expression as the GIN index `posts_search_idx`, so the index serves it.
            sql.push(
                " AND to_tsvector('english', p.title || ' ' || p.body) @@ websearch_to_tsquery('english', ",
            )
            .bind(search.clone())
            .push(")");
        } else {
            let pattern = format!("%{}%", escape_like(search));
            sql.push(" AND (p.title LIKE ")
                .bind(pattern.clone())
                .push(" ESCAPE '\\' OR p.body LIKE ")
                .bind(pattern)
                .push(" ESCAPE '\\')");
        }
    }
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// One page of `posts(filter:, orderBy:)`: up to `limit` rows after `after`, reading
/// `joins` with them.
pub async fn list_posts(
    db: &impl ConnectionTrait,
    visibility: Visibility,
    filter: &PostFilter,
    ordering: PostOrdering,
    after: Option<&PostKey>,
    limit: u64,
    joins: PostJoins,
) -> AppResult<Vec<Joined<post::Model>>> {
    let mut sql = Sql::new(db.get_database_backend());
    let (select, from) = joins.select_from("posts p");
    sql.push(&format!("SELECT {select} FROM {from} WHERE 1 = 1"));
    visibility.push_filter(&mut sql, "p");
    push_filter(&mut sql, filter);
    if let Some(key) = after {
        push_after(&mut sql, ordering, key);
    }
    sql.push(&format!(
        " ORDER BY {} LIMIT {limit}",
        order_clause(ordering)
    ));
    rows::all(db, sql.build()).await
}

/// How many posts match `filter` for this caller.
pub async fn count_posts(
    db: &impl ConnectionTrait,
    visibility: Visibility,
    filter: &PostFilter,
) -> AppResult<i64> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT COUNT(*) AS n FROM posts p WHERE 1 = 1");
    visibility.push_filter(&mut sql, "p");
    push_filter(&mut sql, filter);
    let row = db
        .query_one(sql.build())
        .await?
        .ok_or_else(|| anyhow::anyhow!("COUNT returned no row"))?;
    Ok(row.try_get("", "n")?)
}

/// The visible posts among `ids`.
pub async fn find_posts(
    db: &impl ConnectionTrait,
    ids: &[i64],
    visibility: Visibility,
) -> AppResult<Vec<post::Model>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT p.* FROM posts p WHERE p.id IN ")
        .bind_list(ids.iter().copied());
    visibility.push_filter(&mut sql, "p");
    rows::all(db, sql.build()).await
}

/// The first `limit` visible posts of each parent, newest first, after `after`, reading
/// `joins` with them (counts on PostgreSQL only: SQLite's window query would count for
/// every candidate row, not only the page's, so there they come from the counts loader).
pub async fn post_pages(
    db: &impl ConnectionTrait,
    parent: PostParent,
    parent_ids: &[i64],
    visibility: Visibility,
    after: Option<&PostKey>,
    limit: u64,
    mut joins: PostJoins,
) -> AppResult<HashMap<i64, Vec<Joined<post::Model>>>> {
    let ordering = PostOrdering::default();
    let (from, parent_col) = parent.sql_source();
    let backend = db.get_database_backend();
    if backend != DatabaseBackend::Postgres {
        joins.comment_count = false;
        joins.like_count = false;
    }
    let (select, from) = joins.select_from(from);
    let statement = PerParent {
        select: &select,
        from: &from,
        parent_col,
        order: order_clause(ordering),
        limit,
    }
    .statement(backend, parent_ids, |sql| {
        visibility.push_filter(sql, "p");
        if let Some(key) = after {
            push_after(sql, ordering, key);
        }
    });
    let mut groups = pages::grouped::<Joined<post::Model>>(db, statement).await?;
    for page in groups.values_mut() {
        page.sort_by(|a, b| compare(ordering, &a.row, &b.row));
    }
    Ok(groups)
}

/// Comments and likes of each post, in one statement (a feed asks for both): `(comments,
/// likes)`, zeros for ids that name no post.
pub async fn engagement_by_post(
    db: &impl ConnectionTrait,
    post_ids: &[i64],
) -> AppResult<HashMap<i64, (i64, i64)>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT p.id AS parent_id, {COMMENTS_OF_P} AS comments, {LIKES_OF_P} AS likes \
         FROM posts p WHERE p.id IN "
    ))
    .bind_list(post_ids.iter().copied());
    let mut out: HashMap<i64, (i64, i64)> = post_ids.iter().map(|id| (*id, (0, 0))).collect();
    for row in db.query_all(sql.build()).await? {
        let id: i64 = row.try_get("", "parent_id")?;
        out.insert(
            id,
            (row.try_get("", "comments")?, row.try_get("", "likes")?),
        );
    }
    Ok(out)
}

/// Visible posts per parent (for `postCount` and `Tag.posts.totalCount`).
pub async fn count_by_parent(
    db: &impl ConnectionTrait,
    parent: PostParent,
    parent_ids: &[i64],
    visibility: Visibility,
) -> AppResult<HashMap<i64, i64>> {
    let (from, parent_col) = parent.sql_source();
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {parent_col} AS parent_id, COUNT(*) AS n FROM {from} WHERE {parent_col} IN "
    ))
    .bind_list(parent_ids.iter().copied());
    visibility.push_filter(&mut sql, "p");
    sql.push(&format!(" GROUP BY {parent_col}"));
    pages::counts(db, parent_ids, sql.build()).await
}

/// The fields of a new post.
pub struct NewPost {
    /// Its author.
    pub author_id: i64,
    /// Title (validated).
    pub title: String,
    /// Body (validated).
    pub body: String,
    /// Tag names (validated, deduplicated).
    pub tags: Vec<String>,
    /// Publish at once.
    pub publish: bool,
}

/// A written post and the tags whose posts changed with it.
pub struct Written {
    /// The post as stored.
    pub post: post::Model,
    /// Tags it joined or left.
    pub tags_touched: Vec<i64>,
}

/// Creates a post and its tags in one transaction.
pub async fn create_post(db: &impl TransactionTrait, new: NewPost) -> AppResult<Written> {
    let txn = db.begin().await?;
    let at = now();
    let model = post::ActiveModel {
        author_id: Set(new.author_id),
        title: Set(new.title),
        body: Set(new.body),
        status: Set(if new.publish { PUBLISHED } else { DRAFT }.to_owned()),
        published_at: Set(new.publish.then_some(at)),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let tags_touched = tags::set_post_tags(&txn, model.id, &new.tags).await?;
    txn.commit().await?;
    Ok(Written {
        post: model,
        tags_touched,
    })
}

/// Changes to an existing post; `None` leaves a field as it is.
#[derive(Default)]
pub struct PostChanges {
    /// New title.
    pub title: Option<String>,
    /// New body.
    pub body: Option<String>,
    /// New tag set (replaces the old one).
    pub tags: Option<Vec<String>>,
}

/// Applies `changes` to `post` in one transaction.
pub async fn update_post(
    db: &impl TransactionTrait,
    post: post::Model,
    changes: PostChanges,
) -> AppResult<Written> {
    let txn = db.begin().await?;
    let mut active: post::ActiveModel = post.into();
    if let Some(title) = changes.title {
        active.title = Set(title);
    }
    if let Some(body) = changes.body {
        active.body = Set(body);
    }
    active.updated_at = Set(now());
    let model = active.update(&txn).await?;
    let tags_touched = match &changes.tags {
        Some(tags) => tags::set_post_tags(&txn, model.id, tags).await?,
        None => Vec::new(),
    };
    txn.commit().await?;
    Ok(Written {
        post: model,
        tags_touched,
    })
}

/// Publishes a draft; a published post is returned unchanged (`false`: nothing changed).
pub async fn publish_post(
    db: &impl ConnectionTrait,
    post: post::Model,
) -> AppResult<(post::Model, bool)> {
    if post.published_at.is_some() {
        return Ok((post, false));
    }
    let at: DateTime<Utc> = now();
    let mut active: post::ActiveModel = post.into();
    active.status = Set(PUBLISHED.to_owned());
    active.published_at = Set(Some(at));
    active.updated_at = Set(at);
    Ok((active.update(db).await?, true))
}

/// Deletes a post; comments, likes and tag links go with it (foreign-key cascades).
pub async fn delete_post(db: &impl ConnectionTrait, id: i64) -> AppResult<()> {
    let result = post::Entity::delete_by_id(id).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(AppError::NotFound { what: "post" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: i64, published: Option<i64>, created: i64) -> post::Model {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        post::Model {
            id,
            author_id: 1,
            title: String::new(),
            body: String::new(),
            status: String::new(),
            published_at: published.map(t),
            created_at: t(created),
            updated_at: t(created),
        }
    }

    #[test]
    fn compare_puts_drafts_last_in_both_directions() {
        let mut posts = [
            post(1, None, 50),
            post(2, Some(10), 5),
            post(3, Some(20), 1),
        ];
        posts.sort_by(|a, b| compare(PostOrdering::default(), a, b));
        assert_eq!(posts.iter().map(|p| p.id).collect::<Vec<_>>(), [3, 2, 1]);
        let asc = PostOrdering {
            field: PostOrderField::PublishedAt,
            descending: false,
        };
        posts.sort_by(|a, b| compare(asc, a, b));
        assert_eq!(posts.iter().map(|p| p.id).collect::<Vec<_>>(), [2, 3, 1]);
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(escape_like("100%_a\\"), "100\\%\\_a\\\\");
    }

    #[test]
    fn a_page_without_bodies_reads_every_other_column_in_the_models_order() {
        let joins = PostJoins {
            without_body: true,
            ..PostJoins::default()
        };
        assert_eq!(
            joins.select_from("posts p").0,
            "p.id, p.author_id, p.title, '' AS body, p.status, p.published_at, \
             p.created_at, p.updated_at, TRUE AS gh_without_body"
        );
        assert_eq!(PostJoins::default().select_from("posts p").0, "p.*");
    }
}
