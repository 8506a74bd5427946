// A real OpenID Provider (panva/oidc-provider 9.x) for the Python test suite.
//
//   node tests/op/server.mjs /path/to/config.json
//
// Config JSON (see tests/oidc_provider.py, which writes it):
//   {
//     "port": 45678,                              // required
//     "issuer": "http://127.0.0.1:45678",         // default: http://127.0.0.1:<port>
//     "clients": [ { oidc-provider client metadata } ],
//     "accounts": { "<login name>": { "sub": "...", "email": "...", ... } },
//     "claims": { "<scope>": ["claim", ...] },    // optional, merged over the defaults below
//     "ttl": { "IdToken": 60, ... },              // optional, seconds
//     "pkce_required": true                       // optional, default true (S256 only)
//   }
//
// Test-only endpoints (never exposed by a real IdP):
//   GET  /__test/health  -> 200 {"status":"ok","issuer":...,"kids":[...]}
//   POST /__test/rotate  -> 200 {"kids":[...]}  new RS256 + ES256 keys (new kids);
//                           "?keep_old=1" keeps the previous keys in the JWKS
//                           (verification only, new keys sign).
//
// Prints exactly one line "READY <issuer>" on stdout once it listens.
// Nothing secret (keys, cookie secrets, client secrets) is ever printed.

import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';

import Provider from 'oidc-provider';

// --------------------------------------------------------------------------
// configuration

function die(message) {
  process.stderr.write(`test-op: ${message}\n`);
  process.exit(2);
}

const cfgPath = process.argv[2];
if (!cfgPath) die('usage: node server.mjs <config.json>');

let cfg;
try {
  cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
} catch (err) {
  die(`cannot read config ${cfgPath}: ${err.message}`);
}

const port = Number(cfg.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) die('config "port" must be a TCP port');
const issuer = cfg.issuer ?? `http://127.0.0.1:${port}`;
const issuerUrl = new URL(issuer);
if (issuerUrl.pathname !== '/' && issuerUrl.pathname !== '') {
  die('config "issuer" must not have a path (the OP is mounted at /)');
}
// Listen on the issuer's host (127.0.0.1 by default, never on all interfaces).
const listenHost = issuerUrl.hostname.replace(/^\[|\]$/g, '');

// Claims never listed in a scope mapping: JWT/OIDC protocol claims.
const PROTOCOL_CLAIMS = new Set([
  'iss', 'aud', 'exp', 'iat', 'nbf', 'jti', 'nonce', 'azp', 'at_hash', 'c_hash', 's_hash',
  'sid', 'acr', 'amr', 'auth_time', 'cnf', 'scope', 'client_id',
]);

// accounts: login name -> claims. The ID token "sub" is claims.sub (default: the login name).
const accountsBySub = new Map();
const loginNames = new Map(); // login name or sub -> sub
for (const [login, claims] of Object.entries(cfg.accounts ?? {})) {
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    die(`config accounts["${login}"] must be an object of claims`);
  }
  const sub = String(claims.sub ?? login);
  accountsBySub.set(sub, { ...claims, sub });
  loginNames.set(login, sub);
  loginNames.set(sub, sub);
}

// scope -> claims released by it. With conformIdTokenClaims=false they go into the ID token.
const scopeClaims = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: [
    'name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username',
    'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
  ],
  school: ['groups', 'tid', 'roles', 'eduPersonAffiliation'],
  ...(cfg.claims ?? {}),
};
// Any other claim that an account carries is released with "openid" (i.e. always in the ID
// token), like an IdP mapper "add to ID token" would do.
const mapped = new Set(Object.values(scopeClaims).flat());
const extraClaims = new Set();
for (const claims of accountsBySub.values()) {
  for (const name of Object.keys(claims)) {
    if (!mapped.has(name) && !PROTOCOL_CLAIMS.has(name)) extraClaims.add(name);
  }
}
scopeClaims.openid = [...new Set([...scopeClaims.openid, ...extraClaims])];

// --------------------------------------------------------------------------
// keys

let generation = 0;

function newSigningKeys() {
  generation += 1;
  const tag = `g${generation}-${crypto.randomBytes(4).toString('hex')}`;
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { ...rsa, kid: `rs256-${tag}`, alg: 'RS256', use: 'sig' },
    { ...ec, kid: `es256-${tag}`, alg: 'ES256', use: 'sig' },
  ];
}

let signingKeys = newSigningKeys(); // first keys of an alg sign; all are published
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

// --------------------------------------------------------------------------
// pages (no external assets, no JavaScript)

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

function page(title, body) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body>
<h1>${esc(title)}</h1>
${body}
</body></html>
`;
}

function loginPage(uid, { clientId, loginHint, error } = {}) {
  return page('Sign in', `
<p>Test OP at ${esc(issuer)}, client <code>${esc(clientId)}</code></p>
${error ? `<p class="error" id="error">${esc(error)}</p>` : ''}
<form id="op.loginForm" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label>Account <input type="text" name="login" value="${esc(loginHint)}" autofocus required></label>
  <button type="submit">Sign in</button>
</form>
<form id="op.abortForm" method="post" action="/interaction/${esc(uid)}/abort">
  <button type="submit">Cancel</button>
</form>`);
}

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(html),
  });
  res.end(html);
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readForm(req) {
  return new URLSearchParams(await readBody(req));
}

const truthy = (v) => v === true || ['1', 'true', 'yes'].includes(String(v ?? '').toLowerCase());

// --------------------------------------------------------------------------
// provider (rebuilt on key rotation; storage is the process-wide memory adapter,
// so sessions, grants, codes and interactions survive a rotation)

function buildProvider() {
  const provider = new Provider(issuer, {
    clients: cfg.clients ?? [],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    jwks: { keys: signingKeys },
    cookies: {
      // OP and the relying party share the host 127.0.0.1 (cookies ignore ports):
      // distinct names keep the OP's cookies apart from the RP's.
      names: {
        session: 'op_session',
        interaction: 'op_interaction',
        resume: 'op_interaction_resume',
      },
      // secure is derived from the request (http -> not secure); never forced on.
      long: { httpOnly: true, sameSite: 'lax', secure: false },
      short: { httpOnly: true, sameSite: 'lax', secure: false },
      keys: cookieKeys,
    },
    claims: {
      acr: null, sid: null, auth_time: null, iss: null,
      ...scopeClaims,
    },
    // Release scope claims in the ID token itself, not only at userinfo.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          // form = <form id="op.logoutForm" ...><input type="hidden" name="xsrf" ...></form>
          ctx.body = page('Sign out', `
${form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>')}
<button type="submit" form="op.logoutForm">Yes, sign me out</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p id="op.loggedOut">You are signed out.</p>');
        },
      },
      userinfo: { enabled: true },
      revocation: { enabled: true },
    },
    pkce: {
      required: () => cfg.pkce_required !== false,
    },
    ttl: { ...(cfg.ttl ?? {}) },
    async findAccount(ctx, sub) {
      const claims = accountsBySub.get(sub);
      if (!claims) return undefined;
      return {
        accountId: sub,
        async claims() { return structuredClone(claims); },
      };
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', Object.entries(out)
        .map(([k, v]) => `<p><strong>${esc(k)}</strong>: <span class="${esc(k)}">${esc(v)}</span></p>`)
        .join('\n'));
    },
  });

  for (const event of [
    'server_error', 'authorization.error', 'grant.error', 'end_session.error',
    'userinfo.error', 'revocation.error', 'jwks.error', 'discovery.error',
  ]) {
    provider.on(event, (ctx, err) => {
      const detail = err?.error_description ? ` (${err.error_description})` : '';
      process.stderr.write(`test-op: ${event}: ${err?.message ?? err}${detail}\n`);
    });
  }

  return { provider, callback: provider.callback() };
}

let current;
try {
  current = buildProvider();
} catch (err) {
  die(`invalid provider configuration: ${err.message}`);
}

function publicKids() {
  return signingKeys.map((k) => k.kid);
}

// --------------------------------------------------------------------------
// interactions: login form, then automatic consent

async function grantConsent(provider, details) {
  const { prompt: { details: missing }, params, session } = details;
  let grant;
  if (details.grantId) {
    grant = await provider.Grant.find(details.grantId);
  }
  grant ??= new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  return details.grantId ? {} : { grantId };
}

async function handleInteraction(req, res, uid, action) {
  const { provider } = current;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    // Usually: the client did not send back the op_interaction cookie.
    sendHtml(res, 400, page('Error', `<p class="error">${esc(err.message)}</p>`));
    return;
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, page('Error', '<p class="error">interaction uid mismatch</p>'));
    return;
  }
  const { prompt, params } = details;

  if (action === 'abort' && req.method === 'POST') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }

  if (prompt.name === 'consent' && req.method === 'GET' && action === undefined) {
    const consent = await grantConsent(provider, details);
    await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
    return;
  }

  if (prompt.name === 'login' && req.method === 'GET' && action === undefined) {
    sendHtml(res, 200, loginPage(uid, { clientId: params.client_id, loginHint: params.login_hint }));
    return;
  }

  if (prompt.name === 'login' && req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const login = (form.get('login') ?? '').trim();
    const sub = loginNames.get(login);
    if (!sub) {
      sendHtml(res, 401, loginPage(uid, {
        clientId: params.client_id, loginHint: login, error: `unknown account: ${login}`,
      }));
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: sub, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
    return;
  }

  sendHtml(res, 400, page('Error', `<p class="error">unexpected ${esc(req.method)} for prompt ${esc(prompt.name)}</p>`));
}

// --------------------------------------------------------------------------
// HTTP server

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?\/?$/;

async function route(req, res) {
  const url = new URL(req.url, issuer);

  if (url.pathname === '/__test/health' && req.method === 'GET') {
    sendJson(res, 200, { status: 'ok', issuer, kids: publicKids() });
    return;
  }

  if (url.pathname === '/__test/rotate' && req.method === 'POST') {
    // keep_old from the query string, a JSON body or a form body
    let keepOld = truthy(url.searchParams.get('keep_old'));
    const raw = (await readBody(req)).trim();
    if (raw.startsWith('{')) {
      try { keepOld ||= truthy(JSON.parse(raw).keep_old); } catch { /* ignore */ }
    } else if (raw) {
      keepOld ||= truthy(new URLSearchParams(raw).get('keep_old'));
    }
    const previous = signingKeys;
    const fresh = newSigningKeys();
    signingKeys = keepOld ? [...fresh, ...previous] : fresh;
    try {
      current = buildProvider();
    } catch (err) {
      signingKeys = previous;
      sendJson(res, 500, { error: err.message });
      return;
    }
    sendJson(res, 200, { kids: publicKids(), signing_kids: fresh.map((k) => k.kid) });
    return;
  }

  const m = INTERACTION.exec(url.pathname);
  if (m) {
    await handleInteraction(req, res, m[1], m[2]);
    return;
  }

  current.callback(req, res);
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    process.stderr.write(`test-op: handler error: ${err?.stack ?? err}\n`);
    if (!res.headersSent) {
      sendHtml(res, 500, page('Error', `<p class="error">${esc(err?.message)}</p>`));
    } else {
      res.destroy();
    }
  });
});
server.keepAliveTimeout = 5000;

server.on('error', (err) => die(`cannot listen on ${listenHost}:${port}: ${err.code ?? err.message}`));

// Static clients are validated lazily by oidc-provider; validate them now so a bad
// client config fails the start (with the reason on stderr), not the first request.
for (const { client_id: clientId } of cfg.clients ?? []) {
  try {
    // eslint-disable-next-line no-await-in-loop
    await current.provider.Client.find(clientId);
  } catch (err) {
    die(`invalid client "${clientId}": ${err.error_description ?? err.message}`);
  }
}

server.listen(port, listenHost, () => {
  process.stdout.write(`READY ${issuer}\n`);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Started by the Python harness with a stdin pipe: exit when the parent goes away.
if (process.env.TEST_OP_EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
