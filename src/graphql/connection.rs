//! Relay cursor connections: `edges { cursor node }`, `nodes`, `pageInfo`, `totalCount`.
//!
//! `totalCount` is resolved only when selected, through the count loaders, and costs
//! nothing when the first page already holds the whole list.

use async_graphql::{Context, Lookahead, SimpleObject};

use super::context::ContextExt;
use super::loaders::CountKey;
use crate::error::{AppError, AppResult};
use crate::store::posts::PostFilter;
use crate::store::{self, visibility::Visibility};

/// The largest `first` a client may ask for.
pub const MAX_PAGE: i32 = 100;

/// The rows a page reads: the `first` asked for, and one more only when the query asks
/// whether a next page exists (`pageInfo.hasNextPage`) or how many items the whole list
/// holds (`totalCount`, which a first page that holds the whole list answers without
/// counting). Reading that row for nobody was a sixth of the rows, and of the author
/// lookups, of `comments(first: 5)` on each post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fetch {
    first: u64,
    peek: bool,
}

impl Fetch {
    /// Checks `first` (0..=100); `peek` reads one row more, to learn whether a next page
    /// exists.
    pub fn new(first: i32, peek: bool) -> AppResult<Self> {
        if !(0..=MAX_PAGE).contains(&first) {
            return Err(AppError::invalid(
                "first",
                format!("must be between 0 and {MAX_PAGE}"),
            ));
        }
        Ok(Self {
            first: u64::try_from(first).unwrap_or(0),
            peek,
        })
    }

    /// The page of `first` items for the connection the resolver at `ctx` returns, peeking
    /// when that connection selects `pageInfo.hasNextPage` or `totalCount` (through
    /// fragments too).
    pub fn of(ctx: &Context<'_>, first: i32) -> AppResult<Self> {
        let selection = ctx.look_ahead();
        let peek = selection.field("pageInfo").field("hasNextPage").exists()
            || selection.field("totalCount").exists();
        Self::new(first, peek)
    }

    /// The rows to read (the statement's `LIMIT`).
    pub fn rows(self) -> u64 {
        self.first + u64::from(self.peek)
    }
}

/// Information to aid in pagination.
// Its fields never wait: resolved one after another (see `super::in_order`).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(serial)]
pub struct PageInfo {
    /// When paginating forwards, are there more items?
    pub has_next_page: bool,
    /// When paginating backwards, are there more items? (True when this page starts after
    /// a cursor.)
    pub has_previous_page: bool,
    /// The cursor of the first edge of this page.
    pub start_cursor: Option<String>,
    /// The cursor of the last edge of this page; pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

/// How to count the whole list behind a page.
#[derive(Clone, Debug)]
pub enum Total {
    /// Already known (the first page held everything).
    Known(i64),
    /// `Query.posts` with this filter.
    Posts(Visibility, PostFilter),
    /// Through the count loader.
    Loader(CountKey),
    /// `Query.tags`.
    Tags,
}

impl Total {
    /// Whether the count is at hand (resolving it waits for nothing).
    pub fn is_known(&self) -> bool {
        matches!(self, Total::Known(_))
    }

    /// Counts the whole list (used by the generated `totalCount` fields).
    pub async fn resolve(&self, ctx: &Context<'_>) -> AppResult<i32> {
        let n = match self {
            Total::Known(n) => *n,
            Total::Posts(visibility, filter) => {
                store::posts::count_posts(ctx.read_db()?, *visibility, filter).await?
            }
            Total::Loader(key) => ctx.loaders()?.counts.load_one(*key).await?.unwrap_or(0),
            Total::Tags => store::tags::count_tags(ctx.read_db()?).await?,
        };
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

/// What the page a resolver returns selects of its nodes (under `nodes` or `edges.node`,
/// fragments included), or through [`NodeSelection::field`] of the nodes' fields: the
/// page's statement then reads those fields too, where it can. It may say a field is
/// selected when a directive skips it, never the reverse.
pub struct NodeSelection<'a> {
    nodes: Lookahead<'a>,
    edge_nodes: Lookahead<'a>,
}

impl<'a> NodeSelection<'a> {
    /// The node selection of the connection the resolver at `ctx` returns.
    pub fn of(ctx: &'a Context<'_>) -> Self {
        let selection = ctx.look_ahead();
        Self {
            nodes: selection.field("nodes"),
            edge_nodes: selection.field("edges").field("node"),
        }
    }

    /// What the nodes select under their `field` (all fields so named, aliased or not).
    pub fn field(&self, field: &str) -> Self {
        Self {
            nodes: self.nodes.field(field),
            edge_nodes: self.edge_nodes.field(field),
        }
    }

    /// Whether anything is selected here.
    pub fn exists(&self) -> bool {
        self.nodes.exists() || self.edge_nodes.exists()
    }

    /// Whether the nodes select `field`.
    pub fn selects(&self, field: &str) -> bool {
        self.field(field).exists()
    }
}

/// Whether the connection the resolver at `ctx` returns has a cursor selected (an edge's
/// or `pageInfo`'s): encoding cursors nobody asked for was ~5% of a nested-page query.
pub fn wants_cursors(ctx: &Context<'_>) -> bool {
    let selection = ctx.look_ahead();
    let page_info = selection.field("pageInfo");
    selection.field("edges").field("cursor").exists()
        || page_info.field("startCursor").exists()
        || page_info.field("endCursor").exists()
}

/// Cuts `rows` (read by `fetch`) to a page and builds its `PageInfo`. `total` is replaced
/// by the exact count when the page is known to be the whole list (a peek found no next
/// page). Without a `cursor` function (none selected, see [`wants_cursors`]) every cursor
/// is empty; without a peek `hasNextPage` is false, and not selected.
pub fn paginate<T>(
    mut rows: Vec<T>,
    fetch: Fetch,
    after: bool,
    cursor: Option<impl Fn(&T) -> String>,
    total: Total,
) -> (Vec<(String, T)>, PageInfo, Total) {
    let wanted = usize::try_from(fetch.first).unwrap_or(usize::MAX);
    let has_next_page = rows.len() > wanted;
    rows.truncate(wanted);
    let cursor = |row: &T| {
        cursor
            .as_ref()
            .map(|cursor| cursor(row))
            .unwrap_or_default()
    };
    let edges: Vec<(String, T)> = rows.into_iter().map(|row| (cursor(&row), row)).collect();
    let total = if fetch.peek && !after && !has_next_page {
        Total::Known(i64::try_from(edges.len()).unwrap_or(i64::MAX))
    } else {
        total
    };
    let info = PageInfo {
        has_next_page,
        has_previous_page: after,
        start_cursor: edges.first().map(|(c, _)| c.clone()),
        end_cursor: edges.last().map(|(c, _)| c.clone()),
    };
    (edges, info, total)
}

/// Declares `<Name>Connection` and `<Name>Edge` for a node type.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty, $conn_doc:literal, $edge_doc:literal) => {
        #[doc = $conn_doc]
        #[derive(Clone)]
        pub struct $conn {
            edges: Vec<$edge>,
            page_info: $crate::graphql::connection::PageInfo,
            total: $crate::graphql::connection::Total,
        }

        #[doc = $edge_doc]
        #[derive(async_graphql::SimpleObject, Clone)]
        #[graphql(complex)]
        pub struct $edge {
            /// An opaque cursor for this edge; pass it as `after` to continue after it.
            pub cursor: String,
            #[graphql(skip)]
            pub node: $node,
        }

        #[async_graphql::ComplexObject]
        impl $edge {
            /// The item at the end of the edge.
            async fn node(&self) -> $crate::graphql::in_order::InOrder<'_, $node> {
                $crate::graphql::in_order::InOrder::borrowed(&self.node)
            }
        }

        // `cursor` and `node` are at hand (the shared list); an edge has nothing else.
        impl $crate::graphql::in_order::Waits for $edge {}

        impl $conn {
            /// A page from the rows `fetch` read for the resolver at `ctx` (cursors are
            /// encoded only when selected).
            pub fn new<R>(
                ctx: &async_graphql::Context<'_>,
                rows: Vec<R>,
                fetch: $crate::graphql::connection::Fetch,
                after: bool,
                cursor: impl Fn(&R) -> String,
                total: $crate::graphql::connection::Total,
            ) -> Self
            where
                $node: From<R>,
            {
                let cursor = $crate::graphql::connection::wants_cursors(ctx).then_some(cursor);
                let (edges, page_info, total) =
                    $crate::graphql::connection::paginate(rows, fetch, after, cursor, total);
                Self {
                    edges: edges
                        .into_iter()
                        .map(|(cursor, row)| $edge {
                            cursor,
                            node: row.into(),
                        })
                        .collect(),
                    page_info,
                    total,
                }
            }
        }

        #[doc = $conn_doc]
        #[async_graphql::Object]
        impl $conn {
            /// The edges of this page, in list order, each with its cursor.
            async fn edges(&self) -> $crate::graphql::in_order::InOrderList<'_, $edge> {
                self.edges
                    .iter()
                    .map($crate::graphql::in_order::InOrder::borrowed)
                    .collect()
            }

            /// The items of this page, in list order (the edges without cursors).
            async fn nodes(&self) -> $crate::graphql::in_order::InOrderList<'_, $node> {
                self.edges
                    .iter()
                    .map(|edge| $crate::graphql::in_order::InOrder::borrowed(&edge.node))
                    .collect()
            }

            /// Information to aid in pagination.
            async fn page_info(&self) -> &$crate::graphql::connection::PageInfo {
                &self.page_info
            }

            /// How many items the whole list holds, across all pages.
            async fn total_count(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> async_graphql::Result<i32> {
                Ok(self.total.resolve(ctx).await?)
            }
        }

        impl $crate::graphql::in_order::Waits for $conn {
            fn waits(&self, name: &str) -> bool {
                name != "totalCount" || !self.total.is_known()
            }
        }
    };
}

pub(crate) use connection;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_bounded_and_a_peek_reads_one_more_row() {
        assert!(Fetch::new(-1, true).is_err());
        assert!(Fetch::new(101, false).is_err());
        assert_eq!(Fetch::new(0, true).unwrap().rows(), 1);
        assert_eq!(Fetch::new(0, false).unwrap().rows(), 0);
        assert_eq!(Fetch::new(100, true).unwrap().rows(), 101);
        assert_eq!(Fetch::new(100, false).unwrap().rows(), 100);
    }

    #[test]
    fn paginate_reports_next_page_and_known_totals() {
        let cursor = |n: &i32| n.to_string();
        let peek = Fetch::new(2, true).unwrap();
        let (edges, info, total) = paginate(vec![1, 2, 3], peek, false, Some(cursor), Total::Tags);
        assert_eq!(edges.len(), 2);
        assert!(info.has_next_page && !info.has_previous_page);
        assert_eq!(info.end_cursor.as_deref(), Some("2"));
        assert!(matches!(total, Total::Tags));
        let (_, info, total) = paginate(vec![1], peek, false, Some(cursor), Total::Tags);
        assert!(!info.has_next_page);
        assert!(matches!(total, Total::Known(1)));
        // Without a peek, a short page says nothing about the rest of the list.
        let blind = Fetch::new(2, false).unwrap();
        let (edges, _, total) = paginate(vec![1, 2], blind, false, Some(cursor), Total::Tags);
        assert_eq!(edges.len(), 2);
        assert!(matches!(total, Total::Tags));
    }

    #[test]
    fn without_a_cursor_function_cursors_are_empty() {
        let none = None::<fn(&i32) -> String>;
        let fetch = Fetch::new(2, true).unwrap();
        let (edges, info, _) = paginate(vec![1, 2, 3], fetch, false, none, Total::Tags);
        assert_eq!(
            edges.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
            ["", ""]
        );
        assert!(info.has_next_page);
        assert_eq!(info.end_cursor.as_deref(), Some(""));
    }
}
