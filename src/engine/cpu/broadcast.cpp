#include "engine/cpu/broadcast.h"

namespace shardscore {

StatusOr<Shape> cpu_broadcast_shapes(const Shape& a, const Shape& b) {
  std::size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (std::size_t k = 0; k < r; ++k) {
    int64_t da = k < r - a.size() ? 1 : a[k - (r - a.size())];
    int64_t db = k < r - b.size() ? 1 : b[k - (r - b.size())];
    if (da != db && da != 1 && db != 1) {
      return invalid_argument("shapes " + shape_to_string(a) + " and " + shape_to_string(b) + " cannot be broadcast");
    }
    out[k] = da == 1 ? db : da;
  }
  return out;
}

// Element strides of `s` aligned to `out`'s rank, 0 along broadcast dimensions.
std::vector<int64_t> cpu_broadcast_strides(const Shape& s, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t stride = 1;
  for (std::size_t k = s.size(); k-- > 0;) {
    std::size_t ok = k + (out.size() - s.size());
    st[ok] = s[k] == 1 ? 0 : stride;
    stride *= s[k];
  }
  return st;
}

}  // namespace shardscore
