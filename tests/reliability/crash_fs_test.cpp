// tests/reliability/crash_fs_test.cpp — the crash model itself
// (support/crash_fs.h): synced bytes and entries survive every crash, what
// was not synced may not, a failed fsync drops the dirty data for good, syncfs
// covers every file and its failure reaches each one, and faults strike
// exactly where they are armed.
#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <string>

#include "support/crash_fs.h"

namespace runlog::testing {
namespace {

struct Opened {
  std::unique_ptr<io::Dir> root;
  std::unique_ptr<io::File> file;
};

Opened Open(CrashFs& fs, io::OpenMode mode = io::OpenMode::create) {
  Opened o;
  o.root = fs.open_root("r", true, 0700).value();
  auto f = o.root->open_file("f", mode, 0600);
  if (f.ok()) o.file = std::move(f).value();
  return o;
}

std::string Content(const CrashFs& fs) {
  std::string s;
  return fs.ReadNow("r", "f", &s) ? s : "<missing>";
}

TEST(CrashFsTest, SyncedBytesSurviveEveryCrashAndUnsyncedOnesAreTornDroppedOrDamaged) {
  auto fs = std::make_shared<CrashFs>();
  Opened o = Open(*fs);
  ASSERT_TRUE(o.file->pwrite("synced\n", 7, 0).ok());
  ASSERT_TRUE(o.file->datasync().ok());
  ASSERT_TRUE(o.root->sync().ok());
  ASSERT_TRUE(o.file->pwrite("unsynced tail\n", 14, 7).ok());
  std::set<std::size_t> lengths;
  bool zeros = false, all = false;
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    const std::string c = Content(*fs->Crash(seed));
    ASSERT_EQ(c.substr(0, 7), "synced\n") << "seed " << seed;
    lengths.insert(c.size());
    zeros = zeros || c.find('\0') != std::string::npos;
    all = all || c == "synced\nunsynced tail\n";
  }
  EXPECT_GT(lengths.size(), 8u) << "the last write is not torn at varied bytes";
  EXPECT_TRUE(lengths.count(7)) << "the unsynced write is never dropped";
  EXPECT_TRUE(zeros) << "the lost write's size is never left as zeros";
  EXPECT_TRUE(all) << "the unsynced write never fully survives";
  EXPECT_EQ(Content(*fs->CrashLosingAllUnsynced()), "synced\n");
}

TEST(CrashFsTest, AnEntryNotSyncedMayBeLostWithItsSyncedData) {
  auto fs = std::make_shared<CrashFs>();
  Opened o = Open(*fs);
  ASSERT_TRUE(o.file->pwrite("x\n", 2, 0).ok());
  ASSERT_TRUE(o.file->datasync().ok());  // the data, not the folder entry
  EXPECT_EQ(Content(*fs->CrashLosingAllUnsynced()), "<missing>");
  bool kept = false, lost = false;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const std::string c = Content(*fs->Crash(seed));
    kept = kept || c == "x\n";
    lost = lost || c == "<missing>";
  }
  EXPECT_TRUE(kept && lost);
  ASSERT_TRUE(o.root->sync().ok());
  EXPECT_EQ(Content(*fs->CrashLosingAllUnsynced()), "x\n");
}

// syncfs: every file written before it, in every folder and root, is on disk
// after it (folder entries are not promised); a failed syncfs drops every
// file's dirty data, each file's next fdatasync reports the error once, and a
// later syncfs "succeeds" without the lost bytes.
TEST(CrashFsTest, SyncfsMakesEveryFileDurableAndItsFailureReachesEachFileOnce) {
  auto fs = std::make_shared<CrashFs>();
  auto root = fs->open_root("r", true, 0700).value();
  auto sub = root->open_dir("d", true, 0700).value();
  auto other = fs->open_root("other", true, 0700).value();
  auto a = root->open_file("a", io::OpenMode::create, 0600).value();
  auto b = sub->open_file("b", io::OpenMode::create, 0600).value();
  auto c = other->open_file("c", io::OpenMode::create, 0600).value();
  ASSERT_TRUE(root->sync().ok());
  ASSERT_TRUE(sub->sync().ok());
  ASSERT_TRUE(other->sync().ok());
  ASSERT_TRUE(a->pwrite("a1\n", 3, 0).ok());
  ASSERT_TRUE(b->pwrite("b1\n", 3, 0).ok());
  ASSERT_TRUE(c->pwrite("c1\n", 3, 0).ok());
  ASSERT_TRUE(sub->sync_filesystem().ok());  // any folder: the whole file system
  auto read = [](const CrashFs& img, const std::string& r, const std::string& rel) {
    std::string s;
    return img.ReadNow(r, rel, &s) ? s : "<missing>";
  };
  auto lost = fs->CrashLosingAllUnsynced();
  EXPECT_EQ(read(*lost, "r", "a"), "a1\n");
  EXPECT_EQ(read(*lost, "r", "d/b"), "b1\n");
  EXPECT_EQ(read(*lost, "other", "c"), "c1\n");

  // A file created after the folder's last sync: its data is synced, its entry is not.
  auto fresh = root->open_file("fresh", io::OpenMode::create, 0600).value();
  ASSERT_TRUE(fresh->pwrite("x\n", 2, 0).ok());
  ASSERT_TRUE(root->sync_filesystem().ok());
  EXPECT_EQ(read(*fs->CrashLosingAllUnsynced(), "r", "fresh"), "<missing>");

  // A failed syncfs.
  ASSERT_TRUE(a->pwrite("a2\n", 3, 3).ok());
  ASSERT_TRUE(b->pwrite("b2\n", 3, 3).ok());
  fs->Inject({fs->ops() + 1, CrashFs::FaultKind::eio, false, CrashFs::kSyncfs});
  Status st = root->sync_filesystem();
  EXPECT_EQ(st.sys_errno(), EIO) << st.to_string();
  EXPECT_EQ(fs->failed_syncs(), 1u);
  EXPECT_TRUE(root->sync_filesystem().ok());  // the error is reported once per file system
  lost = fs->CrashLosingAllUnsynced();
  EXPECT_EQ(read(*lost, "r", "a"), "a1\n") << "a failed syncfs's bytes reached the disk by a later syncfs";
  EXPECT_EQ(read(*lost, "r", "d/b"), "b1\n");
  EXPECT_EQ(a->datasync().sys_errno(), EIO) << "the file's own fdatasync does not see the syncfs error";
  EXPECT_TRUE(a->datasync().ok());
  EXPECT_EQ(b->datasync().sys_errno(), EIO);
  EXPECT_TRUE(c->datasync().ok());  // nothing of c was lost
  EXPECT_EQ(read(*fs->CrashLosingAllUnsynced(), "r", "a"), "a1\n");
}

TEST(CrashFsTest, AFailedFsyncDropsTheDirtyDataAndTheRetrySucceedsWithoutIt) {
  auto fs = std::make_shared<CrashFs>();
  Opened o = Open(*fs);
  ASSERT_TRUE(o.root->sync().ok());
  ASSERT_TRUE(o.file->pwrite("lost\n", 5, 0).ok());
  fs->Inject({fs->ops() + 1, CrashFs::FaultKind::eio, false, CrashFs::kDatasync});
  Status st = o.file->datasync();
  EXPECT_EQ(st.sys_errno(), EIO);
  EXPECT_NE(st.message().find("r/f"), std::string::npos) << st.to_string();
  EXPECT_EQ(Content(*fs), "lost\n") << "the page cache still shows it";
  EXPECT_TRUE(o.file->datasync().ok()) << "the retry 'succeeds'";
  const std::string after = Content(*fs->CrashLosingAllUnsynced());
  EXPECT_EQ(after.find("lost"), std::string::npos) << "the dropped data reached the disk: '" << after << "'";
  // Writes after the failure are synced normally.
  ASSERT_TRUE(o.file->pwrite("kept\n", 5, 5).ok());
  ASSERT_TRUE(o.file->datasync().ok());
  EXPECT_EQ(Content(*fs->CrashLosingAllUnsynced()).substr(5), "kept\n");
}

TEST(CrashFsTest, FaultsStrikeAtTheirCallOnceOrFromThenOnAndPowerOffStopsEverything) {
  auto fs = std::make_shared<CrashFs>();
  Opened o = Open(*fs);
  const std::uint64_t n = fs->ops();
  fs->Inject({n + 2, CrashFs::FaultKind::short_write, false, CrashFs::kAnyOp});
  EXPECT_TRUE(o.file->pwrite("aaaa", 4, 0).ok());
  Status st = o.file->pwrite("bbbbbbbb", 8, 4);
  EXPECT_EQ(st.sys_errno(), ENOSPC);
  EXPECT_EQ(Content(*fs), "aaaabbbb") << "a short write leaves a prefix";
  EXPECT_TRUE(o.file->pwrite("c", 1, 8).ok()) << "a once fault strikes once";
  fs->Inject({fs->ops() + 1, CrashFs::FaultKind::eintr, true, CrashFs::kWrite});
  EXPECT_EQ(o.file->pwrite("d", 1, 9).sys_errno(), EINTR);
  EXPECT_EQ(o.file->pwrite("d", 1, 9).sys_errno(), EINTR) << "a sticky fault strikes again";
  EXPECT_TRUE(o.file->datasync().ok()) << "other kinds pass";
  fs->PowerOff();
  EXPECT_EQ(o.file->datasync().sys_errno(), EIO);
  EXPECT_EQ(o.root->sync().sys_errno(), EIO);
  EXPECT_TRUE(fs->powered_off());
}

TEST(CrashFsTest, RefusesWhatTheSeamRefuses) {
  auto fs = std::make_shared<CrashFs>();
  auto root = fs->open_root("r", true, 0700).value();
  ASSERT_TRUE(root->open_dir("d", true, 0700).ok());
  EXPECT_EQ(root->open_file("d", io::OpenMode::create, 0600).status().code(), Errc::refused);
  ASSERT_TRUE(root->open_file("f", io::OpenMode::create, 0600).ok());
  EXPECT_EQ(root->open_dir("f", true, 0700).status().code(), Errc::refused);
  EXPECT_EQ(root->open_file("f", io::OpenMode::create_new, 0600).status().sys_errno(), EEXIST);
  EXPECT_EQ(root->open_file("g", io::OpenMode::read_only, 0).status().code(), Errc::not_found);
  EXPECT_EQ(root->open_file("../x", io::OpenMode::create, 0600).status().code(), Errc::invalid_argument);
  auto a = root->open_file("f", io::OpenMode::read_write, 0).value();
  auto b = root->open_file("f", io::OpenMode::read_write, 0).value();
  ASSERT_TRUE(a->lock_exclusive().ok());
  EXPECT_EQ(b->lock_exclusive().code(), Errc::refused);
  EXPECT_TRUE(b->locked_by_other().value());
}

}  // namespace
}  // namespace runlog::testing
