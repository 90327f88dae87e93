// runlog for Node: the engine's runs and conversations behind promises and
// async iterators. The native part (src/) pushes on this thread without ever
// waiting and hands acknowledgements back in batches; this file keeps, per
// stream, the promises still waiting for their seq to become durable.
'use strict';

const path = require('node:path');
let native;
try {
  native = require('./build/Release/runlog.node');
} catch (err) {
  throw new Error(`runlog: the native addon is not built (${err.message}); run \`npm install\` in ${__dirname}`);
}

const LAYOUT_VERSION = 'local-run-v1';
const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

// Open engines: closed synchronously if the process exits with them open, so
// the engine's threads are joined and what was pushed is written.
const openEngines = new Set();
process.on('exit', () => {
  for (const engine of openEngines) engine._closeSync();
});

function runlogError(code, message, where) {
  const err = new Error(`${code}: ${message}`);
  err.code = code;
  err.errno = 0;
  err.path = where ?? '';
  return err;
}
const invalid = (message, where) => runlogError('invalid_argument', message, where);

function isPlainObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

// createdAt (ISO-8601) as Unix ms; 0 when absent (the engine stamps now).
function createdMs(createdAt, where) {
  if (createdAt === undefined) return 0;
  const ms = typeof createdAt === 'string' ? Date.parse(createdAt) : NaN;
  if (!Number.isFinite(ms) || ms <= 0) throw invalid(`createdAt must be an ISO-8601 time, not ${JSON.stringify(createdAt)}`, where);
  return ms;
}

// Promises of one stream waiting for acknowledgement, in seq order.
class Pending {
  constructor() {
    this.seqs = [];
    this.resolves = [];
    this.rejects = [];
    this.head = 0;
  }
  get size() {
    return this.seqs.length - this.head;
  }
  add(seq, resolve, reject) {
    this.seqs.push(seq);
    this.resolves.push(resolve);
    this.rejects.push(reject);
  }
  // Resolves every promise up to `seq`; returns how many.
  resolveUpTo(seq) {
    const start = this.head;
    let h = start;
    while (h < this.seqs.length && this.seqs[h] <= seq) {
      this.resolves[h](this.seqs[h]);
      h++;
    }
    this.head = h;
    this.compact();
    return h - start;
  }
  rejectAll(err) {
    const n = this.size;
    for (let h = this.head; h < this.seqs.length; h++) this.rejects[h](err);
    this.head = this.seqs.length;
    this.compact();
    return n;
  }
  compact() {
    if (this.head === this.seqs.length) {
      this.seqs.length = this.resolves.length = this.rejects.length = 0;
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.seqs.length) {
      this.seqs.splice(0, this.head);
      this.resolves.splice(0, this.head);
      this.rejects.splice(0, this.head);
      this.head = 0;
    }
  }
}

class Engine {
  #native;
  #options;
  #pending = []; // per stream id
  #pendingCount = 0;
  #ackCallbacks = 0; // calls of #onAcks: one per batch
  #waiting = []; // pushes held back by a full budget (overBudget "wait"), in order
  #idle = []; // resolves of "every acknowledgement is in"
  #ops = new Set(); // native calls on the libuv pool still running
  #closing = false;
  #closed = null;

  constructor(options) {
    this.#options = options;
    this.#native = new native.NativeEngine((acks, errors) => this.#onAcks(acks, errors));
  }

  async _open() {
    await this.#native.open(this.#options);
    openEngines.add(this);
  }

  get closed() {
    return this.#closing;
  }

  // ---- acknowledgements (one call per batch from the ack thread)

  #onAcks(acks, errors) {
    this.#ackCallbacks++;
    let settled = 0;
    for (let i = 0; i < acks.length; i += 2) settled += this.#pending[acks[i]].resolveUpTo(acks[i + 1]);
    for (const err of errors) {
      const p = this.#pending[err.stream];
      settled += p.resolveUpTo(err.durable);
      settled += p.rejectAll(err);
    }
    this.#pendingCount -= settled;
    if (this.#waiting.length > 0) this.#retryWaiting();
    if (this.#pendingCount === 0) {
      this.#native.setActive(false);
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  #track(id, seq, resolve, reject) {
    this.#pending[id].add(seq, resolve, reject);
    if (this.#pendingCount++ === 0) this.#native.setActive(true);
  }

  #retryWaiting() {
    let i = 0;
    for (; i < this.#waiting.length; i++) {
      const w = this.#waiting[i];
      let seq;
      try {
        seq = w.push();
      } catch (err) {
        if (err.code === 'would_block') break;
        w.reject(err);
        continue;
      }
      this.#track(w.id, seq, w.resolve, w.reject);
    }
    this.#waiting.splice(0, i);
  }

  // Pushes now, or queues the push while the budget is full ("wait"), or
  // rejects ("reject", the default). `push` returns the seq or throws.
  _push(id, where, push) {
    if (this.#closing) return Promise.reject(runlogError('closed', 'the engine is closed', where));
    if (this.#waiting.length === 0) {
      let seq;
      try {
        seq = push();
      } catch (err) {
        if (err.code !== 'would_block' || this.#options.overBudget !== 'wait') return Promise.reject(err);
        return new Promise((resolve, reject) => this.#waiting.push({ id, push, resolve, reject }));
      }
      return new Promise((resolve, reject) => this.#track(id, seq, resolve, reject));
    }
    return new Promise((resolve, reject) => this.#waiting.push({ id, push, resolve, reject }));
  }

  _op(promise) {
    this.#ops.add(promise);
    const done = () => this.#ops.delete(promise);
    promise.then(done, done);
    return promise;
  }

  get _native() {
    return this.#native;
  }

  #checkOpen(where) {
    if (this.#closing) throw runlogError('closed', 'the engine is closed', where);
  }

  // ---- the public surface

  async openRun(meta) {
    if (!isPlainObject(meta)) throw invalid('the run metadata must be an object');
    this.#checkOpen();
    const id = await this._op(this.#native.openRun(meta));
    this.#pending[id] = new Pending();
    return new Run(this, id, meta, this.#native.streamDir(id));
  }

  async openConversation(id) {
    if (typeof id !== 'string') throw invalid('the conversation id must be a string');
    this.#checkOpen();
    const sid = await this._op(this.#native.openConversation(id));
    this.#pending[sid] = new Pending();
    return new Conversation(this, sid, id, this.#native.streamDir(sid));
  }

  readLog(runDir, options = {}) {
    if (typeof runDir !== 'string') throw invalid('runDir must be a string');
    const { after = 0, channel, follow = false } = options ?? {};
    const reader = new native.NativeReader('run', runDir, after, channel, follow);
    return readLines(reader);
  }

  stats() {
    return { ...this.#native.stats(), ackCallbacks: this.#ackCallbacks };
  }

  async close() {
    if (this.#closed) return this.#closed;
    this.#closing = true;
    this.#closed = (async () => {
      while (this.#pendingCount > 0 || this.#waiting.length > 0) {
        await new Promise((resolve) => this.#idle.push(resolve));
      }
      await Promise.allSettled([...this.#ops]);
      await this.#native.close();
      openEngines.delete(this);
    })();
    return this.#closed;
  }

  _closeSync() {
    this.#closing = true;
    openEngines.delete(this);
    this.#native.closeSync();
  }
}

// Yields the JSON lines a NativeReader hands over, parsed.
async function* readLines(reader) {
  for (;;) {
    const { text, end } = await reader.read(100);
    if (text.length > 0) {
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        yield JSON.parse(text.slice(start, nl));
        start = nl + 1;
      }
    }
    if (end) return;
  }
}

function runPaths(meta, runDir) {
  const runsRootDir = path.resolve(runDir, '..', '..');
  const dir = path.resolve(runDir);
  return {
    layoutVersion: LAYOUT_VERSION,
    repoRoot: path.resolve(typeof meta.repoRoot === 'string' && meta.repoRoot !== '' ? meta.repoRoot : '.'),
    runsRootDir,
    taskRunsDir: path.dirname(dir),
    runDir: dir,
    checkpointsDir: path.join(dir, 'checkpoints'),
    artifactsDir: path.join(dir, 'artifacts'),
    metaPath: path.join(dir, 'meta.json'),
    statePath: path.join(dir, 'state.json'),
    workerLogPath: path.join(dir, 'worker.jsonl'),
    stdoutLogPath: path.join(dir, 'stdout.jsonl'),
    stderrLogPath: path.join(dir, 'stderr.jsonl'),
  };
}

class Run {
  #engine;
  #id;
  #dir;
  constructor(engine, id, meta, dir) {
    this.#engine = engine;
    this.#id = id;
    this.#dir = dir;
    this.paths = runPaths(meta, dir);
    Object.freeze(this.paths);
  }

  appendLifecycle(input) {
    const n = this.#engine._native;
    const id = this.#id;
    try {
      if (!isPlainObject(input)) throw invalid('a lifecycle event must be an object', this.#dir);
      const { type, level, message, data, createdAt } = input;
      if (typeof type !== 'string' || typeof level !== 'string' || typeof message !== 'string') {
        throw invalid('a lifecycle event needs type, level and message strings', this.#dir);
      }
      if (data !== undefined && !isPlainObject(data)) throw invalid('data must be an object', this.#dir);
      const json = data === undefined ? '' : JSON.stringify(data);
      const ms = createdMs(createdAt, this.#dir);
      return this.#engine._push(id, this.#dir, () => n.pushEvent(id, type, level, message, json, ms));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #appendStream(chunk, stderr) {
    const n = this.#engine._native;
    const id = this.#id;
    let bytes = chunk;
    let ms = 0;
    if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
      if (!isPlainObject(chunk) || typeof chunk.text !== 'string') {
        return Promise.reject(invalid('a stream chunk must be a string, a Uint8Array or { text: string }', this.#dir));
      }
      bytes = chunk.text;
      try {
        ms = createdMs(chunk.createdAt, this.#dir);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.#engine._push(id, this.#dir, stderr ? () => n.pushStderr(id, bytes, ms) : () => n.pushStdout(id, bytes, ms));
  }

  appendStdout(chunk) {
    return this.#appendStream(chunk, false);
  }

  appendStderr(chunk) {
    return this.#appendStream(chunk, true);
  }

  summary() {
    return this.#engine._native.summary(this.#id);
  }

  async close() {
    if (this.#engine.closed) return;
    await this.#engine._op(this.#engine._native.closeStream(this.#id));
  }
}

class Conversation {
  #engine;
  #sid;
  #closed = false;
  constructor(engine, sid, id, dir) {
    this.#engine = engine;
    this.#sid = sid;
    this.id = id;
    this.dir = path.resolve(dir);
  }

  append(role, chunk) {
    const n = this.#engine._native;
    const sid = this.#sid;
    if (typeof role !== 'string' || !ROLES.has(role)) {
      return Promise.reject(invalid(`role must be one of system, user, assistant, tool, not ${JSON.stringify(role)}`, this.dir));
    }
    if (!isPlainObject(chunk)) return Promise.reject(invalid('a chunk must be an object', this.dir));
    let json;
    try {
      json = JSON.stringify(chunk);
    } catch (err) {
      return Promise.reject(invalid(`the chunk cannot be written as JSON: ${err.message}`, this.dir));
    }
    return this.#engine._push(sid, this.dir, () => n.pushChunk(sid, role, json)).then((seq) => ({ seq, role, chunk }));
  }

  after(seq = 0, options = {}) {
    if (typeof seq !== 'number' || !(seq >= 0)) throw invalid('after: seq must be a number >= 0', this.dir);
    const { follow = false } = options ?? {};
    return readLines(new native.NativeReader('conversation', this.dir, seq, undefined, follow));
  }

  // AgentEvents of the turns begun on this conversation, from now on. The
  // subscription starts at this call; iterating ends when the conversation or
  // the engine is closed (or on break). A subscriber that falls more than
  // `capacity` events behind gets an Error with code "resync" and `seq`: read
  // the chunks after seq from the log.
  events(options = {}) {
    const n = this.#engine._native;
    const sub = n.subscribe(this.#sid, options?.capacity ?? 1024);
    const engine = this.#engine;
    const conv = this;
    return (async function* () {
      try {
        for (;;) {
          const stop = engine.closed || conv.#closed;
          const items = await engine._op(n.subNext(sub, stop ? 0 : 100));
          for (const [kind, seq, json] of items) {
            if (kind === 1) {
              const err = runlogError('resync', `events were dropped; read the chunks after seq ${seq}`, conv.dir);
              err.seq = seq;
              throw err;
            }
            yield JSON.parse(json);
          }
          if (stop) return;
        }
      } finally {
        if (!engine.closed) n.unsubscribe(sub);
      }
    })();
  }

  beginTurn(turnId) {
    this.#engine._native.beginTurn(this.#sid, turnId);
  }

  emit(event) {
    if (!isPlainObject(event)) throw invalid('an event must be an object', this.dir);
    this.#engine._native.emit(this.#sid, JSON.stringify(event));
  }

  async endTurn(turnId, reason = 'stop') {
    await this.#engine._op(this.#engine._native.endTurn(this.#sid, turnId, reason));
  }

  async close() {
    this.#closed = true;
    if (this.#engine.closed) return;
    await this.#engine._op(this.#engine._native.closeStream(this.#sid));
  }
}

async function openEngine(options = {}) {
  if (!isPlainObject(options)) throw invalid('options must be an object');
  const { overBudget = 'reject' } = options;
  if (overBudget !== 'reject' && overBudget !== 'wait') {
    throw invalid(`overBudget must be "reject" or "wait", not ${JSON.stringify(overBudget)}`);
  }
  const engine = new Engine({ ...options, overBudget });
  await engine._open();
  return engine;
}

module.exports = { openEngine };
