// Bootstrap of the Gatehouse GraphiQL playground (served as a file: the page's CSP
// forbids inline scripts). Needs the React 18 / ReactDOM / GraphiQL UMD globals that
// index.html loads before this file.
(function () {
  'use strict';

  var container = document.getElementById('graphiql');
  var endpoint = container.getAttribute('data-endpoint') || '/graphql';

  var defaultQuery = [
    '# Welcome to Gatehouse.',
    '#',
    '# Run a query with the ▶ button or Ctrl-Enter.',
    '# To act as a user, open "Headers" below and paste',
    '#   {"Authorization": "Bearer <token>"}',
    '',
    '{',
    '  posts(first: 5) {',
    '    totalCount',
    '    nodes {',
    '      id',
    '      title',
    '      author {',
    '        username',
    '      }',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');

  // POSTs a GraphQL-over-HTTP request. Headers typed in the headers editor are
  // applied last, so they can override the defaults (Headers.set is case-insensitive).
  function fetcher(graphQLParams, opts) {
    var headers = new Headers();
    headers.set('Accept', 'application/graphql-response+json, application/json');
    headers.set('Content-Type', 'application/json');
    var extra = (opts && opts.headers) || {};
    Object.keys(extra).forEach(function (name) {
      if (extra[name] !== undefined && extra[name] !== null) {
        headers.set(name, String(extra[name]));
      }
    });
    return fetch(endpoint, {
      method: 'POST',
      headers: headers,
      body: JSON.stringify(graphQLParams),
      credentials: 'same-origin',
    }).then(function (response) {
      return response.text().then(function (text) {
        try {
          return JSON.parse(text);
        } catch (_) {
          // Show non-JSON answers (proxy errors, 413, rate limits...) in the result pane.
          return {
            errors: [
              {
                message:
                  'HTTP ' + response.status + ' ' + response.statusText +
                  ' (not JSON): ' + text.slice(0, 2000),
              },
            ],
          };
        }
      });
    });
  }

  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    container.textContent = 'GraphiQL failed to load its scripts.';
    return;
  }

  var root = window.ReactDOM.createRoot(container);
  root.render(
    window.React.createElement(window.GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      isHeadersEditorEnabled: true,
      // Bearer tokens typed into the headers editor stay in memory only.
      shouldPersistHeaders: false,
    })
  );
})();
