//! Relay cursor pagination (CONTRACT.md §2): every connection walked page by page with
//! `first`/`after`, in each ordering, with exact `pageInfo` and `totalCount`; keyset
//! stability under writes; bounds on `first`; refused cursors.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::{pluck, spawn_app, spawn_app_with, Backend, TestApp, NO_RESPONSE_CACHE};
use serde_json::{json, Value};

/// What every walked connection selects.
const CONNECTION: &str = "totalCount
    edges { cursor node { id } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }";

/// One page of a connection, as read from the response.
struct Page {
    ids: Vec<String>,
    node_ids: Vec<String>,
    cursors: Vec<String>,
    total: Value,
    has_next: bool,
    has_previous: bool,
    start: Option<String>,
    end: Option<String>,
}

impl Page {
    fn read(connection: &Value) -> Self {
        let edges = &connection["edges"];
        let info = &connection["pageInfo"];
        let cursor = |v: &Value| v.as_str().map(str::to_owned);
        Page {
            ids: edges
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
                .collect(),
            node_ids: pluck(&connection["nodes"], "id"),
            cursors: pluck(edges, "cursor"),
            total: connection["totalCount"].clone(),
            has_next: info["hasNextPage"].as_bool().unwrap(),
            has_previous: info["hasPreviousPage"].as_bool().unwrap(),
            start: cursor(&info["startCursor"]),
            end: cursor(&info["endCursor"]),
        }
    }
}

/// A paginated list: an operation with `$first: Int!` and `$after: String` whose
/// connection sits at `path` in `data`.
struct List<'a> {
    app: &'a TestApp,
    token: Option<&'a str>,
    query: String,
    vars: Value,
    path: &'a [&'a str],
}

impl List<'_> {
    async fn fetch(&self, first: i64, after: Option<&str>) -> Page {
        let res = self.request(json!(first), after).await;
        let mut at = res.data();
        for key in self.path {
            at = &at[key];
        }
        Page::read(at)
    }

    async fn request(&self, first: Value, after: Option<&str>) -> common::Gql {
        let mut vars = self.vars.clone();
        vars["first"] = first;
        vars["after"] = json!(after);
        self.app.graphql_as(self.token, &self.query, vars).await
    }

    /// Walks the whole list `first` items at a time and checks every page against
    /// `expected` (ids in list order).
    async fn walk(&self, first: usize, expected: &[String]) {
        let size = i64::try_from(first).unwrap();
        let mut seen: Vec<String> = Vec::new();
        let mut cursors: HashSet<String> = HashSet::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        let last_end;
        loop {
            let page = self.fetch(size, after.as_deref()).await;
            let at = seen.len();
            let remaining = expected.len() - at;
            let want = &expected[at..at + remaining.min(first)];
            let context = format!("page {pages} (first {first}, after {after:?})");
            assert_eq!(page.ids, want, "{context}: items");
            assert_eq!(
                page.node_ids, page.ids,
                "{context}: nodes are the edges' nodes"
            );
            assert_eq!(page.total, json!(expected.len()), "{context}: totalCount");
            assert_eq!(
                page.has_previous,
                after.is_some(),
                "{context}: hasPreviousPage"
            );
            assert_eq!(page.has_next, remaining > first, "{context}: hasNextPage");
            assert_eq!(
                page.start,
                page.cursors.first().cloned(),
                "{context}: startCursor"
            );
            assert_eq!(
                page.end,
                page.cursors.last().cloned(),
                "{context}: endCursor"
            );
            for cursor in &page.cursors {
                assert!(cursors.insert(cursor.clone()), "{context}: repeated cursor");
            }
            // Every edge's cursor is what `after` accepts: the list continues right after it.
            if let Some(cursor) = page.cursors.first() {
                let next = self.fetch(size, Some(cursor)).await;
                let from = (at + 1).min(expected.len());
                let upto = (from + first).min(expected.len());
                assert_eq!(
                    next.ids,
                    &expected[from..upto],
                    "{context}: after its first edge"
                );
            }
            seen.extend(page.ids);
            pages += 1;
            if !page.has_next {
                last_end = page.end;
                break;
            }
            assert!(
                pages <= expected.len() + 1,
                "{context}: the walk does not end"
            );
            after = page.end;
        }
        assert_eq!(seen, expected, "the walk, first {first}");
        assert_eq!(
            pages,
            expected.len().div_ceil(first).max(1),
            "pages, first {first}"
        );
        // After the very last item the list is empty and says so.
        if let Some(end) = last_end {
            let beyond = self.fetch(size, Some(&end)).await;
            assert!(beyond.ids.is_empty(), "after the last item");
            assert!(
                !beyond.has_next && beyond.has_previous,
                "after the last item"
            );
            assert_eq!(
                (beyond.start, beyond.end),
                (None, None),
                "after the last item"
            );
            assert_eq!(beyond.total, json!(expected.len()), "after the last item");
        }
    }
}

// ---------------------------------------------------------------------------------------
// A feed of 25 posts by Ada (five drafts, two of them published later) with three posts
// by Bob between them; every even post of Ada's and all of Bob's are tagged `rust`.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    PublishedAt,
    CreatedAt,
}

struct Seeded {
    id: String,
    by_ada: bool,
    /// Creation order.
    created: usize,
    /// Publication order (a shared clock with `created`); None for drafts.
    published: Option<usize>,
    rust: bool,
}

struct Feed {
    app: TestApp,
    ada: String,
    bob: String,
    posts: Vec<Seeded>,
}

async fn feed(backend: Backend) -> Option<Feed> {
    let app = spawn_app(backend).await?;
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let mut posts: Vec<Seeded> = Vec::new();
    let mut clock = 0;
    let mut later = Vec::new();
    for i in 0..25 {
        let draft = i % 5 == 2;
        let rust = i % 2 == 0;
        let tags: &[&str] = if rust { &["rust"] } else { &[] };
        let id = app
            .create_post(&ada, &format!("Ada {i:02}"), !draft, tags)
            .await;
        if i == 7 || i == 17 {
            later.push(posts.len());
        }
        posts.push(Seeded {
            id,
            by_ada: true,
            created: clock,
            published: (!draft).then_some(clock),
            rust,
        });
        clock += 1;
        if matches!(i, 4 | 12 | 20) {
            let id = app
                .create_post(&bob, &format!("Bob {i:02}"), true, &["rust"])
                .await;
            posts.push(Seeded {
                id,
                by_ada: false,
                created: clock,
                published: Some(clock),
                rust: true,
            });
            clock += 1;
        }
    }
    for index in later {
        app.publish_post(&ada, &posts[index].id).await;
        posts[index].published = Some(clock);
        clock += 1;
    }
    Some(Feed {
        app,
        ada,
        bob,
        posts,
    })
}

impl Feed {
    /// Ids of the posts that `keep` selects, in the order `field`/`descending` sorts them.
    fn expected(
        &self,
        field: Field,
        descending: bool,
        keep: impl Fn(&Seeded) -> bool,
    ) -> Vec<String> {
        let mut posts: Vec<&Seeded> = self.posts.iter().filter(|p| keep(p)).collect();
        let directed = |o: std::cmp::Ordering| if descending { o.reverse() } else { o };
        posts.sort_by(|a, b| match field {
            Field::CreatedAt => directed(a.created.cmp(&b.created)),
            Field::PublishedAt => match (a.published, b.published) {
                (Some(x), Some(y)) => directed(x.cmp(&y)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => directed(a.created.cmp(&b.created)),
            },
        });
        posts.into_iter().map(|p| p.id.clone()).collect()
    }

    fn posts_list<'a>(&'a self, token: Option<&'a str>, order: Value) -> List<'a> {
        List {
            app: &self.app,
            token,
            query: format!(
                "query($first: Int!, $after: String, $order: PostOrder) {{
                    posts(first: $first, after: $after, orderBy: $order) {{ {CONNECTION} }}
                }}"
            ),
            vars: json!({ "order": order }),
            path: &["posts"],
        }
    }

    fn user_posts<'a>(&'a self, token: Option<&'a str>, username: &str) -> List<'a> {
        List {
            app: &self.app,
            token,
            query: format!(
                "query($first: Int!, $after: String, $u: String!) {{
                    user(username: $u) {{ posts(first: $first, after: $after) {{ {CONNECTION} }} }}
                }}"
            ),
            vars: json!({ "u": username }),
            path: &["user", "posts"],
        }
    }

    async fn tag_posts<'a>(&'a self, token: Option<&'a str>, tag: &str) -> List<'a> {
        let res = self
            .app
            .graphql("{ tags(first: 100) { nodes { id name } } }", json!({}))
            .await;
        let id = res.data()["tags"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == tag)
            .unwrap()["id"]
            .clone();
        List {
            app: &self.app,
            token,
            query: format!(
                "query($first: Int!, $after: String, $tag: ID!) {{
                    node(id: $tag) {{ ... on Tag {{ posts(first: $first, after: $after) {{ {CONNECTION} }} }} }}
                }}"
            ),
            vars: json!({ "tag": id }),
            path: &["node", "posts"],
        }
    }
}

async fn posts_pages_follow_published_at_desc_the_default_order(backend: Backend) {
    let Some(feed) = feed(backend).await else {
        return;
    };
    let expected = feed.expected(Field::PublishedAt, true, |_| true);
    assert_eq!(expected.len(), 28);
    let ada = Some(feed.ada.as_str());
    feed.posts_list(ada, Value::Null).walk(7, &expected).await;
    feed.posts_list(ada, json!({})).walk(4, &expected).await;
    feed.posts_list(ada, json!({ "field": "PUBLISHED_AT", "direction": "DESC" }))
        .walk(10, &expected)
        .await;
    // Without `first`, a page holds 20.
    let res = feed
        .app
        .graphql_as(
            ada,
            "{ posts { totalCount nodes { id } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    let posts = &res.data()["posts"];
    assert_eq!(pluck(&posts["nodes"], "id"), &expected[..20]);
    assert_eq!(posts["pageInfo"]["hasNextPage"], true);
    assert_eq!(posts["totalCount"], 28);
}

async fn posts_pages_follow_published_at_asc_with_drafts_last(backend: Backend) {
    let Some(feed) = feed(backend).await else {
        return;
    };
    let expected = feed.expected(Field::PublishedAt, false, |_| true);
    let list = feed.posts_list(
        Some(&feed.ada),
        json!({ "field": "PUBLISHED_AT", "direction": "ASC" }),
    );
    list.walk(7, &expected).await;
    list.walk(1, &expected).await;
}

async fn posts_pages_follow_created_at_desc(backend: Backend) {
    let Some(feed) = feed(backend).await else {
        return;
    };
    let expected = feed.expected(Field::CreatedAt, true, |_| true);
    let list = feed.posts_list(
        Some(&feed.ada),
        json!({ "field": "CREATED_AT", "direction": "DESC" }),
    );
    list.walk(7, &expected).await;
    list.walk(28, &expected).await;
}

async fn posts_pages_follow_created_at_asc(backend: Backend) {
    let Some(feed) = feed(backend).await else {
        return;
    };
    let expected = feed.expected(Field::CreatedAt, false, |_| true);
    let list = feed.posts_list(
        Some(&feed.ada),
        json!({ "field": "CREATED_AT", "direction": "ASC" }),
    );
    list.walk(7, &expected).await;
    list.walk(100, &expected).await;
}

async fn posts_pages_leave_out_drafts_the_caller_may_not_see(backend: Backend) {
    let Some(feed) = feed(backend).await else {
        return;
    };
    let published = |p: &Seeded| p.published.is_some();
    for (field, order) in [
        (
            Field::PublishedAt,
            json!({ "field": "PUBLISHED_AT", "direction": "DESC" }),
        ),
        (
            Field::CreatedAt,
            json!({ "field": "CREATED_AT", "direction": "ASC" }),
        ),
    ] {
        let descending = order["direction"] == "DESC";
        let expected = feed.expected(field, descending, published);
        assert_eq!(expected.len(), 25);
        feed.posts_list(None, order.clone())
            .walk(6, &expected)
            .await;
        feed.posts_list(Some(&feed.bob), order)
            .walk(6, &expected)
            .await;
    }
}

async fn user_posts_pages_list_one_authors_visible_posts_newest_first(backend: Backend) {
    let Some(feed) = feed(backend).await else {
        return;
    };
    let adas = feed.expected(Field::PublishedAt, true, |p| p.by_ada);
    assert_eq!(adas.len(), 25);
    feed.user_posts(Some(&feed.ada), "ada").walk(6, &adas).await;
    let adas_published = feed.expected(Field::PublishedAt, true, |p| {
        p.by_ada && p.published.is_some()
    });
    feed.user_posts(Some(&feed.bob), "ada")
        .walk(6, &adas_published)
        .await;
    let bobs = feed.expected(Field::PublishedAt, true, |p| !p.by_ada);
    feed.user_posts(None, "bob").walk(2, &bobs).await;
}

async fn tag_posts_pages_list_the_tags_visible_posts_newest_first(backend: Backend) {
    let Some(feed) = feed(backend).await else {
        return;
    };
    let rust = feed.expected(Field::PublishedAt, true, |p| p.rust);
    assert_eq!(rust.len(), 16);
    feed.tag_posts(Some(&feed.ada), "rust")
        .await
        .walk(5, &rust)
        .await;
    let rust_published = feed.expected(Field::PublishedAt, true, |p| {
        p.rust && p.published.is_some()
    });
    feed.tag_posts(None, "rust")
        .await
        .walk(5, &rust_published)
        .await;
}

async fn post_comments_pages_list_comments_newest_first(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let (bob, _) = app.register("bob").await;
    let post = app.create_post(&ada, "Busy", true, &[]).await;
    let other = app.create_post(&ada, "Other", true, &[]).await;
    let mut comments = Vec::new();
    for i in 0..25 {
        let who = if i % 3 == 0 { &bob } else { &ada };
        comments.push(app.add_comment(who, &post, &format!("Comment {i}")).await);
        if i % 10 == 0 {
            app.add_comment(&bob, &other, "Elsewhere").await;
        }
    }
    comments.reverse();
    let list = List {
        app: &app,
        token: None,
        query: format!(
            "query($first: Int!, $after: String, $p: ID!) {{
                post(id: $p) {{ comments(first: $first, after: $after) {{ {CONNECTION} }} }}
            }}"
        ),
        vars: json!({ "p": post }),
        path: &["post", "comments"],
    };
    list.walk(7, &comments).await;
    list.walk(25, &comments).await;
    list.walk(100, &comments).await;
}

async fn tags_pages_list_every_tag_newest_first(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    for i in 0..25 {
        app.create_post(&ada, &format!("Post {i}"), true, &[&format!("tag{i:02}")])
            .await;
    }
    // Reusing tags creates none.
    app.create_post(&ada, "Reuse", true, &["tag03", "tag17"])
        .await;
    let res = app
        .graphql("{ tags(first: 100) { nodes { id name } } }", json!({}))
        .await;
    let nodes = &res.data()["tags"]["nodes"];
    let names: Vec<String> = (0..25).rev().map(|i| format!("tag{i:02}")).collect();
    assert_eq!(pluck(nodes, "name"), names);
    let expected = pluck(nodes, "id");
    let list = List {
        app: &app,
        token: None,
        query: format!(
            "query($first: Int!, $after: String) {{ tags(first: $first, after: $after) {{ {CONNECTION} }} }}"
        ),
        vars: json!({}),
        path: &["tags"],
    };
    list.walk(7, &expected).await;
    list.walk(5, &expected).await;
}

// ---------------------------------------------------------------------------------------
// Stability under writes

async fn a_post_inserted_between_pages_neither_repeats_nor_skips_an_item(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            app.create_post(&ada, &format!("Post {i}"), i != 6, &[])
                .await,
        );
    }
    let oldest_first: Vec<String> = ids.clone();
    let newest_first: Vec<String> = {
        // Published newest first, then the one draft.
        let mut v: Vec<String> = ids
            .iter()
            .rev()
            .filter(|id| **id != ids[6])
            .cloned()
            .collect();
        v.push(ids[6].clone());
        v
    };
    let token = Some(ada.as_str());
    let list = |order: Value| List {
        app: &app,
        token,
        query: format!(
            "query($first: Int!, $after: String, $order: PostOrder) {{
                posts(first: $first, after: $after, orderBy: $order) {{ {CONNECTION} }}
            }}"
        ),
        vars: json!({ "order": order }),
        path: &["posts"],
    };
    let newest = list(Value::Null);
    let oldest = list(json!({ "field": "CREATED_AT", "direction": "ASC" }));
    let newest_page1 = newest.fetch(4, None).await;
    let oldest_page1 = oldest.fetch(4, None).await;
    assert_eq!(newest_page1.ids, &newest_first[..4]);
    assert_eq!(oldest_page1.ids, &oldest_first[..4]);

    let inserted = app.create_post(&ada, "Inserted", true, &[]).await;

    // Newest first: the new post is before page 1, so the rest is exactly the old rest.
    let mut after = newest_page1.end;
    let mut rest = Vec::new();
    loop {
        let page = newest.fetch(4, after.as_deref()).await;
        assert_eq!(page.total, json!(11));
        rest.extend(page.ids);
        if !page.has_next {
            break;
        }
        after = page.end;
    }
    assert_eq!(rest, &newest_first[4..]);

    // Oldest first: the new post comes at the very end.
    let mut after = oldest_page1.end;
    let mut rest = Vec::new();
    loop {
        let page = oldest.fetch(4, after.as_deref()).await;
        rest.extend(page.ids);
        if !page.has_next {
            break;
        }
        after = page.end;
    }
    let mut expected = oldest_first[4..].to_vec();
    expected.push(inserted);
    assert_eq!(rest, expected);
}

async fn a_deleted_post_at_the_cursor_does_not_break_the_next_page(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(app.create_post(&ada, &format!("Post {i}"), true, &[]).await);
    }
    ids.reverse();
    let list = List {
        app: &app,
        token: None,
        query: format!(
            "query($first: Int!, $after: String) {{ posts(first: $first, after: $after) {{ {CONNECTION} }} }}"
        ),
        vars: json!({}),
        path: &["posts"],
    };
    let page1 = list.fetch(3, None).await;
    assert_eq!(page1.ids, &ids[..3]);
    let res = app
        .graphql_as(
            Some(&ada),
            "mutation($id: ID!) { deletePost(id: $id) }",
            json!({ "id": ids[2] }),
        )
        .await;
    res.data();
    let page2 = list.fetch(3, page1.end.as_deref()).await;
    assert_eq!(page2.ids, &ids[3..6]);
    assert_eq!(page2.total, json!(7));
}

// ---------------------------------------------------------------------------------------
// `first` bounds and cursors

/// One list of each kind on a small data set: three posts (one a draft) by Ada, tagged,
/// with comments.
struct Small {
    app: TestApp,
    ada: String,
    post: String,
    tag: String,
    /// A cursor from each list: (posts default order, posts `CREATED_AT DESC`, posts
    /// `PUBLISHED_AT ASC`, posts `CREATED_AT ASC`, comments, tags).
    cursors: [String; 6],
}

/// Queries of each list with `$first: Int!` and `$after: String`, and where the
/// connection sits.
fn all_lists(small: &Small) -> Vec<(&'static str, String, Value, Vec<&'static str>)> {
    let posts = |order: Value| {
        (
            "posts",
            format!(
                "query($first: Int!, $after: String, $order: PostOrder) {{ posts(first: $first, after: $after, orderBy: $order) {{ {CONNECTION} }} }}"
            ),
            json!({ "order": order }),
            vec!["posts"],
        )
    };
    vec![
        posts(Value::Null),
        posts(json!({ "field": "CREATED_AT", "direction": "DESC" })),
        posts(json!({ "field": "PUBLISHED_AT", "direction": "ASC" })),
        posts(json!({ "field": "CREATED_AT", "direction": "ASC" })),
        (
            "Post.comments",
            format!(
                "query($first: Int!, $after: String, $p: ID!) {{ post(id: $p) {{ comments(first: $first, after: $after) {{ {CONNECTION} }} }} }}"
            ),
            json!({ "p": small.post }),
            vec!["post", "comments"],
        ),
        (
            "tags",
            format!(
                "query($first: Int!, $after: String) {{ tags(first: $first, after: $after) {{ {CONNECTION} }} }}"
            ),
            json!({}),
            vec!["tags"],
        ),
        (
            "User.posts",
            format!(
                "query($first: Int!, $after: String) {{ user(username: \"ada\") {{ posts(first: $first, after: $after) {{ {CONNECTION} }} }} }}"
            ),
            json!({}),
            vec!["user", "posts"],
        ),
        (
            "Tag.posts",
            format!(
                "query($first: Int!, $after: String, $t: ID!) {{ node(id: $t) {{ ... on Tag {{ posts(first: $first, after: $after) {{ {CONNECTION} }} }} }} }}"
            ),
            json!({ "t": small.tag }),
            vec!["node", "posts"],
        ),
    ]
}

async fn small(backend: Backend) -> Option<Small> {
    let app = spawn_app(backend).await?;
    let (ada, _) = app.register("ada").await;
    app.create_post(&ada, "One", true, &["x", "y"]).await;
    app.create_post(&ada, "Two", false, &["x"]).await;
    let post = app.create_post(&ada, "Three", true, &["x"]).await;
    for i in 0..3 {
        app.add_comment(&ada, &post, &format!("Comment {i}")).await;
    }
    let res = app
        .graphql_as(
            Some(&ada),
            "query($p: ID!) {
                a: posts(first: 1) { edges { cursor } }
                b: posts(first: 1, orderBy: { field: CREATED_AT, direction: DESC }) { edges { cursor } }
                c: posts(first: 1, orderBy: { field: PUBLISHED_AT, direction: ASC }) { edges { cursor } }
                d: posts(first: 1, orderBy: { field: CREATED_AT, direction: ASC }) { edges { cursor } }
                post(id: $p) { comments(first: 1) { edges { cursor } } }
                tags(first: 1) { edges { cursor } }
            }",
            json!({ "p": post }),
        )
        .await;
    let d = res.data();
    let cursor = |v: &Value| v["edges"][0]["cursor"].as_str().unwrap().to_owned();
    let res = app
        .graphql("{ tags(first: 100) { nodes { id name } } }", json!({}))
        .await;
    let tag = res.data()["tags"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "x")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cursors = [
        cursor(&d["a"]),
        cursor(&d["b"]),
        cursor(&d["c"]),
        cursor(&d["d"]),
        cursor(&d["post"]["comments"]),
        cursor(&d["tags"]),
    ];
    Some(Small {
        app,
        ada,
        post,
        tag,
        cursors,
    })
}

async fn first_zero_returns_no_edges_and_says_whether_items_exist(backend: Backend) {
    let Some(s) = small(backend).await else {
        return;
    };
    let totals = [3, 3, 3, 3, 3, 2, 3, 3];
    for ((name, query, vars, path), total) in all_lists(&s).into_iter().zip(totals) {
        let list = List {
            app: &s.app,
            token: Some(&s.ada),
            query,
            vars,
            path: &path,
        };
        let page = list.fetch(0, None).await;
        assert!(page.ids.is_empty() && page.node_ids.is_empty(), "{name}");
        assert!(page.has_next, "{name}: items exist");
        assert!(!page.has_previous, "{name}");
        assert_eq!((page.start, page.end), (None, None), "{name}");
        assert_eq!(page.total, json!(total), "{name}");
    }
    // On an empty list there is no next page.
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let res = app
        .graphql(
            &format!("{{ posts(first: 0) {{ {CONNECTION} }} tags(first: 0) {{ {CONNECTION} }} }}"),
            json!({}),
        )
        .await;
    for name in ["posts", "tags"] {
        let page = Page::read(&res.data()[name]);
        assert!(
            page.ids.is_empty() && !page.has_next && !page.has_previous,
            "{name}"
        );
        assert_eq!(page.total, json!(0), "{name}");
    }
}

async fn first_outside_zero_to_one_hundred_is_bad_user_input(backend: Backend) {
    let Some(s) = small(backend).await else {
        return;
    };
    for (name, query, vars, path) in all_lists(&s) {
        let list = List {
            app: &s.app,
            token: Some(&s.ada),
            query,
            vars,
            path: &path,
        };
        for first in [101, -1, 1000, i64::from(i32::MIN)] {
            let res = list.request(json!(first), None).await;
            assert_eq!(
                res.codes(),
                ["BAD_USER_INPUT"],
                "{name} first {first}: {}",
                res.body
            );
        }
        let page = list.fetch(100, None).await;
        assert!(!page.ids.is_empty(), "{name}: first 100 is allowed");
    }
}

async fn a_garbage_cursor_is_bad_user_input(backend: Backend) {
    let Some(s) = small(backend).await else {
        return;
    };
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let garbage = [
        "garbage".to_owned(),
        "!!!".to_owned(),
        String::new(),
        b64("post:pd:x:y:z"),
        b64("post:cd:1:"),
        b64("comment:abc:1"),
        b64("tag:"),
        b64("tag:x"),
        b64("nonsense"),
    ];
    for (name, query, vars, path) in all_lists(&s) {
        let list = List {
            app: &s.app,
            token: Some(&s.ada),
            query,
            vars,
            path: &path,
        };
        for cursor in &garbage {
            let res = list.request(json!(5), Some(cursor)).await;
            assert_eq!(
                res.codes(),
                ["BAD_USER_INPUT"],
                "{name} after {cursor:?}: {}",
                res.body
            );
        }
    }
}

async fn a_cursor_from_another_list_or_ordering_is_bad_user_input(backend: Backend) {
    let Some(s) = small(backend).await else {
        return;
    };
    // The cursor each list hands out itself (User.posts and Tag.posts share the default
    // post order with `posts`, so neither is "another list" for those cursors).
    let own = [
        Some(0),
        Some(1),
        Some(2),
        Some(3),
        Some(4),
        Some(5),
        None,
        None,
    ];
    for ((name, query, vars, path), own) in all_lists(&s).into_iter().zip(own) {
        let list = List {
            app: &s.app,
            token: Some(&s.ada),
            query,
            vars,
            path: &path,
        };
        for (i, cursor) in s.cursors.iter().enumerate() {
            let res = list.request(json!(5), Some(cursor)).await;
            if own == Some(i) {
                res.data();
            } else if own.is_some() || i != 0 {
                assert_eq!(
                    res.codes(),
                    ["BAD_USER_INPUT"],
                    "{name} after cursor {i}: {}",
                    res.body
                );
            }
        }
    }
}

/// Cursors are encoded only when a query selects one; selected any way (through
/// fragments, inline fragments, `pageInfo` alone, a nested connection) they are the real
/// ones, and `after` continues from them.
async fn cursors_selected_any_way_are_real_and_continue_the_list(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    for i in 0..5 {
        app.create_post(&ada, &format!("Post {i}"), true, &[]).await;
    }
    let all = app
        .graphql("{ posts(first: 5) { nodes { id } } }", json!({}))
        .await;
    let all = pluck(&all.data()["posts"]["nodes"], "id");
    let direct = app
        .graphql(
            "{ posts(first: 2) { edges { cursor } pageInfo { startCursor endCursor } } }",
            json!({}),
        )
        .await;
    let direct = direct.data()["posts"].clone();
    let cursors = pluck(&direct["edges"], "cursor");
    assert_eq!(cursors.len(), 2);
    assert!(cursors.iter().all(|c| !c.is_empty()), "{direct}");
    assert_eq!(direct["pageInfo"]["startCursor"], json!(cursors[0]));
    assert_eq!(direct["pageInfo"]["endCursor"], json!(cursors[1]));

    let through_fragments = app
        .graphql(
            "{ posts(first: 2) { ...P } }
             fragment P on PostConnection { edges { ... on PostEdge { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        pluck(&through_fragments.data()["posts"]["edges"], "cursor"),
        cursors
    );

    // `pageInfo.endCursor` with `nodes` only: the next page starts right after it.
    let page = app
        .graphql(
            "{ posts(first: 2) { nodes { id } pageInfo { ...End } } }
             fragment End on PageInfo { endCursor }",
            json!({}),
        )
        .await;
    let end = page.data()["posts"]["pageInfo"]["endCursor"].clone();
    assert_eq!(end, json!(cursors[1]));
    let next = app
        .graphql(
            "query($after: String) { posts(first: 2, after: $after) { nodes { id } } }",
            json!({"after": end}),
        )
        .await;
    assert_eq!(pluck(&next.data()["posts"]["nodes"], "id"), all[2..4]);

    // A nested connection, its cursor behind an inline fragment.
    let nested = app
        .graphql(
            "{ user(username: \"ada\") { posts(first: 1) { ... on PostConnection { pageInfo { endCursor } } } } }",
            json!({}),
        )
        .await;
    let end = nested.data()["user"]["posts"]["pageInfo"]["endCursor"].clone();
    assert!(end.as_str().is_some_and(|c| !c.is_empty()), "{end}");
    let next = app
        .graphql(
            "query($after: String) { user(username: \"ada\") { posts(first: 1, after: $after) { nodes { id } } } }",
            json!({"after": end}),
        )
        .await;
    assert_eq!(
        pluck(&next.data()["user"]["posts"]["nodes"], "id"),
        all[1..2]
    );
}

/// A page reads one row more than it returns only when `pageInfo.hasNextPage` or
/// `totalCount` is selected. However those are selected (directly, through a fragment, an
/// inline fragment), they are exact; selected or not, a page holds `first` items.
async fn has_next_page_and_total_count_are_exact_however_selected(backend: Backend) {
    // Without the response cache, so that every request runs its statements.
    let Some(app) = spawn_app_with(backend, &[NO_RESPONSE_CACHE]).await else {
        return;
    };
    let (ada, _) = app.register("ada").await;
    let mut post = String::new();
    for tag in ["a", "b", "c", "d"] {
        post = app
            .create_post(&ada, &format!("Post {tag}"), true, &[tag])
            .await;
    }
    for i in 0..4 {
        app.add_comment(&ada, &post, &format!("Comment {i}")).await;
    }
    let lists: [(&str, &[&str]); 4] = [
        ("posts(first: $n) { CONN }", &["posts"]),
        (
            "user(username: \"ada\") { posts(first: $n) { CONN } }",
            &["user", "posts"],
        ),
        (
            "post(id: $p) { comments(first: $n) { CONN } }",
            &["post", "comments"],
        ),
        ("tags(first: $n) { CONN }", &["tags"]),
    ];
    let selections = [
        ("nodes { id }", ""),
        ("pageInfo { hasNextPage }", ""),
        (
            "pageInfo { ...H }",
            "fragment H on PageInfo { hasNextPage }",
        ),
        ("... { pageInfo { hasNextPage } }", ""),
        ("totalCount", ""),
        (
            "nodes { id } totalCount pageInfo { hasNextPage endCursor }",
            "",
        ),
    ];
    for (list, path) in lists {
        for (selection, fragment) in selections {
            let (variables, values) = variables_of(list, &post);
            let query = format!(
                "query({variables}) {{ {} }} {fragment}",
                list.replace("CONN", selection)
            );
            for n in [0, 3, 4, 5] {
                let mut values = values.clone();
                values["n"] = json!(n);
                let res = app.graphql(&query, values).await;
                let mut at = res.data();
                for key in path {
                    at = &at[key];
                }
                let context = format!("{backend:?} {query} (n = {n}): {at}");
                if selection.contains("nodes") {
                    assert_eq!(at["nodes"].as_array().unwrap().len(), n.min(4), "{context}");
                }
                if selection.contains("hasNextPage") {
                    assert_eq!(at["pageInfo"]["hasNextPage"], json!(n < 4), "{context}");
                }
                if selection.contains("totalCount") {
                    assert_eq!(at["totalCount"], json!(4), "{context}");
                }
            }
        }
        // A first page that holds the whole list answers `totalCount` without counting.
        let (variables, values) = variables_of(list, &post);
        let mut counted = Vec::new();
        for selection in ["nodes { id }", "nodes { id } totalCount"] {
            let query = format!(
                "query({variables}) {{ {} }}",
                list.replace("CONN", selection)
            );
            let mut values = values.clone();
            values["n"] = json!(5);
            let before = app.statements();
            app.graphql(&query, values).await.data();
            counted.push(app.statements() - before);
        }
        assert_eq!(counted[0], counted[1], "{backend:?} {list}");
    }
}

/// The variable definitions and values of a list query in the test above.
fn variables_of(list: &str, post: &str) -> (&'static str, Value) {
    if list.contains("$p") {
        ("$n: Int!, $p: ID!", json!({ "p": post }))
    } else {
        ("$n: Int!", json!({}))
    }
}

backend_tests!(
    has_next_page_and_total_count_are_exact_however_selected,
    posts_pages_follow_published_at_desc_the_default_order,
    posts_pages_follow_published_at_asc_with_drafts_last,
    posts_pages_follow_created_at_desc,
    posts_pages_follow_created_at_asc,
    posts_pages_leave_out_drafts_the_caller_may_not_see,
    user_posts_pages_list_one_authors_visible_posts_newest_first,
    tag_posts_pages_list_the_tags_visible_posts_newest_first,
    post_comments_pages_list_comments_newest_first,
    tags_pages_list_every_tag_newest_first,
    a_post_inserted_between_pages_neither_repeats_nor_skips_an_item,
    a_deleted_post_at_the_cursor_does_not_break_the_next_page,
    first_zero_returns_no_edges_and_says_whether_items_exist,
    first_outside_zero_to_one_hundred_is_bad_user_input,
    a_garbage_cursor_is_bad_user_input,
    a_cursor_from_another_list_or_ordering_is_bad_user_input,
    cursors_selected_any_way_are_real_and_continue_the_list,
);
