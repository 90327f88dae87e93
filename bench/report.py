#!/usr/bin/env python3
"""bench/report.py — runlog_bench's JSON (Google Benchmark --benchmark_out) to
docs/benchmarks.md and its plots (docs/img/*.svg, drawn with gnuplot).

Usage:
  python3 bench/report.py RESULTS.json --machine MACHINE.json --out docs/benchmarks.md --img docs/img
  python3 bench/report.py --check RESULTS.json     # smoke: every ingest benchmark ran, none failed

Every figure is the median over the repetitions of one run of the suite, and every
target is a ratio against a peer measured in that same run (TARGETS.md). Peak memory
is the largest over the repetitions. A benchmark that reported an error has no figure:
the report is not written (exit 1).

The text between the markers <!-- notes:begin --> and <!-- notes:end --> of the
existing page (profiling notes, written by hand) is kept when the page is rewritten.
"""
import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

WORKLOADS = ["W1", "W2", "W3", "W4"]
PEERS = ["spdlog_async", "naive_fsync_per_record", "naive_periodic_fsync", "node_writeSync", "node_writeSync_fsync100"]
DISK = ["disk/seq_1MiB_fsync_4MiB", "disk/fdatasync_4KiB_append", "disk/fdatasync_64_files_serial",
        "disk/fdatasync_64_files_concurrent"]


def ingest_names():
    names = []
    for w in WORKLOADS:
        names += [f"{w}/none/runlog", f"{w}/batch/runlog"]
        if w in ("W1", "W3"):
            names += [f"{w}/batch/runlog/half_load", f"{w}/batch/runlog_journal", f"{w}/batch/runlog_journal/half_load"]
        if w != "W4":
            names += [f"{w}/{p}" for p in PEERS]
    return names + DISK


def base_name(run_name):
    return re.sub(r"/(iterations|repeats|min_time|real_time|manual_time)(:[^/]*)?", "", run_name)


def load(path):
    with open(path) as f:
        doc = json.load(f)
    runs, errors, order = {}, [], []
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        name = base_name(b.get("run_name", b["name"]))
        if b.get("error_occurred"):
            errors.append((name, b.get("error_message", "")))
            continue
        if name not in runs:
            order.append(name)
        runs.setdefault(name, []).append(b)
    return doc.get("context", {}), runs, errors, order


class Results:
    def __init__(self, runs):
        self.runs = runs

    def values(self, name, key):
        out = []
        for b in self.runs.get(name, []):
            if key == "seconds":
                scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
                out.append(b["real_time"] * scale)
            elif key in b:
                out.append(float(b[key]))
        return out

    def med(self, name, key):
        v = self.values(name, key)
        return statistics.median(v) if v else None

    def max(self, name, key):
        v = self.values(name, key)
        return max(v) if v else None

    def spread(self, name, key):
        v = self.values(name, key)
        return (min(v), max(v)) if v else (None, None)


def fmt_num(x, unit=""):
    if x is None:
        return "—"
    a = abs(x)
    if a >= 1e9:
        s = f"{x / 1e9:.2f} G"
    elif a >= 1e6:
        s = f"{x / 1e6:.2f} M"
    elif a >= 1e4:
        s = f"{x / 1e3:.0f} k"
    elif a >= 1e3:
        s = f"{x / 1e3:.2f} k"
    elif a >= 10:
        s = f"{x:.0f} "
    else:
        s = f"{x:.2f} "
    return (s + unit).strip()


def fmt_us(x):
    if x is None:
        return "—"
    if x >= 1000:
        return f"{x / 1000:.2f} ms"
    return f"{x:.0f} µs" if x >= 10 else (f"{x:.2f} µs" if x >= 1 else f"{x * 1000:.0f} ns")


def mb(x):
    return None if x is None else x / 1e6


def fmt_mbs(x, unit=""):
    """Bytes/s as whole MB/s."""
    if x is None:
        return "—"
    v = x / 1e6
    return (f"{v:.0f}" if v >= 10 else f"{v:.2f}") + (f" {unit}" if unit else "")


def targets(r):
    """Rows: (figure, target, measured, peer figure, ratio, limit, met)."""
    rows = []

    def row(figure, target, measured, peer, ratio, ok):
        rows.append((figure, target, measured, peer, ratio, ok))

    w1n = r.med("W1/none/runlog", "items_per_second")
    spd = r.med("W1/spdlog_async", "items_per_second")
    ratio = w1n / spd if w1n and spd else None
    row("W1 `none`, records/s", "≥ 3 × spdlog async", fmt_num(w1n, "rec/s"), f"spdlog async {fmt_num(spd, 'rec/s')}",
        ratio, ratio is not None and ratio >= 3)

    w2b = r.med("W2/batch/runlog", "bytes_per_second")
    disk = r.med("disk/seq_1MiB_fsync_4MiB", "bytes_per_second")
    ratio = w2b / disk if w2b and disk else None
    row("W2 `batch`, MB/s", "≥ 0.8 × the disk", fmt_mbs(w2b, "MB/s"), f"disk {fmt_mbs(disk, 'MB/s')}", ratio,
        ratio is not None and ratio >= 0.8)

    w1b = r.med("W1/batch/runlog", "items_per_second")
    line = r.med("W1/batch/runlog", "line_bytes")
    disk_rec = disk / line if disk and line else None
    bound = min(x for x in (w1n, disk_rec) if x) if (w1n or disk_rec) else None
    ratio = w1b / bound if w1b and bound else None
    row("W1 `batch`, records/s", "≥ 0.8 × min(W1 `none`, the disk ÷ line size)", fmt_num(w1b, "rec/s"),
        f"min({fmt_num(w1n, 'rec/s')}, {fmt_num(disk_rec, 'rec/s')} = disk ÷ {line or 0:.0f} B)", ratio,
        ratio is not None and ratio >= 0.8)

    w3b = r.med("W3/batch/runlog", "items_per_second")
    ratio = w3b / w1b if w3b and w1b else None
    row("W3 `batch`, records/s", "≥ 0.8 × W1 `batch`", fmt_num(w3b, "rec/s"), f"W1 `batch` {fmt_num(w1b, 'rec/s')}",
        ratio, ratio is not None and ratio >= 0.8)

    fsync = r.med("disk/fdatasync_4KiB_append", "p50_us")
    for w, limit in (("W1", 4), ("W3", 6)):
        p99 = r.med(f"{w}/batch/runlog/half_load", "ack_p99_us")
        paced = r.med(f"{w}/batch/runlog/half_load", "paced_records_per_s")
        ratio = p99 / fsync if p99 and fsync else None
        row(f"durable-ack latency p99 at half of max load, {w} ({fmt_num(paced, 'rec/s')} offered)",
            f"≤ {limit} × one `fdatasync`", fmt_us(p99), f"one fdatasync of a 4 KiB append (median) {fmt_us(fsync)}",
            ratio, ratio is not None and ratio <= limit)
        jp99 = r.med(f"{w}/batch/runlog_journal/half_load", "ack_p99_us")
        if jp99:  # the opt-in journal (Options::journal), the same target
            jratio = jp99 / fsync if fsync else None
            row(f"the same through the journal (`Options::journal`), {w}", f"≤ {limit} × one `fdatasync`",
                fmt_us(jp99), f"one fdatasync of a 4 KiB append (median) {fmt_us(fsync)}", jratio,
                jratio is not None and jratio <= limit)

    for d in ("none", "batch"):
        name = f"W4/{d}/runlog"
        peak = r.max(name, "peak_rss_mib")
        lo, _ = r.spread(name, "peak_rss_mib")
        budget = r.med(name, "budget_mib")
        limit = budget + 32 if budget else None
        ratio = peak / limit if peak and limit else None
        row(f"W4 `{d}`: peak resident memory of the process (`runlog demo`), largest of the repetitions",
            "≤ in-flight budget + 32 MiB", f"{peak or 0:.0f} MiB (smallest {lo or 0:.0f})",
            f"budget {budget or 0:.0f} MiB + 32 = {limit or 0:.0f} MiB", ratio, ratio is not None and ratio <= 1)
    rows += replay_targets(r)
    if EXEC in r.runs:
        for key, how in (("passthrough_ratio", "passed through to /dev/null"), ("quiet_ratio", "`--quiet`")):
            v = r.med(EXEC, key)
            alone = r.med(EXEC, "alone_s")
            rows.append((f"a child writing {r.med(EXEC, 'mib') or 0:.0f} MiB to stdout under `runlog exec`, {how}",
                         "≤ 1.2 × the child alone (stdout to /dev/null)",
                         f"{v * alone:.2f} s" if v and alone else "—", f"the child alone {alone or 0:.2f} s", v,
                         v is not None and v <= 1.2))
    if EXEC_SEQ in r.runs:
        v = r.med(EXEC_SEQ, "seq_ratio")
        pipe = r.med(EXEC_SEQ, "pipe_s")
        rows.append((f"`runlog exec --quiet -- seq 1 {r.med(EXEC_SEQ, 'lines') or 0:.0f}`",
                     "≤ 1.1 × `seq 1 N | cat >/dev/null`",
                     f"{v * pipe:.2f} s" if v and pipe else "—", f"seq | cat {pipe or 0:.2f} s", v,
                     v is not None and v <= 1.1))
    return rows


EXEC = "exec/passthrough"
EXEC_SEQ = "exec/seq_quiet"


REPLAY = "BM_ReplayFigures"


def replay_targets(r):
    """The reading rows of TARGETS.md, from BM_ReplayFigures (none when it did not run)."""
    if REPLAY not in r.runs:
        return []
    rows = []
    size = r.med(REPLAY, "MB") or 0

    def mbs(key):
        v = r.med(REPLAY, key)
        return f"{v:.0f} MB/s" if v is not None else "—"

    def ratio_row(figure, target, key, peer, peer_key, limit):
        v, ref = r.med(REPLAY, key), r.med(REPLAY, peer_key)
        ratio = v / ref if v and ref else None
        rows.append((figure, target, mbs(key), f"{peer} {mbs(peer_key)}", ratio, ratio is not None and ratio >= limit))

    ratio_row(f"replay `--format jsonl` of a {size:.0f} MB run to /dev/null", "≥ 0.6 × bare simdjson", "replay_MBps",
              "bare simdjson `iterate_many`", "bare_MBps", 0.6)
    ratio_row(f"replay `--format jsonl` of a {size:.0f} MB run to /dev/null", "≥ 20 × jq", "replay_MBps",
              "`jq -c .`", "jq_MBps", 20)
    ratio_row(f"verify of a {size:.0f} MB run", "≥ 0.9 × bare simdjson", "verify_MBps",
              "bare simdjson `iterate_many`", "bare_MBps", 0.9)
    ratio_row(f"summary of a {size:.0f} MB run", "≥ 0.9 × bare simdjson", "summary_MBps",
              "bare simdjson `iterate_many`", "bare_MBps", 0.9)
    after = r.med(REPLAY, "after_first_ms")
    rows.append((f"first record after `--after N` in a {size:.0f} MB run (open included, best of 20 per round)",
                 "≤ 5 ms", f"{after:.2f} ms" if after is not None else "—", "5 ms",
                 after / 5 if after is not None else None, after is not None and after <= 5))
    busy = r.med(REPLAY, "many_2threads_cores_busy")
    speed = r.med(REPLAY, "many_speedup")
    rows.append(("1,000 runs replayed in one call: CPU seconds per wall second on 2 threads",
                 "uses both cores", f"{busy:.2f} cores busy" if busy is not None else "—",
                 f"speed-up over 1 thread {speed:.2f} ×" if speed is not None else "—", busy,
                 busy is not None and busy >= 1.5))
    return rows


def memory(r, n):
    if r.max(n, "peak_rss_mib") is not None:
        return f"{r.max(n, 'peak_rss_mib'):.0f} MiB"
    if r.max(n, "rss_growth_mib") is not None:
        return f"+{r.max(n, 'rss_growth_mib'):.0f} MiB"
    return "—"


def figures_tables(r):
    out = []
    out.append("### runlog, per workload and durability mode\n")
    out.append("| benchmark | records/s (min–max) | MB/s | records/batch | fsyncs/s | ack p50 | ack p99 | ack p99.9 | ack max | memory |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for w in WORKLOADS:
        for suffix in ("none/runlog", "batch/runlog", "batch/runlog/half_load", "batch/runlog_journal",
                       "batch/runlog_journal/half_load"):
            n = f"{w}/{suffix}"
            if n not in r.runs:
                continue
            lo, hi = r.spread(n, "items_per_second")
            out.append(
                f"| `{n}` | {fmt_num(r.med(n, 'items_per_second'))} ({fmt_num(lo)}–{fmt_num(hi)}) "
                f"| {fmt_mbs(r.med(n, 'bytes_per_second'))} | {fmt_num(r.med(n, 'records_per_batch'))} "
                f"| {fmt_num(r.med(n, 'fsyncs_per_s'))} | {fmt_us(r.med(n, 'ack_p50_us'))} | {fmt_us(r.med(n, 'ack_p99_us'))} "
                f"| {fmt_us(r.med(n, 'ack_p999_us'))} | {fmt_us(r.med(n, 'ack_max_us'))} "
                f"| {memory(r, n)} |")
    out.append("")
    out.append("*memory*: W4 runs as `runlog demo` in a process of its own: its peak RSS (largest of the repetitions). "
               "The others run inside `runlog_bench`: the growth of its peak RSS over its size just before the engine "
               "opened (largest of the repetitions; approximate, the allocator may reuse memory kept resident from "
               "earlier benchmarks).\n")
    out.append("`half_load` rows are paced at half the records/s of an unpaced run made just before "
               "(in the same benchmark); their records/s is what was offered, their latency is the figure.\n")
    out.append("### The peers, on the same lines\n")
    out.append("| benchmark | records/s (min–max) | MB/s | fsyncs/s | records per run | × runlog `none` | × runlog `batch` |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for w in WORKLOADS[:3]:
        rn = r.med(f"{w}/none/runlog", "items_per_second")
        rb = r.med(f"{w}/batch/runlog", "items_per_second")
        for p in PEERS:
            n = f"{w}/{p}"
            if n not in r.runs:
                continue
            v = r.med(n, "items_per_second")
            lo, hi = r.spread(n, "items_per_second")
            out.append(f"| `{n}` | {fmt_num(v)} ({fmt_num(lo)}–{fmt_num(hi)}) | {fmt_mbs(r.med(n, 'bytes_per_second'))} "
                       f"| {fmt_num(r.med(n, 'fsyncs_per_s'))} | {fmt_num(r.med(n, 'records'))} "
                       f"| {rn / v if rn and v else 0:.2f} | {rb / v if rb and v else 0:.2f} |")
    out.append("")
    out.append("The last two columns: runlog's records/s divided by the peer's (above 1: runlog is faster).\n")
    out.append("### The disk\n")
    out.append("| benchmark | MB/s | p50 | p99 | p99.9 | max | fsyncs/s |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for n in DISK:
        if n not in r.runs:
            continue
        out.append(f"| `{n}` | {fmt_mbs(r.med(n, 'bytes_per_second'))} | {fmt_us(r.med(n, 'p50_us'))} "
                   f"| {fmt_us(r.med(n, 'p99_us'))} | {fmt_us(r.med(n, 'p999_us'))} | {fmt_us(r.max(n, 'max_us'))} "
                   f"| {fmt_num(r.med(n, 'fsyncs_per_s'))} |")
    out.append("")
    out.append("`seq_1MiB_fsync_4MiB` writes as many bytes as a W2 run; the fdatasync rows give the time of one "
               "durable 4 KiB append, and of one round of syncing 64 freshly appended files one after another or "
               "from 8 threads (runlog's sync pool size).\n")
    return out


def generic_table(r, names):
    out = ["| benchmark | time | records/s | MB/s | counters |", "| --- | --- | --- | --- | --- |"]
    skip = {"name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
            "repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit",
            "items_per_second", "bytes_per_second", "aggregate_name", "aggregate_unit", "label"}
    for n in names:
        b = r.runs[n][0]
        counters = ", ".join(f"{k} {fmt_num(r.med(n, k))}" for k in b if k not in skip and isinstance(b[k], (int, float)))
        sec = r.med(n, "seconds")
        out.append(f"| `{n}` | {fmt_us(sec * 1e6) if sec is not None else '—'} | {fmt_num(r.med(n, 'items_per_second'))} "
                   f"| {fmt_mbs(r.med(n, 'bytes_per_second'))} | {counters} |")
    return out


def gnuplot(script, data_files):
    if shutil.which("gnuplot") is None:
        print("report.py: gnuplot not found (apt-get install gnuplot-nox): no plots", file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in data_files.items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(content)
        subprocess.run(["gnuplot"], input=script, text=True, cwd=tmp, check=True)
    return True


# One colour per writer, the same in every plot.
COLORS = {"none/runlog": "#1f5fbf", "batch/runlog": "#2a9d3a", "spdlog_async": "#e08a1e",
          "naive_fsync_per_record": "#8c564b", "naive_periodic_fsync": "#c9b22a", "node_writeSync": "#9467bd",
          "node_writeSync_fsync100": "#d62728"}

SVG = 'set terminal svg size 960,500 dynamic font "sans,12" background "#ffffff"\n'


def plots(r, img_dir):
    os.makedirs(img_dir, exist_ok=True)
    img = os.path.abspath(img_dir)
    series = [("none/runlog", "runlog none"), ("batch/runlog", "runlog batch")] + [(p, p.replace("_", " ")) for p in PEERS]
    # records/s per workload, runlog against its peers
    rows = []
    for w in WORKLOADS[:3]:
        vals = [r.med(f"{w}/{s}", "items_per_second") for s, _ in series]
        rows.append(w + " " + " ".join(f"{v:.0f}" if v else "NaN" for v in vals))
    head = "workload " + " ".join(f'"{t}"' for _, t in series)
    cols = ", ".join(f"'tp.dat' using {i + 2}{':xtic(1)' if i == 0 else ''} title columnhead({i + 2}) "
                     f"lc rgb '{COLORS[k]}'" for i, (k, _) in enumerate(series))
    script = SVG + f"""set output '{img}/throughput.svg'
set title 'Records per second, per workload: runlog and its peers on the same lines (median of repetitions)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [1000:*]
set format y '%.0s%c'
set ylabel 'records/s (log)'
set key outside right top vertical
set grid ytics
plot {cols}
"""
    ok = gnuplot(script, {"tp.dat": head + "\n" + "\n".join(rows) + "\n"})
    # MB/s per workload, against the disk
    bw_series = [("none/runlog", "runlog none"), ("batch/runlog", "runlog batch"), ("spdlog_async", "spdlog async"),
                 ("naive_periodic_fsync", "naive periodic fsync"), ("node_writeSync", "node writeSync")]
    rows = []
    for w in WORKLOADS[:3]:
        vals = [mb(r.med(f"{w}/{s}", "bytes_per_second")) for s, _ in bw_series]
        rows.append(w + " " + " ".join(f"{v:.1f}" if v else "NaN" for v in vals))
    disk = mb(r.med("disk/seq_1MiB_fsync_4MiB", "bytes_per_second")) or 0
    head = "workload " + " ".join(f'"{t}"' for _, t in bw_series)
    cols = ", ".join(f"'bw.dat' using {i + 2}{':xtic(1)' if i == 0 else ''} title columnhead({i + 2}) "
                     f"lc rgb '{COLORS[k]}'" for i, (k, _) in enumerate(bw_series))
    script = SVG + f"""set output '{img}/bandwidth.svg'
set title 'MB/s per workload against the disk (1 MiB writes, fdatasync every 4 MiB)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set yrange [0:*]
set ylabel 'MB/s'
set key outside right top vertical
set grid ytics
plot {cols}, {disk:.1f} with lines lw 3 lc rgb '#000000' title 'the disk ({disk:.0f} MB/s)'
"""
    ok = gnuplot(script, {"bw.dat": head + "\n" + "\n".join(rows) + "\n"}) and ok
    # durable-ack latency distribution
    lat = [("W1/batch/runlog", "ack_", "W1 batch, full load"), ("W1/batch/runlog/half_load", "ack_", "W1 batch, half load"),
           ("W2/batch/runlog", "ack_", "W2 batch, full load"), ("W3/batch/runlog", "ack_", "W3 batch, full load"),
           ("W3/batch/runlog/half_load", "ack_", "W3 batch, half load"), ("W4/batch/runlog", "ack_", "W4 batch, flood"),
           ("disk/fdatasync_4KiB_append", "", "one fdatasync of a 4 KiB append"),
           ("disk/fdatasync_64_files_concurrent", "", "64 files synced from 8 threads")]
    lat = [x for x in lat if x[0] in r.runs]
    rows = []
    for label, key in (("p50", "p50_us"), ("p99", "p99_us"), ("p99.9", "p999_us"), ("max", "max_us")):
        vals = [r.med(n, p + key) for n, p, _ in lat]
        rows.append(f'"{label}" ' + " ".join(f"{v:.1f}" if v else "NaN" for v in vals))
    head = "q " + " ".join(f'"{t}"' for _, _, t in lat)
    cols = ", ".join(f"'lat.dat' using 0:{i + 2}:xtic(1) with linespoints lw 2 pt 7 title columnhead({i + 2})"
                     for i in range(len(lat)))
    script = SVG + f"""set output '{img}/ack_latency.svg'
set title 'Durable-ack latency (push to acknowledgement), against fdatasync itself'
set logscale y
set format y '%.0s%cs'
set ylabel 'latency (log)'
set xlabel 'percentile'
set key outside right top vertical
set grid ytics
set xrange [-0.3:3.3]
plot {cols}
"""
    # values are in µs; gnuplot's %c prefixes want seconds
    rows_s = []
    for line in rows:
        parts = line.split(" ")
        rows_s.append(parts[0] + " " + " ".join(p if p == "NaN" else f"{float(p) / 1e6:.9f}" for p in parts[1:]))
    ok = gnuplot(script, {"lat.dat": head + "\n" + "\n".join(rows_s) + "\n"}) and ok
    # replay MB/s against its peers
    if REPLAY in r.runs:
        bars = [("bare simdjson", "bare_MBps"), ("replay jsonl", "replay_MBps"), ("replay text", "text_MBps"),
                ("replay raw", "raw_MBps"), ("summary", "summary_MBps"), ("verify", "verify_MBps"),
                ("Node JSON.parse", "node_MBps"), ("jq -c .", "jq_MBps")]
        rows = [f'"{label}" {r.med(REPLAY, key):.1f}' for label, key in bars if r.med(REPLAY, key)]
        script = SVG + f"""set output '{img}/replay.svg'
set title 'Reading a {r.med(REPLAY, "MB") or 0:.0f} MB run: MB/s of its files (log scale)'
set style data histograms
set style fill solid 0.85 border -1
set boxwidth 0.7
set logscale y
set yrange [10:*]
set ylabel 'MB/s (log)'
set xtics rotate by -25
set key off
set grid ytics
plot 'replay.dat' using 2:xtic(1) lc rgb '#1f5fbf'
"""
        ok = gnuplot(script, {"replay.dat": "\n".join(rows) + "\n"}) and ok
    return ok


def keep_notes(path):
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    m = re.search(r"<!-- notes:begin -->\n(.*?)<!-- notes:end -->", text, re.S)
    return m.group(1) if m else None


def node_section(path):
    """The Node binding's figures (bench/node/ingest.mjs's JSON line), or [] when it did not run."""
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        n = json.load(f)
    b, w, d = n["node/binding"], n["node/writeSync_fdatasync100"], n["runlog/demo_W1_batch"]
    lines = ["## Node (bindings/node)\n",
             "`node bench/node/ingest.mjs` (run by `bench/run_suite.sh` once the package is built with "
             "`npm install` in `bindings/node`): 4 async producers push 100-byte stdout chunks through the "
             "`runlog` package, durability `batch`, each on its own run with up to 4,096 appends in flight; "
             "against Node's own writer (the contract's entry, `JSON.stringify`, `fs.writeSync`, `fdatasync` "
             "every 100 records of a file, 4 files) and `runlog demo --workload W1 --durability batch`, in the "
             "same run. Every output is read back and checked before a figure is printed.\n",
             "| benchmark | records | records/s | fsyncs |", "| --- | --- | --- | --- |",
             f"| `node/binding` | {fmt_num(b['records'])} | {fmt_num(b['recordsPerSec'])} | {b['fsyncs']} |",
             f"| `node/writeSync_fdatasync100` | {fmt_num(w['records'])} | {fmt_num(w['recordsPerSec'])} | {w['fsyncs']} |",
             f"| `runlog/demo_W1_batch` | {fmt_num(d['records'])} | {fmt_num(d['recordsPerSec'])} | — |", "",
             "| figure | target | ratio | met? |", "| --- | --- | --- | --- |"]
    for figure, target, ratio, limit in (("binding ÷ Node's writer", "≥ 10 ×", n["bindingOverNodeWriter"], 10),
                                         ("binding ÷ `runlog demo` W1 `batch`", "≥ 0.5 ×", n["bindingOverDemo"], 0.5)):
        lines.append(f"| {figure} | {target} | {ratio:.2f} | {'**met**' if ratio >= limit else '**missed**'} |")
    lines.append("")
    return lines


def write_report(results_path, machine, out, img_dir, context, r, order, node_json=None):
    rows = targets(r)
    lines = []
    lines.append("# runlog benchmarks\n")
    lines.append("Generated by `bash bench/run_suite.sh` (which runs `build/bench/runlog_bench`, then "
                 "`bench/report.py`); do not edit by hand except between the notes markers. Every figure is the "
                 "median of the repetitions of one run of the suite, and every target is a ratio against a peer "
                 "measured in that same run, on the same machine (TARGETS.md): the machine is shared and noisy, so "
                 "only the ratios mean anything elsewhere.\n")
    lines.append("## The machine\n")
    la = " ".join(machine.get("loadavg_start", []))
    lines.append("| | |\n| --- | --- |")
    lines.append(f"| CPUs (nproc) | {machine.get('nproc')} × {machine.get('cpu', '?')} |")
    lines.append(f"| memory | {machine.get('mem_mib', 0)} MiB |")
    lines.append(f"| kernel | Linux {machine.get('kernel', '?')} |")
    lines.append(f"| file system under test | {machine.get('fs', '?')} on {machine.get('fs_source', '?')} "
                 f"({machine.get('fs_options', '')}) |")
    lines.append(f"| peers | spdlog {machine.get('spdlog', '?')}, Node {machine.get('node', '?')} |")
    lines.append(f"| load average at start | {la} (shared machine) |")
    lines.append(f"| commit | {machine.get('commit', '?')}, {context.get('date', '')} |")
    reps = max((len(r.runs.get(n, [])) for n in ingest_names()), default=0)
    lines.append(f"| repetitions | {reps}, interleaved at random across benchmarks |")
    recs = r.med("W1/none/runlog", "records")
    lines.append(f"| sizes | W1/W3 {fmt_num(recs)} records per run (lifecycle events included), W2 "
                 f"{fmt_num(r.med('W2/none/runlog', 'records'))}, W4 a {r.med('W4/none/runlog', 'seconds') or 0:.0f} s flood; "
                 f"the fsync-per-record peer {fmt_num(r.med('W1/naive_fsync_per_record', 'records'))} records |")
    lines.append("")
    lines.append("## Targets (TARGETS.md), each against its peer in the same run\n")
    lines.append("| figure | target | measured | against | ratio | met? |")
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for figure, target, measured, peer, ratio, ok in rows:
        lines.append(f"| {figure} | {target} | {measured} | {peer} | {'—' if ratio is None else f'{ratio:.2f}'} "
                     f"| {'**met**' if ok else '**missed**'} |")
    lines.append("")
    lines.append("![records per second](img/throughput.svg)\n")
    lines.append("![MB per second](img/bandwidth.svg)\n")
    lines.append("![durable-ack latency](img/ack_latency.svg)\n")
    lines.append("## Every figure\n")
    lines += figures_tables(r)
    lines.append("## How it is measured\n")
    lines.append(
        "- **runlog** (`W<n>/<durability>/runlog`): `tools/workload.h`'s `run_workload`, the code `runlog demo` runs: "
        "producer threads push the workload's chunks round-robin over its runs, each run also gets "
        "`worker_started`, `worker_exited` and `step_completed`; the time is first push to last acknowledgement "
        "(`Engine::flush`). records/s, MB/s (encoded bytes), records per batch, fsyncs/s and the durable-ack "
        "percentiles come from `EngineStats`; the peak RSS is the process's VmHWM, reset (`/proc/self/clear_refs`) "
        "just before the engine opens; *growth* is that peak minus the resident size at that moment. W4 (a 10 s flood of "
        "8 producers, whose target is peak memory) runs as `runlog demo` in a child process, so that its peak RSS is "
        "a whole, fresh process's; its figures are the ones `runlog demo` prints.\n"
        "- **Output checks, before any figure**: runlog's run folders are read whole by the recovery scanner "
        "(`io/recovery.h`: every CRC valid, seqs 1..N gap-free across channels, no torn tail, nothing past a hole) "
        "and must hold exactly the records pushed; each peer's output must hold the expected number of lines "
        "(and, for the C++ peers, exactly the bytes written). A failed check is an error and no figure; "
        "`runlog_bench` then exits 1.\n"
        "- **The peers' lines** are runlog's own output: a `none` run of the same workload (16,384 records) read "
        "back in seq order; record *i* of a peer is line *i* mod the pool. C++ peers use the workload's producer "
        "count and one file: `spdlog_async` (spdlog's async logger, one worker thread, queue 8192, overflow policy "
        "`block`, pattern `%v`, a `basic_file_sink_mt`; timed until the pool has drained and the file is closed), "
        "`naive_fsync_per_record` (mutex, `write`, `fdatasync` per record; fewer records, it is slow), "
        "`naive_periodic_fsync` (mutex, 64 KiB buffer, write and `fdatasync` under the mutex once 1 ms has passed "
        "since the last sync).\n"
        "- **Node** (`node_writeSync`, `node_writeSync_fsync100`): `bench/peers/ts_runner.mjs` in a subprocess, "
        "one thread as a TypeScript runner is: per record it builds the contract's entry (run context, seq, "
        "channel, `new Date().toISOString()`, text; lifecycle entries with `randomUUID()` and `renderedLine`), "
        "`JSON.stringify` + `fs.writeSync` to the run's channel file (runs × 3 files), optionally `fdatasync` of a "
        "file after every 100 records written to it. The script times its write loop.\n"
        "- **Half load**: the `half_load` benchmark first runs the workload unpaced to measure its max records/s, "
        "then runs it again with every producer on a fixed schedule at half that rate (`WorkloadOptions::rate`), "
        "and reports that run's ack percentiles; the target compares p99 with the median of "
        "`disk/fdatasync_4KiB_append`.\n"
        "- **Reading** (`bench/replay_bench.cpp`): one run of W1's mix generated by the engine "
        "(`RUNLOG_BENCH_REPLAY_MB`, 1024 in the full suite) and 1,000 small runs; before any timing every pass "
        "must see every record (the raw output exactly the bytes pushed, the jsonl parsed back in seq order, "
        "verify clean). `BM_ReplayFigures` then times the bare simdjson pass (1 MiB preads, `iterate_many`, "
        "`seq` and `text` of every line), replay in each format to /dev/null, summary, verify (2 threads) and "
        "`--after N` in interleaved rounds, best of each; `jq -c .` and Node (`bench/peers/node_replay.mjs`: "
        "1 MiB reads, `JSON.parse` per line) read the whole run once.\n"
        "- **`runlog exec`** (`bench/exec_bench.cpp`): a child writing `RUNLOG_BENCH_EXEC_MB` MiB to stdout as "
        "fast as it can, alone (stdout to /dev/null), under `runlog exec --quiet` and under `runlog exec` passing "
        "through to /dev/null; wall time until runlog has exited (everything durable); every run verified and its "
        "raw stdout compared with the child's bytes first.\n"
        "- **`runlog serve`** (`bench/serve_bench.cpp`): `RUNLOG_BENCH_SERVE_CLIENTS` SSE clients (one epoll thread) "
        "follow one run that the engine writes in W1's mix at `RUNLOG_BENCH_SERVE_RATE` records/s; the server is the "
        "`runlog serve` binary; every client must get every record once, in order, then `end`.\n")
    lines.append("## Profiling notes\n")
    notes = keep_notes(out)
    lines.append("<!-- notes:begin -->")
    lines.append(notes.rstrip("\n") if notes else "(none yet)")
    lines.append("<!-- notes:end -->\n")
    lines.append("## Reading\n")
    other = [n for n in order if n.startswith("BM_Replay")]
    if REPLAY in r.runs:
        lines.append(f"A run of W1's mix ({r.med(REPLAY, 'MB') or 0:.0f} MB of channel files) generated by the engine, "
                     "read back from the page cache. `BM_ReplayFigures` times every pass side by side, interleaved, "
                     "best of its rounds; jq and Node read the whole run once. MB/s is of the run's files.\n")
        lines.append("| pass | MB/s | × bare simdjson |")
        lines.append("| --- | --- | --- |")
        bare = r.med(REPLAY, "bare_MBps")
        for label, key in (("bare simdjson `iterate_many` (seq and text of every line)", "bare_MBps"),
                           ("`runlog replay --format jsonl`", "replay_MBps"),
                           ("`runlog replay --format text`", "text_MBps"),
                           ("`runlog replay --format raw`", "raw_MBps"),
                           ("`runlog summary`", "summary_MBps"),
                           ("`runlog verify` (2 threads)", "verify_MBps"),
                           ("Node, `JSON.parse` per line", "node_MBps"),
                           ("`jq -c .`", "jq_MBps"),
                           ("1,000 small runs replayed, 1 thread", "many_1thread_MBps"),
                           ("1,000 small runs replayed, 2 threads", "many_2threads_MBps")):
            v = r.med(REPLAY, key)
            lines.append(f"| {label} | {v:.0f} | {v / bare:.2f} |" if v and bare else f"| {label} | — | — |")
        lines.append("\n![replay MB/s](img/replay.svg)\n")
    if other:
        lines.append("Every reading benchmark of `bench/replay_bench.cpp`:\n")
        lines += generic_table(r, other)
    conv = [n for n in order if n.startswith("conv/after_first")]
    if conv:
        n = conv[0]
        lines.append("\n### Conversations: the first chunk after `--after N`\n")
        lines.append(f"One conversation of {r.med(n, 'file_mb') or 0:.0f} MB ({fmt_num(r.med(n, 'chunks'))} chunks, "
                     "`RUNLOG_BENCH_CONV_MB`, 1024 in the full suite) written by the engine; open + the first chunk "
                     f"after N = 9/10 of them (`bench/conversation_bench.cpp`): **{r.med(n, 'after_first_ms') or 0:.2f} ms** "
                     "(target ≤ 5 ms, as for runs: found by bisection, not by a scan).\n")
    lines.append("")
    serve = [n for n in order if n.startswith("serve/")]
    if serve:
        n = serve[0]
        lines.append("## runlog serve: live SSE clients\n")
        lines.append(f"{r.med(n, 'clients') or 0:.0f} SSE clients on loopback follow one live run written by the engine in "
                     f"W1's mix at {r.med(n, 'rate_per_s') or 0:.0f} records/s ({r.med(n, 'records') or 0:.0f} records); "
                     "every client got every record once, in order, and `end` (else the benchmark reports an error). "
                     "Latency is from the engine's durable acknowledgement to the client having parsed the event.\n")
        lines.append("| deliveries | p50 | p99 (target ≤ 50 ms) | max | server peak RSS | server CPU | client CPU |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
        lines.append(f"| {fmt_num(r.med(n, 'deliveries'))} | {r.med(n, 'p50_ms') or 0:.1f} ms | {r.med(n, 'p99_ms') or 0:.1f} ms "
                     f"| {r.med(n, 'max_ms') or 0:.1f} ms | {r.med(n, 'server_peak_rss_mib') or 0:.0f} MiB "
                     f"| {r.med(n, 'server_cpu_s') or 0:.1f} s | {r.med(n, 'client_cpu_s') or 0:.1f} s |\n")
    lines += node_section(node_json)
    rest = [n for n in order if n not in set(ingest_names()) and not n.startswith(("BM_Replay", "BM_Encode", "BM_JsonEscape", "serve/"))]
    if rest:
        lines.append("## Other benchmarks\n")
        lines += generic_table(r, rest)
        lines.append("")
    enc = [n for n in order if n.startswith(("BM_Encode", "BM_JsonEscape"))]
    if enc:
        lines.append("## Encoder micro-benchmarks\n")
        lines.append("`BM_JsonEscape/<escaper>/<text>`: escaper 0 portable, 1 shuffle (SSSE3); text 0 W1's, 1 `seq`'s "
                     "output, 2 no special byte; 64 KiB each.\n")
        lines += generic_table(r, enc)
        lines.append("")
    lines.append(f"Raw results: `{os.path.relpath(results_path)}` (Google Benchmark JSON, not committed) on the machine "
                 "that ran the suite; `python3 bench/report.py` rewrites this page from it.\n")
    with open(out, "w") as f:
        f.write("\n".join(lines))
    plots(r, img_dir)
    print(f"report.py: wrote {out} and {img_dir}/*.svg", file=sys.stderr)
    missed = [row[0] for row in rows if not row[5]]
    for m in missed:
        print(f"report.py: target missed: {m}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--check", action="store_true", help="only check that every ingest benchmark ran without error")
    ap.add_argument("--machine", default=None)
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--img", default="docs/img")
    ap.add_argument("--node", default=None, help="bench/node/ingest.mjs's JSON line (the Node section)")
    a = ap.parse_args()
    context, runs, errors, order = load(a.results)
    for name, msg in errors:
        print(f"report.py: {name}: ERROR {msg}", file=sys.stderr)
    missing = [n for n in ingest_names() + [REPLAY] if n not in runs]
    for n in missing:
        if not any(e[0] == n for e in errors):
            print(f"report.py: {n}: did not run", file=sys.stderr)
    if errors or missing:
        print(f"report.py: {len(errors)} failed, {len(missing)} without a figure: no report", file=sys.stderr)
        return 1
    r = Results(runs)
    bad = [n for n in ingest_names() for v in r.values(n, "seconds") if not (v > 0 and math.isfinite(v))]
    if bad:
        print(f"report.py: no valid time for {sorted(set(bad))}", file=sys.stderr)
        return 1
    if a.check:
        print(f"report.py: {len(ingest_names())} ingest benchmarks ran and passed their output checks; "
              f"{len(order)} benchmarks in all", file=sys.stderr)
        return 0
    machine = {}
    if a.machine:
        with open(a.machine) as f:
            machine = json.load(f)
    write_report(a.results, machine, a.out, a.img, context, r, order, a.node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
