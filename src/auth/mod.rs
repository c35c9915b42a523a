//! Authentication: JWT issue and validation, password hashing, and the request's viewer.

pub mod jwks;
pub mod jwt;
pub mod password;

use crate::store::visibility::Visibility;

/// A caller's role, from the token's `role` claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An ordinary account.
    User,
    /// May see and act on everything.
    Admin,
}

impl Role {
    /// Reads `users.role` / the `role` claim; anything unknown is an ordinary user.
    pub fn parse(text: &str) -> Self {
        if text == crate::store::users::ROLE_ADMIN {
            Role::Admin
        } else {
            Role::User
        }
    }
}

/// The authenticated caller of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Viewer {
    /// `users.id`.
    pub id: i64,
    /// Their role.
    pub role: Role,
}

impl Viewer {
    /// True for admins.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// May this viewer edit, publish or delete something owned by `owner_id`? Its owner
    /// may, and so may admins, who "see and may act on everything" (CONTRACT.md section 3).
    pub fn may_act_on(&self, owner_id: i64) -> bool {
        self.id == owner_id || self.is_admin()
    }
}

/// What posts an optional viewer may see.
pub fn visibility(viewer: Option<&Viewer>) -> Visibility {
    match viewer {
        None => Visibility::Public,
        Some(v) if v.is_admin() => Visibility::All,
        Some(v) => Visibility::Author(v.id),
    }
}
