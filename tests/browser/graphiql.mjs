// Headless-Chromium test of the GraphiQL playground served by Gatehouse at `/`.
//
// It loads the page like a person would, types a query into the editor, types a
// header into the headers editor, runs the query with the ▶ button and waits for the
// answer in the result pane. It fails on:
//   - any request to another origin (the playground must work offline, no CDN),
//   - any console error, uncaught page error or Content-Security-Policy violation,
//   - any same-origin response with status >= 400,
//   - a missing or weak Content-Security-Policy header on the page,
//   - a result pane that does not show `"data"` and the expected value in time.
//
// Environment:
//   GATEHOUSE_URL   base URL of a running server       (default http://127.0.0.1:8000)
//   SCREENSHOT      path of a PNG to write at the end   (optional)
//   GRAPHIQL_QUERY  query to type                       (default `{ __typename }`)
//   GRAPHIQL_EXPECT text the result must contain, whitespace ignored
//                                                       (default `"__typename":"Query"`)
//   CHROMIUM        browser binary                      (default /usr/bin/chromium)
//   TIMEOUT_MS      timeout of each step                (default 30000)
//
// Run it through scripts/browser-test.sh, which installs what is missing.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = new URL(process.env.GATEHOUSE_URL || 'http://127.0.0.1:8000');
const origin = base.origin;
const pageUrl = new URL('/', base).href;
const graphqlUrl = new URL('/graphql', base).href;
const query = process.env.GRAPHIQL_QUERY || '{ __typename }';
const expected = process.env.GRAPHIQL_EXPECT || '"__typename":"Query"';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const timeout = Number(process.env.TIMEOUT_MS || 30000);
const screenshot = process.env.SCREENSHOT || '';
const testHeader = { name: 'x-gatehouse-browser-test', value: 'graphiql' };

const problems = [];
const foreignRequests = [];
const graphqlPosts = [];
const log = (message) => console.log(`graphiql-test: ${message}`);
const squash = (text) => text.replace(/\s+/g, '');

// Types `text` into the CodeMirror editor inside `container`, replacing its content,
// and returns the editor's value as read back from CodeMirror.
async function typeInto(page, container, text) {
  const editor = page.locator(`${container} .CodeMirror`).first();
  await editor.waitFor({ state: 'visible', timeout });
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(text, { delay: 15 });
  // Close an autocompletion list, if one is open.
  await page.keyboard.press('Escape');
  return page.evaluate((selector) => {
    const element = document.querySelector(`${selector} .CodeMirror`);
    return element && element.CodeMirror ? element.CodeMirror.getValue() : null;
  }, container);
}

async function run(context) {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(timeout);

  // Observers, attached to the whole context so that nothing escapes them.
  context.on('request', (request) => {
    const url = request.url();
    if (/^(data|blob|about):/.test(url)) return;
    if (new URL(url).origin !== origin) {
      foreignRequests.push(url);
    }
    if (url === graphqlUrl && request.method() === 'POST') {
      graphqlPosts.push(request);
    }
  });
  context.on('response', (response) => {
    if (response.status() >= 400 && new URL(response.url()).origin === origin) {
      problems.push(`HTTP ${response.status()} for ${response.request().method()} ${response.url()}`);
    }
  });
  page.on('console', (message) => {
    if (message.type() === 'error') {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`uncaught page error: ${error.message}`));
  // CDP-injected, so it runs whatever the page's CSP says (and does not weaken it).
  await page.exposeBinding('__reportCspViolation', (_source, violation) => {
    problems.push(`CSP violation: ${violation}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__reportCspViolation(
        `${event.violatedDirective} blocked ${event.blockedURI || '(inline)'}` +
          (event.sourceFile ? ` at ${event.sourceFile}:${event.lineNumber}` : '')
      );
    });
  });

  log(`loading ${pageUrl}`);
  const response = await page.goto(pageUrl, { waitUntil: 'load' });
  if (!response || !response.ok()) {
    throw new Error(`GET ${pageUrl} answered ${response ? response.status() : 'nothing'}`);
  }
  const csp = (await response.allHeaders())['content-security-policy'] || '';
  if (!/script-src 'self'(;|$)/.test(csp) || /unsafe-(inline|eval)/.test(csp.match(/script-src[^;]*/)?.[0] || '')) {
    problems.push(`page CSP is missing or allows inline/eval scripts: ${JSON.stringify(csp)}`);
  }

  await page.locator('.graphiql-container').waitFor({ state: 'visible', timeout });
  log('GraphiQL rendered');

  // Headers editor: open the "Headers" tab and type a header, as a user pasting a token would.
  await page.getByRole('button', { name: /^Headers$/ }).click();
  const headersJson = `{"${testHeader.name}": "${testHeader.value}"}`;
  const typedHeaders = await typeInto(page, '.graphiql-editor-tool .graphiql-editor:not(.hidden)', headersJson);
  if (typedHeaders === null || squash(typedHeaders) !== squash(headersJson)) {
    throw new Error(`headers editor holds ${JSON.stringify(typedHeaders)}, expected ${headersJson}`);
  }

  const typedQuery = await typeInto(page, '.graphiql-query-editor', query);
  if (typedQuery === null || squash(typedQuery) !== squash(query)) {
    throw new Error(`query editor holds ${JSON.stringify(typedQuery)}, expected ${query}`);
  }
  log(`typed ${query}`);

  const postsBefore = graphqlPosts.length;
  await page.locator('button.graphiql-execute-button').click();
  log('clicked the run button');

  // Wait for the result pane to show the answer.
  const resultPane = page.locator('.graphiql-response');
  const deadline = Date.now() + timeout;
  let shown = '';
  for (;;) {
    shown = await resultPane.innerText().catch(() => '');
    if (squash(shown).includes('"data"') && squash(shown).includes(squash(expected))) break;
    if (Date.now() > deadline) {
      throw new Error(
        `result pane never showed "data" and ${expected} within ${timeout} ms; it shows:\n${shown}`
      );
    }
    await page.waitForTimeout(100);
  }
  log(`result pane shows ${squash(shown).slice(0, 200)}`);

  // The request GraphiQL sent for our query: JSON POST, GraphQL-over-HTTP Accept,
  // and the header typed into the headers editor.
  const ours = graphqlPosts.slice(postsBefore).find((request) => {
    try {
      return squash(JSON.parse(request.postData() || '').query || '') === squash(query);
    } catch {
      return false;
    }
  });
  if (!ours) {
    problems.push('no POST /graphql with a JSON body carrying the typed query was seen');
  } else {
    const headers = await ours.allHeaders();
    const accept = headers['accept'] || '';
    if (!accept.includes('application/graphql-response+json') || !accept.includes('application/json')) {
      problems.push(`POST /graphql Accept header is ${JSON.stringify(accept)}`);
    }
    if (!(headers['content-type'] || '').startsWith('application/json')) {
      problems.push(`POST /graphql Content-Type is ${JSON.stringify(headers['content-type'])}`);
    }
    if (headers[testHeader.name] !== testHeader.value) {
      problems.push(`header typed in the headers editor was not sent (got ${JSON.stringify(headers[testHeader.name])})`);
    }
  }

  // Open and close the settings dialog: exercises GraphiQL's modal code, which is
  // where inline <style> injection would show up as a CSP violation.
  await page.getByRole('button', { name: /settings/i }).first().click();
  await page.getByRole('dialog').waitFor({ state: 'visible', timeout });
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'hidden', timeout });

  // Let late console messages or violations arrive.
  await page.waitForTimeout(500);
  if (screenshot) {
    await page.screenshot({ path: screenshot, fullPage: true });
    log(`screenshot written to ${screenshot}`);
  }
}

async function main() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-'));
  let context;
  let failure = null;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      timeout,
    });
    await run(context);
  } catch (error) {
    failure = error;
  } finally {
    if (context) await context.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  }

  if (foreignRequests.length) {
    problems.push(`requests to other origins than ${origin}:\n    ${foreignRequests.join('\n    ')}`);
  }
  if (failure) {
    problems.unshift(`${failure.message}`);
  }
  if (problems.length) {
    console.error(`graphiql-test: FAILED against ${origin}`);
    for (const problem of problems) console.error(`  - ${problem}`);
    console.log('browser: 0 passed, 1 failed');
    process.exit(1);
  }
  log(`OK against ${origin}: page, assets and query all same-origin, no console error, no CSP violation`);
  console.log('browser: 1 passed, 0 failed');
}

await main();
