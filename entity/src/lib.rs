//! SeaORM entities for the six tables of CONTRACT.md section 1.
//!
//! Table and column names are part of the product contract; these models mirror the
//! `migration` crate exactly.

pub mod comment;
pub mod post;
pub mod post_like;
pub mod post_tag;
pub mod tag;
pub mod user;

pub mod prelude;
