"""Mixed load and a cross-replica subscription through nginx (see scripts/nginx-smoke.sh).

Fails (exit 1) on any HTTP error, any GraphQL error, or a comment event that does not
arrive. Bounded: a fixed number of requests, every wait has a timeout.
"""
import concurrent.futures
import json
import os
import random
import sys
import urllib.request

from websockets.sync.client import connect

BASE = os.environ.get("GATEHOUSE_URL", "http://127.0.0.1:8000")
random.seed(7)


def gql(query, variables=None, token=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(BASE + "/graphql", data=body, method="POST")
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as res:
        payload = json.load(res)
    if "errors" in payload:
        raise RuntimeError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


def register(name):
    data = gql(
        "mutation($i: RegisterInput!) { register(input: $i) { token } }",
        {"i": {"username": name, "email": f"{name}@example.org",
               "password": "password-" + name, "displayName": name}},
    )
    return data["register"]["token"]


def main():
    suffix = random.randrange(10**6)
    tokens = [register(f"lb{suffix}_{i}") for i in range(4)]
    posts = []
    for i, token in enumerate(tokens):
        data = gql(
            'mutation($t: String!) { createPost(input: {title: $t, body: "b", publish: true, tags: ["lb"]}) { id } }',
            {"t": f"Post {i}"}, token)
        posts.append(data["createPost"]["id"])

    def one(n):
        kind = n % 4
        token = tokens[n % len(tokens)]
        post = posts[n % len(posts)]
        if kind == 0:
            gql("{ posts(first: 10) { totalCount nodes { title author { username } tags { name } commentCount likeCount } } }")
        elif kind == 1:
            gql("{ viewer { username postCount } posts(first: 5) { nodes { viewerHasLiked } } }", token=token)
        elif kind == 2:
            gql("mutation($p: ID!) { addComment(postId: $p, body: \"hi\") { id } }", {"p": post}, token)
        else:
            gql("mutation($p: ID!) { likePost(postId: $p) { likeCount } }", {"p": post}, token)
        return kind

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        done = list(pool.map(one, range(400)))
    print(f"nginx-smoke: {len(done)} mixed requests through nginx, no errors")

    # A subscription through nginx hears comments written through nginx, whichever
    # replica serves either side (nginx round-robins; fan-out goes through Redis).
    url = BASE.replace("http://", "ws://") + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription($p: ID!) { commentAdded(postId: $p) { body } }",
            "variables": {"p": posts[0]}}}))
        import time
        time.sleep(0.5)
        expected = {f"event {i}" for i in range(6)}
        for body in sorted(expected):
            gql("mutation($p: ID!, $b: String!) { addComment(postId: $p, body: $b) { id } }",
                {"p": posts[0], "b": body}, tokens[1])
        seen = set()
        while seen != expected:
            message = json.loads(ws.recv(timeout=10))
            if message.get("type") == "next":
                seen.add(message["payload"]["data"]["commentAdded"]["body"])
    print("nginx-smoke: the subscription received all 6 comments written through nginx")
    print("nginx-smoke: 2 passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - report any failure and exit non-zero
        print(f"nginx-smoke: FAILED: {error}", file=sys.stderr)
        print("nginx-smoke: 0 passed, 1 failed")
        sys.exit(1)
