// tests/support/engine_fixture.h — a fixture for tests that drive a real
// Engine on real files: a fresh temp folder per test (removed in TearDown), and
// helper verbs to open engines and runs and push records.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "runlog/engine.h"
#include "support/run_files.h"

namespace runlog::testing {

class EngineFixture {
 protected:
  /// Options with runsRoot under the temp folder; small batches so tests stay fast.
  Options MakeOptions(Durability durability = Durability::batch) const {
    Options o;
    o.runsRoot = root();
    o.durability = durability;
    o.syncThreads = 2;
    return o;
  }
  /// Engine::open that must succeed.
  std::unique_ptr<Engine> OpenEngine(const Options& options) {
    auto r = Engine::open(options);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    if (!r.ok()) return nullptr;
    return std::move(r).value();
  }
  static RunMetadata Meta(std::string_view task, std::string_view run) {
    RunMetadata m;
    m.taskId = std::string(task);
    m.runId = std::string(run);
    m.stepId = "step-1";
    m.stepName = "test";
    m.workerKind = "test";
    m.checkpointMode = "none";
    return m;
  }
  /// Engine::open_run that must succeed.
  static Run OpenRun(Engine& engine, std::string_view task, std::string_view run) {
    auto r = engine.open_run(Meta(task, run));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? r.value() : Run();
  }
  /// Pushes and waits for the acknowledgement; returns the seq (0 on error,
  /// with a test failure).
  static std::uint64_t PushStdoutAndWait(Producer& p, const Run& run, std::string_view bytes) {
    auto t = p.push_stdout(run, bytes);
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    if (!t.ok()) return 0;
    auto seq = t->wait();
    EXPECT_TRUE(seq.ok()) << seq.status().to_string();
    return seq.ok() ? seq.value() : 0;
  }

  const std::string& tmp() const { return tmp_.path(); }
  std::string root() const { return tmp_ / "runs"; }
  std::string run_dir(std::string_view task, std::string_view run) const { return RunDir(root(), task, run); }

 private:
  TempDir tmp_{"runlog-engine"};
};

/// For plain tests.
class EngineTestBase : public ::testing::Test, public EngineFixture {};

}  // namespace runlog::testing
