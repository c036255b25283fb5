#pragma once
// im2col for the CPU convolutions (Conv in nn.cpp, ConvInteger in quantize.cpp): the windows of
// one image's group of channels laid out as the columns of a matrix, so that one product with the
// weights computes the convolution.
#include <algorithm>
#include <cstdint>

#include "engine/op_plans_nn.h"

namespace shardscore {

// col [cg * kH * kW, oH * oW] from xg (cg planes of h x wd): row (ci * kH + i) * kW + j holds, for
// each output position, the input under tap (i, j) of channel ci, and 0 where it lies in the padding.
template <typename T>
void im2col(const T* xg, int64_t cg, int64_t h, int64_t wd, const Window2d& g, T* col) {
  const int64_t kh = g.k[0], kw = g.k[1], oh = g.out[0], ow = g.out[1], p = oh * ow;
  for (int64_t ci = 0; ci < cg; ++ci) {
    const T* xc = xg + ci * h * wd;
    for (int64_t i = 0; i < kh; ++i) {
      for (int64_t j = 0; j < kw; ++j) {
        T* dst = col + ((ci * kh + i) * kw + j) * p;
        for (int64_t oy = 0; oy < oh; ++oy) {
          const int64_t iy = oy * g.s[0] - g.pb[0] + i * g.d[0];
          T* drow = dst + oy * ow;
          if (iy < 0 || iy >= h) {
            std::fill(drow, drow + ow, T(0));
            continue;
          }
          const T* xr = xc + iy * wd;
          for (int64_t ox = 0; ox < ow; ++ox) {
            const int64_t ix = ox * g.s[1] - g.pb[1] + j * g.d[1];
            drow[ox] = ix >= 0 && ix < wd ? xr[ix] : T(0);
          }
        }
      }
    }
  }
}

}  // namespace shardscore
