#include <gtest/gtest.h>
#include <hdf5.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <utility>
#include <vector>

#include "common/mpi_test_util.h"
#include "reader/hdf5_reader.h"
#include "shard/shard_plan.h"

namespace shardscore {
namespace {
using namespace shardscore::testing;

// Rank 0 writes a file serially; every rank then reads only its own shards through parallel HDF5.
class Hdf5ReaderMpi : public ::testing::Test {
 protected:
  void SetUp() override {
    hdf5_silence_errors();
    path_ = shared_temp_path("reader.h5");
    if (world_rank() == 0) {
      hid_t f = H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
      hsize_t dims[2] = {kRows, kFeatures}, chunk[2] = {37, kFeatures};
      hid_t space = H5Screate_simple(2, dims, nullptr);
      hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
      H5Pset_chunk(dcpl, 2, chunk);
      hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
      H5Pset_create_intermediate_group(lcpl, 1);
      hid_t d = H5Dcreate2(f, "/group/x", H5T_STD_I16BE, space, lcpl, dcpl, H5P_DEFAULT);
      H5Pclose(lcpl);
      std::vector<int16_t> v(kRows * kFeatures);
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int16_t>(i % 30000 - 15000);
      H5Dwrite(d, H5T_NATIVE_INT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
      H5Dclose(d);
      hsize_t d3[3] = {2, 2, 2};
      hid_t s3 = H5Screate_simple(3, d3, nullptr);
      hid_t cube = H5Dcreate2(f, "/cube", H5T_NATIVE_FLOAT, s3, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      const float cube_values[8] = {0, 1, 2, 3, 4, 5, 6, 7};
      H5Dwrite(cube, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, cube_values);
      H5Dclose(cube);
      hid_t s0 = H5Screate(H5S_SCALAR);
      hid_t scalar = H5Dcreate2(f, "/scalar", H5T_NATIVE_FLOAT, s0, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      H5Dclose(scalar);
      H5Lcreate_soft("/nowhere", f, "/dangling", H5P_DEFAULT, H5P_DEFAULT);
      H5Sclose(s0);
      H5Sclose(s3);
      H5Pclose(dcpl);
      H5Sclose(space);
      H5Fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  void TearDown() override {
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank() == 0) std::remove(path_.c_str());
  }
  static constexpr hsize_t kRows = 1000, kFeatures = 3;
  std::string path_;
};

TEST_F(Hdf5ReaderMpi, EachRankReadsItsShardsInTheFilesOwnType) {
  auto r = Hdf5Reader::open(path_, "/group/x", MPI_COMM_WORLD);
  ASSERT_TRUE(all_ranks(r.ok())) << r.status().message();
  EXPECT_EQ(r.value()->rows(), 1000);
  EXPECT_EQ(r.value()->row_shape(), std::vector<int64_t>({3}));
  EXPECT_EQ(r.value()->row_elements(), 3);
  EXPECT_EQ(r.value()->dtype(), DType::kInt16) << "big-endian int16 on disk is read as native int16";
  EXPECT_EQ(r.value()->chunk_rows(), 37);
  auto plan = shard_plan_make(1000, r.value()->chunk_rows(), 100, world_size()).value();
  for (const Shard& s : shard_plan_for_rank(plan, world_rank())) {
    std::vector<int16_t> buf(static_cast<std::size_t>(s.rows() * 3));
    ASSERT_TRUE(r.value()->read_rows(s.row_begin, s.rows(), reinterpret_cast<std::byte*>(buf.data())).ok());
    for (int64_t i = 0; i < s.rows() * 3; ++i) {
      const int64_t flat = s.row_begin * 3 + i;
      ASSERT_EQ(buf[i], static_cast<int16_t>(flat % 30000 - 15000)) << "element " << flat;
    }
  }
}

TEST_F(Hdf5ReaderMpi, ErrorsNameTheFileAndTheDataset) {
  auto missing = Hdf5Reader::open(path_ + ".nope", "/group/x", MPI_COMM_WORLD);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(path_ + ".nope"), std::string::npos);

  auto no_ds = Hdf5Reader::open(path_, "/group/y", MPI_COMM_WORLD);
  EXPECT_EQ(no_ds.status().code(), StatusCode::kNotFound);
  EXPECT_NE(no_ds.status().message().find("/group/y"), std::string::npos) << no_ds.status().message();

  auto deep = Hdf5Reader::open(path_, "/nogroup/deeper/x", MPI_COMM_WORLD);
  EXPECT_EQ(deep.status().code(), StatusCode::kNotFound) << deep.status().message();
  EXPECT_NE(deep.status().message().find("has no dataset '/nogroup/deeper/x'"), std::string::npos) << deep.status().message();

  // H5Lexists fails on these rather than answering no; they are still a missing dataset, not a corrupt file.
  auto below = Hdf5Reader::open(path_, "/group/x/y", MPI_COMM_WORLD);
  EXPECT_EQ(below.status().code(), StatusCode::kNotFound) << below.status().message();
  EXPECT_NE(below.status().message().find("'/group/x' is not a group"), std::string::npos) << below.status().message();
  auto dangling = Hdf5Reader::open(path_, "/dangling", MPI_COMM_WORLD);
  EXPECT_EQ(dangling.status().code(), StatusCode::kNotFound) << dangling.status().message();
  EXPECT_NE(dangling.status().message().find("link to nothing"), std::string::npos) << dangling.status().message();

  auto scalar = Hdf5Reader::open(path_, "/scalar", MPI_COMM_WORLD);
  EXPECT_EQ(scalar.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(scalar.status().message().find("scalar"), std::string::npos) << scalar.status().message();
}

TEST_F(Hdf5ReaderMpi, ReadsRowsOfAnyRank) {
  auto cube = Hdf5Reader::open(path_, "/cube", MPI_COMM_WORLD);
  ASSERT_TRUE(all_ranks(cube.ok())) << cube.status().message();
  EXPECT_EQ(cube.value()->rows(), 2);
  EXPECT_EQ(cube.value()->row_shape(), std::vector<int64_t>({2, 2}));
  float row1[4] = {-1, -1, -1, -1};
  ASSERT_TRUE(cube.value()->read_rows(1, 1, reinterpret_cast<std::byte*>(row1)).ok());
  EXPECT_EQ(row1[0], 4.0f);
  EXPECT_EQ(row1[3], 7.0f);
}

TEST_F(Hdf5ReaderMpi, ACorruptFileIsDataLoss) {
  const std::string bad = path_ + ".corrupt";
  if (world_rank() == 0) std::ofstream(bad) << std::string(4096, 'z');
  MPI_Barrier(MPI_COMM_WORLD);
  auto r = Hdf5Reader::open(bad, "/group/x", MPI_COMM_WORLD);
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find(bad), std::string::npos);
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) std::remove(bad.c_str());
}

TEST_F(Hdf5ReaderMpi, GroupsThatOneRankCannotReadAreDataLossNotAMissingDataset) {
  // A node-local copy that is garbage after its superblock, on every rank but 0. In parallel only
  // rank 0 reads the superblock and the root group's header, so the other ranks' open succeeds and
  // their lookup of the dataset fails: that used to read as "has no dataset".
  if (world_size() == 1) GTEST_SKIP() << "needs ranks that see another file than rank 0";
  const std::string bad = path_ + ".groups";
  if (world_rank() == 0) {
    std::ifstream in(path_, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fill(bytes.begin() + 96, bytes.end(), '\xff');
    std::ofstream(bad, std::ios::binary) << bytes;
  }
  MPI_Barrier(MPI_COMM_WORLD);
  auto r = Hdf5Reader::open(world_rank() == 0 ? path_ : bad, "/group/x", MPI_COMM_WORLD);
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().message();
  EXPECT_NE(r.status().message().find("cannot be read where dataset '/group/x' should be"), std::string::npos)
      << r.status().message();
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) std::remove(bad.c_str());
}

// Direct reads (pread at the offsets HDF5 gives) against the values written, for every layout;
// layouts whose bytes are not the values (compressed, partial-row chunks, another byte order, a
// userblock) must be refused and read through HDF5. Rank 0 writes with HDF5's serial driver; every
// rank reads ranges that start and end inside chunks, cross them, and cover the whole dataset.
class Hdf5ReaderDirect : public ::testing::Test {
 protected:
  static constexpr hsize_t kRows = 1000, kCols = 5;
  static float value(int64_t flat) { return static_cast<float>(flat) * 0.5f - 3.0f; }

  void SetUp() override {
    hdf5_silence_errors();
    path_ = shared_temp_path("direct.h5");
    userblock_path_ = shared_temp_path("direct_ub.h5");
    link_path_ = shared_temp_path("direct_link.h5");
    if (world_rank() == 0) {
      std::vector<float> f32(kRows * kCols);
      for (std::size_t i = 0; i < f32.size(); ++i) f32[i] = value(static_cast<int64_t>(i));
      std::vector<int32_t> i32(f32.size());
      for (std::size_t i = 0; i < i32.size(); ++i) i32[i] = static_cast<int32_t>(i) * 3 - 7;
      std::vector<uint8_t> u8(kRows * 4 * 3 * 2);
      for (std::size_t i = 0; i < u8.size(); ++i) u8[i] = static_cast<uint8_t>(i * 7 % 251);
      const hsize_t dims2[2] = {kRows, kCols}, dims4[4] = {kRows, 4, 3, 2};
      const hsize_t rows_chunk[2] = {37, kCols}, partial_chunk[2] = {37, 2}, image_chunk[4] = {37, 4, 3, 2};
      hid_t f = H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
      auto make = [&](const char* name, hid_t file_type, int rank, const hsize_t* dims, const hsize_t* chunk,
                      const std::function<void(hid_t dcpl)>& more, hid_t mem_type, const void* data) {
        hid_t space = H5Screate_simple(rank, dims, nullptr);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (chunk) H5Pset_chunk(dcpl, rank, chunk);
        if (more) more(dcpl);
        hid_t d = H5Dcreate2(f, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (data) H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
        H5Dclose(d);
        H5Pclose(dcpl);
        H5Sclose(space);
      };
      make("contiguous", H5T_NATIVE_FLOAT, 2, dims2, nullptr, nullptr, H5T_NATIVE_FLOAT, f32.data());
      make("row_chunks", H5T_NATIVE_FLOAT, 2, dims2, rows_chunk, nullptr, H5T_NATIVE_FLOAT, f32.data());
      make("images", H5T_NATIVE_UINT8, 4, dims4, image_chunk, nullptr, H5T_NATIVE_UINT8, u8.data());
      make("partial_chunks", H5T_NATIVE_FLOAT, 2, dims2, partial_chunk, nullptr, H5T_NATIVE_FLOAT, f32.data());
      make("big_endian", H5T_STD_I32BE, 2, dims2, rows_chunk, nullptr, H5T_NATIVE_INT32, i32.data());
      if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
        make("deflate", H5T_NATIVE_FLOAT, 2, dims2, rows_chunk, [](hid_t dcpl) { H5Pset_deflate(dcpl, 4); },
             H5T_NATIVE_FLOAT, f32.data());
      }
      // Rows [100, 400) written, the other chunks never: they read as the fill value.
      const float fill = -7.0f;
      make("holes", H5T_NATIVE_FLOAT, 2, dims2, rows_chunk,
           [&](hid_t dcpl) { H5Pset_fill_value(dcpl, H5T_NATIVE_FLOAT, &fill); }, H5T_NATIVE_FLOAT, nullptr);
      // The same with fill time "never": HDF5 leaves the buffer as it was for chunks never written.
      make("holes_fill_never", H5T_NATIVE_FLOAT, 2, dims2, rows_chunk,
           [&](hid_t dcpl) { H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER); }, H5T_NATIVE_FLOAT, nullptr);
      for (const char* name : {"holes", "holes_fill_never"}) {
        hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
        hid_t fs = H5Dget_space(d);
        const hsize_t start[2] = {100, 0}, count[2] = {300, kCols};
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, nullptr, count, nullptr);
        hid_t ms = H5Screate_simple(2, count, nullptr);
        H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, f32.data() + 100 * kCols);
        H5Sclose(ms);
        H5Sclose(fs);
        H5Dclose(d);
      }
      // 5,000 chunks of one 4-byte value: looking each up in HDF5 1.10 walks the whole index.
      const hsize_t tiny_dims[2] = {5000, 1}, tiny_chunk[2] = {1, 1};
      std::vector<float> tiny(5000);
      for (std::size_t i = 0; i < tiny.size(); ++i) tiny[i] = value(static_cast<int64_t>(i));
      make("tiny_chunks", H5T_NATIVE_FLOAT, 2, tiny_dims, tiny_chunk, nullptr, H5T_NATIVE_FLOAT, tiny.data());
      H5Fclose(f);

      hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
      H5Pset_userblock(fcpl, 512);
      hid_t u = H5Fcreate(userblock_path_.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
      hid_t space = H5Screate_simple(2, dims2, nullptr);
      hid_t ud = H5Dcreate2(u, "contiguous", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      H5Dwrite(ud, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, f32.data());
      H5Dclose(ud);
      H5Sclose(space);
      H5Fclose(u);
      H5Pclose(fcpl);

      // An index file whose dataset is an external link to path_'s (a common layout): the
      // addresses HDF5 gives are path_'s, not this file's.
      hid_t l = H5Fcreate(link_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
      H5Lcreate_external(path_.c_str(), "/contiguous", l, "linked", H5P_DEFAULT, H5P_DEFAULT);
      H5Fclose(l);
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  void TearDown() override {
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank() == 0) {
      std::remove(path_.c_str());
      std::remove(userblock_path_.c_str());
      std::remove(link_path_.c_str());
    }
  }
  // Row ranges every rank reads: inside one chunk, across chunk edges, the edge chunk, everything.
  std::vector<std::pair<int64_t, int64_t>> ranges() const {
    const int64_t r = world_rank();
    return {{5 + r, 3}, {30 + r, 60}, {36, 2}, {0, 37}, {963, 37}, {999, 1}, {0, 1000}, {101 + 17 * r, 290}};
  }
  std::string path_, userblock_path_, link_path_;
};

TEST_F(Hdf5ReaderDirect, ReadsEveryLayoutAsWrittenAndReadsDirectlyOnlyWhereTheBytesAreTheValues) {
  struct Case {
    std::string file, dataset;
    bool direct;
    std::string why;  // in the log's read mode when not direct
  };
  std::vector<Case> cases = {{path_, "/contiguous", true, ""},
                             {path_, "/row_chunks", true, ""},
                             {path_, "/partial_chunks", false, "chunks split rows"},
                             {path_, "/big_endian", false, "byte order"},
                             {path_, "/holes", true, ""},
                             {path_, "/holes_fill_never", true, ""},
                             {userblock_path_, "/contiguous", false, "userblock"},
                             {link_path_, "/linked", false, "external link"}};
  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) cases.push_back({path_, "/deflate", false, "compressed"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file + ":" + c.dataset);
    auto r = Hdf5Reader::open(c.file, c.dataset, MPI_COMM_WORLD);
    ASSERT_TRUE(all_ranks(r.ok())) << r.status().message();
    Hdf5Reader& reader = *r.value();
    EXPECT_EQ(reader.direct_reads(), c.direct);
    EXPECT_NE(reader.read_mode().find(c.direct ? "direct reads" : c.why), std::string::npos) << reader.read_mode();
    for (const auto& [begin, count] : ranges()) {
      SCOPED_TRACE("rows [" + std::to_string(begin) + ", " + std::to_string(begin + count) + ")");
      std::vector<float> buf(static_cast<std::size_t>(count * kCols), 12345.0f);
      ASSERT_TRUE(reader.read_rows(begin, count, reinterpret_cast<std::byte*>(buf.data())).ok());
      for (int64_t i = 0; i < count * static_cast<int64_t>(kCols); ++i) {
        const int64_t flat = begin * static_cast<int64_t>(kCols) + i, row = flat / static_cast<int64_t>(kCols);
        float want = value(flat);
        if (c.dataset == "/big_endian") {
          int32_t got;
          std::memcpy(&got, &buf[i], sizeof got);
          ASSERT_EQ(got, static_cast<int32_t>(flat) * 3 - 7) << "element " << flat;
          continue;
        }
        if (c.dataset == "/holes" && (row < 100 || row >= 400)) want = -7.0f;  // the fill value
        if (c.dataset == "/holes_fill_never" && (row < 100 || row >= 400)) want = 0.0f;  // not the buffer's 12345
        ASSERT_EQ(buf[i], want) << "element " << flat;
      }
    }
  }
}

TEST_F(Hdf5ReaderDirect, ImagesChunkedByWholeRowsReadDirectly) {
  auto r = Hdf5Reader::open(path_, "/images", MPI_COMM_WORLD);
  ASSERT_TRUE(all_ranks(r.ok())) << r.status().message();
  EXPECT_TRUE(r.value()->direct_reads());
  for (const auto& [begin, count] : ranges()) {
    std::vector<uint8_t> buf(static_cast<std::size_t>(count * 24), 0);
    ASSERT_TRUE(r.value()->read_rows(begin, count, reinterpret_cast<std::byte*>(buf.data())).ok());
    for (int64_t i = 0; i < count * 24; ++i) {
      ASSERT_EQ(buf[i], static_cast<uint8_t>((begin * 24 + i) * 7 % 251)) << "rows from " << begin << ", byte " << i;
    }
  }
}

TEST_F(Hdf5ReaderDirect, ManySmallChunksAreReadThroughHdf5) {
  auto r = Hdf5Reader::open(path_, "/tiny_chunks", MPI_COMM_WORLD);
  ASSERT_TRUE(all_ranks(r.ok())) << r.status().message();
  EXPECT_FALSE(r.value()->direct_reads());
  EXPECT_NE(r.value()->read_mode().find("5000 chunks of 4 bytes"), std::string::npos) << r.value()->read_mode();
  std::vector<float> buf(5000);
  ASSERT_TRUE(r.value()->read_rows(0, 5000, reinterpret_cast<std::byte*>(buf.data())).ok());
  for (int64_t i = 0; i < 5000; ++i) ASSERT_EQ(buf[static_cast<std::size_t>(i)], value(i)) << "row " << i;
}

TEST_F(Hdf5ReaderDirect, TheSwitchTurnsDirectReadsOff) {
  setenv("SHARDSCORE_HDF5_DIRECT", "0", 1);
  auto r = Hdf5Reader::open(path_, "/contiguous", MPI_COMM_WORLD);
  unsetenv("SHARDSCORE_HDF5_DIRECT");
  ASSERT_TRUE(all_ranks(r.ok())) << r.status().message();
  EXPECT_FALSE(r.value()->direct_reads());
  std::vector<float> buf(10 * kCols);
  ASSERT_TRUE(r.value()->read_rows(990, 10, reinterpret_cast<std::byte*>(buf.data())).ok());
  EXPECT_EQ(buf.back(), value(1000 * kCols - 1));
}

// The same read through HDF5: MPI-IO gives zeros past the end of the file, which H5Dread returned as
// rows (exit 0, the rest of the input scored as zeros); the size the file had when opened catches it.
TEST_F(Hdf5ReaderDirect, AFileTruncatedAfterOpenIsDataLossThroughHdf5Too) {
  const std::string mine = path_ + ".hdf5.rank" + std::to_string(world_rank());
  std::filesystem::copy_file(path_, mine, std::filesystem::copy_options::overwrite_existing);
  setenv("SHARDSCORE_HDF5_DIRECT", "0", 1);
  auto r = Hdf5Reader::open(mine, "/contiguous", MPI_COMM_SELF);
  unsetenv("SHARDSCORE_HDF5_DIRECT");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_FALSE(r.value()->direct_reads());
  const auto offset = std::filesystem::file_size(mine);
  ASSERT_EQ(0, truncate(mine.c_str(), static_cast<off_t>(offset / 2)));
  std::vector<float> buf(100 * kCols);
  const Status st = r.value()->read_rows(900, 100, reinterpret_cast<std::byte*>(buf.data()));
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.message();
  EXPECT_NE(st.message().find(mine), std::string::npos) << st.message();
  std::filesystem::remove(mine);
}

// A file cut short after it was opened: the direct read names the file and the rows, and fails.
TEST_F(Hdf5ReaderDirect, AFileTruncatedAfterOpenIsDataLossNamingTheRows) {
  const std::string mine = path_ + ".rank" + std::to_string(world_rank());
  std::filesystem::copy_file(path_, mine, std::filesystem::copy_options::overwrite_existing);
  auto r = Hdf5Reader::open(mine, "/contiguous", MPI_COMM_SELF);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r.value()->direct_reads());
  ASSERT_EQ(0, truncate(mine.c_str(), 4096));
  std::vector<float> buf(100 * kCols);
  const Status st = r.value()->read_rows(900, 100, reinterpret_cast<std::byte*>(buf.data()));
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.message();
  EXPECT_NE(st.message().find(mine), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("rows [900, 1000)"), std::string::npos) << st.message();
  r.value().reset();
  std::remove(mine.c_str());
}

}  // namespace
}  // namespace shardscore
