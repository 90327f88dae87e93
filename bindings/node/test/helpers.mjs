// Shared by the tests: scratch folders, run metadata, the runlog CLI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// A scratch folder, removed when the process exits (after every engine a
// test's t.after hooks close).
const scratchDirs = [];
process.on('exit', () => {
  for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true });
});
export function scratch() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runlog-node-'));
  scratchDirs.push(dir);
  return dir;
}

export function meta(taskId, runId, extra = {}) {
  return {
    taskId, runId, stepId: 's1', stepName: 'test step', workerKind: 'shell', attempt: 1,
    repoRoot: '.', worktreePath: '.', createdAt: '', checkpointMode: 'none', ...extra,
  };
}

// The runlog CLI: $RUNLOG_CLI (ctest sets it), else the top-level build's.
export function cliPath() {
  const candidates = [process.env.RUNLOG_CLI, path.join(packageDir, '../../build/runlog')].filter(Boolean);
  return candidates.find((p) => fs.existsSync(p));
}

export function runlogCli(args) {
  const cli = cliPath();
  if (!cli) throw new Error('the runlog CLI was not found: set RUNLOG_CLI or build ../../build/runlog');
  return execFileSync(cli, args, { encoding: 'buffer', stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function collect(iterable) {
  const out = [];
  for await (const x of iterable) out.push(x);
  return out;
}
