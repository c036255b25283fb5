// coalesce_strided_pair (kernels/elementwise.h): host code, so tested here with or without a GPU.
// The reference is the per-dimension offset of every output element before folding.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/elementwise.h"

namespace shardscore::kernels {
namespace {

int64_t offset_of(int64_t i, const StridedIndex& ix) {  // strided_offset, on the host
  int64_t off = 0;
  for (int k = ix.rank - 1; k >= 0; --k) {
    off += (i % ix.dims[k]) * ix.strides[k];
    i /= ix.dims[k];
  }
  return off;
}

// An operand over `out`: each dimension the output's or broadcast (1, stride 0), its own
// dimensions laid out in `order` (a permutation: a transposed view when not the identity).
StridedIndex operand(const std::vector<int64_t>& out, const std::vector<bool>& broadcast, const std::vector<int>& order) {
  StridedIndex ix;
  ix.rank = static_cast<int>(out.size());
  int64_t stride = 1;
  for (int k = ix.rank - 1; k >= 0; --k) {
    const int d = order[static_cast<std::size_t>(k)];
    ix.dims[d] = out[static_cast<std::size_t>(d)];
    ix.strides[d] = broadcast[static_cast<std::size_t>(d)] ? 0 : stride;
    if (!broadcast[static_cast<std::size_t>(d)]) stride *= out[static_cast<std::size_t>(d)];
  }
  return ix;
}

TEST(StridedIndex, PairFoldingKeepsEveryOffset) {
  std::mt19937 rng(20261204);
  for (int trial = 0; trial < 2000; ++trial) {
    const int rank = 1 + static_cast<int>(rng() % 6);
    std::vector<int64_t> out(static_cast<std::size_t>(rank));
    int64_t n = 1;
    for (auto& d : out) n *= (d = 1 + static_cast<int64_t>(rng() % 4));
    StridedIndex ix[2];
    for (auto& x : ix) {
      std::vector<bool> broadcast(static_cast<std::size_t>(rank));
      for (std::size_t k = 0; k < broadcast.size(); ++k) broadcast[k] = rng() % 3 == 0;
      std::vector<int> order(static_cast<std::size_t>(rank));
      for (int k = 0; k < rank; ++k) order[static_cast<std::size_t>(k)] = k;
      if (rng() % 4 == 0) std::shuffle(order.begin(), order.end(), rng);
      x = operand(out, broadcast, order);
    }
    StridedIndex a = ix[0], b = ix[1];
    const int r = coalesce_strided_pair(&a, &b);
    ASSERT_EQ(a.rank, r);
    ASSERT_EQ(b.rank, r);
    ASSERT_LE(r, rank);
    for (int k = 0; k < r; ++k) ASSERT_EQ(a.dims[k], b.dims[k]);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(offset_of(i, a), offset_of(i, ix[0])) << "trial " << trial << ", element " << i;
      ASSERT_EQ(offset_of(i, b), offset_of(i, ix[1])) << "trial " << trial << ", element " << i;
    }
  }
}

TEST(StridedIndex, AttentionMaskAddFoldsToThreeDimensions) {
  // BERT's scores [B, heads, S, S] + mask [B, 1, 1, S]: heads and query rows fold into one.
  const std::vector<int64_t> out{8, 12, 128, 128};
  StridedIndex scores = operand(out, {false, false, false, false}, {0, 1, 2, 3});
  StridedIndex mask = operand(out, {false, true, true, false}, {0, 1, 2, 3});
  EXPECT_EQ(coalesce_strided_pair(&scores, &mask), 3);
  EXPECT_EQ(mask.dims[1], 12 * 128);
  EXPECT_EQ(mask.strides[1], 0);
  EXPECT_EQ(scores.strides[2], 1);
  // Both dense: one dimension.
  StridedIndex x = operand(out, {false, false, false, false}, {0, 1, 2, 3}), y = x;
  EXPECT_EQ(coalesce_strided_pair(&x, &y), 1);
  EXPECT_EQ(x.dims[0], 8 * 12 * 128 * 128);
}

TEST(StridedIndex, UnequalDimensionsAreLeftAlone) {
  StridedIndex a = operand({2, 3}, {false, false}, {0, 1}), b = operand({3, 2}, {false, false}, {0, 1});
  EXPECT_EQ(coalesce_strided_pair(&a, &b), 2);
  EXPECT_EQ(a.dims[0], 2);
  EXPECT_EQ(b.dims[0], 3);
}

}  // namespace
}  // namespace shardscore::kernels
