// tools/ship/nats_link.cpp — the JetStream connection of `runlog ship` and of
// `runlog replay nats://…` (nats_link.h).
#include "tools/ship/nats_link.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <thread>
#include <unordered_map>

#include "tools/ship/subject.h"

namespace runlog::ship {

using Clock = std::chrono::steady_clock;

// Written by the library's threads (acks, connection events), read by the
// publishing thread; everything under `mu` but the counters.
struct NatsLink::Shared {
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  Clock::time_point last_progress{};
  bool stopped = false;
  LinkFailure failure = LinkFailure::none;
  std::string failure_text;
  std::unordered_map<std::string, std::uint64_t> failed_min;  // subject -> lowest failed Runlog-Seq
  std::vector<std::pair<std::string, std::uint64_t>> failed;  // every failed (subject, Runlog-Seq)
  bool out_of_order = false;
  bool closed = false;  // the connection's last callback (closed) has run
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> duplicates{0};

  // REQUIRES: mu held.
  void stop(LinkFailure kind, std::string text) {
    if (!stopped || failure == LinkFailure::none) {
      failure = kind;
      failure_text = std::move(text);
    }
    stopped = true;
    cv.notify_all();
  }
};

std::string nats_error(int status, std::string_view what) {
  natsStatus last = NATS_OK;
  std::string_view text = nats_GetLastError(&last) ? nats_GetLastError(&last) : "";
  const std::string_view plain = natsStatus_GetText(static_cast<natsStatus>(status));
  // The library's last error adds a source location and often repeats the status.
  if (const auto paren = text.find("): "); text.rfind("(", 0) == 0 && paren != std::string_view::npos)
    text.remove_prefix(paren + 3);
  if (text.empty() || text == plain) return fmt::format("{}: {}", what, plain);
  return fmt::format("{}: {} ({})", what, plain, text);
}

namespace {

std::uint64_t seq_of(natsMsg* msg) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(msg, kSeqHeader, &v) != NATS_OK || v == nullptr) return 0;
  std::uint64_t n = 0;
  std::from_chars(v, v + std::strlen(v), n);
  return n;
}

void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* sh = static_cast<NatsLink::Shared*>(closure);
  {
    std::lock_guard<std::mutex> lk(sh->mu);
    if (pa != nullptr) {
      sh->acked.fetch_add(1, std::memory_order_relaxed);
      if (pa->Duplicate) sh->duplicates.fetch_add(1, std::memory_order_relaxed);
      if (!sh->failed_min.empty() && msg != nullptr && !pa->Duplicate) {
        // Stored after an earlier failure of its subject, or a run's end
        // marker stored after a failure of any of the run's records.
        const std::string subject = natsMsg_GetSubject(msg);
        auto it = sh->failed_min.find(subject);
        if (it != sh->failed_min.end() && seq_of(msg) > it->second) sh->out_of_order = true;
        if (subject.size() > 4 && subject.compare(subject.size() - 4, 4, ".end") == 0) {
          const std::string run = subject.substr(0, subject.size() - 3);
          for (const auto& [failed, seq] : sh->failed_min)
            if (failed.compare(0, run.size(), run) == 0) sh->out_of_order = true;
        }
      }
    } else {
      LinkFailure kind = LinkFailure::refused;
      std::string text = pae && pae->ErrText ? pae->ErrText : "";
      if (pae && (pae->Err == NATS_TIMEOUT || pae->Err == NATS_NO_RESPONDERS)) kind = LinkFailure::timeout;
      else if (text.find("maximum") != std::string::npos || (pae && pae->ErrCode == JSStreamStoreFailedErr))
        kind = LinkFailure::stream_full;
      if (text.empty() && pae) text = natsStatus_GetText(pae->Err);
      if (msg != nullptr) {
        auto [it, fresh] = sh->failed_min.try_emplace(natsMsg_GetSubject(msg), seq_of(msg));
        if (!fresh) it->second = std::min(it->second, seq_of(msg));
        sh->failed.emplace_back(natsMsg_GetSubject(msg), seq_of(msg));
      }
      sh->stop(kind, std::move(text));
    }
    --sh->outstanding;
    sh->last_progress = Clock::now();
    // Under the lock: once drain() has seen the last ack, this thread touches
    // `Shared` no more, and the link may free it (ThreadSanitizer saw the
    // notify of an unlocked handler race the link's destructor).
    sh->cv.notify_all();
  }
  natsMsg_Destroy(msg);
}

void on_disconnected(natsConnection*, void* closure) {
  auto* sh = static_cast<NatsLink::Shared*>(closure);
  std::lock_guard<std::mutex> lk(sh->mu);
  sh->stop(LinkFailure::disconnected, "the connection to the NATS server dropped");
}

// The connection's last callback: after it, libnats's callback thread no
// longer touches `Shared`, so the link may free it.
void on_closed(natsConnection*, void* closure) {
  auto* sh = static_cast<NatsLink::Shared*>(closure);
  std::lock_guard<std::mutex> lk(sh->mu);
  sh->closed = true;
  sh->cv.notify_all();
}

bool transient(natsStatus s, jsErrCode e) {
  return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED ||
         e == JSClusterNotAvailErr || e == JSInsufficientResourcesErr || e == JSClusterNoPeersErr ||
         s == NATS_NO_SERVER;
}

}  // namespace

NatsLink::NatsLink(const LinkOptions& options) : options_(options), shared_(std::make_unique<Shared>()) {}

NatsLink::~NatsLink() {
  if (js_ != nullptr && shared_->outstanding > 0) {
    // Settle what is outstanding so no ack handler runs after `shared_` is gone.
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = options_.ack_wait_ms;
    (void)js_PublishAsyncComplete(js_, &po);
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) natsMsgList_Destroy(&pending);
  }
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    // The disconnected and closed callbacks run on libnats's own thread after
    // Close returns; `shared_` must outlive them.
    std::unique_lock<std::mutex> lk(shared_->mu);
    shared_->cv.wait_for(lk, std::chrono::seconds(10), [&] { return shared_->closed; });
  }
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (nc_ != nullptr) natsConnection_Destroy(nc_);
  if (opts_ != nullptr) natsOptions_Destroy(opts_);
}

Result<std::unique_ptr<NatsLink>> NatsLink::connect(const LinkOptions& options) {
  std::unique_ptr<NatsLink> link(new NatsLink(options));
  std::string all;
  std::vector<const char*> urls;
  for (const std::string& u : options.urls) {
    urls.push_back(u.c_str());
    all += (all.empty() ? "" : ",") + u;
  }
  if (urls.empty()) return Status::Invalid("no NATS URL given");
  natsStatus s = natsOptions_Create(&link->opts_);
  if (s == NATS_OK) s = natsOptions_SetServers(link->opts_, urls.data(), static_cast<int>(urls.size()));
  if (s != NATS_OK) return Status::Invalid(nats_error(s, fmt::format("bad NATS URL {}", all)));
  natsOptions_SetTimeout(link->opts_, 2000);
  natsOptions_SetMaxReconnect(link->opts_, -1);
  natsOptions_SetReconnectWait(link->opts_, 100);
  // No buffering while reconnecting: what cannot be sent fails, so what was
  // lost with a dropped connection is only ever the tail of what was sent.
  natsOptions_SetReconnectBufSize(link->opts_, 1);
  natsOptions_SetDisconnectedCB(link->opts_, on_disconnected, link->shared_.get());
  natsOptions_SetClosedCB(link->opts_, on_closed, link->shared_.get());
  natsOptions_SetName(link->opts_, "runlog ship");
  s = natsConnection_Connect(&link->nc_, link->opts_);
  if (s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED)
    return Status::Refused(nats_error(s, fmt::format("bad credentials: NATS at {} refused them", all)));
  if (s != NATS_OK) {
    natsStatus last = NATS_OK;
    const char* text = nats_GetLastError(&last);
    if (text && std::string_view(text).find("uthorization") != std::string_view::npos)
      return Status::Refused(nats_error(s, fmt::format("bad credentials: NATS at {} refused them", all)));
    return Status(Errc::io_error, 0, nats_error(s, fmt::format("server down: no NATS server reachable at {}", all)));
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 5000;
  jo.PublishAsync.MaxPending = options.window + 64;
  jo.PublishAsync.AckHandler = on_ack;
  jo.PublishAsync.AckHandlerClosure = link->shared_.get();
  s = natsConnection_JetStream(&link->js_, link->nc_, &jo);
  if (s != NATS_OK) return Status(Errc::io_error, 0, nats_error(s, "JetStream context"));
  return link;
}

Status NatsLink::ensure_stream() {
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.ready_wait_ms);
  std::string last_error;
  while (Clock::now() < deadline) {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, options_.stream.c_str(), nullptr, &jerr);
    if (s == NATS_OK) {
      std::vector<std::string> subjects;
      for (int i = 0; i < si->Config->SubjectsLen; ++i) subjects.emplace_back(si->Config->Subjects[i]);
      jsStreamInfo_Destroy(si);
      if (subjects.size() != 1 || subjects[0] != kSubjects)
        return Status::Refused(fmt::format("stream {} has other subjects: [{}], not {}", options_.stream,
                                           fmt::join(subjects, ", "), kSubjects));
      return Status::OK();
    }
    if (s == NATS_NOT_FOUND && jerr == JSStreamNotFoundErr) {
      jsStreamConfig cfg;
      jsStreamConfig_Init(&cfg);
      const char* subj[] = {kSubjects};
      cfg.Name = options_.stream.c_str();
      cfg.Subjects = subj;
      cfg.SubjectsLen = 1;
      cfg.Replicas = options_.replicas;
      cfg.Storage = js_FileStorage;
      cfg.Duplicates = options_.duplicate_window_ms * 1000000;
      s = js_AddStream(&si, js_, &cfg, nullptr, &jerr);
      if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return Status::OK();
      }
      if (!transient(s, jerr) && jerr != JSStreamNameExistErr)
        return Status::Refused(nats_error(s, fmt::format("create stream {} (subjects {}, {} replicas)", options_.stream,
                                                         kSubjects, options_.replicas)));
    } else if (!transient(s, jerr)) {
      return Status(Errc::io_error, 0, nats_error(s, fmt::format("stream {} info", options_.stream)));
    }
    last_error = nats_error(s, "");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status(Errc::io_error, 0, fmt::format("JetStream unavailable: stream {} did not answer in {} ms{}",
                                               options_.stream, options_.ready_wait_ms, last_error));
}

Status NatsLink::last_seq(const std::string& subject, std::uint64_t* seq, bool* present) {
  natsMsg* msg = nullptr;
  RUNLOG_RETURN_IF_ERROR(get_last(subject, &msg));
  *seq = msg != nullptr ? seq_of(msg) : 0;
  if (present) *present = msg != nullptr;
  if (msg != nullptr) natsMsg_Destroy(msg);
  return Status::OK();
}

bool NatsLink::publish(const std::string& subject, std::string_view msg_id, std::uint64_t seq, std::string_view data) {
  Shared& sh = *shared_;
  {
    std::unique_lock<std::mutex> lk(sh.mu);
    for (;;) {
      if (sh.stopped) return false;
      const auto now = Clock::now();
      const auto quiet = now - sh.last_progress;
      if (sh.outstanding > 0 && quiet > std::chrono::milliseconds(options_.ack_wait_ms + 1000)) {
        // Nothing settled for longer than an ack may take: the line stops
        // (drain() takes back what the client library still holds).
        sh.stop(LinkFailure::timeout, fmt::format("no ack for {} ms", options_.ack_wait_ms + 1000));
        return false;
      }
      const bool stalled = sh.outstanding > 0 && quiet > std::chrono::milliseconds(options_.stall_ms);
      if (sh.outstanding < options_.window && !stalled) break;
      sh.cv.wait_for(lk, std::chrono::milliseconds(20));
    }
    if (sh.outstanding++ == 0) sh.last_progress = Clock::now();
  }
  natsMsg* msg = nullptr;
  char seq_text[24];
  *fmt::format_to_n(seq_text, sizeof seq_text - 1, "{}", seq).out = '\0';
  char id_text[320];
  *fmt::format_to_n(id_text, sizeof id_text - 1, "{}", msg_id).out = '\0';
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, kMsgIdHeader, id_text);
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, kSeqHeader, seq_text);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = options_.ack_wait_ms;
  if (s == NATS_OK) s = js_PublishMsgAsync(js_, &msg, &po);
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    std::lock_guard<std::mutex> lk(sh.mu);
    --sh.outstanding;
    sh.stop(LinkFailure::disconnected, nats_error(s, fmt::format("publish {} seq {}", subject, seq)));
    return false;
  }
  return true;
}

Status NatsLink::drain() {
  Shared& sh = *shared_;
  std::unique_lock<std::mutex> lk(sh.mu);
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.ack_wait_ms * 2 + 1000);
  while (sh.outstanding > 0 && Clock::now() < deadline) sh.cv.wait_for(lk, std::chrono::milliseconds(50));
  if (sh.outstanding > 0) {
    // The library never settled them: take them back; they count as failed.
    lk.unlock();
    natsMsgList pending{};
    std::vector<std::pair<std::string, std::uint64_t>> unsettled;
    if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) {
      for (int i = 0; i < pending.Count; ++i)
        if (pending.Msgs[i] != nullptr) unsettled.emplace_back(natsMsg_GetSubject(pending.Msgs[i]), seq_of(pending.Msgs[i]));
      natsMsgList_Destroy(&pending);
    }
    lk.lock();
    // Their fate is unknown: find_holes() treats them as failed.
    sh.failed.insert(sh.failed.end(), unsettled.begin(), unsettled.end());
    sh.outstanding = 0;
    sh.stop(LinkFailure::timeout, "acks never came");
  }
  Status result;
  last_failure_ = sh.failure;
  out_of_order_ = sh.out_of_order;
  failed_.swap(sh.failed);
  sh.failed.clear();
  if (sh.failure != LinkFailure::none) {
    const char* kind = sh.failure == LinkFailure::stream_full   ? "stream full"
                       : sh.failure == LinkFailure::timeout      ? "ack timeout"
                       : sh.failure == LinkFailure::disconnected ? "disconnected"
                                                                 : "publish refused";
    result = Status(Errc::io_error, 0, fmt::format("{}: {}", kind, sh.failure_text));
  }
  sh.stopped = false;
  sh.failure = LinkFailure::none;
  sh.failure_text.clear();
  sh.failed_min.clear();
  sh.out_of_order = false;
  return result;
}

Status NatsLink::find_holes(std::vector<std::string>* holes) {
  holes->clear();
  std::unordered_map<std::string, std::vector<std::uint64_t>> by_subject;
  for (const auto& [subject, seq] : failed_) by_subject[subject].push_back(seq);
  // A failed record that was stored after all was sent before the later
  // stored one, with at most `window` publishes outstanding at once: it lies
  // at most about two windows of stream messages below it.
  const std::uint64_t span = 2 * static_cast<std::uint64_t>(options_.window) + 16;
  for (auto& [subject, seqs] : by_subject) {
    std::sort(seqs.begin(), seqs.end());
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
    natsMsg* last = nullptr;
    std::uint64_t last_seq = 0, last_at = 0;
    RUNLOG_RETURN_IF_ERROR(get_last(subject, &last));
    if (last != nullptr) {
      last_seq = seq_of(last);
      last_at = natsMsg_GetSequence(last);
      natsMsg_Destroy(last);
    }
    // Failed seqs above the subject's last stored one are simply not there:
    // the resync sends them again, unless the run's end marker was stored
    // (the resync then takes the run as shipped).
    std::vector<std::uint64_t> want;
    bool end_stored = false;
    const bool is_end = subject.size() > 4 && subject.compare(subject.size() - 4, 4, ".end") == 0;
    if (subject.rfind("runlog.run.", 0) == 0 && !is_end) {
      natsMsg* end = nullptr;
      RUNLOG_RETURN_IF_ERROR(get_last(subject.substr(0, subject.rfind('.') + 1) + "end", &end));
      end_stored = end != nullptr;
      if (end) natsMsg_Destroy(end);
    }
    for (std::uint64_t k : seqs) {
      if (k < last_seq) want.push_back(k);
      else if (k > last_seq && end_stored) holes->push_back(fmt::format("{} seq {}", subject, k));
    }
    // Walk the stream down from the subject's last message: each wanted seq
    // is found, or passed (a lower seq of the subject comes first).
    const std::uint64_t lowest = last_at > span ? last_at - span : 1;
    for (std::uint64_t at = last_at; at >= lowest && at > 0 && !want.empty(); --at) {
      natsMsg* msg = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      natsStatus s = js_GetMsg(&msg, js_, options_.stream.c_str(), at, nullptr, &jerr);
      if (s == NATS_NOT_FOUND) continue;  // deleted
      if (s != NATS_OK)
        return Status(Errc::io_error, 0, nats_error(s, fmt::format("message {} of stream {}", at, options_.stream)));
      const bool same = subject == natsMsg_GetSubject(msg);
      const std::uint64_t seq = seq_of(msg);
      natsMsg_Destroy(msg);
      if (!same) continue;
      while (!want.empty() && want.back() > seq) {  // passed: never stored
        holes->push_back(fmt::format("{} seq {}", subject, want.back()));
        want.pop_back();
      }
      if (!want.empty() && want.back() == seq) want.pop_back();
    }
    for (std::uint64_t k : want) holes->push_back(fmt::format("{} seq {}", subject, k));
  }
  return Status::OK();
}

Status NatsLink::get_last(const std::string& subject, natsMsg** msg) {
  *msg = nullptr;
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.ready_wait_ms);
  for (;;) {
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetLastMsg(msg, js_, options_.stream.c_str(), subject.c_str(), nullptr, &jerr);
    if (s == NATS_OK) return Status::OK();
    *msg = nullptr;
    if (s == NATS_NOT_FOUND && jerr == JSNoMessageFoundErr) return Status::OK();
    if (!transient(s, jerr) || Clock::now() >= deadline)
      return Status(Errc::io_error, 0, nats_error(s, fmt::format("last message on {} in stream {}", subject, options_.stream)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::uint64_t NatsLink::acked() const noexcept { return shared_->acked.load(std::memory_order_relaxed); }
std::uint64_t NatsLink::duplicates() const noexcept { return shared_->duplicates.load(std::memory_order_relaxed); }

}  // namespace runlog::ship
