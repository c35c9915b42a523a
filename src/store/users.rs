//! Accounts.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use entity::user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult,
    QueryFilter, Set,
};

use super::now;
use super::rows::{self, Positional, AUTHOR_PREFIX};
use super::sql::Sql;
use crate::error::AppResult;

/// `users.role` of an ordinary account.
pub const ROLE_USER: &str = "user";
/// `users.role` of an administrator.
pub const ROLE_ADMIN: &str = "admin";

/// `SELECT` of users `u` for display, up to its `WHERE`: the model's fields in order, the
/// password hash left out (as an empty string), so reads never carry it; only login reads
/// it ([`find_by_login`]).
static SELECT_SHOWN: LazyLock<String> = LazyLock::new(|| {
    let columns = rows::columns_leaving_out::<user::Model>("u", "password_hash");
    format!("SELECT {columns} FROM users u WHERE ")
});

/// A user's id and username: what a joined author always carries.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct UserName {
    /// The user's id.
    pub id: i64,
    /// The login name.
    pub username: String,
}

/// What else a user shows to others.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct UserDetails {
    /// The shown name.
    pub display_name: String,
    /// The self-description, if any.
    pub bio: Option<String>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

/// A user for display: always the id and username, and the [`UserDetails`] when whoever
/// read the user read them (a page's statement joins an author's details only when the
/// page's selection shows them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// The user's id.
    pub id: i64,
    /// The login name.
    pub username: String,
    /// The rest, if read.
    pub details: Option<UserDetails>,
}

impl From<user::Model> for Shown {
    fn from(m: user::Model) -> Self {
        Self {
            id: m.id,
            username: m.username,
            details: Some(UserDetails {
                display_name: m.display_name,
                bio: m.bio,
                created_at: m.created_at,
            }),
        }
    }
}

/// Which of its author's columns a page's statement joins: what the page's selection of
/// the author shows. Fewer columns are less for PostgreSQL to read and send and less for
/// us to decode and copy, on every row of the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthorColumns {
    /// [`UserName`]'s only.
    Name,
    /// [`UserName`]'s and [`UserDetails`]'.
    Details,
}

/// Adds the author of rows `<alias>` to a statement's select list and `FROM` clause: the
/// join `users u` on `<alias>.author_id`, and `columns` of the author, each named
/// `u_<field>` ([`rows::Joined`] decodes them).
pub fn join_author(alias: &str, columns: AuthorColumns, select: &mut String, from: &mut String) {
    fn list(fields: &[&str]) -> String {
        fields
            .iter()
            .map(|field| format!(", u.{field} AS {AUTHOR_PREFIX}{field}"))
            .collect()
    }
    static NAME: LazyLock<String> = LazyLock::new(|| list(<UserName as Positional>::COLUMNS));
    static DETAILS: LazyLock<String> = LazyLock::new(|| list(<UserDetails as Positional>::COLUMNS));
    select.push_str(&NAME);
    if columns == AuthorColumns::Details {
        select.push_str(&DETAILS);
    }
    from.push_str(&format!(" JOIN users u ON u.id = {alias}.author_id"));
}

/// Users by id, without their password hashes.
pub async fn find_users(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<user::Model>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(&SELECT_SHOWN)
        .push("u.id IN ")
        .bind_list(ids.iter().copied());
    rows::all(db, sql.build()).await
}

/// A user by username, without the password hash.
pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> AppResult<Option<user::Model>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(&SELECT_SHOWN).push("u.username = ").bind(username);
    rows::one(db, sql.build()).await
}

/// A user by username or email (login).
pub async fn find_by_login(
    db: &impl ConnectionTrait,
    username_or_email: &str,
) -> AppResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(
            Condition::any()
                .add(user::Column::Username.eq(username_or_email))
                .add(user::Column::Email.eq(username_or_email.to_lowercase())),
        )
        .one(db)
        .await?)
}

/// The fields of a new account.
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Email (lower-cased).
    pub email: String,
    /// Shown name.
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// `user` or `admin`.
    pub role: &'static str,
}

/// Creates an account; a taken username or email is `BAD_USER_INPUT`.
pub async fn create_user(db: &impl ConnectionTrait, new: NewUser) -> AppResult<user::Model> {
    Ok(user::ActiveModel {
        username: Set(new.username),
        email: Set(new.email),
        display_name: Set(new.display_name),
        bio: Set(None),
        password_hash: Set(new.password_hash),
        role: Set(new.role.to_owned()),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Sets a user's role; `None` when no such user exists.
pub async fn set_role(
    db: &impl ConnectionTrait,
    username: &str,
    role: &str,
) -> AppResult<Option<user::Model>> {
    let Some(found) = find_by_username(db, username).await? else {
        return Ok(None);
    };
    let mut active: user::ActiveModel = found.into();
    active.role = Set(role.to_owned());
    Ok(Some(active.update(db).await?))
}
