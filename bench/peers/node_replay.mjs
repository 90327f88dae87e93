// bench/peers/node_replay.mjs — what a TypeScript runner does today to read a
// run back (the replay peer of TARGETS.md): each channel file read in 1 MiB
// pieces, decoded as UTF-8, split at '\n', and every line JSON.parse-d; the
// entry's seq and text are read so the parse cannot be skipped.
//
// Usage: node node_replay.mjs FILE...
// Prints one JSON line: {"records","bytes","seconds"}; seconds covers the reads
// and parses (Node's start-up is left out).
import fs from "node:fs";
import { StringDecoder } from "node:string_decoder";

const files = process.argv.slice(2);
if (files.length === 0) throw new Error("usage: node node_replay.mjs FILE...");

const t0 = process.hrtime.bigint();
let records = 0;
let bytes = 0;
let seqSum = 0;
let textChars = 0;
const buf = Buffer.allocUnsafe(1 << 20);
for (const file of files) {
  const fd = fs.openSync(file, "r");
  const decoder = new StringDecoder("utf8");
  let carry = "";
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    bytes += n;
    const text = carry + decoder.write(buf.subarray(0, n));
    let start = 0;
    for (let nl = text.indexOf("\n", start); nl !== -1; nl = text.indexOf("\n", start)) {
      const entry = JSON.parse(text.slice(start, nl));
      seqSum += entry.seq;
      if (typeof entry.text === "string") textChars += entry.text.length;
      ++records;
      start = nl + 1;
    }
    carry = text.slice(start);
  }
  if ((carry + decoder.end()).length !== 0) throw new Error(`${file}: the last line has no newline`);
  fs.closeSync(fd);
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
if (!(seqSum > 0) || textChars < 0) throw new Error("nothing parsed");
process.stdout.write(JSON.stringify({ records, bytes, seconds }) + "\n");
