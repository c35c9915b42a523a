-- Deterministic benchmark data set (no random(): every value is a function of the row number).
-- psql variables: users, posts, comments, tags, likes_per_user.
-- Run on a database freshly migrated by `gatehouse migrate`.
--
-- h(x) below is a 32-bit multiplicative hash: ((x * 2654435761) % 4294967296), so
-- h(x) / 4294967296.0 is a well-spread fraction in [0, 1).
\set ON_ERROR_STOP on
\timing on

BEGIN;
-- The rows are consistent by construction; skip the per-row foreign-key triggers during
-- the bulk insert (superuser only). CHECK constraints still apply.
SET LOCAL session_replication_role = replica;
SET LOCAL synchronous_commit = off;
SET LOCAL maintenance_work_mem = '256MB';
SET LOCAL work_mem = '64MB';

-- Users: user1 .. userN. The password hash is not a usable argon2 hash: benchmark writers
-- register their own accounts through the API.
INSERT INTO users (id, username, email, display_name, bio, password_hash, role, created_at)
SELECT i,
       'user' || i,
       'user' || i || '@bench.invalid',
       'User ' || i,
       CASE WHEN i % 3 = 0 THEN NULL ELSE 'Bio of user ' || i END,
       '!bench-no-login',
       'user',
       timestamptz '2024-01-01 00:00:00+00' + (i * interval '1 minute')
FROM generate_series(1, :users) AS i;

-- Tags: tag001 ..
INSERT INTO tags (id, name)
SELECT i, 'tag' || lpad(i::text, 3, '0') FROM generate_series(1, :tags) AS i;

-- Posts: every 10th is a draft (90% published); authors skewed towards low user ids
-- (author = 1 + floor(users * f^2)), publication times spread over the two years before
-- 2026-01-01; created a few hours before publication.
INSERT INTO posts (id, author_id, title, body, status, published_at, created_at, updated_at)
SELECT i,
       1 + floor(:users * power(((i::bigint * 2654435761) % 4294967296) / 4294967296.0, 2))::bigint,
       'Post ' || i || ' on tag' || lpad((1 + (i * 7) % :tags)::text, 3, '0'),
       'Body of post ' || i || '. Lorem ipsum dolor sit amet, consectetur adipiscing elit, '
         || 'sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad '
         || 'minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip.',
       CASE WHEN i % 10 = 0 THEN 'draft' ELSE 'published' END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE t.at END,
       t.at - interval '3 hours' - (i % 97) * interval '1 minute',
       t.at - interval '3 hours' - (i % 97) * interval '1 minute'
FROM generate_series(1, :posts) AS i,
     LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00'
                     - (((i::bigint * 3266489917 + 12345) % 4294967296) / 4294967296.0) * interval '730 days'
                     - i * interval '1 millisecond' AS at) t;

-- Post tags: three distinct tags per post.
INSERT INTO post_tags (post_id, tag_id)
SELECT p, 1 + ((((p::bigint * 2654435761) % 4294967296) % :tags) + k * 67) % :tags
FROM generate_series(1, :posts) AS p, generate_series(0, 2) AS k;

-- Comments on published posts only (ids with id % 10 <> 0), by any user, written
-- after the post was published.
INSERT INTO comments (id, post_id, author_id, body, created_at)
SELECT c.i, c.post_id,
       1 + ((c.i::bigint * 2246822519) % 4294967296) % :users,
       'Comment ' || c.i || ': nice post, thanks for writing it up.',
       p.published_at + (((c.i::bigint * 40503 + 977) % 65536) / 65536.0) * interval '30 days'
FROM (SELECT i,
             10 * (((i::bigint * 2654435761) % 4294967296) % (:posts / 10))
               + 1 + (((i::bigint * 3266489917) % 4294967296) / 16) % 9 AS post_id
      FROM generate_series(1, :comments) AS i) c
JOIN posts p ON p.id = c.post_id;

-- Likes: each user likes likes_per_user distinct published posts.
INSERT INTO post_likes (user_id, post_id, created_at)
SELECT u,
       10 * ((((u::bigint * 2654435761) % 4294967296) + j * 1009) % (:posts / 10)) + 1 + ((u + j) % 9),
       timestamptz '2026-01-01 00:00:00+00' - (u * 50 + j) * interval '1 minute'
FROM generate_series(1, :users) AS u, generate_series(0, :likes_per_user - 1) AS j;

-- Identity sequences continue after the loaded ids.
SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));
SELECT setval(pg_get_serial_sequence('posts', 'id'), (SELECT max(id) FROM posts));
SELECT setval(pg_get_serial_sequence('comments', 'id'), (SELECT max(id) FROM comments));
SELECT setval(pg_get_serial_sequence('tags', 'id'), (SELECT max(id) FROM tags));
COMMIT;

-- Autovacuum is off on these machines: set hint bits and the visibility map (index-only
-- scans) and statistics now, then flush dirty buffers so no checkpoint runs during timing.
VACUUM (ANALYZE);
CHECKPOINT;
