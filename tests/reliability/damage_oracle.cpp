// tests/reliability/damage_oracle.cpp — the damage matrix's oracle (SPEC
// "Recovery" written from the SPEC alone: its own line check, its own CRC32C)
// and the readings of folders and outputs its tests compare.
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "reliability/damage_matrix.h"
#include "support/run_files.h"

namespace runlog::testing::damage {

namespace fs = std::filesystem;

namespace {

// CRC32C (Castagnoli, reflected 0x82F63B78), bit by bit: slow and obviously right.
std::uint32_t RefCrc32c(std::string_view s) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}

// Whether `body` (one line without '\n') is a record of `channel` ("chunks"
// for a conversation): one JSON object, seq >= 1, the fields of its contract
// type, and when it carries a crc, the CRC32C of the bytes before `,"crc":"`.
bool OracleLineValid(std::string_view body, std::string_view channel, std::uint64_t* seq) {
  if (body.empty() || body.find('\0') != std::string_view::npos) return false;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) return false;
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return false;
  std::uint64_t s = 0;
  if (obj["seq"].get_uint64().get(s) != simdjson::SUCCESS || s == 0) return false;
  auto is_string = [&](const char* k) { return obj[k].is_string(); };
  if (channel == "chunks") {
    if (!is_string("role") || !obj["chunk"].is_object()) return false;
  } else {
    std::string_view ch;
    if (obj["channel"].get_string().get(ch) != simdjson::SUCCESS || ch != channel) return false;
    if (!is_string("createdAt")) return false;
    if (channel == "worker") {
      for (const char* k : {"eventId", "type", "level", "message", "renderedLine"})
        if (!is_string(k)) return false;
      if (!obj["data"].is_object()) return false;
    } else if (!is_string("text")) {
      return false;
    }
  }
  std::string_view crc;
  if (obj["crc"].get_string().get(crc) == simdjson::SUCCESS) {
    const std::size_t at = body.rfind(",\"crc\":\"");
    if (at == std::string_view::npos || crc.size() != 8) return false;
    char want[9];
    std::snprintf(want, sizeof want, "%08x", RefCrc32c(body.substr(0, at)));
    if (crc != std::string_view(want, 8)) return false;
  } else if (!obj["crc"].error()) {
    return false;  // crc present but not a string
  }
  *seq = s;
  return true;
}

}  // namespace

std::vector<Line> OracleLines(const std::string& content, std::string_view channel) {
  std::vector<Line> out;
  std::size_t pos = 0;
  while (pos < content.size()) {
    Line l;
    l.offset = pos;
    const std::size_t nl = content.find('\n', pos);
    l.complete = nl != std::string::npos;
    const std::size_t end = l.complete ? nl : content.size();
    l.bytes = content.substr(pos, end - pos);
    l.valid = l.complete && OracleLineValid(l.bytes, channel, &l.seq);
    out.push_back(std::move(l));
    pos = l.complete ? end + 1 : end;
    if (!out.back().complete) break;
  }
  return out;
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::clean:
      return "clean";
    case Verdict::torn:
      return "torn";
    case Verdict::corrupt:
      return "corrupt";
    case Verdict::none:
      return "-";
  }
  return "?";
}

std::string ChannelOf(const std::string& file) { return file.substr(0, file.find('.')); }

std::optional<std::uint64_t> ParseDurable(const std::string& dir) {
  auto s = ReadFile(dir + "/durable.seq");
  if (!s || s->size() != 21 || s->back() != '\n') return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 20; ++i) {
    if ((*s)[i] < '0' || (*s)[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>((*s)[i] - '0');
  }
  return v;
}

Stream LoadStream(const std::string& dir, bool conversation) {
  Stream st;
  st.conversation = conversation;
  if (conversation) {
    st.files = {"chunks.jsonl"};
  } else {
    st.files = {kChannelFiles[0], kChannelFiles[1], kChannelFiles[2]};
  }
  for (const auto& f : st.files) st.content[f] = ReadFile(dir + "/" + f).value_or("");
  st.durable = ParseDurable(dir);
  if (!conversation) {
    if (auto js = ReadFile(dir + "/state.json")) {
      simdjson::dom::parser p;
      simdjson::dom::element e;
      if (p.parse(*js).get(e) == simdjson::SUCCESS) {
        std::uint64_t v = 0;
        if (e["lastEventSeq"].get_uint64().get(v) == simdjson::SUCCESS) st.last_event = v;
        std::string_view s;
        if (e["status"].get_string().get(s) == simdjson::SUCCESS) st.status = std::string(s);
      }
    }
  }
  return st;
}

Expect Oracle(const Stream& st) {
  Expect e;
  e.W = std::max(st.durable.value_or(0), st.last_event.value_or(0));
  std::set<std::uint64_t> present;
  bool damaged_tail = false;
  for (const auto& f : st.files) {
    const std::vector<Line> lines = OracleLines(st.content.at(f), st.conversation ? "chunks" : ChannelOf(f));
    bool damage_seen = false;
    std::uint64_t last = 0;
    for (const Line& l : lines) {
      if (!l.valid) {
        damage_seen = true;
        continue;
      }
      if (damage_seen && e.verdict != Verdict::corrupt) {
        e.verdict = Verdict::corrupt;
        e.why = f + ": damage with a valid record after it";
      }
      if (l.seq <= last && e.verdict != Verdict::corrupt) {
        e.verdict = Verdict::corrupt;
        e.why = f + ": seq repeats or goes backwards";
      }
      last = std::max(last, l.seq);
      if (!present.insert(l.seq).second && e.verdict != Verdict::corrupt) {
        e.verdict = Verdict::corrupt;
        e.why = f + ": seq in two files";
      }
    }
    if (damage_seen) damaged_tail = true;
  }
  for (std::uint64_t s = 1; s <= e.W && e.verdict != Verdict::corrupt; ++s) {
    if (!present.count(s)) {
      e.verdict = Verdict::corrupt;
      e.why = "seq " + std::to_string(s) + " <= W=" + std::to_string(e.W) + " missing";
    }
  }
  e.max_seq = present.empty() ? 0 : *present.rbegin();
  if (e.verdict == Verdict::corrupt) return e;
  e.N = e.W;
  while (present.count(e.N + 1)) ++e.N;
  if (damaged_tail || e.N < e.max_seq) {
    e.verdict = Verdict::torn;
    e.why = damaged_tail ? "damaged tail above W" : "records past a hole above W";
  }
  for (const auto& f : st.files) {
    const std::string& c = st.content.at(f);
    std::size_t floor_end = 0, keep_end = 0;
    for (const Line& l : OracleLines(c, st.conversation ? "chunks" : ChannelOf(f))) {
      if (!l.valid) break;
      if (l.seq <= e.W) floor_end = l.offset + l.bytes.size() + 1;
      if (l.seq <= e.N) keep_end = l.offset + l.bytes.size() + 1;
    }
    e.floor[f] = c.substr(0, floor_end);
    e.keep[f] = c.substr(0, keep_end);
  }
  return e;
}

std::vector<std::uint64_t> SeqsOfJsonLines(const std::string& out) {
  std::vector<std::uint64_t> seqs;
  simdjson::dom::parser p;
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    const std::string line = out.substr(pos, nl - pos);
    pos = nl + 1;
    simdjson::dom::element e;
    std::uint64_t s = 0;
    if (!line.empty() && p.parse(line).get(e) == simdjson::SUCCESS && e["seq"].get_uint64().get(s) == simdjson::SUCCESS)
      seqs.push_back(s);
  }
  return seqs;
}

std::optional<std::uint64_t> FirstUint(const std::string& out, const char* key) {
  simdjson::dom::parser p;
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    const std::string line = out.substr(pos, nl - pos);
    pos = nl + 1;
    simdjson::dom::element e;
    std::uint64_t v = 0;
    if (!line.empty() && p.parse(line).get(e) == simdjson::SUCCESS && e[key].get_uint64().get(v) == simdjson::SUCCESS)
      return v;
  }
  return std::nullopt;
}

Snapshot Snap(const std::string& dir) {
  Snapshot s;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return s;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec)) s[fs::relative(it->path(), dir).string()] = ReadFile(it->path().string()).value_or("");
  }
  return s;
}

std::string DiffSnap(const Snapshot& a, const Snapshot& b) {
  std::string d;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end())
      d += k + " removed; ";
    else if (it->second != v)
      d += k + " " + std::to_string(v.size()) + "->" + std::to_string(it->second.size()) + " bytes; ";
  }
  for (const auto& [k, v] : b)
    if (!a.count(k) && k.find("lock") == std::string::npos) d += k + " created; ";
  return d;
}

bool Terminal(const std::string& status) { return status == "completed" || status == "failed" || status == "blocked"; }

}  // namespace runlog::testing::damage
