// The D1 gateway: Cloudflare D1's REST `/query` envelope, served by a Worker over its D1 binding.
//
// Why: every job-store call through Cloudflare's REST API counts against 1,200 requests per 5 minutes
// per user (shared by all of that user's tokens), which a few dozen people polling exhaust. A Worker's
// D1 binding is not under that limit. This Worker answers
//   POST .../accounts/{account}/d1/database/{database}/query
// with exactly the REST API's request and response shapes (one `{"sql", "params"}` or
// `{"batch": [...]}`; `success`, `errors`, `messages`, per-statement `results`/`meta`), so the job
// store's D1 executor talks to it by changing CF_API_BASE_URL alone.
//
// What it adds over the REST API:
// - a batch runs through DB.batch(), which is a transaction (the REST API does not promise that);
// - it runs only the statements the job store issues (env.ALLOWED_SQL, generated from
//   chalicelib/adapters/store at package time), so a leaked GATEWAY_TOKEN cannot drop a table.
//
// Bindings: DB (the D1 database), GATEWAY_TOKEN (secret), ALLOWED_SQL (JSON list of patterns).
// Errors never echo SQL parameters or the token.

const MAX_BODY_BYTES = 1024 * 1024;
// D1 allows 100 bound parameters per statement; the batch cap keeps one request's work bounded.
const MAX_PARAMS = 100;
const MAX_STATEMENTS = 100;
const MAX_SQL_CHARS = 100_000;
const PATH = /\/accounts\/[^/]+\/d1\/database\/[^/]+\/query$/;

let compiled = { source: null, patterns: [] };

export default {
  async fetch(request, env) {
    try {
      return await handle(request, env);
    } catch {
      // Never let the runtime answer with its own text (it would include the exception).
      return failure(500, 7500, "internal error in the D1 gateway");
    }
  },
};

async function handle(request, env) {
  if (!PATH.test(new URL(request.url).pathname)) {
    return failure(404, 7000, "no such route: POST .../accounts/{account}/d1/database/{database}/query");
  }
  if (request.method !== "POST") {
    return failure(405, 7000, "method not allowed: use POST");
  }
  if (!env.GATEWAY_TOKEN) {
    return failure(500, 10000, "the gateway has no GATEWAY_TOKEN secret");
  }
  if (!(await authorised(request.headers.get("Authorization"), env.GATEWAY_TOKEN))) {
    return failure(401, 10000, "Authentication error");
  }
  const declared = Number(request.headers.get("Content-Length") || "0");
  if (declared > MAX_BODY_BYTES) {
    return failure(413, 7400, `request body over ${MAX_BODY_BYTES} bytes`);
  }
  const raw = await request.arrayBuffer();
  if (raw.byteLength > MAX_BODY_BYTES) {
    return failure(413, 7400, `request body over ${MAX_BODY_BYTES} bytes`);
  }
  let body;
  try {
    body = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    return failure(400, 7400, "the request body is not JSON");
  }
  const parsed = statementsOf(body);
  if (typeof parsed === "string") {
    return failure(400, 7400, parsed);
  }
  const allowed = allowList(env.ALLOWED_SQL);
  const refused = parsed.findIndex((s) => !allowed.some((pattern) => pattern.test(s.sql)));
  if (refused >= 0) {
    return failure(403, 7403, `statement ${refused + 1} is not one the job store issues`);
  }
  return run(env.DB, parsed);
}

// Constant time: both sides are hashed to 32 bytes, then compared with timingSafeEqual, so neither
// the token's length nor a matching prefix shows in the response time.
async function authorised(header, token) {
  const presented = header && header.startsWith("Bearer ") ? header.slice(7) : "";
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(presented)),
    crypto.subtle.digest("SHA-256", encoder.encode(token)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b) && presented.length > 0;
}

// The REST API's two request forms, checked; a string is the reason a body is malformed.
function statementsOf(body) {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return "the body must be an object with `sql` or `batch`";
  }
  const list = "batch" in body ? body.batch : [body];
  if (!Array.isArray(list) || list.length === 0) {
    return "`batch` must be a non-empty list of statements";
  }
  if (list.length > MAX_STATEMENTS) {
    return `a batch holds at most ${MAX_STATEMENTS} statements`;
  }
  const statements = [];
  for (const [index, item] of list.entries()) {
    const where = `statement ${index + 1}`;
    if (item === null || typeof item !== "object" || typeof item.sql !== "string") {
      return `${where}: \`sql\` must be a string`;
    }
    if (item.sql.length > MAX_SQL_CHARS) {
      return `${where}: SQL over ${MAX_SQL_CHARS} characters`;
    }
    const params = item.params === undefined ? [] : item.params;
    if (!Array.isArray(params) || params.length > MAX_PARAMS) {
      return `${where}: \`params\` must be a list of at most ${MAX_PARAMS} values`;
    }
    if (!params.every((p) => p === null || typeof p === "string" || typeof p === "number")) {
      return `${where}: each parameter must be a string, a number or null`;
    }
    statements.push({ sql: item.sql, params });
  }
  return statements;
}

function allowList(source) {
  if (compiled.source !== source) {
    const patterns = Array.isArray(source) ? source : [];
    compiled = { source, patterns: patterns.map((p) => new RegExp(`^(?:${p})$`)) };
  }
  return compiled.patterns;
}

async function run(db, statements) {
  let results;
  try {
    results = await db.batch(statements.map((s) => db.prepare(s.sql).bind(...s.params)));
  } catch (error) {
    const message = scrub(String((error && error.message) || error), statements);
    // SQL errors (constraint, syntax) are the caller's and final, like the REST API's 400;
    // anything else (storage hiccup, network) may pass, so it is a 500 the executor retries.
    const status = /SQLITE_|D1_TYPE_ERROR|D1_COLUMN_NOTFOUND/.test(message) ? 400 : 500;
    return failure(status, 7500, message);
  }
  const result = results.map((r) => ({ success: r.success !== false, results: r.results || [], meta: r.meta || {} }));
  return json(200, { success: true, errors: [], messages: [], result });
}

// D1's messages name constraints and tables, not values; remove any parameter text all the same.
function scrub(message, statements) {
  let text = message;
  for (const s of statements) {
    for (const p of s.params) {
      if (typeof p === "string" && p.length >= 3) {
        text = text.split(p).join("?");
      }
    }
  }
  return text.slice(0, 500);
}

function failure(status, code, message) {
  return json(status, { success: false, errors: [{ code, message }], messages: [], result: [] });
}

function json(status, payload) {
  return new Response(JSON.stringify(payload), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}
