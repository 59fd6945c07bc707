// Runs the gateway Worker under miniflare (Cloudflare's workerd runtime and its D1, from npm) on
// loopback, for the tests, `make run JOB_STORE=d1-local` and the capacity bench. Never deployed.
//
//   GATEWAY_TOKEN=... node infra/d1-gateway/dev.mjs --allowlist FILE [--port N] [--persist DIR]
//                                                    [--schema schema.sql] [--admin-port N]
//
// The token comes from the environment, not argv (argv is visible to every local user). The schema is
// applied through miniflare's D1 API, not the gateway (DDL is not on the allow-list). With
// --admin-port, a second loopback server takes POST /query {"sql", "params"} (any SQL, for test
// assertions) and POST /reset (drop every table, apply the schema again). When ready, one JSON line
// goes to stdout: {"url": ..., "admin": ...}. SIGTERM/SIGINT stop it.

import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    allowlist: { type: "string" },
    port: { type: "string", default: "0" },
    persist: { type: "string" },
    schema: { type: "string", default: join(here, "..", "..", "schema.sql") },
    "admin-port": { type: "string" },
  },
});
if (!args.allowlist || !process.env.GATEWAY_TOKEN) {
  process.stderr.write("dev.mjs needs --allowlist FILE and GATEWAY_TOKEN in the environment\n");
  process.exit(2);
}

const mf = new Miniflare({
  modules: true,
  scriptPath: join(here, "worker.js"),
  compatibilityDate: "2026-04-01",
  host: "127.0.0.1",
  port: Number(args.port),
  d1Databases: { DB: "jobs" },
  ...(args.persist ? { d1Persist: args.persist } : {}),
  bindings: {
    GATEWAY_TOKEN: process.env.GATEWAY_TOKEN,
    ALLOWED_SQL: JSON.parse(readFileSync(args.allowlist, "utf8")),
  },
});

const url = await mf.ready;
const db = await mf.getD1Database("DB");

function schemaStatements() {
  const lines = readFileSync(args.schema, "utf8")
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("--"));
  return lines
    .join("\n")
    .split(";")
    .map((part) => part.trim())
    .filter(Boolean);
}

async function applySchema() {
  await db.batch(schemaStatements().map((sql) => db.prepare(sql)));
}

async function reset() {
  const { results } = await db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
    .all();
  if (results.length) {
    await db.batch(results.map((row) => db.prepare(`DROP TABLE IF EXISTS "${row.name}"`)));
  }
  await applySchema();
}

await applySchema();

let admin = null;
if (args["admin-port"] !== undefined) {
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    try {
      let payload = { success: true };
      if (req.url === "/reset") {
        await reset();
      } else {
        const { sql, params = [] } = JSON.parse(Buffer.concat(chunks).toString() || "{}");
        payload = { success: true, results: (await db.prepare(sql).bind(...params).all()).results };
      }
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(payload));
    } catch (error) {
      res.writeHead(400, { "Content-Type": "application/json" }).end(JSON.stringify({ success: false, error: String(error) }));
    }
  });
  await new Promise((resolve) => server.listen(Number(args["admin-port"]), "127.0.0.1", resolve));
  admin = `http://127.0.0.1:${server.address().port}`;
}

process.stdout.write(JSON.stringify({ url: url.origin, admin }) + "\n");

async function stop() {
  await mf.dispose();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
