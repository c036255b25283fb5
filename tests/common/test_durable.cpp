#include "common/durable.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace shardscore {
namespace {

namespace fs = std::filesystem;

fs::path fresh_folder() {
  const fs::path dir = fs::temp_directory_path() / ("shardscore-durable-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Durable, SyncsFilesAndFolders) {
  const fs::path dir = fresh_folder();
  std::ofstream(dir / "out.h5") << "rows";
  EXPECT_TRUE(sync_path((dir / "out.h5").string()).ok());
  EXPECT_TRUE(sync_path(dir.string()).ok());
  EXPECT_TRUE(sync_parent_folder((dir / "out.h5").string()).ok());
  EXPECT_TRUE(sync_parent_folder("out.h5").ok()) << "a bare name's folder is the working directory";
  fs::remove_all(dir);
}

TEST(Durable, AMissingPathIsAnErrorNamingIt) {
  const fs::path dir = fresh_folder();
  const std::string missing = (dir / "gone.h5").string();
  const Status s = sync_path(missing);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find(missing), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("No such file"), std::string::npos) << s.message();
  const Status p = sync_parent_folder((dir / "no-such-folder" / "out.h5").string());
  EXPECT_EQ(p.code(), StatusCode::kUnavailable) << p.message();
  fs::remove_all(dir);
}

TEST(Durable, WritesAFileOrLeavesNone) {
  const fs::path dir = fresh_folder();
  const std::string path = (dir / "report.json").string();
  ASSERT_TRUE(write_file_synced(path, "{\"rows\": 3}\n").ok());
  std::ifstream in(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "{\"rows\": 3}\n");
  ASSERT_TRUE(write_file_synced(path, "").ok()) << "replaces what is there";
  EXPECT_EQ(fs::file_size(path), 0u);
  const std::string nowhere = (dir / "missing" / "report.json").string();
  const Status s = write_file_synced(nowhere, "x");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find(nowhere), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("No such file"), std::string::npos) << s.message();
  fs::remove_all(dir);
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Durable, MovesIntoPlaceWithoutReplacingWhatAppeared) {
  const fs::path dir = fresh_folder();
  // Nothing there: moved.
  std::ofstream(dir / ".tmp-a") << "mine";
  ASSERT_TRUE(move_into_place((dir / ".tmp-a").string(), (dir / "out.h5").string(), false, "output").ok());
  EXPECT_EQ(read(dir / "out.h5"), "mine");
  // Another job's file or folder there, no replace: both left as they are, AlreadyExists naming it.
  std::ofstream(dir / ".tmp-b") << "late";
  Status st = move_into_place((dir / ".tmp-b").string(), (dir / "out.h5").string(), false, "output");
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(st.message().find("output '" + (dir / "out.h5").string() + "' appeared while this job ran"), std::string::npos)
      << st.message();
  EXPECT_EQ(read(dir / "out.h5"), "mine");
  EXPECT_EQ(read(dir / ".tmp-b"), "late");
  fs::create_directories(dir / ".tmp-c");
  std::ofstream(dir / ".tmp-c" / "part-00000.parquet") << "p";
  fs::create_directories(dir / "out.parquet");
  std::ofstream(dir / "out.parquet" / "other") << "theirs";
  EXPECT_EQ(move_into_place((dir / ".tmp-c").string(), (dir / "out.parquet").string(), false, "output").code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(read(dir / "out.parquet" / "other"), "theirs");
  // Replace: a file over a file, a folder over a folder, a folder over a file.
  ASSERT_TRUE(move_into_place((dir / ".tmp-b").string(), (dir / "out.h5").string(), true, "output").ok());
  EXPECT_EQ(read(dir / "out.h5"), "late");
  ASSERT_TRUE(move_into_place((dir / ".tmp-c").string(), (dir / "out.parquet").string(), true, "output").ok());
  EXPECT_FALSE(fs::exists(dir / "out.parquet" / "other"));
  EXPECT_EQ(read(dir / "out.parquet" / "part-00000.parquet"), "p");
  fs::create_directories(dir / ".tmp-d");
  ASSERT_TRUE(move_into_place((dir / ".tmp-d").string(), (dir / "out.h5").string(), true, "output").ok());
  EXPECT_TRUE(fs::is_directory(dir / "out.h5"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace shardscore
