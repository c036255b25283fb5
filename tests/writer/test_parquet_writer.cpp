// ParquetPartWriter and parquet_folder_finish, read back with Arrow C++ itself
// (parquet::arrow::OpenFile / ReadTable) and nlohmann::json: schema, values, metadata, the
// temporary name and the rename, the manifest and _SUCCESS.
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/json_simple.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <parquet/arrow/reader.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reader/parquet_reader.h"
#include "writer/parquet_writer.h"

namespace shardscore {
namespace {

namespace fs = std::filesystem;

class ParquetWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / ("shardscore-pqwriter-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Every name in the folder, sorted.
  std::vector<std::string> listing() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path dir_;
};

std::shared_ptr<arrow::Table> read_table(const std::string& file) {
  auto in = arrow::io::ReadableFile::Open(file);
  EXPECT_TRUE(in.ok()) << in.status().ToString();
  if (!in.ok()) return nullptr;
  std::unique_ptr<parquet::arrow::FileReader> reader;
  auto st = parquet::arrow::OpenFile(*in, arrow::default_memory_pool(), &reader);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return nullptr;
  std::shared_ptr<arrow::Table> table;
  st = reader->ReadTable(&table);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return nullptr;
  auto combined = table->CombineChunks();
  EXPECT_TRUE(combined.ok());
  return combined.ValueOrDie();
}

// rows x `per_row` values of `dtype`, value(r, k) for row r, element k.
template <typename T, typename F>
Tensor make_tensor(DType dtype, Shape shape, F value) {
  Tensor t(dtype, shape);
  const int64_t rows = shape[0];
  const int64_t per_row = rows == 0 ? 0 : t.numel() / rows;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < per_row; ++k) t.data<T>()[r * per_row + k] = value(r, k);
  }
  return t;
}

const std::vector<OutputColumn> kColumns = {{"score", DType::kFloat32, {3}}, {"label", DType::kInt64, {}}};

// One batch of rows [begin, begin + n): score(r, k) = r + k / 10, label(r) = 7 r.
std::vector<Tensor> batch_outputs(int64_t begin, int64_t n) {
  return {make_tensor<float>(DType::kFloat32, {n, 3}, [&](int64_t r, int64_t k) { return float(begin + r) + float(k) / 10; }),
          make_tensor<int64_t>(DType::kInt64, {n}, [&](int64_t r, int64_t) { return 7 * (begin + r); })};
}

TEST(ParquetPartName, IsZeroPaddedShardId) {
  EXPECT_EQ(parquet_part_name(0), "part-00000.parquet");
  EXPECT_EQ(parquet_part_name(42), "part-00042.parquet");
  EXPECT_EQ(parquet_part_name(1234567), "part-1234567.parquet");
}

TEST_F(ParquetWriterTest, PartHoldsRowIndexThenOutputsWithValuesAndProvenance) {
  const std::string file = path(parquet_part_name(3));
  {
    ParquetPartWriter w(file, kColumns, "row_index", {{"model_sha256", "abc123"}, {"backend", "cpu"}});
    ASSERT_TRUE(w.append(100, 5, batch_outputs(100, 5), nullptr).ok());
    ASSERT_TRUE(w.append(105, 3, batch_outputs(105, 3), nullptr).ok());
    EXPECT_EQ(w.rows(), 8);
    Status st = w.close();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  auto table = read_table(file);
  ASSERT_TRUE(table);
  ASSERT_EQ(table->num_rows(), 8);
  const auto& schema = *table->schema();
  ASSERT_EQ(schema.num_fields(), 3);
  EXPECT_EQ(schema.field(0)->name(), "row_index");
  EXPECT_TRUE(schema.field(0)->type()->Equals(arrow::int64())) << schema.field(0)->type()->ToString();
  EXPECT_EQ(schema.field(1)->name(), "score");
  EXPECT_TRUE(schema.field(1)->type()->Equals(arrow::fixed_size_list(arrow::float32(), 3)))
      << schema.field(1)->type()->ToString();
  EXPECT_EQ(schema.field(2)->name(), "label");
  EXPECT_TRUE(schema.field(2)->type()->Equals(arrow::int64())) << schema.field(2)->type()->ToString();

  const auto& index = static_cast<const arrow::Int64Array&>(*table->column(0)->chunk(0));
  const auto& score = static_cast<const arrow::FixedSizeListArray&>(*table->column(1)->chunk(0));
  const auto& score_values = static_cast<const arrow::FloatArray&>(*score.values());
  const auto& label = static_cast<const arrow::Int64Array&>(*table->column(2)->chunk(0));
  for (int64_t r = 0; r < 8; ++r) {
    EXPECT_EQ(index.Value(r), 100 + r);
    EXPECT_EQ(label.Value(r), 7 * (100 + r));
    for (int64_t k = 0; k < 3; ++k) {
      EXPECT_EQ(score_values.Value(score.value_offset(r) + k), float(100 + r) + float(k) / 10) << r << "," << k;
    }
  }
  EXPECT_EQ(table->column(0)->null_count() + table->column(1)->null_count() + table->column(2)->null_count(), 0);

  auto meta = schema.metadata();
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->Get("model_sha256").ValueOr(""), "abc123");
  EXPECT_EQ(meta->Get("backend").ValueOr(""), "cpu");
  EXPECT_EQ(meta->Get("shardscore.row_shape.score").ValueOr(""), shape_to_string({3}));
  EXPECT_FALSE(meta->Contains("shardscore.row_shape.label"));  // one value per row
}

TEST_F(ParquetWriterTest, IdsFromTheInputKeepTheirTypeValuesAndNulls) {
  const std::string file = path("part-00000.parquet");
  auto ids_a = arrow::ipc::internal::json::ArrayFromJSON(arrow::utf8(), R"(["u1", null, "u3"])").ValueOrDie();
  auto ids_b = arrow::ipc::internal::json::ArrayFromJSON(arrow::utf8(), R"(["u4", "u5"])").ValueOrDie();
  {
    ParquetPartWriter w(file, kColumns, "user", {});
    RowIds a{ids_a}, b{ids_b};
    ASSERT_TRUE(w.append(0, 3, batch_outputs(0, 3), &a).ok());
    ASSERT_TRUE(w.append(3, 2, batch_outputs(3, 2), &b).ok());
    ASSERT_TRUE(w.close().ok());
  }
  auto table = read_table(file);
  ASSERT_TRUE(table);
  ASSERT_EQ(table->num_rows(), 5);
  EXPECT_EQ(table->schema()->field(0)->name(), "user");
  EXPECT_TRUE(table->schema()->field(0)->type()->Equals(arrow::utf8())) << table->schema()->field(0)->type()->ToString();
  auto want = arrow::ipc::internal::json::ArrayFromJSON(arrow::utf8(), R"(["u1", null, "u3", "u4", "u5"])").ValueOrDie();
  EXPECT_TRUE(table->column(0)->chunk(0)->Equals(*want)) << table->column(0)->chunk(0)->ToString();
  EXPECT_EQ(static_cast<const arrow::Int64Array&>(*table->column(2)->chunk(0)).Value(4), 28);
}

// A dictionary-of-strings id column (allowed by the reader) arrives with its row group's own
// dictionary in every batch: the values must survive even though the dictionaries differ.
TEST_F(ParquetWriterTest, DictionaryIdsWithADifferentDictionaryPerBatch) {
  const std::string file = path("part-00000.parquet");
  const auto type = arrow::dictionary(arrow::int32(), arrow::utf8());
  std::shared_ptr<arrow::Array> a, b;
  ASSERT_TRUE(arrow::ipc::internal::json::DictArrayFromJSON(type, "[0, 1, 0]", R"(["x", "y"])", &a).ok());
  ASSERT_TRUE(arrow::ipc::internal::json::DictArrayFromJSON(type, "[1, null]", R"(["z", "x"])", &b).ok());
  {
    ParquetPartWriter w(file, kColumns, "key", {});
    RowIds ia{a}, ib{b};
    Status st = w.append(0, 3, batch_outputs(0, 3), &ia);
    ASSERT_TRUE(st.ok()) << st.message();
    st = w.append(3, 2, batch_outputs(3, 2), &ib);
    ASSERT_TRUE(st.ok()) << st.message();
    st = w.close();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  auto table = read_table(file);
  ASSERT_TRUE(table);
  ASSERT_EQ(table->num_rows(), 5);
  // Decode whatever encoding came back to plain strings.
  auto col = table->column(0)->chunk(0);
  std::vector<std::string> got;
  for (int64_t r = 0; r < col->length(); ++r) {
    auto scalar = col->GetScalar(r).ValueOrDie();
    if (!scalar->is_valid) {
      got.push_back("<null>");
    } else if (scalar->type->id() == arrow::Type::DICTIONARY) {
      got.push_back(static_cast<const arrow::DictionaryScalar&>(*scalar).GetEncodedValue().ValueOrDie()->ToString());
    } else {
      got.push_back(scalar->ToString());
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{"x", "y", "x", "x", "<null>"}));
}

TEST_F(ParquetWriterTest, BoolFloat16AndMultiDimensionalOutputs) {
  const std::vector<OutputColumn> cols = {
      {"is_fraud", DType::kBool, {}}, {"half", DType::kFloat16, {}}, {"grid", DType::kInt32, {2, 2}}};
  const std::string file = path("part-00001.parquet");
  const uint16_t half_bits[] = {0x3C00 /* 1.0 */, 0xC000 /* -2.0 */, 0x0000};
  {
    ParquetPartWriter w(file, cols, "row_index", {});
    std::vector<Tensor> out = {
        make_tensor<uint8_t>(DType::kBool, {3}, [](int64_t r, int64_t) { return uint8_t(r % 2); }),
        make_tensor<uint16_t>(DType::kFloat16, {3}, [&](int64_t r, int64_t) { return half_bits[r]; }),
        make_tensor<int32_t>(DType::kInt32, {3, 2, 2}, [](int64_t r, int64_t k) { return int32_t(10 * r + k); })};
    Status st = w.append(0, 3, out, nullptr);
    ASSERT_TRUE(st.ok()) << st.message();
    st = w.close();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  auto table = read_table(file);
  ASSERT_TRUE(table);
  const auto& schema = *table->schema();
  ASSERT_EQ(schema.num_fields(), 4);
  EXPECT_TRUE(schema.field(1)->type()->Equals(arrow::boolean())) << schema.field(1)->type()->ToString();
  EXPECT_TRUE(schema.field(2)->type()->Equals(arrow::float16())) << schema.field(2)->type()->ToString();
  EXPECT_TRUE(schema.field(3)->type()->Equals(arrow::fixed_size_list(arrow::int32(), 4))) << schema.field(3)->type()->ToString();
  EXPECT_EQ(schema.metadata()->Get("shardscore.row_shape.grid").ValueOr(""), shape_to_string({2, 2}));

  const auto& flag = static_cast<const arrow::BooleanArray&>(*table->column(1)->chunk(0));
  const auto& half = static_cast<const arrow::HalfFloatArray&>(*table->column(2)->chunk(0));
  const auto& grid = static_cast<const arrow::FixedSizeListArray&>(*table->column(3)->chunk(0));
  const auto& grid_values = static_cast<const arrow::Int32Array&>(*grid.values());
  for (int64_t r = 0; r < 3; ++r) {
    EXPECT_EQ(flag.Value(r), r % 2 == 1) << r;
    EXPECT_EQ(half.Value(r), half_bits[r]) << r;
    for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(grid_values.Value(grid.value_offset(r) + k), 10 * r + k);
  }
}

TEST_F(ParquetWriterTest, RowsGoToAHiddenTemporaryFileRenamedByClose) {
  const std::string file = path("part-00007.parquet");
  ParquetPartWriter w(file, kColumns, "row_index", {});
  EXPECT_EQ(w.path(), file);
  EXPECT_TRUE(listing().empty());  // nothing before the first rows
  ASSERT_TRUE(w.append(0, 4, batch_outputs(0, 4), nullptr).ok());
  EXPECT_EQ(listing(), std::vector<std::string>{".part-00007.parquet.tmp"});
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(listing(), std::vector<std::string>{"part-00007.parquet"});
  EXPECT_EQ(read_table(file)->num_rows(), 4);

  // After close: no more rows, and destroying it leaves the finished file alone.
  Status st = w.append(4, 1, batch_outputs(4, 1), nullptr);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInternal);
}

TEST_F(ParquetWriterTest, UnfinishedFileIsRemovedAndNeverAppearsUnderItsFinalName) {
  {
    ParquetPartWriter w(path("part-00002.parquet"), kColumns, "row_index", {});
    ASSERT_TRUE(w.append(0, 4, batch_outputs(0, 4), nullptr).ok());
    EXPECT_EQ(listing(), std::vector<std::string>{".part-00002.parquet.tmp"});
  }  // destroyed without close(): a failing run
  EXPECT_TRUE(listing().empty());
  {
    ParquetPartWriter w(path("part-00003.parquet"), kColumns, "row_index", {});
    Status st = w.close();  // no rows: an error, and no file
    EXPECT_EQ(st.code(), StatusCode::kInternal);
  }
  EXPECT_TRUE(listing().empty());
}

TEST_F(ParquetWriterTest, MismatchedOrUnwritableOutputsAreErrors) {
  ParquetPartWriter w(path("part-00000.parquet"), kColumns, "row_index", {});
  // Wrong number of outputs, wrong row count, wrong dtype.
  EXPECT_EQ(w.append(0, 2, {batch_outputs(0, 2)[0]}, nullptr).code(), StatusCode::kInternal);
  EXPECT_EQ(w.append(0, 3, batch_outputs(0, 2), nullptr).code(), StatusCode::kInternal);
  std::vector<Tensor> wrong = batch_outputs(0, 2);
  wrong[1] = make_tensor<int32_t>(DType::kInt32, {2}, [](int64_t r, int64_t) { return int32_t(r); });
  EXPECT_EQ(w.append(0, 2, wrong, nullptr).code(), StatusCode::kInternal);

  // Ids whose count does not match the rows.
  auto ids = arrow::ipc::internal::json::ArrayFromJSON(arrow::int64(), "[1, 2, 3]").ValueOrDie();
  RowIds short_ids{ids};
  ParquetPartWriter w2(path("part-00001.parquet"), kColumns, "id", {});
  EXPECT_EQ(w2.append(0, 2, batch_outputs(0, 2), &short_ids).code(), StatusCode::kInternal);

  // Ids of another type than the file's id column, or none after ids: the file would mix them
  // (the contract forbids it; Arrow's own type check turns it into an error, not a mixed file).
  ParquetPartWriter w4(path("part-00004.parquet"), kColumns, "id", {});
  RowIds strings{arrow::ipc::internal::json::ArrayFromJSON(arrow::utf8(), R"(["a", "b"])").ValueOrDie()};
  RowIds ints{arrow::ipc::internal::json::ArrayFromJSON(arrow::int64(), "[1, 2]").ValueOrDie()};
  ASSERT_TRUE(w4.append(0, 2, batch_outputs(0, 2), &strings).ok());
  EXPECT_FALSE(w4.append(2, 2, batch_outputs(2, 2), &ints).ok());
  EXPECT_FALSE(w4.append(2, 2, batch_outputs(2, 2), nullptr).ok());
  ParquetPartWriter w5(path("part-00005.parquet"), kColumns, "row_index", {});
  ASSERT_TRUE(w5.append(0, 2, batch_outputs(0, 2), nullptr).ok());
  EXPECT_FALSE(w5.append(2, 2, batch_outputs(2, 2), &strings).ok());

  // A folder that does not exist: Unavailable, naming the file.
  ParquetPartWriter w3(path("no/such/dir/part-00000.parquet"), kColumns, "row_index", {});
  Status st = w3.append(0, 2, batch_outputs(0, 2), nullptr);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("part-00000.parquet"), std::string::npos) << st.message();
}

TEST_F(ParquetWriterTest, PartThatCannotBeCreatedForLackOfFileDescriptorsIsOneClearError) {
  // The process's open file limit lowered to the descriptors it holds: the part file's open() gets
  // EMFILE. One Unavailable naming the file and the errno (once), and nothing left in the folder.
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  std::vector<int> fds;  // fill every descriptor below the lowered limit, wherever the gaps are
  struct rlimit low = old;
  low.rlim_cur = 64;
  if (low.rlim_max != RLIM_INFINITY && low.rlim_max < low.rlim_cur) GTEST_SKIP() << "hard limit below 64";
  ParquetPartWriter w(path("part-00009.parquet"), kColumns, "row_index", {});
  std::vector<Tensor> outputs = batch_outputs(0, 4);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fds.push_back(fd);
  const int err = errno;
  const Status st = w.append(0, 4, outputs, nullptr);
  for (int fd : fds) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_EQ(err, EMFILE);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  const std::string file = path(".part-00009.parquet.tmp");
  EXPECT_NE(st.message().find("cannot create output file '" + file + "'"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find(file), st.message().rfind(file)) << "names the file once: " << st.message();
  EXPECT_NE(st.message().find(std::strerror(EMFILE)), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("ulimit -n"), std::string::npos) << st.message();
  EXPECT_TRUE(listing().empty());
  // Descriptors back: the same writer creates its file.
  ASSERT_TRUE(w.append(0, 4, outputs, nullptr).ok());
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(listing(), std::vector<std::string>{"part-00009.parquet"});
}

TEST_F(ParquetWriterTest, FolderFinishWritesTheManifestThenSuccess) {
  std::vector<ParquetPart> parts = {{"part-00000.parquet", 0, 0, 64, "aa"}, {"part-00001.parquet", 1, 64, 36, "bb"}};
  Status st = parquet_folder_finish(dir_.string(), parts, {"row_index", "score", "label"}, 100,
                                    {{"model_sha256", "abc123"}, {"num_ranks", "3"}});
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(listing(), (std::vector<std::string>{"_SUCCESS", "_manifest.json"}));  // no temporary left
  EXPECT_EQ(fs::file_size(dir_ / "_SUCCESS"), 0u);

  std::ifstream in(dir_ / "_manifest.json");
  const nlohmann::json m = nlohmann::json::parse(in);
  EXPECT_EQ(m.at("format"), "shardscore-parquet-1");
  EXPECT_EQ(m.at("rows"), 100);
  EXPECT_EQ(m.at("columns"), nlohmann::json({"row_index", "score", "label"}));
  ASSERT_EQ(m.at("files").size(), 2u);
  EXPECT_EQ(m.at("files")[1].at("path"), "part-00001.parquet");
  EXPECT_EQ(m.at("files")[1].at("shard"), 1);
  EXPECT_EQ(m.at("files")[1].at("row_begin"), 64);
  EXPECT_EQ(m.at("files")[1].at("rows"), 36);
  EXPECT_EQ(m.at("files")[1].at("sha256"), "bb");
  EXPECT_EQ(m.at("files")[0].at("rows"), 64);
  EXPECT_EQ(m.at("provenance").at("model_sha256"), "abc123");
  EXPECT_EQ(m.at("provenance").at("num_ranks"), "3");
}

TEST_F(ParquetWriterTest, FolderFinishFailsWithoutLeavingSuccess) {
  const std::string missing = path("gone");
  Status st = parquet_folder_finish(missing, {}, {"row_index"}, 0, {});
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("gone"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(fs::path(missing) / "_SUCCESS"));
}

}  // namespace
}  // namespace shardscore
