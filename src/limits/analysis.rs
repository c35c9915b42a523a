//! Static analysis of a GraphQL document before anything runs: depth, aliases, root fields,
//! directives, and the cost estimate that the budget is charged.
//!
//! # Cost model
//!
//! The cost of an operation is the number of objects its response can hold (Shopify-like):
//! every object-typed field costs 1 per object it returns, scalars cost nothing, and a list
//! multiplies the cost of its items by its largest possible length: `first` for the
//! `edges`/`nodes` of a connection (its default when omitted, e.g. 20), the number of ids
//! for `nodes(ids:)`, and 10 for a post's `tags`. The *actual* cost is the same count taken
//! on the response (`objects_in`), so the estimate is an upper bound of it and the budget
//! refunds the difference: `posts(first: 100)` that returns 3 posts costs like 3.
//!
//! Types come from the schema's own registry, so the model follows the schema.

use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaTypeName, Registry};
use async_graphql::{Name, Value, Variables};

/// Longest list assumed for a list field without `first` (a post has at most 10 tags).
const OTHER_LIST: u64 = 10;
/// Largest page a connection can return.
const MAX_FIRST: u64 = 100;

/// What the analysis found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// The operation's type.
    pub kind: Option<OperationType>,
    /// Deepest field nesting (a root field is depth 1).
    pub depth: usize,
    /// Aliased fields in the whole document.
    pub aliases: usize,
    /// Fields selected at the operation's root.
    pub root_fields: usize,
    /// Directives used in the whole document.
    pub directives: usize,
    /// Upper bound of the objects the response can hold.
    pub estimate: u64,
    /// The operation asks `rateLimit(dryRun: true)`: price it, do not run it.
    pub dry_run: bool,
    /// The root `rateLimit` selections: response key and `(response key, field)` of each
    /// subfield (what a dry run answers).
    pub rate_limit_fields: Vec<(String, Vec<(String, String)>)>,
}

/// Why a document cannot be analysed (it would not validate either).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// A fragment spreads itself, directly or through others.
    FragmentCycle(String),
    /// A spread names no fragment.
    UnknownFragment(String),
}

struct Walker<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    /// Fragments being expanded (cycle guard).
    stack: Vec<&'a str>,
    depth: usize,
}

/// Analyses the operation `operation_name` selects (or the only one). `None` when the
/// document names no such operation: execution reports that error itself.
pub fn analyze(
    registry: &Registry,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Result<Option<Analysis>, Invalid> {
    let operation = match operation_name {
        Some(name) => document
            .operations
            .iter()
            .find(|(n, _)| n.map(Name::as_str) == Some(name)),
        None => {
            let mut all = document.operations.iter();
            match (all.next(), all.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    };
    let Some((_, operation)) = operation else {
        return Ok(None);
    };
    let operation = &operation.node;
    let root_type = match operation.ty {
        OperationType::Query => registry.query_type.as_str(),
        OperationType::Mutation => registry.mutation_type.as_deref().unwrap_or("Mutation"),
        OperationType::Subscription => registry
            .subscription_type
            .as_deref()
            .unwrap_or("Subscription"),
    };
    let mut walker = Walker {
        registry,
        document,
        variables,
        stack: Vec::new(),
        depth: 0,
    };
    let mut analysis = Analysis {
        kind: Some(operation.ty),
        aliases: count_aliases(document),
        directives: count_directives(document),
        ..Analysis::default()
    };
    let mut root_fields = Vec::new();
    walker.fields(&operation.selection_set.node, &mut root_fields)?;
    analysis.root_fields = root_fields.len();
    analysis.dry_run = root_fields.iter().any(|f| {
        f.name.node == "rateLimit"
            && f.arguments.iter().any(|(name, value)| {
                name.node == "dryRun" && walker.resolve(&value.node) == Some(Value::Boolean(true))
            })
    });
    for field in root_fields.iter().filter(|f| f.name.node == "rateLimit") {
        let mut subfields = Vec::new();
        walker.fields(&field.selection_set.node, &mut subfields)?;
        analysis.rate_limit_fields.push((
            response_key(field),
            subfields
                .iter()
                .map(|s| (response_key(s), s.name.node.to_string()))
                .collect(),
        ));
    }
    analysis.estimate = walker.cost(&operation.selection_set.node, root_type, 1, None)?;
    analysis.depth = walker.depth;
    Ok(Some(analysis))
}

impl<'a> Walker<'a> {
    /// The fields of a selection set with fragments expanded.
    fn fields(
        &mut self,
        set: &'a SelectionSet,
        out: &mut Vec<&'a async_graphql::parser::types::Field>,
    ) -> Result<(), Invalid> {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => out.push(&field.node),
                Selection::InlineFragment(inline) => {
                    self.fields(&inline.node.selection_set.node, out)?;
                }
                Selection::FragmentSpread(spread) => {
                    let fragment = self.enter(&spread.node.fragment_name.node)?;
                    let result = self.fields(&fragment.selection_set.node, out);
                    self.stack.pop();
                    result?;
                }
            }
        }
        Ok(())
    }

    fn enter(&mut self, name: &'a Name) -> Result<&'a FragmentDefinition, Invalid> {
        if self.stack.contains(&name.as_str()) {
            return Err(Invalid::FragmentCycle(name.to_string()));
        }
        let fragment = self
            .document
            .fragments
            .get(name)
            .ok_or_else(|| Invalid::UnknownFragment(name.to_string()))?;
        self.stack.push(name.as_str());
        Ok(&fragment.node)
    }

    /// The cost of one object of `parent` type selecting `set`, at nesting `level - 1`;
    /// `page` is the list length of the connection this set belongs to, if any.
    fn cost(
        &mut self,
        set: &'a SelectionSet,
        parent: &'a str,
        level: usize,
        page: Option<u64>,
    ) -> Result<u64, Invalid> {
        let mut total: u64 = 0;
        for item in &set.items {
            let (field, parent) = match &item.node {
                Selection::Field(field) => (&field.node, parent),
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str());
                    total = total.saturating_add(self.cost(
                        &inline.node.selection_set.node,
                        on,
                        level,
                        page,
                    )?);
                    continue;
                }
                Selection::FragmentSpread(spread) => {
                    let fragment = self.enter(&spread.node.fragment_name.node)?;
                    let on = fragment.type_condition.node.on.node.as_str();
                    let cost = self.cost(&fragment.selection_set.node, on, level, page);
                    self.stack.pop();
                    total = total.saturating_add(cost?);
                    continue;
                }
            };
            self.depth = self.depth.max(level);
            // Introspection is bounded by the schema itself and free; `__typename` too.
            let introspection = field.name.node.starts_with("__");
            let Some(meta) = (!introspection)
                .then(|| self.registry.concrete_type_by_name(parent))
                .flatten()
                .and_then(|t| t.field_by_name(field.name.node.as_str()))
            else {
                // `__typename`, introspection or an unknown field (validation reports it).
                if !field.selection_set.node.items.is_empty() {
                    self.depth_only(&field.selection_set.node, level + 1)?;
                }
                continue;
            };
            let child_type = MetaTypeName::concrete_typename(&meta.ty);
            let leaf = self
                .registry
                .concrete_type_by_name(child_type)
                .is_none_or(|t| t.is_leaf());
            if leaf {
                continue;
            }
            let first = meta.args.get("first").map(|arg| {
                let given = field
                    .arguments
                    .iter()
                    .find(|(name, _)| name.node == "first")
                    .and_then(|(_, value)| self.resolve(&value.node));
                let default = arg.default_value.as_deref().and_then(|d| d.parse().ok());
                match given {
                    Some(Value::Number(n)) => n.as_u64().unwrap_or(0).min(MAX_FIRST),
                    _ => default.unwrap_or(MAX_FIRST).min(MAX_FIRST),
                }
            });
            let count = if MetaTypeName::create(&meta.ty).is_list() {
                if let Some(ids) = field
                    .arguments
                    .iter()
                    .find(|(name, _)| name.node == "ids")
                    .and_then(|(_, value)| self.resolve(&value.node))
                {
                    match ids {
                        Value::List(items) => items.len() as u64,
                        _ => 1,
                    }
                } else {
                    page.unwrap_or(OTHER_LIST)
                }
            } else {
                1
            };
            let inner = self.cost(&field.selection_set.node, child_type, level + 1, first)?;
            total = total.saturating_add(count.saturating_mul(inner.saturating_add(1)));
        }
        Ok(total)
    }

    /// Tracks depth through a selection whose types are unknown.
    fn depth_only(&mut self, set: &'a SelectionSet, level: usize) -> Result<(), Invalid> {
        let mut fields = Vec::new();
        self.fields(set, &mut fields)?;
        for field in fields {
            self.depth = self.depth.max(level);
            if !field.selection_set.node.items.is_empty() {
                self.depth_only(&field.selection_set.node, level + 1)?;
            }
        }
        Ok(())
    }

    /// A literal or variable argument value.
    fn resolve(&self, value: &async_graphql_value::Value) -> Option<Value> {
        value
            .clone()
            .into_const_with(|name| self.variables.get(&name).cloned().ok_or(()))
            .ok()
    }
}

/// The key a field has in the response: its alias, else its name.
fn response_key(field: &async_graphql::parser::types::Field) -> String {
    field.alias.as_ref().unwrap_or(&field.name).node.to_string()
}

fn count_aliases(document: &ExecutableDocument) -> usize {
    selection_sets(document)
        .map(|set| walk_fields(set, &mut |f| usize::from(f.alias.is_some())))
        .sum()
}

fn count_directives(document: &ExecutableDocument) -> usize {
    let on_operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| op.node.directives.len())
        .sum();
    let on_selections: usize = selection_sets(document)
        .map(count_selection_directives)
        .sum();
    on_operations + on_selections
}

fn count_selection_directives(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => {
                f.node.directives.len() + count_selection_directives(&f.node.selection_set.node)
            }
            Selection::FragmentSpread(s) => s.node.directives.len(),
            Selection::InlineFragment(i) => {
                i.node.directives.len() + count_selection_directives(&i.node.selection_set.node)
            }
        })
        .sum()
}

/// The top-level selection sets of every operation and fragment (each counted once).
pub(crate) fn selection_sets(document: &ExecutableDocument) -> impl Iterator<Item = &SelectionSet> {
    document
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node)
        .chain(
            document
                .fragments
                .values()
                .map(|f| &f.node.selection_set.node),
        )
}

fn walk_fields(
    set: &SelectionSet,
    f: &mut impl FnMut(&async_graphql::parser::types::Field) -> usize,
) -> usize {
    let mut total = 0;
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                total += f(&field.node);
                total += walk_fields(&field.node.selection_set.node, f);
            }
            Selection::InlineFragment(inline) => {
                total += walk_fields(&inline.node.selection_set.node, f);
            }
            Selection::FragmentSpread(_) => {}
        }
    }
    total
}

/// The actual cost of a response: the objects its data holds below the root (the root
/// `data` object itself is not counted, as no estimate counts it).
pub fn actual_cost(data: &Value) -> u64 {
    match data {
        Value::Object(map) => map.values().map(objects_in).sum(),
        other => objects_in(other),
    }
}

/// The objects a value holds, itself included.
fn objects_in(value: &Value) -> u64 {
    match value {
        Value::Object(map) => 1 + map.values().map(objects_in).sum::<u64>(),
        Value::List(items) => items.iter().map(objects_in).sum(),
        _ => 0,
    }
}

/// Whole seconds until `at`, rounded up: a client that waits this long is past it.
pub fn seconds_until(at: chrono::DateTime<chrono::Utc>) -> i64 {
    let millis = (at - chrono::Utc::now()).num_milliseconds().max(0);
    (millis + 999) / 1000
}

/// async-graphql's recursion limit (the schema sets it explicitly, so both agree): levels
/// of selection sets, fragment spreads and inline fragments, counted alike.
pub const RECURSION_LIMIT: usize = 32;

/// Whether any operation of the document nests deeper than [`RECURSION_LIMIT`] as
/// async-graphql counts it (it refuses such a document while parsing it).
pub fn exceeds_recursion_limit(document: &ExecutableDocument) -> bool {
    fn deeper(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> bool {
        if depth > RECURSION_LIMIT {
            return true;
        }
        set.items.iter().any(|item| match &item.node {
            Selection::Field(field) => {
                let set = &field.node.selection_set.node;
                !set.items.is_empty() && deeper(document, set, depth + 1)
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .is_some_and(|f| deeper(document, &f.node.selection_set.node, depth + 1)),
            Selection::InlineFragment(inline) => {
                deeper(document, &inline.node.selection_set.node, depth + 1)
            }
        })
    }
    document
        .operations
        .iter()
        .any(|(_, operation)| deeper(document, &operation.node.selection_set.node, 0))
}

/// True when a document's fragments spread each other in a cycle.
pub fn has_fragment_cycle(document: &ExecutableDocument) -> bool {
    fn spreads(set: &SelectionSet, out: &mut Vec<String>) {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => spreads(&f.node.selection_set.node, out),
                Selection::InlineFragment(i) => spreads(&i.node.selection_set.node, out),
                Selection::FragmentSpread(s) => out.push(s.node.fragment_name.node.to_string()),
            }
        }
    }
    fn visit(
        name: &str,
        document: &ExecutableDocument,
        path: &mut Vec<String>,
        done: &mut std::collections::HashSet<String>,
    ) -> bool {
        if path.iter().any(|p| p == name) {
            return true;
        }
        if !done.insert(name.to_owned()) {
            return false;
        }
        let Some(fragment) = document.fragments.get(name) else {
            return false;
        };
        let mut next = Vec::new();
        spreads(&fragment.node.selection_set.node, &mut next);
        path.push(name.to_owned());
        let cyclic = next.iter().any(|n| visit(n, document, path, done));
        path.pop();
        cyclic
    }
    let mut done = std::collections::HashSet::new();
    document
        .fragments
        .keys()
        .any(|name| visit(name.as_str(), document, &mut Vec::new(), &mut done))
}

/// The deepest `{` nesting of a document's text, ignoring strings and comments: a cheap
/// check that runs before the parser, so absurd nesting cannot exhaust its stack.
pub fn brace_depth(query: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            '}' => depth = depth.saturating_sub(1),
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match (escaped, c) {
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => escaped = false,
                    }
                }
            }
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::*;

    /// `{ ...F0 }` and `n + 1` fragments, each spreading the next, the last `{ __typename }`.
    fn spread_chain(n: usize) -> String {
        let mut doc = String::from("{ ...F0 }");
        for i in 0..n {
            doc.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
        }
        doc + &format!(" fragment F{n} on Query {{ __typename }}")
    }

    /// Fields nested `n` times three levels deep: a field, its `nodes`, an inline fragment.
    fn mixed(n: usize) -> String {
        let mut doc = String::from("{ ");
        for _ in 0..n {
            doc.push_str("posts { nodes { ... on Post { ");
        }
        doc.push_str("title");
        for _ in 0..n {
            doc.push_str(" } } }");
        }
        doc + " }"
    }

    #[test]
    fn the_recursion_limit_is_counted_as_async_graphql_counts_it() {
        let schema = crate::graphql::schema_builder()
            .limit_recursive_depth(RECURSION_LIMIT)
            .finish();
        let documents = (28..36).map(spread_chain).chain((9..13).map(mixed));
        for text in documents {
            let document = async_graphql::parser::parse_query(&text).unwrap();
            let response = schema.execute(text.as_str()).now_or_never().unwrap();
            let refused = response
                .errors
                .iter()
                .any(|e| e.message.contains("recursion depth"));
            assert_eq!(exceeds_recursion_limit(&document), refused, "{text}");
        }
        assert!(!exceeds_recursion_limit(
            &async_graphql::parser::parse_query(spread_chain(31)).unwrap()
        ));
        assert!(exceeds_recursion_limit(
            &async_graphql::parser::parse_query(spread_chain(32)).unwrap()
        ));
    }
}
