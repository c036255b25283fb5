// ParquetReader against files written here with Arrow C++ itself (parquet::arrow::WriteTable with
// small row groups): the fixture is independent of our writer, and every value read is compared
// with the value put in.
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/json_simple.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "reader/parquet_reader.h"

namespace shardscore {
namespace {

namespace fs = std::filesystem;
using arrow::ipc::internal::json::ArrayFromJSON;

// A fresh folder per test, removed after it.
class ParquetReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("shardscore-pqreader-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

std::shared_ptr<arrow::Array> json_array(const std::shared_ptr<arrow::DataType>& type, const std::string& json) {
  auto r = ArrayFromJSON(type, json);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ValueOrDie();
}

std::shared_ptr<arrow::Array> dict_array(const std::string& indices, const std::string& dict) {
  std::shared_ptr<arrow::Array> out;
  auto st = arrow::ipc::internal::json::DictArrayFromJSON(arrow::dictionary(arrow::int32(), arrow::utf8()), indices, dict, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

// Writes columns (name, values) as one Parquet file with row groups of `group_rows` rows; the Arrow
// schema is stored too, so dictionary columns come back as dictionaries.
void write_parquet(const std::string& file, const std::vector<std::pair<std::string, std::shared_ptr<arrow::Array>>>& cols,
                   int64_t group_rows) {
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  for (const auto& [name, a] : cols) {
    fields.push_back(arrow::field(name, a->type()));
    arrays.push_back(a);
  }
  auto table = arrow::Table::Make(arrow::schema(fields), arrays);
  auto out = arrow::io::FileOutputStream::Open(file).ValueOrDie();
  auto arrow_props = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  auto st = parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), out, group_rows,
                                       parquet::default_writer_properties(), arrow_props);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(out->Close().ok());
}

std::vector<float> read_all(ParquetReader& r, int64_t row_begin, int64_t count) {
  // Poisoned with a value no test writes, so rows left unwritten cannot pass.
  std::vector<float> out(static_cast<std::size_t>(count * r.row_elements()), -12345.0f);
  Status st = r.read_rows(row_begin, count, reinterpret_cast<std::byte*>(out.data()));
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST_F(ParquetReaderTest, RowGroupsOfOneFileAreListedInOrderWithTheirRowCounts) {
  write_parquet(path("a.parquet"),
                {{"x", json_array(arrow::float64(), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]")}}, /*group_rows=*/4);
  auto r = ParquetReader::open(path("a.parquet"), {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ParquetReader& reader = *r.value();
  EXPECT_EQ(reader.rows(), 10);
  EXPECT_EQ(reader.row_shape(), std::vector<int64_t>{1});
  EXPECT_EQ(reader.dtype(), DType::kFloat32);
  ASSERT_EQ(reader.row_groups().size(), 3u);
  const int64_t begins[] = {0, 4, 8}, rows[] = {4, 4, 2};
  for (int g = 0; g < 3; ++g) {
    EXPECT_EQ(reader.row_groups()[g].file, 0);
    EXPECT_EQ(reader.row_groups()[g].index, g);
    EXPECT_EQ(reader.row_groups()[g].row_begin, begins[g]);
    EXPECT_EQ(reader.row_groups()[g].rows, rows[g]);
  }
  // A read that starts inside one row group and ends inside another.
  EXPECT_EQ(read_all(reader, 3, 6), (std::vector<float>{3, 4, 5, 6, 7, 8}));
  // Backwards again (the reader keeps one row group loaded).
  EXPECT_EQ(read_all(reader, 0, 2), (std::vector<float>{0, 1}));
}

TEST_F(ParquetReaderTest, FolderReadsDataFilesByNameAndSkipsMarkers) {
  fs::create_directories(dir_ / "in");
  write_parquet(path("in/part-1.parquet"), {{"x", json_array(arrow::int32(), "[10, 11, 12]")}}, 2);
  write_parquet(path("in/part-0.parquet"), {{"x", json_array(arrow::int32(), "[0, 1, 2, 3, 4]")}}, 2);
  write_parquet(path("in/part-2.pq"), {{"x", json_array(arrow::int32(), "[20]")}}, 2);
  std::ofstream(path("in/_SUCCESS")).close();
  std::ofstream(path("in/.part-3.parquet.tmp")) << "not parquet";
  std::ofstream(path("in/notes.txt")) << "not parquet";

  auto r = ParquetReader::open(path("in"), {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ParquetReader& reader = *r.value();
  ASSERT_EQ(reader.files().size(), 3u);
  EXPECT_TRUE(reader.files()[0].ends_with("part-0.parquet"));
  EXPECT_TRUE(reader.files()[1].ends_with("part-1.parquet"));
  EXPECT_TRUE(reader.files()[2].ends_with("part-2.pq"));
  EXPECT_EQ(reader.rows(), 9);
  // part-0: groups of 2, 2, 1; part-1: 2, 1; part-2: 1.
  ASSERT_EQ(reader.row_groups().size(), 6u);
  const int files[] = {0, 0, 0, 1, 1, 2}, index[] = {0, 1, 2, 0, 1, 0};
  const int64_t begins[] = {0, 2, 4, 5, 7, 8};
  for (std::size_t g = 0; g < 6; ++g) {
    EXPECT_EQ(reader.row_groups()[g].file, files[g]) << g;
    EXPECT_EQ(reader.row_groups()[g].index, index[g]) << g;
    EXPECT_EQ(reader.row_groups()[g].row_begin, begins[g]) << g;
  }
  EXPECT_EQ(read_all(reader, 0, 9), (std::vector<float>{0, 1, 2, 3, 4, 10, 11, 12, 20}));
  EXPECT_EQ(read_all(reader, 4, 3), (std::vector<float>{4, 10, 11}));  // across files
}

TEST_F(ParquetReaderTest, FolderTakesEveryCaseOfTheExtensionAndRefusesWhatItCannotRead) {
  // An upper-case extension is a data file too.
  fs::create_directories(dir_ / "upper");
  write_parquet(path("upper/a.parquet"), {{"x", json_array(arrow::int32(), "[1, 2]")}}, 2);
  write_parquet(path("upper/b.PARQUET"), {{"x", json_array(arrow::int32(), "[3]")}}, 2);
  write_parquet(path("upper/c.Pq"), {{"x", json_array(arrow::int32(), "[4]")}}, 2);
  fs::create_directories(dir_ / "upper/_temporary/0");  // Spark's leftovers, and a folder of no data: skipped
  write_parquet(path("upper/_temporary/0/part.parquet"), {{"x", json_array(arrow::int32(), "[9]")}}, 2);
  fs::create_directories(dir_ / "upper/logs");
  std::ofstream(path("upper/logs/run.txt")) << "not parquet";
  auto r = ParquetReader::open(path("upper"), {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value()->files().size(), 3u);
  EXPECT_EQ(read_all(*r.value(), 0, 4), (std::vector<float>{1, 2, 3, 4}));

  // Rows that would not be read are an error naming the entry, never skipped: a link whose file is
  // gone (purged scratch), a folder of Parquet files inside (Spark's table folder, Hive partitions).
  struct Case {
    std::string folder, entry, says;
    StatusCode code;
  };
  for (const Case& c : {Case{"link", "b.parquet", "which does not exist", StatusCode::kNotFound},
                        Case{"loop", "c.parquet", "which cannot be followed: Too many levels of symbolic links",
                             StatusCode::kNotFound},
                        Case{"spark", "b.parquet", "would not be read", StatusCode::kInvalidArgument},
                        Case{"hive", "date=2", "would not be read", StatusCode::kInvalidArgument}}) {
    SCOPED_TRACE(c.folder);
    fs::create_directories(dir_ / c.folder);
    write_parquet(path(c.folder + "/a.parquet"), {{"x", json_array(arrow::int32(), "[1, 2]")}}, 2);
    if (c.folder == "link") {
      fs::create_symlink(dir_ / "gone.parquet", dir_ / c.folder / c.entry);
    } else if (c.folder == "loop") {
      fs::create_symlink(dir_ / c.folder / c.entry, dir_ / c.folder / c.entry);
    } else {
      fs::create_directories(dir_ / c.folder / c.entry / "sub");
      write_parquet(path(c.folder + "/" + c.entry + "/sub/part-0.parquet"), {{"x", json_array(arrow::int32(), "[3]")}}, 2);
    }
    auto e = ParquetReader::open(path(c.folder), {});
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.status().code(), c.code) << e.status().message();
    EXPECT_TRUE(contains(e.status().message(), "'" + c.entry + "'")) << e.status().message();
    EXPECT_TRUE(contains(e.status().message(), c.says)) << e.status().message();
  }
}

TEST_F(ParquetReaderTest, SelectedColumnsComeInTheGivenOrderAndOthersAreNeverRead) {
  write_parquet(path("a.parquet"),
                {{"a", json_array(arrow::float32(), "[1, 2, 3]")},
                 {"b", json_array(arrow::float32(), "[10, 20, 30]")},
                 {"c", json_array(arrow::int64(), "[100, 200, 300]")},
                 // Not a feature type: fine as long as nobody asks for it.
                 {"tags", json_array(arrow::list(arrow::int32()), "[[1], [], [2, 3]]")},
                 {"name", json_array(arrow::utf8(), R"(["p", "q", "r"])")},
                 // After a nested column: leaf and field indices differ from here on.
                 {"z", json_array(arrow::float64(), "[-1, -2, -3]")}},
                2);
  ParquetInputSpec spec;
  spec.columns = {"c", "z", "a"};
  auto r = ParquetReader::open(path("a.parquet"), spec);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value()->feature_columns(), (std::vector<std::string>{"c", "z", "a"}));
  EXPECT_EQ(r.value()->row_elements(), 3);
  EXPECT_EQ(r.value()->describe_columns(), "c, z, a (3 columns)");
  EXPECT_EQ(read_all(*r.value(), 0, 3), (std::vector<float>{100, -1, 1, 200, -2, 2, 300, -3, 3}));
}

TEST_F(ParquetReaderTest, DefaultFeaturesAreTheNumberColumnsExceptIdAndLabel) {
  write_parquet(path("a.parquet"),
                {{"id", json_array(arrow::int64(), "[7, 8]")},
                 {"f1", json_array(arrow::float64(), "[0.5, 1.5]")},
                 {"name", json_array(arrow::utf8(), R"(["p", "q"])")},
                 {"flag", json_array(arrow::boolean(), "[true, false]")},
                 {"y", json_array(arrow::int32(), "[1, 0]")}},
                2);
  ParquetInputSpec spec;
  spec.id_column = "id";
  spec.label_column = "y";
  auto r = ParquetReader::open(path("a.parquet"), spec);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value()->feature_columns(), (std::vector<std::string>{"f1", "flag"}));
  EXPECT_EQ(read_all(*r.value(), 0, 2), (std::vector<float>{0.5f, 1, 1.5f, 0}));
  // What is left out is named with its type, for the error when the feature count is off.
  EXPECT_EQ(r.value()->left_out_columns(), (std::vector<std::string>{"name (string)"}));
}

TEST_F(ParquetReaderTest, AColumnNameTwiceIsAnErrorNotAMissingColumn) {
  write_parquet(path("dup.parquet"),
                {{"f1", json_array(arrow::float64(), "[0.5, 1.5]")}, {"f1", json_array(arrow::float64(), "[2, 3]")}}, 2);
  for (const bool named : {true, false}) {
    ParquetInputSpec spec;
    if (named) spec.columns = {"f1"};
    auto r = ParquetReader::open(path("dup.parquet"), spec);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().message();
    EXPECT_TRUE(contains(r.status().message(), "has 2 columns named 'f1'")) << r.status().message();
  }
}

TEST_F(ParquetReaderTest, IntegerFloatAndBoolColumnsConvertToFloat32) {
  write_parquet(path("a.parquet"),
                {{"i8", json_array(arrow::int8(), "[-128, 127, 0]")},
                 {"i16", json_array(arrow::int16(), "[-32768, 32767, -1]")},
                 {"i32", json_array(arrow::int32(), "[-16777216, 16777216, 5]")},
                 {"i64", json_array(arrow::int64(), "[-4096, 1099511627776, 3]")},
                 {"u8", json_array(arrow::uint8(), "[0, 255, 1]")},
                 {"u16", json_array(arrow::uint16(), "[0, 65535, 2]")},
                 {"u32", json_array(arrow::uint32(), "[0, 4294967295, 3]")},
                 {"u64", json_array(arrow::uint64(), "[0, 18446744073709551615, 4]")},
                 {"f32", json_array(arrow::float32(), "[-0.25, 3.5, 1e30]")},
                 {"f64", json_array(arrow::float64(), "[0.1, -2.75, 1e-3]")},
                 {"b", json_array(arrow::boolean(), "[true, false, true]")}},
                2);
  auto r = ParquetReader::open(path("a.parquet"), {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r.value()->row_elements(), 11);
  const std::vector<float> got = read_all(*r.value(), 0, 3);
  const std::vector<float> want = {
      -128, -32768, -16777216, -4096, 0, 0, 0, 0, -0.25f, 0.1f, 1,
      127, 32767, 16777216, 1099511627776.0f, 255, 65535, 4294967295.0f, 18446744073709551615.0f, 3.5f, -2.75f, 0,
      0, -1, 5, 3, 1, 2, 3, 4, 1e30f, 1e-3f, 1};
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "element " << i;
}

// A float64 model input (ParquetInputSpec::dtype kFloat64): every column converted to double, a
// double column exactly (0.1 and 2^53 + 1's neighbours are not floats), nulls NaN, vocabulary codes.
TEST_F(ParquetReaderTest, Float64RowsKeepDoubleColumnsExact) {
  write_parquet(path("a.parquet"),
                {{"f64", json_array(arrow::float64(), "[0.1, null, 9007199254740992, -1e-300]")},
                 {"i64", json_array(arrow::int64(), "[9007199254740993, -3, null, 0]")},
                 {"f32", json_array(arrow::float32(), "[0.25, 1e30, -2.5, null]")},
                 {"b", json_array(arrow::boolean(), "[true, false, null, true]")},
                 {"s", json_array(arrow::utf8(), R"(["x", "y", null, "zz"])")}},
                3);
  ParquetInputSpec spec;
  spec.categories = {{"s", {"y", "x"}}};
  spec.dtype = DType::kFloat64;
  auto r = ParquetReader::open(path("a.parquet"), spec);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r.value()->dtype(), DType::kFloat64);
  ASSERT_EQ(r.value()->row_elements(), 5);
  std::vector<double> got(20, -12345.0);
  ASSERT_TRUE(r.value()->read_rows(0, 4, reinterpret_cast<std::byte*>(got.data())).ok());
  const double nan = NAN;
  // Rows of f64, i64 (2^53 + 1 rounds to 2^53, as a double holds it), f32, b, s (codes: y 0, x 1, unknown 2).
  const std::vector<double> want = {0.1,     9007199254740992.0, 0.25,  1,   1,    //
                                    nan,     -3,                 1e30f, 0,   0,    //
                                    0x1p53,  nan,                -2.5,  nan, nan,  //
                                    -1e-300, 0,                  nan,   1,   2};
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i << " is " << got[i];
    } else {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
    }
  }
  EXPECT_NE(got[0], static_cast<double>(0.1f)) << "0.1 went through float32";
  ParquetInputSpec bad;
  bad.dtype = DType::kInt32;
  EXPECT_FALSE(ParquetReader::open(path("a.parquet"), bad).ok());
}

// Half-precision floats (Parquet's FLOAT16 logical type; what our writer makes of float16 outputs).
TEST_F(ParquetReaderTest, Float16ColumnsConvertToFloat32) {
  // 1.0, -2.0, null, 0.5, 65504 (the largest half), as bits.
  auto bits = json_array(arrow::uint16(), "[15360, 49152, null, 14336, 31743]");
  auto half_data = bits->data()->Copy();
  half_data->type = arrow::float16();
  auto half = arrow::MakeArray(half_data);
  write_parquet(path("a.parquet"), {{"h", half}, {"x", json_array(arrow::int32(), "[1, 2, 3, 4, 5]")}}, 2);
  auto r = ParquetReader::open(path("a.parquet"), {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value()->feature_columns(), (std::vector<std::string>{"h", "x"}));
  const std::vector<float> got = read_all(*r.value(), 0, 5);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got[0], 1.0f);
  EXPECT_EQ(got[2], -2.0f);
  EXPECT_TRUE(std::isnan(got[4])) << got[4];
  EXPECT_EQ(got[6], 0.5f);
  EXPECT_EQ(got[8], 65504.0f);
  EXPECT_EQ(got[9], 5.0f);
}

TEST_F(ParquetReaderTest, NullsBecomeNaN) {
  write_parquet(path("a.parquet"),
                {{"f", json_array(arrow::float64(), "[1.5, null, 3, null, 5]")},
                 {"i", json_array(arrow::int32(), "[null, 2, null, 4, 5]")},
                 {"b", json_array(arrow::boolean(), "[true, null, false, true, null]")}},
                2);
  auto r = ParquetReader::open(path("a.parquet"), {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::vector<float> got = read_all(*r.value(), 0, 5);
  const float nan = NAN;
  const std::vector<float> want = {1.5f, nan, 1, nan, 2, nan, 3, nan, 0, nan, 4, 1, 5, 5, nan};
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i << " is " << got[i];
    } else {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
    }
  }
}

TEST_F(ParquetReaderTest, StringAndDictionaryColumnsMapToVocabularyCodesWithAnUnknownBucket) {
  // Row groups of 3: each has its own dictionary, with the values in a different order.
  write_parquet(path("a.parquet"),
                {{"color", json_array(arrow::utf8(), R"(["red", "blue", null, "purple", "green", "red", ""])")},
                 {"size", dict_array("[0, 1, null, 2, 0, 1, 2]", R"(["L", "S", "XL"])")}},
                3);
  {  // The fixture really holds a dictionary column (so the reader's dictionary path is what runs).
    std::unique_ptr<parquet::arrow::FileReader> check;
    ASSERT_TRUE(parquet::arrow::OpenFile(arrow::io::ReadableFile::Open(path("a.parquet")).ValueOrDie(),
                                         arrow::default_memory_pool(), &check)
                    .ok());
    std::shared_ptr<arrow::Schema> schema;
    ASSERT_TRUE(check->GetSchema(&schema).ok());
    ASSERT_EQ(schema->GetFieldByName("size")->type()->id(), arrow::Type::DICTIONARY) << schema->ToString();
    ASSERT_EQ(schema->GetFieldByName("color")->type()->id(), arrow::Type::STRING) << schema->ToString();
  }
  ParquetInputSpec spec;
  spec.columns = {"color", "size"};
  spec.categories = {{"color", {"red", "green", "blue"}}, {"size", {"S", "M", "L"}}};
  auto r = ParquetReader::open(path("a.parquet"), spec);
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::vector<float> got = read_all(*r.value(), 0, 7);
  const float nan = NAN;
  // Unknown values ("purple", "", "XL") get the vocabulary's size: 3.
  std::vector<float> want = {0, 2, 2, 0, nan, nan, 3, 3, 1, 2, 0, 0, 3, 3};
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i << " is " << got[i];
    } else {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
    }
  }

  spec.unknown_code = -1;
  auto r2 = ParquetReader::open(path("a.parquet"), spec);
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  got = read_all(*r2.value(), 3, 4);  // starts in the second row group
  want = {-1, -1, 1, 2, 0, 0, -1, -1};
  EXPECT_EQ(got, want);
}

TEST_F(ParquetReaderTest, DefaultFeaturesIncludeStringColumnsGivenAVocabulary) {
  write_parquet(path("a.parquet"),
                {{"x", json_array(arrow::float32(), "[1, 2]")},
                 {"color", json_array(arrow::utf8(), R"(["b", "a"])")},
                 {"other", json_array(arrow::utf8(), R"(["q", "r"])")}},
                2);
  ParquetInputSpec spec;
  spec.categories = {{"color", {"a", "b"}}};
  auto r = ParquetReader::open(path("a.parquet"), spec);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value()->feature_columns(), (std::vector<std::string>{"x", "color"}));
  EXPECT_EQ(read_all(*r.value(), 0, 2), (std::vector<float>{1, 1, 2, 0}));
}

TEST_F(ParquetReaderTest, IdsAreReturnedAsArrowValuesAcrossRowGroups) {
  write_parquet(path("a.parquet"),
                {{"key", json_array(arrow::utf8(), R"(["k0", "k1", null, "k3", "k4"])")},
                 {"x", json_array(arrow::float32(), "[0, 1, 2, 3, 4]")}},
                2);
  ParquetInputSpec spec;
  spec.id_column = "key";
  auto r = ParquetReader::open(path("a.parquet"), spec);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r.value()->has_ids());
  EXPECT_EQ(r.value()->feature_columns(), std::vector<std::string>{"x"});
  RowIds ids;
  Status st = r.value()->read_ids(1, 4, &ids);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(ids.values);
  EXPECT_TRUE(ids.values->Equals(*json_array(arrow::utf8(), R"(["k1", null, "k3", "k4"])"))) << ids.values->ToString();
  // Rows and ids of the same range stay aligned.
  EXPECT_EQ(read_all(*r.value(), 1, 4), (std::vector<float>{1, 2, 3, 4}));
}

TEST_F(ParquetReaderTest, MissingColumnIsNotFoundNamingColumnAndFile) {
  write_parquet(path("a.parquet"), {{"x", json_array(arrow::float32(), "[1]")}}, 2);
  ParquetInputSpec spec;
  spec.columns = {"x", "weight"};
  auto r = ParquetReader::open(path("a.parquet"), spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(r.status().message(), "'weight'")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "a.parquet")) << r.status().message();

  ParquetInputSpec ids;
  ids.id_column = "uid";
  r = ParquetReader::open(path("a.parquet"), ids);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(r.status().message(), "'uid'")) << r.status().message();

  ParquetInputSpec label;
  label.label_column = "target";
  r = ParquetReader::open(path("a.parquet"), label);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(r.status().message(), "'target'")) << r.status().message();
}

TEST_F(ParquetReaderTest, WrongTypeIsInvalidArgumentNamingColumnAndType) {
  write_parquet(path("a.parquet"),
                {{"x", json_array(arrow::float32(), "[1]")},
                 {"when", json_array(arrow::date32(), "[19000]")},
                 {"name", json_array(arrow::utf8(), R"(["a"])")},
                 {"score", json_array(arrow::float64(), "[0.5]")}},
                2);
  ParquetInputSpec spec;
  spec.columns = {"x", "when"};
  auto r = ParquetReader::open(path("a.parquet"), spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(r.status().message(), "'when'")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "date32")) << r.status().message();

  // A string feature without a vocabulary.
  spec.columns = {"name"};
  r = ParquetReader::open(path("a.parquet"), spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(r.status().message(), "'name'")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "string")) << r.status().message();

  // A vocabulary for a number column.
  spec.columns = {"score"};
  spec.categories = {{"score", {"lo", "hi"}}};
  r = ParquetReader::open(path("a.parquet"), spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(r.status().message(), "'score'")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "double")) << r.status().message();

  // An id column that is neither integer nor string.
  ParquetInputSpec ids;
  ids.columns = {"x"};
  ids.id_column = "score";
  r = ParquetReader::open(path("a.parquet"), ids);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(r.status().message(), "'score'")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "double")) << r.status().message();
}

TEST_F(ParquetReaderTest, IdColumnWhoseTypeDiffersBetweenFilesIsInvalidArgument) {
  fs::create_directories(dir_ / "in");
  write_parquet(path("in/a.parquet"),
                {{"id", json_array(arrow::int64(), "[1]")}, {"x", json_array(arrow::float32(), "[1]")}}, 2);
  write_parquet(path("in/b.parquet"),
                {{"id", json_array(arrow::utf8(), R"(["2"])")}, {"x", json_array(arrow::float32(), "[2]")}}, 2);
  ParquetInputSpec spec;
  spec.id_column = "id";
  auto r = ParquetReader::open(path("in"), spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(r.status().message(), "int64")) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "b.parquet")) << r.status().message();
}

TEST_F(ParquetReaderTest, TruncatedOrNonParquetFileIsDataLossNamingTheFile) {
  write_parquet(path("full.parquet"), {{"x", json_array(arrow::float64(), "[1, 2, 3, 4, 5, 6, 7, 8]")}}, 2);
  fs::copy_file(path("full.parquet"), path("cut.parquet"));
  fs::resize_file(path("cut.parquet"), fs::file_size(path("full.parquet")) / 2);
  auto r = ParquetReader::open(path("cut.parquet"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(contains(r.status().message(), path("cut.parquet"))) << r.status().message();

  std::ofstream(path("text.parquet")) << "just some text, certainly not a Parquet footer";
  r = ParquetReader::open(path("text.parquet"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(contains(r.status().message(), path("text.parquet"))) << r.status().message();

  // In a folder, the bad file is the one named.
  fs::create_directories(dir_ / "in");
  fs::copy_file(path("full.parquet"), path("in/a.parquet"));
  fs::copy_file(path("cut.parquet"), path("in/b.parquet"));
  r = ParquetReader::open(path("in"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(contains(r.status().message(), "b.parquet")) << r.status().message();
}

TEST_F(ParquetReaderTest, CorruptRowGroupDataIsDataLossNamingFileAndRowGroup) {
  write_parquet(path("a.parquet"), {{"x", json_array(arrow::int64(), "[1, 2, 3, 4, 5, 6, 7, 8]")}}, 4);
  // The footer stays intact, so open() succeeds; the first page header (right after the leading
  // magic bytes) becomes garbage, so reading row group 0 fails.
  {
    std::fstream f(path("a.parquet"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4);
    const std::string junk(24, '\xff');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto r = ParquetReader::open(path("a.parquet"), {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::vector<float> out(8);
  Status st = r.value()->read_rows(0, 8, reinterpret_cast<std::byte*>(out.data()));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.message();
  EXPECT_TRUE(contains(st.message(), "a.parquet")) << st.message();
  EXPECT_TRUE(contains(st.message(), "row group 0")) << st.message();
}

TEST_F(ParquetReaderTest, MissingPathOrEmptyFolderIsNotFound) {
  auto r = ParquetReader::open(path("nope.parquet"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(r.status().message(), "nope.parquet")) << r.status().message();

  fs::create_directories(dir_ / "empty");
  std::ofstream(path("empty/_SUCCESS")).close();
  r = ParquetReader::open(path("empty"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(r.status().message(), "empty")) << r.status().message();
}

}  // namespace
}  // namespace shardscore
