// Gatehouse load test for k6: the same traffic mix as locustfile.py.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8000 loadtest/k6.js
//   k6 run -e BASE_URL=http://127.0.0.1:8000 -e VUS=50 -e RAMP=1m -e DURATION=10m loadtest/k6.js
//
// Scenarios: anonymous readers (feed, next page, post with comments, tags, author pages) and
// members who register an account of their own at their first iteration (one per VU),
// then read as themselves, comment, like/unlike and publish. A response counts as failed when
// the status is not 200 or the body carries GraphQL `errors`; the run fails (thresholds) when
// more than 1% of requests fail.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Rate, Counter } from 'k6/metrics';
import exec from 'k6/execution';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const VUS = parseInt(__ENV.VUS || '20', 10);
const DURATION = __ENV.DURATION || '1m';
const RAMP = __ENV.RAMP || '30s';
const PASSWORD = __ENV.LOADTEST_PASSWORD || 'load-test-password';

const graphqlErrors = new Rate('graphql_errors');
const errorCodes = new Counter('graphql_error_codes');

export const options = {
  scenarios: {
    anonymous: {
      executor: 'ramping-vus',
      exec: 'anonymous',
      startVUs: 1,
      stages: [
        { duration: RAMP, target: Math.max(1, Math.round(VUS * 0.6)) },
        { duration: DURATION, target: Math.max(1, Math.round(VUS * 0.6)) },
        { duration: '10s', target: 0 },
      ],
    },
    members: {
      executor: 'ramping-vus',
      exec: 'member',
      startVUs: 1,
      stages: [
        { duration: RAMP, target: Math.max(1, Math.round(VUS * 0.4)) },
        { duration: DURATION, target: Math.max(1, Math.round(VUS * 0.4)) },
        { duration: '10s', target: 0 },
      ],
    },
  },
  thresholds: {
    graphql_errors: ['rate<0.01'],
    http_req_failed: ['rate<0.01'],
    'http_req_duration{op:Feed}': ['p(95)<500'],
  },
};

const FEED = `query Feed($first: Int!, $after: String) {
  posts(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id title publishedAt author { username displayName } tags { name } likeCount commentCount }
  }
}`;
const POST = `query Post($id: ID!) {
  post(id: $id) {
    id title body author { username displayName postCount } tags { name }
    likeCount commentCount viewerHasLiked
    comments(first: 10) { nodes { id body createdAt author { username } } }
  }
}`;
const TAGS = `query Tags { tags(first: 10) { nodes { name posts(first: 5) { nodes { id title author { username } } } } } }`;
const USER = `query User($username: String!) {
  user(username: $username) { username displayName postCount posts(first: 5) { nodes { id title likeCount } } }
}`;
const HOME = `query Home {
  viewer { id username postCount posts(first: 5) { nodes { id title status } } }
  posts(first: 10) { nodes { id title author { username } likeCount commentCount viewerHasLiked } }
  rateLimit { remaining }
}`;
const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { token user { id } } }`;
const ADD_COMMENT = `mutation AddComment($postId: ID!, $body: String!) { addComment(postId: $postId, body: $body) { id } }`;
const LIKE = `mutation Like($postId: ID!) { likePost(postId: $postId) { id likeCount viewerHasLiked } }`;
const UNLIKE = `mutation Unlike($postId: ID!) { unlikePost(postId: $postId) { id likeCount viewerHasLiked } }`;
const CREATE_POST = `mutation CreatePost($input: CreatePostInput!) { createPost(input: $input) { id } }`;

const TAG_NAMES = ['rust', 'graphql', 'kubernetes', 'postgres', 'performance', 'frontend', 'ops'];

// Per-VU state (each VU is its own JS runtime).
let postIds = [];
let usernames = [];
let token = null;
let failuresLogged = 0;
const liked = new Set();

function pick(list) {
  return list.length ? list[Math.floor(Math.random() * list.length)] : null;
}

// op labels the request (k6 tag) and is the operation name sent, unless operationName is given.
function gql(op, query, variables, auth, operationName) {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
  };
  if (auth) headers.authorization = `Bearer ${auth}`;
  const res = http.post(
    `${BASE_URL}/graphql`,
    JSON.stringify({ query, operationName: operationName || op, variables: variables || {} }),
    { headers, tags: { op, name: op } },
  );
  let body = null;
  try {
    body = res.json();
  } catch (_) {
    body = null;
  }
  const errors = body && body.errors ? body.errors : null;
  if (errors) {
    for (const e of errors) {
      errorCodes.add(1, { op, code: (e.extensions && e.extensions.code) || 'NO_CODE' });
    }
  }
  const ok = check(res, {
    [`${op}: status 200`]: (r) => r.status === 200,
    [`${op}: no GraphQL errors`]: () => body !== null && !errors && body.data != null,
  });
  graphqlErrors.add(!ok, { op });
  if (!ok && failuresLogged < 5) {
    failuresLogged += 1;
    console.warn(`${op} failed: HTTP ${res.status} ${String(res.body).slice(0, 300)}`);
  }
  return ok ? body.data : null;
}

function remember(nodes) {
  for (const n of nodes) {
    postIds.push(n.id);
    if (n.author && n.author.username) usernames.push(n.author.username);
  }
  if (postIds.length > 300) postIds = postIds.slice(-300);
  if (usernames.length > 100) usernames = usernames.slice(-100);
}

function readFeed(auth) {
  const data = gql('Feed', FEED, { first: 20 }, auth);
  if (!data) return;
  remember(data.posts.nodes);
  if (data.posts.pageInfo.hasNextPage && Math.random() < 0.3) {
    const more = gql('FeedNextPage', FEED, { first: 20, after: data.posts.pageInfo.endCursor }, auth, 'Feed');
    if (more) remember(more.posts.nodes);
  }
}

function readPost(auth) {
  const id = pick(postIds);
  if (!id) return readFeed(auth);
  const data = gql('Post', POST, { id }, auth);
  check(data, { 'Post: published post visible': (d) => d === null || d.post !== null });
}

function words(n) {
  const w = 'lorem ipsum dolor sit amet graphql rust cache replica tempor magna'.split(' ');
  return Array.from({ length: n }, () => pick(w)).join(' ');
}

export function anonymous() {
  const r = Math.random();
  if (r < 0.55) readFeed(null);
  else if (r < 0.82) readPost(null);
  else if (r < 0.91) gql('Tags', TAGS, {}, null);
  else {
    const username = pick(usernames);
    if (username) gql('User', USER, { username }, null);
    else readFeed(null);
  }
  sleep(0.5 + Math.random() * 1.5);
}

export function member() {
  if (!token) {
    const username = `lt_k6_${exec.vu.idInTest}_${Math.random().toString(36).slice(2, 10)}`;
    const data = gql('Register', REGISTER, {
      input: { username, email: `${username}@loadtest.invalid`, password: PASSWORD, displayName: `k6 ${username.slice(-6)}` },
    });
    if (!data) {
      sleep(1);
      return;
    }
    token = data.register.token;
    readFeed(token);
  }
  const r = Math.random();
  if (r < 0.3) {
    const data = gql('Home', HOME, {}, token);
    if (data) remember(data.posts.nodes);
  } else if (r < 0.5) readFeed(token);
  else if (r < 0.65) readPost(token);
  else if (r < 0.8) {
    const id = pick(postIds);
    if (id) gql('AddComment', ADD_COMMENT, { postId: id, body: words(12) }, token);
  } else if (r < 0.93) {
    const id = pick(postIds);
    if (id && liked.has(id)) {
      if (gql('Unlike', UNLIKE, { postId: id }, token)) liked.delete(id);
    } else if (id && gql('Like', LIKE, { postId: id }, token)) liked.add(id);
  } else {
    const tags = TAG_NAMES.filter(() => Math.random() < 0.3).slice(0, 3);
    const data = gql('CreatePost', CREATE_POST, {
      input: { title: words(6), body: words(80), tags: tags.length ? tags : ['rust'], publish: true },
    }, token);
    if (data) postIds.push(data.createPost.id);
  }
  sleep(0.5 + Math.random() * 1.5);
}
