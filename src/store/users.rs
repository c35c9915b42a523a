//! Accounts.

use std::sync::LazyLock;

use entity::user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
};

use super::now;
use super::rows::{self, Positional, AUTHOR_PREFIX};
use super::sql::Sql;
use crate::error::AppResult;

/// `users.role` of an ordinary account.
pub const ROLE_USER: &str = "user";
/// `users.role` of an administrator.
pub const ROLE_ADMIN: &str = "admin";

/// The columns of users `u` read for display, each named `<prefix><field>` in the model's
/// field order: the password hash left out (as an empty string), so reads never carry it;
/// only login reads it ([`find_by_login`]).
fn shown_columns(prefix: &str) -> String {
    <user::Model as Positional>::COLUMNS
        .iter()
        .map(|field| match *field {
            "password_hash" => format!("'' AS {prefix}{field}"),
            _ => format!("u.{field} AS {prefix}{field}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SELECT` of users `u` for display, up to its `WHERE`.
static SELECT_SHOWN: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM users u WHERE ", shown_columns("")));

/// Adds the author of rows `<alias>` to a statement's select list and `FROM` clause: the
/// join `users u` on `<alias>.author_id`, and the author's [`shown_columns`] named
/// `u_<field>` ([`rows::Joined`] decodes them).
pub fn join_author(alias: &str, select: &mut String, from: &mut String) {
    static COLUMNS: LazyLock<String> = LazyLock::new(|| shown_columns(AUTHOR_PREFIX));
    select.push_str(", ");
    select.push_str(&COLUMNS);
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
