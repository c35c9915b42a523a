//! Accounts.

use entity::user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
};

use super::now;
use crate::error::AppResult;

/// `users.role` of an ordinary account.
pub const ROLE_USER: &str = "user";
/// `users.role` of an administrator.
pub const ROLE_ADMIN: &str = "admin";

/// Users by id.
pub async fn find_users(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

/// A user by username.
pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> AppResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?)
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
