// tests/support/reader_support.h — reader settings for tests.
#pragma once

#include "io/reader.h"

namespace runlog::testing {

/// 4 KiB reads and batches: lines span reads, batches grow and restart, the
/// merge refills often — the paths a 1 MiB reader seldom takes.
inline io::ReaderOptions Tiny() {
  io::ReaderOptions o;
  o.first_read_bytes = 4096;
  o.max_read_bytes = 4096;
  o.batch_bytes = 4096;
  return o;
}

}  // namespace runlog::testing
