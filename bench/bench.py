#!/usr/bin/env python3
"""Drives the Gatehouse benchmark once the servers are up (bench/run.sh starts them).

Steps: create writer accounts, verify that every operation answers without `errors` and
that Gatehouse and PostGraphile return the same data, then for each operation and system
run wrk (warm-up, then the timed run) while sampling the server's RSS and counting SQL
statements with pg_stat_statements; print one table and write bench/results/latest.md
and latest.json.

Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import subprocess
import sys
import statistics
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
QUERIES = BENCH / "queries"
LUA = BENCH / "lua" / "graphql.lua"

READ_OPS = ["feed", "deep", "single", "user_page"]
OPS = READ_OPS + ["write"]

# wrk threads; writer accounts per thread and phase (warm-up / timed), see graphql.lua.
THREADS = 2
WRITERS_PER_THREAD = 8


def writers_per_system(rounds: int) -> int:
    """Writer accounts per system: a set per thread for each round's warm-up and timed run
    (a like is never repeated), and one for verification (the last)."""
    return 2 * rounds * THREADS * WRITERS_PER_THREAD + 1


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


# ----------------------------------------------------------------------------- helpers


def gid(kind: str, n: int) -> str:
    return base64.b64encode(f"{kind}:{n}".encode()).decode()


def ungid(value: str) -> int:
    kind, _, n = base64.b64decode(value).decode().partition(":")
    return int(n)


def ts(value: str | None) -> int | None:
    """An RFC 3339 timestamp as integer microseconds since the epoch (format-neutral)."""
    if value is None:
        return None
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (t - EPOCH) // dt.timedelta(microseconds=1)


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def post_raw(url: str, body: dict | str, headers: dict | None = None, timeout=60) -> bytes:
    data = body if isinstance(body, str) else json.dumps(body)
    req = urllib.request.Request(
        url,
        data=data.encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json",
                 **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        raise RuntimeError(f"HTTP {e.code} from {url}: {text[:500]}") from None


def post_json(url: str, body: dict | str, headers: dict | None = None, timeout=60) -> dict:
    return json.loads(post_raw(url, body, headers, timeout))


def psql(db_url: str, sql: str) -> str:
    out = subprocess.run(
        ["psql", db_url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def query_text(system: str, op: str) -> str:
    return (QUERIES / system / f"{op}.graphql").read_text()


# ----------------------------------------------------------------------------- systems


class System:
    def __init__(self, key, label, url, pid, schema=None):
        self.key, self.label, self.url, self.pid = key, label, url, pid
        self.schema = schema or key  # whose queries it answers (bench/queries/<schema>)


def read_body(system: str, op: str, params: dict) -> dict:
    """The request body of a read operation for one system."""
    variables: dict = {}
    if op == "single":
        variables = {"id": gid("Post", params["post_id"]) if system == "gatehouse"
                     else str(params["post_id"])}
    elif op == "user_page":
        variables = {"username": params["username"]}
    return {"query": query_text(system, op), "variables": variables}


# Normalisers: both systems' answers mapped to one shape (ids as integers, timestamps as
# microseconds, tag sets sorted: Gatehouse lists tags by name, PostGraphile by key).


def norm_gatehouse(op: str, data: dict):
    if op == "feed":
        return [{
            "id": ungid(p["id"]), "title": p["title"], "publishedAt": ts(p["publishedAt"]),
            "author": [p["author"]["username"], p["author"]["displayName"]],
            "tags": sorted(t["name"] for t in p["tags"]),
            "commentCount": p["commentCount"], "likeCount": p["likeCount"],
        } for p in data["posts"]["nodes"]]
    if op == "deep":
        return [{
            "id": ungid(p["id"]), "title": p["title"],
            "author": p["author"]["username"],
            "authorPosts": [[ungid(q["id"]), q["title"]] for q in p["author"]["posts"]["nodes"]],
            "comments": [[c["body"], ts(c["createdAt"]), c["author"]["username"]]
                         for c in p["comments"]["nodes"]],
        } for p in data["posts"]["nodes"]]
    if op == "single":
        p = data["post"]
        return {"id": ungid(p["id"]), "title": p["title"], "body": p["body"],
                "publishedAt": ts(p["publishedAt"]),
                "author": [p["author"]["username"], p["author"]["displayName"]]}
    if op == "user_page":
        u = data["user"]
        return {"id": ungid(u["id"]), "username": u["username"],
                "displayName": u["displayName"], "bio": u["bio"],
                "posts": [[ungid(p["id"]), p["title"], ts(p["publishedAt"]), p["commentCount"]]
                          for p in u["posts"]["nodes"]]}
    raise ValueError(op)


def norm_postgraphile(op: str, data: dict):
    if op == "feed":
        return [{
            "id": int(p["rowId"]), "title": p["title"], "publishedAt": ts(p["publishedAt"]),
            "author": [p["userByAuthorId"]["username"], p["userByAuthorId"]["displayName"]],
            "tags": sorted(t["tagByTagId"]["name"] for t in p["postTagsByPostId"]["nodes"]),
            "commentCount": p["commentsByPostId"]["totalCount"],
            "likeCount": p["postLikesByPostId"]["totalCount"],
        } for p in data["allPosts"]["nodes"]]
    if op == "deep":
        return [{
            "id": int(p["rowId"]), "title": p["title"],
            "author": p["userByAuthorId"]["username"],
            "authorPosts": [[int(q["rowId"]), q["title"]]
                            for q in p["userByAuthorId"]["postsByAuthorId"]["nodes"]],
            "comments": [[c["body"], ts(c["createdAt"]), c["userByAuthorId"]["username"]]
                         for c in p["commentsByPostId"]["nodes"]],
        } for p in data["allPosts"]["nodes"]]
    if op == "single":
        p = data["postByRowId"]
        return {"id": int(p["rowId"]), "title": p["title"], "body": p["body"],
                "publishedAt": ts(p["publishedAt"]),
                "author": [p["userByAuthorId"]["username"], p["userByAuthorId"]["displayName"]]}
    if op == "user_page":
        u = data["userByUsername"]
        return {"id": int(u["rowId"]), "username": u["username"],
                "displayName": u["displayName"], "bio": u["bio"],
                "posts": [[int(p["rowId"]), p["title"], ts(p["publishedAt"]),
                           p["commentsByPostId"]["totalCount"]]
                          for p in u["postsByAuthorId"]["nodes"]]}
    raise ValueError(op)


def first_difference(a, b, path="$"):
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: only on one side"
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


# ----------------------------------------------------------------------------- writers


def lua_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def create_writers(args, gh: System, pg: System) -> dict:
    """Gatehouse writers register through the API (their tokens come from `register`);
    PostGraphile's schema has no auth, so its writers are rows inserted directly."""
    run = f"{os.getpid() % 100000}{int(time.time()) % 100000}"
    gh_writers = []
    query = ("mutation Register($input: RegisterInput!) { register(input: $input) "
             "{ token user { id } } }")
    for i in range(writers_per_system(args.rounds)):
        name = f"ghw{run}_{i}"
        r = post_json(gh.url, {"query": query, "variables": {"input": {
            "username": name, "email": f"{name}@bench.invalid",
            "password": "bench-password-123", "displayName": f"Gatehouse writer {i}"}}})
        if r.get("errors"):
            raise RuntimeError(f"register failed: {r['errors']}")
        gh_writers.append({"token": r["data"]["register"]["token"],
                           "id": ungid(r["data"]["register"]["user"]["id"])})
    # One `login` too, so both token paths are exercised.
    r = post_json(gh.url, {"query": "mutation { login(input: {usernameOrEmail: "
                           f"\"ghw{run}_0\", password: \"bench-password-123\"}}) {{ token }} }}"})
    if r.get("errors"):
        raise RuntimeError(f"login failed: {r['errors']}")
    gh_writers[0]["token"] = r["data"]["login"]["token"]
    ids = psql(args.db_url, (
        "INSERT INTO users (username, email, display_name, password_hash) "
        f"SELECT 'pgw{run}_' || i, 'pgw{run}_' || i || '@bench.invalid', 'PostGraphile writer ' || i, '!' "
        f"FROM generate_series(0, {writers_per_system(args.rounds) - 1}) i RETURNING id"))
    pg_writers = [{"id": int(x)} for x in ids.split()]
    return {"gatehouse": gh_writers, "postgraphile": pg_writers}


def write_conf(system: str, writers: list, decades: int, path: Path) -> None:
    cq = lua_str(json.dumps(query_text(system, "write_comment")))
    lq = lua_str(json.dumps(query_text(system, "write_like")))
    rows = ",\n".join(
        "{" + (f"token={lua_str(w['token'])}, " if "token" in w else "") + f"id={w['id']}" + "}"
        for w in writers)
    if system == "gatehouse":
        comment = ('return \'{"query":\' .. CQ .. \',"variables":{"postId":"\' .. b64("Post:" .. post)'
                   ' .. \'","body":"bench comment \' .. n .. \'"}}\'')
        like = ('return \'{"query":\' .. LQ .. \',"variables":{"postId":"\' .. b64("Post:" .. post)'
                ' .. \'"}}\'')
    else:
        comment = ('return \'{"query":\' .. CQ .. \',"variables":{"postId":"\' .. post .. '
                   '\'","authorId":"\' .. w.id .. \'","body":"bench comment \' .. n .. \'"}}\'')
        like = ('return \'{"query":\' .. LQ .. \',"variables":{"userId":"\' .. w.id .. '
                '\'","postId":"\' .. post .. \'"}}\'')
    path.write_text(f"""-- generated by bench.py for {system}
local CQ = {cq}
local LQ = {lq}
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  local out = {{}}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    local function ch(k) return chars:sub(k + 1, k + 1) end
    out[#out + 1] = ch(math.floor(v / 262144) % 64) .. ch(math.floor(v / 4096) % 64)
      .. (b and ch(math.floor(v / 64) % 64) or "=") .. (c and ch(v % 64) or "=")
  end
  return table.concat(out)
end
return {{
  path = "/graphql",
  decades = {decades},
  threads = {THREADS},
  per_thread = {WRITERS_PER_THREAD},
  writers = {{
{rows}
  }},
  comment = function(post, w, n) {comment} end,
  like = function(post, w, n) {like} end,
}}
""")


def verify_writes(system: System, writers: list, params: dict) -> None:
    w = writers[-1]  # the verification writer
    post = params["post_id"]
    if system.key == "gatehouse":
        h = {"Authorization": f"Bearer {w['token']}"}
        bodies = [
            {"query": query_text("gatehouse", "write_comment"),
             "variables": {"postId": gid("Post", post), "body": "verification comment"}},
            {"query": query_text("gatehouse", "write_like"),
             "variables": {"postId": gid("Post", post)}},
        ]
    else:
        h = {}
        bodies = [
            {"query": query_text("postgraphile", "write_comment"),
             "variables": {"postId": str(post), "authorId": str(w["id"]),
                           "body": "verification comment"}},
            {"query": query_text("postgraphile", "write_like"),
             "variables": {"userId": str(w["id"]), "postId": str(post)}},
        ]
    for b in bodies:
        r = post_json(system.url, b, h)
        if r.get("errors") or not r.get("data"):
            raise RuntimeError(f"{system.label} write verification failed: {json.dumps(r)[:500]}")


# ----------------------------------------------------------------------------- measuring


class RssSampler(threading.Thread):
    def __init__(self, pid: int, interval=0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[int] = []
        self.stop_flag = threading.Event()

    def read(self) -> int | None:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])  # KiB
        except OSError:
            return None
        return None

    def run(self):
        while not self.stop_flag.is_set():
            v = self.read()
            if v is not None:
                self.samples.append(v)
            self.stop_flag.wait(self.interval)

    def stop(self):
        self.stop_flag.set()
        self.join()
        if not self.samples:
            return None
        return {"peak_mib": max(self.samples) / 1024,
                "median_mib": sorted(self.samples)[len(self.samples) // 2] / 1024}


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def postgres_cpu_seconds() -> float | None:
    """User + system CPU time PostgreSQL has used so far on this machine: every live
    `postgres` process, plus what exited backends left in the postmaster's totals of its
    waited-for children (pools open connections during a run)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        if head.split("(", 1)[-1] != "postgres":
            continue
        fields = rest.split()
        procs[int(entry)] = (int(fields[1]), [int(x) for x in fields[11:15]])
    if not procs:
        return None
    total = 0
    for ppid, (utime, stime, cutime, cstime) in procs.values():
        total += utime + stime
        if ppid not in procs:  # the postmaster
            total += cutime + cstime
    return total / tick


def run_wrk(url: str, duration: float, out: Path, env_extra: dict, timeout_s: int) -> dict:
    env = dict(os.environ, BENCH_OUT=str(out), **env_extra)
    cmd = ["wrk", f"-t{THREADS}", f"-c{ARGS.concurrency}", f"-d{max(1, round(duration))}s",
           f"--timeout={timeout_s}s", "-s", str(LUA), url]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr}{proc.stdout}")
    return json.loads(out.read_text())


def checkpoint(admin_url: str) -> None:
    """Flushes PostgreSQL's dirty pages now, which also restarts its checkpoint timer
    (`checkpoint_timeout`, 5 min by default): no timed checkpoint, whose writes and fsyncs
    can stall commits, falls inside the warm-up and timed run that follow (one was in
    progress during a write run whose p99 reached 181 ms, 26 ms in the run before).
    Needs a superuser (or pg_checkpoint); without one the run goes on, with a warning."""
    try:
        psql(admin_url, "CHECKPOINT")
    except subprocess.CalledProcessError as e:
        log(f"warning: CHECKPOINT refused ({e.stderr.strip()}); a timed checkpoint may fall inside a run")


def pgss_reset(admin_url: str) -> None:
    psql(admin_url, "SELECT pg_stat_statements_reset()")


def pgss_collect(admin_url: str, db: str) -> tuple[int, list]:
    total = psql(admin_url, (
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d "
        f"ON d.oid = s.dbid WHERE d.datname = '{db}'"))
    top = psql(admin_url, (
        "SELECT coalesce(json_agg(t), '[]') FROM (SELECT calls, round(mean_exec_time::numeric, 3) AS mean_ms, "
        "round(total_exec_time::numeric, 1) AS total_ms, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 600) AS query "
        "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
        f"WHERE d.datname = '{db}' ORDER BY calls DESC, total_exec_time DESC LIMIT 12) t"))
    return int(total), json.loads(top)


def cache_lookups(graphql_url: str) -> dict:
    """`gatehouse_cache_requests_total` of a Gatehouse, by layer and result."""
    url = graphql_url.rsplit("/graphql", 1)[0] + "/metrics"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
    except OSError as e:
        log(f"could not scrape {url}: {e}")
        return {}
    out: dict = {}
    for line in text.splitlines():
        m = re.match(r'gatehouse_cache_requests_total\{(.*)\} ([0-9.e+]+)$', line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        layer = out.setdefault(labels.get("layer", "?"), {})
        layer[labels.get("result", "?")] = layer.get(labels.get("result", "?"), 0) + float(m.group(2))
    return out


def measure_same_body_ceiling(cached: System, op: str, request: Path, args) -> dict:
    """The ceiling answering the very bytes the cached Gatehouse answers `op` with (a
    process of its own on --ceiling-same-port), measured like any other row."""
    body = args.out / "raw" / f"ceiling-same-{op}.json"
    body.write_bytes(post_raw(cached.url, request.read_text()))
    url = f"http://127.0.0.1:{args.ceiling_same_port}/"
    proc = subprocess.Popen([args.ceiling_bin, f"127.0.0.1:{args.ceiling_same_port}", str(body)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.read() == body.read_bytes():
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"the same-body ceiling did not answer at {url}")
        system = System("ceiling_same", "axum ceiling, same body", url, proc.pid)
        env = {"BENCH_MODE": "static", "BENCH_CHECK_ERRORS": "1", "BENCH_BODY_FILE": str(request)}
        return measure(system, op, env, args)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def measure(system: System, op: str, env_extra: dict, args, duration: float | None = None,
            tag_suffix: str = "", phase: int = 0) -> dict:
    """One warm-up and one timed wrk run. `phase` numbers the run among others of the same
    system (the write script's warm-up takes writer set 2 × phase, the timed run the next)."""
    duration = args.duration if duration is None else duration
    tag = f"{op}-{system.key}{tag_suffix}"
    checkpoint(args.admin_url)
    log(f"{tag}: warm-up {args.warmup}s")
    run_wrk(system.url, args.warmup, args.out / "raw" / f"{tag}-warmup.json",
            {**env_extra, "BENCH_PHASE": str(2 * phase)}, args.wrk_timeout)
    if args.pgss:
        pgss_reset(args.admin_url)
    sampler = RssSampler(system.pid)
    cpu_before = cpu_seconds(system.pid)
    pg_before = postgres_cpu_seconds()
    sampler.start()
    log(f"{tag}: timed run {duration}s at concurrency {args.concurrency}")
    res = run_wrk(system.url, duration, args.out / "raw" / f"{tag}.json",
                  {**env_extra, "BENCH_PHASE": str(2 * phase + 1)}, args.wrk_timeout)
    rss = sampler.stop()
    cpu_after = cpu_seconds(system.pid)
    pg_after = postgres_cpu_seconds()
    result = {"op": op, "system": system.key, "wrk": res, "rss": rss}
    if cpu_before is not None and cpu_after is not None and res["requests"]:
        result["cpu_ms_per_request"] = (cpu_after - cpu_before) * 1000 / res["requests"]
    if pg_before is not None and pg_after is not None and res["requests"]:
        result["pg_cpu_ms_per_request"] = (pg_after - pg_before) * 1000 / res["requests"]
    result["rps"] = res["requests"] / (res["duration_us"] / 1e6) if res["duration_us"] else 0
    if args.pgss and not system.key.startswith("ceiling"):
        total, top = pgss_collect(args.admin_url, args.db)
        result["sql_statements"] = total
        result["sql_per_request"] = total / res["requests"] if res["requests"] else None
        result["top_statements"] = top
    bad = res["status_errors"] + res["timeouts"] + res["connect_errors"] + res["read_errors"] \
        + res["graphql_errors"]
    result["failed_requests"] = bad
    log(f"{tag}: {result['rps']:.0f} rps, p50 {res['p50_us'] / 1000:.2f} ms, "
        f"p99 {res['p99_us'] / 1000:.2f} ms, rss {rss and round(rss['peak_mib'], 1)} MiB, "
        f"sql/req {result.get('sql_per_request') and round(result['sql_per_request'], 2)}, "
        f"cpu {result.get('cpu_ms_per_request') and round(result['cpu_ms_per_request'], 3)} ms/req, "
        f"postgres cpu {result.get('pg_cpu_ms_per_request') and round(result['pg_cpu_ms_per_request'], 3)} ms/req, "
        f"failed {bad}" + (f" (e.g. {res['sample_error'][:200]})" if res["sample_error"] else ""))
    return result


def merge_rounds(parts: list[dict]) -> dict:
    """One row from the rounds of one system: requests, time, CPU and statements summed
    (so rps and the per-request columns are over all rounds), p50 and p99 the median of the
    rounds', RSS the highest; `round_rps` keeps each round's rps."""
    wrk = {k: sum(p["wrk"][k] for p in parts) for k in
           ("requests", "duration_us", "bytes", "connect_errors", "read_errors", "write_errors",
            "status_errors", "timeouts", "graphql_errors")}
    for k in ("p50_us", "p90_us", "p99_us", "mean_us"):
        wrk[k] = statistics.median(p["wrk"][k] for p in parts)
    wrk["max_us"] = max(p["wrk"]["max_us"] for p in parts)
    wrk["sample_error"] = next((p["wrk"]["sample_error"] for p in parts
                                if p["wrk"]["sample_error"]), None)
    rss = [p["rss"] for p in parts if p["rss"]]
    merged = {"op": parts[0]["op"], "system": parts[0]["system"], "wrk": wrk,
              "rss": max(rss, key=lambda r: r["peak_mib"]) if rss else None,
              "rps": wrk["requests"] / (wrk["duration_us"] / 1e6) if wrk["duration_us"] else 0,
              "round_rps": [p["rps"] for p in parts],
              "failed_requests": sum(p["failed_requests"] for p in parts)}
    for key in ("cpu_ms_per_request", "pg_cpu_ms_per_request"):
        if all(key in p for p in parts) and wrk["requests"]:
            merged[key] = sum(p[key] * p["wrk"]["requests"] for p in parts) / wrk["requests"]
    if all("sql_statements" in p for p in parts):
        merged["sql_statements"] = sum(p["sql_statements"] for p in parts)
        merged["sql_per_request"] = (merged["sql_statements"] / wrk["requests"]
                                     if wrk["requests"] else None)
        merged["top_statements"] = parts[-1].get("top_statements")
    return merged


def measure_alternating(pair: tuple, op: str, envs: dict, args) -> list[dict]:
    """Gatehouse and PostGraphile in alternating rounds (A B, B A, A B, …) of
    duration / rounds seconds each: this machine's speed drifts by tens of percent within
    minutes, and two back-to-back 15-second runs compared two different machines. Each
    system's rounds merge into one row ([`merge_rounds`]); the per-round ratios show the
    drift."""
    rounds = max(1, args.rounds)
    parts = {s.key: [] for s in pair}
    for i in range(rounds):
        order = pair if i % 2 == 0 else tuple(reversed(pair))
        for s in order:
            parts[s.key].append(measure(s, op, envs[s.key], args, args.duration / rounds,
                                        f"-round{i + 1}", phase=i))
    return [merge_rounds(parts[s.key]) for s in pair]


# ----------------------------------------------------------------------------- report


def fmt(v, spec=".0f", na="—"):
    return na if v is None else format(v, spec)


def ratio(a, b):
    return None if not a or not b else a / b


def idle_text(meta: dict) -> str:
    idle = meta.get("idle_rss_mib") or {}
    names = {"gatehouse": "Gatehouse", "gatehouse_cached": "Gatehouse (cached)",
             "postgraphile": "PostGraphile", "ceiling": "ceiling"}
    return ", ".join(f"{names[k]} {v} MiB" for k, v in idle.items() if v is not None) or "n/a"


def render(results: dict, meta: dict) -> str:
    by = {(r["op"], r["system"]): r for r in results["runs"]}
    ceiling = by.get(("ceiling", "ceiling"))
    lines = []
    lines.append(f"# Gatehouse benchmark — {meta['when']} (Gatehouse {meta.get('gatehouse_rev', '?')})")
    lines.append("")
    lines.append(
        f"Scale `{meta['scale']}` ({meta['counts']}), loaded in {meta['load_seconds']:.1f} s. "
        f"wrk, {THREADS} threads, concurrency {meta['concurrency']}, {meta['duration']} s per run "
        f"after a {meta['warmup']} s warm-up; Gatehouse (uncached) and PostGraphile in "
        f"{meta.get('rounds', 1)} alternating rounds of {meta['duration']}/{meta.get('rounds', 1)} s "
        f"each (first one, then the other, then the other first: the machine's speed drifts "
        f"within minutes), their columns over all rounds (p50 and p99 the rounds' median), "
        f"the rps ratio of each round in brackets; PostgreSQL {meta['pg_version']} and every server on "
        f"the same {meta['cores']} cores. Peer: PostGraphile {meta['postgraphile']} on Node "
        f"{meta['node']}. RSS is the peak VmRSS sampled every 0.2 s during the timed run "
        f"(idle after start-up: {idle_text(meta)}). "
        f"SQL/req counts every statement PostgreSQL ran for the database during the timed run "
        f"(pg_stat_statements, BEGIN/COMMIT included) divided by completed requests. CPU ms/req "
        f"is the server process's own user+system CPU time (PostgreSQL's not included) divided "
        f"by completed requests: the least noisy column on a shared machine. PG CPU ms/req is "
        f"PostgreSQL's (every postgres process) over the same run: the two cores serve both, "
        f"so their sum is what bounds rps.")
    lines.append("")
    lines.append("| op | system | rps | p50 ms | p99 ms | SQL/req | RSS MiB | CPU ms/req | PG CPU ms/req | Gatehouse/PostGraphile | Gatehouse/ceiling |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for op in OPS:
        gh, pg = by.get((op, "gatehouse")), by.get((op, "postgraphile"))
        if not gh and not pg:
            continue

        def row(r, label, rat_pg="", rat_ceil=""):
            w = r["wrk"]
            failed = f" ⚠ {r['failed_requests']} failed" if r["failed_requests"] else ""
            return (f"| {op} | {label}{failed} | {fmt(r['rps'])} | {fmt(w['p50_us'] / 1000, '.2f')} | "
                    f"{fmt(w['p99_us'] / 1000, '.2f')} | {fmt(r.get('sql_per_request'), '.2f')} | "
                    f"{fmt(r['rss'] and r['rss']['peak_mib'], '.1f')} | {fmt(r.get('cpu_ms_per_request'), '.2f')} | "
                    f"{fmt(r.get('pg_cpu_ms_per_request'), '.2f')} | {rat_pg} | {rat_ceil} |")

        # The ceiling run next to this operation's cached run, else the final one.
        op_ceiling = by.get((op, "ceiling")) or ceiling
        if gh:
            rp = ""
            if pg:
                rr = ratio(gh["rps"], pg["rps"])
                p99 = ratio(gh["wrk"]["p99_us"], pg["wrk"]["p99_us"])
                mem = ratio(gh["rss"] and gh["rss"]["peak_mib"], pg["rss"] and pg["rss"]["peak_mib"])
                rp = f"rps {fmt(rr, '.2f')}×, p99 {fmt(p99, '.2f')}×, RSS {fmt(mem, '.2f')}×"
                rounds = list(zip(gh.get("round_rps", []), pg.get("round_rps", [])))
                if len(rounds) > 1:
                    rp += " (rounds " + " / ".join(f"{fmt(ratio(a, b), '.2f')}×" for a, b in rounds) + ")"
            rc = f"rps {fmt(ratio(gh['rps'], op_ceiling['rps']), '.3f')}×" if op_ceiling else ""
            lines.append(row(gh, "Gatehouse (uncached)", rp, rc))
        ghc = by.get((op, "gatehouse_cached"))
        if ghc:
            rp = ""
            if pg:
                rp = (f"rps {fmt(ratio(ghc['rps'], pg['rps']), '.2f')}×, "
                      f"p99 {fmt(ratio(ghc['wrk']['p99_us'], pg['wrk']['p99_us']), '.2f')}×")
            rc = f"rps {fmt(ratio(ghc['rps'], op_ceiling['rps']), '.3f')}×" if op_ceiling else ""
            same = by.get((op, "ceiling_same"))
            if same:
                rc += f"; same body: {fmt(ratio(ghc['rps'], same['rps']), '.3f')}×"
            lines.append(row(ghc, "Gatehouse (cached)", rp, rc))
        if by.get((op, "ceiling")):
            lines.append(row(by[(op, "ceiling")], "axum ceiling, right after"))
        if by.get((op, "ceiling_same")):
            lines.append(row(by[(op, "ceiling_same")], "axum ceiling, same body as cached"))
        if pg:
            lines.append(row(pg, "PostGraphile"))
    if ceiling:
        w = ceiling["wrk"]
        lines.append(f"| any | axum ceiling (fixed JSON), last | {fmt(ceiling['rps'])} | "
                     f"{fmt(w['p50_us'] / 1000, '.2f')} | {fmt(w['p99_us'] / 1000, '.2f')} | 0 | "
                     f"{fmt(ceiling['rss'] and ceiling['rss']['peak_mib'], '.1f')} | "
                     f"{fmt(ceiling.get('cpu_ms_per_request'), '.3f')} | — | | |")
    lookups = meta.get("cache_lookups") or {}
    if lookups:
        parts = []
        for layer, counts in sorted(lookups.items()):
            total = counts.get("hit", 0) + counts.get("miss", 0)
            parts.append(f"{layer} {counts.get('hit', 0):.0f}/{total:.0f} hits"
                         f" ({fmt(ratio(counts.get('hit', 0), total), '.1%')})")
        lines.append("")
        lines.append("Cache lookups on the cached Gatehouse over the whole run (warm-ups included): "
                     + ", ".join(parts) + ".")
    lines.append("")
    lines.append("Notes: Gatehouse (uncached) runs with `GATEHOUSE_ENTITY_CACHE=false "
                 "GATEHOUSE_RESPONSE_CACHE=false`; Gatehouse (cached) is a second process on the "
                 "same database and Redis with both caches on (their default), every read an "
                 "anonymous query its response cache answers once warm. `write` alternates `addComment` and `likePost` (every like a new row). "
                 "Gatehouse runs them under JWTs from its `register`/`login` mutations; the "
                 "PostGraphile schema has no auth, so its write is `createComment` / "
                 "`createPostLike` with the author and user ids in the input (no token check, no "
                 "visibility check). PostGraphile reads use the connection-filter plugin "
                 "(`publishedAt: {isNull: false}`) to match Gatehouse's anonymous visibility rule. "
                 "Both pools hold 16 connections over plain TCP (`sslmode=disable`; sqlx would otherwise "
                 "negotiate TLS on loopback and node-postgres would not). The ceiling answers a "
                 "70-byte body through the same wrk Lua script, its response check included, as "
                 "every other row; it runs right after each operation's cached run (that "
                 "operation's ceiling ratios use it) and once more at the end (the write row's). "
                 "A second ceiling process then answers that operation with the very bytes the "
                 "cached Gatehouse sends (\"same body\"): wrk's and the kernel's work per response "
                 "grow with its size (0.4 to 10 KB here against 70 bytes), so that row shows what Gatehouse "
                 "itself adds to a cache hit, the 70-byte one what any server could reach. "
                 + ("PostGraphile runs with `pgOrderByNullsLast` so its `PUBLISHED_AT_DESC` matches "
                    "the contract's order (drafts last) and can use the `published_at DESC NULLS "
                    "LAST` index. " if meta.get("peer_nulls_last", True) else
                    "PostGraphile runs with its default NULLS FIRST ordering "
                    "(BENCH_PEER_NULLS_FIRST=1), which the `published_at DESC NULLS LAST` index "
                    "cannot serve. ")
                 + "The writer accounts are created just before the "
                 "write runs, so the write rows' RSS includes the password hashing of the "
                 "`register` calls on Gatehouse (argon2 buffers kept by the allocator). Numbers from a shared 2-core machine are noisy: "
                 "compare rows of the same run.")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def main() -> int:
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--gatehouse", required=True)
    p.add_argument("--gatehouse-pid", type=int, required=True)
    p.add_argument("--gatehouse-cached", required=True)
    p.add_argument("--gatehouse-cached-pid", type=int, required=True)
    p.add_argument("--postgraphile", required=True)
    p.add_argument("--postgraphile-pid", type=int, required=True)
    p.add_argument("--ceiling", required=True)
    p.add_argument("--ceiling-pid", type=int, required=True)
    p.add_argument("--ceiling-bin", help="run the ceiling a second time per read, answering "
                   "the cached Gatehouse's own response bytes")
    p.add_argument("--ceiling-same-port", type=int, default=18092)
    p.add_argument("--db", required=True)
    p.add_argument("--db-url", required=True)
    p.add_argument("--admin-url", required=True)
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--posts", type=int, required=True)
    p.add_argument("--duration", type=float, default=15)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--rounds", type=int, default=3,
                   help="alternating rounds of Gatehouse (uncached) and PostGraphile, each "
                   "duration / rounds seconds")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--wrk-timeout", type=int, default=10)
    p.add_argument("--ops", default=",".join(OPS))
    p.add_argument("--no-pgss", dest="pgss", action="store_false")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--meta", type=Path, required=True, help="JSON with facts from run.sh")
    args = ARGS = p.parse_args()
    (args.out / "raw").mkdir(parents=True, exist_ok=True)
    meta = json.loads(args.meta.read_text())
    meta["rounds"] = args.rounds
    ops = [o for o in args.ops.split(",") if o]

    gh = System("gatehouse", "Gatehouse", args.gatehouse, args.gatehouse_pid)
    ghc = System("gatehouse_cached", "Gatehouse (cached)", args.gatehouse_cached,
                 args.gatehouse_cached_pid, schema="gatehouse")
    pg = System("postgraphile", "PostGraphile", args.postgraphile, args.postgraphile_pid)
    ceil = System("ceiling", "axum ceiling", args.ceiling, args.ceiling_pid)
    params = {"post_id": args.posts // 2 + 1, "username": f"user{max(1, args.users // 200)}"}
    log(f"single post id {params['post_id']}, user page {params['username']}")

    # 1. Verification before any timing: no errors, and the same data from both systems.
    responses = {}
    failures = []
    for op in [o for o in ops if o in READ_OPS]:
        got = {}
        for s, norm in ((gh, norm_gatehouse), (ghc, norm_gatehouse), (pg, norm_postgraphile)):
            r = post_json(s.url, read_body(s.schema, op, params))
            responses[f"{op}-{s.key}"] = r
            if r.get("errors") or not r.get("data"):
                failures.append(f"{op}: {s.label} answered errors: {json.dumps(r)[:400]}")
                continue
            try:
                got[s.key] = norm(op, r["data"])
            except (KeyError, TypeError, ValueError) as e:
                failures.append(f"{op}: {s.label} answer has an unexpected shape ({e!r})")
        if len(got) == 3:
            diff = first_difference(got["gatehouse"], got["postgraphile"]) or \
                first_difference(got["gatehouse"], got["gatehouse_cached"])
            if diff:
                failures.append(f"{op}: Gatehouse and PostGraphile differ at {diff}")
            else:
                size = len(got["gatehouse"]) if isinstance(got["gatehouse"], list) else 1
                log(f"verified {op}: same data from both ({size} top-level items)")
    (args.out / "raw" / "responses.json").write_text(json.dumps(responses, indent=1))
    if failures:
        for f in failures:
            log(f"VERIFICATION FAILED: {f}")
        return 2
    idle = {s.key: RssSampler(s.pid).read() for s in (gh, ghc, pg, ceil)}
    meta["idle_rss_mib"] = {k: v and round(v / 1024, 1) for k, v in idle.items()}
    log(f"idle RSS before any load (MiB): {meta['idle_rss_mib']}")

    # 2. Timed reads, each operation's ceiling run right after its cached run: this
    # machine's speed drifts within minutes, and a single ceiling run at the end compared
    # the first cached rows with a run ten minutes later.
    conf_dir = args.out / "raw"
    ceiling_body = conf_dir / "body-ceiling.json"
    ceiling_body.write_text(json.dumps({"query": "{ ok }"}))
    # With the same Lua response check as every other row: wrk then does the same work per
    # response for each system (the callback alone cost the ceiling 3–12% of its rps in two
    # runs here), so the ceiling bounds what any server could reach under this very client.
    ceiling_env = {"BENCH_MODE": "static", "BENCH_CHECK_ERRORS": "1",
                   "BENCH_BODY_FILE": str(ceiling_body)}
    runs = []
    for op in [o for o in ops if o in READ_OPS]:
        envs, bodies = {}, {}
        for s in (gh, ghc, pg):
            bodies[s.key] = conf_dir / f"body-{op}-{s.key}.json"
            bodies[s.key].write_text(json.dumps(read_body(s.schema, op, params)))
            envs[s.key] = {"BENCH_MODE": "static", "BENCH_CHECK_ERRORS": "1",
                           "BENCH_BODY_FILE": str(bodies[s.key])}
        runs.extend(measure_alternating((gh, pg), op, envs, args))
        runs.append(measure(ghc, op, envs[ghc.key], args))
        runs.append(measure(ceil, op, ceiling_env, args))
        if args.ceiling_bin:
            runs.append(measure_same_body_ceiling(ghc, op, bodies[ghc.key], args))

    # 3. Writes: accounts are created only now, so the read rows' RSS is not inflated by the
    # password hashing of `register` (argon2 buffers stay in the allocator's arenas).
    if "write" in ops:
        writers = create_writers(args, gh, pg)
        for s in (gh, pg):
            verify_writes(s, writers[s.key], params)
            log(f"verified write on {s.label}")
        decades = args.posts // 10
        envs = {}
        for s in (gh, pg):
            write_conf(s.key, writers[s.key], decades, conf_dir / f"write-{s.key}.lua")
            envs[s.key] = {"BENCH_MODE": "write", "BENCH_CHECK_ERRORS": "1",
                           "BENCH_WRITE_CONF": str(conf_dir / f"write-{s.key}.lua")}
        runs.extend(measure_alternating((gh, pg), "write", envs, args))

    runs.append(measure(ceil, "ceiling", ceiling_env, args))

    meta["cache_lookups"] = cache_lookups(args.gatehouse_cached)
    results = {"meta": meta, "params": params, "runs": runs}
    table = render(results, meta)
    (args.out / "latest.json").write_text(json.dumps(results, indent=1))
    (args.out / "latest.md").write_text(table)
    print()
    print(table)
    failed = sum(r["failed_requests"] for r in runs)
    if failed:
        log(f"{failed} requests failed during timed runs (see the table and raw/*.json)")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
