//! The operation a request runs, and the variables it runs with.
//!
//! async-graphql 7.2 decides `@skip(if: $v)` and `@include(if: $v)` from the variables the
//! request sent, not from the operation's defaults: with `query($v: Boolean = true)` and
//! no `v` sent, `@include(if: $v)` dropped the field (async-graphql PR #1827 fixes it
//! upstream, unreleased). The specification's `CoerceVariableValues` gives an omitted
//! variable its default value, so [`fill_default_variables`] does that before anything
//! reads the variables: the directives, the guard's cost analysis and the resolvers then
//! all see the same values.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition};
use async_graphql::{Name, Positioned, Request, ServerResult, Variables};

/// The operation of `document` that a request naming `name` runs, picked as async-graphql
/// picks it, with the name the document gives it when the request named none. `Err` says
/// why none can be picked.
pub fn pick<'d>(
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Result<(&'d Positioned<OperationDefinition>, Option<&'d Name>), String> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), None) => Ok((operation, None)),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .iter()
            .next()
            .map(|(name, operation)| (operation, Some(name)))
            .ok_or_else(|| "the document has no operation".to_owned()),
        (DocumentOperations::Multiple(_), None) => {
            Err("the document has several operations; name one with `operationName`".to_owned())
        }
        (DocumentOperations::Single(_), Some(name)) => {
            Err(format!("unknown operation named \"{name}\""))
        }
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .get(name)
            .map(|operation| (operation, None))
            .ok_or_else(|| format!("unknown operation named \"{name}\"")),
    }
}

/// Gives each variable of `operation` that `variables` lacks the default value the
/// operation declares for it. A variable without a default stays absent (which is not
/// the same as null for an argument).
pub fn fill_default_variables(operation: &OperationDefinition, variables: &mut Variables) {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        if let Some(default) = &definition.default_value {
            if !variables.contains_key(&definition.name.node) {
                variables.insert(definition.name.node.clone(), default.node.clone());
            }
        }
    }
}

/// [`fill_default_variables`] as an extension, for the operations the HTTP handler does
/// not prepare itself (WebSocket). A document that does not parse, or names no operation
/// that can be picked, is left for execution to refuse.
pub struct DefaultVariables;

impl ExtensionFactory for DefaultVariables {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DefaultVariables)
    }
}

#[async_trait::async_trait]
impl Extension for DefaultVariables {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let name = request.operation_name.take();
        let mut variables = std::mem::take(&mut request.variables);
        // Parsed once: execution reuses the document cached in the request.
        if let Ok(document) = request.parsed_query() {
            if let Ok((operation, _)) = pick(document, name.as_deref()) {
                fill_default_variables(&operation.node, &mut variables);
            }
        }
        request.operation_name = name;
        request.variables = variables;
        next.run(ctx, request).await
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::value;

    use super::*;

    #[test]
    fn omitted_variables_take_their_defaults_and_sent_ones_stay() {
        let document = async_graphql::parser::parse_query(
            "query A($a: Boolean = true, $b: Int = 3, $c: String, $d: Int!) { x }
             query B($z: Int = 1) { y }",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (operation, _) = pick(&document, Some("A")).unwrap_or_else(|e| panic!("{e}"));
        let mut variables = Variables::from_value(value!({ "b": 7, "d": 1 }));
        fill_default_variables(&operation.node, &mut variables);
        assert_eq!(
            variables.into_value(),
            value!({ "a": true, "b": 7, "d": 1 }),
            "c has no default: absent, not null"
        );
        assert!(pick(&document, None).is_err());
        assert!(pick(&document, Some("C")).is_err());
        let single = async_graphql::parser::parse_query("query Only { x }")
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, implied) = pick(&single, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(implied.map(|n| n.as_str()), Some("Only"));
    }
}
