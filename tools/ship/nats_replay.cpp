// tools/ship/nats_replay.cpp — reading shipped records back (nats_replay.h).
#include "tools/ship/nats_replay.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "core/ids.h"
#include "tools/run_output.h"
#include "tools/ship/nats_link.h"
#include "tools/ship/subject.h"

namespace runlog::ship {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto p = s.find(sep);
    out.push_back(s.substr(0, p));
    if (p == std::string_view::npos) return out;
    s.remove_prefix(p + 1);
  }
}

std::uint64_t header_seq(natsMsg* msg) {
  const char* v = nullptr;
  std::uint64_t n = 0;
  if (natsMsgHeader_Get(msg, kSeqHeader, &v) == NATS_OK && v != nullptr) std::from_chars(v, v + std::strlen(v), n);
  return n;
}

}  // namespace

bool is_nats_url(std::string_view path) { return path.rfind("nats://", 0) == 0; }

std::optional<NatsAddress> parse_nats_address(std::string_view url, std::string* error) {
  const std::string_view usage = "give nats://HOST:PORT/STREAM/<taskId>/<runId> or nats://HOST:PORT/STREAM/conv/<id>";
  if (!is_nats_url(url)) {
    *error = fmt::format("not a nats:// address: {}", url);
    return std::nullopt;
  }
  std::string_view rest = url.substr(7);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) {
    *error = fmt::format("{}: no stream and run; {}", url, usage);
    return std::nullopt;
  }
  NatsAddress a;
  a.server = fmt::format("nats://{}", rest.substr(0, slash));
  std::vector<std::string_view> parts = split(rest.substr(slash + 1), '/');
  if (parts.size() == 4 && parts[1] == "run") {
    parts.erase(parts.begin() + 1);
  } else if (parts.size() == 3 && parts[1] == "conv") {
    a.conv = true;
  }
  if (parts.size() != 3 || parts[0].empty()) {
    *error = fmt::format("{}: {}", url, usage);
    return std::nullopt;
  }
  a.stream = parts[0];
  a.a = a.conv ? std::string(parts[2]) : std::string(parts[1]);
  if (!a.conv) a.b = std::string(parts[2]);
  for (const std::string* id : {&a.a, &a.b}) {
    if (id == &a.b && a.conv) continue;
    if (!validate_id("id", *id).ok()) {
      *error = fmt::format("{}: '{}' is not a runlog id", url, *id);
      return std::nullopt;
    }
  }
  return a;
}

int replay_nats(const std::string& url, std::uint64_t after, bool follow) {
  static volatile std::sig_atomic_t stopped = 0;
  volatile std::sig_atomic_t* stop = &stopped;
  if (follow) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { stopped = 1; };
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
  }
  std::string error;
  auto addr = parse_nats_address(url, &error);
  if (!addr) {
    fmt::print(stderr, "runlog replay: {}\nTry 'runlog replay --help'.\n", error);
    return 2;
  }
  LinkOptions lo;
  lo.urls = {addr->server};
  lo.stream = addr->stream;
  std::unique_ptr<NatsLink> link;
  if (Status st = NatsLink::connect(lo).get(link); !st.ok()) {
    fmt::print(stderr, "runlog replay: {}\n", st.message());
    return 1;
  }
  const std::string what = addr->conv ? fmt::format("conversation {}", addr->a) : fmt::format("run {}/{}", addr->a, addr->b);
  const std::string filter = addr->conv ? conv_subject(addr->a) : run_subject_wildcard(addr->a, addr->b);
  if (!follow) {
    // Nothing to wait for when the stream holds nothing of it.
    std::uint64_t any = 0;
    std::vector<std::string> subjects;
    if (addr->conv) subjects.push_back(filter);
    else
      for (int c = 0; c < kRunChannels; ++c) subjects.push_back(run_subject(addr->a, addr->b, static_cast<Channel>(c)));
    for (const std::string& s : subjects) {
      std::uint64_t last = 0;
      if (Status st = link->last_seq(s, &last); !st.ok()) {
        fmt::print(stderr, "runlog replay: {}\n", st.message());
        return 1;
      }
      any = std::max(any, last);
    }
    if (any == 0) {
      fmt::print(stderr, "runlog replay: stream {} holds no records of {}\n", addr->stream, what);
      return 1;
    }
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = addr->stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* sub = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = NATS_OK;
  // A cluster electing a leader answers "unavailable" or not at all for a while.
  for (int attempt = 0; attempt < 50; ++attempt) {
    s = js_SubscribeSync(&sub, link->js(), filter.c_str(), nullptr, &so, &jerr);
    if (s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS && jerr != JSClusterNotAvailErr) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (s != NATS_OK) {
    fmt::print(stderr, "runlog replay: {}\n", nats_error(s, fmt::format("read {} from stream {}", what, addr->stream)));
    return 1;
  }
  std::string out;
  std::uint64_t last = 0;
  int status = 0;
  const std::string end_subject = addr->conv ? std::string() : run_subject_end(addr->a, addr->b);
  while (!*stop) {
    natsMsg* msg = nullptr;
    s = natsSubscription_NextMsg(&msg, sub, follow ? 200 : 10000);
    if (s == NATS_TIMEOUT) {
      if (!follow) {
        fmt::print(stderr, "runlog replay: stream {} did not deliver the rest of {} in 10 s\n", addr->stream, what);
        status = 1;
        break;
      }
      if (Status w = tools::write_all(STDOUT_FILENO, out); !w.ok()) {
        status = 1;
        break;
      }
      out.clear();
      continue;
    }
    if (s != NATS_OK) {
      fmt::print(stderr, "runlog replay: {}\n", nats_error(s, fmt::format("read {} from stream {}", what, addr->stream)));
      status = 1;
      break;
    }
    std::uint64_t pending = 0;
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      pending = meta->NumPending;
      jsMsgMetaData_Destroy(meta);
    }
    const std::uint64_t seq = header_seq(msg);
    const bool end = !end_subject.empty() && end_subject == natsMsg_GetSubject(msg);
    if (end) {
      if (follow && seq <= last) {
        natsMsg_Destroy(msg);
        break;
      }
    } else if (seq <= last) {
      fmt::print(stderr, "runlog replay: stream {}: {} seq {} after seq {} (out of order)\n", addr->stream,
                 natsMsg_GetSubject(msg), seq, last);
      status = 1;
      natsMsg_Destroy(msg);
      break;
    } else {
      last = seq;
      if (seq > after) {
        out.append(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
        out += '\n';
      }
    }
    natsMsg_Destroy(msg);
    if (out.size() >= (std::size_t{1} << 20) || pending == 0) {
      if (Status w = tools::write_all(STDOUT_FILENO, out); !w.ok()) {
        fmt::print(stderr, "runlog replay: {}\n", w.to_string());
        status = 1;
        break;
      }
      out.clear();
    }
    if (!follow && pending == 0) break;
  }
  if (status == 0) {
    if (Status w = tools::write_all(STDOUT_FILENO, out); !w.ok()) status = 1;
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  return status;
}

}  // namespace runlog::ship
