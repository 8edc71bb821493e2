// Single sign-on in a real browser (headless Debian Chromium driven by playwright-core):
// the real OpenID provider fixture (tests/oidc/provider.mjs), gatehouse with only that
// provider configured, and an echo application. A protected page goes straight to the
// provider's login form; after login and consent the application shows the identity
// gatehouse sent; sign-out ends the session at gatehouse and at the provider (its
// confirmation page) and lands on gatehouse's login page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.mjs';

const binary = process.env.GATEHOUSE_BINARY;
assert.ok(binary, 'GATEHOUSE_BINARY must name the gatehouse executable');

const testsDir = dirname(dirname(fileURLToPath(import.meta.url)));
const PASSWORD = 'alice-Password-1';

let tmp;
let provider;   // { child, issuer, log() }
let gatehouse;  // { child, log() }
let upstream;   // http.Server
let browser;
let baseUrl;
const consoleLines = [];  // what Chromium logged, and the responses it got (no query strings)

// Everything the children wrote, for failure messages.
function logs() {
  const tail = (s) => (s.length > 8000 ? `…${s.slice(-8000)}` : s);
  return [
    `--- gatehouse output ---\n${gatehouse ? tail(gatehouse.log()) : '(not started)'}`,
    `--- provider output ---\n${provider ? tail(provider.log()) : '(not started)'}`,
    `--- browser (responses, console) ---\n${consoleLines.join('\n') || '(nothing)'}`,
  ].join('\n');
}

// Runs `fn`; a failure carries the children's logs.
async function withLogs(fn) {
  try {
    return await fn();
  } catch (err) {
    err.message = `${err.message}\n${logs()}`;
    throw err;
  }
}

// A child process whose stdout and stderr are kept; killed at exit whatever happens.
function startChild(command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.running = true;
  child.exited.then(() => { child.running = false; });
  process.once('exit', () => { if (child.running) child.kill('SIGKILL'); });
  return { child, log: () => output };
}

async function stopChild(started) {
  if (!started || !started.child.running) return;
  started.child.kill('SIGTERM');
  const timer = setTimeout(() => started.child.kill('SIGKILL'), 10000);
  await started.child.exited;
  clearTimeout(timer);
}

function startProvider(configFile) {
  const started = startChild(process.execPath, [join(testsDir, 'oidc', 'provider.mjs'), configFile]);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the OpenID provider was not ready after 20 s:\n${started.log()}`)), 20000);
    started.child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve({ ...started, issuer: JSON.parse(out.slice(0, nl)).issuer });
      } catch (err) {
        reject(new Error(`the OpenID provider printed no JSON line (${err.message}):\n${started.log()}`));
      }
    });
    started.child.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the OpenID provider exited (${code ?? signal}) before it was ready:\n${started.log()}`));
    });
  }).catch(async (err) => { await stopChild(started); throw err; });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
})[c]);

// The application: a page listing the identity headers it received, and a sign-out form.
function startUpstream() {
  const server = http.createServer((req, res) => {
    const h = (name) => req.headers[name.toLowerCase()] ?? '';
    const rows = ['X-Gatehouse-User', 'X-Gatehouse-Email', 'X-Gatehouse-Name', 'X-Gatehouse-Groups',
      'X-Gatehouse-Real-Party', 'X-Gatehouse-Effective-Party']
      .map((name) => `<tr><th>${name}</th><td id="${name.toLowerCase()}">${escapeHtml(h(name))}</td></tr>`);
    const body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Echo</title></head>
<body>
<h1>Echo</h1>
<p id="path">${escapeHtml(req.url)}</p>
<p id="cookie">${escapeHtml(h('cookie'))}</p>
<table>${rows.join('\n')}</table>
<form method="post" action="/.gatehouse/logout"><button type="submit">Sign out</button></form>
</body></html>
`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function waitHealthy(url, started, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!started.child.running) throw new Error(`gatehouse exited before it was ready:\n${started.log()}`);
    try {
      const r = await fetch(`${url}/.gatehouse/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gatehouse not healthy after ${timeoutMs} ms (${last}):\n${started.log()}`);
}

before(async () => {
  tmp = fs.mkdtempSync(join(os.tmpdir(), 'gatehouse-oidc-browser-'));

  // The provider: loopback redirect URIs match any port, so it may start first.
  const providerConfig = join(tmp, 'provider.json');
  fs.writeFileSync(providerConfig, JSON.stringify({
    port: 0,
    clients: [{
      client_id: 'gatehouse',
      client_secret: 'gatehouse-secret',
      redirect_uris: ['http://127.0.0.1/.gatehouse/oidc/sso/callback'],
      post_logout_redirect_uris: ['http://127.0.0.1/.gatehouse/login'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      loopback_any_port: true,
    }],
    accounts: [{
      sub: 'alice-0001',
      username: 'alice',
      password: PASSWORD,
      email: 'alice@example.org',
      email_verified: true,
      name: 'Alice Example',
      groups: ['developers', 'engineering'],
      tenant: 'example',
    }],
  }, null, 2));
  provider = await startProvider(providerConfig);

  upstream = await startUpstream();

  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const secretFile = join(tmp, 'oidc.secret');
  fs.writeFileSync(secretFile, 'gatehouse-secret\n', { mode: 0o600 });
  const configFile = join(tmp, 'gatehouse.toml');
  const q = (s) => JSON.stringify(s);  // a TOML basic string
  fs.writeFileSync(configFile, `[server]
listen = ${q(`127.0.0.1:${port}`)}
public_url = ${q(baseUrl)}

[store]
path = ${q(join(tmp, 'gatehouse.db'))}

[keys]
master_key_file = ${q(join(tmp, 'master.key'))}

[[oidc]]
name = "sso"
display_name = "Example SSO"
issuer = ${q(provider.issuer)}
client_id = "gatehouse"
client_secret_file = ${q(secretFile)}
scopes = ["openid", "email", "profile", "groups", "tenant"]
tenant = "fallback"
tenant_claim = "tenant"

[[route]]
path_prefix = "/"
upstream = ${q(`http://127.0.0.1:${upstream.address().port}`)}
`);

  const check = spawnSync(binary, ['config', 'check', '--config', configFile], { encoding: 'utf8', timeout: 10000 });
  assert.equal(check.status, 0,
    `gatehouse config check failed (${check.status ?? check.error}):\n${check.stdout}${check.stderr}\n${fs.readFileSync(configFile, 'utf8')}`);

  gatehouse = startChild(binary, ['serve', '--config', configFile]);
  await waitHealthy(baseUrl, gatehouse, 15000);

  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  await stopChild(gatehouse);
  await stopChild(provider);
  if (upstream) {
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function newPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.setDefaultNavigationTimeout(15000);
  const noQuery = (u) => u.replace(/[?#].*$/, '');
  page.on('response', (r) => consoleLines.push(`[${r.status()}] ${r.request().method()} ${noQuery(r.url())}`));
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${noQuery(page.url())}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${noQuery(page.url())}: ${e.message}`));
  return { context, page };
}

test('a user signs in at the OpenID provider, sees their identity, and signs out of both', { timeout: 90000 }, () => withLogs(async () => {
  const { context, page } = await newPage();
  try {
    const issuer = new URL(provider.issuer);

    // With only a provider, a protected page goes straight to the provider's login form.
    await page.goto(`${baseUrl}/reports?x=1`);
    assert.equal(new URL(page.url()).origin, issuer.origin, `expected the provider's login page, at ${page.url()}`);
    assert.match(page.url(), /\/interaction\/[^/]+$/);
    assert.equal(await page.title(), 'Sign in to the test provider');

    // Log in, then consent.
    await page.locator('input[name="login"]').fill('alice');
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Authorize' }).waitFor()
      .catch((err) => { throw new Error(`expected the consent page, at ${page.url()}: ${err.message}`); });
    assert.equal(new URL(page.url()).origin, issuer.origin);
    await Promise.all([
      page.waitForURL(`${baseUrl}/reports?x=1`),
      page.getByRole('button', { name: 'Continue' }).click(),
    ]);

    // The application saw who signed in.
    assert.equal(await page.locator('#path').textContent(), '/reports?x=1');
    assert.equal(await page.locator('#x-gatehouse-user').textContent(), 'alice');
    assert.equal(await page.locator('#x-gatehouse-groups').textContent(), 'developers,engineering');
    assert.equal(await page.locator('#x-gatehouse-real-party').textContent(), 'example');
    assert.equal(await page.locator('#x-gatehouse-effective-party').textContent(), 'example');
    assert.equal(await page.locator('#x-gatehouse-email').textContent(), 'alice@example.org');
    assert.equal(await page.locator('#x-gatehouse-name').textContent(), 'Alice Example');
    // gatehouse's own cookies never reach the application.
    assert.doesNotMatch(await page.locator('#cookie').textContent(), /gatehouse_/);

    // The session cookie: HttpOnly, Lax, not Secure on http, host-only, not readable by scripts.
    const cookies = await context.cookies(baseUrl);
    const session = cookies.find((c) => c.name === 'gatehouse_session');
    assert.ok(session, `no gatehouse_session cookie among ${JSON.stringify(cookies.map((c) => c.name))}`);
    assert.equal(session.httpOnly, true, 'gatehouse_session must be HttpOnly');
    assert.equal(session.sameSite, 'Lax');
    assert.equal(session.secure, false);
    assert.equal(session.path, '/');
    assert.equal(await page.evaluate(() => document.cookie.includes('gatehouse_session=')), false);

    // Sign out: gatehouse ends the session and sends the browser to the provider's
    // end-session page, which asks for confirmation.
    await Promise.all([
      page.waitForURL((u) => u.origin === issuer.origin),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    assert.equal(await page.title(), 'Sign out', `expected the provider's sign-out confirmation at ${page.url()}`);
    assert.equal((await context.cookies(baseUrl)).some((c) => c.name === 'gatehouse_session'), false,
      'gatehouse_session must be cleared at sign-out');
    await Promise.all([
      page.waitForURL(`${baseUrl}/.gatehouse/login`),
      page.locator('button[name="logout"][value="yes"]').click(),
    ]);
    assert.equal(await page.title(), 'Sign in');
    await assert.doesNotReject(page.getByRole('link', { name: 'Sign in with Example SSO' }).waitFor());

    // Signed out at the provider too: the application is closed, and the provider asks
    // for the password again.
    await page.goto(`${baseUrl}/reports`);
    assert.equal(new URL(page.url()).origin, issuer.origin, `expected the provider's login page, at ${page.url()}`);
    assert.equal(await page.title(), 'Sign in to the test provider');
    await assert.doesNotReject(page.locator('input[name="password"]').waitFor());

    if (process.env.GATEHOUSE_SCREENSHOT_DIR) {
      await page.screenshot({ path: join(process.env.GATEHOUSE_SCREENSHOT_DIR, 'oidc.png') });
    }
  } finally {
    await context.close();
  }
}));

test('the login page offers the provider and no password form when there is no directory', { timeout: 30000 }, () => withLogs(async () => {
  const { context, page } = await newPage();
  try {
    const response = await page.goto(`${baseUrl}/.gatehouse/login`);
    assert.equal(response.status(), 200);
    assert.equal(await page.title(), 'Sign in');
    const sso = page.getByRole('link', { name: 'Sign in with Example SSO' });
    await assert.doesNotReject(sso.waitFor());
    assert.match(await sso.getAttribute('href'), /^\/\.gatehouse\/oidc\/sso\/start\?rd=/);
    assert.equal(await page.locator('input[type="password"]').count(), 0);
    assert.equal(await page.locator('form').count(), 0);
  } finally {
    await context.close();
  }
}));
