// tests/ship/nats_cluster.cpp — see nats_cluster.h.
#include "nats_cluster.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace runlog::testing {
namespace {

using Clock = std::chrono::steady_clock;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

pid_t SpawnLogged(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  int null = ::open("/dev/null", O_RDONLY);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  if (null >= 0) ::dup2(null, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ::_exit(127);
}

}  // namespace

std::string FindNatsServer() {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/usr/local/sbin:/usr/local/bin:/usr/bin";
  std::stringstream ss(path);
  std::string d;
  while (std::getline(ss, d, ':')) {
    if (d.empty()) continue;
    std::string p = d + "/nats-server";
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

NatsCluster::~NatsCluster() {
  for (std::size_t i = 0; i < pids_.size(); ++i) Kill(static_cast<int>(i));
}

bool NatsCluster::Start(const std::string& dir, int nodes, std::string* error, const std::string& extra,
                        const std::string& user, const std::string& pass) {
  dir_ = dir;
  extra_ = extra;
  user_ = user;
  pass_ = pass;
  for (int i = 0; i < nodes; ++i) {
    ports_.push_back(FreePort());
    cluster_ports_.push_back(nodes > 1 ? FreePort() : 0);
  }
  pids_.assign(nodes, -1);
  for (int i = 0; i < nodes; ++i) {
    std::string routes;
    for (int j = 0; j < nodes; ++j) routes += fmt::format("{}nats-route://127.0.0.1:{}", j ? ", " : "", cluster_ports_[j]);
    std::ofstream conf(fmt::format("{}/n{}.conf", dir, i));
    conf << fmt::format("server_name: n{}\nlisten: 127.0.0.1:{}\njetstream {{ store_dir: \"{}/data{}\" }}\n", i, ports_[i],
                        dir, i);
    if (nodes > 1)
      conf << fmt::format("cluster {{ name: shiptest, listen: 127.0.0.1:{}, routes: [{}] }}\n", cluster_ports_[i], routes);
    conf << extra << "\n";
    if (!conf) {
      *error = "cannot write the server config";
      return false;
    }
  }
  for (int i = 0; i < nodes; ++i)
    if (!Spawn(i, error)) return false;
  for (int i = 0; i < nodes; ++i)
    if (!WaitReady(i, std::chrono::seconds(30), error)) return false;
  return true;
}

bool NatsCluster::Spawn(int node, std::string* error) {
  const std::string bin = FindNatsServer();
  pids_[node] = SpawnLogged({bin, "-c", fmt::format("{}/n{}.conf", dir_, node)}, fmt::format("{}/n{}.log", dir_, node));
  if (pids_[node] < 0) {
    *error = "fork failed";
    return false;
  }
  return true;
}

std::string NatsCluster::Url(int node) const {
  if (user_.empty()) return fmt::format("nats://127.0.0.1:{}", ports_[node]);
  return fmt::format("nats://{}:{}@127.0.0.1:{}", user_, pass_, ports_[node]);
}

std::string NatsCluster::Urls() const {
  std::string out;
  for (int i = 0; i < Nodes(); ++i) out += (i ? "," : "") + Url(i);
  return out;
}

void NatsCluster::Kill(int node) {
  if (pids_[node] <= 0) return;
  ::kill(pids_[node], SIGKILL);
  int st = 0;
  ::waitpid(pids_[node], &st, 0);
  pids_[node] = -1;
}

bool NatsCluster::Restart(int node, std::string* error) {
  Kill(node);
  return Spawn(node, error);
}

std::string NatsCluster::Log(int node) const {
  std::ifstream in(fmt::format("{}/n{}.log", dir_, node));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

bool NatsCluster::WaitReady(int node, std::chrono::milliseconds timeout, std::string* error) {
  const auto deadline = Clock::now() + timeout;
  std::string last = "not tried";
  while (Clock::now() < deadline) {
    natsConnection* nc = nullptr;
    natsStatus s = natsConnection_ConnectTo(&nc, Url(node).c_str());
    if (s == NATS_OK) {
      jsCtx* js = nullptr;
      jsAccountInfo* ai = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      s = natsConnection_JetStream(&js, nc, nullptr);
      if (s == NATS_OK) s = js_GetAccountInfo(&ai, js, nullptr, &jerr);
      if (ai) jsAccountInfo_Destroy(ai);
      if (js) jsCtx_Destroy(js);
      natsConnection_Destroy(nc);
      if (s == NATS_OK) return true;
      last = fmt::format("JetStream: {} ({})", natsStatus_GetText(s), static_cast<int>(jerr));
    } else {
      last = fmt::format("connect: {}", natsStatus_GetText(s));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  *error = fmt::format("node {} not ready: {}\n{}", node, last, Log(node));
  return false;
}

Child::Child(const std::vector<std::string>& argv, const std::string& log) : pid_(SpawnLogged(argv, log)) {}

Child::~Child() {
  if (pid_ > 0 && Running()) {
    ::kill(pid_, SIGKILL);
    (void)Wait(std::chrono::seconds(10));
  }
}

void Child::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool Child::Running() {
  if (status_ != -1) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

int Child::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Running()) {
    if (Clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      status_ = -1;
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status_;
}

bool ReadStream(const std::string& url, const std::string& stream, const std::string& filter,
                std::vector<StoredMsg>* out, std::string* error) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  natsSubscription* sub = nullptr;
  natsStatus s = natsConnection_ConnectTo(&nc, url.c_str());
  if (s == NATS_OK) s = natsConnection_JetStream(&js, nc, nullptr);
  // How many there are: the stream's state for the filter.
  std::uint64_t expect = 0;
  if (s == NATS_OK) {
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Info.SubjectsFilter = filter.c_str();
    jsStreamInfo* si = nullptr;
    s = js_GetStreamInfo(&si, js, stream.c_str(), &o, nullptr);
    if (s == NATS_OK && si->State.Subjects != nullptr)
      for (int i = 0; i < si->State.Subjects->Count; ++i) expect += si->State.Subjects->List[i].Msgs;
    if (si) jsStreamInfo_Destroy(si);
  }
  if (s == NATS_OK && expect > 0) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Ordered = true;
    s = js_SubscribeSync(&sub, js, filter.c_str(), nullptr, &so, nullptr);
  }
  while (s == NATS_OK && out->size() < expect) {
    natsMsg* m = nullptr;
    s = natsSubscription_NextMsg(&m, sub, 10000);
    if (s != NATS_OK) break;
    StoredMsg sm;
    sm.subject = natsMsg_GetSubject(m);
    const char* v = nullptr;
    if (natsMsgHeader_Get(m, "Runlog-Seq", &v) == NATS_OK) sm.seq = std::strtoull(v, nullptr, 10);
    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &v) == NATS_OK) sm.msg_id = v;
    sm.data.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
    out->push_back(std::move(sm));
    natsMsg_Destroy(m);
  }
  if (s != NATS_OK) *error = fmt::format("read {} {}: {}", stream, filter, natsStatus_GetText(s));
  if (sub) natsSubscription_Destroy(sub);
  if (js) jsCtx_Destroy(js);
  if (nc) natsConnection_Destroy(nc);
  return s == NATS_OK;
}

std::int64_t StreamMessages(const std::string& url, const std::string& stream) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  jsStreamInfo* si = nullptr;
  std::int64_t n = -1;
  natsStatus s = natsConnection_ConnectTo(&nc, url.c_str());
  if (s == NATS_OK) s = natsConnection_JetStream(&js, nc, nullptr);
  if (s == NATS_OK) s = js_GetStreamInfo(&si, js, stream.c_str(), nullptr, nullptr);
  if (s == NATS_OK) n = static_cast<std::int64_t>(si->State.Msgs);
  if (si) jsStreamInfo_Destroy(si);
  if (js) jsCtx_Destroy(js);
  if (nc) natsConnection_Destroy(nc);
  return n;
}

}  // namespace runlog::testing
