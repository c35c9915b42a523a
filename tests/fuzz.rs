#![allow(clippy::unwrap_used)]
//! Generated abuse (issue 3): GraphQL documents (random nesting, aliases, fragments,
//! directives, arguments with huge numbers, unicode and garbage), JSON bodies of every shape
//! and type, raw bytes, odd headers and methods, sent to `POST /graphql` and `GET /graphql`.
//! Never a 5xx, never a panic (the server keeps serving), and always GraphQL-over-HTTP JSON:
//! `data` and/or `errors`, every error with a contract code.
//!
//! Deterministic: a fixed seed (override with `FUZZ_SEED`, and the number of cases with
//! `FUZZ_CASES`); a failure names its case and request so it can be replayed.

mod common;

use common::{spawn_app_with, Backend, TestApp};
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

const SEED: u64 = 0x6a7e_4005_e5ee_d001;
const CASES: usize = 300;

/// The codes of CONTRACT.md section 3.
const CODES: [&str; 12] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "QUERY_TOO_DEEP",
    "QUERY_TOO_COMPLEX",
    "RATE_LIMITED",
    "PERSISTED_QUERY_NOT_FOUND",
    "TIMEOUT",
    "INTERNAL",
];

const FIELDS: &[&str] = &[
    "posts",
    "nodes",
    "edges",
    "node",
    "cursor",
    "pageInfo",
    "hasNextPage",
    "endCursor",
    "totalCount",
    "author",
    "comments",
    "tags",
    "viewer",
    "user",
    "post",
    "rateLimit",
    "id",
    "title",
    "body",
    "status",
    "username",
    "displayName",
    "name",
    "likeCount",
    "viewerHasLiked",
    "commentCount",
    "postCount",
    "createdAt",
    "publishedAt",
    "limit",
    "cost",
    "remaining",
    "resetAt",
    "__typename",
    "__schema",
    "__type",
    "types",
    "fields",
    "ofType",
    "kind",
    "register",
    "login",
    "createPost",
    "updatePost",
    "publishPost",
    "deletePost",
    "addComment",
    "likePost",
    "unlikePost",
    "commentAdded",
    "postPublished",
    "nope",
    "ñandú",
    "_",
];

const ARGUMENTS: &[&str] = &[
    "first",
    "after",
    "id",
    "ids",
    "filter",
    "orderBy",
    "username",
    "dryRun",
    "input",
    "postId",
    "body",
    "name",
    "tag",
    "search",
    "status",
    "field",
    "direction",
    "if",
    "x",
];

const TYPES: &[&str] = &[
    "Post",
    "User",
    "Comment",
    "Tag",
    "Query",
    "Mutation",
    "Node",
    "PostConnection",
    "Nope",
    "__Type",
    "String",
];

const ACCEPTS: &[&str] = &[
    "application/json",
    "application/graphql-response+json",
    "application/graphql-response+json, application/json;q=0.9",
    "*/*",
    "text/html",
    "application/json;q=0",
    "application/graphql-response+json;q=abc",
    ";;;,,,",
    "application/*;q=0.2, text/plain",
];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/graphql-response+json",
    "application/JSON",
    "text/plain",
    "application/graphql",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin1",
    "",
];

/// An object-typed field of the schema: name, arguments, type.
type ObjectField = (&'static str, &'static [&'static str], &'static str);

struct Gen {
    rng: StdRng,
    fragments: usize,
    /// Fields the document being generated may still hold (bounds its size).
    budget: usize,
    /// The typed document being generated uses hostile argument values.
    hostile: bool,
}

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items.choose(&mut self.rng).unwrap()
    }

    fn name(&mut self) -> String {
        if self.chance(0.8) {
            let letters = ["a", "b", "x", "Feed", "Q", "op", "_1", "ümlaut", "日本"];
            format!("{}{}", self.pick(&letters), self.rng.gen_range(0..5))
        } else {
            self.garbage(6)
        }
    }

    /// A string of random characters, GraphQL punctuation and unicode included.
    fn garbage(&mut self, max: usize) -> String {
        let pieces = [
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            ":",
            "$",
            "@",
            "!",
            "...",
            "\"",
            "\\",
            "#",
            ",",
            "=",
            "|",
            "&",
            " ",
            "\n",
            "\t",
            "\u{0}",
            "\u{feff}",
            "é",
            "\u{1F600}",
            "中",
            "\u{202e}",
            "query",
            "fragment",
            "on",
            "__schema",
            "1e999",
            "-0",
            "\"\"\"",
            "\\u",
            "\\uD800",
        ];
        let n = self.rng.gen_range(0..=max);
        (0..n).map(|_| self.pick(&pieces).to_owned()).collect()
    }

    fn number(&mut self) -> String {
        let numbers = [
            "0",
            "1",
            "-1",
            "3",
            "20",
            "100",
            "101",
            "2147483647",
            "2147483648",
            "-2147483649",
            "9223372036854775808",
            "99999999999999999999999999999999999999",
            "1.5",
            "-0.0",
            "1e3",
            "1e309",
            "0x10",
            "00",
        ];
        self.pick(&numbers).to_owned()
    }

    fn string_literal(&mut self) -> String {
        let strings = [
            "\"\"",
            "\"hello\"",
            "\"UG9zdDox\"",
            "\"VXNlcjox\"",
            "\"Post:1\"",
            "\"\\u00e9\\u4e2d\\ud83d\\ude00\"",
            "\"\\uD800\"",
            "\"\\u0000\"",
            "\"ñandú 中文 \u{1F600}\"",
            "\"\"\"block\nstring \\\"\"\" \"\"\"",
            "\"unterminated",
            "\"\\q\"",
        ];
        if self.chance(0.1) {
            format!("\"{}\"", "x".repeat(self.rng.gen_range(0..2000)))
        } else {
            self.pick(&strings).to_owned()
        }
    }

    /// A GraphQL input value literal.
    fn value(&mut self, depth: usize) -> String {
        match self.rng.gen_range(0..10) {
            0 | 1 => self.number(),
            2 | 3 => self.string_literal(),
            4 => self
                .pick(&[
                    "true",
                    "false",
                    "null",
                    "DESC",
                    "PUBLISHED",
                    "FOO",
                    "PUBLISHED_AT",
                ])
                .to_owned(),
            5 => format!("${}", self.pick(&["v", "b", "n", "undefined", "first"])),
            6 if depth < 3 => {
                let n = self.rng.gen_range(0..4);
                let items: Vec<String> = (0..n).map(|_| self.value(depth + 1)).collect();
                format!("[{}]", items.join(", "))
            }
            7 if depth < 3 => {
                let n = self.rng.gen_range(0..4);
                let items: Vec<String> = (0..n)
                    .map(|_| format!("{}: {}", self.pick(ARGUMENTS), self.value(depth + 1)))
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            8 => self.garbage(3),
            _ => self.number(),
        }
    }

    fn arguments(&mut self) -> String {
        if self.chance(0.5) {
            return String::new();
        }
        let n = self.rng.gen_range(0..4);
        let args: Vec<String> = (0..n)
            .map(|_| format!("{}: {}", self.pick(ARGUMENTS), self.value(0)))
            .collect();
        format!("({})", args.join(", "))
    }

    fn directives(&mut self) -> String {
        let mut out = String::new();
        while self.chance(0.12) {
            let directive = self.pick(&["include", "skip", "deprecated", "specifiedBy", "nope"]);
            out.push_str(&format!(" @{directive}(if: {})", self.value(2)));
        }
        out
    }

    fn selection_set(&mut self, depth: usize, max_depth: usize) -> String {
        let n = if self.chance(0.05) {
            self.rng.gen_range(20..80)
        } else {
            self.rng.gen_range(1..5)
        }
        .min(self.budget.max(1));
        let items: Vec<String> = (0..n).map(|_| self.selection(depth, max_depth)).collect();
        format!("{{ {} }}", items.join(" "))
    }

    fn selection(&mut self, depth: usize, max_depth: usize) -> String {
        if self.budget == 0 {
            return "id".to_owned();
        }
        self.budget -= 1;
        match self.rng.gen_range(0..12) {
            0 => format!("...F{}{}", self.rng.gen_range(0..4), self.directives()),
            1 if depth < max_depth => format!(
                "... on {}{} {}",
                self.pick(TYPES),
                self.directives(),
                self.selection_set(depth + 1, max_depth)
            ),
            _ => {
                let alias = if self.chance(0.2) {
                    format!("{}: ", self.name())
                } else {
                    String::new()
                };
                let field = self.pick(FIELDS);
                let args = self.arguments();
                let directives = self.directives();
                let sub = if depth < max_depth && self.budget > 0 && self.chance(0.6) {
                    format!(" {}", self.selection_set(depth + 1, max_depth))
                } else {
                    String::new()
                };
                format!("{alias}{field}{args}{directives}{sub}")
            }
        }
    }

    fn variable_definitions(&mut self) -> String {
        if self.chance(0.6) {
            return String::new();
        }
        let n = self.rng.gen_range(1..4);
        let defs: Vec<String> = (0..n)
            .map(|_| {
                let name = self.pick(&["v", "b", "n", "first", "x"]);
                let ty = self.pick(&[
                    "Int",
                    "Int!",
                    "Boolean!",
                    "[ID!]",
                    "String",
                    "ID!",
                    "Nope",
                    "PostFilter",
                ]);
                let default = if self.chance(0.3) {
                    format!(" = {}", self.value(1))
                } else {
                    String::new()
                };
                format!("${name}: {ty}{default}")
            })
            .collect();
        format!("({})", defs.join(", "))
    }

    /// A document: half of them follow the schema (so they validate and run, with hostile
    /// arguments), half only its vocabulary; some are then mangled.
    fn document(&mut self) -> String {
        let document = if self.chance(0.5) {
            self.typed_document()
        } else {
            self.shapeless_document()
        };
        if self.chance(0.2) {
            self.mangle(document)
        } else {
            document
        }
    }

    /// A document built from the vocabulary only: operations and fragments, sometimes deep.
    fn shapeless_document(&mut self) -> String {
        self.budget = if self.chance(0.1) {
            self.rng.gen_range(100..400)
        } else {
            self.rng.gen_range(1..40)
        };
        let max_depth = if self.chance(0.1) {
            self.rng.gen_range(10..40)
        } else {
            self.rng.gen_range(1..6)
        };
        let mut parts = Vec::new();
        let operations = if self.chance(0.85) {
            1
        } else {
            self.rng.gen_range(0..4)
        };
        for _ in 0..operations {
            let set = self.selection_set(0, max_depth);
            let op = match self.rng.gen_range(0..8) {
                0 => set,
                1 => format!(
                    "mutation {}{} {set}",
                    self.name(),
                    self.variable_definitions()
                ),
                2 => format!("subscription {set}"),
                _ => format!(
                    "query {}{}{} {set}",
                    self.name(),
                    self.variable_definitions(),
                    self.directives()
                ),
            };
            parts.push(op);
        }
        self.fragments = if self.chance(0.3) {
            self.rng.gen_range(1..5)
        } else {
            0
        };
        for i in 0..self.fragments {
            let on = self.pick(TYPES);
            let set = self.selection_set(0, max_depth.min(4));
            parts.push(format!("fragment F{i} on {on} {set}"));
        }
        parts.join("\n")
    }

    /// An argument value for `name`, usually of the right type, often out of range.
    fn typed_value(&mut self, field: &str, name: &str) -> String {
        if !self.hostile {
            let valid: &[&str] = match (field, name) {
                (_, "first") => &["0", "1", "2", "3", "5", "20", "100"],
                (_, "id" | "postId") => &[
                    "\"UG9zdDox\"",
                    "\"UG9zdDoy\"",
                    "\"UG9zdDo0\"",
                    "\"VXNlcjox\"",
                    "\"Q29tbWVudDox\"",
                    "\"VGFnOjE=\"",
                    "\"UG9zdDo5OTk5\"",
                ],
                (_, "ids") => &["[]", "[\"UG9zdDox\", \"VXNlcjox\", \"VGFnOjE=\", \"Q29tbWVudDox\"]"],
                (_, "username") => &["\"ada\"", "\"bob\"", "\"nobody\""],
                (_, "filter") => &[
                    "{}",
                    "{ tag: \"rust\" }",
                    "{ status: DRAFT }",
                    "{ status: PUBLISHED, search: \"Post\" }",
                    "{ authorId: \"VXNlcjox\" }",
                ],
                (_, "orderBy") => &["{ field: CREATED_AT, direction: ASC }", "{ direction: DESC }"],
                (_, "dryRun") => &["true", "false"],
                (_, "body") => &["\"a comment\""],
                ("createPost", "input") => &[
                    "{ title: \"t\", body: \"b\", tags: [\"rust\", \"new\"], publish: true }",
                    "{ title: \"draft\", body: \"b\" }",
                ],
                ("updatePost", "input") => &["{ title: \"t2\", tags: [] }", "{ body: \"b2\" }"],
                ("register", "input") => &[
                    "{ username: \"zed\", email: \"zed@example.org\", password: \"password-zed\", displayName: \"Z\" }",
                ],
                ("login", "input") => &[
                    "{ usernameOrEmail: \"ada\", password: \"password-ada\" }",
                    "{ usernameOrEmail: \"ada\", password: \"wrong-password\" }",
                ],
                _ => &["null"],
            };
            return self.pick(valid).to_owned();
        }
        if self.chance(0.1) {
            return self.value(0);
        }
        let pool: &[&str] = match name {
            "first" => &[
                "0", "1", "2", "3", "5", "20", "100", "101", "-1", "2147483647", "2147483648",
                "\"3\"", "null",
            ],
            "after" => &["\"\"", "\"garbage\"", "\"UG9zdDox\"", "\"eyJpZCI6MX0=\"", "null"],
            "id" | "postId" => &[
                "\"UG9zdDox\"",                             // Post:1
                "\"UG9zdDoy\"",                             // Post:2
                "\"UG9zdDo0\"",                             // Post:4
                "\"VXNlcjox\"",                             // User:1
                "\"Q29tbWVudDox\"",                         // Comment:1
                "\"VGFnOjE=\"",                             // Tag:1
                "\"UG9zdDo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5\"", // Post:99999999999999999999
                "\"UG9zdDotMQ==\"",                         // Post:-1
                "\"Tm9wZTox\"",                             // Nope:1
                "\"not base64!\"",
                "\"\"",
                "1",
            ],
            "ids" => &[
                "[]",
                "[\"UG9zdDox\", \"VXNlcjox\", \"VGFnOjE=\"]",
                "[\"UG9zdDox\", \"UG9zdDox\", \"garbage\"]",
                "\"UG9zdDox\"",
                "[null]",
            ],
            "username" => &["\"ada\"", "\"bob\"", "\"nobody\"", "\"\"", "\"ADA\"", "\"ada'--\""],
            "filter" => &[
                "{}",
                "{ tag: \"rust\" }",
                "{ status: DRAFT }",
                "{ status: PUBLISHED, search: \"Post\" }",
                "{ authorId: \"VXNlcjox\" }",
                "{ authorId: \"garbage\", search: \"%_\\\\\" }",
                "{ search: \"\" }",
            ],
            "orderBy" => &[
                "{ field: CREATED_AT, direction: ASC }",
                "{ field: PUBLISHED_AT }",
                "{ direction: DESC }",
                "{ field: NOPE }",
            ],
            "dryRun" => &["true", "false", "null"],
            "body" | "title" => &["\"\"", "\"a body\"", "\"ñandú 中文 \\u0000\""],
            "input" => &[
                "{ title: \"t\", body: \"b\", tags: [\"rust\", \"new\"], publish: true }",
                "{ title: \"\", body: \"b\" }",
                "{ title: \"t\", body: \"b\", tags: [\"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\", \"10\", \"11\"] }",
                "{ username: \"zed\", email: \"zed@example.org\", password: \"password-zed\", displayName: \"Z\" }",
                "{ usernameOrEmail: \"ada\", password: \"wrong-password\" }",
                "{}",
            ],
            _ => &["null"],
        };
        self.pick(pool).to_owned()
    }

    /// `field(args)` with each argument present at random.
    fn typed_field(&mut self, field: &str, args: &[&str]) -> String {
        let mut present = Vec::new();
        for arg in args {
            let required = ["id", "postId", "input", "body", "username", "ids"].contains(arg);
            if (required && !self.hostile) || self.chance(0.4) {
                present.push(format!("{arg}: {}", self.typed_value(field, arg)));
            }
        }
        let args = present;
        let alias = if self.chance(0.1) {
            format!("{}: ", self.name())
        } else {
            String::new()
        };
        if args.is_empty() {
            format!("{alias}{field}")
        } else {
            format!("{alias}{field}({})", args.join(", "))
        }
    }

    /// A selection set valid for type `ty`.
    fn typed_set(&mut self, ty: &str, depth: usize) -> String {
        let (scalars, objects): (&[&str], &[ObjectField]) = match ty {
            "Query" => (
                &["__typename"],
                &[
                    (
                        "posts",
                        &["first", "after", "filter", "orderBy"],
                        "PostConnection",
                    ),
                    ("tags", &["first", "after"], "TagConnection"),
                    ("viewer", &[], "User"),
                    ("user", &["username"], "User"),
                    ("post", &["id"], "Post"),
                    ("node", &["id"], "Node"),
                    ("nodes", &["ids"], "Node"),
                    ("rateLimit", &["dryRun"], "RateLimit"),
                ],
            ),
            "Mutation" => (
                &[],
                &[
                    ("createPost", &["input"], "Post"),
                    ("likePost", &["postId"], "Post"),
                    ("unlikePost", &["postId"], "Post"),
                    ("publishPost", &["id"], "Post"),
                    ("updatePost", &["id", "input"], "Post"),
                    ("addComment", &["postId", "body"], "Comment"),
                    ("register", &["input"], "AuthPayload"),
                    ("login", &["input"], "AuthPayload"),
                ],
            ),
            "PostConnection" | "CommentConnection" | "TagConnection" => (
                &["totalCount"],
                &[
                    ("nodes", &[], "Item"),
                    ("edges", &[], "Edge"),
                    ("pageInfo", &[], "PageInfo"),
                ],
            ),
            "Post" => (
                &[
                    "id",
                    "title",
                    "body",
                    "status",
                    "publishedAt",
                    "likeCount",
                    "viewerHasLiked",
                    "commentCount",
                ],
                &[
                    ("author", &[], "User"),
                    ("tags", &[], "Tag"),
                    ("comments", &["first", "after"], "CommentConnection"),
                ],
            ),
            "User" => (
                &[
                    "id",
                    "username",
                    "displayName",
                    "bio",
                    "createdAt",
                    "postCount",
                ],
                &[("posts", &["first", "after"], "PostConnection")],
            ),
            "Comment" => (
                &["id", "body", "createdAt"],
                &[("author", &[], "User"), ("post", &[], "Post")],
            ),
            "Tag" => (
                &["id", "name"],
                &[("posts", &["first", "after"], "PostConnection")],
            ),
            "AuthPayload" => (&["token"], &[("user", &[], "User")]),
            "PageInfo" => (
                &["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"],
                &[],
            ),
            "RateLimit" => (&["limit", "cost", "remaining", "resetAt"], &[]),
            _ => (&["__typename"], &[]),
        };
        let n = self.rng.gen_range(1..4);
        let mut items = Vec::new();
        for _ in 0..n {
            if self.budget == 0 || objects.is_empty() || depth > 8 || self.chance(0.4) {
                if let Some(scalar) = scalars.choose(&mut self.rng) {
                    items.push((*scalar).to_owned());
                    continue;
                }
            }
            let Some((field, args, child)) = objects.choose(&mut self.rng).copied() else {
                items.push("__typename".to_owned());
                continue;
            };
            self.budget = self.budget.saturating_sub(1);
            let child_set = match child {
                "Item" => {
                    let item = match ty {
                        "CommentConnection" => "Comment",
                        "TagConnection" => "Tag",
                        _ => "Post",
                    };
                    self.typed_set(item, depth + 1)
                }
                "Edge" => {
                    let item = if ty == "CommentConnection" {
                        "Comment"
                    } else {
                        "Post"
                    };
                    format!("{{ cursor node {} }}", self.typed_set(item, depth + 1))
                }
                "Node" => {
                    let on = self.pick(&["Post", "User", "Comment", "Tag"]);
                    format!("{{ id ... on {on} {} }}", self.typed_set(on, depth + 1))
                }
                other => self.typed_set(other, depth + 1),
            };
            items.push(format!("{} {child_set}", self.typed_field(field, args)));
        }
        format!("{{ {} }}", items.join(" "))
    }

    /// A document following the schema, with hostile argument values.
    fn typed_document(&mut self) -> String {
        self.budget = self.rng.gen_range(1..15);
        self.hostile = self.chance(0.4);
        let mutation = self.chance(0.2);
        let root = if mutation { "Mutation" } else { "Query" };
        let set = self.typed_set(root, 0);
        let keyword = if mutation { "mutation" } else { "query" };
        format!("{keyword} Op {set}")
    }

    /// Random edits: deletions, insertions, truncation.
    fn mangle(&mut self, document: String) -> String {
        let mut chars: Vec<char> = document.chars().collect();
        for _ in 0..self.rng.gen_range(1..4) {
            if chars.is_empty() {
                break;
            }
            let at = self.rng.gen_range(0..chars.len());
            match self.rng.gen_range(0..3) {
                0 => {
                    let end = (at + self.rng.gen_range(1..10)).min(chars.len());
                    chars.drain(at..end);
                }
                1 => {
                    let insert: Vec<char> = self.garbage(4).chars().collect();
                    chars.splice(at..at, insert);
                }
                _ => chars.truncate(at),
            }
        }
        chars.into_iter().collect()
    }

    /// A random JSON value.
    fn json(&mut self, depth: usize) -> Value {
        match self.rng.gen_range(0..9) {
            0 => Value::Null,
            1 => json!(self.chance(0.5)),
            2 => json!(self.rng.gen::<i64>()),
            3 => json!(self.rng.gen::<f64>() * 1e300),
            4 => json!(u64::MAX),
            5 => json!(self.garbage(8)),
            6 if depth < 3 => {
                let n = self.rng.gen_range(0..4);
                Value::Array((0..n).map(|_| self.json(depth + 1)).collect())
            }
            7 if depth < 3 => {
                let n = self.rng.gen_range(0..4);
                let mut map = Map::new();
                for _ in 0..n {
                    map.insert(self.pick(ARGUMENTS).to_owned(), self.json(depth + 1));
                }
                Value::Object(map)
            }
            _ => json!(self.name()),
        }
    }

    /// A GraphQL request object, each parameter sometimes missing or of the wrong type.
    fn request(&mut self) -> Value {
        let mut map = Map::new();
        if self.chance(0.9) {
            let query = if self.chance(0.8) {
                json!(self.document())
            } else {
                self.json(0)
            };
            map.insert("query".into(), query);
        }
        if self.chance(0.3) {
            let name = if self.chance(0.7) {
                json!(self.name())
            } else {
                self.json(0)
            };
            map.insert("operationName".into(), name);
        }
        if self.chance(0.4) {
            let variables = if self.chance(0.7) {
                let mut vars = Map::new();
                for name in ["v", "b", "n", "first", "x"] {
                    if self.chance(0.4) {
                        vars.insert(name.into(), self.json(1));
                    }
                }
                Value::Object(vars)
            } else {
                self.json(0)
            };
            map.insert("variables".into(), variables);
        }
        if self.chance(0.2) {
            let extensions = if self.chance(0.6) {
                let hash = if self.chance(0.5) {
                    json!("0".repeat(64))
                } else {
                    self.json(1)
                };
                json!({ "persistedQuery": { "version": self.json(1), "sha256Hash": hash } })
            } else {
                self.json(0)
            };
            map.insert("extensions".into(), extensions);
        }
        if self.chance(0.1) {
            map.insert(self.name(), self.json(1));
        }
        Value::Object(map)
    }

    /// Random bytes, often almost JSON.
    fn raw_body(&mut self) -> Vec<u8> {
        match self.rng.gen_range(0..4) {
            0 => (0..self.rng.gen_range(0..200))
                .map(|_| self.rng.gen())
                .collect(),
            1 => {
                let text = self.request().to_string();
                let cut = self.rng.gen_range(0..=text.len());
                text.as_bytes()[..cut].to_vec()
            }
            2 => self.garbage(30).into_bytes(),
            _ => self
                .pick(&[
                    "",
                    "null",
                    "[]",
                    "{}",
                    "[[]]",
                    "[null]",
                    "\"{ a }\"",
                    "1",
                    "{\"query\": \"{ __typename }\"}}",
                ])
                .as_bytes()
                .to_vec(),
        }
    }
}

/// One generated request, described for failure messages.
struct Case {
    description: String,
    request: reqwest::RequestBuilder,
}

fn build_case(gen: &mut Gen, app: &TestApp, token: &str) -> Case {
    let url = format!("{}/graphql", app.address);
    let accept = gen.pick(ACCEPTS).to_owned();
    let (description, mut request) = match gen.rng.gen_range(0..10) {
        // A generated document, alone.
        0..=3 => {
            let body = json!({ "query": gen.document() });
            (format!("POST {body}"), app.client.post(&url).json(&body))
        }
        // A request object with parameters of any type, or a batch of them.
        4 | 5 => {
            let body = if gen.chance(0.25) {
                let n = gen.rng.gen_range(0..13);
                Value::Array((0..n).map(|_| gen.request()).collect())
            } else if gen.chance(0.15) {
                gen.json(0)
            } else {
                gen.request()
            };
            (format!("POST {body}"), app.client.post(&url).json(&body))
        }
        // Raw bytes under some content type.
        6 => {
            let body = gen.raw_body();
            let content_type = gen.pick(CONTENT_TYPES).to_owned();
            let mut request = app.client.post(&url).body(body.clone());
            if !content_type.is_empty() {
                request = request.header("content-type", content_type.clone());
            }
            (
                format!("POST ({content_type}) {:?}", String::from_utf8_lossy(&body)),
                request,
            )
        }
        // GET with generated parameters.
        7 | 8 => {
            let mut params: Vec<(String, String)> = Vec::new();
            if gen.chance(0.9) {
                // URLs stay under what HTTP clients and servers accept.
                let document: String = gen.document().chars().take(4000).collect();
                params.push(("query".into(), document));
            }
            for name in ["variables", "operationName", "extensions"] {
                if gen.chance(0.3) {
                    let value = if gen.chance(0.5) {
                        gen.json(0).to_string()
                    } else {
                        gen.garbage(5)
                    };
                    params.push((name.into(), value));
                }
            }
            (
                format!("GET {params:?}"),
                app.client.get(&url).query(&params),
            )
        }
        // Other methods, or a raw query string.
        _ => {
            if gen.chance(0.5) {
                let method = gen.pick(&["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]);
                (
                    method.to_owned(),
                    app.client
                        .request(method.parse().unwrap(), &url)
                        .body(gen.garbage(10)),
                )
            } else {
                let raw: String = gen
                    .garbage(12)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect();
                let query = gen.pick(&["query=", "query", "", "&&=&", "variables=", "query=%"]);
                let url = format!("{url}?{query}{raw}");
                (format!("GET {url}"), app.client.get(url))
            }
        }
    };
    request = request.header("accept", accept.clone());
    let auth = match gen.rng.gen_range(0..10) {
        0 => Some(format!("Bearer {token}")),
        1 => Some(format!("Bearer {}", gen.garbage(5))),
        2 => Some(
            gen.pick(&["Basic YTpi", "Bearer", "bearer  ", "Token x", "\u{e9}"])
                .to_owned(),
        ),
        _ => None,
    };
    if let Some(auth) = &auth {
        if let Ok(value) = reqwest::header::HeaderValue::from_str(auth) {
            request = request.header("authorization", value);
        }
    }
    Case {
        description: format!("{description} [accept {accept:?}, authorization {auth:?}]"),
        request,
    }
}

/// Checks one GraphQL response object (a single response or a batch item).
fn check_response(value: &Value, what: &str) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not a JSON object: {value}"));
    assert!(
        object.contains_key("data") || object.contains_key("errors"),
        "{what}: neither data nor errors: {value}"
    );
    if let Some(data) = object.get("data") {
        assert!(
            data.is_object() || data.is_null(),
            "{what}: data is not an object: {value}"
        );
    }
    if let Some(errors) = object.get("errors") {
        let errors = errors
            .as_array()
            .unwrap_or_else(|| panic!("{what}: errors is not a list: {value}"));
        assert!(!errors.is_empty(), "{what}: an empty errors list: {value}");
        for error in errors {
            assert!(
                error["message"].is_string(),
                "{what}: an error without a message: {value}"
            );
            let code = error["extensions"]["code"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: an error without extensions.code: {value}"));
            assert!(
                CODES.contains(&code),
                "{what}: unknown code {code}: {value}"
            );
            if code == "INTERNAL" {
                let message = error["message"].as_str().unwrap().to_ascii_lowercase();
                for leak in ["sql", "panick", "/src/", "select ", "constraint"] {
                    assert!(!message.contains(leak), "{what}: INTERNAL leaks: {value}");
                }
            }
        }
    }
}

async fn healthy(app: &TestApp) {
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the server keeps serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_get_a_5xx_and_always_get_graphql_json() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CASES);
    // A budget no generated request can exhaust, so that every case reaches the guard.
    let overrides = [
        ("GATEHOUSE_RATE_POINTS", "4000000000"),
        ("GATEHOUSE_REQUEST_TIMEOUT_MS", "5000"),
    ];
    let app = spawn_app_with(Backend::Sqlite, &overrides).await.unwrap();
    let (token, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    for i in 0..4 {
        let post = app
            .create_post(
                &token,
                &format!("Post {i}"),
                i % 3 != 0,
                &["rust", "graphql"],
            )
            .await;
        if i % 3 != 0 {
            app.add_comment(&bob, &post, "a comment").await;
        }
    }

    let mut gen = Gen {
        rng: StdRng::seed_from_u64(seed),
        fragments: 0,
        budget: 0,
        hostile: false,
    };
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    let mut with_data = 0;
    let verbose = std::env::var("FUZZ_VERBOSE").is_ok();
    for case in 0..cases {
        let Case {
            description,
            request,
        } = build_case(&mut gen, &app, &token);
        let what = format!("case {case} (seed {seed:#x}): {description}");
        let what = match what.char_indices().nth(3000) {
            Some((cut, _)) => format!("{}…", &what[..cut]),
            None => what,
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: no response: {e}"));
        let status = response.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        assert!(status < 500, "{what}: status {status}");
        assert!(
            [200, 400, 401, 405, 413, 415, 429].contains(&status),
            "{what}: unexpected status {status}"
        );
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let head = description.starts_with("HEAD");
        let text = response.text().await.unwrap();
        if head {
            // A HEAD answer has no body; its status was checked.
            continue;
        }
        assert!(
            content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("application/json")
                    || t.starts_with("application/graphql-response+json")),
            "{what}: content type {content_type:?}"
        );
        if verbose {
            let short: String = what.chars().take(400).collect();
            let answer: String = text.chars().take(300).collect();
            eprintln!("{short}\n  -> {status} {answer}");
        }
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
        if matches!(status, 405 | 413 | 415) {
            // No GraphQL body is required here, but still a JSON error.
            assert!(
                body["errors"].as_array().is_some_and(|e| !e.is_empty()),
                "{what}: {body}"
            );
        } else if let Some(items) = body.as_array() {
            assert!(!items.is_empty(), "{what}: an empty batch answer");
            for item in items {
                check_response(item, &what);
            }
        } else {
            check_response(&body, &what);
        }
        if body
            .as_array()
            .map_or_else(|| vec![&body], |items| items.iter().collect())
            .iter()
            .any(|item| item["data"].is_object())
        {
            with_data += 1;
        }
        for error in body
            .as_array()
            .map_or_else(|| vec![&body], |items| items.iter().collect())
            .into_iter()
            .filter_map(|item| item["errors"].as_array())
            .flatten()
        {
            let code = error["extensions"]["code"].as_str().unwrap_or("<none>");
            *codes.entry(code.to_owned()).or_default() += 1;
        }
        if case % 50 == 49 {
            healthy(&app).await;
        }
    }
    healthy(&app).await;
    // Still answering real queries.
    let res = app
        .graphql("{ posts { totalCount nodes { title } } }", json!({}))
        .await;
    assert!(res.data()["posts"]["totalCount"].as_i64().unwrap() >= 1);
    eprintln!(
        "{cases} cases, seed {seed:#x}: {with_data} ran, statuses {statuses:?}, codes {codes:?}"
    );
    // The generator reached the interesting places.
    for code in [
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "BAD_USER_INPUT",
    ] {
        assert!(codes.contains_key(code), "no {code} in {codes:?}");
    }
    assert!(
        statuses.contains_key(&200) && statuses.contains_key(&400),
        "{statuses:?}"
    );
    assert!(
        with_data * 20 >= cases,
        "only {with_data} of {cases} cases ran: {codes:?}"
    );
}
