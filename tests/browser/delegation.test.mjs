// Delegation in a real browser (headless Debian Chromium driven by playwright-core), on
// the demo: carol of Globex holds a delegation from Acme. She switches in the organisation
// switcher, sees the banner on the application's page (which sends a strict
// Content-Security-Policy), and switches back. alice, a superuser of Acme, grants and
// revokes a delegation on the delegations page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';
import { signIn as signInAs, startDemo, stopDemo } from './demo.mjs';

const binary = process.env.GATEHOUSE_BINARY;
assert.ok(binary, 'GATEHOUSE_BINARY must name the gatehouse executable');

let demo;
let browser;
let baseUrl;
let passwords = {};


const signIn = (page, user, path) => signInAs(page, { url: baseUrl, passwords }, user, path);

before(async () => {
  const started = await startDemo(binary);
  demo = started.child;
  baseUrl = started.url;
  passwords = started.passwords;
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  await stopDemo(demo);
});

test('a consultant switches to a customer, works under the banner and switches back', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cspViolations = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });

  await signIn(page, 'carol', '/orders');
  assert.equal(await page.locator('#party').textContent(), 'globex');
  assert.equal(await page.locator('.gatehouse-banner').count(), 0);
  // Acme's pages are closed to Globex.
  const closed = await page.goto(`${baseUrl}/acme/reports`);
  assert.equal(closed.status(), 403);

  // The switcher offers the own organisation and Acme.
  await page.goto(`${baseUrl}/.gatehouse/parties?rd=/acme/reports`);
  assert.equal(await page.title(), 'Organisation');
  await Promise.all([
    page.waitForURL(`${baseUrl}/acme/reports`),
    page.getByRole('button', { name: 'Act for Acme Ltd' }).click(),
  ]);
  assert.equal(await page.locator('#party').textContent(), 'acme');

  // The banner, styled by gatehouse's stylesheet although the page's CSP forbids inline styles.
  const banner = page.getByRole('region', { name: 'Delegation' });
  await banner.waitFor();
  assert.match(await banner.textContent(), /You are acting for Acme Ltd \(your own organisation: Globex Consulting\)/);
  assert.match(await banner.getByRole('status').textContent(), /You now act for Acme Ltd/);
  const csp = (await page.request.get(`${baseUrl}/acme/reports`, { headers: { Accept: 'text/html' } })).headers()['content-security-policy'];
  assert.match(csp, /default-src 'none'/);
  const background = await page.locator('.gatehouse-banner').evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.notEqual(background, 'rgba(0, 0, 0, 0)', 'the banner stylesheet was applied');
  assert.deepEqual(cspViolations, []);

  // The notice was once; the banner stays, on every page.
  await page.reload();
  await banner.waitFor();
  assert.equal(await banner.getByRole('status').count(), 0);
  await page.goto(`${baseUrl}/somewhere/else`);
  assert.equal(await page.locator('#party').textContent(), 'acme');
  await banner.waitFor();

  if (process.env.GATEHOUSE_SCREENSHOT_DIR) {
    await page.screenshot({ path: join(process.env.GATEHOUSE_SCREENSHOT_DIR, 'delegation-banner.png') });
  }

  // Back to the own organisation through the banner's link.
  await Promise.all([
    page.waitForURL(/\/\.gatehouse\/parties\?rd=/),
    page.getByRole('link', { name: 'Switch organisation' }).click(),
  ]);
  await Promise.all([
    page.waitForURL(`${baseUrl}/somewhere/else`),
    page.getByRole('button', { name: 'Act for Globex Consulting' }).click(),
  ]);
  assert.equal(await page.locator('#party').textContent(), 'globex');
  assert.equal(await page.locator('.gatehouse-banner-text').count(), 0);
  await context.close();
});

test('a superuser grants and revokes a delegation on the delegations page', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, 'alice', '/');
  await page.goto(`${baseUrl}/.gatehouse/delegations`);
  assert.equal(await page.title(), 'Delegations');
  const acme = page.getByRole('region', { name: 'Acme Ltd' });
  await acme.getByLabel('E-mail address of the delegate').fill('Dave@Partner.Example');
  await acme.getByLabel(/Last day/).fill('2099-12-31');
  await Promise.all([
    page.waitForURL(/\/\.gatehouse\/delegations\?granted=\d+$/),
    acme.getByRole('button', { name: 'Grant delegation' }).click(),
  ]);
  assert.match(await page.getByRole('status').textContent(), /was granted/);
  const row = acme.getByRole('row', { name: /dave@partner\.example/ });
  assert.match(await row.textContent(), /2099-12-31 23:59:59/);
  assert.match(await row.textContent(), /active/);
  await Promise.all([
    page.waitForURL(/\/\.gatehouse\/delegations\?revoked=\d+$/),
    row.getByRole('button', { name: 'Revoke' }).click(),
  ]);
  assert.match(await acme.getByRole('row', { name: /dave@partner\.example/ }).textContent(), /revoked/);

  // carol (not a superuser of anything) is refused.
  const other = await browser.newContext();
  const carol = await other.newPage();
  await signIn(carol, 'carol', '/');
  const refused = await carol.goto(`${baseUrl}/.gatehouse/delegations`);
  assert.equal(refused.status(), 403);
  await other.close();
  await context.close();
});
