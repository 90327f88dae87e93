// Bad input rejects before anything is written, with nothing created; errors
// carry code, errno and path; a full budget rejects or waits as told.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { openEngine } from '../index.js';
import { scratch, meta, collect } from './helpers.mjs';

const tree = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).sort() : []);

async function rejects(promise, code, pathPart) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error);
    assert.equal(err.code, code, err.message);
    assert.equal(typeof err.errno, 'number');
    assert.equal(typeof err.path, 'string');
    if (pathPart) assert.ok(err.path.includes(pathPart), `${err.path} names ${pathPart}`);
    return true;
  });
}

test('bad ids and badly shaped metadata create nothing', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const engine = await openEngine({ runsRoot: `${dir}/runs`, conversationsRoot: `${dir}/convs` });
  t.after(() => engine.close());
  const before = tree(dir);
  await rejects(engine.openRun(meta('../escape', 'r1')), 'invalid_argument', 'escape');
  await rejects(engine.openRun(meta('t1', '')), 'invalid_argument');
  await rejects(engine.openRun(meta('t1', 'a/b')), 'invalid_argument');
  await rejects(engine.openRun(meta('t1', 'r1', { attempt: 'one' })), 'invalid_argument');
  await rejects(engine.openRun(meta('t1', 'r1', { stepName: 7 })), 'invalid_argument');
  await rejects(engine.openRun(null), 'invalid_argument');
  await rejects(engine.openConversation('../c'), 'invalid_argument');
  await rejects(engine.openConversation(''), 'invalid_argument');
  await rejects(engine.openConversation(42), 'invalid_argument');
  assert.deepEqual(tree(dir), before, 'nothing was created');
  assert.ok(!fs.existsSync(`${dir}/runs/t1`));
  assert.ok(!fs.existsSync(`${dir}/convs/c`));
});

test('wrongly shaped records and chunks reject and write nothing', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const engine = await openEngine({ runsRoot: `${dir}/runs`, conversationsRoot: `${dir}/convs` });
  t.after(() => engine.close());
  const run = await engine.openRun(meta('t1', 'r1'));
  const conv = await engine.openConversation('c1');
  await rejects(run.appendStdout(42), 'invalid_argument', 'r1');
  await rejects(run.appendStdout({ txt: 'x' }), 'invalid_argument');
  await rejects(run.appendStderr({ text: 'x', createdAt: 'yesterday' }), 'invalid_argument');
  await rejects(run.appendLifecycle({ type: 'worker_exploded', level: 'info', message: 'm' }), 'invalid_argument');
  await rejects(run.appendLifecycle({ type: 'worker_started', level: 'loud', message: 'm' }), 'invalid_argument');
  await rejects(run.appendLifecycle({ type: 'worker_started', level: 'info', message: 'm', data: [1] }), 'invalid_argument');
  await rejects(run.appendLifecycle('worker_started'), 'invalid_argument');
  await rejects(conv.append('robot', { type: 'text', text: 'x' }), 'invalid_argument', 'c1');
  await rejects(conv.append('user', { type: 'text' }), 'invalid_argument', 'c1');
  await rejects(conv.append('user', { type: 'text', text: 'x', extra: 1 }), 'invalid_argument');
  await rejects(conv.append('user', { type: 'tool-result', toolCallId: 'nope', toolName: 't', content: '', isError: false }), 'invalid_argument');
  await rejects(conv.append('user', 'text'), 'invalid_argument');
  assert.deepEqual(run.summary(), { totalEntries: 0, lastSeq: 0, lifecycleEventCount: 0, stdoutChunkCount: 0, stderrChunkCount: 0 });
  assert.deepEqual(await collect(conv.after(0)), []);
  // And the streams still work.
  assert.equal(await run.appendStdout('ok\n'), 1);
  assert.deepEqual(await conv.append('user', { type: 'text', text: 'ok' }), { seq: 1, role: 'user', chunk: { type: 'text', text: 'ok' } });
});

test('bad options reject before the runs root is created', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  await rejects(openEngine({ runsRoot: `${dir}/runs`, durability: 'sometimes' }), 'invalid_argument');
  await rejects(openEngine({ runsRoot: `${dir}/runs`, overBudget: 'drop' }), 'invalid_argument');
  await rejects(openEngine({ runsRoot: `${dir}/runs`, maxBatchBytes: 10 }), 'invalid_argument');
  assert.ok(!fs.existsSync(`${dir}/runs`));
});

test('a full in-flight budget rejects with would_block, or waits', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const chunk = 'x'.repeat(1000) + '\n';
  for (const overBudget of ['reject', 'wait']) {
    const engine = await openEngine({ runsRoot: `${dir}/${overBudget}`, inFlightBudget: 64 << 10, recordLimit: 4096, overBudget });
    const run = await engine.openRun(meta('t1', 'r1'));
    const results = await Promise.allSettled(Array.from({ length: 1000 }, () => run.appendStdout(chunk)));
    const refused = results.filter((r) => r.status === 'rejected');
    const acked = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    if (overBudget === 'reject') {
      assert.ok(refused.length > 0, 'some appends were refused');
      assert.ok(refused.every((r) => r.reason.code === 'would_block' && /would_block/.test(r.reason.message)));
    } else {
      assert.equal(refused.length, 0, 'every append waited for budget');
    }
    assert.deepEqual(acked, Array.from({ length: acked.length }, (_, i) => i + 1), 'what was accepted is gap-free');
    assert.equal(run.summary().lastSeq, acked.length);
    await engine.close();
  }
});

test('acknowledgements come back in batches, not one callback per record', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const engine = await openEngine({ runsRoot: `${dir}/runs` });
  t.after(() => engine.close());
  const runs = await Promise.all([engine.openRun(meta('t1', 'r1')), engine.openRun(meta('t1', 'r2'))]);
  const pending = [];
  for (let i = 0; i < 20000; i++) pending.push(runs[i % 2].appendStdout(`record ${i}\n`));
  const seqs = await Promise.all(pending);
  assert.equal(seqs.at(-1), 10000);
  const { ackCallbacks, records } = engine.stats();
  assert.equal(records, 20000);
  assert.ok(ackCallbacks >= 1 && ackCallbacks <= 200, `${ackCallbacks} callbacks for 20,000 records`);
});

test('after close: appends reject with closed, close is idempotent', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const engine = await openEngine({ runsRoot: `${dir}/runs` });
  const run = await engine.openRun(meta('t1', 'r1'));
  const pending = Array.from({ length: 100 }, (_, i) => run.appendStdout(`${i}\n`));
  await engine.close();  // drains: every append before it is acknowledged
  assert.deepEqual(await Promise.all(pending), Array.from({ length: 100 }, (_, i) => i + 1));
  await rejects(run.appendStdout('late\n'), 'closed');
  await rejects(engine.openRun(meta('t1', 'r2')), 'closed');
  await engine.close();
  await run.close();
});
