// tests/browser/viewer_test.mjs — the web viewer of `runlog serve` in headless
// Chromium: the runs list, a run with ANSI colours and a \r progress bar, a
// link to a line, a live follow (with the reconnecting state while the server
// is away), a 100 MB run opened and jumped to its end, a conversation.
// Usage (from check_viewer.sh): node viewer_test.mjs RUNLOG CHROMIUM WORKDIR SHOTDIR PLAYWRIGHT_INDEX
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const [runlog, chromiumPath, work, shots, pwIndex] = process.argv.slice(2);
const { chromium } = createRequire(import.meta.url)(pwIndex);
const runs = path.join(work, "runs");
const convs = path.join(work, "convs");
let failures = 0;

function check(ok, what) {
  console.log((ok ? "ok   " : "FAIL ") + what);
  if (!ok) failures++;
}

function exec(task, run, script) {
  const r = spawnSync(runlog, ["exec", "--runs-root", runs, "--task", task, "--run", run, "--", "sh", "-c", script],
                      { stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) throw new Error(`runlog exec ${task}/${run} exited ${r.status}: ${r.stderr}`);
}

function serve(port) {
  const p = spawn(runlog, ["serve", "--runs-root", runs, "--conversations-root", convs, "--listen", `127.0.0.1:${port}`],
                  { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) resolve({ proc: p, port: +m[1] });
    });
    p.on("exit", (code) => reject(new Error("runlog serve exited " + code)));
  });
}

function stop(server) {
  return new Promise((resolve) => {
    server.proc.removeAllListeners("exit");
    server.proc.on("exit", resolve);
    server.proc.kill("SIGTERM");
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function shot(page, name) {
  if (!shots) return;
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, name) });
}

// --- the data ---------------------------------------------------------------
exec("demo", "colors", String.raw`
printf '\033[1;32mPASS\033[0m parser handles \033[4mnested\033[0m input\n'
printf '\033[1;31mFAIL\033[0m writer: expected 3, got 4\n' >&2
printf 'colours: \033[31mred\033[0m \033[33myellow\033[0m \033[34mblue\033[0m \033[38;5;208morange\033[0m \033[38;2;150;100;255mviolet\033[0m\n'
for i in 10 20 30 40 50 60 70 80 90 100; do printf 'downloading [%-10s] %3d%%\r' "$(printf '%*s' $((i/10)) '' | tr ' ' '#')" $i; sleep 0.02; done
printf '\n'
echo "build finished"
`);
exec("build", "ok", "echo compiling; echo linking; echo done");
fs.mkdirSync(convs, { recursive: true });
{
  const lines = [
    { role: "user", chunk: { type: "text", text: "What is in the root folder?" } },
    { role: "assistant", chunk: { type: "thinking", text: "I should list it." } },
    { role: "assistant", chunk: { type: "tool-call", toolCallId: "k1", toolName: "ls", input: { path: "/" } } },
    { role: "tool", chunk: { type: "tool-result", toolCallId: "k1", toolName: "ls", content: "bin\netc\nusr", isError: false } },
    { role: "assistant", chunk: { type: "text", text: "It holds bin, etc and usr." } },
  ].map((l) => JSON.stringify(l)).join("\n") + "\n";
  const r = spawnSync(runlog, ["chat", "append", "--conversations-root", convs, "--id", "c1"], { input: lines });
  if (r.status !== 0) throw new Error("runlog chat append failed: " + r.stderr);
}
const bigStart = Date.now();
exec("big", "r100m", `awk 'BEGIN { for (i = 1; i <= 1400000; i++) printf "big run line %07d the quick brown fox jumps over the lazy dog 0123456789\\n", i; print "THE-LAST-LINE" }'`);
console.log(`wrote the 100 MB run in ${Date.now() - bigStart} ms`);

let server = await serve(0);
const base = `http://127.0.0.1:${server.port}`;
const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
page.on("pageerror", (e) => check(false, "no script error: " + e.message));

try {
  // --- runs list
  await page.goto(base + "/");
  await page.waitForSelector('body[data-ready="runs"]');
  await page.waitForSelector('tr[data-run="demo/colors"]');
  const status = await page.textContent('tr[data-run="demo/colors"] .status');
  check(status === "completed", "runs list: demo/colors is completed (" + status + ")");
  check(await page.locator("#runs tbody tr").count() === 3, "runs list: three runs");
  check(await page.locator("#convs tbody tr").count() === 1, "runs list: one conversation");
  await shot(page, "serve-runs.png");

  // --- ANSI and \r
  await page.goto(base + "/?run=demo/colors");
  await page.waitForSelector('body[data-ready="run"]');
  check(await page.locator(".row.stdout span.b.f2", { hasText: "PASS" }).count() === 1, "ANSI: bold green PASS");
  check(await page.locator(".row.stderr span.b.f1", { hasText: "FAIL" }).count() === 1, "ANSI: bold red FAIL on stderr");
  const orange = await page.locator(".row.stdout .txt span", { hasText: "orange" }).first().evaluate((e) => getComputedStyle(e).color);
  check(orange === "rgb(255, 135, 0)", "ANSI: 256-colour orange (" + orange + ")");
  const bars = await page.locator(".row.stdout:not(.superseded)", { hasText: "downloading" }).allTextContents();
  check(bars.length === 1 && bars[0].includes("100%"), "\\r: one progress line, at 100% (" + JSON.stringify(bars) + ")");
  check(await page.locator(".row.worker").count() >= 2, "lifecycle events marked");
  await shot(page, "serve-run.png");
  await page.fill("#search", "build finished");
  await page.press("#search", "Enter");
  await page.waitForSelector('.row.worker.match[data-seq="2"]', { timeout: 15000 });  // the command line holds it too
  await page.press("#search", "Enter");
  await page.waitForSelector(".row.stdout.match", { timeout: 15000 });
  await page.waitForSelector(".row.worker.match", { state: "detached", timeout: 15000 });  // the first match let go
  const next = await page.textContent(".row.match .txt");
  check(next.trim() === "build finished", "search: Enter again finds the next match (" + JSON.stringify(next) + ")");
  check(/#seq=\d+$/.test(page.url()), "search: the address links to the line (" + page.url() + ")");

  // --- a link to a line
  await page.goto(base + "/?run=demo/colors#seq=3");
  await page.waitForSelector('body[data-ready="run"]');
  check(await page.locator('.row.target[data-seq="3"]').count() === 1, "#seq=3 opens at seq 3");

  // --- the 100 MB run: opens, and jumps to its end
  const t0 = Date.now();
  await page.goto(base + "/?run=big/r100m");
  await page.waitForSelector('body[data-ready="run"]');
  await page.waitForSelector(".row");
  const opened = Date.now() - t0;
  await page.click("#to-start");
  await page.waitForSelector('.row[data-seq="3"]');
  const t1 = Date.now();
  await page.click("#to-end");
  await page.waitForSelector(".row >> text=THE-LAST-LINE", { timeout: 15000 });
  const jumped = Date.now() - t1;
  const rows = await page.evaluate(() => document.querySelectorAll("#rows .row").length);
  check(opened < 15000, `100 MB run opened in ${opened} ms`);
  check(jumped < 15000, `100 MB run: jump to end in ${jumped} ms`);
  check(rows > 0 && rows < 7000, `100 MB run: ${rows} entries in the page`);
  check(await page.locator(".row >> text=THE-LAST-LINE").isVisible(), "the last line is in view");
  await shot(page, "serve-big.png");

  // --- live follow, and the reconnecting state while the server is away
  const writer = spawn(runlog, ["exec", "--runs-root", runs, "--task", "live", "--run", "f1", "--", "sh", "-c",
                                "echo first-line; sleep 2; echo line-written-later; sleep 6; echo after-restart; sleep 1"],
                       { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; i < 100 && !fs.existsSync(path.join(runs, "live", "f1", "stdout.jsonl")); i++) await sleep(50);
  await page.goto(base + "/?run=live/f1");
  await page.waitForSelector('body[data-ready="run"]');
  await page.waitForSelector(".row.stdout >> text=first-line");
  await page.waitForSelector("#conn.live", { timeout: 15000 });
  check(true, "follow: live");
  await page.waitForSelector(".row.stdout >> text=line-written-later", { timeout: 10000 });
  check(true, "follow: a line written after the page opened shows up");
  const port = server.port;
  await stop(server);
  await page.waitForSelector("#conn.reconnecting", { timeout: 10000 });
  check(true, "follow: the server gone shows reconnecting");
  await shot(page, "serve-reconnecting.png");
  server = await serve(port);
  await page.waitForSelector(".row.stdout >> text=after-restart", { timeout: 20000 });
  check(true, "follow: resumed after the restart (Last-Event-ID)");
  await page.waitForSelector("#conn.ended", { timeout: 20000 });
  check(true, "follow: finished once the run closed");
  const seqs = await page.locator(".row").evaluateAll((rs) => rs.map((r) => +r.dataset.seq));
  check(seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1), "follow: no gap, no duplicate (" + seqs.join(",") + ")");
  await new Promise((r) => (writer.exitCode !== null ? r() : writer.on("exit", r)));

  // --- a conversation
  await page.goto(base + "/?conversation=c1");
  await page.waitForSelector('body[data-ready="conversation"]');
  const result = await page.textContent('.tool[data-tool-call-id="k1"] .result');
  check(result === "bin\netc\nusr", "conversation: the tool call shows its result");
  check(await page.locator(".msg.tool").count() === 0, "conversation: the result is not shown twice");
  check(await page.locator(".msg").count() === 2, "conversation: user and assistant messages regrouped");
  await shot(page, "serve-conversation.png");
} finally {
  await browser.close();
  await stop(server);
}
if (failures) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}
console.log("all browser checks passed");
