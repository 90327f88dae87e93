// A Node process killed with SIGKILL, or leaving with process.exit, while it
// appends: its run reopens with every acknowledged record in place.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openEngine } from '../index.js';
import { scratch, meta, collect, packageDir, runlogCli } from './helpers.mjs';

// The writer: 4 async producers append as fast as they can; after each
// acknowledgement it prints "seq text-index" on stdout (synchronously), so
// what the parent reads was acknowledged before it was printed.
const writer = (exitAfter, journal = false) => `
const fs = require('node:fs');
const { openEngine } = require(${JSON.stringify(path.join(packageDir, 'index.js'))});
(async () => {
  const engine = await openEngine({ runsRoot: process.argv[1], overBudget: 'wait', journal: ${journal} });
  const run = await engine.openRun({ taskId: 'crash', runId: 'r1', stepId: 's', stepName: 'n', workerKind: 'w',
    attempt: 1, repoRoot: '.', worktreePath: '.', createdAt: '', checkpointMode: 'none' });
  let n = 0, acked = 0;
  await Promise.all([0, 1, 2, 3].map(async (p) => {
    for (;;) {
      const i = n++;
      const pending = [];
      for (let k = 0; k < 50; k++) {
        const text = 'producer ' + p + ' record ' + i + '.' + k + '\\n';
        pending.push(run.appendStdout(text).then((seq) => fs.writeSync(1, seq + ' ' + text)));
      }
      await Promise.all(pending);
      acked += 50;
      if (${exitAfter} > 0 && acked >= ${exitAfter}) { run.appendStdout('unacknowledged\\n'); process.exit(0); }
    }
  }));
})();
`;

async function writeUntil(dir, exitAfter, killAfterLines, journal = false) {
  const child = spawn(process.execPath, ['-e', writer(exitAfter, journal), `${dir}/runs`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b) => {
    out += b;
    if (killAfterLines > 0 && out.split('\n').length > killAfterLines) child.kill('SIGKILL');
  });
  const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])));
  const acked = new Map();
  for (const line of out.split('\n')) {
    const m = /^(\d+) (.*)$/s.exec(line);
    if (m) acked.set(Number(m[1]), `${m[2]}\n`);
  }
  return { code, signal, acked };
}

async function checkReopened(dir, acked) {
  const engine = await openEngine({ runsRoot: `${dir}/runs` });
  const run = await engine.openRun(meta('crash', 'r1'));
  const entries = await collect(engine.readLog(run.paths.runDir));
  const bySeq = new Map(entries.map((e) => [e.seq, e.text]));
  for (const [seq, text] of acked) assert.equal(bySeq.get(seq), text, `acknowledged seq ${seq} is there after the reopen`);
  assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: entries.length }, (_, i) => i + 1), 'gap-free');
  // The reopened run goes on from where it stopped.
  const next = await run.appendStdout('after the crash\n');
  assert.equal(next, entries.length + 1);
  await engine.close();
  assert.equal(runlogCli(['verify', `${dir}/runs`]).toString(), '');
}

test('SIGKILL mid-way: every acknowledged record survives the reopen', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const { signal, acked } = await writeUntil(dir, 0, 3000);
  assert.equal(signal, 'SIGKILL');
  assert.ok(acked.size >= 3000, `records were acknowledged before the kill (${acked.size})`);
  await checkReopened(dir, acked);
});

test('SIGKILL mid-way with the journal: the next opener finishes it, nothing acknowledged is lost', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const { signal, acked } = await writeUntil(dir, 0, 3000, true);
  assert.equal(signal, 'SIGKILL');
  const left = fs.readdirSync(`${dir}/runs/.journal`).filter((n) => n.endsWith('.wal'));
  assert.equal(left.length, 1, 'the killed writer left its journal');
  await checkReopened(dir, acked);
  assert.deepEqual(fs.readdirSync(`${dir}/runs/.journal`).filter((n) => n.endsWith('.wal')), [], 'finished and removed');
});

test('process.exit mid-way loses nothing acknowledged and does not crash', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const { code, signal, acked } = await writeUntil(dir, 2000, 0);
  assert.equal(signal, null);
  assert.equal(code, 0, 'the process exits cleanly while the engine is open');
  assert.ok(acked.size >= 2000);
  await checkReopened(dir, acked);
});

test('a handle dropped and garbage-collected never crashes the process', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const script = `
const { openEngine } = require(${JSON.stringify(path.join(packageDir, 'index.js'))});
(async () => {
  for (let i = 0; i < 5; i++) {
    const engine = await openEngine({ runsRoot: process.argv[1], conversationsRoot: process.argv[1] + '/c' });
    const run = await engine.openRun({ taskId: 'gc', runId: 'r' + i });
    const conv = await engine.openConversation('c' + i);
    const it = conv.events();
    run.appendStdout('x\\n');
    conv.append('user', { type: 'text', text: 'y' });
    if (i % 2 === 0) await engine.close();   // the others are dropped open
  }
  for (let k = 0; k < 5; k++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
  console.log('survived');
})();
`;
  const child = spawn(process.execPath, ['--expose-gc', '-e', script, `${dir}/runs`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b) => { out += b; });
  const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])));
  assert.equal(signal, null);
  assert.equal(code, 0);
  assert.equal(out, 'survived\n');
  assert.equal(runlogCli(['verify', `${dir}/runs`]).toString(), '');
});

test('worker threads that exit or are terminated with the engine open do not crash the process', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  // Each worker appends, is told one seq is acknowledged, leaves 1,000 appends
  // pending and then leaves by process.exit (odd thread ids), by the end of
  // its script (even ones), or by terminate() from here (the last).
  const script = `
const { openEngine } = require(${JSON.stringify(path.join(packageDir, 'index.js'))});
const { parentPort, threadId, workerData } = require('node:worker_threads');
(async () => {
  const engine = await openEngine({ runsRoot: workerData });
  const run = await engine.openRun({ taskId: 'w', runId: 'r' + threadId });
  const seq = await run.appendStdout('from worker ' + threadId + '\\n');
  for (let i = 0; i < 1000; i++) run.appendStdout('pending ' + i + '\\n');
  parentPort.postMessage(seq);
  if (threadId % 2) process.exit(0);
})();
`;
  const { Worker } = await import('node:worker_threads');
  for (let i = 0; i < 5; i++) {
    const w = new Worker(script, { eval: true, workerData: `${dir}/runs` });
    const acked = new Promise((resolve) => w.on('message', resolve));
    const exited = new Promise((resolve) => w.on('exit', resolve));
    assert.equal(await acked, 1);
    if (i === 4) await w.terminate();
    await exited;
  }
  assert.equal(runlogCli(['verify', `${dir}/runs`]).toString(), '');
  const engine = await openEngine({ runsRoot: `${dir}/runs` });
  t.after(() => engine.close());
  const runs = (await import('node:fs')).readdirSync(`${dir}/runs/w`);
  assert.equal(runs.length, 5);
  for (const r of runs) {
    const entries = await collect(engine.readLog(`${dir}/runs/w/${r}`));
    assert.equal(entries[0].text, `from worker ${r.slice(1)}\n`, 'the acknowledged record is there');
  }
});
