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
