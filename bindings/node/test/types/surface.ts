// Written against the public surface only: must type-check with tsc --strict.
import { openEngine } from "runlog";
import type { Engine, Run, Conversation, RunlogError } from "runlog";
import type { RunMetadataInput, LocalRunPaths, LocalRunLogSummary, WorkerLifecycleLogEntry, StreamChunkLogEntry } from "runlog/contracts/local-run";
import type { StoredChunk, AgentEvent, Chunk, Role } from "runlog/contracts/wire";

const meta: RunMetadataInput = {
  taskId: "t1", stepId: "s1", stepName: "build", runId: "r1", workerKind: "shell", attempt: 1,
  repoRoot: ".", worktreePath: ".", createdAt: "2026-01-01T00:00:00.000Z", checkpointMode: "none",
};

export async function main(): Promise<void> {
  const engine: Engine = await openEngine({ runsRoot: "runs", conversationsRoot: "convs", durability: "batch" });
  const run: Run = await engine.openRun(meta);
  const paths: LocalRunPaths = run.paths;
  const seq: number = await run.appendLifecycle({ type: "worker_started", level: "info", message: "go", data: { pid: 1, argv: ["a"] } });
  const s1: number = await run.appendStdout({ text: "hello\n", createdAt: "2026-01-01T00:00:00.000Z" });
  const s2: number = await run.appendStdout("hello\n");
  const s3: number = await run.appendStderr(new Uint8Array([104, 105]));
  const summary: LocalRunLogSummary = run.summary();
  await run.close();
  for await (const e of engine.readLog(paths.runDir, { after: 0, channel: undefined, follow: false })) {
    const entry: WorkerLifecycleLogEntry | StreamChunkLogEntry = e;
    if (entry.channel === "worker") console.log(entry.type, entry.data);
    else console.log(entry.text);
  }
  for await (const e of engine.readLog(paths.runDir, { channel: "stdout" })) console.log(e.seq);
  const conv: Conversation = await engine.openConversation("c1");
  const role: Role = "assistant";
  const chunk: Chunk = { type: "tool-call", toolCallId: "k1", toolName: "ls", input: { dir: "/" } };
  const stored: StoredChunk = await conv.append(role, chunk);
  for await (const c of conv.after(17, { follow: false })) {
    const sc: StoredChunk = c;
    console.log(sc.seq, sc.chunk.type);
  }
  conv.beginTurn("turn-1");
  for await (const ev of conv.events()) {
    const event: AgentEvent = ev;
    if (event.type === "turn-sealed") break;
  }
  await conv.endTurn("turn-1", "stop");
  await engine.close();
  try {
    await run.appendStdout("late");
  } catch (err) {
    const e = err as RunlogError;
    console.log(e.code, e.errno, e.path);
  }
  console.log(seq, s1, s2, s3, summary.lastSeq, stored.seq);
}
