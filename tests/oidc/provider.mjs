// A real OpenID provider for gatehouse's integration tests: the `oidc-provider` npm
// package (pinned in tests/package.json) with test clients and accounts.
//
//   node tests/oidc/provider.mjs CONFIG.json
//
// Listens on 127.0.0.1 only (port 0, or CONFIG.port), so the issuer is
// http://127.0.0.1:PORT. When it is ready it prints exactly one line to stdout:
//   {"issuer":"http://127.0.0.1:PORT"}
// Errors and a short access log (method, path, status; never query strings or tokens) go
// to stderr. SIGTERM (or SIGINT) closes the server and exits 0. Everything is in memory:
// a restart forgets sessions, grants and the signing key.
//
// CONFIG.json (every member optional except where marked):
// {
//   "port": 0,
//   "clients": [{                       // at least one
//     "client_id": "gatehouse",         // required
//     "client_secret": "gatehouse-secret",
//     "redirect_uris": ["http://127.0.0.1:8080/.gatehouse/oidc/sso/callback"],
//     "post_logout_redirect_uris": ["http://127.0.0.1:8080/.gatehouse/login"],
//     "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
//     "token_endpoint_auth_method": "client_secret_basic",  // or "client_secret_post"
//     "loopback_any_port": false        // true: a registered http://127.0.0.1:P/… (or
//                                       // localhost, [::1]) URI matches any port P, as
//                                       // RFC 8252 allows native apps; so the relying
//                                       // party may start after the provider
//   }],                                 // any other client metadata is passed through
//   "accounts": [{
//     "sub": "alice-0001",              // required; the account id
//     "username": "alice",              // required; what the login form takes; also
//     "password": "alice-Password-1",   //   the preferred_username claim
//     "email": "alice@example.org", "email_verified": true,
//     "name": "Alice Example",
//     "groups": ["developers", "engineering"],
//     "tenant": "example"
//   }],
//   "ttl": {                            // seconds
//     "AccessToken": 3600, "AuthorizationCode": 60, "ClientCredentials": 600,
//     "IdToken": 3600, "RefreshToken": 86400, "Session": 86400, "Grant": 86400,
//     "Interaction": 3600
//   },
//   "resource_servers": [{              // resource indicators (RFC 8707)
//     "identifier": "https://api.example.test",   // required: the `resource` parameter
//     "audience": "https://api.example.test",     // `aud` of its tokens (default: identifier)
//     "scope": "api:read api:write",
//     "access_token_format": "jwt",               // or "opaque"
//     "access_token_ttl": 600,                    // default: ttl.AccessToken
//     "token_claims": ["preferred_username", "email", "groups", "tenant"]
//                                                 // account claims copied into its JWTs
//   }],
//   "token_endpoint_auth_methods": [],  // advertised and accepted; default: the clients'
//   "conform_id_token_claims": true,    // false: the ID token also carries the scope's
//                                       // claims (email, name, groups, tenant…)
//   "refresh_token_requires_offline_access": false
// }
//
// Behaviour a relying party sees:
// - Authorization code flow only, PKCE (S256) required for every client.
// - A client authenticates at the token endpoint only with the method it is registered
//   with (oidc-provider alone would take client_secret_post and client_secret_basic
//   alike); the other one gets 401 invalid_client. Basic credentials are
//   form-urlencoded before base64 (RFC 6749 §2.3.1), so a secret with '+' or '%' must
//   be encoded.
// - Scopes openid, email (email, email_verified), profile (name, preferred_username),
//   groups (groups: array of strings), tenant (tenant: string), offline_access.
// - With conform_id_token_claims (the default, as in real providers) the ID token holds
//   only sub, sid, auth_time, nonce… when an access token is issued; the other claims
//   come from the userinfo endpoint (GET /me with the access token).
// - Refresh tokens go to clients with the refresh_token grant type: always, or only when
//   `offline_access` was requested (without `prompt`, or with prompt=consent) if
//   refresh_token_requires_offline_access. Without offline_access they end with the
//   provider's session. A refresh returns a new ID token.
// - Access tokens without a `resource` parameter are opaque and meant for userinfo; with
//   `resource=<identifier>` at the token endpoint (and, for the code flow, at the
//   authorization endpoint too) they are JWTs (typ at+jwt) for that resource server,
//   which userinfo refuses. client_credentials with `resource=` gives such a JWT (sub =
//   client_id).
// - Interaction pages are plain HTML forms: /interaction/UID has either the login form
//   (POST /interaction/UID/login, fields `login`, `password`; a wrong password shows the
//   form again with status 200) or the consent form (POST /interaction/UID/confirm),
//   each followed by a cancel form (POST /interaction/UID/abort: access_denied).
// - RP-initiated logout at /session/end (end_session_endpoint) with id_token_hint and
//   post_logout_redirect_uri: a confirmation page whose single form carries the hidden
//   xsrf field and the `logout=yes` button; submitting it redirects to the
//   post_logout_redirect_uri.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const DEFAULT_TTL = {
  AccessToken: 3600,
  AuthorizationCode: 60,
  ClientCredentials: 600,
  IdToken: 3600,
  RefreshToken: 86400,
  Session: 86400,
  Grant: 86400,
  Interaction: 3600,
};
const DEFAULT_TOKEN_CLAIMS = ['preferred_username', 'email', 'groups', 'tenant'];

function fail(message) {
  process.stderr.write(`provider.mjs: ${message}\n`);
  process.exit(2);
}

function loadConfig(path) {
  if (!path) fail('usage: node provider.mjs CONFIG.json');
  let config;
  try {
    config = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (err) {
    fail(`cannot read ${path}: ${err.message}`);
  }
  if (!Array.isArray(config.clients) || config.clients.length === 0) fail(`${path}: "clients" must list at least one client`);
  for (const c of config.clients) if (!c.client_id) fail(`${path}: every client needs a client_id`);
  config.accounts ??= [];
  for (const a of config.accounts) if (!a.sub || !a.username) fail(`${path}: every account needs sub and username`);
  config.resource_servers ??= [];
  for (const r of config.resource_servers) if (!r.identifier) fail(`${path}: every resource server needs an identifier`);
  return config;
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
})[c]);

function page(title, body) {
  return `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

function loginPage(uid, clientId, { login = '', error = '' } = {}) {
  const u = encodeURIComponent(uid);
  return page('Sign in to the test provider', `<p>Client: ${escapeHtml(clientId)}</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>\n` : ''}<form method="post" action="/interaction/${u}/login" autocomplete="off">
<label>Username <input type="text" name="login" value="${escapeHtml(login)}" autofocus></label>
<label>Password <input type="password" name="password" value=""></label>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${u}/abort">
<button type="submit">Cancel</button>
</form>`);
}

function consentPage(uid, clientId, details) {
  const u = encodeURIComponent(uid);
  const items = [];
  if (details.missingOIDCScope?.length) items.push(`scopes: ${details.missingOIDCScope.join(' ')}`);
  if (details.missingOIDCClaims?.length) items.push(`claims: ${details.missingOIDCClaims.join(' ')}`);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    items.push(`${indicator}: ${scopes.join(' ')}`);
  }
  return page('Authorize', `<p>Client ${escapeHtml(clientId)} asks for:</p>
<ul>${items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>
<form method="post" action="/interaction/${u}/confirm">
<button type="submit" name="consent" value="yes">Continue</button>
</form>
<form method="post" action="/interaction/${u}/abort">
<button type="submit">Cancel</button>
</form>`);
}

// Both http://LOOPBACK:PORT/… URLs, equal but for the port.
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
function sameButPort(registered, given) {
  const a = URL.parse(registered);
  const b = URL.parse(given);
  if (!a || !b || a.protocol !== 'http:' || b.protocol !== 'http:' || !LOOPBACK_HOSTS.has(a.hostname)) return false;
  a.port = '';
  b.port = '';
  return a.href === b.href;
}

function readBody(req, limit = 56 * 1024) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > limit) reject(new Error('request body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

const readForm = async (req) => new URLSearchParams(await readBody(req));

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(html);
}

// GET /interaction/UID and POST /interaction/UID/{login,confirm,abort}. The provider's
// interaction cookie is scoped to /interaction/UID, so every route sits below it.
async function interaction(provider, accounts, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
  const { prompt, params } = details;

  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') return sendHtml(res, 200, loginPage(uid, params.client_id));
    return sendHtml(res, 200, consentPage(uid, params.client_id, prompt.details));
  }
  if (req.method !== 'POST' || !action) return sendHtml(res, 405, page('Method not allowed', ''));

  const form = await readForm(req);
  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  if (action === 'login') {
    if (prompt.name !== 'login') return sendHtml(res, 400, page('Not at the login prompt', ''));
    const login = form.get('login') ?? '';
    const account = accounts.byUsername.get(login);
    const given = Buffer.from(form.get('password') ?? '');
    const expected = Buffer.from(account?.password ?? '');
    if (!account || given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
      return sendHtml(res, 200, loginPage(uid, params.client_id, { login, error: 'Invalid username or password.' }));
    }
    return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (action === 'confirm') {
    if (prompt.name !== 'consent') return sendHtml(res, 400, page('Not at the consent prompt', ''));
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  return sendHtml(res, 404, page('Not found', ''));
}

async function main() {
  const config = loadConfig(process.argv[2]);
  const ttl = { ...DEFAULT_TTL, ...(config.ttl ?? {}) };

  const accounts = { bySub: new Map(), byUsername: new Map() };
  for (const a of config.accounts) {
    accounts.bySub.set(a.sub, a);
    accounts.byUsername.set(a.username, a);
  }
  const resourceServers = new Map(config.resource_servers.map((r) => [r.identifier, r]));

  // The server exists (and has its port) before the provider, whose issuer names the port.
  let handler = (_req, res) => {
    res.writeHead(503);
    res.end();
  };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port ?? 0, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = {
    ...privateKey.export({ format: 'jwk' }),
    kid: crypto.randomBytes(8).toString('hex'),
    alg: 'RS256',
    use: 'sig',
  };

  const accountClaims = (a) => ({
    sub: a.sub,
    email: a.email,
    email_verified: a.email === undefined ? undefined : (a.email_verified ?? true),
    name: a.name,
    preferred_username: a.username,
    groups: a.groups,
    tenant: a.tenant,
  });

  const anyPortClients = new Set(config.clients.filter((c) => c.loopback_any_port).map((c) => c.client_id));
  const provider = new Provider(issuer, {
    clients: config.clients.map(({ loopback_any_port: _, ...c }) => ({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...c,
    })),
    jwks: { keys: [signingKey] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
      tenant: ['tenant'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'tenant'],
    conformIdTokenClaims: config.conform_id_token_claims ?? true,
    clientAuthMethods: config.token_endpoint_auth_methods?.length ? config.token_endpoint_auth_methods
      : [...new Set(config.clients.map((c) => c.token_endpoint_auth_method ?? 'client_secret_basic'))],
    async findAccount(_ctx, sub) {
      const account = accounts.bySub.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: async () => accountClaims(account) };
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // The default page puts its buttons outside the form (form="…" attributes); a
        // test that parses forms needs them inside.
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out', `<p>Sign out of ${escapeHtml(ctx.host)}?</p>
${form.replace('</form>', '<button type="submit" name="logout" value="yes">Yes, sign me out</button></form>')}`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        // No `resource`: an opaque token for userinfo, as for a plain OpenID client.
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        async getResourceServerInfo(_ctx, identifier) {
          const r = resourceServers.get(identifier);
          if (!r) throw new errors.InvalidTarget();
          return {
            audience: r.audience ?? r.identifier,
            scope: r.scope ?? '',
            accessTokenFormat: r.access_token_format ?? 'jwt',
            accessTokenTTL: r.access_token_ttl ?? ttl.AccessToken,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    async extraTokenClaims(_ctx, token) {
      const r = token.resourceServer && resourceServers.get(token.resourceServer.identifier());
      const account = token.accountId && accounts.bySub.get(token.accountId);
      if (!r || !account) return undefined;
      const claims = accountClaims(account);
      const extra = {};
      for (const name of r.token_claims ?? DEFAULT_TOKEN_CLAIMS) if (claims[name] !== undefined) extra[name] = claims[name];
      return extra;
    },
    async issueRefreshToken(_ctx, client, source) {
      if (!client.grantTypeAllowed('refresh_token')) return false;
      return !config.refresh_token_requires_offline_access || source.scopes.has('offline_access');
    },
    pkce: { required: () => true },
    ttl: {
      ...ttl,
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.AccessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.ClientCredentials,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', Object.entries(out)
        .map(([k, v]) => `<p><strong>${escapeHtml(k)}</strong>: ${escapeHtml(v)}</p>`).join('\n'));
    },
  });

  // oidc-provider ignores loopback ports only for native clients (which it also always
  // asks for consent); these web clients get the same matching.
  const { prototype: client } = provider.Client;
  const exactRedirect = client.redirectUriAllowed;
  const exactPostLogout = client.postLogoutRedirectUriAllowed;
  client.redirectUriAllowed = function redirectUriAllowed(value) {
    return exactRedirect.call(this, value)
      || (anyPortClients.has(this.clientId) && this.redirectUris.some((uri) => sameButPort(uri, value)));
  };
  client.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(value) {
    return exactPostLogout.call(this, value)
      || (anyPortClients.has(this.clientId) && this.postLogoutRedirectUris.some((uri) => sameButPort(uri, value)));
  };

  for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error',
    'end_session.error', 'introspection.error', 'jwks.error', 'discovery.error']) {
    provider.on(event, (_ctx, err) => {
      const detail = err.error_description ?? err.message;
      process.stderr.write(`event=${event} error=${err.error ?? err.name} description=${JSON.stringify(detail)}\n`);
      if (event === 'server_error') process.stderr.write(`${err.stack}\n`);
    });
  }

  const callback = provider.callback();
  const clientsById = new Map(config.clients.map((c) => [c.client_id, c]));
  // The registered token_endpoint_auth_method, strictly. The body is read here, so
  // oidc-provider takes it from req.body (and warns once that it did).
  async function checkClientAuthMethod(req, res) {
    req.body = await readBody(req);
    const body = new URLSearchParams(req.body);
    const header = req.headers.authorization ?? '';
    let clientId = body.get('client_id');
    let used;
    if (/^basic /i.test(header)) {
      used = 'client_secret_basic';
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      try {
        clientId = decodeURIComponent(decoded.slice(0, decoded.indexOf(':')).replace(/\+/g, '%20'));
      } catch {
        return true;  // oidc-provider answers malformed credentials itself
      }
    } else if (body.has('client_secret')) {
      used = 'client_secret_post';
    }
    const registered = clientsById.get(clientId)?.token_endpoint_auth_method ?? 'client_secret_basic';
    if (!used || used === registered) return true;
    res.writeHead(401, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({
      error: 'invalid_client',
      error_description: `client authentication failed: ${clientId} is registered for ${registered}, not ${used}`,
    }));
    return false;
  }

  const interactionRoute = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/;
  handler = (req, res) => {
    const path = new URL(req.url, issuer).pathname;
    res.on('finish', () => process.stderr.write(`${req.method} ${path} ${res.statusCode}\n`));
    if (req.method === 'POST' && path === '/token') {
      return checkClientAuthMethod(req, res).then((ok) => ok && callback(req, res), (err) => {
        process.stderr.write(`token endpoint: ${err.stack ?? err}\n`);
        sendHtml(res, 400, page('Bad request', ''));
      });
    }
    const m = interactionRoute.exec(path);
    if (!m) return callback(req, res);
    return interaction(provider, accounts, req, res, decodeURIComponent(m[1]), m[2]).catch((err) => {
      process.stderr.write(`interaction error: ${err.stack ?? err}\n`);
      if (res.headersSent) return res.end();
      const status = err.statusCode ?? 500;
      return sendHtml(res, status, page('Error', `<p>${escapeHtml(err.error_description ?? err.message)}</p>`));
    });
  };

  const shutdown = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
}

main().catch((err) => fail(err.stack ?? String(err)));
