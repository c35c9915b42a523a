// PostGraphile 5 as the benchmark peer, in production settings: no GraphiQL (Ruru), no
// watch mode, no EXPLAIN output, no introspection-driven dev helpers. The schema is
// generated from the very tables Gatehouse's migrations create (schema `public`).
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

const port = Number(process.env.PEER_PORT ?? 8091);

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      // The same pool size as Gatehouse's default (GATEHOUSE_DB_MAX_CONNECTIONS=16).
      poolConfig: { max: Number(process.env.PEER_POOL_MAX ?? 16) },
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port,
    graphqlPath: "/graphql",
    graphiql: false,
    watch: false,
    maxRequestLength: 262144,
  },
  schema: {
    // Gatehouse's contract sorts drafts (NULL published_at) after published posts, and its
    // migrations index `published_at DESC NULLS LAST`. PostGraphile's default (NULLS FIRST
    // for DESC) cannot use that index and sorts every published post on each feed request
    // (~85 ms per statement on 100k posts); this documented option gives the contract's
    // order, and PostgreSQL then walks the index. BENCH_PEER_NULLS_FIRST=1 measures the default.
    pgOrderByNullsLast: process.env.BENCH_PEER_NULLS_FIRST !== "1",
  },
  grafast: {
    explain: false,
  },
};

export default preset;
