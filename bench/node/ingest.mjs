// bench/node/ingest.mjs — Node through the binding against Node's own durable
// writer and against `runlog demo`, in the same run.
//
//   node/binding       4 async producers, each on its own run, push 100-byte
//                      stdout chunks through the runlog package (bindings/node),
//                      durability batch; each keeps up to WINDOW appends in
//                      flight. Time: first push to last acknowledgement.
//   node/writeSync_fdatasync100
//                      what a Node runner does without runlog: per record the
//                      contract's StreamChunkLogEntry, JSON.stringify, fs.writeSync
//                      to the run's stdout.jsonl, fdatasync every 100 records of a
//                      file; 4 runs, same chunks.
//   runlog/demo_W1_batch
//                      `runlog demo --workload W1 --durability batch` (C++ producer
//                      threads, the same engine), its records/s.
//
// Usage: node bench/node/ingest.mjs --cli BUILD/runlog [--records N] [--dir DIR] [--package DIR] [--smoke]
//   --package  the built package (default bindings/node)
//   --records  records through the binding (default 1,000,000; the fdatasync
//              writer does a fifth of that, the demo its W1 default of 2,000,000)
//   --smoke    small sizes (CI): checks the outputs, not the speed
// Before any figure every output is checked: the binding's runs are gap-free
// with every chunk's text as pushed (read back through readLog), the writer's
// files hold every line. Prints one JSON line with the figures and ratios.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const opt = { records: 1_000_000, cli: undefined, dir: undefined, smoke: false, pkg: path.join(here, '../../bindings/node') };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--smoke') opt.smoke = true;
  else if (a === '--records') opt.records = Number(process.argv[++i]);
  else if (a === '--cli') opt.cli = process.argv[++i];
  else if (a === '--dir') opt.dir = process.argv[++i];
  else if (a === '--package') opt.pkg = process.argv[++i];
  else throw new Error(`unknown argument ${a}`);
}
if (opt.smoke) opt.records = 20_000;
const { openEngine } = require(path.resolve(opt.pkg, 'index.js'));
if (!opt.cli) throw new Error('usage: ingest.mjs --cli BUILD/runlog [--records N] [--dir DIR] [--smoke]');
const base = fs.mkdtempSync(path.join(opt.dir ?? os.tmpdir(), 'runlog-node-bench-'));

const PRODUCERS = 4;
const WINDOW = 4096;
// 100-byte chunks of printable text (a line of worker output).
const chunks = Array.from({ length: 64 }, (_, i) => `${`line ${i} `.padEnd(99, String.fromCharCode(97 + (i % 26)))}\n`);

async function binding() {
  const engine = await openEngine({ runsRoot: path.join(base, 'binding'), durability: 'batch', overBudget: 'wait' });
  const runs = await Promise.all(Array.from({ length: PRODUCERS }, (_, p) => engine.openRun({
    taskId: 'bench', runId: `run-${p}`, stepId: 's', stepName: 'bench', workerKind: 'bench', attempt: 1,
    repoRoot: '.', worktreePath: '.', createdAt: '', checkpointMode: 'none',
  })));
  const per = Math.floor(opt.records / PRODUCERS);
  const t0 = process.hrtime.bigint();
  await Promise.all(runs.map(async (run, p) => {
    let last;
    for (let i = 0; i < per; i++) {
      last = run.appendStdout(chunks[(i + p) & 63]);
      if ((i + 1) % WINDOW === 0) await last;  // at most WINDOW in flight per producer
    }
    await last;
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const stats = engine.stats();
  // Check: every run gap-free, every text as pushed.
  for (const [p, run] of runs.entries()) {
    let n = 0;
    for await (const e of engine.readLog(run.paths.runDir)) {
      n++;
      if (e.seq !== n || e.text !== chunks[(n - 1 + p) & 63]) throw new Error(`binding: run ${p} seq ${e.seq} is wrong`);
    }
    if (n !== per) throw new Error(`binding: run ${p} has ${n} records, not ${per}`);
  }
  await engine.close();
  return { records: per * PRODUCERS, seconds, recordsPerSec: (per * PRODUCERS) / seconds, fsyncs: stats.fsyncs, recordsPerBatch: stats.recordsPerBatch };
}

function nodeWriter(records) {
  const dir = path.join(base, 'writer');
  const files = Array.from({ length: PRODUCERS }, (_, p) => {
    const runDir = path.join(dir, `run-${p}`);
    fs.mkdirSync(runDir, { recursive: true });
    return { fd: fs.openSync(path.join(runDir, 'stdout.jsonl'), 'a', 0o600), n: 0, runId: `run-${p}` };
  });
  let fsyncs = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < records; i++) {
    const f = files[i % PRODUCERS];
    const entry = { taskId: 'bench', stepId: 's', runId: f.runId, seq: ++f.n, channel: 'stdout', createdAt: new Date().toISOString(), text: chunks[i & 63] };
    fs.writeSync(f.fd, `${JSON.stringify(entry)}\n`);
    if (f.n % 100 === 0) { fs.fdatasyncSync(f.fd); fsyncs++; }
  }
  for (const f of files) { fs.fdatasyncSync(f.fd); fsyncs++; }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const f of files) fs.closeSync(f.fd);
  const lines = files.reduce((s, f) => s + fs.readFileSync(path.join(dir, f.runId, 'stdout.jsonl'), 'utf8').split('\n').length - 1, 0);
  if (lines !== records) throw new Error(`writer: ${lines} lines, not ${records}`);
  return { records, seconds, recordsPerSec: records / seconds, fsyncs };
}

function demo() {
  const args = ['demo', '--runs-root', path.join(base, 'demo'), '--workload', 'W1', '--durability', 'batch', '--quiet'];
  if (opt.smoke) args.push('--records', '20000');
  const out = JSON.parse(execFileSync(opt.cli, args, { encoding: 'utf8' }).trim().split('\n').pop());
  return { records: out.records, seconds: out.seconds, recordsPerSec: out.recordsPerSec };
}

try {
  const b = await binding();
  const w = nodeWriter(Math.max(2000, Math.floor(opt.records / 5)));
  const d = demo();
  const result = {
    'node/binding': b,
    'node/writeSync_fdatasync100': w,
    'runlog/demo_W1_batch': d,
    bindingOverNodeWriter: b.recordsPerSec / w.recordsPerSec,
    bindingOverDemo: b.recordsPerSec / d.recordsPerSec,
    smoke: opt.smoke,
  };
  console.log(JSON.stringify(result));
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
