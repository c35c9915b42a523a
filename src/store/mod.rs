//! Data access: small functions over a `ConnectionTrait` (a pool or a transaction), one
//! file per table. Hot read paths are hand-written SQL (keyset pages, one statement per
//! level); simple lookups and writes use SeaORM's query builder.

pub mod comments;
pub mod keyset;
pub mod likes;
pub mod pages;
pub mod posts;
pub mod rows;
pub mod sql;
pub mod tags;
pub mod users;
pub mod visibility;

use chrono::{DateTime, SubsecRound, Utc};

/// The current time at microsecond precision: what PostgreSQL stores, so a timestamp read
/// back equals the one written and cursors built from either agree.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
