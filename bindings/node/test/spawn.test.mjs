// A worker's output from child_process.spawn, piped into appendStdout and
// appendStderr as it comes, replayed byte for byte.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openEngine } from '../index.js';
import { scratch, meta, collect, runlogCli } from './helpers.mjs';

// The worker writes UTF-8 (multi-byte characters, controls, long lines) in
// writes of odd sizes, so characters are cut between chunks.
const worker = `
const out = [];
for (let i = 0; i < 3000; i++) out.push('line ' + i + ' héllo ✓ 😀 \\t\\u001b[1mbold\\u001b[0m ' + 'x'.repeat(i % 97) + '\\n');
const all = Buffer.from(out.join(''));
let off = 0, k = 1;
while (off < all.length) { const n = (k++ * 7919) % 4093 + 1; process.stdout.write(all.subarray(off, off + n)); off += n; }
process.stderr.write(Buffer.from('warning: ∂ done\\n'));
`;

test('spawned worker output is replayed byte for byte', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const engine = await openEngine({ runsRoot: `${dir}/runs`, durability: 'batch' });
  t.after(() => engine.close());
  const run = await engine.openRun(meta('spawn', 'r1'));
  await run.appendLifecycle({ type: 'worker_started', level: 'info', message: 'started', data: { pid: 1 } });
  const child = spawn(process.execPath, ['-e', worker], { stdio: ['ignore', 'pipe', 'pipe'] });
  const sent = { stdout: [], stderr: [] };
  const acks = [];
  child.stdout.on('data', (b) => { sent.stdout.push(b); acks.push(run.appendStdout(b)); });
  child.stderr.on('data', (b) => { sent.stderr.push(b); acks.push(run.appendStderr(b)); });
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  const seqs = await Promise.all(acks);
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], 'seqs follow push order');
  await run.appendLifecycle({ type: 'worker_exited', level: 'info', message: 'exited', data: { exitCode: code } });
  assert.ok(sent.stdout.length > 3, `the output came in many chunks (${sent.stdout.length})`);

  // Through the binding: the texts of the stdout entries, joined, are the bytes sent.
  const entries = await collect(engine.readLog(run.paths.runDir, { channel: 'stdout' }));
  const text = entries.map((e) => e.text).join('');
  assert.ok(Buffer.from(text).equals(Buffer.concat(sent.stdout)), 'stdout replayed byte for byte');
  const errs = await collect(engine.readLog(run.paths.runDir, { channel: 'stderr' }));
  assert.equal(errs.map((e) => e.text).join(''), Buffer.concat(sent.stderr).toString());
  const all = await collect(engine.readLog(run.paths.runDir));
  assert.deepEqual(all.map((e) => e.seq), Array.from({ length: all.length }, (_, i) => i + 1));
  assert.equal(all[0].type, 'worker_started');
  assert.deepEqual(all.at(-1).data, { exitCode: 0 });
  assert.equal(run.summary().totalEntries, all.length);
  await engine.close();

  // And through the CLI, raw.
  const raw = runlogCli(['replay', run.paths.runDir, '--format', 'raw', '--channel', 'stdout']);
  assert.ok(raw.equals(Buffer.concat(sent.stdout)), 'runlog replay --format raw gives the same bytes');
});

test('bytes that are not UTF-8 are kept: replay --format raw gives them back', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const engine = await openEngine({ runsRoot: `${dir}/runs` });
  t.after(() => engine.close());
  const run = await engine.openRun(meta('bin', 'r1'));
  const bytes = Buffer.from([0x41, 0xff, 0xfe, 0x0a, 0xc3, 0x28, 0x00, 0x0a]);
  await run.appendStdout(bytes);
  await run.close();
  await engine.close();
  assert.ok(runlogCli(['replay', run.paths.runDir, '--format', 'raw']).equals(bytes));
});
