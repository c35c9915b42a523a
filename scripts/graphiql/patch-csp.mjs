// Makes graphiql's UMD bundle run under `style-src 'self'` (no 'unsafe-inline').
//
// The only inline <style> graphiql 3 creates comes from react-style-singleton (used
// by react-remove-scroll-bar, which Radix's Dialog uses to lock page scrolling while a
// dialog such as Settings is open). A strict CSP blocks that element and Chromium logs
// a violation. This patch makes the singleton use a constructed stylesheet
// (`new CSSStyleSheet()` + `document.adoptedStyleSheets`), which is CSSOM and not
// subject to style-src, falling back to the original <style> element in browsers
// without constructable stylesheets.
//
// Usage: node patch-csp.mjs <in graphiql.min.js> <out.js>
// Fails if the code to patch is not found exactly once (e.g. after an upgrade):
// then re-check the bundle by hand (see scripts/build-graphiql.sh).
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node patch-csp.mjs <graphiql.min.js> <out.js>');
  process.exit(2);
}
const source = readFileSync(input, 'utf8');

const original = `var stylesheetSingleton = function () {
  var counter = 0;
  var stylesheet = null;
  return {
    add: function (style) {
      if (counter == 0) {
        if (stylesheet = makeStyleTag()) {
          injectStyles(stylesheet, style);
          insertStyleTag(stylesheet);
        }
      }
      counter++;
    },
    remove: function () {
      counter--;
      if (!counter && stylesheet) {
        stylesheet.parentNode && stylesheet.parentNode.removeChild(stylesheet);
        stylesheet = null;
      }
    }
  };
};`;

const patched = `var stylesheetSingleton = function () {
  // Patched by Gatehouse (scripts/graphiql/patch-csp.mjs): a constructed stylesheet
  // instead of an inline <style> element, so that CSP style-src 'self' suffices.
  var counter = 0;
  var stylesheet = null;
  var adopted = null;
  var canAdopt = typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype && 'adoptedStyleSheets' in document;
  return {
    add: function (style) {
      if (counter == 0) {
        if (canAdopt) {
          adopted = new CSSStyleSheet();
          adopted.replaceSync(style);
          document.adoptedStyleSheets = document.adoptedStyleSheets.concat([adopted]);
        } else if (stylesheet = makeStyleTag()) {
          injectStyles(stylesheet, style);
          insertStyleTag(stylesheet);
        }
      }
      counter++;
    },
    remove: function () {
      counter--;
      if (!counter && adopted) {
        var sheet = adopted;
        document.adoptedStyleSheets = document.adoptedStyleSheets.filter(function (s) { return s !== sheet; });
        adopted = null;
      }
      if (!counter && stylesheet) {
        stylesheet.parentNode && stylesheet.parentNode.removeChild(stylesheet);
        stylesheet = null;
      }
    }
  };
};`;

const hits = source.split(original).length - 1;
if (hits !== 1) {
  console.error(`patch-csp: expected the react-style-singleton code exactly once, found it ${hits} times`);
  process.exit(1);
}
const styleTags = source.match(/createElement\(['"]style['"]\)/g) || [];
if (styleTags.length !== 1) {
  console.error(`patch-csp: expected one createElement('style') in the bundle, found ${styleTags.length}: check for new inline-style injection`);
  process.exit(1);
}
writeFileSync(output, source.replace(original, patched));
console.log('patch-csp: react-style-singleton now uses constructed stylesheets');
