// runlog's web viewer: plain JS against the server's own API (docs/serve.md).
//   /                      runs and conversations
//   /?run=TASK/RUN#seq=N   a run's log, opened at seq N
//   /?conversation=ID      a conversation
"use strict";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.json();
}

async function getLines(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(url + ": " + r.status);
  const text = await r.text();
  const out = [];
  for (const line of text.split("\n")) if (line) out.push(JSON.parse(line));
  return { entries: out, bytes: text.length };
}

function humanBytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return i ? n.toFixed(1) + " " + u[i] : n + " B";
}

function humanSeconds(s) {
  if (s == null) return "-";
  if (s < 60) return s.toFixed(1) + "s";
  const t = Math.floor(s);
  if (t < 3600) return Math.floor(t / 60) + "m" + String(t % 60).padStart(2, "0") + "s";
  return Math.floor(t / 3600) + "h" + String(Math.floor(t / 60) % 60).padStart(2, "0") + "m";
}

function setConn(state, text) {
  const c = $("conn");
  c.hidden = !state;
  c.className = "conn " + (state || "");
  c.textContent = text || state || "";
}

// ---------------------------------------------------------------------------
// ANSI SGR → spans. Other escape sequences (cursor moves, erase) are dropped.

const SGR_RE = /\x1b\[([0-9;:]*)([A-Za-z])|\x1b[\]P_^][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;

function ansiToFragment(text) {
  const frag = document.createDocumentFragment();
  let st = {};
  let last = 0;
  const emit = (s) => {
    if (!s) return;
    const cls = [];
    if (st.b) cls.push("b");
    if (st.d) cls.push("d");
    if (st.i) cls.push("i");
    if (st.u) cls.push("u");
    if (st.s) cls.push("s");
    let fg = st.fg, bg = st.bg;
    if (st.inv) [fg, bg] = [bg === undefined ? 7 : bg, fg === undefined ? 0 : fg];
    if (typeof fg === "number") cls.push("f" + fg);
    if (typeof bg === "number") cls.push("g" + bg);
    if (!cls.length && fg === undefined && bg === undefined) { frag.appendChild(document.createTextNode(s)); return; }
    const span = el("span", cls.join(" "), s);
    if (typeof fg === "string") span.style.color = fg;
    if (typeof bg === "string") span.style.backgroundColor = bg;
    frag.appendChild(span);
  };
  SGR_RE.lastIndex = 0;
  let m;
  while ((m = SGR_RE.exec(text))) {
    emit(text.slice(last, m.index));
    last = SGR_RE.lastIndex;
    if (m[2] !== "m") continue;
    const p = m[1] === "" ? [0] : m[1].split(/[;:]/).map((x) => (x === "" ? 0 : +x));
    for (let i = 0; i < p.length; i++) {
      const c = p[i];
      if (c === 0) st = {};
      else if (c === 1) st.b = true;
      else if (c === 2) st.d = true;
      else if (c === 3) st.i = true;
      else if (c === 4) st.u = true;
      else if (c === 7) st.inv = true;
      else if (c === 9) st.s = true;
      else if (c === 22) st.b = st.d = false;
      else if (c === 23) st.i = false;
      else if (c === 24) st.u = false;
      else if (c === 27) st.inv = false;
      else if (c === 29) st.s = false;
      else if (c >= 30 && c <= 37) st.fg = c - 30;
      else if (c >= 90 && c <= 97) st.fg = c - 90 + 8;
      else if (c === 39) st.fg = undefined;
      else if (c >= 40 && c <= 47) st.bg = c - 40;
      else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
      else if (c === 49) st.bg = undefined;
      else if (c === 38 || c === 48) {
        let v;
        if (p[i + 1] === 5) { v = color256(p[i + 2]); i += 2; }
        else if (p[i + 1] === 2) { v = `rgb(${p[i + 2] | 0},${p[i + 3] | 0},${p[i + 4] | 0})`; i += 4; }
        if (c === 38) st.fg = v; else st.bg = v;
      }
    }
  }
  emit(text.slice(last));
  return frag;
}

function color256(n) {
  n = n | 0;
  if (n < 16) return n;
  if (n >= 232) { const g = 8 + (n - 232) * 10; return `rgb(${g},${g},${g})`; }
  n -= 16;
  const v = [0, 95, 135, 175, 215, 255];
  return `rgb(${v[Math.floor(n / 36)]},${v[Math.floor(n / 6) % 6]},${v[n % 6]})`;
}

// A line as a terminal leaves it after its carriage returns: each \r starts
// over at column 0 and overwrites what was there.
function collapseCR(line) {
  if (line.indexOf("\r") < 0) return line;
  const parts = line.split("\r");
  let out = "";
  for (const p of parts) {
    if (!p) continue;
    const visible = (s) => s.replace(SGR_RE, "").length;
    out = visible(p) >= visible(out) ? p : p + out.replace(SGR_RE, "").slice(visible(p));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Runs list

async function showRuns() {
  $("runs-page").hidden = false;
  $("crumbs").textContent = "";
  const render = async () => {
    let runs = [], convs = [];
    try { runs = await getJSON("/api/runs"); } catch (e) { setConn("reconnecting", "server unreachable"); return; }
    try { convs = await getJSON("/api/conversations"); } catch (e) { convs = []; }
    setConn(null);
    const tb = $("runs").tBodies[0];
    tb.replaceChildren();
    for (const r of runs) {
      const tr = el("tr");
      tr.dataset.run = r.taskId + "/" + r.runId;
      tr.appendChild(el("td", "", r.taskId));
      const a = el("a", "", r.runId);
      a.href = "/?run=" + enc(r.taskId) + "/" + enc(r.runId);
      const td = el("td");
      td.appendChild(a);
      tr.appendChild(td);
      const st = el("td");
      st.appendChild(el("span", "status " + (r.status || ""), r.status || "?"));
      if (r.live) { const d = el("span", "live-dot"); d.title = "live: a writer has it open"; st.appendChild(d); }
      tr.appendChild(st);
      tr.appendChild(el("td", "num", String(r.entries)));
      tr.appendChild(el("td", "num", humanBytes(r.bytes)));
      tr.appendChild(el("td", "muted", r.startedAt || "-"));
      tr.appendChild(el("td", "num", humanSeconds(r.durationSeconds)));
      tb.appendChild(tr);
    }
    $("no-runs").hidden = runs.length > 0;
    $("convs").hidden = $("convs-title").hidden = convs.length === 0;
    const cb = $("convs").tBodies[0];
    cb.replaceChildren();
    for (const c of convs) {
      const tr = el("tr");
      const a = el("a", "", c.conversationId);
      a.href = "/?conversation=" + enc(c.conversationId);
      const td = el("td");
      td.appendChild(a);
      tr.appendChild(td);
      tr.appendChild(el("td", "num", String(c.entries)));
      tr.appendChild(el("td", "num", humanBytes(c.bytes)));
      const s = el("td");
      if (c.live) { s.appendChild(el("span", "muted", "live")); s.appendChild(el("span", "live-dot")); }
      tr.appendChild(s);
      cb.appendChild(tr);
    }
    document.body.dataset.ready = "runs";
  };
  await render();
  setInterval(render, 2000);
}

// ---------------------------------------------------------------------------
// A run's log: a window of entries fetched by seq, grown at either edge as
// the reader scrolls, trimmed at the far edge; the slider jumps anywhere.

const MAX_ROWS = 6000;      // entries kept in the page
const WINDOW_BYTES = 256 << 10;

class RunView {
  constructor(task, run) {
    this.task = task;
    this.run = run;
    this.base = "/api/runs/" + enc(task) + "/" + enc(run);
    this.lo = 1;   // first seq in the page
    this.hi = 0;   // last seq in the page
    this.lastSeq = 0;
    this.limit = 200;
    this.busy = false;
    this.gen = 0;
    this.es = null;
    this.finished = false;
    this.rows = $("rows");
    this.log = $("log");
    this.lastStream = { stdout: null, stderr: null };  // the row whose line a later \r may rewrite
  }

  async summary() {
    const s = await getJSON(this.base);
    this.lastSeq = Math.max(this.lastSeq, s.lastSeq);
    const status = (s.state && s.state.status) || "?";
    const st = $("run-status");
    st.className = "status " + status;
    st.textContent = status + (s.live ? " · live" : "");
    this.finished = !s.live && ["completed", "failed", "blocked"].includes(status);
    const bytes = s.bytes.worker + s.bytes.stdout + s.bytes.stderr;
    const avg = s.totalEntries ? bytes / s.totalEntries : 200;
    this.limit = Math.max(2, Math.min(2000, Math.floor(WINDOW_BYTES / Math.max(avg, 1))));
    this.updateSlider();
    return s;
  }

  updateSlider() {
    const pos = $("pos");
    pos.max = String(Math.max(1, this.lastSeq));
    if (document.activeElement !== pos) pos.value = String(this.visibleSeq() || this.lo);
    $("pos-label").textContent = (this.visibleSeq() || 0) + " / " + this.lastSeq;
  }

  visibleSeq() {
    const top = this.log.getBoundingClientRect().top;
    for (const r of this.rows.children) {
      if (r.classList.contains("superseded")) continue;
      if (r.getBoundingClientRect().bottom > top) return +r.dataset.seq;
    }
    return 0;
  }

  async fetchWindow(after, limit) {
    const { entries, bytes } = await getLines(this.base + "/entries?after=" + after + "&limit=" + limit);
    // Keep windows near WINDOW_BYTES whatever the entries weigh.
    if (entries.length) this.limit = Math.max(2, Math.min(2000, Math.floor(limit * WINDOW_BYTES / Math.max(bytes, 1))));
    return entries;
  }

  row(e) {
    const r = el("div", "row " + e.channel);
    r.dataset.seq = e.seq;
    const a = el("a", "seq", String(e.seq));
    a.href = "#seq=" + e.seq;
    r.appendChild(a);
    const t = el("span", "txt");
    if (e.channel === "worker") {
      r.classList.add(e.level || "info");
      t.textContent = (e.type || "event") + "  " + (e.message || "") + "   " + (e.createdAt || "");
    } else {
      let text = e.text || "";
      if (text.endsWith("\n")) text = text.slice(0, -1);
      r.dataset.cr = e.text.endsWith("\r") ? "1" : "";
      const lines = text.split("\n").map(collapseCR);
      t.appendChild(ansiToFragment(lines.join("\n")));
      r.dataset.plain = lines.join("\n").replace(SGR_RE, "");
      r.dataset.first = lines[0].replace(SGR_RE, "") ? "1" : "";
    }
    if (e.channel !== "worker") r.title = e.channel + " · " + e.createdAt;
    r.appendChild(t);
    return r;
  }

  // A stream row that ended in \r is a state the terminal overwrote once
  // more of its channel printed something on that line: hide it. A chunk that
  // only ends that line ("\n") shows nothing of its own.
  collapse(rows) {
    for (const r of rows) {
      const ch = r.classList.contains("stdout") ? "stdout" : r.classList.contains("stderr") ? "stderr" : null;
      if (!ch) continue;
      const prev = this.lastStream[ch];
      if (prev && prev.dataset.cr === "1" && !(prev.dataset.plain || "").includes("\n")) {
        if (r.dataset.first) prev.classList.add("superseded");
        else if (!r.dataset.plain) r.classList.add("superseded");
      }
      this.lastStream[ch] = r;
    }
  }

  append(entries) {
    const frag = document.createDocumentFragment();
    const made = [];
    for (const e of entries) {
      if (e.seq <= this.hi) continue;
      const r = this.row(e);
      made.push(r);
      frag.appendChild(r);
      this.hi = e.seq;
    }
    this.rows.appendChild(frag);
    this.collapse(made);
    this.lastSeq = Math.max(this.lastSeq, this.hi);
    this.trim("top");
  }

  prepend(entries) {
    const before = this.log.scrollHeight;
    const frag = document.createDocumentFragment();
    let lo = this.lo;
    for (const e of entries) {
      if (e.seq >= this.lo) break;
      frag.appendChild(this.row(e));
      lo = Math.min(lo, e.seq);
    }
    const first = this.rows.firstChild;
    this.rows.insertBefore(frag, first);
    this.lo = lo;
    this.log.scrollTop += this.log.scrollHeight - before;
    this.trim("bottom");
  }

  trim(side) {
    const n = this.rows.children.length;
    if (n <= MAX_ROWS) return;
    const drop = n - MAX_ROWS;
    if (side === "top") {
      const before = this.log.scrollHeight;
      for (let i = 0; i < drop; i++) this.rows.firstChild.remove();
      this.log.scrollTop -= before - this.log.scrollHeight;
      this.lo = +this.rows.firstChild.dataset.seq;
    } else {
      for (let i = 0; i < drop; i++) this.rows.lastChild.remove();
      this.hi = +this.rows.lastChild.dataset.seq;
      this.stopFollow();
    }
  }

  async openAt(seq, where) {
    const gen = ++this.gen;  // a later openAt() wins over this one
    this.stopFollow();
    const after = Math.max(0, seq - 1 - (where === "end" ? this.limit : Math.floor(this.limit / 4)));
    const entries = await this.fetchWindow(after, this.limit * (where === "end" ? 2 : 1));
    if (gen !== this.gen) return;
    this.rows.replaceChildren();
    this.lastStream = { stdout: null, stderr: null };
    this.lo = after + 1;
    this.hi = after;
    this.append(entries);
    if (where === "end") this.log.scrollTop = this.log.scrollHeight;
    else this.reveal(seq);
    await this.fill();
    this.updateSlider();
    if (where === "end" || this.hi >= this.lastSeq) this.maybeFollow();
  }

  reveal(seq) {
    for (const r of this.rows.querySelectorAll(".target")) r.classList.remove("target");
    const r = this.rows.querySelector('[data-seq="' + seq + '"]');
    if (r) {
      r.classList.add("target");
      r.classList.remove("superseded");
      r.scrollIntoView({ block: "center" });
    }
  }

  // Loads more at whichever edge is near the view.
  async fill() {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let i = 0; i < 4; i++) {
        const { scrollTop, scrollHeight, clientHeight } = this.log;
        const gen = this.gen;
        if (scrollTop + clientHeight > scrollHeight - 800 && this.hi < this.lastSeq && !this.es) {
          const got = await this.fetchWindow(this.hi, this.limit);
          if (!got.length || gen !== this.gen) break;
          this.append(got);
        } else if (scrollTop < 800 && this.lo > 1) {
          const n = Math.min(this.limit, this.lo - 1);
          const got = await this.fetchWindow(this.lo - 1 - n, n);
          if (gen !== this.gen) break;
          this.prepend(got);
        } else break;
      }
    } finally {
      this.busy = false;
    }
    this.updateSlider();
  }

  atBottom() {
    return this.log.scrollTop + this.log.clientHeight >= this.log.scrollHeight - 30;
  }

  maybeFollow() {
    if (this.finished || !$("follow").checked || this.es) {
      if (this.finished) setConn("ended", "finished");
      return;
    }
    const es = new EventSource(this.base + "/events?after=" + this.hi);
    this.es = es;
    let pending = [];
    let timer = 0;
    const flush = () => {
      timer = 0;
      const stick = this.atBottom();
      this.append(pending);
      pending = [];
      if (stick) this.log.scrollTop = this.log.scrollHeight;
      this.updateSlider();
    };
    es.onopen = () => setConn("live", "live");
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) { setConn("reconnecting", "disconnected"); this.es = null; return; }
      setConn("reconnecting", "reconnecting…");
    };
    es.onmessage = (m) => {
      pending.push(JSON.parse(m.data));
      if (!timer) timer = setTimeout(flush, 50);
    };
    es.addEventListener("end", () => {
      if (timer) { clearTimeout(timer); flush(); }
      es.close();
      this.es = null;
      this.finished = true;
      setConn("ended", "finished");
      this.summary().catch(() => {});
    });
  }

  stopFollow() {
    if (this.es) { this.es.close(); this.es = null; }
    if (!this.finished) setConn(null);
  }

  // Search: the page first, then windows after it, until a match or the end.
  async search(q, from) {
    if (!q) return;
    const needle = q.toLowerCase();
    const state = $("search-state");
    for (const r of this.rows.querySelectorAll(".match")) r.classList.remove("match");
    const text = (r) => (r.dataset.plain !== undefined ? r.dataset.plain : r.textContent).toLowerCase();
    for (const r of this.rows.children) {
      if (+r.dataset.seq > from && text(r).includes(needle)) return this.found(+r.dataset.seq);
    }
    let after = Math.max(from, this.hi);
    state.textContent = "searching…";
    this.searchToken = (this.searchToken || 0) + 1;
    const token = this.searchToken;
    while (after < this.lastSeq && token === this.searchToken) {
      const entries = await this.fetchWindow(after, Math.max(this.limit, 500));
      if (!entries.length) break;
      for (const e of entries) {
        const t = (e.channel === "worker" ? (e.type || "") + " " + (e.message || "") : (e.text || "").replace(SGR_RE, "")).toLowerCase();
        if (t.includes(needle)) { await this.openAt(e.seq); return this.found(e.seq); }
      }
      after = entries[entries.length - 1].seq;
      state.textContent = "searching… seq " + after;
    }
    state.textContent = token === this.searchToken ? "no more matches" : "";
  }

  found(seq) {
    $("search-state").textContent = "seq " + seq;
    this.reveal(seq);
    const r = this.rows.querySelector('[data-seq="' + seq + '"]');
    if (r) r.classList.add("match");
    this.searchFrom = seq;
    history.replaceState(null, "", "#seq=" + seq);
  }
}

function seqFromHash() {
  const m = /(?:^#|&)seq=(\d+)/.exec(location.hash);
  return m ? +m[1] : 0;
}

async function showRun(spec) {
  const [task, run] = spec.split("/");
  $("run-page").hidden = false;
  const c = $("crumbs");
  c.replaceChildren(el("span", "muted", task + " / "), el("strong", "", run));
  document.title = task + "/" + run + " · runlog";
  const v = new RunView(task, run);
  window.runView = v;
  const s = await v.summary();
  const target = seqFromHash();
  if (target) await v.openAt(target);
  else if (s.live || s.lastSeq > v.limit * 2) await v.openAt(s.lastSeq + 1, "end");
  else await v.openAt(1);
  document.body.dataset.ready = "run";

  let scrollTimer = 0;
  v.log.addEventListener("scroll", () => {
    if (!scrollTimer) scrollTimer = setTimeout(() => { scrollTimer = 0; v.fill(); v.updateSlider(); }, 60);
  });
  $("pos").addEventListener("change", (e) => v.openAt(+e.target.value));
  $("to-start").onclick = () => v.openAt(1);
  $("to-end").onclick = async () => { await v.summary(); await v.openAt(v.lastSeq + 1, "end"); };
  $("follow").onchange = (e) => { if (e.target.checked) $("to-end").onclick(); else v.stopFollow(); };
  $("show-worker").onchange = (e) => document.body.classList.toggle("hide-worker", !e.target.checked);
  $("search-form").onsubmit = (e) => {
    e.preventDefault();
    const q = $("search").value;
    if (q !== v.lastQuery) { v.lastQuery = q; v.searchFrom = (v.visibleSeq() || 1) - 1; }
    v.search(q, v.searchFrom || 0);
  };
  window.addEventListener("hashchange", () => { const n = seqFromHash(); if (n) v.openAt(n); });
  v.log.addEventListener("keydown", (e) => {
    if (e.key === "End") { e.preventDefault(); $("to-end").onclick(); }
    if (e.key === "Home") { e.preventDefault(); v.openAt(1); }
  });
  if (!v.finished) setInterval(() => { if (!v.es) v.summary().then(() => v.updateSlider()).catch(() => {}); }, 3000);
}

// ---------------------------------------------------------------------------
// A conversation: messages regrouped (consecutive chunks of one role), each
// tool call shown with its result.

async function showConversation(id) {
  $("conv-page").hidden = false;
  $("crumbs").replaceChildren(el("span", "muted", "conversation "), el("strong", "", id));
  document.title = id + " · runlog";
  const base = "/api/conversations/" + enc(id);
  const render = async () => {
    const messages = await getJSON(base + "/messages");
    const results = new Map();
    const calls = new Set();
    for (const m of messages) {
      for (const c of m.chunks) {
        if (c.type === "tool-result") results.set(c.toolCallId, c);
        if (c.type === "tool-call") calls.add(c.toolCallId);
      }
    }
    const box = $("messages");
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 30;
    box.replaceChildren();
    let d = null, role = null;
    for (const m of messages) {
      // A result is shown with its call; a message of nothing else is left
      // out, and what it separated is one message again.
      const chunks = m.chunks.filter((c) => !(c.type === "tool-result" && calls.has(c.toolCallId)));
      if (!chunks.length) continue;
      if (!d || role !== m.role) {
        d = el("div", "msg " + m.role);
        d.appendChild(el("div", "role", m.role));
        box.appendChild(d);
        role = m.role;
      }
      for (const c of chunks) d.appendChild(chunkView(c, results));
    }
    if (stick) box.scrollTop = box.scrollHeight;
  };
  const s = await getJSON(base);
  $("conv-status").textContent = s.totalEntries + " chunks" + (s.live ? " · live" : "");
  await render();
  document.body.dataset.ready = "conversation";
  const es = new EventSource(base + "/events?after=" + s.lastSeq);
  let t = 0;
  es.onopen = () => setConn("live", "live");
  es.onerror = () => setConn("reconnecting", "reconnecting…");
  es.onmessage = () => {
    if (!t) t = setTimeout(() => { t = 0; render(); }, 100);
  };
}

function chunkView(c, results) {
  switch (c.type) {
    case "text": return el("div", "chunk text", c.text);
    case "thinking": return el("div", "chunk thinking", c.text);
    case "system": return el("div", "chunk system", c.text);
    case "error": return el("div", "chunk error", c.message + (c.code ? " (" + c.code + ")" : ""));
    case "tool-call": {
      const box = el("div", "tool");
      box.dataset.toolCallId = c.toolCallId;
      const call = el("div", "call");
      call.appendChild(el("span", "name", c.toolName));
      call.appendChild(el("span", "", " " + JSON.stringify(c.input)));
      box.appendChild(call);
      const r = results.get(c.toolCallId);
      box.appendChild(r ? el("div", "result" + (r.isError ? " is-error" : ""), r.content)
                        : el("div", "result pending", "waiting for the result…"));
      return box;
    }
    case "tool-result": {  // a result whose call is not in this conversation
      const box = el("div", "tool");
      box.appendChild(el("div", "call", "result of " + c.toolName + " (" + c.toolCallId + ")"));
      box.appendChild(el("div", "result" + (c.isError ? " is-error" : ""), c.content));
      return box;
    }
    default: return el("div", "chunk", JSON.stringify(c));
  }
}

// ---------------------------------------------------------------------------

window.addEventListener("DOMContentLoaded", () => {
  const q = new URLSearchParams(location.search);
  const fail = (e) => { document.body.dataset.ready = "error"; setConn("reconnecting", String(e.message || e)); };
  if (q.get("run")) showRun(q.get("run")).catch(fail);
  else if (q.get("conversation")) showConversation(q.get("conversation")).catch(fail);
  else showRuns().catch(fail);
});
