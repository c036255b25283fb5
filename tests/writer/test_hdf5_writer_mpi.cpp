#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdio>
#include <numeric>

#include "common/mpi_test_util.h"
#include "shard/shard_plan.h"
#include "writer/hdf5_writer.h"

namespace shardscore {
namespace {
using namespace shardscore::testing;

// Every rank writes its shards' rows in rounds (ranks with fewer batches write nothing), exactly as
// the job does; then the file is read back serially and every value checked.
TEST(Hdf5WriterMpi, CollectiveRoundsPlaceEveryRowByGlobalIndex) {
  const int rank = world_rank(), size = world_size();
  const std::string path = shared_temp_path("writer.h5");
  const int64_t rows = 1003;
  std::vector<OutputColumn> cols{{"score", DType::kFloat32, {2}}, {"label", DType::kInt64, {}}};
  hdf5_silence_errors();
  auto w = Hdf5Writer::create(path, rows, cols, MPI_COMM_WORLD);
  ASSERT_TRUE(all_ranks(w.ok())) << w.status().message();

  auto plan = shard_plan_make(rows, 50, 200, size).value();
  auto batches = shard_plan_batches(shard_plan_for_rank(plan, rank), 64);
  const int64_t rounds = shard_plan_max_batches(plan, 64);
  for (int64_t i = 0; i < rounds; ++i) {
    if (i < static_cast<int64_t>(batches.size())) {
      const Batch& b = batches[static_cast<std::size_t>(i)];
      Tensor score(DType::kFloat32, {b.rows(), 2});
      Tensor label(DType::kInt64, {b.rows()});
      for (int64_t r = 0; r < b.rows(); ++r) {
        score.data<float>()[2 * r] = static_cast<float>(b.row_begin + r);
        score.data<float>()[2 * r + 1] = -static_cast<float>(b.row_begin + r);
        label.data<int64_t>()[r] = (b.row_begin + r) * 7;
      }
      ASSERT_TRUE(w.value()->write_rows(b.row_begin, b.rows(), {score, label}).ok());
    } else {
      ASSERT_TRUE(w.value()->write_nothing().ok());
    }
  }
  ASSERT_TRUE(w.value()->write_attributes({{"backend", "cpu"}}, {{"num_ranks", size}}).ok());
  // The point of parallel HDF5 here: HDF5 must report that no write fell back to independent I/O.
  EXPECT_TRUE(w.value()->all_writes_collective()) << "H5Pget_mpio_no_collective_cause: 0x" << std::hex
                                                  << w.value()->no_collective_cause();
  ASSERT_TRUE(w.value()->close().ok());
  MPI_Barrier(MPI_COMM_WORLD);

  if (rank == 0) {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    std::vector<float> score(static_cast<std::size_t>(rows * 2));
    std::vector<int64_t> label(static_cast<std::size_t>(rows)), index(static_cast<std::size_t>(rows));
    hid_t d = H5Dopen2(f, "score", H5P_DEFAULT);
    ASSERT_GE(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, score.data()), 0);
    H5Dclose(d);
    d = H5Dopen2(f, "label", H5P_DEFAULT);
    ASSERT_GE(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, label.data()), 0);
    H5Dclose(d);
    d = H5Dopen2(f, "row_index", H5P_DEFAULT);
    ASSERT_GE(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, index.data()), 0);
    H5Dclose(d);
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_EQ(score[2 * r], static_cast<float>(r)) << r;
      ASSERT_EQ(score[2 * r + 1], -static_cast<float>(r)) << r;
      ASSERT_EQ(label[r], r * 7) << r;
      ASSERT_EQ(index[r], r) << r;
    }
    int64_t n = 0;
    hid_t a = H5Aopen(f, "num_ranks", H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_INT64, &n);
    H5Aclose(a);
    EXPECT_EQ(n, size);
    H5Fclose(f);
    std::remove(path.c_str());
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(Hdf5WriterMpi, AnUnwritableFolderIsAnErrorOnEveryRank) {
  hdf5_silence_errors();
  auto w = Hdf5Writer::create("/nonexistent-folder/out.h5", 10, {{"y", DType::kFloat32, {}}}, MPI_COMM_WORLD);
  EXPECT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("/nonexistent-folder/out.h5"), std::string::npos) << w.status().message();
}

}  // namespace
}  // namespace shardscore
