"""Gatehouse load test: a realistic mix of GraphQL traffic for Locust.

Three kinds of simulated users:

* ``AnonymousReader`` (most of the traffic): the public feed (posts with author, tags, like
  and comment counts), the next page through the cursor, a post with its comments, tag pages
  and author pages.
* ``Member``: registers its own account at start (``register`` -> JWT), then reads as itself
  (``viewer`` + the feed with ``viewerHasLiked``), comments, likes/unlikes and now and then
  publishes a post.
* ``ReturningMember`` (a few): logs in to an account made at its start, the way a returning
  visitor does (``login`` costs a password hash: it is CPU heavy on purpose).

A request counts as failed when the HTTP status is not 200, the body is not JSON, or the
GraphQL response carries ``errors`` (the failure names their ``extensions.code``).

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000            # web UI on :8089
    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 50 -r 5 -t 5m                                        # headless

See loadtest/README.md for running it against the cluster and watching the HPA.
"""

from __future__ import annotations

import collections
import os
import random
import threading
import uuid

from locust import HttpUser, between, events, task

# Password for every account the load test creates (8..128 characters).
PASSWORD = os.environ.get("LOADTEST_PASSWORD", "load-test-password")
# A prefix for load-test usernames (3..32 of [a-z0-9_] in all), so they are easy to find.
USER_PREFIX = os.environ.get("LOADTEST_USER_PREFIX", "lt")

FEED = """
query Feed($first: Int!, $after: String) {
  posts(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id title publishedAt
      author { username displayName }
      tags { name }
      likeCount commentCount
    }
  }
}"""

POST = """
query Post($id: ID!) {
  post(id: $id) {
    id title body publishedAt
    author { username displayName postCount }
    tags { name }
    likeCount commentCount viewerHasLiked
    comments(first: 10) { nodes { id body createdAt author { username displayName } } }
  }
}"""

TAGS = """
query Tags {
  tags(first: 10) {
    nodes { name posts(first: 5) { nodes { id title author { username } likeCount } } }
  }
}"""

USER = """
query User($username: String!) {
  user(username: $username) {
    username displayName bio postCount
    posts(first: 5) { nodes { id title likeCount commentCount } }
  }
}"""

VIEWER_HOME = """
query Home {
  viewer { id username displayName postCount posts(first: 5) { nodes { id title status } } }
  posts(first: 10) {
    nodes { id title author { username } tags { name } likeCount commentCount viewerHasLiked }
  }
  rateLimit { limit remaining }
}"""

REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { token user { id username } }
}"""

LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { token user { id username } }
}"""

ADD_COMMENT = """
mutation AddComment($postId: ID!, $body: String!) {
  addComment(postId: $postId, body: $body) { id createdAt }
}"""

LIKE = """
mutation Like($postId: ID!) { likePost(postId: $postId) { id likeCount viewerHasLiked } }"""

UNLIKE = """
mutation Unlike($postId: ID!) { unlikePost(postId: $postId) { id likeCount viewerHasLiked } }"""

CREATE_POST = """
mutation CreatePost($input: CreatePostInput!) { createPost(input: $input) { id title } }"""

TAG_NAMES = ["rust", "graphql", "kubernetes", "postgres", "performance", "frontend", "ops"]
WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua graphql rust cache replica"
).split()


class Seen:
    """What the simulated users have seen so far, shared by all of them (bounded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.post_ids: collections.deque[str] = collections.deque(maxlen=500)
        self.usernames: collections.deque[str] = collections.deque(maxlen=200)
        self.tags: set[str] = set()

    def add_posts(self, nodes: list[dict]) -> None:
        with self._lock:
            for node in nodes:
                self.post_ids.append(node["id"])
                author = node.get("author") or {}
                if author.get("username"):
                    self.usernames.append(author["username"])
                for tag in node.get("tags") or []:
                    self.tags.add(tag["name"])

    def post_id(self) -> str | None:
        with self._lock:
            return random.choice(self.post_ids) if self.post_ids else None

    def username(self) -> str | None:
        with self._lock:
            return random.choice(self.usernames) if self.usernames else None


SEEN = Seen()


def sentence(n: int) -> str:
    return " ".join(random.choice(WORDS) for _ in range(n)).capitalize() + "."


class GraphQLUser(HttpUser):
    """Common plumbing: one POST /graphql, failures on HTTP or GraphQL errors."""

    abstract = True
    wait_time = between(0.5, 2.0)
    token: str | None = None

    def gql(
        self,
        name: str,
        query: str,
        variables: dict | None = None,
        check=None,
        operation: str | None = None,
    ) -> dict | None:
        """POSTs one operation; returns its `data`, or None after recording a failure.

        `name` labels the request in Locust's statistics and is also the operation name
        sent, unless `operation` names the document's operation instead. `check(data)` may
        return a message that turns a successful response into a failure.
        """
        headers = {
            "content-type": "application/json",
            "accept": "application/graphql-response+json, application/json",
        }
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        body = {"query": query, "operationName": operation or name, "variables": variables or {}}
        with self.client.post(
            "/graphql", json=body, headers=headers, name=name, catch_response=True
        ) as response:
            try:
                payload = response.json()
            except ValueError:
                response.failure(f"HTTP {response.status_code}: not JSON")
                return None
            errors = payload.get("errors") if isinstance(payload, dict) else None
            if errors:
                codes = sorted(
                    {str((e.get("extensions") or {}).get("code", "NO_CODE")) for e in errors}
                )
                response.failure(f"HTTP {response.status_code} GraphQL errors: {','.join(codes)}")
                return None
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return None
            data = payload.get("data")
            if data is None:
                response.failure("no data")
                return None
            problem = check(data) if check else None
            if problem:
                response.failure(problem)
                return None
            response.success()
            return data

    # Reads shared by every kind of user.

    def read_feed(self) -> None:
        data = self.gql("Feed", FEED, {"first": 20})
        if not data:
            return
        SEEN.add_posts(data["posts"]["nodes"])
        page = data["posts"]["pageInfo"]
        if page["hasNextPage"] and random.random() < 0.3:
            more = self.gql(
                "FeedNextPage",
                FEED,
                {"first": 20, "after": page["endCursor"]},
                operation="Feed",
            )
            if more:
                SEEN.add_posts(more["posts"]["nodes"])

    def read_post(self) -> None:
        post_id = SEEN.post_id()
        if post_id is None:
            return self.read_feed()
        # Every id comes from a feed of published posts: it must stay visible.
        self.gql(
            "Post",
            POST,
            {"id": post_id},
            check=lambda d: "published post not found" if d["post"] is None else None,
        )


class AnonymousReader(GraphQLUser):
    """A visitor who is not logged in: the public feed and pages."""

    weight = 6

    def on_start(self) -> None:
        self.read_feed()

    @task(6)
    def feed(self) -> None:
        self.read_feed()

    @task(3)
    def post(self) -> None:
        self.read_post()

    @task(1)
    def tags(self) -> None:
        self.gql("Tags", TAGS)

    @task(1)
    def author(self) -> None:
        username = SEEN.username()
        if username:
            self.gql("User", USER, {"username": username})


class Member(GraphQLUser):
    """A logged-in user: registers at start, then reads, comments and likes."""

    weight = 3

    def on_start(self) -> None:
        self.liked: set[str] = set()
        self.username = f"{USER_PREFIX}_{uuid.uuid4().hex[:20]}"
        data = self.gql(
            "Register",
            REGISTER,
            {
                "input": {
                    "username": self.username,
                    "email": f"{self.username}@loadtest.invalid",
                    "password": PASSWORD,
                    "displayName": f"Load test {self.username[-6:]}",
                }
            },
        )
        self.token = data["register"]["token"] if data else None
        self.read_feed()

    @task(4)
    def home(self) -> None:
        if not self.token:
            return
        data = self.gql("Home", VIEWER_HOME)
        if data:
            SEEN.add_posts(data["posts"]["nodes"])

    @task(3)
    def feed(self) -> None:
        self.read_feed()

    @task(2)
    def post(self) -> None:
        self.read_post()

    @task(2)
    def comment(self) -> None:
        post_id = SEEN.post_id()
        if self.token and post_id:
            self.gql("AddComment", ADD_COMMENT, {"postId": post_id, "body": sentence(12)})

    @task(2)
    def like(self) -> None:
        post_id = SEEN.post_id()
        if not (self.token and post_id):
            return
        if post_id in self.liked:
            if self.gql("Unlike", UNLIKE, {"postId": post_id}):
                self.liked.discard(post_id)
        elif self.gql("Like", LIKE, {"postId": post_id}):
            self.liked.add(post_id)

    @task(1)
    def publish(self) -> None:
        if not self.token:
            return
        tags = random.sample(TAG_NAMES, k=random.randint(1, 3))
        data = self.gql(
            "CreatePost",
            CREATE_POST,
            {
                "input": {
                    "title": sentence(6)[:200],
                    "body": "\n\n".join(sentence(30) for _ in range(3)),
                    "tags": tags,
                    "publish": True,
                }
            },
        )
        if data:
            SEEN.add_posts([{"id": data["createPost"]["id"], "tags": [{"name": t} for t in tags]}])


class ReturningMember(GraphQLUser):
    """A returning user: logs in (a password hash per login), then reads as itself."""

    weight = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        self.username = f"{USER_PREFIX}_{uuid.uuid4().hex[:20]}"
        self.gql(
            "Register",
            REGISTER,
            {
                "input": {
                    "username": self.username,
                    "email": f"{self.username}@loadtest.invalid",
                    "password": PASSWORD,
                    "displayName": f"Returning {self.username[-6:]}",
                }
            },
        )
        self.login()

    def login(self) -> None:
        self.token = None
        data = self.gql(
            "Login", LOGIN, {"input": {"usernameOrEmail": self.username, "password": PASSWORD}}
        )
        self.token = data["login"]["token"] if data else None

    @task(1)
    def log_in_again(self) -> None:
        self.login()

    @task(5)
    def home(self) -> None:
        if self.token:
            data = self.gql("Home", VIEWER_HOME)
            if data:
                SEEN.add_posts(data["posts"]["nodes"])

    @task(3)
    def post(self) -> None:
        self.read_post()


@events.quitting.add_listener
def _fail_on_errors(environment, **_kwargs) -> None:
    """Headless runs exit non-zero when any request failed (also the default), or none ran."""
    stats = environment.stats.total
    if stats.num_requests == 0:
        environment.process_exit_code = 1
    elif stats.num_failures > 0:
        environment.process_exit_code = 1
