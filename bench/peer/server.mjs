// Starts PostGraphile 5 over node:http with the production preset in graphile.config.mjs.
// Run with Node 22: node_modules/.bin/node server.mjs (NODE_ENV=production).
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import preset from "./graphile.config.mjs";

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (e) => {
  console.error(e);
  process.exit(1);
});
await serv.addTo(server);
const { host, port } = preset.grafserv;
server.listen(port, host, () => {
  console.log(`postgraphile listening on http://${host}:${port}/graphql (node ${process.version})`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    server.close();
    await pgl.release();
    process.exit(0);
  });
}
