// core/engine.cpp — EngineCore, the sync pool, producers and the public API.
#include <fmt/format.h>
#include <pthread.h>
#include <simdjson.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <optional>

#include "core/engine_internal.h"
#include "core/group_commit.h"
#include "core/ids.h"
#include "core/line_encoder.h"
#include "core/timefmt.h"

namespace runlog {
namespace detail {

std::int64_t mono_ns() noexcept {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t wall_ns() noexcept {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// ----------------------------------------------------------------- blocks

namespace {
Block* new_block(std::size_t cap, bool pooled) {
  void* mem = ::operator new(sizeof(Block) + cap, std::align_val_t{64});
  Block* b = new (mem) Block();
  b->cap = cap;
  b->pooled = pooled;
  return b;
}
void delete_block(Block* b) {
  b->~Block();
  ::operator delete(b, std::align_val_t{64});
}
}  // namespace

BlockPool::~BlockPool() {
  for (Block* b : free_) delete_block(b);
  for (auto& list : large_free_)
    for (Block* b : list) delete_block(b);
}

Block* BlockPool::get() {
  Block* b = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      b = free_.back();
      free_.pop_back();
    }
  }
  if (b == nullptr) b = new_block(kBlockSize, true);
  b->refs.store(kBlockOpen, std::memory_order_relaxed);
  return b;
}

// Large pushes (a capture's reads, 8 KiB to 256 KiB each when a child floods)
// reuse blocks of their power-of-two class: a fresh allocation per push,
// freed on the sequencer, had the producer fault in new pages on every read.
Block* BlockPool::make_large(std::size_t cap) {
  Block* b = nullptr;
  if (cap <= kLargeMax) {
    int cls = 0;
    std::size_t size = kLargeMin;
    while (size < cap) {
      size <<= 1;
      ++cls;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!large_free_[cls].empty()) {
        b = large_free_[cls].back();
        large_free_[cls].pop_back();
        large_bytes_ -= b->cap;
      }
    }
    if (b == nullptr) {
      b = new_block(size, true);
      b->large_class = static_cast<std::int8_t>(cls);
    }
  } else {
    b = new_block(cap, false);
  }
  b->refs.store(1, std::memory_order_relaxed);
  return b;
}

void BlockPool::put(Block* b) {
  if (!b->pooled) return delete_block(b);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (b->large_class < 0) {
      free_.push_back(b);
      return;
    }
    if (large_bytes_ + b->cap <= kLargeKeepBytes) {
      large_free_[b->large_class].push_back(b);
      large_bytes_ += b->cap;
      return;
    }
  }
  delete_block(b);
}

// ------------------------------------------------------------- EngineCore

EngineCore::EngineCore(Options opts, std::unique_ptr<Storage> st)
    : options(std::move(opts)), storage(std::move(st)) {
  sync_pool = std::make_unique<SyncPool>(*this, options.syncThreads);
  state_pool = std::make_unique<SyncPool>(*this, std::max(1u, options.syncThreads / 2));
  sequencer = std::thread([this] {
    pthread_setname_np(pthread_self(), "runlog-seq");  // for top -H, perf and gdb
    run_sequencer(*this);
  });
}

EngineCore::~EngineCore() {
  Control c;
  c.op = Control::Op::shutdown;
  send_control(c);
  sequencer.join();
  sync_pool.reset();
  state_pool.reset();
}

void EngineCore::send_control(Control& c) {
  while (!controls.enqueue(&c)) std::this_thread::yield();
  nudge();
  c.wait();
}

void EngineCore::publish_resolution() {
  resolution_epoch.fetch_add(1, std::memory_order_seq_cst);
  if (resolution_waiters.load(std::memory_order_seq_cst) > 0) resolution_epoch.notify_all();
}

namespace {
// What the wait of ticket `seq` resolves to, or nullopt while it is pending.
// durable is read before last_ticket_seq: the sequencer stores the latter
// before it encodes any record past the close, so a durable seq that covers a
// ticket after the close is never seen without the close.
std::optional<Status> resolution(const StreamState& s, std::uint64_t seq) {
  const bool durable = s.durable.load(std::memory_order_seq_cst) >= seq;
  if (seq > s.last_ticket_seq.load(std::memory_order_seq_cst))
    return Status(Errc::closed, 0, fmt::format("{}{} was closed before this record", s.conversation ? "" : "run ", s.key));
  if (durable) return Status::OK();
  if (s.failed.load(std::memory_order_seq_cst)) return s.error;
  return std::nullopt;
}
}  // namespace

Status EngineCore::wait_durable(StreamState& s, std::uint64_t seq) {
  for (;;) {
    if (auto r = resolution(s, seq)) return *r;
    resolution_waiters.fetch_add(1, std::memory_order_seq_cst);
    std::uint32_t epoch = resolution_epoch.load(std::memory_order_seq_cst);
    if (!resolution(s, seq)) resolution_epoch.wait(epoch);
    resolution_waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

Result<std::size_t> EngineCore::admit_up_to(std::size_t n) {
  const auto budget = static_cast<std::int64_t>(options.inFlightBudget);
  std::int64_t cur = in_flight.load(std::memory_order_relaxed);
  while (options.overBudget == OverBudget::would_block) {
    const std::int64_t take = std::min(static_cast<std::int64_t>(n), budget - cur);
    if (take <= 0) break;  // full: admit() says would_block (or takes n, freed meanwhile)
    if (in_flight.compare_exchange_weak(cur, cur + take, std::memory_order_acq_rel))
      return static_cast<std::size_t>(take);
  }
  RUNLOG_RETURN_IF_ERROR(admit(n));
  return n;
}

Status EngineCore::admit(std::size_t n) {
  const auto budget = static_cast<std::int64_t>(options.inFlightBudget);
  const auto want = static_cast<std::int64_t>(n);
  std::int64_t cur = in_flight.load(std::memory_order_relaxed);
  bool counted = false;
  for (;;) {
    if (cur + want <= budget) {
      if (in_flight.compare_exchange_weak(cur, cur + want, std::memory_order_acq_rel)) return Status::OK();
      continue;
    }
    if (options.overBudget == OverBudget::would_block) {
      n_would_block.fetch_add(1, std::memory_order_relaxed);
      return Status(Errc::would_block, 0,
                    fmt::format("in-flight budget of {} bytes is full ({} in flight, {} pushed)", budget, cur, n));
    }
    if (!counted) {
      counted = true;
      n_blocked.fetch_add(1, std::memory_order_relaxed);
    }
    budget_waiters.fetch_add(1, std::memory_order_seq_cst);
    std::uint32_t epoch = budget_epoch.load(std::memory_order_seq_cst);
    cur = in_flight.load(std::memory_order_seq_cst);
    if (cur + want > budget) budget_epoch.wait(epoch);
    budget_waiters.fetch_sub(1, std::memory_order_seq_cst);
    cur = in_flight.load(std::memory_order_relaxed);
  }
}

StreamState* EngineCore::claim_key(const std::string& key) {
  std::unique_lock<std::mutex> lock(runs_mu);
  runs_cv.wait(lock, [&] { return opening.count(key) == 0; });
  if (auto found = open_runs.find(key); found != open_runs.end()) return found->second;
  opening[key] = true;
  return nullptr;
}

void EngineCore::release_key(const std::string& key) {
  std::lock_guard<std::mutex> lock(runs_mu);
  opening.erase(key);
  runs_cv.notify_all();
}

StreamState* EngineCore::publish_stream(std::unique_ptr<StreamState> s) {
  StreamState* raw = s.get();
  std::lock_guard<std::mutex> lock(runs_mu);
  all_streams.push_back(std::move(s));
  open_runs[raw->key] = raw;
  opening.erase(raw->key);
  runs_cv.notify_all();
  return raw;
}

void EngineCore::release_budget(std::uint64_t n) {
  if (n == 0) return;
  in_flight.fetch_sub(static_cast<std::int64_t>(n), std::memory_order_seq_cst);
  budget_epoch.fetch_add(1, std::memory_order_seq_cst);
  if (budget_waiters.load(std::memory_order_seq_cst) > 0) budget_epoch.notify_all();
}

ProducerSlot* EngineCore::acquire_slot() {
  std::lock_guard<std::mutex> lock(slots_mu);
  ProducerSlot* s;
  if (!free_slots.empty()) {
    s = free_slots.back();
    free_slots.pop_back();
  } else {
    slots.push_back(std::make_unique<ProducerSlot>(queue));
    s = slots.back().get();
    slots_version.fetch_add(1, std::memory_order_release);
  }
  s->producer_id = ++next_producer_id;
  return s;
}

void EngineCore::release_slot(ProducerSlot* slot) {
  if (slot->block != nullptr) {  // retire the half-filled blocks
    blocks.release(slot->block, kBlockOpen - slot->placed);
    slot->block = nullptr;
    slot->used = 0;
    slot->placed = 0;
  }
  if (slot->fill_block != nullptr) {
    blocks.release(slot->fill_block, kBlockOpen - slot->fill_placed);
    slot->fill_block = nullptr;
    slot->fill_used = 0;
    slot->fill_placed = 0;
  }
  std::lock_guard<std::mutex> lock(slots_mu);
  free_slots.push_back(slot);
}

}  // namespace detail

// ---------------------------------------------------------------- options

Status validate_options(const Options& o) {
  auto bad = [](std::string_view field, std::string why) {
    return Status::Invalid(fmt::format("{}: {}", field, why));
  };
  if (o.runsRoot.empty()) return bad("runsRoot", "must not be empty");
  if (o.conversationsRoot.empty()) return bad("conversationsRoot", "must not be empty");
  if (o.maxBatchDelay.count() <= 0 || o.maxBatchDelay.count() > 1'000'000)
    return bad("maxBatchDelay", fmt::format("{} us is outside 1 us ..= 1 s", o.maxBatchDelay.count()));
  if (o.maxBatchBytes < (64u << 10) || o.maxBatchBytes > (256u << 20))
    return bad("maxBatchBytes", fmt::format("{} is outside 65536 ..= 268435456", o.maxBatchBytes));
  if (o.recordLimit < 1024 || o.recordLimit > (64u << 20))
    return bad("recordLimit", fmt::format("{} is outside 1024 ..= 67108864", o.recordLimit));
  if (o.inFlightBudget < 2 * o.recordLimit)
    return bad("inFlightBudget", fmt::format("{} is below 2 x recordLimit ({})", o.inFlightBudget, 2 * o.recordLimit));
  if (o.openFileLimit < 16) return bad("openFileLimit", fmt::format("{} is below 16", o.openFileLimit));
  if (o.syncThreads < 1 || o.syncThreads > 256)
    return bad("syncThreads", fmt::format("{} is outside 1 ..= 256", o.syncThreads));
  if (o.journalFileBytes < 4096 || o.journalFileBytes > (std::size_t{4} << 30))
    return bad("journalFileBytes", fmt::format("{} is outside 4096 ..= 4294967296", o.journalFileBytes));
  if ((o.dirMode & 0700) != 0700) return bad("dirMode", fmt::format("{:o} denies the owner rwx", o.dirMode));
  if ((o.fileMode & 0600) != 0600) return bad("fileMode", fmt::format("{:o} denies the owner rw", o.fileMode));
  if ((o.dirMode & ~07777u) != 0 || (o.fileMode & ~07777u) != 0) return bad("dirMode/fileMode", "not a mode");
  return Status::OK();
}

// ----------------------------------------------------------------- Ticket

Result<std::uint64_t> Ticket::wait() const {
  if (stream_ == nullptr) return Status::Invalid("wait on an empty ticket");
  RUNLOG_RETURN_IF_ERROR(stream_->engine->wait_durable(*stream_, seq_));
  return seq_;
}

// -------------------------------------------------------------------- Run

const std::string& Run::task_id() const { return stream_->meta.taskId; }
const std::string& Run::run_id() const { return stream_->meta.runId; }
std::uint64_t Run::appended_seq() const { return stream_->appended.load(std::memory_order_acquire); }
std::uint64_t Run::durable_seq() const { return stream_->durable.load(std::memory_order_acquire); }
Status Run::health() const {
  return stream_->failed.load(std::memory_order_acquire) ? stream_->error : Status::OK();
}
std::vector<std::string> Run::repairs() const { return stream_->repairs; }

LocalRunLogSummary Run::summary() const {
  LocalRunLogSummary s;
  s.lifecycleEventCount = stream_->written_count[0].load(std::memory_order_relaxed);
  s.stdoutChunkCount = stream_->written_count[1].load(std::memory_order_relaxed);
  s.stderrChunkCount = stream_->written_count[2].load(std::memory_order_relaxed);
  s.totalEntries = s.lifecycleEventCount + s.stdoutChunkCount + s.stderrChunkCount;
  s.lastSeq = stream_->appended.load(std::memory_order_acquire);
  return s;
}

RunStateSnapshot Run::state() const {
  std::lock_guard<std::mutex> lock(stream_->state_mu);
  return stream_->state;
}

Status Run::flush() const {
  // A ticket after a racing close() resolves as closed: nothing to wait for.
  const std::uint64_t last = stream_->base + stream_->reserved.load(std::memory_order_seq_cst);
  if (engine_->wait_durable(*stream_, last).code() == Errc::closed)
    (void)engine_->wait_durable(*stream_, std::min(last, stream_->last_ticket_seq.load(std::memory_order_seq_cst)));
  return health();
}

Status Run::patch_state(const RunStatePatch& patch) const {
  if (patch.status == std::nullopt && !patch.updatedAt && !patch.finishedAt && !patch.lastEventSeq &&
      !patch.checkpointSeq && !patch.summary && !patch.exitCode)
    return Status::OK();
  detail::Control c;
  c.op = detail::Control::Op::patch_state;
  c.stream = stream_;
  c.patch = patch;
  engine_->send_control(c);
  return c.result;
}

Result<std::uint64_t> Run::reserve_checkpoint() const {
  detail::Control c;
  c.op = detail::Control::Op::reserve_checkpoint;
  c.stream = stream_;
  engine_->send_control(c);
  if (!c.result.ok()) return c.result;
  return c.value;
}

Status Run::close() const {
  if (stream_->closed.load(std::memory_order_acquire)) return health();
  // A push that starts after this store is refused. One already past its
  // check may still take a ticket after close_at: the sequencer writes every
  // ticket it has seen when it takes the close and drops later ones, whose
  // wait() then says closed (StreamState::last_ticket_seq).
  stream_->closing.store(true, std::memory_order_seq_cst);
  detail::Control c;
  c.op = detail::Control::Op::close_run;
  c.stream = stream_;
  c.close_at = stream_->reserved.load(std::memory_order_seq_cst);
  engine_->send_control(c);
  return c.result;
}

// --------------------------------------------------------------- Producer

Producer::Producer(Engine& engine) : engine_(engine.core_.get()), slot_(engine_->acquire_slot()) {}
Producer::~Producer() { engine_->release_slot(slot_); }

namespace {


Status stream_refusal(const detail::StreamState& s) {
  if (s.failed.load(std::memory_order_acquire)) return s.error;
  if (s.closing.load(std::memory_order_acquire))
    return Status(Errc::closed, 0, fmt::format("{}{} is closed", s.conversation ? "" : "run ", s.key));
  return Status::OK();
}

// Copies `a` then `b` into the producer's arena (or a buffer of their own).
const char* place(detail::EngineCore& core, detail::ProducerSlot& slot, std::string_view a, std::string_view b,
                  detail::Block** block) {
  std::size_t n = a.size() + b.size();
  char* dst;
  if (n > detail::kSmallMax) {
    *block = core.blocks.make_large(n);
    dst = (*block)->data();
  } else {
    if (slot.block == nullptr || slot.used + n > detail::kBlockSize) {
      if (slot.block != nullptr) core.blocks.release(slot.block, detail::kBlockOpen - slot.placed);
      slot.block = core.blocks.get();
      slot.used = 0;
      slot.placed = 0;
    }
    dst = slot.block->data() + slot.used;
    slot.used += n;
    ++slot.placed;
    *block = slot.block;
  }
  if (!a.empty()) std::memcpy(dst, a.data(), a.size());
  if (!b.empty()) std::memcpy(dst + a.size(), b.data(), b.size());
  return dst;
}

// After a ticket is taken the record must reach the sequencer: its run waits
// for it. A failed enqueue (the queue could not allocate) is retried.
void enqueue(detail::EngineCore& core, detail::ProducerSlot& slot, detail::Item& it) {
  it.producer = slot.producer_id;
  while (!core.queue.enqueue(slot.token, it)) std::this_thread::yield();
  core.nudge();
}

// Refuses a push to a closing or failed run: checked after the budget wait and
// just before the ticket is taken. A close() between this check and the
// ticket is possible; the sequencer resolves it (see Run::close()).
Status check_open(detail::EngineCore& core, detail::StreamState& s, std::size_t admitted) {
  if (!s.closing.load(std::memory_order_seq_cst) && !s.failed.load(std::memory_order_acquire)) return Status::OK();
  core.release_budget(admitted);
  return stream_refusal(s);
}

// The last steps of a one-record push, its bytes placed and admitted: refuses
// it if the run was closed meanwhile (its arena reference and budget go
// back), else takes its ticket and enqueues it. Returns the record's seq.
Result<std::uint64_t> take_ticket(detail::EngineCore& core, detail::ProducerSlot& slot, detail::StreamState& s,
                                  detail::Item& it) {
  if (Status st = check_open(core, s, it.len); !st.ok()) {
    core.blocks.release(it.block, 1);
    return st;
  }
  it.ticket = s.reserved.fetch_add(1, std::memory_order_seq_cst) + 1;
  enqueue(core, slot, it);
  return s.base + it.ticket;
}

}  // namespace

namespace detail {
// A conversation's record: one Item, copied into the arena, admitted whole.
Result<std::uint64_t> push_stored(EngineCore& core, ProducerSlot& slot, StreamState& s, std::string_view fragment) {
  if (Status st = stream_refusal(s); !st.ok()) return st;
  if (fragment.size() > core.options.inFlightBudget || fragment.size() > std::numeric_limits<std::uint32_t>::max() / 2)
    return Status::Invalid(fmt::format("chunk of {} bytes is larger than the whole in-flight budget ({})",
                                       fragment.size(), core.options.inFlightBudget));
  const std::int64_t push_ns = wall_ns();
  RUNLOG_RETURN_IF_ERROR(core.admit(fragment.size()));
  Item it;
  it.stream = &s;
  it.kind = Kind::stored;
  it.created_ms = push_ns / 1'000'000;
  it.push_ns = push_ns;
  it.len = static_cast<std::uint32_t>(fragment.size());
  it.data = place(core, slot, fragment, {}, &it.block);
  return take_ticket(core, slot, s, it);
}
}  // namespace detail

Result<Ticket> Producer::push_stdout(const Run& run, std::string_view bytes, std::int64_t created_ms) {
  return push_chunk(run, Channel::stdout_, bytes, created_ms);
}
Result<Ticket> Producer::push_stderr(const Run& run, std::string_view bytes, std::int64_t created_ms) {
  return push_chunk(run, Channel::stderr_, bytes, created_ms);
}

Result<Ticket> Producer::push_chunk(const Run& run, Channel channel, std::string_view bytes, std::int64_t created_ms) {
  if (run.stream_ == nullptr || run.engine_ != engine_) return Status::Invalid("push to a run of another engine");
  detail::StreamState& s = *run.stream_;
  if (Status st = stream_refusal(s); !st.ok()) return st;
  const std::int64_t push_ns = detail::wall_ns();
  if (created_ms == 0) created_ms = push_ns / 1'000'000;
  // A push over the record limit becomes several records; the sequencer keeps
  // characters whole across them. The budget admits the whole push at once, so
  // would_block never leaves part of it accepted; only a push larger than the
  // whole budget is admitted piece by piece (and only when blocking).
  const std::size_t limit = engine_->options.recordLimit;
  const bool whole = bytes.size() <= engine_->options.inFlightBudget;
  if (!whole && engine_->options.overBudget == OverBudget::would_block)
    return Status::Invalid(fmt::format("push of {} bytes is larger than the whole in-flight budget ({})",
                                       bytes.size(), engine_->options.inFlightBudget));
  const std::uint64_t pieces = bytes.empty() ? 1 : (bytes.size() + limit - 1) / limit;
  auto make_item = [&](std::string_view piece) {
    detail::Item it;
    it.stream = &s;
    it.kind = detail::Kind::chunk;
    it.aux = static_cast<std::uint8_t>(channel);
    it.created_ms = created_ms;
    it.push_ns = push_ns;
    it.len = static_cast<std::uint32_t>(piece.size());
    it.data = place(*engine_, *slot_, piece, {}, &it.block);
    return it;
  };
  if (pieces == 1) {
    // The common case. The bytes are copied before the ticket is taken, so
    // between ticket and enqueue (while the run waits for this record) there
    // is nothing that can block or take long.
    RUNLOG_RETURN_IF_ERROR(engine_->admit(bytes.size()));
    detail::Item it = make_item(bytes);
    std::uint64_t seq = 0;
    RUNLOG_RETURN_IF_ERROR(take_ticket(*engine_, *slot_, s, it).get(seq));
    return Ticket(&s, seq);
  }
  std::uint64_t ticket = 0;
  if (whole) {  // all pieces at once: their records are consecutive
    RUNLOG_RETURN_IF_ERROR(engine_->admit(bytes.size()));
    RUNLOG_RETURN_IF_ERROR(check_open(*engine_, s, bytes.size()));
    ticket = s.reserved.fetch_add(pieces, std::memory_order_seq_cst) + 1;
  }
  detail::Item it;
  do {
    std::string_view piece = bytes.substr(0, limit);
    bytes.remove_prefix(piece.size());
    if (!whole) {
      RUNLOG_RETURN_IF_ERROR(engine_->admit(piece.size()));
      RUNLOG_RETURN_IF_ERROR(check_open(*engine_, s, piece.size()));
      ticket = s.reserved.fetch_add(1, std::memory_order_seq_cst) + 1;
    }
    it = make_item(piece);
    it.ticket = ticket++;
    enqueue(*engine_, *slot_, it);
  } while (!bytes.empty());
  return Ticket(&s, s.base + it.ticket);
}

// A fill straight into the producer's memory: reads land one after another
// in the slot's fill block (kFillBlock bytes), each record referencing it, as
// small pushes share the arena's blocks; a block with less than kFillMin left
// is retired for a fresh one. Memory held stays within the budget's bytes plus
// under a quarter of each block, and nothing is copied.
Result<Ticket> Producer::push_filled_impl(const Run& run, Channel channel, std::size_t max, FillFn fn, void* fill,
                                          std::ptrdiff_t* filled) {
  *filled = 0;
  if (run.stream_ == nullptr || run.engine_ != engine_) return Status::Invalid("push to a run of another engine");
  if (channel != Channel::stdout_ && channel != Channel::stderr_)
    return Status::Invalid("push_filled: a chunk's channel is stdout or stderr");
  detail::StreamState& s = *run.stream_;
  if (Status st = stream_refusal(s); !st.ok()) return st;
  detail::ProducerSlot& slot = *slot_;
  max = std::min({max, engine_->options.recordLimit, engine_->options.inFlightBudget, detail::kFillBlock});
  if (max == 0) return Status::Invalid("push_filled: room for no bytes");
  if (slot.fill_block == nullptr || detail::kFillBlock - slot.fill_used < std::min(max, detail::kFillMin)) {
    if (slot.fill_block != nullptr) engine_->blocks.release(slot.fill_block, detail::kBlockOpen - slot.fill_placed);
    slot.fill_block = engine_->blocks.make_large(detail::kFillBlock);
    slot.fill_block->refs.store(detail::kBlockOpen, std::memory_order_relaxed);
    slot.fill_used = 0;
    slot.fill_placed = 0;
  }
  // Under would_block, a nearly full budget gives a smaller room rather than
  // a refusal: the rest stays in the caller's pipe for its next read.
  std::size_t room = 0;
  RUNLOG_RETURN_IF_ERROR(engine_->admit_up_to(std::min(max, detail::kFillBlock - slot.fill_used)).get(room));
  char* dst = slot.fill_block->data() + slot.fill_used;
  const std::ptrdiff_t got = fn(fill, dst, room);
  const std::size_t n = got > 0 ? std::min(static_cast<std::size_t>(got), room) : 0;
  *filled = got > 0 ? static_cast<std::ptrdiff_t>(n) : got;
  engine_->release_budget(room - n);
  if (n == 0) return Ticket();  // nothing read
  slot.fill_used += n;
  ++slot.fill_placed;
  const std::int64_t push_ns = detail::wall_ns();  // when the bytes arrived
  detail::Item it;
  it.stream = &s;
  it.kind = detail::Kind::chunk;
  it.aux = static_cast<std::uint8_t>(channel);
  it.created_ms = push_ns / 1'000'000;
  it.push_ns = push_ns;
  it.len = static_cast<std::uint32_t>(n);
  it.data = dst;
  it.block = slot.fill_block;
  std::uint64_t seq = 0;
  RUNLOG_RETURN_IF_ERROR(take_ticket(*engine_, slot, s, it).get(seq));
  return Ticket(&s, seq);
}

Result<Ticket> Producer::push_event(const Run& run, const LifecycleEvent& event, std::int64_t created_ms) {
  if (run.stream_ == nullptr || run.engine_ != engine_) return Status::Invalid("push to a run of another engine");
  detail::StreamState& s = *run.stream_;
  if (Status st = stream_refusal(s); !st.ok()) return st;
  const std::int64_t push_ns = detail::wall_ns();
  if (created_ms == 0) created_ms = push_ns / 1'000'000;
  if (static_cast<unsigned>(event.type) > static_cast<unsigned>(EventType::step_blocked) ||
      static_cast<unsigned>(event.level) > static_cast<unsigned>(LogLevel::error))
    return Status::Invalid("event: type or level out of range");

  // data: a JSON object, minified. Cold path (about 1% of records).
  std::string data = "{}";
  std::int64_t exit_code = detail::kNoExitCode;
  if (!event.dataJson.empty()) {
    thread_local simdjson::dom::parser parser;
    simdjson::padded_string padded(event.dataJson);
    simdjson::dom::element doc;
    if (auto err = parser.parse(padded).get(doc); err)
      return Status::Invalid(fmt::format("event data: not JSON ({})", simdjson::error_message(err)));
    simdjson::dom::object obj;
    if (doc.get_object().get(obj)) return Status::Invalid("event data: must be a JSON object");
    if (!simdjson::validate_utf8(event.dataJson.data(), event.dataJson.size()))
      return Status::Invalid("event data: not valid UTF-8");
    data = simdjson::minify(doc);
    std::int64_t code;
    if (event.type == EventType::worker_exited && obj["exitCode"].get_int64().get(code) == simdjson::SUCCESS)
      exit_code = code;
  }
  std::string fragment = detail::encode_event_fragment(random_uuid(), event.type, event.level, created_ms,
                                                       event.message, data);
  if (fragment.size() > std::numeric_limits<std::uint32_t>::max() / 2)
    return Status::Invalid("event: too large");
  std::string_view code_bytes(reinterpret_cast<const char*>(&exit_code), sizeof exit_code);
  std::size_t n = sizeof exit_code + fragment.size();
  RUNLOG_RETURN_IF_ERROR(engine_->admit(n));
  detail::Item it;
  it.stream = &s;
  it.kind = detail::Kind::event;
  it.aux = static_cast<std::uint8_t>(event.type);
  it.created_ms = created_ms;
  it.push_ns = push_ns;
  it.len = static_cast<std::uint32_t>(n);
  it.data = place(*engine_, *slot_, code_bytes, fragment, &it.block);
  std::uint64_t seq = 0;
  RUNLOG_RETURN_IF_ERROR(take_ticket(*engine_, *slot_, s, it).get(seq));
  return Ticket(&s, seq);
}

// ----------------------------------------------------------------- Engine

Engine::Engine(std::unique_ptr<detail::EngineCore> core) : core_(std::move(core)) {}

Engine::~Engine() {
  (void)close_all();
  core_.reset();
}

const Options& Engine::options() const { return core_->options; }

Result<Run> Engine::open_run(const RunMetadata& given) {
  RUNLOG_RETURN_IF_ERROR(validate_id("taskId", given.taskId));
  RUNLOG_RETURN_IF_ERROR(validate_id("runId", given.runId));
  if (!given.stepId.empty()) RUNLOG_RETURN_IF_ERROR(validate_id("stepId", given.stepId));
  RunMetadata meta = given;  // defaults: stepId = runId, repoRoot = cwd, worktreePath = repoRoot
  if (meta.stepId.empty()) meta.stepId = meta.runId;
  if (meta.repoRoot.empty()) {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != nullptr) meta.repoRoot = cwd;
  }
  if (meta.worktreePath.empty()) meta.worktreePath = meta.repoRoot;
  if (meta.attempt < 1) return Status::Invalid(fmt::format("attempt: {} is below 1", meta.attempt));
  detail::EngineCore& core = *core_;
  std::string key = meta.taskId + "/" + meta.runId;
  if (detail::StreamState* existing = core.claim_key(key)) return Run(&core, existing);
  auto done_opening = [&] { core.release_key(key); };
  detail::RecoveredStream rec;
  auto opened = core.storage->open_run(meta, &rec);
  if (!opened.ok()) {
    done_opening();
    return opened.status();
  }
  auto s = std::make_unique<detail::StreamState>();
  s->engine = &core;
  s->key = key;
  s->meta = rec.meta;
  s->repairs = rec.repairs;
  s->storage = std::move(opened).value();
  s->base = rec.last_seq;
  s->appended.store(rec.last_seq, std::memory_order_relaxed);
  s->durable.store(rec.last_seq, std::memory_order_relaxed);
  s->state = rec.state;
  const std::array<std::uint64_t, kRunChannels> records = {
      rec.summary.lifecycleEventCount, rec.summary.stdoutChunkCount, rec.summary.stderrChunkCount};
  s->own.start(rec.last_seq, rec.sizes, records);
  for (int i = 0; i < kRunChannels; ++i) s->written_count[i].store(records[i], std::memory_order_relaxed);
  core.descriptors.fetch_add(s->storage->descriptor_count(), std::memory_order_relaxed);
  return Run(&core, core.publish_stream(std::move(s)));
}

Status Engine::flush() {
  std::vector<detail::StreamState*> open;
  {
    std::lock_guard<std::mutex> lock(core_->runs_mu);
    open.reserve(core_->open_runs.size());
    for (auto& [key, s] : core_->open_runs) open.push_back(s);
  }
  Status first;
  for (detail::StreamState* s : open) {
    Status st = Run(core_.get(), s).flush();
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

Status Engine::close_all() {
  std::vector<detail::StreamState*> open;
  {
    std::lock_guard<std::mutex> lock(core_->runs_mu);
    for (auto& [key, s] : core_->open_runs) open.push_back(s);
  }
  Status first;
  for (detail::StreamState* s : open) {
    Status st = Run(core_.get(), s).close();
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

EngineStats Engine::stats() const {
  detail::EngineCore& c = *core_;
  EngineStats s;
  s.records = c.n_records.load(std::memory_order_relaxed);
  s.bytes = c.n_bytes.load(std::memory_order_relaxed);
  s.batches = c.n_batches.load(std::memory_order_relaxed);
  s.fsyncs = c.n_fsyncs.load(std::memory_order_relaxed);
  s.syncWaves = c.n_waves.load(std::memory_order_relaxed);
  s.queueDepth = c.queue.size_approx() + c.controls.size_approx();
  s.bytesInFlight = static_cast<std::uint64_t>(std::max<std::int64_t>(0, c.in_flight.load(std::memory_order_relaxed)));
  s.blockedPushes = c.n_blocked.load(std::memory_order_relaxed);
  s.wouldBlockPushes = c.n_would_block.load(std::memory_order_relaxed);
  s.failedStreams = c.n_failed_streams.load(std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(c.runs_mu);
    s.openRuns = c.open_runs.size();
  }
  s.recordsPerBatch = s.batches ? static_cast<double>(s.records) / static_cast<double>(s.batches) : 0;
  s.ackP50Us = c.ack_latency.quantile(0.50) / 1000.0;
  s.ackP99Us = c.ack_latency.quantile(0.99) / 1000.0;
  s.ackP999Us = c.ack_latency.quantile(0.999) / 1000.0;
  s.ackMaxUs = static_cast<double>(c.ack_latency.max()) / 1000.0;
  return s;
}

}  // namespace runlog
