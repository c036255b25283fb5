// Op tests of the tensor-manipulation, reduction and normalization ops (cpu_ops_tensor.h):
// Gather, GatherND, Transpose, Expand, Slice, Squeeze, Unsqueeze, Shape, ConstantOfShape, Range, Split,
// ReduceMean, ReduceSum, ReduceMax, LayerNormalization; ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceSumSquare, ReduceLogSum, ReduceLogSumExp, Tile, Trilu, CumSum, GatherElements, ScatterND.
// Conventions: tests/engine/op_test.h.
// The references below are plain index loops (float64 for numerics), never the code under test.
#include <functional>
#include <type_traits>

#include <map>

#include "engine/op_test.h"

namespace shardscore {
namespace {
using namespace shardscore::op_test;

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

// ---------------------------------------------------------------------------------------------
// Helpers: index arithmetic, typed random data, and a runner for nodes with several outputs.

// Flat row-major position of a multi-index in shape s.
int64_t flat_of(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t f = 0;
  for (std::size_t k = 0; k < s.size(); ++k) f = f * s[k] + idx[k];
  return f;
}

// out[i] = in[src(multi-index of i)], for any element type (bool as uint8_t).
template <typename T, typename F>
std::vector<T> remap(const std::vector<T>& in, const Shape& out_shape, F src_flat) {
  std::vector<T> out(static_cast<std::size_t>(numel_of(out_shape)));
  for (int64_t i = 0; i < numel_of(out_shape); ++i) out[i] = in[src_flat(unravel(i, out_shape))];
  return out;
}

std::vector<uint8_t> rand_bools(std::mt19937& rng, int64_t n) {
  std::bernoulli_distribution d(0.5);
  std::vector<uint8_t> v(static_cast<std::size_t>(n));
  for (auto& b : v) b = d(rng) ? 1 : 0;
  return v;
}

Tensor i64(const std::vector<int64_t>& v) { return make<int64_t>({static_cast<int64_t>(v.size())}, v); }
Tensor i64_scalar(int64_t v) { return make<int64_t>({}, {v}); }

// Several outputs (Split, LayerNormalization's Mean/InvStdDev): op_test.h's run_node.

// Failure with `code`, naming the node and containing `fragment`.
void expect_multi_error(const Status& st, StatusCode code, const std::string& op_type, const std::string& fragment) {
  ASSERT_FALSE(st.ok()) << op_type << " should have failed";
  EXPECT_EQ(st.code(), code) << status_code_name(st.code()) << ": " << st.message();
  EXPECT_NE(st.message().find("node 'test_" + op_type + "'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(fragment), std::string::npos) << "message lacks '" << fragment << "': " << st.message();
}

// ---------------------------------------------------------------------------------------------
// Gather

// Gather reference: out[pre..., j..., post...] = data[pre..., norm(ind[j...]), post...].
template <typename T>
std::vector<T> ref_gather(const std::vector<T>& data, const Shape& ds, int64_t axis, const std::vector<int64_t>& ind,
                          const Shape& is, Shape* out_shape) {
  Shape os(ds.begin(), ds.begin() + axis);
  os.insert(os.end(), is.begin(), is.end());
  os.insert(os.end(), ds.begin() + axis + 1, ds.end());
  *out_shape = os;
  const int64_t ir = static_cast<int64_t>(is.size());
  return remap(data, os, [&](const std::vector<int64_t>& idx) {
    std::vector<int64_t> src(idx.begin(), idx.begin() + axis);
    std::vector<int64_t> j(idx.begin() + axis, idx.begin() + axis + ir);
    int64_t v = ind[flat_of(j, is)];
    if (v < 0) v += ds[axis];
    src.push_back(v);
    src.insert(src.end(), idx.begin() + axis + ir, idx.end());
    return flat_of(src, ds);
  });
}

TEST_P(OpTest, Gather_Axis0_Embedding_Float32) {
  const Shape ds = {11, 6}, is = {3, 4};
  auto data = rand_f32(numel_of(ds));
  auto ind = rand_int<int64_t>(numel_of(is), 0, 10);
  ind[0] = 0, ind[1] = 10;
  Shape os;
  auto ref = ref_gather(data, ds, 0, ind, is, &os);
  Tensor out = run1("Gather", {make(ds, data), make(is, ind)});
  expect_near(out, DType::kFloat32, os, as_doubles(ref), kExact);
}
TEST_P(OpTest, Gather_Axis1_NegativeIndices_Int32Indices) {
  const Shape ds = {3, 5, 4}, is = {2, 3};
  auto data = rand_f32(numel_of(ds));
  auto ind32 = rand_int<int32_t>(numel_of(is), -5, 4);
  ind32[0] = -5, ind32[1] = -1, ind32[2] = 4;
  std::vector<int64_t> ind(ind32.begin(), ind32.end());
  Shape os;
  auto ref = ref_gather(data, ds, 1, ind, is, &os);
  Tensor out = run1("Gather", {make(ds, data), make(is, ind32)}, {{"axis", a_int(1)}});
  expect_near(out, DType::kFloat32, os, as_doubles(ref), kExact);
}
TEST_P(OpTest, Gather_NegativeAxis_Int64Data) {
  const Shape ds = {4, 7}, is = {5};
  auto data = rand_int<int64_t>(numel_of(ds), kI64Min, kI64Max);
  auto ind = rand_int<int64_t>(numel_of(is), -7, 6);
  Shape os;
  auto ref = ref_gather(data, ds, 1, ind, is, &os);
  Tensor out = run1("Gather", {make(ds, data), make(is, ind)}, {{"axis", a_int(-1)}});
  expect_equal<int64_t>(out, os, ref);
}
TEST_P(OpTest, Gather_BoolData) {
  const Shape ds = {6, 3}, is = {4};
  auto data = rand_bools(rng_, numel_of(ds));
  auto ind = rand_int<int64_t>(numel_of(is), -6, 5);
  Shape os;
  auto ref = ref_gather(data, ds, 0, ind, is, &os);
  Tensor out = run1("Gather", {make_bool(ds, data), make(is, ind)});
  expect_near(out, DType::kBool, os, as_doubles(ref), kExact);
}
TEST_P(OpTest, Gather_ScalarIndex_ShapeArithmetic) {
  // Shape -> Gather(indices = scalar) -> a scalar dimension, as exporters write it.
  const std::vector<int64_t> shape = {4096, 128, 768};
  Tensor out = run1("Gather", {i64(shape), i64_scalar(1)});
  expect_equal<int64_t>(out, {}, {128});
  out = run1("Gather", {i64(shape), i64_scalar(-1)});
  expect_equal<int64_t>(out, {}, {768});
}
TEST_P(OpTest, Gather_Float64_3D_Axis2) {
  const Shape ds = {2, 3, 5}, is = {2, 2};
  auto data = rand_f64(numel_of(ds));
  auto ind = rand_int<int64_t>(numel_of(is), -5, 4);
  Shape os;
  auto ref = ref_gather(data, ds, 2, ind, is, &os);
  Tensor out = run1("Gather", {make(ds, data), make(is, ind)}, {{"axis", a_int(2)}});
  expect_near(out, DType::kFloat64, os, ref, kExact);
}
TEST_P(OpTest, Gather_IndexOutOfRange_Error) {
  auto data = make<float>({5, 2}, rand_f32(10));
  // On a device the kernel records the index and the batch fails with the CPU's error.
  expect_error(StatusCode::kInvalidArgument, "index 5 is out of range for axis 0 of size 5 (data shape [5, 2])", "Gather",
               {data, i64({0, 5})});
  expect_error(StatusCode::kInvalidArgument, "index -6 is out of range for axis 0 of size 5", "Gather", {data, i64({-6})});
  expect_error(StatusCode::kInvalidArgument, "index 2 is out of range for axis 1 of size 2", "Gather",
               {data, make<int32_t>({1}, {2})}, {{"axis", a_int(1)}});
  // Several bad indices: the first in index order is named, whichever thread saw its own first.
  std::vector<int64_t> many(3000, 1);
  for (std::size_t j = 0; j < many.size(); j += 7) many[j] = 900 + static_cast<int64_t>(j);
  many[1234] = -77;
  expect_error(StatusCode::kInvalidArgument, "index 900 is out of range for axis 0 of size 5", "Gather",
               {data, make<int64_t>({3000}, many)});
  many[0] = 1;
  expect_error(StatusCode::kInvalidArgument, "index 907 is out of range", "Gather", {data, make<int64_t>({3000}, many)});
  // Indices on a later axis repeat for every outer row: still one index, one message.
  expect_error(StatusCode::kInvalidArgument, "index -3 is out of range for axis 1 of size 2", "Gather",
               {data, i64({1, -3, 0, 2})}, {{"axis", a_int(1)}});
  // Nothing to copy (an empty axis, empty slices, no outer rows): the indices are still checked.
  expect_error(StatusCode::kInvalidArgument, "index 0 is out of range for axis 0 of size 0", "Gather",
               {make<float>({0, 2}, {}), i64({0})});
  expect_error(StatusCode::kInvalidArgument, "index 5 is out of range for axis 0 of size 2", "Gather",
               {make<float>({2, 0}, {}), i64({1, 5})});
  expect_error(StatusCode::kInvalidArgument, "index 3 is out of range for axis 1 of size 3", "Gather",
               {make<float>({0, 3}, {}), i64({3})}, {{"axis", a_int(1)}});
}
TEST_P(OpTest, Gather_BadAxisOrIndexType_Error) {
  auto data = make<float>({5, 2}, rand_f32(10));
  expect_error(StatusCode::kInvalidArgument, "out of range for rank 2", "Gather", {data, i64({0})}, {{"axis", a_int(2)}});
  expect_error(StatusCode::kInvalidArgument, "int32 or int64", "Gather", {data, make<float>({1}, {0.0f})});
}

// ---------------------------------------------------------------------------------------------
// GatherND

// GatherND reference, straight from the ONNX definition: for an output multi-index (i..., r...),
// i over indices' shape without its last dimension, r over the slice; data's index is i's first
// batch_dims entries, then the m index values (+dim when negative), then r.
template <typename T>
std::vector<T> ref_gather_nd(const std::vector<T>& data, const Shape& ds, const std::vector<int64_t>& ind,
                             const Shape& is, int64_t batch_dims, Shape* out_shape) {
  const int64_t q = static_cast<int64_t>(is.size()), m = is.back();
  Shape os(is.begin(), is.end() - 1);
  os.insert(os.end(), ds.begin() + batch_dims + m, ds.end());
  *out_shape = os;
  return remap(data, os, [&](const std::vector<int64_t>& idx) {
    std::vector<int64_t> row(idx.begin(), idx.begin() + (q - 1));
    std::vector<int64_t> src(idx.begin(), idx.begin() + batch_dims);
    for (int64_t k = 0; k < m; ++k) {
      std::vector<int64_t> at = row;
      at.push_back(k);
      int64_t v = ind[flat_of(at, is)];
      if (v < 0) v += ds[batch_dims + k];
      src.push_back(v);
    }
    src.insert(src.end(), idx.begin() + (q - 1), idx.end());
    return flat_of(src, ds);
  });
}

TEST_P(OpTest, GatherND_Float32_Slices_NegativeIndices) {
  // m = 1, 2, 3 on a [5, 4, 3] tensor: [4, 3] slices, rows of 3, single elements.
  const Shape ds = {5, 4, 3};
  auto data = rand_f32(numel_of(ds));
  for (const Shape& is : {Shape{2, 2, 1}, Shape{3, 2}, Shape{2, 3}}) {
    SCOPED_TRACE(shape_to_string(is));
    std::vector<int64_t> ind(static_cast<std::size_t>(numel_of(is)));
    for (std::size_t j = 0; j < ind.size(); ++j) {
      const int64_t dim = ds[j % is.back()];
      ind[j] = rand_int<int64_t>(1, -dim, dim - 1)[0];
    }
    Shape os;
    auto ref = ref_gather_nd(data, ds, ind, is, 0, &os);
    Tensor out = run1("GatherND", {make(ds, data), make(is, ind)});
    expect_near(out, DType::kFloat32, os, as_doubles(ref), kExact);
  }
}
TEST_P(OpTest, GatherND_BatchDims1_Bool_AsTheBertMask) {
  // What torch 2.11's exporter writes for BERT's attention mask: a bool [N, S] mask, indices
  // [N, S, 1] (batch_dims 0, m = 2 after Concat) - and the batch_dims = 1 form of the same pick.
  const Shape ds = {3, 7};
  auto data = rand_bools(rng_, numel_of(ds));
  const Shape is = {3, 5, 1};
  auto ind = rand_int<int64_t>(numel_of(is), -7, 6);
  Shape os;
  auto ref = ref_gather_nd(data, ds, ind, is, 1, &os);
  ASSERT_EQ(os, (Shape{3, 5}));
  Tensor out = run1("GatherND", {make_bool(ds, data), make(is, ind)}, {{"batch_dims", a_int(1)}}, 13);
  expect_near(out, DType::kBool, os, as_doubles(ref), kExact);
  const Shape is2 = {3, 5, 2};
  std::vector<int64_t> ind2(static_cast<std::size_t>(numel_of(is2)));
  for (int64_t r = 0; r < 15; ++r) ind2[2 * r] = r / 5, ind2[2 * r + 1] = ind[r];
  ref = ref_gather_nd(data, ds, ind2, is2, 0, &os);
  out = run1("GatherND", {make_bool(ds, data), make(is2, ind2)}, {}, 13);
  expect_near(out, DType::kBool, os, as_doubles(ref), kExact);
}
TEST_P(OpTest, GatherND_BatchDims2_Float64_Int64Data) {
  const Shape ds = {2, 3, 4, 5}, is = {2, 3, 2, 2};
  auto data = rand_f64(numel_of(ds));
  std::vector<int64_t> ind(static_cast<std::size_t>(numel_of(is)));
  for (std::size_t j = 0; j < ind.size(); ++j) {
    const int64_t dim = ds[2 + j % 2];
    ind[j] = rand_int<int64_t>(1, -dim, dim - 1)[0];
  }
  Shape os;
  auto ref = ref_gather_nd(data, ds, ind, is, 2, &os);
  ASSERT_EQ(os, (Shape{2, 3, 2}));
  Tensor out = run1("GatherND", {make(ds, data), make(is, ind)}, {{"batch_dims", a_int(2)}}, 12);
  expect_near(out, DType::kFloat64, os, ref, kExact);
  auto idata = rand_int<int64_t>(numel_of(ds), kI64Min, kI64Max);
  auto iref = ref_gather_nd(idata, ds, ind, is, 2, &os);
  expect_equal<int64_t>(run1("GatherND", {make(ds, idata), make(is, ind)}, {{"batch_dims", a_int(2)}}, 12), os, iref);
}
TEST_P(OpTest, GatherND_Errors) {
  auto data = make<float>({4, 3}, rand_f32(12));
  // On a device the kernel records the index and the batch fails with the CPU's error.
  expect_error(StatusCode::kInvalidArgument, "index 4 is out of range for dimension 0 of size 4 (data shape [4, 3])",
               "GatherND", {data, make<int64_t>({2, 1}, {0, 4})});
  expect_error(StatusCode::kInvalidArgument, "index -4 is out of range for dimension 1 of size 3", "GatherND",
               {data, make<int64_t>({1, 2}, {0, -4})});
  // The first bad (row, index) in the CPU's order: row 1's second index before row 2's first.
  expect_error(StatusCode::kInvalidArgument, "index 3 is out of range for dimension 1 of size 3", "GatherND",
               {data, make<int64_t>({3, 2}, {0, 0, 1, 3, 9, 9})});
  // Empty slices: the indices are still checked.
  expect_error(StatusCode::kInvalidArgument, "index 4 is out of range for dimension 0 of size 4", "GatherND",
               {make<float>({4, 0}, {}), make<int64_t>({2, 1}, {1, 4})});
  expect_error(StatusCode::kInvalidArgument, "index 0 is out of range for dimension 1 of size 0", "GatherND",
               {make<float>({4, 0}, {}), make<int64_t>({1, 2}, {1, 0})});
  // batch_dims 1: the indexed dimension is data's second.
  expect_error(StatusCode::kInvalidArgument, "index 5 is out of range for dimension 1 of size 3", "GatherND",
               {data, make<int64_t>({4, 1}, {0, 2, 5, 1})}, {{"batch_dims", a_int(1)}});
  expect_error(StatusCode::kInvalidArgument, "int64", "GatherND", {data, make<int32_t>({1, 1}, {0})});
  expect_error(StatusCode::kInvalidArgument, "last dimension is 3", "GatherND", {data, make<int64_t>({1, 3}, {0, 0, 0})});
  expect_error(StatusCode::kInvalidArgument, "batch_dims 2", "GatherND", {data, make<int64_t>({4, 1}, {0, 0, 0, 0})},
               {{"batch_dims", a_int(2)}});
  expect_error(StatusCode::kInvalidArgument, "differ in their first", "GatherND",
               {data, make<int64_t>({3, 1}, {0, 0, 0})}, {{"batch_dims", a_int(1)}});
}

// ---------------------------------------------------------------------------------------------
// Transpose

template <typename T>
std::vector<T> ref_transpose(const std::vector<T>& x, const Shape& xs, const std::vector<int64_t>& perm, Shape* out_shape) {
  Shape os;
  for (int64_t p : perm) os.push_back(xs[p]);
  *out_shape = os;
  return remap(x, os, [&](const std::vector<int64_t>& idx) {
    std::vector<int64_t> src(xs.size());
    for (std::size_t k = 0; k < perm.size(); ++k) src[perm[k]] = idx[k];
    return flat_of(src, xs);
  });
}

TEST_P(OpTest, DepthToSpace_DCR_CRD) {
  // Each element where the spec's index rule puts it: y[n, c, h*b + i, w*b + j] = x[n, (i*b + j)*C' + c, h, w]
  // for DCR, x[n, c*b*b + i*b + j, h, w] for CRD; on float32 and int64 (moved as stored), blocksizes 2, 3.
  for (const int64_t b : {int64_t{2}, int64_t{3}}) {
    const int64_t n = 2, cc = 2, c = cc * b * b, h = 3, w = 2;
    std::vector<int64_t> x(static_cast<std::size_t>(n * c * h * w));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int64_t>(i) - 7;
    const auto at = [&](int64_t in, int64_t ic, int64_t ih, int64_t iw) { return x[((in * c + ic) * h + ih) * w + iw]; };
    for (const std::string mode : {"DCR", "CRD"}) {
      SCOPED_TRACE(mode + " blocksize " + std::to_string(b));
      std::vector<int64_t> ref;
      for (int64_t in = 0; in < n; ++in)
        for (int64_t oc = 0; oc < cc; ++oc)
          for (int64_t oh = 0; oh < h * b; ++oh)
            for (int64_t ow = 0; ow < w * b; ++ow) {
              const int64_t i = oh % b, j = ow % b;
              ref.push_back(at(in, mode == "DCR" ? (i * b + j) * cc + oc : oc * b * b + i * b + j, oh / b, ow / b));
            }
      const Attrs attrs{{"blocksize", a_int(b)}, {"mode", a_string(mode)}};
      expect_equal<int64_t>(run1("DepthToSpace", {make<int64_t>({n, c, h, w}, x)}, attrs, 13), {n, cc, h * b, w * b}, ref);
      std::vector<float> xf(x.begin(), x.end());
      std::vector<double> reff(ref.begin(), ref.end());
      expect_near(run1("DepthToSpace", {make<float>({n, c, h, w}, xf)}, attrs, 13), DType::kFloat32, {n, cc, h * b, w * b},
                  reff, 0);
    }
  }
}
// Einsum by brute force over every label's values: `ref_eq` is explicit ("...->..."), letters only;
// an axis of size 1 broadcasts. Independent of the plan's strides and odometer.
std::vector<double> einsum_ref(const std::string& ref_eq, const std::vector<Shape>& shapes,
                               const std::vector<std::vector<double>>& xs, Shape* out_shape) {
  const std::size_t arrow = ref_eq.find("->");
  std::vector<std::string> terms;
  for (std::size_t start = 0;;) {
    const std::size_t c = ref_eq.find(',', start);
    terms.push_back(ref_eq.substr(start, (c == std::string::npos || c > arrow ? arrow : c) - start));
    if (c == std::string::npos || c > arrow) break;
    start = c + 1;
  }
  const std::string out = ref_eq.substr(arrow + 2);
  std::map<char, int64_t> size;
  for (std::size_t k = 0; k < terms.size(); ++k)
    for (std::size_t a = 0; a < terms[k].size(); ++a) size[terms[k][a]] = std::max(size[terms[k][a]], shapes[k][a]);
  std::vector<char> labels;
  for (const auto& [c, n] : size) labels.push_back(c);
  out_shape->clear();
  for (char c : out) out_shape->push_back(size[c]);
  std::vector<double> y(static_cast<std::size_t>(numel_of(*out_shape)), 0.0);
  std::map<char, int64_t> v;
  int64_t total = 1;
  for (char c : labels) total *= size[c];
  for (int64_t i = 0; i < total; ++i) {
    for (int64_t rest = i, j = static_cast<int64_t>(labels.size()) - 1; j >= 0; --j) {
      v[labels[j]] = rest % size[labels[j]];
      rest /= size[labels[j]];
    }
    double prod = 1;
    for (std::size_t k = 0; k < terms.size(); ++k) {
      int64_t off = 0;
      for (std::size_t a = 0; a < terms[k].size(); ++a) off = off * shapes[k][a] + (shapes[k][a] == 1 ? 0 : v[terms[k][a]]);
      prod *= xs[k][static_cast<std::size_t>(off)];
    }
    int64_t at = 0;
    for (char c : out) at = at * size[c] + v[c];
    y[static_cast<std::size_t>(at)] += prod;
  }
  return y;
}

TEST_P(OpTest, Einsum_FormsAgainstBruteForce) {
  struct Case {
    std::string eq, ref_eq;  // the node's equation, and the explicit one the reference takes
    std::vector<Shape> shapes;
  };
  const std::vector<Case> cases = {
      {"ij,jk->ik", "ij,jk->ik", {{3, 4}, {4, 5}}},
      {"bhid,bhjd->bhij", "bhid,bhjd->bhij", {{2, 3, 4, 5}, {2, 3, 6, 5}}},
      {"ij->ji", "ij->ji", {{3, 4}}},
      {"ii->i", "ii->i", {{4, 4}}},
      {"ii", "ii->", {{4, 4}}},
      {"ij->i", "ij->i", {{3, 5}}},
      {"ij,jk", "ij,jk->ik", {{3, 4}, {4, 2}}},
      {"ba", "ba->ab", {{3, 2}}},
      {"Ba,aC", "Ba,aC->BC", {{3, 2}, {2, 4}}},
      {"...ij,...jk->...ik", "zij,zjk->zik", {{2, 3, 4}, {1, 4, 5}}},
      {"...ij,jk->...ik", "yzij,jk->yzik", {{2, 3, 2, 4}, {4, 5}}},
      {"i...,i...->...", "iyz,iyz->yz", {{3, 2, 4}, {3, 1, 4}}},
      {"i,j->ij", "i,j->ij", {{3}, {4}}},
      {"ij,jk,kl->il", "ij,jk,kl->il", {{2, 3}, {3, 4}, {4, 2}}},
      {"ij,jk->ik", "ij,jk->ik", {{2, 1}, {3, 4}}},  // j broadcast, as ONNX Runtime allows
      {"b i d, b j d -> b i j", "bid,bjd->bij", {{2, 3, 4}, {2, 5, 4}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.eq);
    std::vector<Tensor> in;
    std::vector<std::vector<double>> xs;
    for (const Shape& sh : c.shapes) {
      auto v = rand_f32(numel_of(sh));
      in.push_back(make(sh, v));
      xs.emplace_back(v.begin(), v.end());
    }
    Shape ys;
    const auto ref = einsum_ref(c.ref_eq, c.shapes, xs, &ys);
    expect_near(run1("Einsum", in, {{"equation", a_string(c.eq)}}, 12), DType::kFloat32, ys, ref, kTolReduce);
  }
  // int64 (exact) and float64
  std::vector<int64_t> a = {1, -2, 3, 4, 5, -6}, b = {7, 8, -9, 10, 11, 12};
  Tensor yi = run1("Einsum", {make<int64_t>({2, 3}, a), make<int64_t>({3, 2}, b)}, {{"equation", a_string("ij,jk->ik")}}, 12);
  expect_equal<int64_t>(yi, {2, 2}, {1 * 7 - 2 * -9 + 3 * 11, 1 * 8 - 2 * 10 + 3 * 12, 4 * 7 + 5 * -9 - 6 * 11, 4 * 8 + 5 * 10 - 6 * 12});
  auto d = rand_f64(12);
  Shape ds;
  const auto refd = einsum_ref("ij->j", {{3, 4}}, {d}, &ds);
  expect_near(run1("Einsum", {make<double>({3, 4}, d)}, {{"equation", a_string("ij->j")}}, 12), DType::kFloat64, ds, refd, 1e-14);
}
TEST_P(OpTest, Einsum_Errors) {
  auto x = make<float>({2, 3}, rand_f32(6));
  expect_error(StatusCode::kInvalidArgument, "has 2 input terms for 1 inputs", "Einsum", {x}, {{"equation", a_string("ij,jk->ik")}}, 12);
  expect_error(StatusCode::kInvalidArgument, "does not fit its term", "Einsum", {x}, {{"equation", a_string("ijk->i")}}, 12);
  expect_error(StatusCode::kInvalidArgument, "label 'j' has sizes 3 and 2", "Einsum", {x, x}, {{"equation", a_string("ij,jk->ik")}}, 12);
  expect_error(StatusCode::kInvalidArgument, "output label 'k' appears in no input term", "Einsum", {x},
               {{"equation", a_string("ij->k")}}, 12);
  expect_error(StatusCode::kInvalidArgument, "'1' in term 'i1' is not a letter", "Einsum", {x}, {{"equation", a_string("i1->i")}}, 12);
  // A diagonal needs one size: [1, 3] does not broadcast inside one term (ONNX Runtime refuses it too).
  expect_error(StatusCode::kInvalidArgument, "label 'i' repeats in input 0 [1, 3] over axes of sizes 1 and 3", "Einsum",
               {make<float>({1, 3}, rand_f32(3))}, {{"equation", a_string("ii->i")}}, 12);
  expect_error(StatusCode::kInvalidArgument, "input types differ: input 0 is float32, input 1 float64", "Einsum",
               {x, make<double>({3, 2}, rand_f64(6))}, {{"equation", a_string("ij,jk->ik")}}, 12);
  expect_error(StatusCode::kInvalidArgument, "the equation attribute is required", "Einsum", {x}, {}, 12);
}

TEST_P(OpTest, SpaceToDepth_BlocksToChannels) {
  // y[n, (i*b + j)*C + c, h, w] = x[n, c, h*b + i, w*b + j], the inverse of DepthToSpace DCR.
  const int64_t n = 2, c = 3, b = 2, h = 4, w = 6;
  std::vector<float> x(static_cast<std::size_t>(n * c * h * w));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 0.5f - 20.f;
  std::vector<double> ref;
  for (int64_t in = 0; in < n; ++in)
    for (int64_t oc = 0; oc < c * b * b; ++oc)
      for (int64_t oh = 0; oh < h / b; ++oh)
        for (int64_t ow = 0; ow < w / b; ++ow) {
          const int64_t blk = oc / c, ic = oc % c, i = blk / b, j = blk % b;
          ref.push_back(x[((in * c + ic) * h + oh * b + i) * w + ow * b + j]);
        }
  Tensor out = run1("SpaceToDepth", {make<float>({n, c, h, w}, x)}, {{"blocksize", a_int(b)}}, 13);
  expect_near(out, DType::kFloat32, {n, c * b * b, h / b, w / b}, ref, 0);
  Tensor back = run1("DepthToSpace", {out}, {{"blocksize", a_int(b)}}, 1);
  expect_near(back, DType::kFloat32, {n, c, h, w}, std::vector<double>(x.begin(), x.end()), 0);
}
TEST_P(OpTest, DepthToSpace_SpaceToDepth_Errors) {
  const auto x = make<float>({1, 8, 4, 4}, rand_f32(128));
  expect_error(StatusCode::kInvalidArgument, "channels are not a multiple of blocksize^2 (9)", "DepthToSpace", {x},
               {{"blocksize", a_int(3)}}, 13);
  expect_error(StatusCode::kInvalidArgument, "mode 'XYZ' is not DCR or CRD", "DepthToSpace", {x},
               {{"blocksize", a_int(2)}, {"mode", a_string("XYZ")}}, 13);
  expect_error(StatusCode::kInvalidArgument, "blocksize 0 must be given and at least 1", "SpaceToDepth", {x}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "height and width are not multiples of blocksize 3", "SpaceToDepth", {x},
               {{"blocksize", a_int(3)}}, 13);
  expect_error(StatusCode::kInvalidArgument, "must be 4-D [N, C, H, W]", "SpaceToDepth",
               {make<float>({8, 4, 4}, rand_f32(128))}, {{"blocksize", a_int(2)}}, 13);
}
TEST_P(OpTest, Transpose_Perm_3D_Float32) {
  const Shape xs = {2, 3, 4};
  auto x = rand_f32(numel_of(xs));
  for (std::vector<int64_t> perm : {std::vector<int64_t>{1, 2, 0}, {0, 2, 1}, {2, 0, 1}, {0, 1, 2}}) {
    SCOPED_TRACE("perm " + std::to_string(perm[0]) + std::to_string(perm[1]) + std::to_string(perm[2]));
    Shape os;
    auto ref = ref_transpose(x, xs, perm, &os);
    Tensor out = run1("Transpose", {make(xs, x)}, {{"perm", a_ints(perm)}});
    expect_near(out, DType::kFloat32, os, as_doubles(ref), kExact);
  }
}
TEST_P(OpTest, Transpose_AllPerms_4D) {
  const Shape xs = {2, 3, 4, 5};
  auto x = rand_f32(numel_of(xs));
  std::vector<int64_t> perm = {0, 1, 2, 3};
  do {
    SCOPED_TRACE("perm " + std::to_string(perm[0]) + std::to_string(perm[1]) + std::to_string(perm[2]) + std::to_string(perm[3]));
    Shape os;
    auto ref = ref_transpose(x, xs, perm, &os);
    Tensor out = run1("Transpose", {make(xs, x)}, {{"perm", a_ints(perm)}});
    expect_near(out, DType::kFloat32, os, as_doubles(ref), kExact);
  } while (std::next_permutation(perm.begin(), perm.end()));
}
TEST_P(OpTest, Transpose_LastAxisMoved_TilesAndTheirEdges) {
  // Attention's K^T, [batch, seq, heads, head_dim] -> [batch, heads, head_dim, seq], with seq and
  // head_dim across and beside the 16 x 16 tiles of the tiled copy; 1-, 4- and 8-byte elements.
  for (const Shape& xs : {Shape{2, 37, 3, 20}, Shape{1, 16, 2, 16}, Shape{3, 5, 1, 17}}) {
    SCOPED_TRACE("X " + shape_to_string(xs));
    const std::vector<int64_t> perm = {0, 2, 3, 1};
    Shape os;
    auto x = rand_f32(numel_of(xs));
    auto ref = ref_transpose(x, xs, perm, &os);
    expect_near(run1("Transpose", {make(xs, x)}, {{"perm", a_ints(perm)}}), DType::kFloat32, os, as_doubles(ref), kExact);
    auto xi = rand_int<int64_t>(numel_of(xs), kI64Min, kI64Max);
    expect_equal<int64_t>(run1("Transpose", {make(xs, xi)}, {{"perm", a_ints(perm)}}), os, ref_transpose(xi, xs, perm, &os));
    auto b = rand_bools(rng_, numel_of(xs));
    expect_near(run1("Transpose", {make_bool(xs, b)}, {{"perm", a_ints(perm)}}), DType::kBool, os,
                as_doubles(ref_transpose(b, xs, perm, &os)), kExact);
  }
}
TEST_P(OpTest, Transpose_DefaultReverses_Int64) {
  const Shape xs = {3, 4, 5};
  auto x = rand_int<int64_t>(numel_of(xs), kI64Min, kI64Max);
  Shape os;
  auto ref = ref_transpose(x, xs, {2, 1, 0}, &os);
  expect_equal<int64_t>(run1("Transpose", {make(xs, x)}), os, ref);
}
TEST_P(OpTest, Transpose_AttentionHeads_Float64_And_Bool) {
  const Shape xs = {2, 5, 3, 4};  // [batch, seq, heads, head_dim] -> [batch, heads, seq, head_dim]
  const std::vector<int64_t> perm = {0, 2, 1, 3};
  auto x = rand_f64(numel_of(xs));
  Shape os;
  auto ref = ref_transpose(x, xs, perm, &os);
  expect_near(run1("Transpose", {make(xs, x)}, {{"perm", a_ints(perm)}}), DType::kFloat64, os, ref, kExact);
  auto b = rand_bools(rng_, numel_of(xs));
  auto refb = ref_transpose(b, xs, perm, &os);
  expect_near(run1("Transpose", {make_bool(xs, b)}, {{"perm", a_ints(perm)}}), DType::kBool, os, as_doubles(refb), kExact);
}
TEST_P(OpTest, Transpose_BadPerm_Error) {
  auto x = make<float>({2, 3, 4}, rand_f32(24));
  expect_error(StatusCode::kInvalidArgument, "not a permutation", "Transpose", {x}, {{"perm", a_ints({0, 0, 1})}});
  expect_error(StatusCode::kInvalidArgument, "not a permutation", "Transpose", {x}, {{"perm", a_ints({1, 0})}});
  expect_error(StatusCode::kInvalidArgument, "not a permutation", "Transpose", {x}, {{"perm", a_ints({0, 1, 3})}});
  expect_error(StatusCode::kInvalidArgument, "not a permutation", "Transpose", {x}, {{"perm", a_ints({-1, 0, 1})}});
}

// ---------------------------------------------------------------------------------------------
// Expand

// Expand reference: x broadcast to out_shape (given by the test).
template <typename T>
std::vector<T> ref_expand(const std::vector<T>& x, const Shape& xs, const Shape& os) {
  return remap(x, os, [&](const std::vector<int64_t>& idx) { return broadcast_flat(idx, xs); });
}

TEST_P(OpTest, Expand_RowToMatrix_Float32) {
  auto x = rand_f32(4);
  Tensor out = run1("Expand", {make<float>({1, 4}, x), i64({3, 4})});
  expect_near(out, DType::kFloat32, {3, 4}, as_doubles(ref_expand(x, {1, 4}, {3, 4})), kExact);
}
TEST_P(OpTest, Expand_Bidirectional) {
  // [3, 1] with shape [2, 1, 5]: both sides stretch.
  auto x = rand_f32(3);
  Tensor out = run1("Expand", {make<float>({3, 1}, x), i64({2, 1, 5})});
  expect_near(out, DType::kFloat32, {2, 3, 5}, as_doubles(ref_expand(x, {3, 1}, {2, 3, 5})), kExact);
  // A shape of lower rank and ones keeps the input's dimensions.
  auto y = rand_f32(6);
  out = run1("Expand", {make<float>({2, 3}, y), i64({1})});
  expect_near(out, DType::kFloat32, {2, 3}, as_doubles(y), kExact);
  out = run1("Expand", {make<float>({2, 1, 3}, y), i64({4, 1})});
  expect_near(out, DType::kFloat32, {2, 4, 3}, as_doubles(ref_expand(y, {2, 1, 3}, {2, 4, 3})), kExact);
}
TEST_P(OpTest, Expand_ScalarAndZeroDim) {
  auto x = rand_f32(1);
  Tensor out = run1("Expand", {make<float>({}, x), i64({2, 3})});
  expect_near(out, DType::kFloat32, {2, 3}, std::vector<double>(6, x[0]), kExact);
  out = run1("Expand", {make<float>({1, 3}, rand_f32(3)), i64({0, 3})});
  expect_near(out, DType::kFloat32, {0, 3}, {}, kExact);
}
TEST_P(OpTest, Expand_Int64_And_Bool) {
  auto x = rand_int<int64_t>(4, kI64Min, kI64Max);
  expect_equal<int64_t>(run1("Expand", {make<int64_t>({4, 1}, x), i64({2, 4, 3})}), {2, 4, 3},
                        ref_expand(x, {4, 1}, {2, 4, 3}));
  auto b = rand_bools(rng_, 3);
  expect_near(run1("Expand", {make_bool({1, 3}, b), i64({5, 1})}), DType::kBool, {5, 3},
              as_doubles(ref_expand(b, {1, 3}, {5, 3})), kExact);
}
TEST_P(OpTest, Expand_IncompatibleShape_Error) {
  expect_error(StatusCode::kInvalidArgument, "cannot be broadcast", "Expand", {make<float>({3}, rand_f32(3)), i64({4})});
  expect_error(StatusCode::kInvalidArgument, "negative", "Expand", {make<float>({3}, rand_f32(3)), i64({-1, 3})});
  expect_error(StatusCode::kInvalidArgument, "too large", "Expand", {make<float>({3}, rand_f32(3)), i64({kI64Max / 2, 3})});
}

// ---------------------------------------------------------------------------------------------
// Slice

// The positions ONNX's Slice selects along an axis of size dim: negative start/end count from the
// back; then start clamps to [0, dim] (step > 0) or [0, dim - 1] (step < 0), end to [0, dim] or
// [-1, dim - 1]; then start, start + step, ... while before end.
std::vector<int64_t> slice_positions(int64_t dim, int64_t start, int64_t end, int64_t step) {
  auto fix = [&](int64_t v, int64_t lo, int64_t hi) {
    if (v < 0) v = v < -dim ? lo : v + dim;  // (written out to avoid overflow at INT64_MIN)
    return v < lo ? lo : v > hi ? hi : v;
  };
  std::vector<int64_t> pos;
  if (dim == 0) return pos;
  if (step > 0) {
    const int64_t s = fix(start, 0, dim), e = fix(end, 0, dim);
    for (int64_t i = s; i < e; i = i > e - step ? e : i + step) pos.push_back(i);
  } else {
    const int64_t s = fix(start, 0, dim - 1), e = fix(end, -1, dim - 1);
    for (int64_t i = s; i > e; i = i < e - step ? e : i + step) pos.push_back(i);
  }
  return pos;
}

struct SliceSpec {
  std::vector<int64_t> starts, ends, axes, steps;  // axes/steps empty: omitted inputs
};

template <typename T>
std::vector<T> ref_slice(const std::vector<T>& x, const Shape& xs, const SliceSpec& s, Shape* out_shape) {
  std::vector<std::vector<int64_t>> pos(xs.size());
  for (std::size_t k = 0; k < xs.size(); ++k)
    for (int64_t i = 0; i < xs[k]; ++i) pos[k].push_back(i);
  for (std::size_t j = 0; j < s.starts.size(); ++j) {
    int64_t ax = s.axes.empty() ? static_cast<int64_t>(j) : s.axes[j];
    if (ax < 0) ax += static_cast<int64_t>(xs.size());
    pos[ax] = slice_positions(xs[ax], s.starts[j], s.ends[j], s.steps.empty() ? 1 : s.steps[j]);
  }
  Shape os;
  for (const auto& p : pos) os.push_back(static_cast<int64_t>(p.size()));
  *out_shape = os;
  return remap(x, os, [&](const std::vector<int64_t>& idx) {
    std::vector<int64_t> src(idx.size());
    for (std::size_t k = 0; k < idx.size(); ++k) src[k] = pos[k][idx[k]];
    return flat_of(src, xs);
  });
}

std::vector<Tensor> slice_inputs(Tensor x, const SliceSpec& s) {
  std::vector<Tensor> in = {std::move(x), i64(s.starts), i64(s.ends)};
  if (!s.axes.empty() || !s.steps.empty()) in.push_back(s.axes.empty() ? Tensor() : i64(s.axes));
  if (!s.steps.empty()) in.push_back(i64(s.steps));
  return in;
}

// Runs Slice on a random float32 x against ref_slice.
#define CHECK_SLICE_F32(xs_, ...)                                                                   \
  do {                                                                                              \
    const Shape xs = xs_;                                                                           \
    const SliceSpec spec = __VA_ARGS__;                                                             \
    auto x = rand_f32(numel_of(xs));                                                                \
    Shape os;                                                                                       \
    auto ref = ref_slice(x, xs, spec, &os);                                                         \
    expect_near(run1("Slice", slice_inputs(make(xs, x), spec)), DType::kFloat32, os, as_doubles(ref), kExact); \
  } while (0)

TEST_P(OpTest, Slice_Basic_Float32) {
  CHECK_SLICE_F32((Shape{5, 6}), SliceSpec{{1, 2}, {4, 5}, {}, {}});
  CHECK_SLICE_F32((Shape{5, 6}), SliceSpec{{1}, {3}, {}, {}});  // axes default to 0..n-1
}
TEST_P(OpTest, Slice_NegativeIndices_NegativeAxes) {
  CHECK_SLICE_F32((Shape{4, 7}), SliceSpec{{-3}, {-1}, {-1}, {}});
  CHECK_SLICE_F32((Shape{3, 4, 5}), SliceSpec{{-2, 1}, {kI64Max, -1}, {-3, 2}, {}});
}
TEST_P(OpTest, Slice_NegativeSteps) {
  // Reverse everything (the exporters' x[::-1]: start -1, end INT64_MIN, step -1).
  CHECK_SLICE_F32((Shape{7, 5}), SliceSpec{{-1}, {kI64Min}, {0}, {-1}});
  CHECK_SLICE_F32((Shape{7, 5}), SliceSpec{{-1, 3}, {kI64Min, 0}, {0, 1}, {-2, -1}});
  CHECK_SLICE_F32((Shape{7, 5}), SliceSpec{{100}, {-100}, {1}, {-3}});  // both ends clamp
  CHECK_SLICE_F32((Shape{6}), SliceSpec{{4}, {1}, {0}, {-1}});
  // A start before the front clamps to 0 with a negative step (ONNX), unlike python's x[-100::-1].
  CHECK_SLICE_F32((Shape{5, 2}), SliceSpec{{-100}, {kI64Min}, {0}, {-1}});
  CHECK_SLICE_F32((Shape{5, 2}), SliceSpec{{-3}, {-100}, {0}, {kI64Min + 1}});
}
TEST_P(OpTest, Slice_PositiveSteps_Clamping) {
  CHECK_SLICE_F32((Shape{9, 4}), SliceSpec{{-100, 1}, {kI64Max, 100}, {0, 1}, {3, 2}});
  CHECK_SLICE_F32((Shape{9, 4}), SliceSpec{{0}, {kI64Max}, {1}, {kI64Max}});  // huge step: first element only
}
TEST_P(OpTest, Slice_EmptyResult) {
  CHECK_SLICE_F32((Shape{5, 3}), SliceSpec{{3}, {1}, {0}, {}});
  CHECK_SLICE_F32((Shape{5, 3}), SliceSpec{{1}, {3}, {0}, {-1}});
  CHECK_SLICE_F32((Shape{0, 3}), SliceSpec{{0}, {kI64Max}, {0}, {-1}});
}
TEST_P(OpTest, Slice_Int32Inputs_Int64AndBoolData) {
  const Shape xs = {4, 6};
  const SliceSpec spec{{1, -1}, {4, 0}, {0, 1}, {2, -2}};
  auto x = rand_int<int64_t>(numel_of(xs), kI64Min, kI64Max);
  Shape os;
  auto ref = ref_slice(x, xs, spec, &os);
  auto to32 = [](const std::vector<int64_t>& v) {
    return make<int32_t>({static_cast<int64_t>(v.size())}, std::vector<int32_t>(v.begin(), v.end()));
  };
  expect_equal<int64_t>(run1("Slice", {make(xs, x), to32(spec.starts), to32(spec.ends), to32(spec.axes), to32(spec.steps)}),
                        os, ref);
  auto b = rand_bools(rng_, numel_of(xs));
  auto refb = ref_slice(b, xs, spec, &os);
  expect_near(run1("Slice", slice_inputs(make_bool(xs, b), spec)), DType::kBool, os, as_doubles(refb), kExact);
}
TEST_P(OpTest, Slice_Errors) {
  auto x = make<float>({4, 5}, rand_f32(20));
  expect_error(StatusCode::kInvalidArgument, "zero step", "Slice", slice_inputs(x, {{0}, {2}, {0}, {0}}));
  expect_error(StatusCode::kInvalidArgument, "out of range", "Slice", slice_inputs(x, {{0}, {2}, {2}, {}}));
  expect_error(StatusCode::kInvalidArgument, "out of range", "Slice", slice_inputs(x, {{0}, {2}, {-3}, {}}));
  expect_error(StatusCode::kInvalidArgument, "more than once", "Slice", slice_inputs(x, {{0, 1}, {2, 3}, {1, -1}, {}}));
  expect_error(StatusCode::kInvalidArgument, "ends has", "Slice", {x, i64({0, 1}), i64({2})});
}

// ---------------------------------------------------------------------------------------------
// Squeeze / Unsqueeze (views: same data, new shape)

TEST_P(OpTest, Squeeze_Opset13_AxesInput_Negative) {
  auto x = rand_f32(12);
  expect_near(run1("Squeeze", {make<float>({1, 3, 1, 4}, x), i64({-2})}, {}, 13), DType::kFloat32, {1, 3, 4},
              as_doubles(x), kExact);
  expect_near(run1("Squeeze", {make<float>({1, 3, 1, 4}, x), i64({2, 0})}, {}, 13), DType::kFloat32, {3, 4},
              as_doubles(x), kExact);
}
TEST_P(OpTest, Squeeze_NoAxes_RemovesAllOnes_Int64) {
  auto x = rand_int<int64_t>(12, kI64Min, kI64Max);
  expect_equal<int64_t>(run1("Squeeze", {make<int64_t>({1, 3, 1, 4, 1}, x)}, {}, 13), {3, 4}, x);
  expect_equal<int64_t>(run1("Squeeze", {make<int64_t>({1, 1}, {x[0]})}, {}, 21), {}, {x[0]});
}
TEST_P(OpTest, Squeeze_Opset11_AxesAttribute_Bool) {
  auto b = rand_bools(rng_, 6);
  expect_near(run1("Squeeze", {make_bool({2, 1, 3}, b)}, {{"axes", a_ints({-2})}}, 11), DType::kBool, {2, 3},
              as_doubles(b), kExact);
}
TEST_P(OpTest, Squeeze_Errors) {
  auto x = make<float>({1, 3}, rand_f32(3));
  expect_error(StatusCode::kInvalidArgument, "not 1", "Squeeze", {x, i64({1})}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "out of range", "Squeeze", {x, i64({2})}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "out of range", "Squeeze", {x}, {{"axes", a_ints({-3})}}, 11);
}

TEST_P(OpTest, Unsqueeze_Opset13_NegativeAxes) {
  auto x = rand_f32(12);
  expect_near(run1("Unsqueeze", {make<float>({3, 4}, x), i64({-1, 0})}, {}, 13), DType::kFloat32, {1, 3, 4, 1},
              as_doubles(x), kExact);
  expect_near(run1("Unsqueeze", {make<float>({3, 4}, x), i64({1, 2})}, {}, 18), DType::kFloat32, {3, 1, 1, 4},
              as_doubles(x), kExact);
  // BERT's attention mask: [batch, seq] -> [batch, 1, 1, seq].
  expect_near(run1("Unsqueeze", {make<float>({3, 4}, x), i64({-2, -3})}, {}, 17), DType::kFloat32, {3, 1, 1, 4},
              as_doubles(x), kExact);
}
TEST_P(OpTest, Unsqueeze_Opset11_AxesAttribute_Int64) {
  auto x = rand_int<int64_t>(6, kI64Min, kI64Max);
  expect_equal<int64_t>(run1("Unsqueeze", {make<int64_t>({2, 3}, x)}, {{"axes", a_ints({1})}}, 11), {2, 1, 3}, x);
}
TEST_P(OpTest, Unsqueeze_ScalarAndBool) {
  expect_equal<int64_t>(run1("Unsqueeze", {i64_scalar(42), i64({0})}, {}, 13), {1}, {42});
  auto b = rand_bools(rng_, 4);
  expect_near(run1("Unsqueeze", {make_bool({4}, b), i64({0})}, {}, 13), DType::kBool, {1, 4}, as_doubles(b), kExact);
}
TEST_P(OpTest, Unsqueeze_Errors) {
  auto x = make<float>({2, 3}, rand_f32(6));
  expect_error(StatusCode::kInvalidArgument, "more than once", "Unsqueeze", {x, i64({1, -3})}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "out of range", "Unsqueeze", {x, i64({3})}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "out of range", "Unsqueeze", {x, i64({-4})}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "missing", "Unsqueeze", {x}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "'axes' attribute", "Unsqueeze", {x}, {}, 11);
}

// ---------------------------------------------------------------------------------------------
// Shape / ConstantOfShape / Range

TEST_P(OpTest, Shape_Full) {
  expect_equal<int64_t>(run1("Shape", {make<float>({2, 3, 5}, rand_f32(30))}), {3}, {2, 3, 5});
  expect_equal<int64_t>(run1("Shape", {make_bool({0, 7}, {})}), {2}, {0, 7});
  expect_equal<int64_t>(run1("Shape", {make<float>({}, {1.0f})}), {0}, {});
}
TEST_P(OpTest, Shape_Opset15_StartEnd) {
  auto x = make<int64_t>({2, 3, 5, 7}, std::vector<int64_t>(210, 1));
  expect_equal<int64_t>(run1("Shape", {x}, {{"start", a_int(1)}, {"end", a_int(-1)}}, 15), {2}, {3, 5});
  expect_equal<int64_t>(run1("Shape", {x}, {{"start", a_int(-2)}}, 15), {2}, {5, 7});
  expect_equal<int64_t>(run1("Shape", {x}, {{"start", a_int(-10)}, {"end", a_int(10)}}, 15), {4}, {2, 3, 5, 7});
  expect_equal<int64_t>(run1("Shape", {x}, {{"start", a_int(3)}, {"end", a_int(1)}}, 19), {0}, {});
  // Before opset 15 there are no start/end attributes.
  expect_equal<int64_t>(run1("Shape", {x}, {{"start", a_int(1)}}, 13), {4}, {2, 3, 5, 7});
}

TEST_P(OpTest, ConstantOfShape_DefaultFloatZero) {
  Tensor out = run1("ConstantOfShape", {i64({2, 3})}, {}, 9);
  expect_near(out, DType::kFloat32, {2, 3}, std::vector<double>(6, 0.0), kExact);
}
TEST_P(OpTest, ConstantOfShape_ValueAttribute) {
  const int64_t v = rand_int<int64_t>(1, kI64Min, kI64Max)[0];
  expect_equal<int64_t>(run1("ConstantOfShape", {i64({3, 1, 2})}, {{"value", a_tensor(make<int64_t>({1}, {v}))}}),
                        {3, 1, 2}, std::vector<int64_t>(6, v));
  const float f = rand_f32(1)[0];
  expect_near(run1("ConstantOfShape", {i64({4})}, {{"value", a_tensor(make<float>({1}, {f}))}}), DType::kFloat32, {4},
              std::vector<double>(4, f), kExact);
  expect_near(run1("ConstantOfShape", {i64({2, 2})}, {{"value", a_tensor(make_bool({1}, {1}))}}), DType::kBool, {2, 2},
              std::vector<double>(4, 1.0), kExact);
  // An empty shape gives a scalar; a zero dimension an empty tensor.
  expect_near(run1("ConstantOfShape", {make<int64_t>({0}, {})}, {{"value", a_tensor(make<float>({1}, {f}))}}),
              DType::kFloat32, {}, {f}, kExact);
  expect_near(run1("ConstantOfShape", {i64({0, 5})}), DType::kFloat32, {0, 5}, {}, kExact);
}
TEST_P(OpTest, ConstantOfShape_Errors) {
  expect_error(StatusCode::kInvalidArgument, "negative", "ConstantOfShape", {i64({2, -1})});
  expect_error(StatusCode::kInvalidArgument, "too large", "ConstantOfShape", {i64({1 << 20, 1 << 20, 1 << 20})});
  expect_error(StatusCode::kInvalidArgument, "one-element", "ConstantOfShape", {i64({2})},
               {{"value", a_tensor(make<float>({2}, {1.0f, 2.0f}))}});
}

TEST_P(OpTest, Range_Int64) {
  auto run = [&](int64_t s, int64_t l, int64_t d) { return run1("Range", {i64_scalar(s), i64_scalar(l), i64_scalar(d)}, {}, 11); };
  expect_equal<int64_t>(run(0, 10, 3), {4}, {0, 3, 6, 9});
  expect_equal<int64_t>(run(10, 0, -3), {4}, {10, 7, 4, 1});
  expect_equal<int64_t>(run(5, 5, 1), {0}, {});
  expect_equal<int64_t>(run(5, 1, 1), {0}, {});
  // Position ids: arange(seq).
  const int64_t n = rand_int<int64_t>(1, 1, 512)[0];
  std::vector<int64_t> ref(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) ref[i] = i;
  expect_equal<int64_t>(run(0, n, 1), {n}, ref);
}
TEST_P(OpTest, Range_Int32) {
  Tensor out = run1("Range", {make<int32_t>({}, {-3}), make<int32_t>({}, {4}), make<int32_t>({}, {2})}, {}, 17);
  expect_equal<int32_t>(out, {4}, {-3, -1, 1, 3});
}
TEST_P(OpTest, Range_Float32_Float64) {
  const float s = rand_f32(1, -5, 5)[0], d = rand_f32(1, 0.1f, 1.0f)[0], l = s + rand_f32(1, 0, 10)[0];
  const int64_t n = static_cast<int64_t>(std::ceil((double{l} - s) / d));
  std::vector<double> ref;
  for (int64_t i = 0; i < n; ++i) ref.push_back(double{s} + static_cast<double>(i) * d);
  expect_near(run1("Range", {make<float>({}, {s}), make<float>({}, {l}), make<float>({}, {d})}), DType::kFloat32, {n}, ref,
              kTolElementwise);
  const double s2 = 2.5, l2 = -1.0, d2 = -0.75;  // 2.5, 1.75, 1.0, 0.25, -0.5
  expect_near(run1("Range", {make<double>({}, {s2}), make<double>({}, {l2}), make<double>({}, {d2})}), DType::kFloat64,
              {5}, {2.5, 1.75, 1.0, 0.25, -0.5}, kExact);
}
TEST_P(OpTest, Range_Errors) {
  expect_error(StatusCode::kInvalidArgument, "delta is zero", "Range", {i64_scalar(0), i64_scalar(5), i64_scalar(0)});
  expect_error(StatusCode::kInvalidArgument, "differ in type", "Range",
               {i64_scalar(0), make<int32_t>({}, {5}), i64_scalar(1)});
  expect_error(StatusCode::kInvalidArgument, "must be a scalar", "Range", {i64({0, 1}), i64_scalar(5), i64_scalar(1)});
  expect_error(StatusCode::kInvalidArgument, "2^31", "Range", {i64_scalar(kI64Min), i64_scalar(kI64Max), i64_scalar(1)});
}

// ---------------------------------------------------------------------------------------------
// Split (several outputs: run_node)

// The piece [off, off + size) of x along `axis`.
template <typename T>
std::vector<T> ref_piece(const std::vector<T>& x, const Shape& xs, int64_t axis, int64_t off, int64_t size, Shape* os) {
  *os = xs;
  (*os)[axis] = size;
  return remap(x, *os, [&](std::vector<int64_t> idx) {
    idx[axis] += off;
    return flat_of(idx, xs);
  });
}

// Runs Split and checks every output against ref_piece for the expected sizes.
template <typename T>
void check_split(const Backend& be, const std::vector<T>& x, Tensor xt, const Shape& xs, int64_t axis, std::vector<Tensor> extra,
                 Attrs attrs, int64_t opset, const std::vector<int64_t>& sizes) {
  std::vector<Tensor> in = {std::move(xt)};
  for (auto& t : extra) in.push_back(std::move(t));
  std::vector<Tensor> outs;
  Status st = run_node(be, "Split", std::move(in), static_cast<int>(sizes.size()), &outs, std::move(attrs), opset);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(outs.size(), sizes.size());
  int64_t off = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE("output " + std::to_string(i));
    Shape os;
    auto ref = ref_piece(x, xs, axis, off, sizes[i], &os);
    if constexpr (std::is_same_v<T, int64_t>) expect_equal<int64_t>(outs[i], os, ref);
    else if constexpr (std::is_same_v<T, uint8_t>) expect_near(outs[i], DType::kBool, os, as_doubles(ref), kExact);
    else expect_near(outs[i], dtype_of<T>(), os, as_doubles(ref), kExact);
    off += sizes[i];
  }
}

TEST_P(OpTest, Split_Opset13_SplitInput) {
  const Shape xs = {4, 7};
  auto x = rand_f32(numel_of(xs));
  check_split(*backend_, x, make(xs, x), xs, 1, {i64({2, 4, 1})}, {{"axis", a_int(1)}}, 13, {2, 4, 1});
  check_split(*backend_, x, make(xs, x), xs, 1, {i64({0, 7})}, {{"axis", a_int(-1)}}, 13, {0, 7});
}
TEST_P(OpTest, Split_Opset13_EqualParts) {
  const Shape xs = {6, 3, 2};
  auto x = rand_f32(numel_of(xs));
  check_split(*backend_, x, make(xs, x), xs, 0, {}, {}, 13, {2, 2, 2});
  // BERT's fused QKV: [batch, seq, 3 * hidden] into three along the last axis.
  const Shape qs = {2, 3, 12};
  auto q = rand_f32(numel_of(qs));
  check_split(*backend_, q, make(qs, q), qs, 2, {}, {{"axis", a_int(-1)}}, 17, {4, 4, 4});
}
TEST_P(OpTest, Split_Opset18_NumOutputs) {
  const Shape xs = {7, 2};
  auto x = rand_f32(numel_of(xs));
  check_split(*backend_, x, make(xs, x), xs, 0, {}, {{"num_outputs", a_int(3)}}, 18, {3, 3, 1});  // last one smaller
  check_split(*backend_, x, make(xs, x), xs, 1, {}, {{"axis", a_int(1)}, {"num_outputs", a_int(2)}}, 18, {1, 1});
  check_split(*backend_, x, make(xs, x), xs, 0, {i64({5, 2})}, {}, 18, {5, 2});  // split input still works
}
TEST_P(OpTest, Split_Opset11_SplitAttribute) {
  const Shape xs = {3, 5};
  auto x = rand_f64(numel_of(xs));
  check_split(*backend_, x, make(xs, x), xs, 1, {}, {{"axis", a_int(-1)}, {"split", a_ints({3, 2})}}, 11, {3, 2});
}
TEST_P(OpTest, Split_Int64_And_Bool) {
  const Shape xs = {5, 2, 3};
  auto x = rand_int<int64_t>(numel_of(xs), kI64Min, kI64Max);
  check_split(*backend_, x, make(xs, x), xs, 0, {i64({1, 4})}, {}, 13, {1, 4});
  auto b = rand_bools(rng_, numel_of(xs));
  check_split(*backend_, b, make_bool(xs, b), xs, 2, {i64({2, 1})}, {{"axis", a_int(2)}}, 13, {2, 1});
}
TEST_P(OpTest, Split_Errors) {
  auto x = make<float>({6, 4}, rand_f32(24));
  std::vector<Tensor> outs;
  expect_multi_error(run_node(*backend_, "Split", {x, i64({2, 3})}, 2, &outs, {}, 13), StatusCode::kInvalidArgument,
                     "Split", "sums to 5");
  expect_multi_error(run_node(*backend_, "Split", {x, i64({2, 2, 2})}, 2, &outs, {}, 13), StatusCode::kInvalidArgument,
                     "Split", "3 sizes for 2 outputs");
  expect_multi_error(run_node(*backend_, "Split", {x}, 4, &outs, {}, 13), StatusCode::kInvalidArgument, "Split",
                     "4 equal parts");
  expect_multi_error(run_node(*backend_, "Split", {x}, 2, &outs, {{"num_outputs", a_int(3)}}, 18),
                     StatusCode::kInvalidArgument, "Split", "does not match");
  expect_multi_error(run_node(*backend_, "Split", {x}, 2, &outs, {{"axis", a_int(2)}}, 13), StatusCode::kInvalidArgument,
                     "Split", "out of range");
  expect_multi_error(run_node(*backend_, "Split", {x, i64({3, 3})}, 2, &outs, {{"num_outputs", a_int(2)}}, 18),
                     StatusCode::kInvalidArgument, "Split", "not both");
}

// ---------------------------------------------------------------------------------------------
// ReduceMean / ReduceSum / ReduceMax

enum class Red { kMean, kSum, kMax };

// Reduces x over `axes` (normalized, any order) in double, by visiting every input element and
// folding it into its output slot; out_shape follows keepdims.
std::vector<double> ref_reduce(const std::vector<double>& x, const Shape& xs, std::vector<int64_t> axes, bool keepdims,
                               Red kind, Shape* out_shape) {
  const int64_t r = static_cast<int64_t>(xs.size());
  if (axes.empty())
    for (int64_t k = 0; k < r; ++k) axes.push_back(k);
  std::vector<bool> red(xs.size(), false);
  for (int64_t a : axes) red[a < 0 ? a + r : a] = true;
  Shape kept, os;
  for (int64_t k = 0; k < r; ++k) {
    if (!red[k]) kept.push_back(xs[k]);
    if (!red[k]) os.push_back(xs[k]);
    else if (keepdims) os.push_back(1);
  }
  *out_shape = os;
  const int64_t n_out = numel_of(kept);
  std::vector<double> acc(static_cast<std::size_t>(n_out), kind == Red::kMax ? -INFINITY : 0.0);
  std::vector<int64_t> count(static_cast<std::size_t>(n_out), 0);
  for (int64_t i = 0; i < numel_of(xs); ++i) {
    auto idx = unravel(i, xs);
    std::vector<int64_t> kidx;
    for (int64_t k = 0; k < r; ++k)
      if (!red[k]) kidx.push_back(idx[k]);
    const int64_t o = flat_of(kidx, kept);
    acc[o] = kind == Red::kMax ? std::max(acc[o], x[i]) : acc[o] + x[i];
    ++count[o];
  }
  if (kind == Red::kMean)
    for (int64_t o = 0; o < n_out; ++o) acc[o] /= static_cast<double>(count[o]);
  return acc;
}

// ReduceX of random float32 x. Axes go in the attribute (attr = true) or as input 1.
void check_reduce_f32(const std::string& op, Red kind, std::mt19937& rng, const Shape& xs,
                      std::optional<std::vector<int64_t>> axes, bool attr, std::optional<int64_t> keepdims, int64_t opset,
                      const Backend& be) {
  SCOPED_TRACE(op + " opset " + std::to_string(opset) + " on " + shape_to_string(xs));
  std::uniform_real_distribution<float> d(-2, 2);
  std::vector<float> x(static_cast<std::size_t>(numel_of(xs)));
  for (auto& v : x) v = d(rng);
  Attrs attrs;
  if (keepdims) attrs["keepdims"] = a_int(*keepdims);
  std::vector<Tensor> in = {make(xs, x)};
  if (axes && attr) attrs["axes"] = a_ints(*axes);
  if (axes && !attr) in.push_back(i64(*axes));
  std::vector<Tensor> outs;
  Status st = run_node(be, op, std::move(in), 1, &outs, std::move(attrs), opset);
  ASSERT_TRUE(st.ok()) << st.message();
  Shape os;
  auto ref = ref_reduce(as_doubles(x), xs, axes.value_or(std::vector<int64_t>{}), keepdims.value_or(1) != 0, kind, &os);
  expect_near(outs.at(0), DType::kFloat32, os, ref, kind == Red::kMax ? kExact : kTolReduce);
}

// Row results must not depend on how many rows share the batch (bitwise).
void check_rows_independent(const Backend& be, const std::string& op, Attrs attrs, std::vector<Tensor> extra,
                            int64_t opset, std::mt19937& rng) {
  const int64_t rows = 67, cols = 301;
  std::uniform_real_distribution<float> d(-3, 3);
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (auto& v : x) v = d(rng);
  std::vector<Tensor> in_all = {make<float>({rows, cols}, x)}, in_few;
  for (const auto& e : extra) in_all.push_back(e);
  std::vector<Tensor> all, few;
  ASSERT_TRUE(run_node(be, op, in_all, 1, &all, attrs, opset).ok());
  for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{64}}) {
    for (int64_t start : {int64_t{0}, rows - n}) {
      std::vector<float> part(x.begin() + start * cols, x.begin() + (start + n) * cols);
      std::vector<Tensor> in = {make<float>({n, cols}, part)};
      for (const auto& e : extra) in.push_back(e);
      ASSERT_TRUE(run_node(be, op, in, 1, &few, attrs, opset).ok());
      const int64_t per_row = few[0].numel() / n;
      ASSERT_EQ(all[0].numel(), per_row * rows);
      EXPECT_EQ(std::memcmp(few[0].data<float>(), all[0].data<float>() + start * per_row,
                            static_cast<std::size_t>(per_row * n) * sizeof(float)), 0)
          << n << " rows from row " << start << " differ from the same rows in a batch of " << rows;
    }
  }
}

TEST_P(OpTest, ReduceMean_Opset13_AxesAttribute) {
  check_reduce_f32("ReduceMean", Red::kMean, rng_, {4, 5, 6}, std::vector<int64_t>{-1}, true, std::nullopt, 13, *backend_);
  check_reduce_f32("ReduceMean", Red::kMean, rng_, {4, 5, 6}, std::vector<int64_t>{0, 2}, true, 0, 13, *backend_);
  check_reduce_f32("ReduceMean", Red::kMean, rng_, {4, 5, 6}, std::nullopt, true, 1, 13, *backend_);  // all axes
  check_reduce_f32("ReduceMean", Red::kMean, rng_, {3, 700}, std::vector<int64_t>{1}, true, 0, 11, *backend_);
}
TEST_P(OpTest, ReduceMean_Opset18_AxesInput) {
  check_reduce_f32("ReduceMean", Red::kMean, rng_, {4, 5, 6}, std::vector<int64_t>{-1}, false, 1, 18, *backend_);
  check_reduce_f32("ReduceMean", Red::kMean, rng_, {4, 5, 6}, std::vector<int64_t>{2, -3}, false, 0, 18, *backend_);
  check_reduce_f32("ReduceMean", Red::kMean, rng_, {4, 5, 6}, std::nullopt, false, 0, 18, *backend_);  // all axes
  check_reduce_f32("ReduceMean", Red::kMean, rng_, {4, 5, 6}, std::vector<int64_t>{}, false, 1, 18, *backend_);
}
TEST_P(OpTest, ReduceMean_Opset18_NoopWithEmptyAxes) {
  auto x = rand_f32(12);
  expect_near(run1("ReduceMean", {make<float>({3, 4}, x)}, {{"noop_with_empty_axes", a_int(1)}}, 18), DType::kFloat32,
              {3, 4}, as_doubles(x), kExact);
  expect_near(run1("ReduceMean", {make<float>({3, 4}, x), make<int64_t>({0}, {})}, {{"noop_with_empty_axes", a_int(1)}}, 18),
              DType::kFloat32, {3, 4}, as_doubles(x), kExact);
}
TEST_P(OpTest, ReduceMean_Float64) {
  const Shape xs = {3, 4, 5};
  auto x = rand_f64(numel_of(xs));
  Shape os;
  auto ref = ref_reduce(x, xs, {1}, true, Red::kMean, &os);
  expect_near(run1("ReduceMean", {make(xs, x)}, {{"axes", a_ints({-2})}}, 13), DType::kFloat64, os, ref, kTolReduce);
}
TEST_P(OpTest, ReduceMean_RowsIndependentOfBatch_Bitwise) {
  check_rows_independent(*backend_, "ReduceMean", {{"axes", a_ints({-1})}}, {}, 13, rng_);
  check_rows_independent(*backend_, "ReduceMean", {}, {i64({1})}, 18, rng_);
}
TEST_P(OpTest, ReduceMean_Errors) {
  auto x = make<float>({3, 4}, rand_f32(12));
  expect_error(StatusCode::kInvalidArgument, "out of range", "ReduceMean", {x}, {{"axes", a_ints({2})}}, 13);
  expect_error(StatusCode::kInvalidArgument, "out of range", "ReduceMean", {x, i64({-3})}, {}, 18);
  expect_error(StatusCode::kInvalidArgument, "more than once", "ReduceMean", {x, i64({1, -1})}, {}, 18);
  expect_error(StatusCode::kUnimplemented, "not supported", "ReduceMean", {make<int64_t>({2}, {1, 2})}, {}, 18);
}

TEST_P(OpTest, ReduceSum_Opset13_AxesInput) {
  check_reduce_f32("ReduceSum", Red::kSum, rng_, {4, 5, 6}, std::vector<int64_t>{-1}, false, std::nullopt, 13, *backend_);
  check_reduce_f32("ReduceSum", Red::kSum, rng_, {4, 5, 6}, std::vector<int64_t>{0, -1}, false, 0, 13, *backend_);
  check_reduce_f32("ReduceSum", Red::kSum, rng_, {4, 5, 6}, std::nullopt, false, 0, 13, *backend_);
  check_reduce_f32("ReduceSum", Red::kSum, rng_, {4, 5, 6}, std::vector<int64_t>{}, false, 1, 13, *backend_);
}
TEST_P(OpTest, ReduceSum_Opset11_AxesAttribute) {
  check_reduce_f32("ReduceSum", Red::kSum, rng_, {4, 5, 6}, std::vector<int64_t>{1}, true, 1, 11, *backend_);
  check_reduce_f32("ReduceSum", Red::kSum, rng_, {4, 5, 6}, std::nullopt, true, 0, 11, *backend_);
}
TEST_P(OpTest, ReduceSum_Int64_Exact) {
  const Shape xs = {3, 4, 5};
  auto x = rand_int<int64_t>(numel_of(xs), -1000000, 1000000);
  std::vector<int64_t> ref(12, 0);
  for (int64_t a = 0; a < 3; ++a)
    for (int64_t b = 0; b < 4; ++b)
      for (int64_t c = 0; c < 5; ++c) ref[a * 4 + b] += x[(a * 4 + b) * 5 + c];
  expect_equal<int64_t>(run1("ReduceSum", {make(xs, x), i64({2})}, {{"keepdims", a_int(0)}}, 13), {3, 4}, ref);
  // Int32 too (the attention-mask sum some exports make).
  std::vector<int32_t> m = {1, 1, 0, 1, 0, 0};
  expect_equal<int32_t>(run1("ReduceSum", {make<int32_t>({2, 3}, m), i64({-1})}, {}, 13), {2, 1}, {2, 1});
}
TEST_P(OpTest, ReduceSum_Float64_And_NoopWithEmptyAxes) {
  const Shape xs = {2, 3, 4};
  auto x = rand_f64(numel_of(xs));
  Shape os;
  auto ref = ref_reduce(x, xs, {0, 2}, true, Red::kSum, &os);
  expect_near(run1("ReduceSum", {make(xs, x), i64({0, -1})}, {}, 13), DType::kFloat64, os, ref, kTolReduce);
  expect_near(run1("ReduceSum", {make(xs, x)}, {{"noop_with_empty_axes", a_int(1)}}, 13), DType::kFloat64, xs, x, kExact);
}
TEST_P(OpTest, ReduceSum_RowsIndependentOfBatch_Bitwise) {
  check_rows_independent(*backend_, "ReduceSum", {}, {i64({-1})}, 13, rng_);
}
TEST_P(OpTest, ReduceSum_Errors) {
  auto x = make<float>({3, 4}, rand_f32(12));
  expect_error(StatusCode::kInvalidArgument, "out of range", "ReduceSum", {x, i64({5})}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "more than once", "ReduceSum", {x, i64({0, 0})}, {}, 13);
  expect_error(StatusCode::kInvalidArgument, "int64", "ReduceSum", {x, make<float>({1}, {0.0f})}, {}, 13);
}

TEST_P(OpTest, ReduceMax_Opset13_AxesAttribute) {
  check_reduce_f32("ReduceMax", Red::kMax, rng_, {4, 5, 6}, std::vector<int64_t>{-1}, true, 0, 13, *backend_);
  check_reduce_f32("ReduceMax", Red::kMax, rng_, {4, 5, 6}, std::vector<int64_t>{0, 1}, true, 1, 13, *backend_);
  check_reduce_f32("ReduceMax", Red::kMax, rng_, {4, 5, 6}, std::nullopt, true, std::nullopt, 13, *backend_);
}
TEST_P(OpTest, ReduceMax_Opset18_AxesInput) {
  check_reduce_f32("ReduceMax", Red::kMax, rng_, {4, 5, 6}, std::vector<int64_t>{1}, false, 0, 18, *backend_);
  check_reduce_f32("ReduceMax", Red::kMax, rng_, {4, 5, 6}, std::vector<int64_t>{-3, -1}, false, 1, 18, *backend_);
  check_reduce_f32("ReduceMax", Red::kMax, rng_, {4, 5, 6}, std::nullopt, false, 0, 18, *backend_);
}
TEST_P(OpTest, ReduceMax_Int64_Float64_Bool) {
  const Shape xs = {3, 5};
  auto x = rand_int<int64_t>(numel_of(xs), kI64Min, kI64Max);
  std::vector<int64_t> ref(3, kI64Min);
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 5; ++c) ref[r] = std::max(ref[r], x[r * 5 + c]);
  expect_equal<int64_t>(run1("ReduceMax", {make(xs, x), i64({1})}, {{"keepdims", a_int(0)}}, 18), {3}, ref);
  auto d = rand_f64(numel_of(xs));
  Shape os;
  auto refd = ref_reduce(d, xs, {0}, true, Red::kMax, &os);
  expect_near(run1("ReduceMax", {make(xs, d)}, {{"axes", a_ints({0})}}, 13), DType::kFloat64, os, refd, kExact);
  // Bool (opset 20): false < true, i.e. any().
  auto b = rand_bools(rng_, numel_of(xs));
  b[0] = b[1] = b[2] = b[3] = b[4] = 0;
  std::vector<double> refb(3, 0.0);
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 5; ++c) refb[r] = std::max(refb[r], static_cast<double>(b[r * 5 + c]));
  expect_near(run1("ReduceMax", {make_bool(xs, b), i64({-1})}, {}, 20), DType::kBool, {3, 1}, refb, kExact);
}
TEST_P(OpTest, ReduceMax_NaNPropagates) {
  auto x = rand_f32(8);
  x[5] = std::numeric_limits<float>::quiet_NaN();
  Tensor out = run1("ReduceMax", {make<float>({2, 4}, x)}, {{"axes", a_ints({1})}}, 13);
  ASSERT_EQ(out.shape(), (Shape{2, 1}));
  EXPECT_EQ(out.data<float>()[0], std::max({x[0], x[1], x[2], x[3]}));
  EXPECT_TRUE(std::isnan(out.data<float>()[1]));
}
TEST_P(OpTest, ReduceMax_Errors) {
  auto x = make<float>({3, 4}, rand_f32(12));
  expect_error(StatusCode::kInvalidArgument, "out of range", "ReduceMax", {x}, {{"axes", a_ints({-3})}}, 13);
  expect_error(StatusCode::kInvalidArgument, "out of range", "ReduceMax", {x, i64({2})}, {}, 18);
}

// ---------------------------------------------------------------------------------------------
// ReduceMin / ReduceProd / ReduceL1 / ReduceL2 / ReduceSumSquare / ReduceLogSum / ReduceLogSumExp

// Each output's group of x (axes normalized, any order; none: all), in row-major order; out_shape
// follows keepdims.
std::vector<std::vector<double>> ref_groups(const std::vector<double>& x, const Shape& xs, std::vector<int64_t> axes,
                                            bool keepdims, Shape* out_shape) {
  const int64_t r = static_cast<int64_t>(xs.size());
  if (axes.empty())
    for (int64_t k = 0; k < r; ++k) axes.push_back(k);
  std::vector<bool> red(xs.size(), false);
  for (int64_t a : axes) red[a < 0 ? a + r : a] = true;
  Shape kept, os;
  for (int64_t k = 0; k < r; ++k) {
    if (!red[k]) kept.push_back(xs[k]);
    if (!red[k]) os.push_back(xs[k]);
    else if (keepdims) os.push_back(1);
  }
  *out_shape = os;
  std::vector<std::vector<double>> groups(static_cast<std::size_t>(numel_of(kept)));
  for (int64_t i = 0; i < numel_of(xs); ++i) {
    auto idx = unravel(i, xs);
    std::vector<int64_t> kidx;
    for (int64_t k = 0; k < r; ++k)
      if (!red[k]) kidx.push_back(idx[k]);
    groups[flat_of(kidx, kept)].push_back(x[i]);
  }
  return groups;
}

// The seven reductions straight from their ONNX definitions, over a group (empty included).
double ref_reduce_op(const std::string& op, const std::vector<double>& g) {
  double acc = op == "ReduceMin" ? INFINITY : op == "ReduceProd" ? 1.0 : 0.0;
  for (double v : g) {
    if (op == "ReduceMin") acc = std::isnan(v) || std::isnan(acc) ? NAN : std::min(acc, v);
    else if (op == "ReduceProd") acc *= v;
    else if (op == "ReduceL1") acc += std::fabs(v);
    else if (op == "ReduceL2" || op == "ReduceSumSquare") acc += v * v;
    else if (op == "ReduceLogSum") acc += v;
    else acc += std::exp(v);  // ReduceLogSumExp: the inputs of these tests do not overflow exp in double
  }
  if (op == "ReduceL2") return std::sqrt(acc);
  if (op == "ReduceLogSum" || op == "ReduceLogSumExp") return std::log(acc);
  return acc;
}

// op over random float32 x in [lo, hi]. Axes in the attribute (attr) or as input 1.
void check_reduce_more(const std::string& op, std::mt19937& rng, const Shape& xs,
                       std::optional<std::vector<int64_t>> axes, bool attr, std::optional<int64_t> keepdims,
                       int64_t opset, const Backend& be, float lo = -2, float hi = 2) {
  SCOPED_TRACE(op + " opset " + std::to_string(opset) + " on " + shape_to_string(xs));
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> x(static_cast<std::size_t>(numel_of(xs)));
  for (auto& v : x) v = d(rng);
  Attrs attrs;
  if (keepdims) attrs["keepdims"] = a_int(*keepdims);
  std::vector<Tensor> in = {make(xs, x)};
  if (axes && attr) attrs["axes"] = a_ints(*axes);
  if (axes && !attr) in.push_back(i64(*axes));
  std::vector<Tensor> outs;
  Status st = run_node(be, op, std::move(in), 1, &outs, std::move(attrs), opset);
  ASSERT_TRUE(st.ok()) << st.message();
  Shape os;
  auto groups = ref_groups(as_doubles(x), xs, axes.value_or(std::vector<int64_t>{}), keepdims.value_or(1) != 0, &os);
  std::vector<double> ref;
  for (const auto& g : groups) ref.push_back(ref_reduce_op(op, g));
  expect_near(outs.at(0), DType::kFloat32, os, ref, op == "ReduceMin" ? kExact : kTolReduce);
}

// The forms every one of the seven takes: axes attribute (opset 13), axes input (18), all axes,
// keepdims 0 and 1, and rows long enough for the CUDA backend's warp and block row kernels.
void check_reduce_forms(const std::string& op, std::mt19937& rng, const Backend& be, float lo, float hi) {
  check_reduce_more(op, rng, {4, 5, 6}, std::vector<int64_t>{-1}, true, 0, 13, be, lo, hi);
  check_reduce_more(op, rng, {4, 5, 6}, std::vector<int64_t>{0, 2}, true, std::nullopt, 11, be, lo, hi);
  check_reduce_more(op, rng, {4, 5, 6}, std::nullopt, true, 1, 13, be, lo, hi);  // all axes
  check_reduce_more(op, rng, {4, 5, 6}, std::vector<int64_t>{1}, false, 1, 18, be, lo, hi);
  check_reduce_more(op, rng, {4, 5, 6}, std::vector<int64_t>{2, -3}, false, 0, 18, be, lo, hi);
  check_reduce_more(op, rng, {4, 5, 6}, std::nullopt, false, 0, 18, be, lo, hi);  // all axes
  check_reduce_more(op, rng, {3, 70}, std::vector<int64_t>{1}, false, 0, 18, be, lo, hi);    // a warp per row
  check_reduce_more(op, rng, {2, 1500}, std::vector<int64_t>{-1}, false, 1, 18, be, lo, hi);  // a block per row
}

// The value of op over an empty group: the reduced axis of size 0.
void check_reduce_empty(const std::string& op, const Backend& be, double want) {
  SCOPED_TRACE(op + " over nothing");
  std::vector<Tensor> outs;
  Status st = run_node(be, op, {make<float>({2, 0}, {}), i64({1})}, 1, &outs, {}, 18);
  ASSERT_TRUE(st.ok()) << st.message();
  expect_near(outs.at(0), DType::kFloat32, {2, 1}, {want, want}, kExact);
}

// noop_with_empty_axes from opset 18: Y is X.
void check_reduce_noop(const std::string& op, const Backend& be, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(0.5f, 2);
  std::vector<float> x(12);
  for (auto& v : x) v = d(rng);
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_node(be, op, {make<float>({3, 4}, x)}, 1, &outs, {{"noop_with_empty_axes", a_int(1)}}, 18).ok());
  expect_near(outs.at(0), DType::kFloat32, {3, 4}, as_doubles(x), kExact);
}

TEST_P(OpTest, ReduceMin_AxesAttributeAndInput) { check_reduce_forms("ReduceMin", rng_, *backend_, -2, 2); }
TEST_P(OpTest, ReduceMin_EmptyIsInfinity_NoopAndNaN) {
  check_reduce_empty("ReduceMin", *backend_, INFINITY);
  check_reduce_noop("ReduceMin", *backend_, rng_);
  auto x = rand_f32(8);
  x[5] = std::numeric_limits<float>::quiet_NaN();
  Tensor out = run1("ReduceMin", {make<float>({2, 4}, x)}, {{"axes", a_ints({1})}}, 13);
  ASSERT_EQ(out.shape(), (Shape{2, 1}));
  EXPECT_EQ(out.data<float>()[0], std::min({x[0], x[1], x[2], x[3]}));
  EXPECT_TRUE(std::isnan(out.data<float>()[1]));
}
TEST_P(OpTest, ReduceMin_Int64_Int32_Bool_Float64) {
  const Shape xs = {3, 5};
  auto x = rand_int<int64_t>(numel_of(xs), kI64Min, kI64Max);
  std::vector<int64_t> ref(3, kI64Max);
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 5; ++c) ref[r] = std::min(ref[r], x[r * 5 + c]);
  expect_equal<int64_t>(run1("ReduceMin", {make(xs, x), i64({1})}, {{"keepdims", a_int(0)}}, 18), {3}, ref);
  // int32 over nothing: the type's largest value.
  expect_equal<int32_t>(run1("ReduceMin", {make<int32_t>({2, 0}, {}), i64({1})}, {{"keepdims", a_int(0)}}, 18), {2},
                        {std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::max()});
  // Bool (opset 20): all().
  auto b = rand_bools(rng_, numel_of(xs));
  for (int c = 0; c < 5; ++c) b[c] = 1;
  std::vector<double> refb(3, 1.0);
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 5; ++c) refb[r] = std::min(refb[r], static_cast<double>(b[r * 5 + c]));
  expect_near(run1("ReduceMin", {make_bool(xs, b), i64({-1})}, {}, 20), DType::kBool, {3, 1}, refb, kExact);
  auto d = rand_f64(numel_of(xs));
  Shape os;
  auto groups = ref_groups(d, xs, {0}, true, &os);
  std::vector<double> refd;
  for (const auto& g : groups) refd.push_back(ref_reduce_op("ReduceMin", g));
  expect_near(run1("ReduceMin", {make(xs, d)}, {{"axes", a_ints({0})}}, 13), DType::kFloat64, os, refd, kExact);
}

TEST_P(OpTest, ReduceProd_AxesAttributeAndInput) { check_reduce_forms("ReduceProd", rng_, *backend_, 0.8f, 1.25f); }
TEST_P(OpTest, ReduceProd_EmptyIsOne_Noop_Int64Wraps) {
  check_reduce_empty("ReduceProd", *backend_, 1.0);
  check_reduce_noop("ReduceProd", *backend_, rng_);
  // int64 products wrap modulo 2^64: 2^40 * 2^30 = 2^70 -> 0; 3^41 wraps to a known value.
  std::vector<int64_t> x = {int64_t{1} << 40, int64_t{1} << 30, -7, 5, 3, 1};
  uint64_t p3 = 1;
  for (int k = 0; k < 41; ++k) p3 *= 3u;
  std::vector<int64_t> y(41, 3);
  expect_equal<int64_t>(run1("ReduceProd", {make<int64_t>({3, 2}, x), i64({1})}, {{"keepdims", a_int(0)}}, 18), {3},
                        {0, -35, 3});
  expect_equal<int64_t>(run1("ReduceProd", {make<int64_t>({41}, y)}, {{"keepdims", a_int(0)}}, 13), {},
                        {static_cast<int64_t>(p3)});
}

TEST_P(OpTest, ReduceL1_AxesAttributeAndInput) { check_reduce_forms("ReduceL1", rng_, *backend_, -2, 2); }
TEST_P(OpTest, ReduceL1_EmptyIsZero_Noop_Int32) {
  check_reduce_empty("ReduceL1", *backend_, 0.0);
  check_reduce_noop("ReduceL1", *backend_, rng_);
  expect_equal<int32_t>(run1("ReduceL1", {make<int32_t>({2, 3}, {-1, 2, -3, 4, -5, 6}), i64({1})}, {}, 18), {2, 1},
                        {6, 15});
}

TEST_P(OpTest, ReduceL2_AxesAttributeAndInput) { check_reduce_forms("ReduceL2", rng_, *backend_, -2, 2); }
TEST_P(OpTest, ReduceL2_EmptyIsZero_Noop_IntegersRefused) {
  check_reduce_empty("ReduceL2", *backend_, 0.0);
  check_reduce_noop("ReduceL2", *backend_, rng_);
  expect_error(StatusCode::kUnimplemented, "not supported", "ReduceL2", {make<int64_t>({2}, {3, 4})}, {}, 18);
}

TEST_P(OpTest, ReduceSumSquare_AxesAttributeAndInput) { check_reduce_forms("ReduceSumSquare", rng_, *backend_, -2, 2); }
TEST_P(OpTest, ReduceSumSquare_EmptyIsZero_Noop_Int64) {
  check_reduce_empty("ReduceSumSquare", *backend_, 0.0);
  check_reduce_noop("ReduceSumSquare", *backend_, rng_);
  expect_equal<int64_t>(run1("ReduceSumSquare", {make<int64_t>({2, 2}, {-3, 4, 1000000, -1}), i64({-1})},
                             {{"keepdims", a_int(0)}}, 18),
                        {2}, {25, 1000000000001});
  expect_error(StatusCode::kUnimplemented, "not supported", "ReduceSumSquare", {make_bool({2}, {1, 0})}, {}, 18);
}

TEST_P(OpTest, ReduceLogSum_AxesAttributeAndInput) { check_reduce_forms("ReduceLogSum", rng_, *backend_, 0.1f, 3); }
TEST_P(OpTest, ReduceLogSum_EmptyIsMinusInfinity_Noop) {
  check_reduce_empty("ReduceLogSum", *backend_, -INFINITY);
  check_reduce_noop("ReduceLogSum", *backend_, rng_);
  expect_error(StatusCode::kUnimplemented, "not supported", "ReduceLogSum", {make<int32_t>({2}, {1, 2})}, {}, 13);
}

TEST_P(OpTest, ReduceLogSumExp_AxesAttributeAndInput) {
  check_reduce_forms("ReduceLogSumExp", rng_, *backend_, -5, 5);
}
TEST_P(OpTest, ReduceMin_RowsIndependentOfBatch_Bitwise) {
  check_rows_independent(*backend_, "ReduceMin", {}, {i64({-1})}, 18, rng_);
}
TEST_P(OpTest, ReduceL2_RowsIndependentOfBatch_Bitwise) {
  check_rows_independent(*backend_, "ReduceL2", {}, {i64({-1})}, 18, rng_);
}
TEST_P(OpTest, ReduceLogSumExp_RowsIndependentOfBatch_Bitwise) {
  check_rows_independent(*backend_, "ReduceLogSumExp", {{"axes", a_ints({1})}}, {}, 13, rng_);
}
TEST_P(OpTest, LogSoftmax_RowsIndependentOfBatch_Bitwise) {
  check_rows_independent(*backend_, "LogSoftmax", {}, {}, 13, rng_);
}
TEST_P(OpTest, ReduceLogSumExp_LargeInputs_NoOverflow_EmptyAndInfinities) {
  check_reduce_empty("ReduceLogSumExp", *backend_, -INFINITY);
  check_reduce_noop("ReduceLogSumExp", *backend_, rng_);
  // exp(1000) overflows float32 and float64: the max-shifted form gives 1000 + log(1 + e^-1 + e^-2).
  const float inf = std::numeric_limits<float>::infinity();
  Tensor out = run1("ReduceLogSumExp", {make<float>({3, 3}, {1000, 999, 998, -1000, -1001, -inf, -inf, -inf, -inf}),
                                        i64({1})},
                    {{"keepdims", a_int(0)}}, 18);
  const double tail = std::log1p(std::exp(-1.0) + std::exp(-2.0));
  expect_near(out, DType::kFloat32, {3}, {1000 + tail, -1000 + std::log1p(std::exp(-1.0)), -INFINITY}, kTolReduce);
  Tensor big = run1("ReduceLogSumExp", {make<float>({1, 2}, {inf, 3})}, {{"axes", a_ints({1})}}, 13);
  expect_near(big, DType::kFloat32, {1, 1}, {INFINITY}, kExact);
  expect_error(StatusCode::kUnimplemented, "not supported", "ReduceLogSumExp", {make<int64_t>({2}, {1, 2})}, {}, 18);
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization

// x viewed as [outer, inner]; scale/bias read at broadcast_flat(idx, their shape) against x's shape.
std::vector<double> ref_layer_norm(const std::vector<double>& x, const Shape& xs, int64_t axis,
                                   const std::vector<double>& scale, const Shape& ss, const std::vector<double>* bias,
                                   const Shape& bs, double eps, std::vector<double>* mean_out = nullptr,
                                   std::vector<double>* inv_out = nullptr) {
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < static_cast<int64_t>(xs.size()); ++k) (k < axis ? outer : inner) *= xs[k];
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < inner; ++j) mean += x[o * inner + j];
    mean /= static_cast<double>(inner);
    for (int64_t j = 0; j < inner; ++j) var += (x[o * inner + j] - mean) * (x[o * inner + j] - mean);
    var /= static_cast<double>(inner);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t f = o * inner + j;
      const auto idx = unravel(f, xs);
      y[f] = (x[f] - mean) * inv * scale[broadcast_flat(idx, ss)] + (bias ? (*bias)[broadcast_flat(idx, bs)] : 0.0);
    }
    if (mean_out) mean_out->push_back(mean);
    if (inv_out) inv_out->push_back(inv);
  }
  return y;
}

TEST_P(OpTest, LayerNormalization_LastAxis_ScaleBias) {
  const Shape xs = {4, 5, 16}, ss = {16};
  auto x = rand_f32(numel_of(xs), -3, 3), s = rand_f32(16, 0.5f, 2), b = rand_f32(16);
  const auto bd = as_doubles(b);
  auto ref = ref_layer_norm(as_doubles(x), xs, 2, as_doubles(s), ss, &bd, ss, 1e-5);
  expect_near(run1("LayerNormalization", {make(xs, x), make(ss, s), make(ss, b)}), DType::kFloat32, xs, ref, kTolReduce);
  // Explicit axis -1 and a custom epsilon.
  ref = ref_layer_norm(as_doubles(x), xs, 2, as_doubles(s), ss, &bd, ss, 1e-2);
  expect_near(run1("LayerNormalization", {make(xs, x), make(ss, s), make(ss, b)},
                   {{"axis", a_int(-1)}, {"epsilon", a_float(1e-2f)}}),
              DType::kFloat32, xs, ref, kTolReduce);
}
TEST_P(OpTest, LayerNormalization_Axis1_NoBias) {
  const Shape xs = {3, 4, 5}, ss = {4, 5};
  auto x = rand_f32(numel_of(xs), -3, 3), s = rand_f32(20, -2, 2);
  auto ref = ref_layer_norm(as_doubles(x), xs, 1, as_doubles(s), ss, nullptr, {}, 1e-5);
  expect_near(run1("LayerNormalization", {make(xs, x), make(ss, s)}, {{"axis", a_int(1)}}), DType::kFloat32, xs, ref,
              kTolReduce);
  // B omitted as an empty name.
  expect_near(run1("LayerNormalization", {make(xs, x), make(ss, s), Tensor()}, {{"axis", a_int(-2)}}), DType::kFloat32, xs,
              ref, kTolReduce);
}
TEST_P(OpTest, LayerNormalization_Float64_NegativeAxis) {
  const Shape xs = {2, 3, 4, 6}, ss = {4, 6};
  auto x = rand_f64(numel_of(xs), -3, 3), s = rand_f64(24), b = rand_f64(24);
  auto ref = ref_layer_norm(x, xs, 2, s, ss, &b, ss, 1e-5);
  expect_near(run1("LayerNormalization", {make(xs, x), make(ss, s), make(ss, b)}, {{"axis", a_int(-2)}}), DType::kFloat64,
              xs, ref, kTolReduce);
}
TEST_P(OpTest, LayerNormalization_ScaleBroadcasts) {
  // Scale [5] and B [1, 5] over normalized dims [4, 5] (axis -2): both stretch along dim 4.
  const Shape xs = {3, 4, 5}, ss = {5}, bs = {1, 5};
  auto x = rand_f32(numel_of(xs), -3, 3), s = rand_f32(5, 0.5f, 2), b = rand_f32(5);
  const auto bd = as_doubles(b);
  auto ref = ref_layer_norm(as_doubles(x), xs, 1, as_doubles(s), ss, &bd, bs, 1e-5);
  expect_near(run1("LayerNormalization", {make(xs, x), make(ss, s), make(bs, b)}, {{"axis", a_int(-2)}}), DType::kFloat32,
              xs, ref, kTolReduce);
  // Scale varying per row ([3, 1, 1]: unidirectionally broadcastable to X).
  const Shape rs = {3, 1, 1};
  auto sr = rand_f32(3, 0.5f, 2);
  ref = ref_layer_norm(as_doubles(x), xs, 2, as_doubles(sr), rs, nullptr, {}, 1e-5);
  expect_near(run1("LayerNormalization", {make(xs, x), make(rs, sr)}), DType::kFloat32, xs, ref, kTolReduce);
}
TEST_P(OpTest, LayerNormalization_ConstantRows_GiveBias) {
  // Zero variance: (x - mean) is exactly 0, so Y = B whatever epsilon.
  const Shape xs = {2, 8};
  std::vector<float> x(16, 3.25f);
  auto s = rand_f32(8), b = rand_f32(8);
  std::vector<double> ref;
  for (int r = 0; r < 2; ++r)
    for (float v : b) ref.push_back(v);
  expect_near(run1("LayerNormalization", {make(xs, x), make<float>({8}, s), make<float>({8}, b)}), DType::kFloat32, xs, ref,
              kExact);
}
TEST_P(OpTest, LayerNormalization_MeanAndInvStdDevOutputs) {
  const Shape xs = {3, 2, 6}, ss = {2, 6};
  auto x = rand_f32(numel_of(xs), -3, 3), s = rand_f32(12), b = rand_f32(12);
  const auto bd = as_doubles(b);
  std::vector<double> mean, inv;
  auto ref = ref_layer_norm(as_doubles(x), xs, 1, as_doubles(s), ss, &bd, ss, 1e-5, &mean, &inv);
  std::vector<Tensor> outs;
  Status st = run_node(*backend_, "LayerNormalization", {make(xs, x), make(ss, s), make(ss, b)}, 3, &outs,
                        {{"axis", a_int(1)}}, 17);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(outs.size(), 3u);
  expect_near(outs[0], DType::kFloat32, xs, ref, kTolReduce);
  expect_near(outs[1], DType::kFloat32, {3, 1, 1}, mean, kTolReduce);
  expect_near(outs[2], DType::kFloat32, {3, 1, 1}, inv, kTolReduce);
}
// Rows longer than 1024 (the CUDA backend's block-per-row kernel; a warp per row up to 1024), with
// a common offset and the Mean and InvStdDev outputs.
TEST_P(OpTest, LayerNormalization_LongRows_BlockPerRow_MeanAndInvStdDev) {
  const Shape xs = {3, 1500}, ss = {1500};
  auto x = rand_f32(numel_of(xs), -3, 3), s = rand_f32(1500, 0.5f, 2), b = rand_f32(1500);
  for (auto& v : x) v += 100.0f;
  const auto bd = as_doubles(b);
  std::vector<double> mean, inv;
  auto ref = ref_layer_norm(as_doubles(x), xs, 1, as_doubles(s), ss, &bd, ss, 1e-5, &mean, &inv);
  std::vector<Tensor> outs;
  Status st = run_node(*backend_, "LayerNormalization", {make(xs, x), make(ss, s), make(ss, b)}, 3, &outs,
                        {{"axis", a_int(-1)}}, 17);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(outs.size(), 3u);
  expect_near(outs[0], DType::kFloat32, xs, ref, kTolReduce);
  expect_near(outs[1], DType::kFloat32, {3, 1}, mean, kTolReduce);
  expect_near(outs[2], DType::kFloat32, {3, 1}, inv, kTolReduce);
}
TEST_P(OpTest, LayerNormalization_RowsIndependentOfBatch_Bitwise) {
  std::vector<float> s(301), b(301);
  for (std::size_t j = 0; j < s.size(); ++j) s[j] = 0.5f + static_cast<float>(j) / 301.0f, b[j] = static_cast<float>(j) / 1000.0f;
  check_rows_independent(*backend_, "LayerNormalization", {}, {make<float>({301}, s), make<float>({301}, b)}, 17, rng_);
}
TEST_P(OpTest, LayerNormalization_Errors) {
  auto x = make<float>({3, 4}, rand_f32(12));
  auto s = make<float>({4}, rand_f32(4));
  expect_error(StatusCode::kInvalidArgument, "out of range", "LayerNormalization", {x, s}, {{"axis", a_int(2)}});
  expect_error(StatusCode::kInvalidArgument, "out of range", "LayerNormalization", {x, s}, {{"axis", a_int(-3)}});
  expect_error(StatusCode::kInvalidArgument, "does not broadcast", "LayerNormalization", {x, make<float>({3}, rand_f32(3))});
  expect_error(StatusCode::kInvalidArgument, "does not broadcast", "LayerNormalization",
               {x, s, make<float>({2, 3, 4}, rand_f32(24))});
  expect_error(StatusCode::kInvalidArgument, "missing", "LayerNormalization", {x});
  expect_error(StatusCode::kUnimplemented, "not supported", "LayerNormalization",
               {make<int64_t>({2}, {1, 2}), make<int64_t>({2}, {1, 1})});
}

// shardscore.AddLayerNormalization (pass_fuse_add_layer_norm): LayerNormalization(A + B).
TEST_P(OpTest, AddLayerNormalization_SameShapesAndBroadcasts) {
  // A transformer's residual (same shapes: the fused kernel on CUDA), then BERT's embeddings
  // (positions [1, S, H] added to tokens, either side), and an axis before the last.
  struct Case {
    Shape as, bs;
    int64_t axis;
  };
  for (const Case& c : {Case{{3, 5, 16}, {3, 5, 16}, -1}, Case{{3, 5, 16}, {1, 5, 16}, -1}, Case{{5, 16}, {3, 5, 16}, -1},
                        Case{{2, 3, 4, 6}, {2, 3, 4, 6}, 2}}) {
    SCOPED_TRACE(shape_to_string(c.as) + " + " + shape_to_string(c.bs) + ", axis " + std::to_string(c.axis));
    const Shape xs = numel_of(c.as) >= numel_of(c.bs) ? c.as : c.bs;
    const int64_t axis = c.axis < 0 ? static_cast<int64_t>(xs.size()) + c.axis : c.axis;
    const Shape ss(xs.begin() + axis, xs.end());
    auto a = rand_f32(numel_of(c.as), -3, 3), b = rand_f32(numel_of(c.bs), -3, 3), sc = rand_f32(numel_of(ss), 0.5f, 2),
         bias = rand_f32(numel_of(ss));
    std::vector<double> sum(static_cast<std::size_t>(numel_of(xs)));
    for (int64_t i = 0; i < numel_of(xs); ++i) {
      const auto idx = unravel(i, xs);
      sum[i] = double{a[broadcast_flat(idx, c.as)]} + double{b[broadcast_flat(idx, c.bs)]};
    }
    const auto bd = as_doubles(bias);
    const auto ref = ref_layer_norm(sum, xs, axis, as_doubles(sc), ss, &bd, ss, 1e-5);
    expect_near(run1("AddLayerNormalization", {make(c.as, a), make(c.bs, b), make(ss, sc), make(ss, bias)},
                     {{"axis", a_int(c.axis)}}, 1, "shardscore"),
                DType::kFloat32, xs, ref, kTolReduce);
  }
}
TEST_P(OpTest, AddLayerNormalization_BitsOfAddThenLayerNormalization) {
  // On the CPU the same operations in the same order as the two ops; on CUDA as well (float32 sum,
  // then the same kernel), so the bits match there too.
  const Shape xs = {7, 3, 40}, ss = {40};
  const auto a = rand_f32(numel_of(xs), -3, 3), b = rand_f32(numel_of(xs), -3, 3), sc = rand_f32(40, 0.5f, 2),
             bias = rand_f32(40);
  Tensor fused = run1("AddLayerNormalization", {make(xs, a), make(xs, b), make(ss, sc), make(ss, bias)},
                      {{"epsilon", a_float(1e-12f)}}, 1, "shardscore");
  Tensor sum = run1("Add", {make(xs, a), make(xs, b)});
  Tensor two = run1("LayerNormalization", {sum, make(ss, sc), make(ss, bias)}, {{"epsilon", a_float(1e-12f)}});
  ASSERT_EQ(fused.shape(), xs);
  ASSERT_EQ(two.shape(), xs);
  EXPECT_EQ(std::memcmp(fused.raw(), two.raw(), fused.nbytes()), 0);
}
TEST_P(OpTest, AddLayerNormalization_Errors) {
  auto t = [&](Shape s) { return make<float>(s, rand_f32(numel_of(s))); };
  expect_error(StatusCode::kInvalidArgument, "broadcast", "AddLayerNormalization", {t({3, 4}), t({2, 4}), t({4})}, {}, 1,
               "shardscore");
  expect_error(StatusCode::kInvalidArgument, "does not broadcast", "AddLayerNormalization", {t({3, 4}), t({3, 4}), t({3})},
               {}, 1, "shardscore");
  expect_error(StatusCode::kInvalidArgument, "missing", "AddLayerNormalization", {t({3, 4})}, {}, 1, "shardscore");
}

// ---------------------------------------------------------------------------------------------
// Tile

TEST_P(OpTest, Tile_Float32_Int64_Bool_RepeatsOfOneAndZero) {
  const Shape xs = {2, 3, 2};
  auto x = rand_f32(numel_of(xs));
  for (const std::vector<int64_t>& reps : {std::vector<int64_t>{2, 1, 3}, std::vector<int64_t>{1, 1, 1},
                                           std::vector<int64_t>{3, 2, 1}, std::vector<int64_t>{1, 0, 2}}) {
    SCOPED_TRACE("repeats " + shape_to_string(reps));
    Shape os;
    for (std::size_t k = 0; k < xs.size(); ++k) os.push_back(xs[k] * reps[k]);
    auto ref = remap(as_doubles(x), os, [&](const std::vector<int64_t>& idx) {
      std::vector<int64_t> src(idx.size());
      for (std::size_t k = 0; k < idx.size(); ++k) src[k] = idx[k] % xs[k];
      return flat_of(src, xs);
    });
    expect_near(run1("Tile", {make(xs, x), i64(reps)}, {}, 13), DType::kFloat32, os, ref, kExact);
  }
  auto xi = rand_int<int64_t>(6, kI64Min, kI64Max);
  auto refi = remap(xi, {4, 9}, [](const std::vector<int64_t>& idx) { return (idx[0] % 2) * 3 + idx[1] % 3; });
  expect_equal<int64_t>(run1("Tile", {make<int64_t>({2, 3}, xi), i64({2, 3})}, {}, 6), {4, 9}, refi);
  auto b = rand_bools(rng_, 3);
  b[0] = 1;
  std::vector<double> refb;
  for (int r = 0; r < 4; ++r)
    for (uint8_t v : b) refb.push_back(v);
  expect_near(run1("Tile", {make_bool({3}, b), i64({4})}), DType::kBool, {12}, refb, kExact);
}
TEST_P(OpTest, Tile_Rank5And6_RepeatsOnEveryAxis) {
  // More dimensions than one strided copy takes on CUDA (its copy is [repeats[0], dims[0], ...],
  // 10 and 12 dimensions here, 9 in the third case once its first axis merges): tiled in stages.
  struct Case {
    Shape xs;
    std::vector<int64_t> reps;
  };
  for (const Case& c : {Case{{2, 3, 2, 2, 3}, {2, 2, 3, 2, 2}}, Case{{2, 2, 3, 2, 2, 2}, {3, 2, 2, 2, 2, 2}},
                        Case{{3, 2, 2, 2, 2}, {1, 2, 3, 2, 2}}}) {
    SCOPED_TRACE("input " + shape_to_string(c.xs) + ", repeats " + shape_to_string(c.reps));
    const int64_t rank = static_cast<int64_t>(c.xs.size());
    Shape os;
    for (int64_t k = 0; k < rank; ++k) os.push_back(c.xs[k] * c.reps[k]);
    // Reference: every output element from its multi-index, each coordinate modulo the input's dimension.
    auto ref_of = [&](const auto& x) {
      std::vector<std::decay_t<decltype(x[0])>> y(static_cast<std::size_t>(numel_of(os)));
      for (int64_t i = 0; i < numel_of(os); ++i) {
        int64_t rest = i, src = 0, stride = 1;
        for (int64_t k = rank - 1; k >= 0; --k) {
          src += rest % os[k] % c.xs[k] * stride;
          rest /= os[k];
          stride *= c.xs[k];
        }
        y[i] = x[src];
      }
      return y;
    };
    const auto x = rand_f32(numel_of(c.xs));
    expect_near(run1("Tile", {make(c.xs, x), i64(c.reps)}, {}, 13), DType::kFloat32, os, as_doubles(ref_of(x)), kExact);
    const auto xi = rand_int<int64_t>(numel_of(c.xs), kI64Min, kI64Max);
    expect_equal<int64_t>(run1("Tile", {make<int64_t>(c.xs, xi), i64(c.reps)}, {}, 13), os, ref_of(xi));
  }
}
TEST_P(OpTest, Tile_Errors) {
  auto x = make<float>({2, 3}, rand_f32(6));
  expect_error(StatusCode::kInvalidArgument, "2 values", "Tile", {x, i64({2})});
  expect_error(StatusCode::kInvalidArgument, "negative", "Tile", {x, i64({2, -1})});
  expect_error(StatusCode::kInvalidArgument, "int64", "Tile", {x, make<int32_t>({2}, {1, 1})});
}

// ---------------------------------------------------------------------------------------------
// Trilu

std::vector<double> ref_trilu(const std::vector<double>& x, const Shape& xs, bool upper, int64_t k) {
  const int64_t rows = xs[xs.size() - 2], cols = xs.back();
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const int64_t c = static_cast<int64_t>(i) % cols, r = static_cast<int64_t>(i) / cols % rows;
    y[i] = (upper ? c - r >= k : c - r <= k) ? x[i] : 0.0;
  }
  return y;
}

TEST_P(OpTest, Trilu_UpperLower_K_Batched) {
  const Shape xs = {2, 4, 5};
  auto x = rand_f32(numel_of(xs), 0.5f, 2);
  for (int64_t upper : {1, 0})
    for (int64_t k : {int64_t{0}, int64_t{1}, int64_t{-2}, int64_t{4}, int64_t{-9}, int64_t{7}, kI64Max, kI64Min}) {
      SCOPED_TRACE("upper " + std::to_string(upper) + ", k " + std::to_string(k));
      auto ref = ref_trilu(as_doubles(x), xs, upper != 0, k);
      expect_near(run1("Trilu", {make(xs, x), i64_scalar(k)}, {{"upper", a_int(upper)}}, 14), DType::kFloat32, xs, ref,
                  kExact);
    }
  // Default: upper, k 0 (k omitted).
  expect_near(run1("Trilu", {make(xs, x)}, {}, 14), DType::kFloat32, xs, ref_trilu(as_doubles(x), xs, true, 0), kExact);
  auto xi = rand_int<int64_t>(12, 1, 100);
  std::vector<double> xid(xi.begin(), xi.end());
  Tensor out = run1("Trilu", {make<int64_t>({4, 3}, xi), i64_scalar(-1)}, {{"upper", a_int(0)}}, 14);
  expect_near(out, DType::kInt64, {4, 3}, ref_trilu(xid, {4, 3}, false, -1), kExact);
}
TEST_P(OpTest, Trilu_Errors) {
  expect_error(StatusCode::kInvalidArgument, "rank >= 2", "Trilu", {make<float>({3}, rand_f32(3))}, {}, 14);
  expect_error(StatusCode::kInvalidArgument, "scalar", "Trilu", {make<float>({2, 2}, rand_f32(4)), i64({1, 2})}, {}, 14);
}

// ---------------------------------------------------------------------------------------------
// CumSum

std::vector<double> ref_cumsum(const std::vector<double>& x, const Shape& xs, int64_t axis, bool exclusive, bool reverse) {
  std::vector<double> y(x.size());
  const int64_t r = static_cast<int64_t>(xs.size());
  if (axis < 0) axis += r;
  for (int64_t i = 0; i < numel_of(xs); ++i) {
    auto idx = unravel(i, xs);
    double acc = 0;
    for (int64_t d = 0; d < xs[axis]; ++d) {
      const bool before = reverse ? d > idx[axis] : d < idx[axis];
      if (before || (!exclusive && d == idx[axis])) {
        auto j = idx;
        j[axis] = d;
        acc += x[flat_of(j, xs)];
      }
    }
    y[i] = acc;
  }
  return y;
}

TEST_P(OpTest, CumSum_Axes_Exclusive_Reverse) {
  const Shape xs = {3, 4, 5};
  auto x = rand_f32(numel_of(xs), -2, 2);
  for (int64_t axis : {0, 1, -1})
    for (int64_t exclusive : {0, 1})
      for (int64_t reverse : {0, 1}) {
        SCOPED_TRACE("axis " + std::to_string(axis) + " exclusive " + std::to_string(exclusive) + " reverse " +
                     std::to_string(reverse));
        auto ref = ref_cumsum(as_doubles(x), xs, axis, exclusive != 0, reverse != 0);
        expect_near(run1("CumSum", {make(xs, x), i64_scalar(axis)},
                         {{"exclusive", a_int(exclusive)}, {"reverse", a_int(reverse)}}, 14),
                    DType::kFloat32, xs, ref, kTolReduce);
      }
  // Rows long enough that float32 running sums would drift (summed in double).
  auto long_x = rand_f32(2 * 3000, 0, 1);
  expect_near(run1("CumSum", {make<float>({2, 3000}, long_x), make<int32_t>({}, {1})}, {}, 11), DType::kFloat32,
              {2, 3000}, ref_cumsum(as_doubles(long_x), {2, 3000}, 1, false, false), kTolReduce);
}
TEST_P(OpTest, CumSum_Int64_Int32_Float64) {
  auto xi = rand_int<int64_t>(12, -1000000, 1000000);
  std::vector<int64_t> refi(12);
  for (int64_t r = 0; r < 3; ++r) {
    int64_t acc = 0;
    for (int64_t c = 3; c >= 0; --c) {
      refi[r * 4 + c] = acc;  // exclusive, reverse
      acc += xi[r * 4 + c];
    }
  }
  expect_equal<int64_t>(run1("CumSum", {make<int64_t>({3, 4}, xi), i64_scalar(1)},
                             {{"exclusive", a_int(1)}, {"reverse", a_int(1)}}, 14),
                        {3, 4}, refi);
  // int32 wraps.
  expect_equal<int32_t>(run1("CumSum", {make<int32_t>({3}, {std::numeric_limits<int32_t>::max(), 1, 1}), i64_scalar(0)},
                             {}, 14),
                        {3}, {std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min(),
                              std::numeric_limits<int32_t>::min() + 1});
  auto d = rand_f64(20);
  expect_near(run1("CumSum", {make<double>({4, 5}, d), i64_scalar(-2)}, {}, 14), DType::kFloat64, {4, 5},
              ref_cumsum(d, {4, 5}, 0, false, false), 1e-12);
}
TEST_P(OpTest, CumSum_RowsIndependentOfBatch_Bitwise) {
  check_rows_independent(*backend_, "CumSum", {{"reverse", a_int(1)}}, {i64_scalar(1)}, 14, rng_);
}
TEST_P(OpTest, CumSum_Errors) {
  auto x = make<float>({2, 3}, rand_f32(6));
  expect_error(StatusCode::kInvalidArgument, "out of range", "CumSum", {x, i64_scalar(2)}, {}, 14);
  expect_error(StatusCode::kInvalidArgument, "scalar", "CumSum", {x, i64({0, 1})}, {}, 14);
  expect_error(StatusCode::kUnimplemented, "not supported", "CumSum", {make<int16_t>({2}, {1, 2}), i64_scalar(0)}, {}, 14);
}

// ---------------------------------------------------------------------------------------------
// GatherElements

template <typename T>
std::vector<T> ref_gather_elements(const std::vector<T>& data, const Shape& ds, int64_t axis,
                                   const std::vector<int64_t>& ind, const Shape& is) {
  return remap(data, is, [&](const std::vector<int64_t>& idx) {
    auto src = idx;
    int64_t v = ind[flat_of(idx, is)];
    src[axis] = v < 0 ? v + ds[axis] : v;
    return flat_of(src, ds);
  });
}

TEST_P(OpTest, GatherElements_Axes_NegativeIndices_SmallerIndices) {
  const Shape ds = {3, 4, 5};
  auto data = rand_f32(numel_of(ds));
  for (int64_t axis : {0, 1, 2, -1}) {
    const int64_t a = axis < 0 ? axis + 3 : axis;
    for (const Shape& is : {Shape{3, 4, 5}, Shape{2, 3, 4}, Shape{3, 6, 2}}) {
      Shape isa = is;
      if (isa[a] > 6) isa[a] = 6;
      SCOPED_TRACE("axis " + std::to_string(axis) + ", indices " + shape_to_string(isa));
      auto ind = rand_int<int64_t>(numel_of(isa), -ds[a], ds[a] - 1);
      // Off the axis indices may not be larger than data: shrink those dimensions.
      bool fits = true;
      for (int k = 0; k < 3; ++k) fits = fits && (k == a || isa[k] <= ds[k]);
      if (!fits) continue;
      auto ref = ref_gather_elements(as_doubles(data), ds, a, ind, isa);
      expect_near(run1("GatherElements", {make(ds, data), make(isa, ind)}, {{"axis", a_int(axis)}}, 13),
                  DType::kFloat32, isa, ref, kExact);
    }
  }
  // int32 indices, int64 data, bool data.
  auto di = rand_int<int64_t>(6, kI64Min, kI64Max);
  std::vector<int32_t> ind32 = {1, -3, 2, 0};
  expect_equal<int64_t>(run1("GatherElements", {make<int64_t>({2, 3}, di), make<int32_t>({2, 2}, ind32)},
                             {{"axis", a_int(1)}}, 11),
                        {2, 2}, {di[1], di[0], di[5], di[3]});
  auto b = rand_bools(rng_, 4);
  b[3] = 1;
  expect_near(run1("GatherElements", {make_bool({4}, b), i64({3, 3, 0})}), DType::kBool, {3},
              {double(b[3]), double(b[3]), double(b[0])}, kExact);
}
TEST_P(OpTest, GatherElements_IndexOutOfRange_Error) {
  auto data = make<float>({3, 4}, rand_f32(12));
  // On a device the kernel records the index and the batch fails with the CPU's error.
  expect_error(StatusCode::kInvalidArgument, "index 3 is out of range for axis 0 of size 3 (data shape [3, 4])", "GatherElements",
               {data, make<int64_t>({2, 2}, {0, 1, 2, 3})});
  expect_error(StatusCode::kInvalidArgument, "index -5 is out of range for axis 1 of size 4", "GatherElements",
               {data, make<int32_t>({1, 3}, {0, -5, 9})}, {{"axis", a_int(1)}});
  // Several bad indices: the first in indices' order is named.
  std::vector<int64_t> many(3 * 1000, 1);
  for (std::size_t j = 5; j < many.size(); j += 11) many[j] = 2000 + static_cast<int64_t>(j);
  many[2999] = -1001;
  expect_error(StatusCode::kInvalidArgument, "index 2005 is out of range for axis 1 of size 1000", "GatherElements",
               {make<float>({3, 1000}, rand_f32(3000)), make<int64_t>({3, 1000}, many)}, {{"axis", a_int(1)}});
  expect_error(StatusCode::kInvalidArgument, "index 0 is out of range for axis 1 of size 0", "GatherElements",
               {make<float>({2, 0}, {}), make<int64_t>({2, 1}, {0, 0})}, {{"axis", a_int(1)}});
  expect_error(StatusCode::kInvalidArgument, "dimensions no larger", "GatherElements",
               {data, make<int64_t>({4, 1}, {0, 0, 0, 0})}, {{"axis", a_int(1)}});
  expect_error(StatusCode::kInvalidArgument, "int32 or int64", "GatherElements", {data, make<float>({1, 1}, {0.0f})});
}

// ---------------------------------------------------------------------------------------------
// ScatterND


// The reductions of ScatterND and ScatterElements, as ONNX Runtime combines a data element a with
// an update b (max / min: the update unless a compares past it).
std::map<std::string, std::function<float(float, float)>> scatter_reductions() {
  return {{"add", [](float a, float b) { return a + b; }},
          {"mul", [](float a, float b) { return a * b; }},
          {"max", [](float a, float b) { return a > b ? a : b; }},
          {"min", [](float a, float b) { return a < b ? a : b; }}};
}

// Applies the rows in order, as the spec's reference implementation does.
template <typename T, typename F>
std::vector<T> ref_scatter_nd(std::vector<T> data, const Shape& ds, const std::vector<int64_t>& ind, const Shape& is,
                              const std::vector<T>& upd, F combine) {
  const int64_t m = is.back(), rows = numel_of(is) / m;
  int64_t slice = 1;
  for (std::size_t k = static_cast<std::size_t>(m); k < ds.size(); ++k) slice *= ds[k];
  for (int64_t j = 0; j < rows; ++j) {
    std::vector<int64_t> at(ds.size(), 0);
    for (int64_t k = 0; k < m; ++k) {
      int64_t v = ind[j * m + k];
      at[k] = v < 0 ? v + ds[k] : v;
    }
    const int64_t off = flat_of(at, ds);
    for (int64_t r = 0; r < slice; ++r) data[off + r] = combine(data[off + r], upd[j * slice + r]);
  }
  return data;
}

TEST_P(OpTest, ScatterND_Slices_Elements_NegativeIndices) {
  const Shape ds = {4, 3, 5};
  auto data = rand_f32(numel_of(ds));
  const auto replace = [](float, float u) { return u; };
  // m = 1 (rows of [3, 5]), 2 (rows of 5), 3 (single elements); distinct targets.
  struct Case {
    Shape is;
    std::vector<int64_t> ind;
  };
  for (const Case& c : {Case{{2, 1}, {1, -1}}, Case{{3, 2}, {0, 0, -1, 2, 2, -2}},
                        Case{{2, 2, 3}, {0, 0, 0, 3, 2, 4, -4, -3, -5, 1, 1, 1}}}) {
    SCOPED_TRACE("indices " + shape_to_string(c.is));
    Shape us(c.is.begin(), c.is.end() - 1);
    for (std::size_t k = static_cast<std::size_t>(c.is.back()); k < ds.size(); ++k) us.push_back(ds[k]);
    auto upd = rand_f32(numel_of(us), 5, 6);
    auto ref = ref_scatter_nd(data, ds, c.ind, c.is, upd, replace);
    expect_near(run1("ScatterND", {make(ds, data), make(c.is, c.ind), make(us, upd)}, {}, 11), DType::kFloat32, ds,
                as_doubles(ref), kExact);
  }
  // Duplicate targets with reduction none: the last update wins, on every backend.
  auto upd = rand_f32(3 * 5, 5, 6);
  std::vector<int64_t> dup = {1, 2, 3, 0, 1, 2};
  auto ref = ref_scatter_nd(data, ds, dup, {3, 2}, upd, replace);
  expect_near(run1("ScatterND", {make(ds, data), make<int64_t>({3, 2}, dup), make<float>({3, 5}, upd)}, {}, 16),
              DType::kFloat32, ds, as_doubles(ref), kExact);
  // int64 and bool data.
  auto di = rand_int<int64_t>(6, kI64Min, kI64Max);
  std::vector<int64_t> ui = {7, 8, 9};
  expect_equal<int64_t>(run1("ScatterND", {make<int64_t>({2, 3}, di), make<int64_t>({1, 1}, {-1}),
                                           make<int64_t>({1, 3}, ui)}, {}, 13),
                        {2, 3}, {di[0], di[1], di[2], 7, 8, 9});
  expect_near(run1("ScatterND", {make_bool({3}, {1, 1, 0}), make<int64_t>({2, 1}, {0, 2}), make_bool({2}, {0, 1})}, {}, 13),
              DType::kBool, {3}, {0, 1, 1}, kExact);
}
TEST_P(OpTest, ScatterND_Reductions_DuplicatesAccumulate) {
  const Shape ds = {4, 6};
  auto data = rand_f32(numel_of(ds), 0.5f, 2);
  auto upd = rand_f32(4 * 6, 0.5f, 2);
  std::vector<int64_t> ind = {1, 3, 1, -3};  // row 1 three times, row 3... -3 is row 1 too
  const auto ops = scatter_reductions();
  for (const auto& [name, fn] : ops) {
    SCOPED_TRACE("reduction " + name);
    auto ref = ref_scatter_nd(data, ds, ind, {4, 1}, upd, fn);
    expect_near(run1("ScatterND", {make(ds, data), make<int64_t>({4, 1}, ind), make<float>({4, 6}, upd)},
                     {{"reduction", a_string(name)}}, 18),
                DType::kFloat32, ds, as_doubles(ref), kTolElementwise);
  }
  // int32 add wraps.
  expect_equal<int32_t>(run1("ScatterND", {make<int32_t>({2}, {std::numeric_limits<int32_t>::max(), 5}),
                                           make<int64_t>({2, 1}, {0, 0}), make<int32_t>({2}, {1, 2})},
                             {{"reduction", a_string("add")}}, 16),
                        {2}, {std::numeric_limits<int32_t>::min() + 2, 5});
}
TEST_P(OpTest, ScatterND_Errors) {
  auto data = make<float>({4, 3}, rand_f32(12));
  auto upd2 = make<float>({2, 3}, rand_f32(6));
  // On a device the kernel records the index and the batch fails with the CPU's error.
  expect_error(StatusCode::kInvalidArgument, "index 4 is out of range for dimension 0 of size 4 (data shape [4, 3])",
               "ScatterND", {data, make<int64_t>({2, 1}, {0, 4}), upd2});
  expect_error(StatusCode::kInvalidArgument, "index -4 is out of range for dimension 1 of size 3", "ScatterND",
               {data, make<int64_t>({2, 2}, {0, 1, 0, -4}), make<float>({2}, {1, 2})});
  // The first bad (row, index) in the CPU's order.
  expect_error(StatusCode::kInvalidArgument, "index 3 is out of range for dimension 1 of size 3", "ScatterND",
               {data, make<int64_t>({3, 2}, {0, 0, 1, 3, 9, 9}), make<float>({3}, {1, 2, 3})});
  // Empty slices: the indices are still checked.
  expect_error(StatusCode::kInvalidArgument, "index 4 is out of range for dimension 0 of size 4", "ScatterND",
               {make<float>({4, 0}, {}), make<int64_t>({2, 1}, {1, 4}), make<float>({2, 0}, {})});
  expect_error(StatusCode::kInvalidArgument, "must have shape [2, 3]", "ScatterND",
               {data, make<int64_t>({2, 1}, {0, 1}), make<float>({2, 2}, rand_f32(4))});
  expect_error(StatusCode::kInvalidArgument, "int64", "ScatterND", {data, make<int32_t>({2, 1}, {0, 1}), upd2});
  expect_error(StatusCode::kInvalidArgument, "last dimension is 3", "ScatterND",
               {data, make<int64_t>({1, 3}, {0, 0, 0}), make<float>({1}, {1})});
  expect_error(StatusCode::kInvalidArgument, "reduction 'max'", "ScatterND", {data, make<int64_t>({2, 1}, {0, 1}), upd2},
               {{"reduction", a_string("max")}}, 16);
  expect_error(StatusCode::kUnimplemented, "on bool", "ScatterND",
               {make_bool({2}, {0, 1}), make<int64_t>({1, 1}, {0}), make_bool({1}, {1})}, {{"reduction", a_string("add")}},
               16);
}

// ---------------------------------------------------------------------------------------------
// ScatterElements / Scatter

// Applies indices' elements in row-major order, as the spec's reference implementation does.
template <typename T, typename F>
std::vector<T> ref_scatter_elements(std::vector<T> data, const Shape& ds, const std::vector<int64_t>& ind, const Shape& is,
                                    const std::vector<T>& upd, int64_t axis, F combine) {
  std::vector<int64_t> at(is.size(), 0);
  for (std::size_t i = 0; i < ind.size(); ++i) {
    std::vector<int64_t> to = at;
    const int64_t v = ind[i];
    to[static_cast<std::size_t>(axis)] = v < 0 ? v + ds[static_cast<std::size_t>(axis)] : v;
    const int64_t off = flat_of(to, ds);
    data[static_cast<std::size_t>(off)] = combine(data[static_cast<std::size_t>(off)], upd[i]);
    for (std::size_t k = is.size(); k-- > 0;) {
      if (++at[k] < is[k]) break;
      at[k] = 0;
    }
  }
  return data;
}

TEST_P(OpTest, ScatterElements_AxesNegativeIndicesDuplicatesLastWins) {
  const Shape ds = {4, 5, 3}, is = {3, 5, 2};  // indices smaller than data off the axis
  auto data = rand_f32(numel_of(ds));
  const auto replace = [](auto, auto u) { return u; };
  for (const int64_t axis : {0, 1, 2, -2}) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    const int64_t a = axis < 0 ? axis + 3 : axis, dim = ds[static_cast<std::size_t>(a)];
    auto ind = rand_int<int64_t>(numel_of(is), -dim, dim - 1);  // duplicates among them: the last wins
    auto upd = rand_f32(numel_of(is), 5, 6);
    auto ref = ref_scatter_elements(data, ds, ind, is, upd, a, replace);
    expect_near(run1("ScatterElements", {make(ds, data), make(is, ind), make(is, upd)}, {{"axis", a_int(axis)}}, 11),
                DType::kFloat32, ds, as_doubles(ref), kExact);
    std::vector<int32_t> ind32(ind.begin(), ind.end());
    expect_near(run1("ScatterElements", {make(ds, data), make(is, ind32), make(is, upd)}, {{"axis", a_int(axis)}}, 18),
                DType::kFloat32, ds, as_doubles(ref), kExact);
  }
  // int64 and bool data.
  auto di = rand_int<int64_t>(6, kI64Min, kI64Max);
  expect_equal<int64_t>(run1("ScatterElements", {make<int64_t>({2, 3}, di), make<int64_t>({1, 2}, {2, 0}),
                                                 make<int64_t>({1, 2}, {7, 8})},
                             {{"axis", a_int(1)}}, 11),
                        {2, 3}, {8, di[1], 7, di[3], di[4], di[5]});
  expect_near(run1("ScatterElements", {make_bool({2, 2}, {1, 1, 0, 0}), make<int64_t>({1, 2}, {1, 0}), make_bool({1, 2}, {1, 0})},
                   {}, 13),
              DType::kBool, {2, 2}, {1, 0, 1, 0}, kExact);
}
TEST_P(OpTest, Scatter_Opsets9And10AreScatterElements) {
  // Scatter, ScatterElements' name before opset 11: the same function (axis 0 and 1, int64 data).
  auto di = rand_int<int64_t>(6, kI64Min, kI64Max);
  expect_equal<int64_t>(run1("Scatter", {make<int64_t>({2, 3}, di), make<int64_t>({1, 2}, {2, 0}), make<int64_t>({1, 2}, {7, 8})},
                             {{"axis", a_int(1)}}, 10),
                        {2, 3}, {8, di[1], 7, di[3], di[4], di[5]});
  expect_equal<int64_t>(run1("Scatter", {make<int64_t>({2, 3}, di), make<int32_t>({1, 3}, {1, 0, 1}), make<int64_t>({1, 3}, {4, 5, 6})},
                             {}, 9),
                        {2, 3}, {di[0], 5, di[2], 4, di[4], 6});
  expect_error(StatusCode::kInvalidArgument, "index 2 is out of range for axis 0 of size 2", "Scatter",
               {make<float>({2, 2}, rand_f32(4)), make<int64_t>({1, 2}, {0, 2}), make<float>({1, 2}, rand_f32(2))}, {}, 9);
}
TEST_P(OpTest, ScatterElements_ReductionsAccumulateInOrder) {
  const Shape ds = {3, 4}, is = {3, 4};
  auto data = rand_f32(numel_of(ds), 0.5f, 2);
  auto upd = rand_f32(numel_of(is), 0.5f, 2);
  const std::vector<int64_t> ind = {0, 1, 2, 0, 0, -3, 1, 1, 2, 2, 0, -1};  // axis 0: every column hit more than once
  const auto ops = scatter_reductions();
  for (const auto& [name, fn] : ops) {
    SCOPED_TRACE("reduction " + name);
    auto ref = ref_scatter_elements(data, ds, ind, is, upd, 0, fn);
    // The reference combines in float32 in the same order: exact.
    expect_near(run1("ScatterElements", {make(ds, data), make(is, ind), make(is, upd)}, {{"reduction", a_string(name)}}, 18),
                DType::kFloat32, ds, as_doubles(ref), kExact);
  }
  // indices longer than data along the axis (a bincount: every update of a row into 3 bins).
  expect_near(run1("ScatterElements", {make<float>({1, 3}, {0, 0, 0}), make<int64_t>({1, 6}, {0, 0, 1, 2, 2, 2}),
                                       make<float>({1, 6}, {1, 1, 1, 1, 1, 1})},
                   {{"reduction", a_string("add")}, {"axis", a_int(1)}}, 16),
              DType::kFloat32, {1, 3}, {2, 1, 3}, kExact);
  // max / min as ONNX Runtime: the update unless the data element compares past it, so a NaN
  // update lands and a NaN in data is replaced.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const char* red : {"max", "min"}) {
    SCOPED_TRACE(red);
    Tensor got = run1("ScatterElements", {make<float>({4}, {nan, 1, 2, 3}), make<int64_t>({4}, {0, 1, 2, 2}),
                                          make<float>({4}, {5, nan, nan, 7})},
                      {{"reduction", a_string(red)}}, 18);
    ASSERT_EQ(got.numel(), 4);
    const float* g = got.data<float>();
    EXPECT_EQ(g[0], 5.0f);
    EXPECT_TRUE(std::isnan(g[1]));
    EXPECT_EQ(g[2], 7.0f) << "NaN then 7: the 7 replaces the NaN";
    EXPECT_EQ(g[3], 3.0f);
    Tensor nd = run1("ScatterND", {make<float>({4}, {nan, 1, 2, 3}), make<int64_t>({4, 1}, {0, 1, 2, 2}),
                                   make<float>({4}, {5, nan, nan, 7})},
                     {{"reduction", a_string(red)}}, 18);
    EXPECT_EQ(std::memcmp(nd.raw(), got.raw(), got.nbytes()), 0) << "ScatterND combines alike";
  }
  // int32 add wraps; axis 1.
  expect_equal<int32_t>(run1("ScatterElements", {make<int32_t>({1, 2}, {std::numeric_limits<int32_t>::max(), 5}),
                                                 make<int64_t>({1, 2}, {0, 0}), make<int32_t>({1, 2}, {1, 2})},
                             {{"reduction", a_string("add")}, {"axis", a_int(1)}}, 16),
                        {1, 2}, {std::numeric_limits<int32_t>::min() + 2, 5});
}
TEST_P(OpTest, ScatterElements_Errors) {
  auto data = make<float>({4, 3}, rand_f32(12));
  auto upd = make<float>({2, 3}, rand_f32(6));
  // The first bad index in indices' row-major order (on a device the kernel records it).
  expect_error(StatusCode::kInvalidArgument, "index 4 is out of range for axis 0 of size 4 (data shape [4, 3])",
               "ScatterElements", {data, make<int64_t>({2, 3}, {0, 1, 2, 3, 4, 9}), upd}, {}, 11);
  expect_error(StatusCode::kInvalidArgument, "index -4 is out of range for axis 1 of size 3", "ScatterElements",
               {data, make<int32_t>({2, 3}, {0, 1, 2, -4, 0, 0}), upd}, {{"axis", a_int(1)}}, 11);
  expect_error(StatusCode::kInvalidArgument, "updates [2, 2] must have indices' shape [2, 3]", "ScatterElements",
               {data, make<int64_t>({2, 3}, {0, 0, 0, 1, 1, 1}), make<float>({2, 2}, rand_f32(4))}, {}, 11);
  expect_error(StatusCode::kInvalidArgument, "dimensions no larger than data's [4, 3]", "ScatterElements",
               {data, make<int64_t>({1, 4}, {0, 0, 0, 0}), make<float>({1, 4}, rand_f32(4))}, {}, 11);
  expect_error(StatusCode::kInvalidArgument, "indices must be int32 or int64", "ScatterElements",
               {data, make<float>({2, 3}, rand_f32(6)), upd}, {}, 11);
  expect_error(StatusCode::kInvalidArgument, "reduction 'max' is not one of none, add, mul", "ScatterElements",
               {data, make<int64_t>({2, 3}, {0, 0, 0, 1, 1, 1}), upd}, {{"reduction", a_string("max")}}, 16);
  expect_error(StatusCode::kUnimplemented, "on bool", "ScatterElements",
               {make_bool({2}, {0, 1}), make<int64_t>({1}, {0}), make_bool({1}, {1})}, {{"reduction", a_string("add")}}, 16);
}

// ---------------------------------------------------------------------------------------------
// OneHot

TEST_P(OpTest, OneHot_AxesNegativeAndOutOfRangeIndices) {
  // indices [2, 3]: -1 is depth - 1; 5 and -6 are outside [-5, 5): their rows are all off.
  const std::vector<int64_t> ind = {0, 4, -1, 5, -6, 2};
  const int64_t depth = 5;
  const std::vector<float> values = {0.5f, 7.0f};
  for (const int64_t axis : {-1, 0, 1, 2, -3}) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    const int64_t a = axis < 0 ? axis + 3 : axis;
    Shape os = {2, 3};
    os.insert(os.begin() + a, depth);
    std::vector<double> ref(static_cast<std::size_t>(numel_of(os)));
    for (int64_t e = 0; e < numel_of(os); ++e) {
      // The output coordinate's depth position d and the indices' element it reads.
      std::vector<int64_t> at(3);
      int64_t rest = e;
      for (int k = 2; k >= 0; --k) {
        at[static_cast<std::size_t>(k)] = rest % os[static_cast<std::size_t>(k)];
        rest /= os[static_cast<std::size_t>(k)];
      }
      const int64_t d = at[static_cast<std::size_t>(a)];
      at.erase(at.begin() + a);
      int64_t v = ind[static_cast<std::size_t>(at[0] * 3 + at[1])];
      if (v < 0) v += depth;
      ref[static_cast<std::size_t>(e)] = v == d ? 7.0 : 0.5;
    }
    expect_near(run1("OneHot", {make<int64_t>({2, 3}, ind), make<int64_t>({}, {depth}), make<float>({2}, values)},
                     {{"axis", a_int(axis)}}, 11),
                DType::kFloat32, os, ref, kExact);
  }
}
TEST_P(OpTest, OneHot_FloatIndicesAndDepthTruncateIntValues) {
  // Float indices truncate toward zero (2.9 -> 2, -1.5 -> -1 -> 3); NaN and infinity match
  // nothing; a float depth of 4.7 is 4; int64 values; depth as a one-element tensor.
  const std::vector<float> ind = {2.9f, -1.5f, NAN, INFINITY, 0.2f};
  const auto out = run1("OneHot", {make<float>({5}, ind), make<double>({1}, {4.7}), make<int64_t>({2}, {-3, 9})}, {}, 9);
  std::vector<int64_t> want(20, -3);
  want[0 * 4 + 2] = 9;
  want[1 * 4 + 3] = 9;
  want[4 * 4 + 0] = 9;
  expect_equal<int64_t>(out, {5, 4}, want);
  // int32 indices, bool values.
  expect_near(run1("OneHot", {make<int32_t>({2}, {1, 0}), make<int32_t>({}, {2}), make_bool({2}, {0, 1})}, {}, 11),
              DType::kBool, {2, 2}, {0, 1, 1, 0}, kExact);
}
TEST_P(OpTest, OneHot_Errors) {
  auto ind = make<int64_t>({3}, {0, 1, 2});
  auto values = make<float>({2}, {0, 1});
  expect_error(StatusCode::kInvalidArgument, "depth 0.000000 must be at least 1", "OneHot",
               {ind, make<int64_t>({}, {0}), values}, {}, 11);
  expect_error(StatusCode::kInvalidArgument, "depth must be a numeric scalar or one-element tensor", "OneHot",
               {ind, make<int64_t>({2}, {3, 4}), values}, {}, 11);
  expect_error(StatusCode::kInvalidArgument, "values must be [off_value, on_value]", "OneHot",
               {ind, make<int64_t>({}, {3}), make<float>({3}, {0, 1, 2})}, {}, 11);
  expect_error(StatusCode::kInvalidArgument, "axis 2 is out of range", "OneHot", {ind, make<int64_t>({}, {3}), values},
               {{"axis", a_int(2)}}, 11);
}

// ---------------------------------------------------------------------------------------------
// EyeLike / Size

TEST_P(OpTest, EyeLike_DiagonalsAndTypes) {
  auto x = make<float>({3, 4}, rand_f32(12));
  // k past any column, as far as int64 goes: all zeros, with no overflow in the diagonal test.
  for (const int64_t k : {int64_t{0}, int64_t{1}, int64_t{-2}, int64_t{3}, int64_t{4}, int64_t{-3}, INT64_MAX, INT64_MIN}) {
    SCOPED_TRACE("k " + std::to_string(k));
    std::vector<double> ref(12, 0.0);
    for (int64_t r = 0; r < 3; ++r)
      if (r + k >= 0 && r + k < 4) ref[static_cast<std::size_t>(r * 4 + r + k)] = 1.0;
    expect_near(run1("EyeLike", {x}, {{"k", a_int(k)}}, 9), DType::kFloat32, {3, 4}, ref, kExact);
  }
  // dtype int32 (ONNX 6) over a float input; an int64 input keeps its type; bool (9); float64 (11).
  expect_equal<int32_t>(run1("EyeLike", {x}, {{"dtype", a_int(6)}, {"k", a_int(-1)}}, 9), {3, 4},
                        {0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0});
  expect_equal<int64_t>(run1("EyeLike", {make<int64_t>({2, 2}, {5, 6, 7, 8})}, {}, 9), {2, 2}, {1, 0, 0, 1});
  expect_near(run1("EyeLike", {x}, {{"dtype", a_int(9)}}, 9), DType::kBool, {3, 4}, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0},
              kExact);
  expect_near(run1("EyeLike", {make<float>({2, 1}, {1, 2})}, {{"dtype", a_int(11)}}, 9), DType::kFloat64, {2, 1}, {1, 0}, kExact);
  expect_error(StatusCode::kInvalidArgument, "input must be 2-D; got [4]", "EyeLike", {make<float>({4}, rand_f32(4))}, {}, 9);
}
TEST_P(OpTest, Size_CountsElements) {
  expect_equal<int64_t>(run1("Size", {make<float>({2, 3, 5}, rand_f32(30))}), {}, {30});
  expect_equal<int64_t>(run1("Size", {make<float>({}, {1.0f})}), {}, {1});
  expect_equal<int64_t>(run1("Size", {make_bool({0, 7}, {})}), {}, {0});
}

}  // namespace
}  // namespace shardscore
