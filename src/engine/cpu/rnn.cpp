// RNN, GRU and LSTM on the CPU (equations and contracts: engine/op_plans_rnn.h). One batch row at a
// time: a BLAS product of the row's steps by W^T, then per step a BLAS matrix-vector product of
// the state by R^T and the gates; a row reads nothing of another row, so its outputs are
// bit-identical for any batch it shares.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/op_plans_rnn.h"

namespace shardscore {
namespace {

// c[m x n] = a[m x k, rows lda apart] * b^T, b [n x k] row-major.
void gemm_nt(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f,
              a, static_cast<int>(lda), b, static_cast<int>(k), 0.0f, c, static_cast<int>(n));
}
void gemm_nt(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b, double* c) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0,
              a, static_cast<int>(lda), b, static_cast<int>(k), 0.0, c, static_cast<int>(n));
}
// y[m] = a[m x n] * x.
void gemv(int64_t m, int64_t n, const float* a, const float* x, float* y) {
  cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), 1.0f, a, static_cast<int>(n), x, 1,
              0.0f, y, 1);
}
void gemv(int64_t m, int64_t n, const double* a, const double* x, double* y) {
  cblas_dgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), 1.0, a, static_cast<int>(n), x, 1,
              0.0, y, 1);
}

template <typename T>
T activate(RnnActivation a, T v, T clip) {
  if (clip > T(0)) v = std::clamp(v, -clip, clip);  // NaN stays NaN
  switch (a) {
    case RnnActivation::kSigmoid:
      if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
      else {
        const T e = std::exp(v);
        return e / (T(1) + e);
      }
    case RnnActivation::kTanh: return std::tanh(v);
    case RnnActivation::kRelu: return v < T(0) ? T(0) : v;
  }
  return v;
}

template <typename T>
void rnn_typed(const RnnPlan& p, const std::vector<int64_t>& lens, const std::vector<const Tensor*>& in,
               std::vector<Tensor>& out) {
  const int64_t hid = p.hidden, gh = p.gates * hid, n_in = p.input, seq = p.seq, batch = p.batch, dirs = p.dirs;
  const int64_t per = p.kind == RnnKind::kLstm ? 3 : p.kind == RnnKind::kGru ? 2 : 1;
  const T* px = in[0]->data<T>();
  const T* pw = in[1]->data<T>();
  const T* pr = in[2]->data<T>();
  const T* pb = p.has_b ? in[3]->data<T>() : nullptr;
  const T* ph0 = p.has_initial_h ? in[5]->data<T>() : nullptr;
  const T* pc0 = p.has_initial_c ? in[6]->data<T>() : nullptr;
  const T* pp = p.has_p ? in[7]->data<T>() : nullptr;
  T* py = out[0].empty() ? nullptr : out[0].data<T>();
  T* pyh = out.size() > 1 && !out[1].empty() ? out[1].data<T>() : nullptr;
  T* pyc = out.size() > 2 && !out[2].empty() ? out[2].data<T>() : nullptr;
  if (py) std::fill(py, py + out[0].numel(), T(0));
  const T clip = static_cast<T>(p.clip);
  // Element offsets of a step's X row, Y row and a state row.
  auto x_row = [&](int64_t t, int64_t b) { return (p.batch_first ? b * seq + t : t * batch + b) * n_in; };
  auto y_row = [&](int64_t t, int64_t d, int64_t b) {
    return (p.batch_first ? (b * seq + t) * dirs + d : (t * dirs + d) * batch + b) * hid;
  };
  auto state_row = [&](int64_t d, int64_t b) { return (p.batch_first ? b * dirs + d : d * batch + b) * hid; };
  std::vector<T> xw(static_cast<std::size_t>(std::max<int64_t>(seq, 1) * gh)), hr(static_cast<std::size_t>(gh));
  std::vector<T> h(static_cast<std::size_t>(hid)), c(static_cast<std::size_t>(hid)), rh(static_cast<std::size_t>(hid)),
      hrh(static_cast<std::size_t>(hid));
  for (int64_t d = 0; d < dirs; ++d) {
    const T* w = pw + d * gh * n_in;
    const T* r = pr + d * gh * hid;
    const T* wb = pb ? pb + d * 2 * gh : nullptr;
    const T* rb = pb ? wb + gh : nullptr;
    const T* peep = pp ? pp + d * 3 * hid : nullptr;
    const RnnActivation f = p.act[static_cast<std::size_t>(d * per)];
    const RnnActivation g = per > 1 ? p.act[static_cast<std::size_t>(d * per + 1)] : f;
    const RnnActivation ha = per > 2 ? p.act[static_cast<std::size_t>(d * per + 2)] : f;
    const bool backward = p.reverse || d == 1;
    auto bias = [&](int64_t k) { return pb ? wb[k] + rb[k] : T(0); };
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t len = lens[static_cast<std::size_t>(b)];
      if (ph0) std::copy(ph0 + state_row(d, b), ph0 + state_row(d, b) + hid, h.begin());
      else std::fill(h.begin(), h.end(), T(0));
      if (pc0) std::copy(pc0 + state_row(d, b), pc0 + state_row(d, b) + hid, c.begin());
      else std::fill(c.begin(), c.end(), T(0));
      if (len > 0 && n_in > 0) {
        gemm_nt(len, gh, n_in, px + x_row(0, b), p.batch_first ? n_in : batch * n_in, w, xw.data());
      } else {
        std::fill(xw.begin(), xw.end(), T(0));
      }
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = backward ? len - 1 - s : s;
        const T* xt = xw.data() + t * gh;
        const bool gru_reset_first = p.kind == RnnKind::kGru && !p.linear_before_reset;
        if (hid > 0) gemv(gru_reset_first ? 2 * hid : gh, hid, r, h.data(), hr.data());
        if (p.kind == RnnKind::kLstm) {
          for (int64_t j = 0; j < hid; ++j) {
            // Gates i, o, f, c at 0, hid, 2 hid, 3 hid; peepholes i, o, f.
            const T ig = activate(f, xt[j] + hr[j] + bias(j) + (peep ? peep[j] * c[j] : T(0)), clip);
            const T fg = p.input_forget
                             ? T(1) - ig
                             : activate(f, xt[2 * hid + j] + hr[2 * hid + j] + bias(2 * hid + j) +
                                               (peep ? peep[2 * hid + j] * c[j] : T(0)),
                                        clip);
            const T cand = activate(g, xt[3 * hid + j] + hr[3 * hid + j] + bias(3 * hid + j), clip);
            c[j] = fg * c[j] + ig * cand;
            const T og = activate(f, xt[hid + j] + hr[hid + j] + bias(hid + j) + (peep ? peep[hid + j] * c[j] : T(0)), clip);
            h[j] = og * activate(ha, c[j], T(0));  // clip bounds the gates only, as ONNX Runtime has it
          }
        } else if (p.kind == RnnKind::kGru) {
          if (gru_reset_first) {
            // (r . H) Rh^T needs every r first.
            for (int64_t j = 0; j < hid; ++j) rh[j] = activate(f, xt[hid + j] + hr[hid + j] + bias(hid + j), clip) * h[j];
            if (hid > 0) gemv(hid, hid, r + 2 * hid * hid, rh.data(), hrh.data());
          }
          for (int64_t j = 0; j < hid; ++j) {
            // Gates z, r, h at 0, hid, 2 hid.
            const T zg = activate(f, xt[j] + hr[j] + bias(j), clip);
            const T rg = activate(f, xt[hid + j] + hr[hid + j] + bias(hid + j), clip);
            const T wbh = pb ? wb[2 * hid + j] : T(0), rbh = pb ? rb[2 * hid + j] : T(0);
            const T cand = p.linear_before_reset ? activate(g, xt[2 * hid + j] + rg * (hr[2 * hid + j] + rbh) + wbh, clip)
                                                 : activate(g, xt[2 * hid + j] + hrh[j] + rbh + wbh, clip);
            h[j] = (T(1) - zg) * cand + zg * h[j];
          }
        } else {
          for (int64_t j = 0; j < hid; ++j) h[j] = activate(f, xt[j] + hr[j] + bias(j), clip);
        }
        if (py) std::copy(h.begin(), h.end(), py + y_row(t, d, b));
      }
      if (len == 0) {  // no step: the final state is 0, whatever the initial one (as ONNX Runtime has it)
        std::fill(h.begin(), h.end(), T(0));
        std::fill(c.begin(), c.end(), T(0));
      }
      if (pyh) std::copy(h.begin(), h.end(), pyh + state_row(d, b));
      if (pyc) std::copy(c.begin(), c.end(), pyc + state_row(d, b));
    }
  }
}

Status rnn(RnnKind kind, OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(RnnPlan p, rnn_plan(kind, ctx.node, ctx.inputs));
  std::vector<const Tensor*> in(8, nullptr);
  for (std::size_t i = 0; i < in.size() && i < ctx.inputs.size(); ++i) in[i] = ctx.inputs[i];
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> lens, rnn_sequence_lengths(p, in[4]));
  const DType t = in[0]->dtype();
  if (t != DType::kFloat32 && t != DType::kFloat64) return unsupported_element_type(t);  // float16 is widened by op_run_cpu
  std::vector<Tensor> out(3);
  if (!p.y_shape.empty()) out[0] = Tensor(t, p.y_shape);
  if (!p.h_shape.empty()) out[1] = Tensor(t, p.h_shape);
  if (!p.c_shape.empty()) out[2] = Tensor(t, p.c_shape);
  if (t == DType::kFloat32) rnn_typed<float>(p, lens, in, out);
  else rnn_typed<double>(p, lens, in, out);
  for (std::size_t i = 0; i < ctx.outputs.size() && i < out.size(); ++i) ctx.outputs[i] = std::move(out[i]);
  return ok_status();
}

}  // namespace

Status cpu_rnn(OpContext& ctx) { return rnn(RnnKind::kRnn, ctx); }
Status cpu_gru(OpContext& ctx) { return rnn(RnnKind::kGru, ctx); }
Status cpu_lstm(OpContext& ctx) { return rnn(RnnKind::kLstm, ctx); }

}  // namespace shardscore
