// bench/peers/ts_runner.mjs — what a TypeScript runner does today to log its
// workers' output (the peer of TARGETS.md): per record, build the contract's
// entry (contracts/local-run.ts: StreamChunkLogEntry / WorkerLifecycleLogEntry,
// run context included), JSON.stringify it and fs.writeSync the line to the
// run's channel file; optionally fdatasync a file after every K records
// written to it (and every file at the end).
//
// Usage: node ts_runner.mjs --pool FILE --records N --runs R --out DIR [--fsync-every K]
//   FILE  runlog's lines for the workload (the records' content: channel, text,
//         event fields); record i takes line i % lines and goes to run i % R.
// Prints one JSON line: {"records","bytes","seconds","fsyncs"}; seconds covers
// the writes (and syncs) only: files are opened and the pool parsed before.
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";

function args(argv) {
  const o = { fsyncEvery: 0 };
  for (let i = 2; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === "--pool") o.pool = v;
    else if (k === "--records") o.records = Number(v);
    else if (k === "--runs") o.runs = Number(v);
    else if (k === "--out") o.out = v;
    else if (k === "--fsync-every") o.fsyncEvery = Number(v);
    else throw new Error(`unknown argument ${k}`);
  }
  if (!o.pool || !(o.records > 0) || !(o.runs > 0) || !o.out) throw new Error("usage: --pool FILE --records N --runs R --out DIR");
  return o;
}

const o = args(process.argv);
const pool = fs
  .readFileSync(o.pool, "utf8")
  .split("\n")
  .filter((l) => l.length > 0)
  .map((l) => JSON.parse(l));
if (pool.length === 0) throw new Error(`${o.pool}: no records`);

// One session per run, as LocalRunLogSession: context, nextSeq, one fd per channel.
const sessions = [];
for (let r = 0; r < o.runs; r++) {
  const runId = `run-${String(r).padStart(3, "0")}`;
  const dir = path.join(o.out, runId);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const open = (name) => ({ fd: fs.openSync(path.join(dir, name), "a", 0o600), unsynced: 0 });
  sessions.push({
    context: { taskId: "bench", stepId: "step-1", runId },
    nextSeq: 1,
    files: { worker: open("worker.jsonl"), stdout: open("stdout.jsonl"), stderr: open("stderr.jsonl") },
  });
}

let bytes = 0;
let fsyncs = 0;
const start = process.hrtime.bigint();
for (let i = 0; i < o.records; i++) {
  const s = sessions[i % o.runs];
  const rec = pool[i % pool.length];
  const createdAt = new Date().toISOString();
  let entry;
  if (rec.channel === "worker") {
    entry = {
      ...s.context,
      seq: s.nextSeq++,
      channel: "worker",
      eventId: randomUUID(),
      type: rec.type,
      level: rec.level,
      createdAt,
      message: rec.message,
      data: rec.data,
      renderedLine: `[${createdAt}] ${rec.level} ${rec.type}: ${rec.message}`,
    };
  } else {
    entry = { ...s.context, seq: s.nextSeq++, channel: rec.channel, createdAt, text: rec.text };
  }
  const file = s.files[rec.channel];
  bytes += fs.writeSync(file.fd, JSON.stringify(entry) + "\n");
  if (o.fsyncEvery > 0 && ++file.unsynced >= o.fsyncEvery) {
    fs.fdatasyncSync(file.fd);
    file.unsynced = 0;
    fsyncs++;
  }
}
if (o.fsyncEvery > 0) {
  for (const s of sessions) {
    for (const f of Object.values(s.files)) {
      if (f.unsynced > 0) {
        fs.fdatasyncSync(f.fd);
        f.unsynced = 0;
        fsyncs++;
      }
    }
  }
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
for (const s of sessions) for (const f of Object.values(s.files)) fs.closeSync(f.fd);
process.stdout.write(JSON.stringify({ records: o.records, bytes, seconds, fsyncs }) + "\n");
