//! `schema.graphql` is the committed contract: it must equal what the code exports.
//! Regenerate deliberately with `cargo run -- print-schema > schema.graphql` and review the
//! diff like code.

#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is committed at the repository root");
    let exported = gatehouse::graphql::sdl();
    assert!(
        committed == exported,
        "schema.graphql differs from the code; run `cargo run -- print-schema > schema.graphql` and review the diff"
    );
}

#[tokio::test]
async fn every_type_field_and_argument_has_a_description() {
    let schema = gatehouse::graphql::schema_builder().finish();
    let query = r#"{ __schema { types {
        name description
        fields { name description args { name description } }
        inputFields { name description }
        enumValues { name description }
    } } }"#;
    let response = schema.execute(query).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
    let blank = |v: &serde_json::Value| {
        v["description"]
            .as_str()
            .is_none_or(|d| d.trim().is_empty())
    };
    let mut missing = Vec::new();
    for ty in data["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || ["Boolean", "Int", "Float", "String", "ID"].contains(&name) {
            continue;
        }
        if blank(ty) {
            missing.push(name.to_owned());
        }
        let list = |key: &str| ty[key].as_array().cloned().unwrap_or_default();
        for field in list("fields")
            .iter()
            .chain(list("inputFields").iter())
            .chain(list("enumValues").iter())
        {
            let field_name = field["name"].as_str().unwrap();
            if blank(field) {
                missing.push(format!("{name}.{field_name}"));
            }
            for arg in field["args"].as_array().cloned().unwrap_or_default() {
                if blank(&arg) {
                    missing.push(format!(
                        "{name}.{field_name}({})",
                        arg["name"].as_str().unwrap()
                    ));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
}
