// runlog for Node: the public surface. The shapes are the contracts' own
// (contracts/local-run.ts and contracts/wire.ts, shipped with the package).
import type {
  LocalRunLogSummary,
  LocalRunPaths,
  RunMetadataInput,
  StreamChunkInput,
  StreamChunkLogEntry,
  StreamLogChannel,
  WorkerLifecycleEventInput,
  WorkerLifecycleLogEntry,
  WorkerLogChannel,
} from "./contracts/local-run";
import type { AgentEvent, Chunk, Role, StoredChunk } from "./contracts/wire";

export type {
  LocalRunLogSummary,
  LocalRunPaths,
  RunMetadataInput,
  StreamChunkInput,
  StreamChunkLogEntry,
  StreamLogChannel,
  WorkerLifecycleEventInput,
  WorkerLifecycleLogEntry,
  WorkerLogChannel,
  AgentEvent,
  Chunk,
  Role,
  StoredChunk,
};

/** Every rejection is an Error with these fields. */
export interface RunlogError extends Error {
  /** The engine's error code: "invalid_argument", "io_error", "corruption", "refused",
   * "would_block", "closed", "failed_stream", "not_found" (and "resync" from events()). */
  code: string;
  /** The OS error number when an OS call failed, 0 otherwise. */
  errno: number;
  /** The file or folder the call was about ("" when none). */
  path: string;
}

export interface EngineOptions {
  /** Folder holding <taskId>/<runId>/ run folders; created when missing. Default "runs". */
  runsRoot?: string;
  /** Folder holding conversation folders. Default "conversations". */
  conversationsRoot?: string;
  /** "batch" (default): an acknowledgement means fdatasync-ed. "none": written to the OS. */
  durability?: "batch" | "none";
  /** When the in-flight budget is full: "reject" (default) rejects the append with code
   * "would_block" and writes nothing; "wait" holds it (and every later append, in order)
   * until acknowledgements free the budget. Neither ever blocks the event loop. */
  overBudget?: "reject" | "wait";
  /** Bytes accepted and not yet acknowledged, at most. Default 64 MiB. */
  inFlightBudget?: number;
  /** A batch is written once it holds this many bytes (one that touches many runs: 48 KiB per run it touches, up to 4 × this). Default 4 MiB. */
  maxBatchBytes?: number;
  /** Longest wait of encoded records before their batch is written while more keep coming, in µs (at least as long as the last batch took to write, and while a sync wave runs, half the last wave's time). Default 1000. */
  maxBatchDelayUs?: number;
  /** Most text bytes in one record; longer appends become several records. Default 1 MiB. */
  recordLimit?: number;
  /** Most descriptors held open for runs. Default 1024. */
  openFileLimit?: number;
  /** Threads that fdatasync one batch's files. Default 8. */
  syncThreads?: number;
  /** Group commit through the engine's journal (<runsRoot>/.journal/): a wave is one fdatasync whatever the number of runs. Default false. */
  journal?: boolean;
}

export interface ReadLogOptions {
  /** Entries with seq > after. Default 0. */
  after?: number;
  /** One channel, or every channel when undefined. */
  channel?: WorkerLogChannel | undefined;
  /** Keep reading as the run grows, until no writer holds it (or the loop breaks). */
  follow?: boolean;
}

export interface FollowOptions {
  follow?: boolean;
}

export interface EventsOptions {
  /** Events buffered for a slow reader before it is told to resync. Default 1024. */
  capacity?: number;
}

export interface Run {
  readonly paths: LocalRunPaths;
  /** Resolves with the event's seq once it is durable. */
  appendLifecycle(input: WorkerLifecycleEventInput): Promise<number>;
  /** Any bytes; an incomplete UTF-8 character at the end waits for the next chunk. Resolves with the seq once durable. */
  appendStdout(chunk: StreamChunkInput | string | Uint8Array): Promise<number>;
  appendStderr(chunk: StreamChunkInput | string | Uint8Array): Promise<number>;
  /** The counts of what was written so far. */
  summary(): LocalRunLogSummary;
  /** Everything appended durable, final state written, files closed. */
  close(): Promise<void>;
}

export interface Conversation {
  readonly id: string;
  /** The folder holding chunks.jsonl. */
  readonly dir: string;
  /** Resolves once the chunk is durable. */
  append(role: Role, chunk: Chunk): Promise<StoredChunk>;
  /** The durable chunks with seq > seq. */
  after(seq: number, options?: FollowOptions): AsyncIterableIterator<StoredChunk>;
  /** The AgentEvents of turns on this conversation, from this call on; "turn-sealed" only once the turn is durable. */
  events(options?: EventsOptions): AsyncIterableIterator<AgentEvent>;
  /** Opens a turn (emits turn-start): appended chunks are reported as events until endTurn. */
  beginTurn(turnId: string): void;
  /** Hands over an event that is not a chunk: usage, tool-output or status. */
  emit(event: AgentEvent): void;
  /** Emits done, waits until every chunk is durable, emits turn-sealed. */
  endTurn(turnId: string, reason?: string): Promise<void>;
  close(): Promise<void>;
}

export interface EngineStats {
  records: number;
  batches: number;
  fsyncs: number;
  syncWaves: number;
  wouldBlockPushes: number;
  recordsPerBatch: number;
  /** Acknowledgement batches handed to JavaScript (one callback each). */
  ackCallbacks: number;
}

export interface Engine {
  /** Creates <runsRoot>/<taskId>/<runId>, or recovers it. A bad id rejects with nothing created. */
  openRun(meta: RunMetadataInput): Promise<Run>;
  /** Reads a run folder: durable entries only, in seq order. */
  readLog(runDir: string, options?: ReadLogOptions): AsyncIterableIterator<WorkerLifecycleLogEntry | StreamChunkLogEntry>;
  /** Creates or recovers <conversationsRoot>/<id>, and reconciles it. */
  openConversation(id: string): Promise<Conversation>;
  stats(): EngineStats;
  /** Waits for every acknowledgement, closes every run and conversation, stops the engine's threads. */
  close(): Promise<void>;
}

export function openEngine(options?: EngineOptions): Promise<Engine>;
