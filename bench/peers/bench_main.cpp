// bench/peers/bench_main.cpp — main() of runlog_bench: Google Benchmark's own,
// plus an exit status. A benchmark whose output is wrong reports an error
// (State::SkipWithError) and no figure; this main then exits 1, so that a
// script or CI running the binary fails instead of publishing the rest.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace {

template <class Base>
class Flagging : public Base {
 public:
  void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
    for (const auto& r : runs) {
      if (r.error_occurred) {
        ++errors;
        std::fprintf(stderr, "runlog_bench: %s: %s\n", r.benchmark_name().c_str(), r.error_message.c_str());
      }
    }
    Base::ReportRuns(runs);
  }
  int errors = 0;
};

}  // namespace

int main(int argc, char** argv) {
  // The display format, as Google Benchmark's own main would pick it.
  const char* format = "console";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--benchmark_format=", 19) == 0) format = argv[i] + 19;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  int errors = 0;
  if (std::strcmp(format, "json") == 0) {
    Flagging<benchmark::JSONReporter> r;
    benchmark::RunSpecifiedBenchmarks(&r);
    errors = r.errors;
  } else {  // console (csv is deprecated in Google Benchmark)
    Flagging<benchmark::ConsoleReporter> r;
    benchmark::RunSpecifiedBenchmarks(&r);
    errors = r.errors;
  }
  benchmark::Shutdown();
  if (errors > 0) std::fprintf(stderr, "runlog_bench: %d benchmark(s) failed their output check; no figure for them\n", errors);
  return errors > 0 ? 1 : 0;
}
