// `gatehouse demo` for the browser tests: started on a free port, its URL and the demo
// logins read from what it prints.
import { spawn } from 'node:child_process';

export function startDemo(binary) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['demo', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${out}\n${err}`)), 20000);
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Press Ctrl-C')) {
        clearTimeout(timer);
        const url = out.match(/Open\s+(http:\/\/\S+?)\/?\s/)[1];
        const passwords = {};
        for (const m of out.matchAll(/^\s+(\w+) \/ (\S+)/gm)) passwords[m[1]] = m[2];
        resolve({ child, url, passwords });
      }
    });
    child.on('exit', (code) => reject(new Error(`demo exited with ${code}:\n${out}\n${err}`)));
  });
}

export async function stopDemo(child) {
  if (!child) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

// Signs `user` in through the login form on the way to `path` (the demo's password).
export async function signIn(page, demo, user, path) {
  await page.goto(`${demo.url}${path}`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(demo.passwords[user]);
  await Promise.all([
    page.waitForURL(`${demo.url}${path}`),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
}
