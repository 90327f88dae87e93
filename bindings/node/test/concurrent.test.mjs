// 8 runs and 4 conversations written by concurrent async producers: each
// stream's seqs are 1..N with no gap, and `runlog verify` finds it all clean.
import test from 'node:test';
import assert from 'node:assert/strict';
import { openEngine } from '../index.js';
import { scratch, meta, collect, runlogCli } from './helpers.mjs';

const PER_PRODUCER = Number(process.env.RUNLOG_NODE_RECORDS ?? 2000);

test('8 runs and 4 conversations from concurrent producers are gap-free and verify clean', { timeout: 60000 }, async (t) => {
  const dir = scratch();
  const engine = await openEngine({ runsRoot: `${dir}/runs`, conversationsRoot: `${dir}/convs`, durability: 'batch', overBudget: 'wait', inFlightBudget: 1 << 20, recordLimit: 4096 });
  t.after(() => engine.close());
  const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => engine.openRun(meta(`task${i % 2}`, `run${i}`))));
  const convs = await Promise.all(Array.from({ length: 4 }, (_, i) => engine.openConversation(`conv${i}`)));

  // Two producers per run (stdout and stderr interleaved with lifecycle
  // events), two per conversation; every producer awaits now and then.
  const seqs = new Map();
  const note = (key, seq) => { if (!seqs.has(key)) seqs.set(key, []); seqs.get(key).push(seq); };
  const producers = [];
  runs.forEach((run, r) => {
    for (let p = 0; p < 2; p++) {
      producers.push((async () => {
        const pending = [];
        for (let i = 0; i < PER_PRODUCER; i++) {
          const text = `run ${r} producer ${p} record ${i} ${'é'.repeat(i % 5)}\n`;
          const push = i % 500 === 0 ? run.appendLifecycle({ type: 'step_prepared', level: 'debug', message: text, data: { i } })
            : p === 0 ? run.appendStdout(text) : run.appendStderr({ text });
          pending.push(push.then((seq) => note(`run${r}`, seq)));
          if (i % 97 === 0) await push;
        }
        await Promise.all(pending);
      })());
    }
  });
  convs.forEach((conv, c) => {
    for (let p = 0; p < 2; p++) {
      producers.push((async () => {
        const pending = [];
        for (let i = 0; i < PER_PRODUCER / 2; i++) {
          const push = conv.append(p === 0 ? 'assistant' : 'user', { type: 'text', text: `conv ${c} producer ${p} chunk ${i}` });
          pending.push(push.then((stored) => note(`conv${c}`, stored.seq)));
          if (i % 89 === 0) await push;
        }
        await Promise.all(pending);
      })());
    }
  });
  await Promise.all(producers);

  for (const [key, list] of seqs) {
    list.sort((a, b) => a - b);
    const expected = key.startsWith('run') ? 2 * PER_PRODUCER : PER_PRODUCER;
    assert.equal(list.length, expected, key);
    assert.deepEqual(list, Array.from({ length: expected }, (_, i) => i + 1), `${key}: seqs 1..N, no gap, no repeat`);
  }
  for (const run of runs) assert.equal(run.summary().lastSeq, 2 * PER_PRODUCER);
  const stored = await collect(convs[3].after(PER_PRODUCER - 10));
  assert.deepEqual(stored.map((s) => s.seq), Array.from({ length: 10 }, (_, i) => PER_PRODUCER - 9 + i));
  await engine.close();

  const out = runlogCli(['verify', `${dir}/runs`, `${dir}/convs`]).toString();
  assert.equal(out, '', 'verify prints no problem');
  const runsRead = await collect((await openEngine({ runsRoot: `${dir}/runs` })).readLog(runs[5].paths.runDir));
  assert.equal(runsRead.length, 2 * PER_PRODUCER);
});
