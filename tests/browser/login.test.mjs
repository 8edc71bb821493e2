// The sign-in journey in a real browser (headless Debian Chromium driven by
// playwright-core): redirect to the login page, a failed attempt, sign-in, the
// application page with the identity gatehouse sent, sign-out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';
import { startDemo, stopDemo } from './demo.mjs';

const binary = process.env.GATEHOUSE_BINARY;
assert.ok(binary, 'GATEHOUSE_BINARY must name the gatehouse executable');

let demo;
let browser;
let baseUrl;
let password;


before(async () => {
  const started = await startDemo(binary);
  demo = started.child;
  baseUrl = started.url;
  password = started.passwords.alice;
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  await stopDemo(demo);
});

test('a user signs in, sees who the application thinks they are, and signs out', async () => {
  const page = await browser.newPage();

  // A protected page sends the browser to the sign-in form, remembering where it was going.
  await page.goto(`${baseUrl}/reports?year=2026`);
  assert.match(page.url(), /\/\.gatehouse\/login\?rd=\/reports%3Fyear%3D2026$/);
  assert.equal(await page.title(), 'Sign in');

  // Fields are reachable by their labels (accessible names).
  const user = page.getByLabel('User name');
  const pass = page.getByLabel('Password');
  await assert.doesNotReject(user.waitFor());

  // A wrong password: one generic message, announced as an alert, the name kept.
  await user.fill('alice');
  await pass.fill('not-the-password');
  const failed = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/.gatehouse/login') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  assert.equal(failed[0].status(), 401);
  assert.equal(await page.getByRole('alert').textContent(), 'The user name or password is incorrect.');
  assert.equal(await user.inputValue(), 'alice');

  // The right password: back to the page that was asked for.
  await pass.fill(password);
  await Promise.all([
    page.waitForURL(`${baseUrl}/reports?year=2026`),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  assert.equal(await page.locator('#user').textContent(), 'alice');
  assert.equal(await page.locator('#party').textContent(), 'acme');
  const claims = JSON.parse(await page.locator('#assertion-claims').textContent());
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.real_party, 'acme');
  assert.deepEqual([...claims.groups].sort(), ['admins', 'staff']);

  // The session cookie is not readable from page scripts.
  assert.equal(await page.evaluate(() => document.cookie.includes('gatehouse_session=')), false);

  // Sign out: back at the form with a notice; the application is closed again.
  await Promise.all([
    page.waitForURL(/\/\.gatehouse\/login\?signed_out=1$/),
    page.getByRole('button', { name: 'Sign out' }).click(),
  ]);
  assert.equal(await page.getByRole('status').textContent(), 'You have been signed out.');
  await page.goto(`${baseUrl}/reports`);
  assert.match(page.url(), /\/\.gatehouse\/login\?rd=/);

  if (process.env.GATEHOUSE_SCREENSHOT_DIR) {
    await page.screenshot({ path: join(process.env.GATEHOUSE_SCREENSHOT_DIR, 'login.png') });
  }
});
