// Following a run and a conversation while they are written.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { openEngine } from '../index.js';
import { scratch, meta, collect } from './helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('readLog follow sees every record as it becomes durable, in order, and ends when the run closes', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const engine = await openEngine({ runsRoot: `${dir}/runs` });
  t.after(() => engine.close());
  const run = await engine.openRun(meta('follow', 'r1'));
  await run.appendStdout('before\n');
  let acked = 1;
  const seen = [];
  let liveReads = 0;
  let ended = false;
  const reader = (async () => {
    for await (const e of engine.readLog(run.paths.runDir, { follow: true })) {
      seen.push(e);
      // Never past durable: nothing the writer has not had acknowledged yet
      // (an ack may still be on its way to this thread, so allow that batch).
      assert.ok(e.seq <= acked + 50, `entry ${e.seq} read while ${acked} acknowledged`);
      if (e.seq < 200) liveReads++;
    }
    ended = true;
  })();
  for (let i = 0; i < 10; i++) {
    const batch = [];
    for (let j = 0; j < 20; j++) batch.push(run.appendStdout(`chunk ${i} ${j}\n`));
    acked = Math.max(...(await Promise.all(batch)));
    await sleep(20);
  }
  await run.appendLifecycle({ type: 'step_completed', level: 'info', message: 'done' });
  await sleep(100);
  assert.equal(ended, false, 'following goes on while the run has a writer');
  assert.equal(seen.length, 202, 'everything acknowledged was seen before the run closed');
  await run.close();
  await reader;  // ends: the run has no writer any more
  assert.deepEqual(seen.map((e) => e.seq), Array.from({ length: 202 }, (_, i) => i + 1));
  assert.equal(seen[0].text, 'before\n');
  assert.equal(seen.at(-1).type, 'step_completed');
  assert.ok(liveReads > 0);
  await engine.close();
});

test('conversation after(n, { follow }) and events() while appending', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const engine = await openEngine({ conversationsRoot: `${dir}/convs` });
  t.after(() => engine.close());
  const conv = await engine.openConversation('c1');
  await conv.append('user', { type: 'text', text: 'hello' });
  const events = conv.events();
  const gotEvents = collect(events);
  const followed = collect(conv.after(0, { follow: true }));
  conv.beginTurn('turn-1');
  await conv.append('assistant', { type: 'thinking', text: 'hmm' });
  await sleep(30);
  await conv.append('assistant', { type: 'tool-call', toolCallId: 'k1', toolName: 'ls', input: { dir: '/' } });
  await conv.append('tool', { type: 'tool-result', toolCallId: 'k1', toolName: 'ls', content: 'bin', isError: false });
  conv.emit({ type: 'usage', conversationId: 'c1', turnId: 'turn-1', usage: { inputTokens: 3, outputTokens: 4 } });
  await conv.append('assistant', { type: 'text', text: 'done' });
  await conv.endTurn('turn-1');
  await conv.close();
  const stored = await followed;
  assert.deepEqual(stored.map((s) => s.seq), [1, 2, 3, 4, 5]);
  assert.deepEqual(stored[2].chunk, { type: 'tool-call', toolCallId: 'k1', toolName: 'ls', input: { dir: '/' } });
  const evs = await gotEvents;
  assert.deepEqual(evs.map((e) => e.type),
    ['turn-start', 'reasoning-delta', 'tool-call', 'tool-result', 'usage', 'text-delta', 'done', 'turn-sealed']);
  assert.ok(evs.every((e) => e.conversationId === 'c1' && e.turnId === 'turn-1'));
  // turn-sealed came once every chunk was durable: they are all on disk.
  assert.equal(fs.readFileSync(`${conv.dir}/chunks.jsonl`, 'utf8').trim().split('\n').length, 5);
  await engine.close();
});
