// Runs the GraphQL-over-HTTP spec audits of `graphql-http` (serverAudits) against a running
// Gatehouse at $GATEHOUSE_URL/graphql and prints one line per audit.
//
// Exit status: non-zero if any MUST audit fails, or any SHOULD audit fails that is not in
// SHOULD_ALLOWED below. MAY audits are reported ("notice") but never fail the run: they are
// optional by definition.
//
// Usage: GATEHOUSE_URL=http://127.0.0.1:8000 node tests/graphql-http/audit.mjs
// (scripts/graphql-http-audit.sh builds and starts a server and runs this).

import { serverAudits } from 'graphql-http';

const base = (process.env.GATEHOUSE_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');
const url = `${base}/graphql`;

// SHOULD audits Gatehouse knowingly fails: id -> why (one line each). CONTRACT.md (and the
// tests in tests/http.rs that encode it) win over the audit suite where the two disagree.
const SHOULD_ALLOWED = new Map([
  // (empty: every SHOULD audit passes)
]);

/** The strength of an audit, from the first word of its name. */
function strength(name) {
  if (name.startsWith('MUST')) return 'MUST';
  if (name.startsWith('SHOULD')) return 'SHOULD';
  return 'MAY';
}

/** One line, no line breaks, so each audit stays on its own line. */
function oneLine(text) {
  return String(text ?? '').replace(/\s+/g, ' ').trim();
}

const audits = serverAudits({ url, fetchFn: fetch });
let passed = 0;
let failed = 0;
let allowed = 0;
let notices = 0;
const seen = new Set();

// One at a time: the output stays in the suite's order and the run never trips the per-IP
// throttle or the rate budget.
for (const audit of audits) {
  seen.add(audit.id);
  const kind = strength(audit.name);
  let result;
  try {
    result = await audit.fn();
  } catch (err) {
    // The suite throws only on fatal errors (server unreachable, a bug in the suite); such an
    // audit counts as failed whatever its strength.
    result = { status: 'error', reason: `fatal: ${err?.cause?.message || err?.message || err}` };
    console.log(`error   ${audit.id} ${audit.name} -- ${oneLine(result.reason)}`);
    failed += 1;
    continue;
  }
  const status = result.response ? ` [HTTP ${result.response.status}]` : '';
  const reason = result.reason ? ` -- ${oneLine(result.reason)}${status}` : '';
  if (result.status === 'ok') {
    passed += 1;
    const stale = SHOULD_ALLOWED.has(audit.id) ? ' (allow-listed but passes: drop it from SHOULD_ALLOWED)' : '';
    console.log(`ok      ${audit.id} ${audit.name}${stale}`);
  } else if (kind === 'SHOULD' && SHOULD_ALLOWED.has(audit.id)) {
    allowed += 1;
    console.log(
      `allowed ${audit.id} ${audit.name}${reason} (allow-listed: ${SHOULD_ALLOWED.get(audit.id)})`,
    );
  } else if (kind === 'MAY') {
    notices += 1;
    console.log(`notice  ${audit.id} ${audit.name}${reason}`);
  } else {
    failed += 1;
    console.log(`${kind === 'MUST' ? 'error' : 'warn'}    ${audit.id} ${audit.name}${reason}`);
  }
}

for (const id of SHOULD_ALLOWED.keys()) {
  if (!seen.has(id)) {
    console.log(`note: allow-listed audit ${id} is not in this graphql-http version; drop it`);
  }
}
console.log(
  `(not counted: ${allowed} allow-listed SHOULD, ${notices} optional MAY not followed; target ${url})`,
);
console.log(`graphql-http: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
