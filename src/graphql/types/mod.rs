//! GraphQL object types, one file per type. Each wraps its entity model so table columns
//! never leak into the API by accident (`password_hash`, `email`).

mod comment;
mod node;
mod post;
mod tag;
mod user;

pub use comment::{Comment, CommentConnection};
pub use node::{load_node, Node};
pub(crate) use post::post_joins;
pub use post::{Post, PostConnection, PostStatus};
pub use tag::{Tag, TagConnection};
pub use user::{AuthPayload, User};
