#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdio>
#include <fstream>

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

}  // namespace
}  // namespace shardscore
