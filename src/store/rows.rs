//! Rows decoded into models by position on PostgreSQL.
//!
//! SeaORM's derived `FromQueryResult` looks every value up by column name (a `SipHash` of the
//! name in sqlx's column map) and sqlx type-checks each one against the column: together
//! about a tenth of a `deep` request's instructions, for a decoding whose shape never
//! changes. The models read in bulk are decoded here by position instead, once the
//! statement's column names have been checked against the model's fields — per statement,
//! not per row. A statement whose columns are not the model's fields in order where they
//! are expected, and every SQLite row, decode by name as before: a reordered `SELECT` is
//! slower, never wrong.

use entity::{comment, post, tag, user};
use sea_orm::sqlx::postgres::{PgRow, Postgres};
use sea_orm::sqlx::{self, Column as _, Row as _};
use sea_orm::{ConnectionTrait, FromQueryResult, QueryResult, Statement};

use super::users::{Shown, UserDetails, UserName};
use crate::error::{AppError, AppResult};

/// A model that decodes from its columns by position.
pub trait Positional: FromQueryResult + Sized {
    /// The model's column names, in the order [`Positional::from_pg`] reads them.
    const COLUMNS: &'static [&'static str];

    /// The model from `row`'s columns `first..first + COLUMNS.len()`, which the caller has
    /// checked are named [`Positional::COLUMNS`].
    fn from_pg(row: &PgRow, first: usize) -> Result<Self, sqlx::Error>;
}

/// `M`'s columns of the table aliased `alias`, in the model's order, with `left_out` read as
/// an empty string instead (a column the reader must not see or need not carry); the list
/// still decodes by position.
pub fn columns_leaving_out<M: Positional>(alias: &str, left_out: &str) -> String {
    M::COLUMNS
        .iter()
        .map(|field| {
            if *field == left_out {
                format!("'' AS {field}")
            } else {
                format!("{alias}.{field}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a statement's rows decode into a model.
#[derive(Clone, Copy, Debug)]
pub enum Decoding {
    /// The model's columns are in order, starting at this position.
    ByPosition(usize),
    /// By column name, each the field's name after this prefix (SQLite, or columns in
    /// another order).
    ByName(&'static str),
}

impl Decoding {
    /// How the rows of the statement that produced `row` decode into `M`, whose columns
    /// should start at position `first`, each named `prefix` + field.
    pub fn at<M: Positional>(row: &QueryResult, first: usize, prefix: &'static str) -> Self {
        let by_name = Self::ByName(prefix);
        let Some(pg) = row.try_as_pg_row() else {
            return by_name;
        };
        let Some(columns) = pg.columns().get(first..first + M::COLUMNS.len()) else {
            return by_name;
        };
        let in_order = columns
            .iter()
            .zip(M::COLUMNS)
            .all(|(column, name)| column.name().strip_prefix(prefix) == Some(*name));
        if in_order {
            Self::ByPosition(first)
        } else {
            by_name
        }
    }

    /// Decodes one row of the statement this decoding was made for.
    pub fn decode<M: Positional>(self, row: &QueryResult) -> AppResult<M> {
        match (self, row.try_as_pg_row()) {
            (Self::ByPosition(first), Some(pg)) => {
                M::from_pg(pg, first).map_err(|err| AppError::from(anyhow::Error::new(err)))
            }
            (Self::ByName(prefix), _) => Ok(M::from_query_result(row, prefix)?),
            (Self::ByPosition(_), None) => Ok(M::from_query_result(row, "")?),
        }
    }
}

/// What a statement's rows decode into: a model, or a model with what its page read with
/// it ([`Joined`]).
pub trait FromRows: Sized {
    /// How every row of a statement decodes, learnt from its first row.
    type Plan: Copy;

    /// The plan for rows whose own columns start at position `first`.
    fn plan(row: &QueryResult, first: usize) -> Self::Plan;

    /// One row, by `plan`.
    fn decode(plan: Self::Plan, row: &QueryResult) -> AppResult<Self>;
}

impl<M: Positional> FromRows for M {
    type Plan = Decoding;

    fn plan(row: &QueryResult, first: usize) -> Decoding {
        Decoding::at::<M>(row, first, "")
    }

    fn decode(plan: Decoding, row: &QueryResult) -> AppResult<Self> {
        plan.decode(row)
    }
}

/// The prefix of the author's columns in a statement that joins them ([`Joined`]).
pub const AUTHOR_PREFIX: &str = "u_";
/// The column of a post's comment count, when its page selects `commentCount`.
pub const COMMENT_COUNT: &str = "gh_comment_count";
/// The column of a post's like count, when its page selects `likeCount`.
pub const LIKE_COUNT: &str = "gh_like_count";
/// A column present when the statement left the rows' bodies out (their page selects no
/// `body`): each row's `body` is then empty, not its text.
pub const WITHOUT_BODY: &str = "gh_without_body";

/// The position of the column called `prefix` + `name` in `row`'s statement (without
/// allocating on PostgreSQL).
fn column_index(row: &QueryResult, prefix: &str, name: &str) -> Option<usize> {
    let is = |column: &str| column.strip_prefix(prefix) == Some(name);
    match row.try_as_pg_row() {
        Some(pg) => pg.columns().iter().position(|column| is(column.name())),
        None => row.column_names().iter().position(|column| is(column)),
    }
}

/// How the author's `M` columns decode, when the statement joined them: they start at the
/// column named after `M`'s first field.
fn author_part<M: Positional>(row: &QueryResult) -> Option<Decoding> {
    let first = M::COLUMNS.first()?;
    column_index(row, AUTHOR_PREFIX, first).map(|at| Decoding::at::<M>(row, at, AUTHOR_PREFIX))
}

/// A post or comment with what the statement that read it also read of its fields: its
/// author (the author's columns, named `u_<field>`, in [`Shown`]'s order) and, for
/// posts, its comment and like counts ([`COMMENT_COUNT`], [`LIKE_COUNT`]). A page that
/// selects those fields reads them in its own statement rather than one more per level.
#[derive(Clone, Debug)]
pub struct Joined<M> {
    /// The row itself.
    pub row: M,
    /// Its author, if the statement joined it.
    pub author: Option<Shown>,
    /// Its comment count, if the statement read it.
    pub comment_count: Option<i64>,
    /// Its like count, if the statement read it.
    pub like_count: Option<i64>,
    /// False when the statement left the body out ([`WITHOUT_BODY`]): `row`'s body is
    /// empty, not the text.
    pub body_read: bool,
}

impl<M> From<M> for Joined<M> {
    fn from(row: M) -> Self {
        Self {
            row,
            author: None,
            comment_count: None,
            like_count: None,
            body_read: true,
        }
    }
}

/// How a statement's rows decode into [`Joined`]: the row, the author (and its details)
/// if joined, and the positions of the counts if read.
#[derive(Clone, Copy, Debug)]
pub struct JoinedPlan {
    own: Decoding,
    author: Option<Decoding>,
    author_details: Option<Decoding>,
    comment_count: Option<usize>,
    like_count: Option<usize>,
    body_read: bool,
}

impl<M: Positional> FromRows for Joined<M> {
    type Plan = JoinedPlan;

    fn plan(row: &QueryResult, first: usize) -> JoinedPlan {
        JoinedPlan {
            own: Decoding::at::<M>(row, first, ""),
            author: author_part::<UserName>(row),
            author_details: author_part::<UserDetails>(row),
            comment_count: column_index(row, "", COMMENT_COUNT),
            like_count: column_index(row, "", LIKE_COUNT),
            body_read: column_index(row, "", WITHOUT_BODY).is_none(),
        }
    }

    fn decode(plan: JoinedPlan, row: &QueryResult) -> AppResult<Self> {
        let count = |at: Option<usize>| at.map(|at| row.try_get_by_index::<i64>(at)).transpose();
        let author = match plan.author {
            Some(name) => {
                let UserName { id, username } = name.decode(row)?;
                let details = plan.author_details.map(|d| d.decode(row)).transpose()?;
                Some(Shown {
                    id,
                    username,
                    details,
                })
            }
            None => None,
        };
        Ok(Self {
            row: plan.own.decode(row)?,
            author,
            comment_count: count(plan.comment_count)?,
            like_count: count(plan.like_count)?,
            body_read: plan.body_read,
        })
    }
}

/// Every row of `statement` as `M`.
pub async fn all<M: FromRows>(
    db: &impl ConnectionTrait,
    statement: Statement,
) -> AppResult<Vec<M>> {
    let rows = db.query_all(statement).await?;
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let plan = M::plan(first, 0);
    rows.iter().map(|row| M::decode(plan, row)).collect()
}

/// The first row of `statement` as `M`, if any.
pub async fn one<M: FromRows>(
    db: &impl ConnectionTrait,
    statement: Statement,
) -> AppResult<Option<M>> {
    match db.query_one(statement).await? {
        Some(row) => M::decode(M::plan(&row, 0), &row).map(Some),
        None => Ok(None),
    }
}

/// The value at `*at`, moving `at` to the next column.
fn next<'r, T: sqlx::Decode<'r, Postgres>>(
    row: &'r PgRow,
    at: &mut usize,
) -> Result<T, sqlx::Error> {
    // Unchecked: the column names were checked once per statement, and each column's type
    // is fixed by the migrations (every decoder runs in the PostgreSQL test suite).
    let value = row.try_get_unchecked(*at);
    *at += 1;
    value
}

/// Implements [`Positional`] for models whose fields are listed in column order (the
/// struct literal names every field, so a field added to a model must be added here).
macro_rules! positional {
    ($($model:ty { $($field:ident),+ $(,)? })+) => {$(
        impl Positional for $model {
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),+];

            fn from_pg(row: &PgRow, first: usize) -> Result<Self, sqlx::Error> {
                let mut at = first;
                Ok(Self { $($field: next(row, &mut at)?),+ })
            }
        }
    )+};
}

positional! {
    user::Model { id, username, email, display_name, bio, password_hash, role, created_at }
    post::Model { id, author_id, title, body, status, published_at, created_at, updated_at }
    comment::Model { id, post_id, author_id, body, created_at }
    tag::Model { id, name }
    UserName { id, username }
    UserDetails { display_name, bio, created_at }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};
    use sea_orm::{Database, DatabaseBackend, DatabaseConnection};

    use super::*;

    /// The databases to decode on: SQLite always, PostgreSQL when `TEST_DATABASE_URL` is
    /// set (required with `GATEHOUSE_REQUIRE_SERVICES=1`).
    async fn databases() -> Vec<DatabaseConnection> {
        let mut dbs = vec![Database::connect("sqlite::memory:")
            .await
            .unwrap_or_else(|e| panic!("sqlite: {e}"))];
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) => dbs.push(
                Database::connect(url)
                    .await
                    .unwrap_or_else(|e| panic!("postgres: {e}")),
            ),
            Err(_) => assert!(
                std::env::var("GATEHOUSE_REQUIRE_SERVICES").map_or(true, |v| v != "1"),
                "GATEHOUSE_REQUIRE_SERVICES=1 but TEST_DATABASE_URL is not set"
            ),
        }
        dbs
    }

    fn statement(db: &DatabaseConnection, sql: &str) -> Statement {
        let sql = match db.get_database_backend() {
            DatabaseBackend::Postgres => sql.to_owned(),
            // SQLite has no casts to these types; its values decode by name anyway.
            _ => sql
                .replace("::bigint", "")
                .replace("::text", "")
                .replace("::timestamptz", ""),
        };
        Statement::from_string(db.get_database_backend(), sql)
    }

    #[tokio::test]
    async fn rows_decode_alike_by_position_and_by_name() {
        let expected = user::Model {
            id: 7,
            username: "ada".into(),
            email: "ada@example.com".into(),
            display_name: "Ada".into(),
            bio: None,
            password_hash: String::new(),
            role: "user".into(),
            created_at: Utc
                .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
                .single()
                .unwrap_or_default(),
        };
        let columns = [
            ("id", "7::bigint"),
            ("username", "'ada'::text"),
            ("email", "'ada@example.com'::text"),
            ("display_name", "'Ada'::text"),
            ("bio", "NULL::text"),
            ("password_hash", "''::text"),
            ("role", "'user'::text"),
            ("created_at", "'2026-01-02T03:04:05Z'::timestamptz"),
        ];
        let select = |order: &mut dyn Iterator<Item = &(&str, &str)>| {
            order
                .map(|(name, value)| format!("{value} AS {name}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let in_order = select(&mut columns.iter());
        let reversed = select(&mut columns.iter().rev());
        for db in databases().await {
            let backend = db.get_database_backend();
            let positional = statement(&db, &format!("SELECT {in_order}"));
            if backend == DatabaseBackend::Postgres {
                let row = db.query_one(positional.clone()).await.ok().flatten();
                let decoding = row
                    .as_ref()
                    .map(|row| Decoding::at::<user::Model>(row, 0, ""));
                assert!(
                    matches!(decoding, Some(Decoding::ByPosition(0))),
                    "{decoding:?}"
                );
            }
            for (what, sql) in [
                ("in order", format!("SELECT {in_order}")),
                (
                    "after a parent id",
                    format!("SELECT 1::bigint AS parent_id, {in_order}"),
                ),
                ("reordered", format!("SELECT {reversed}")),
            ] {
                let found: Vec<user::Model> = all(&db, statement(&db, &sql))
                    .await
                    .unwrap_or_else(|e| panic!("{backend:?} {what}: {e}"));
                assert_eq!(found, std::slice::from_ref(&expected), "{backend:?} {what}");
            }
        }
    }
}
