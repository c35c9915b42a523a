//! `Tag`.

use async_graphql::{ComplexObject, Context, SimpleObject, ID};
use entity::tag;

use super::post::{post_page, PostConnection};
use crate::graphql::connection::connection;
use crate::graphql::ids::{self, Kind};
use crate::graphql::in_order::{InOrder, Waits};
use crate::store::posts::PostParent;

/// A label on posts; created on the fly when a post names an unknown tag.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Tag {
    #[graphql(skip)]
    pub(crate) db_id: i64,
    /// The tag's unique name.
    pub name: String,
}

impl From<tag::Model> for Tag {
    fn from(m: tag::Model) -> Self {
        Self {
            db_id: m.id,
            name: m.name,
        }
    }
}

#[ComplexObject]
impl Tag {
    /// The global id of this tag.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Tag, self.db_id)
    }

    /// Posts carrying this tag that the caller may see, newest first.
    async fn posts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many posts to return (0 to 100).", default = 20)] first: i32,
        #[graphql(desc = "Return posts after this cursor.")] after: Option<String>,
    ) -> async_graphql::Result<InOrder<'static, PostConnection>> {
        Ok(InOrder::owned(
            post_page(ctx, PostParent::Tag, self.db_id, first, after).await?,
        ))
    }
}

// `id` and `name` never wait (the shared list); `posts` does.
impl Waits for Tag {}

connection!(
    TagConnection,
    TagEdge,
    Tag,
    "A page of tags, newest first.",
    "A tag in a page, with its cursor."
);
