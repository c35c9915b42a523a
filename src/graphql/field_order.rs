//! Puts every object of a response in the order its fields were requested.
//!
//! The GraphQL specification (7.2.2, "Serialized Map Ordering") wants response maps in
//! the order of the selection set; async-graphql 7 resolves an object's fields
//! concurrently and inserts each as it completes, so a field waiting on a DataLoader came
//! after one that did not, and the same query could answer in different orders. The
//! executed document says the order: when the document is admitted, a plan of response
//! keys is built from it (names shared with the document, no copy of it) and applied to
//! the whole response after execution.

use std::collections::HashMap;

use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Value};

type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

/// The response keys of one object, in request order, each with the plan of its value.
#[derive(Debug, Default)]
pub struct FieldOrder {
    fields: Vec<(Name, FieldOrder)>,
}

impl FieldOrder {
    /// The order of `operation`'s response (by name, or the only one) in `document`.
    pub fn of(document: &ExecutableDocument, operation: Option<&str>) -> Option<Self> {
        let (operation, _) = super::operation::pick(document, operation).ok()?;
        Some(plan(
            &[&operation.node.selection_set.node],
            &document.fragments,
        ))
    }

    /// Puts every object of `data` in this order.
    pub fn apply(&self, data: &mut Value) {
        apply(data, self);
    }
}

/// The plan of the objects selected by `sets` (the selection sets of every field that
/// shares one response key). Fragment cycles never get here: validation refuses them.
fn plan(sets: &[&SelectionSet], fragments: &Fragments) -> FieldOrder {
    let mut grouped: Vec<(&Name, Vec<&SelectionSet>)> = Vec::new();
    for set in sets {
        collect(set, fragments, &mut grouped);
    }
    FieldOrder {
        fields: grouped
            .into_iter()
            .map(|(key, subsets)| (key.clone(), plan(&subsets, fragments)))
            .collect(),
    }
}

/// The fields of `set`, fragments spread in place, grouped by response key in order of
/// first appearance.
fn collect<'a>(
    set: &'a SelectionSet,
    fragments: &'a Fragments,
    grouped: &mut Vec<(&'a Name, Vec<&'a SelectionSet>)>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let key = &field.node.response_key().node;
                let subset = &field.node.selection_set.node;
                match grouped.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, subsets)) => subsets.push(subset),
                    None => grouped.push((key, vec![subset])),
                }
            }
            Selection::InlineFragment(inline) => {
                collect(&inline.node.selection_set.node, fragments, grouped);
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = fragments.get(&spread.node.fragment_name.node) {
                    collect(&fragment.node.selection_set.node, fragments, grouped);
                }
            }
        }
    }
}

/// Whether two response keys are equal; most share the document's text, so the pointers
/// usually answer without comparing bytes.
fn same(a: &Name, b: &Name) -> bool {
    std::ptr::eq(a.as_str(), b.as_str()) || a == b
}

fn apply(value: &mut Value, plan: &FieldOrder) {
    match value {
        Value::List(items) => items.iter_mut().for_each(|item| apply(item, plan)),
        Value::Object(map) if !plan.fields.is_empty() => {
            // Most objects are in order already (their fields did not wait): no rebuild.
            let in_order = map.len() == plan.fields.len()
                && map.keys().zip(&plan.fields).all(|(a, (b, _))| same(a, b));
            if in_order {
                for (field, (_, subplan)) in map.values_mut().zip(&plan.fields) {
                    apply(field, subplan);
                }
                return;
            }
            // Sorted in place by each key's place in the plan: the map keeps every entry's
            // hash, so nothing is hashed again (taking the map apart and inserting each
            // field anew was ~6% of a feed request's instructions). A key the plan lacks
            // (none should) keeps its place after the rest: the sort is stable.
            let place = |key: &Name| {
                plan.fields
                    .iter()
                    .position(|(planned, _)| same(planned, key))
                    .unwrap_or(usize::MAX)
            };
            map.sort_by_cached_key(|key, _| place(key));
            // Both in plan order now; a planned key may be absent (`@skip`).
            let mut planned = plan.fields.iter();
            for (key, field) in map.iter_mut() {
                if let Some((_, subplan)) = planned.by_ref().find(|(name, _)| same(name, key)) {
                    apply(field, subplan);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(value: &Value) -> Vec<String> {
        match value {
            Value::Object(map) => map.keys().map(ToString::to_string).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn objects_follow_the_selection_set_through_lists_aliases_and_fragments() {
        let document = async_graphql::parser::parse_query(
            "query Q { posts { nodes { id ...F author { name id } t: title } } }
             fragment F on Post { ... on Post { likeCount } commentCount }",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut data = async_graphql::value!({
            "posts": { "nodes": [
                { "t": "a", "author": { "id": 1, "name": "n" }, "commentCount": 1, "likeCount": 2, "id": 7 },
                { "commentCount": 1, "id": 8, "t": "b", "likeCount": 2, "author": null },
            ] }
        });
        let order = FieldOrder::of(&document, Some("Q")).unwrap_or_default();
        order.apply(&mut data);
        let Value::Object(root) = &data else {
            panic!("{data}")
        };
        let Some(Value::Object(posts)) = root.get("posts") else {
            panic!("{data}")
        };
        let Some(Value::List(nodes)) = posts.get("nodes") else {
            panic!("{data}")
        };
        for node in nodes {
            assert_eq!(
                keys(node),
                ["id", "likeCount", "commentCount", "author", "t"],
                "{node}"
            );
        }
        let Value::Object(first) = &nodes[0] else {
            panic!("{data}")
        };
        let author = first.get("author").cloned().unwrap_or_default();
        assert_eq!(keys(&author), ["name", "id"]);
    }
}
