// tests/support/run_files.cpp — see run_files.h.
#include "support/run_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <simdjson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/base64.h"
#include "core/crc32c.h"
#include "core/utf8.h"

namespace runlog::testing {

// ------------------------------------------------------------------- files

TempDir::TempDir(std::string_view prefix) {
  std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl << ": " << std::strerror(errno);
    return;
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  // Folders made 0500 or similar by a test must not stop the cleanup.
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

std::optional<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::nullopt;
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

bool WriteFile(const std::string& path, std::string_view content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return ::close(fd) == 0;
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines;
  std::optional<std::string> content = ReadFile(path);
  if (!content) return lines;
  std::size_t start = 0;
  while (start < content->size()) {
    std::size_t nl = content->find('\n', start);
    if (nl == std::string::npos) {
      lines.push_back(content->substr(start));
      break;
    }
    lines.push_back(content->substr(start, nl + 1 - start));
    start = nl + 1;
  }
  return lines;
}

std::string RunDir(const std::string& root, std::string_view task, std::string_view run) {
  return root + "/" + std::string(task) + "/" + std::string(run);
}

// ------------------------------------------------------------ reference UTF-8

std::string WhatwgDecode(std::string_view in) {
  static constexpr const char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(in.size());
  auto put_cp = [&out](std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  };
  // The Encoding Standard's "UTF-8 decoder" algorithm, step by step.
  std::uint32_t cp = 0;
  int needed = 0, seen = 0;
  unsigned lower = 0x80, upper = 0xBF;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const unsigned b = static_cast<unsigned char>(in[i]);
    if (needed == 0) {
      if (b <= 0x7F) {
        out += static_cast<char>(b);
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
        cp = b & 0x1F;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2;
        cp = b & 0x0F;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3;
        cp = b & 0x07;
      } else {
        out += kReplacement;
      }
      continue;
    }
    if (b < lower || b > upper) {
      cp = 0;
      needed = seen = 0;
      lower = 0x80;
      upper = 0xBF;
      out += kReplacement;
      --i;  // prepend the byte to the stream: decode it again as a lead
      continue;
    }
    lower = 0x80;
    upper = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
    if (++seen == needed) {
      put_cp(cp);
      cp = 0;
      needed = seen = 0;
    }
  }
  if (needed != 0) out += kReplacement;
  return out;
}

bool IsIsoMillis(std::string_view s) {
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != kShape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (kShape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != kShape[i]) return false;
  }
  return true;
}

// ------------------------------------------------------------------- lines

namespace {

bool IsLowerHex(std::string_view s, std::size_t n) {
  if (s.size() != n) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsLowerHex(s.substr(i, 1), 1)) return false;
  }
  return true;
}

const std::set<std::string_view>& EventTypes() {
  static const std::set<std::string_view> types = {
      "run_prepared",  "checkpoint_slot_reserved", "worker_started", "worker_execution_deferred", "worker_exited",
      "step_prepared", "step_completed",           "step_failed",    "step_blocked"};
  return types;
}

// Parses a line into *rec (no checks beyond "it is an object with these
// fields"); returns an error description, empty on success.
std::string ParseInto(std::string_view line, simdjson::dom::parser& parser, Record* rec,
                      std::vector<std::string>* keys) {
  simdjson::padded_string padded(line);
  simdjson::dom::element doc;
  if (auto err = parser.parse(padded).get(doc)) return std::string("not JSON: ") + simdjson::error_message(err);
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return "not a JSON object";
  if (keys != nullptr) {
    keys->clear();
    for (auto field : obj) keys->emplace_back(field.key);
  }
  auto str = [&](const char* key, std::string* out, bool required) -> std::string {
    std::string_view v;
    auto r = obj[key];
    if (r.error() == simdjson::NO_SUCH_FIELD) return required ? std::string("missing \"") + key + "\"" : "";
    if (r.get_string().get(v)) return std::string("\"") + key + "\" is not a string";
    *out = std::string(v);
    return "";
  };
  if (obj["seq"].get_uint64().get(rec->seq)) return "\"seq\" is not a non-negative integer";
  std::string e;
  if (!(e = str("channel", &rec->channel, true)).empty()) return e;
  if (!(e = str("createdAt", &rec->createdAt, true)).empty()) return e;
  if (!(e = str("crc", &rec->crc, true)).empty()) return e;
  if (rec->channel == "worker") {
    for (auto [key, out] : {std::pair{"eventId", &rec->eventId}, std::pair{"type", &rec->type},
                            std::pair{"level", &rec->level}, std::pair{"message", &rec->message},
                            std::pair{"renderedLine", &rec->renderedLine}}) {
      if (!(e = str(key, out, true)).empty()) return e;
    }
    simdjson::dom::object data;
    if (obj["data"].get_object().get(data)) return "\"data\" is not an object";
    rec->data = simdjson::minify(data);
  } else {
    if (!(e = str("text", &rec->text, true)).empty()) return e;
    std::string b64;
    bool has_bytes = obj["bytes"].error() != simdjson::NO_SUCH_FIELD;
    if (has_bytes) {
      if (!(e = str("bytes", &b64, true)).empty()) return e;
      rec->bytes = b64;
      std::string decoded;
      if (!base64_decode(b64, &decoded)) return "\"bytes\" is not base64";
      rec->raw = std::move(decoded);
    } else {
      rec->raw = rec->text;
    }
  }
  return "";
}

}  // namespace

::testing::AssertionResult CheckLine(std::string_view line) {
  auto fail = [&](std::string_view why) {
    std::string shown(line.substr(0, 300));
    return ::testing::AssertionFailure() << why << "\n  line: " << shown << (line.size() > 300 ? "..." : "");
  };
  if (line.empty() || line.back() != '\n') return fail("does not end in \\n");
  std::string_view body = line.substr(0, line.size() - 1);
  if (body.find('\n') != std::string_view::npos) return fail("has a \\n before its end");
  if (!utf8_is_valid(line.data(), line.size())) return fail("is not valid UTF-8");
  // `,"crc":"` + 8 hex + `"}` ends every line, and the CRC covers what precedes it.
  static constexpr std::string_view kCrcKey = R"(,"crc":")";
  if (body.size() < kCrcKey.size() + 10 || body.substr(body.size() - 10 - kCrcKey.size(), kCrcKey.size()) != kCrcKey ||
      body.substr(body.size() - 2) != "\"}")
    return fail("does not end in ,\"crc\":\"xxxxxxxx\"}");
  std::string_view covered = body.substr(0, body.size() - 10 - kCrcKey.size());
  std::string_view hex = body.substr(body.size() - 10, 8);
  if (!IsLowerHex(hex, 8)) return fail("crc is not 8 lowercase hex digits");
  char expected[9] = {};
  crc32c_hex(crc32c(covered.data(), covered.size()), expected);
  if (hex != std::string_view(expected, 8))
    return fail("crc mismatch: line says " + std::string(hex) + ", bytes give " + expected);
  if (body.substr(0, 7) != R"({"seq":)") return fail("does not start with {\"seq\":");

  simdjson::dom::parser parser;
  Record rec;
  std::vector<std::string> keys;
  if (std::string e = ParseInto(body, parser, &rec, &keys); !e.empty()) return fail(e);
  if (rec.seq == 0) return fail("seq is 0");
  if (!IsIsoMillis(rec.createdAt)) return fail("createdAt is not in toISOString form");

  std::vector<std::string> want;
  if (rec.channel == "worker") {
    want = {"seq", "channel", "eventId", "type", "level", "createdAt", "message", "data", "renderedLine", "crc"};
  } else if (rec.channel == "stdout" || rec.channel == "stderr") {
    want = {"seq", "channel", "createdAt", "text"};
    if (rec.bytes) want.push_back("bytes");
    want.push_back("crc");
  } else {
    return fail("unknown channel \"" + rec.channel + "\"");
  }
  if (keys != want) {
    std::string got;
    for (auto& k : keys) got += k + " ";
    return fail("keys out of order or unexpected: " + got);
  }
  if (rec.channel == "worker") {
    if (!IsUuid(rec.eventId)) return fail("eventId is not a lowercase UUID");
    if (EventTypes().count(rec.type) == 0) return fail("unknown type " + rec.type);
    if (rec.level != "debug" && rec.level != "info" && rec.level != "warn" && rec.level != "error")
      return fail("unknown level " + rec.level);
    std::string rendered = "[" + rec.createdAt + "] " + rec.level + " " + rec.type + ": " + rec.message;
    if (rec.renderedLine != rendered) return fail("renderedLine is not \"" + rendered + "\"");
  } else if (rec.bytes) {
    if (utf8_is_valid(rec.raw.data(), rec.raw.size())) return fail("\"bytes\" present for valid UTF-8");
    if (rec.text != WhatwgDecode(rec.raw)) return fail("\"text\" is not the WHATWG decoding of \"bytes\"");
  }
  return ::testing::AssertionSuccess();
}

// ----------------------------------------------------------------- records

std::vector<Record> ParseFile(const std::string& run_dir, std::string_view file) {
  std::vector<Record> out;
  simdjson::dom::parser parser;
  std::vector<std::string> lines = ReadLines(run_dir + "/" + std::string(file));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    Record rec;
    rec.file = std::string(file);
    rec.index = i;
    std::string_view body = lines[i];
    if (!body.empty() && body.back() == '\n') body.remove_suffix(1);
    if (std::string e = ParseInto(body, parser, &rec, nullptr); !e.empty()) {
      ADD_FAILURE() << run_dir << "/" << file << " line " << i << ": " << e;
      continue;
    }
    rec.line = std::move(lines[i]);
    out.push_back(std::move(rec));
  }
  return out;
}

std::vector<Record> ParseRun(const std::string& run_dir) {
  std::vector<Record> out;
  for (const char* f : kChannelFiles) {
    std::vector<Record> recs = ParseFile(run_dir, f);
    std::move(recs.begin(), recs.end(), std::back_inserter(out));
  }
  return out;
}

std::vector<std::uint64_t> AllSeqs(const std::string& run_dir) {
  std::vector<std::uint64_t> seqs;
  for (const Record& r : ParseRun(run_dir)) seqs.push_back(r.seq);
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

::testing::AssertionResult CheckRun(const std::string& run_dir, std::uint64_t* last_seq) {
  std::vector<std::uint64_t> seqs;
  static constexpr const char* kChannels[3] = {"worker", "stdout", "stderr"};
  simdjson::dom::parser parser;
  for (int c = 0; c < 3; ++c) {
    const std::string path = run_dir + "/" + kChannelFiles[c];
    if (!Exists(path)) return ::testing::AssertionFailure() << path << " is missing";
    std::vector<std::string> lines = ReadLines(path);
    std::uint64_t prev = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (auto ok = CheckLine(lines[i]); !ok) return ::testing::AssertionFailure() << path << " line " << i << ": " << ok.message();
      Record rec;
      std::string_view body(lines[i].data(), lines[i].size() - 1);
      if (std::string e = ParseInto(body, parser, &rec, nullptr); !e.empty())
        return ::testing::AssertionFailure() << path << " line " << i << ": " << e;
      if (rec.channel != kChannels[c])
        return ::testing::AssertionFailure() << path << " line " << i << ": channel " << rec.channel;
      if (rec.seq <= prev)
        return ::testing::AssertionFailure() << path << " line " << i << ": seq " << rec.seq << " after " << prev;
      prev = rec.seq;
      seqs.push_back(rec.seq);
    }
  }
  std::sort(seqs.begin(), seqs.end());
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i] != i + 1)
      return ::testing::AssertionFailure() << run_dir << ": seqs are not gap-free: position " << i << " holds seq "
                                           << seqs[i] << " (of " << seqs.size() << " records)";
  }
  if (last_seq != nullptr) *last_seq = seqs.size();
  return ::testing::AssertionSuccess();
}

std::optional<std::uint64_t> ReadDurableSeq(const std::string& run_dir) {
  std::optional<std::string> s = ReadFile(run_dir + "/durable.seq");
  if (!s || s->size() != 21 || s->back() != '\n') return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 20; ++i) {
    char c = (*s)[i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

StateFile ReadState(const std::string& run_dir) {
  StateFile st;
  std::optional<std::string> text = ReadFile(run_dir + "/state.json");
  if (!text) {
    st.error = "state.json is missing";
    return st;
  }
  st.json = *text;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(*text);
  simdjson::dom::object obj;
  if (parser.parse(padded).get_object().get(obj)) {
    st.error = "state.json is not a JSON object: " + *text;
    return st;
  }
  auto opt_str = [&](const char* key) -> std::optional<std::string> {
    std::string_view v;
    if (obj[key].get_string().get(v)) return std::nullopt;
    return std::string(v);
  };
  auto status = opt_str("status");
  auto started = opt_str("startedAt");
  auto updated = opt_str("updatedAt");
  if (!status || !started || !updated || obj["attempt"].get_int64().get(st.attempt) ||
      obj["lastEventSeq"].get_uint64().get(st.lastEventSeq) || obj["checkpointSeq"].get_uint64().get(st.checkpointSeq)) {
    st.error = "state.json lacks a required field: " + *text;
    return st;
  }
  st.status = *status;
  st.startedAt = *started;
  st.updatedAt = *updated;
  st.finishedAt = opt_str("finishedAt");
  st.summary = opt_str("summary");
  std::int64_t code = 0;
  if (obj["exitCode"].get_int64().get(code) == simdjson::SUCCESS) st.exitCode = code;
  st.ok = true;
  return st;
}

}  // namespace runlog::testing
