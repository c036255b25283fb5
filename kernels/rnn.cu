#include "kernels/rnn.h"

#include "kernels/kernel_util.cuh"

namespace shardscore::kernels {
namespace {

constexpr int kBlock = 256;

template <typename C>
__device__ __forceinline__ C rnn_activate(RnnAct a, C v, C clip) {
  if (clip > C(0)) v = v < -clip ? -clip : (clip < v ? clip : v);  // NaN stays NaN, as std::clamp
  switch (a) {
    case RnnAct::kSigmoid: return sigmoid_stable(v);
    case RnnAct::kTanh: return tanh(v);
    case RnnAct::kRelu: return v < C(0) ? C(0) : v;
  }
  return v;
}

// The step time of row b, or -1 when the row does not run step st.step.
__device__ __forceinline__ int64_t rnn_time(const RnnStep& st, const int32_t* lens, int64_t b) {
  const int64_t len = lens ? lens[b] : st.seq;
  if (st.step >= len) return -1;
  return st.backward ? len - 1 - st.step : st.step;
}

__device__ __forceinline__ int64_t rnn_x_row(const RnnStep& st, int64_t t, int64_t b) {
  return st.batch_first ? b * st.seq + t : t * st.batch + b;
}

template <typename C>
__global__ void rnn_gates_kernel(RnnStep st, const C* xw, const C* hr, const C* hrh, const C* wb, const C* rb,
                                 const C* peep, const int32_t* lens, C* h, C* c, C* y) {
  const int64_t hid = st.hidden, gates = st.cell == RnnCell::kLstm ? 4 : st.cell == RnnCell::kGru ? 3 : 1;
  const C clip = static_cast<C>(st.clip);
  SS_GRID_STRIDE_LOOP(i, st.batch * hid) {
    const int64_t b = i / hid, j = i - b * hid;
    const int64_t t = rnn_time(st, lens, b);
    if (t < 0) continue;
    const C* xt = xw + rnn_x_row(st, t, b) * gates * hid;
    const C* hrow = hr + b * st.hr_ld;
    auto bias = [&](int64_t k) { return wb ? wb[k] + rb[k] : C(0); };
    C hn;
    if (st.cell == RnnCell::kLstm) {
      const C cp = c[i];
      const C ig = rnn_activate(st.f, xt[j] + hrow[j] + bias(j) + (peep ? peep[j] * cp : C(0)), clip);
      const C fg = st.input_forget ? C(1) - ig
                                   : rnn_activate(st.f, xt[2 * hid + j] + hrow[2 * hid + j] + bias(2 * hid + j) +
                                                            (peep ? peep[2 * hid + j] * cp : C(0)),
                                                  clip);
      const C cand = rnn_activate(st.g, xt[3 * hid + j] + hrow[3 * hid + j] + bias(3 * hid + j), clip);
      const C cn = fg * cp + ig * cand;
      const C og = rnn_activate(st.f, xt[hid + j] + hrow[hid + j] + bias(hid + j) + (peep ? peep[hid + j] * cn : C(0)), clip);
      c[i] = cn;
      hn = og * rnn_activate(st.h, cn, C(0));  // clip bounds the gates only
    } else if (st.cell == RnnCell::kGru) {
      const C zg = rnn_activate(st.f, xt[j] + hrow[j] + bias(j), clip);
      const C rg = rnn_activate(st.f, xt[hid + j] + hrow[hid + j] + bias(hid + j), clip);
      const C wbh = wb ? wb[2 * hid + j] : C(0), rbh = wb ? rb[2 * hid + j] : C(0);
      const C cand = st.linear_before_reset ? rnn_activate(st.g, xt[2 * hid + j] + rg * (hrow[2 * hid + j] + rbh) + wbh, clip)
                                            : rnn_activate(st.g, xt[2 * hid + j] + hrh[i] + rbh + wbh, clip);
      hn = (C(1) - zg) * cand + zg * h[i];
    } else {
      hn = rnn_activate(st.f, xt[j] + hrow[j] + bias(j), clip);
    }
    h[i] = hn;
    if (y) {
      const int64_t yrow = st.batch_first ? (b * st.seq + t) * st.dirs + st.dir : (t * st.dirs + st.dir) * st.batch + b;
      y[yrow * hid + j] = hn;
    }
  }
}

template <typename C>
__global__ void rnn_gru_reset_kernel(RnnStep st, const C* xw, const C* hr, const C* wb, const C* rb, const int32_t* lens,
                                     const C* h, C* rh) {
  const int64_t hid = st.hidden;
  const C clip = static_cast<C>(st.clip);
  SS_GRID_STRIDE_LOOP(i, st.batch * hid) {
    const int64_t b = i / hid, j = i - b * hid;
    const int64_t t = rnn_time(st, lens, b);
    if (t < 0) {
      rh[i] = C(0);
      continue;
    }
    const C* xt = xw + rnn_x_row(st, t, b) * 3 * hid;
    const C bias = wb ? wb[hid + j] + rb[hid + j] : C(0);
    rh[i] = rnn_activate(st.f, xt[hid + j] + hr[b * st.hr_ld + hid + j] + bias, clip) * h[i];
  }
}

template <typename C>
__global__ void rnn_state_kernel(C* buffer, C* tensor, int64_t batch, int64_t hidden, int64_t dir, int64_t dirs,
                                 bool batch_first, bool to_tensor, const int32_t* lens, int64_t seq) {
  SS_GRID_STRIDE_LOOP(i, batch * hidden) {
    const int64_t b = i / hidden, j = i - b * hidden;
    const int64_t at = (batch_first ? b * dirs + dir : dir * batch + b) * hidden + j;
    if (to_tensor) tensor[at] = (lens ? lens[b] : seq) == 0 ? C(0) : buffer[i];
    else buffer[i] = tensor[at];
  }
}

template <typename F>
cudaError_t dispatch_compute(Elem e, F&& f) {
  switch (e) {
    case Elem::kF32: return f(float{});
    case Elem::kF64: return f(double{});
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t launch_rnn_gates(Elem elem, const RnnStep& st, const void* xw, const void* hr, const void* hrh, const void* wb,
                             const void* rb, const void* peep, const int32_t* lens, void* h, void* c, void* y,
                             cudaStream_t stream) {
  const int64_t n = st.batch * st.hidden;
  if (n == 0) return cudaSuccess;
  return dispatch_compute(elem, [&](auto zero) {
    using C = decltype(zero);
    rnn_gates_kernel<C><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
        st, static_cast<const C*>(xw), static_cast<const C*>(hr), static_cast<const C*>(hrh), static_cast<const C*>(wb),
        static_cast<const C*>(rb), static_cast<const C*>(peep), lens, static_cast<C*>(h), static_cast<C*>(c),
        static_cast<C*>(y));
    return cudaGetLastError();
  });
}

cudaError_t launch_rnn_gru_reset(Elem elem, const RnnStep& st, const void* xw, const void* hr, const void* wb,
                                 const void* rb, const int32_t* lens, const void* h, void* rh, cudaStream_t stream) {
  const int64_t n = st.batch * st.hidden;
  if (n == 0) return cudaSuccess;
  return dispatch_compute(elem, [&](auto zero) {
    using C = decltype(zero);
    rnn_gru_reset_kernel<C><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
        st, static_cast<const C*>(xw), static_cast<const C*>(hr), static_cast<const C*>(wb), static_cast<const C*>(rb), lens,
        static_cast<const C*>(h), static_cast<C*>(rh));
    return cudaGetLastError();
  });
}

cudaError_t launch_rnn_state(Elem elem, void* buffer, void* tensor, int64_t batch, int64_t hidden, int64_t dir,
                             int64_t dirs, bool batch_first, bool to_tensor, const int32_t* lens, int64_t seq,
                             cudaStream_t stream) {
  const int64_t n = batch * hidden;
  if (n == 0) return cudaSuccess;
  return dispatch_compute(elem, [&](auto zero) {
    using C = decltype(zero);
    rnn_state_kernel<C><<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<C*>(buffer), static_cast<C*>(tensor), batch,
                                                                     hidden, dir, dirs, batch_first, to_tensor, lens, seq);
    return cudaGetLastError();
  });
}

}  // namespace shardscore::kernels
