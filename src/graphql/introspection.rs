//! Refuses introspection with a coded error when it is switched off (production default).
//!
//! async-graphql's own switch answers `__schema` with a silent `null`, which breaks the
//! non-null `__Schema!` type and tells the client nothing; this extension refuses the
//! document before execution instead, as `GRAPHQL_VALIDATION_FAILED`.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

use crate::error::{coded_error, Code};
use crate::limits::analysis::selection_sets;

/// The extension factory to register when introspection is disabled.
pub struct RefuseIntrospection;

impl ExtensionFactory for RefuseIntrospection {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RefuseIntrospection)
    }
}

#[async_trait::async_trait]
impl Extension for RefuseIntrospection {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if introspects_document(&document) {
            let error: ServerError = coded_error(
                Code::GraphqlValidationFailed,
                "introspection is disabled on this server",
            );
            return Err(error);
        }
        Ok(document)
    }
}

/// True when any selection of the document selects `__schema` or `__type`.
pub fn introspects_document(document: &ExecutableDocument) -> bool {
    selection_sets(document).any(introspects)
}

/// True when a selection set (or one nested in it) selects `__schema` or `__type`.
fn introspects(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            let name = field.node.name.node.as_str();
            name == "__schema" || name == "__type" || introspects(&field.node.selection_set.node)
        }
        Selection::InlineFragment(fragment) => introspects(&fragment.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str) -> bool {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        doc.operations
            .iter()
            .map(|(_, op)| &op.node.selection_set.node)
            .chain(doc.fragments.values().map(|f| &f.node.selection_set.node))
            .any(introspects)
    }

    #[test]
    fn finds_introspection_anywhere_but_allows_typename() {
        assert!(check("{ __schema { types { name } } }"));
        assert!(check("{ a: __type(name: \"Post\") { name } }"));
        assert!(check(
            "{ ...F } fragment F on Query { __schema { queryType { name } } }"
        ));
        assert!(check("{ ... on Query { __type(name: \"X\") { name } } }"));
        assert!(!check("{ __typename posts { nodes { __typename } } }"));
    }
}
