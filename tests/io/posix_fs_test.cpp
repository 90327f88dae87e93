// tests/io/posix_fs_test.cpp — the real file system seam: containment, errors, I/O loops.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "io/fs.h"

namespace runlog::io {
namespace {

class PosixFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/runlog-fs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    ASSERT_TRUE(posix_fs()->open_root(tmp_, false, 0700).get(root_).ok());
  }
  void TearDown() override {
    root_.reset();
    std::filesystem::remove_all(tmp_);
  }

  std::string P(const std::string& rel) const { return tmp_ + "/" + rel; }
  void WriteFile(const std::string& rel, const std::string& content) const {
    std::ofstream(P(rel), std::ios::binary) << content;
  }
  std::string ReadFile(const std::string& rel) const {
    std::ifstream in(P(rel), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  mode_t Mode(const std::string& rel) const {
    struct stat st{};
    EXPECT_EQ(::lstat(P(rel).c_str(), &st), 0) << rel;
    return st.st_mode & 07777;
  }

  std::string tmp_;
  std::unique_ptr<Dir> root_;
};

TEST_F(PosixFsTest, OpenRootMakesMissingParentsWithMode) {
  std::unique_ptr<Dir> d;
  ASSERT_TRUE(posix_fs()->open_root(P("a/b/c/"), true, 0700).get(d).ok());
  EXPECT_EQ(d->path(), P("a/b/c"));
  EXPECT_EQ(Mode("a"), 0700u);
  EXPECT_EQ(Mode("a/b/c"), 0700u);
  // Existing is fine.
  ASSERT_TRUE(posix_fs()->open_root(P("a/b/c"), true, 0700).get(d).ok());
}

TEST_F(PosixFsTest, OpenRootWithoutCreateReportsMissing) {
  std::unique_ptr<Dir> d;
  Status st = posix_fs()->open_root(P("missing"), false, 0700).get(d);
  EXPECT_EQ(st.code(), Errc::not_found);
  EXPECT_NE(st.message().find(P("missing")), std::string::npos) << st.to_string();
}

TEST_F(PosixFsTest, OpenRootMayFollowASymlink) {
  ASSERT_EQ(::mkdir(P("real").c_str(), 0700), 0);
  ASSERT_EQ(::symlink(P("real").c_str(), P("link").c_str()), 0);
  std::unique_ptr<Dir> d;
  EXPECT_TRUE(posix_fs()->open_root(P("link"), false, 0700).get(d).ok());
}

TEST_F(PosixFsTest, CreatesFilesAndFoldersWithModesAndTellsWhetherCreated) {
  bool created = false;
  std::unique_ptr<Dir> sub;
  ASSERT_TRUE(root_->open_dir("sub", true, 0700, &created).get(sub).ok());
  EXPECT_TRUE(created);
  ASSERT_TRUE(root_->open_dir("sub", true, 0700, &created).get(sub).ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(sub->path(), P("sub"));
  EXPECT_EQ(Mode("sub"), 0700u);

  std::unique_ptr<File> f;
  ASSERT_TRUE(sub->open_file("x.jsonl", OpenMode::create, 0600, &created).get(f).ok());
  EXPECT_TRUE(created);
  EXPECT_EQ(f->path(), P("sub/x.jsonl"));
  EXPECT_EQ(Mode("sub/x.jsonl"), 0600u);
  ASSERT_TRUE(sub->open_file("x.jsonl", OpenMode::create, 0600, &created).get(f).ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(sub->open_file("x.jsonl", OpenMode::create_new, 0600).status().code(), Errc::io_error);
  EXPECT_EQ(sub->open_file("nope", OpenMode::read_write, 0600).status().code(), Errc::not_found);
  EXPECT_EQ(root_->open_dir("nope", false, 0700).status().code(), Errc::not_found);
}

TEST_F(PosixFsTest, BadNamesAreInvalidArguments) {
  for (std::string_view name : {std::string_view(""), std::string_view("."), std::string_view(".."),
                                std::string_view("a/b"), std::string_view("/etc"), std::string_view("a\0b", 3)}) {
    EXPECT_EQ(root_->open_dir(name, true, 0700).status().code(), Errc::invalid_argument) << name;
    EXPECT_EQ(root_->open_file(name, OpenMode::create, 0600).status().code(), Errc::invalid_argument) << name;
    EXPECT_EQ(root_->remove(name).code(), Errc::invalid_argument) << name;
    EXPECT_EQ(root_->exists(name).status().code(), Errc::invalid_argument) << name;
    EXPECT_EQ(root_->rename(name, "ok").code(), Errc::invalid_argument) << name;
    EXPECT_EQ(write_file_atomic(*root_, name, "x", 0600).code(), Errc::invalid_argument) << name;
  }
  EXPECT_FALSE(std::filesystem::exists(P("a")));
  EXPECT_TRUE(check_component("a.b-c_d").ok());
}

TEST_F(PosixFsTest, SymlinkedFileIsRefusedAndTargetUnchanged) {
  WriteFile("target", "secret");
  ASSERT_EQ(::symlink(P("target").c_str(), P("link").c_str()), 0);
  for (OpenMode m : {OpenMode::read_only, OpenMode::read_write, OpenMode::create}) {
    Status st = root_->open_file("link", m, 0600).status();
    EXPECT_EQ(st.code(), Errc::refused) << st.to_string();
    EXPECT_NE(st.message().find(P("link")), std::string::npos) << st.to_string();
  }
  EXPECT_EQ(ReadFile("target"), "secret");
}

TEST_F(PosixFsTest, DanglingSymlinkIsNotCreatedThrough) {
  ASSERT_EQ(::symlink(P("elsewhere").c_str(), P("link").c_str()), 0);
  EXPECT_EQ(root_->open_file("link", OpenMode::create, 0600).status().code(), Errc::refused);
  EXPECT_FALSE(std::filesystem::exists(P("elsewhere")));
}

TEST_F(PosixFsTest, FifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo(P("fifo").c_str(), 0600), 0);
  for (OpenMode m : {OpenMode::read_only, OpenMode::read_write, OpenMode::create}) {
    Status st = root_->open_file("fifo", m, 0600).status();
    EXPECT_EQ(st.code(), Errc::refused) << st.to_string();
    EXPECT_NE(st.message().find("FIFO"), std::string::npos) << st.to_string();
  }
}

TEST_F(PosixFsTest, HardLinkedFileIsRefused) {
  WriteFile("a", "data");
  ASSERT_EQ(::link(P("a").c_str(), P("b").c_str()), 0);
  Status st = root_->open_file("b", OpenMode::read_write, 0600).status();
  EXPECT_EQ(st.code(), Errc::refused);
  EXPECT_NE(st.message().find("hard link"), std::string::npos) << st.to_string();
  EXPECT_EQ(ReadFile("a"), "data");
}

TEST_F(PosixFsTest, FolderWhereAFileBelongsIsRefused) {
  ASSERT_EQ(::mkdir(P("d").c_str(), 0700), 0);
  EXPECT_EQ(root_->open_file("d", OpenMode::read_only, 0600).status().code(), Errc::refused);
  EXPECT_EQ(root_->open_file("d", OpenMode::create, 0600).status().code(), Errc::refused);
}

TEST_F(PosixFsTest, DeviceIsRefused) {
  ASSERT_EQ(::symlink("/dev/null", P("null").c_str()), 0);  // a symlink to it: refused as a symlink
  EXPECT_EQ(root_->open_file("null", OpenMode::read_write, 0600).status().code(), Errc::refused);
  if (::mknod(P("dev").c_str(), S_IFCHR | 0600, ::makedev(1, 3)) != 0) GTEST_SKIP() << "mknod not permitted";
  Status st = root_->open_file("dev", OpenMode::read_write, 0600).status();
  EXPECT_EQ(st.code(), Errc::refused);
  EXPECT_NE(st.message().find("device"), std::string::npos) << st.to_string();
}

TEST_F(PosixFsTest, SymlinkedOrNonFolderSubdirIsRefused) {
  ASSERT_EQ(::mkdir(P("real").c_str(), 0700), 0);
  ASSERT_EQ(::symlink(P("real").c_str(), P("link").c_str()), 0);
  Status st = root_->open_dir("link", true, 0700).status();
  EXPECT_EQ(st.code(), Errc::refused) << st.to_string();
  EXPECT_NE(st.message().find("symbolic link"), std::string::npos) << st.to_string();
  WriteFile("file", "x");
  EXPECT_EQ(root_->open_dir("file", true, 0700).status().code(), Errc::refused);
  EXPECT_TRUE(std::filesystem::is_empty(P("real")));
}

TEST_F(PosixFsTest, PwritevPreadTruncateSize) {
  std::unique_ptr<File> f;
  ASSERT_TRUE(root_->open_file("f", OpenMode::create, 0600).get(f).ok());
  char a[] = "hello ", b[] = "world\n";
  struct iovec iov[2] = {{a, 6}, {b, 6}};
  ASSERT_TRUE(f->pwritev(iov, 2, 0).ok());
  ASSERT_TRUE(f->pwrite("HELLO", 5, 0).ok());
  std::uint64_t size = 0;
  ASSERT_TRUE(f->size().get(size).ok());
  EXPECT_EQ(size, 12u);
  char buf[32];
  std::size_t got = 0;
  ASSERT_TRUE(f->pread(buf, sizeof buf, 0, &got).ok());
  EXPECT_EQ(std::string(buf, got), "HELLO world\n");
  ASSERT_TRUE(f->pread(buf, sizeof buf, 100, &got).ok());
  EXPECT_EQ(got, 0u);
  ASSERT_TRUE(f->truncate(5).ok());
  ASSERT_TRUE(f->datasync().ok());
  EXPECT_EQ(ReadFile("f"), "HELLO");
}

TEST_F(PosixFsTest, PwritevWithMoreThanIovMaxBuffers) {
  std::unique_ptr<File> f;
  ASSERT_TRUE(root_->open_file("f", OpenMode::create, 0600).get(f).ok());
  const int n = 3000;  // > IOV_MAX (1024)
  std::vector<std::string> parts;
  std::vector<struct iovec> iov;
  std::string expect;
  for (int i = 0; i < n; ++i) parts.push_back(std::to_string(i) + (i % 7 == 0 ? "" : ","));
  for (auto& p : parts) {
    iov.push_back({p.data(), p.size()});
    expect += p;
  }
  ASSERT_TRUE(f->pwritev(iov.data(), n, 3).ok());
  EXPECT_EQ(ReadFile("f"), std::string(3, '\0') + expect);
}

TEST_F(PosixFsTest, ShortWriteThenErrorNamesPathAndOffset) {
  std::unique_ptr<File> f;
  ASSERT_TRUE(root_->open_file("f", OpenMode::create, 0600).get(f).ok());
  struct rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  std::string data(3000, 'x');
  Status st = f->pwrite(data.data(), data.size(), 0);  // first write is short (1000), then EFBIG
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(st.code(), Errc::io_error);
  EXPECT_EQ(st.sys_errno(), EFBIG);
  EXPECT_NE(st.message().find("write " + P("f") + " at offset 1000"), std::string::npos) << st.to_string();
}

TEST_F(PosixFsTest, WriteFileAtomicReplacesAndLeavesNoTemp) {
  ASSERT_TRUE(write_file_atomic(*root_, "s.json", "one\n", 0600).ok());
  EXPECT_EQ(ReadFile("s.json"), "one\n");
  EXPECT_EQ(Mode("s.json"), 0600u);
  WriteFile("s.json.tmp", "stale temp from a crash, longer than the new content");
  ASSERT_TRUE(write_file_atomic(*root_, "s.json", "two\n", 0600).ok());
  EXPECT_EQ(ReadFile("s.json"), "two\n");
  EXPECT_FALSE(std::filesystem::exists(P("s.json.tmp")));
  std::string back;
  ASSERT_TRUE(read_file(*root_, "s.json").get(back).ok());
  EXPECT_EQ(back, "two\n");
}

TEST_F(PosixFsTest, WriteFileAtomicNeverWritesThroughAPlantedTempSymlink) {
  WriteFile("target", "keep");
  ASSERT_EQ(::symlink(P("target").c_str(), P("s.json.tmp").c_str()), 0);
  ASSERT_TRUE(write_file_atomic(*root_, "s.json", "new\n", 0600).ok());
  EXPECT_EQ(ReadFile("target"), "keep");
  EXPECT_EQ(ReadFile("s.json"), "new\n");
}

TEST_F(PosixFsTest, ReadFileRefusesWhatOpenRefuses) {
  WriteFile("target", "secret");
  ASSERT_EQ(::symlink(P("target").c_str(), P("link").c_str()), 0);
  EXPECT_EQ(read_file(*root_, "link").status().code(), Errc::refused);
  EXPECT_EQ(read_file(*root_, "missing").status().code(), Errc::not_found);
  std::string big(200000, 'z');
  WriteFile("big", big);
  std::string back;
  ASSERT_TRUE(read_file(*root_, "big").get(back).ok());
  EXPECT_EQ(back, big);
}

TEST_F(PosixFsTest, ListExistsRemoveRename) {
  WriteFile("a", "1");
  ASSERT_EQ(::symlink("nowhere", P("dangling").c_str()), 0);
  std::vector<std::string> names;
  ASSERT_TRUE(root_->list().get(names).ok());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a", "dangling"}));
  bool e = false;
  ASSERT_TRUE(root_->exists("dangling").get(e).ok());
  EXPECT_TRUE(e);
  ASSERT_TRUE(root_->exists("zzz").get(e).ok());
  EXPECT_FALSE(e);
  ASSERT_TRUE(root_->rename("a", "b").ok());
  EXPECT_EQ(ReadFile("b"), "1");
  ASSERT_TRUE(root_->remove("b").ok());
  ASSERT_TRUE(root_->remove("b").ok());  // missing is fine
  EXPECT_EQ(root_->rename("nope", "x").code(), Errc::not_found);
  ASSERT_TRUE(root_->sync().ok());
  // list() twice gives the same (a fresh descriptor each time).
  ASSERT_TRUE(root_->list().get(names).ok());
  EXPECT_EQ(names, std::vector<std::string>{"dangling"});
}

}  // namespace
}  // namespace runlog::io
