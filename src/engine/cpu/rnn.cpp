// RNN, GRU and LSTM on the CPU (equations and contracts: engine/op_plans_rnn.h). Tiles of kRowTile
// batch rows: per step, products of exactly kRowTile rows (RNN and LSTM: one, [X H] [W R]^T, by
// oneDNN with [W R] packed once where the graph pass gave the node its joint weights (constant
// float32 W and R), else by OpenBLAS; GRU: X W^T and H R^T apart, since its r multiplies H or
// H Rh^T, by oneDNN with W and R packed once where the pass marked them constant, else by
// OpenBLAS), then the gates row by row. A row's products do not depend on the rows
// beside it, so its outputs are bit-identical for any batch it shares.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/blas.h"
#include "engine/cpu/onednn.h"
#include "engine/cpu/unary.h"
#include "engine/cpu/vector_math.h"
#include "engine/op_plans_rnn.h"

namespace shardscore {
namespace {

// Batch rows per product: every product has exactly this many rows (the last tile padded with rows
// of zeros), so a row's result never depends on the rows beside it (as engine/cpu/gemm.cpp's tiles).
constexpr int64_t kRowTile = 64;

template <typename T>
T activate(RnnActivation a, T v, T clip) {
  if (clip > T(0)) v = std::clamp(v, -clip, clip);  // NaN stays NaN
  switch (a) {
    case RnnActivation::kSigmoid: return sigmoid_stable(v);
    case RnnActivation::kTanh: return std::tanh(v);
    case RnnActivation::kRelu: return v < T(0) ? T(0) : v;
  }
  return v;
}

// activate() over n values in place. float32 Sigmoid and Tanh go through libmvec's vector exp and
// tanh (vector_math.h: every element alike, whatever its position), float64 through libm.
template <typename T>
void activate_all(RnnActivation a, T* v, int64_t n, T clip) {
  if (clip > T(0))
    for (int64_t i = 0; i < n; ++i) v[i] = std::clamp(v[i], -clip, clip);  // NaN stays NaN
  if constexpr (std::is_same_v<T, float>) {
    if (a == RnnActivation::kTanh) return vector_tanh_f32(v, v, n);
    if (a == RnnActivation::kSigmoid) return vector_sigmoid_f32(v, v, n);
  }
  for (int64_t i = 0; i < n; ++i) v[i] = activate(a, v[i], T(0));
}

template <typename T>
Status rnn_typed(const RnnPlan& p, const std::vector<int64_t>& lens, const std::vector<const Tensor*>& in,
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
  // Per tile of kRowTile batch rows (the last one padded with rows of zeros) and step: the rows' X
  // gathered (zeros for a row not running the step), then products of exactly kRowTile rows: RNN
  // and LSTM one, [X H] [W R]^T (xg holds [X H], wr [W R]); GRU X W^T and H R^T apart. Then the gates.
  const int64_t tile = kRowTile;
  const bool joint = p.kind != RnnKind::kGru;
  const int64_t kx = joint ? n_in + hid : n_in;  // xg's row length
  // oneDNN's product: the joint weights' direction d, packed at its first use (a constant initializer).
  const bool packed = joint && p.has_joint && std::is_same_v<T, float>;
  const bool gru_packed = p.kind == RnnKind::kGru && p.constant_weights && std::is_same_v<T, float>;
  std::vector<T> wr(joint && !packed ? static_cast<std::size_t>(gh * kx) : 0), bsum(static_cast<std::size_t>(gh));
  std::vector<T> xg(static_cast<std::size_t>(tile * kx)), xw(static_cast<std::size_t>(tile * gh)),
      hr(joint ? 0 : static_cast<std::size_t>(tile * gh)), h(static_cast<std::size_t>(tile * hid)), c(h.size()),
      rh(joint ? 0 : h.size()), hrh(rh.size()), g0(h.size()), g1(h.size()), g2(h.size()), g3(h.size());  // hr, rh, hrh: GRU's
  std::vector<int64_t> t_of(static_cast<std::size_t>(tile));
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
    const bool gru_reset_first = p.kind == RnnKind::kGru && !p.linear_before_reset;
    for (int64_t k = 0; k < gh; ++k) bsum[static_cast<std::size_t>(k)] = pb ? wb[k] + rb[k] : T(0);
    // One prepared product per direction: no allocation per step (the batch's memory plan records
    // every allocation, and a step count that follows sequence_lens would vary between batches).
    std::optional<OnednnRowProduct> product, gru_xw, gru_hr, gru_hrh;
    if (packed) {
      SS_ASSIGN_OR_RETURN(OnednnRowProduct made, OnednnRowProduct::make(in[kRecurrentJointInput]->slice0(d), true, tile));
      product.emplace(std::move(made));
    }
    // GRU: X W^T, H R^T (all three gates, or z and r where r multiplies H before Rh) and (r . H) Rh^T.
    const int64_t hr_ld = gru_packed && gru_reset_first ? 2 * hid : gh;  // hr's row length
    if (gru_packed) {
      const Tensor wd = in[1]->slice0(d), rd = in[2]->slice0(d);
      SS_ASSIGN_OR_RETURN(OnednnRowProduct x_part, OnednnRowProduct::make(wd, true, tile));
      SS_ASSIGN_OR_RETURN(OnednnRowProduct h_part, OnednnRowProduct::make(gru_reset_first ? rd.rows0(0, 2 * hid) : rd, true, tile));
      gru_xw.emplace(std::move(x_part));
      gru_hr.emplace(std::move(h_part));
      if (gru_reset_first) {
        SS_ASSIGN_OR_RETURN(OnednnRowProduct rh_part, OnednnRowProduct::make(rd.rows0(2 * hid, hid), true, tile));
        gru_hrh.emplace(std::move(rh_part));
      }
    }
    if (joint && !packed)
      for (int64_t k = 0; k < gh; ++k) {
        std::copy(w + k * n_in, w + (k + 1) * n_in, wr.begin() + k * kx);
        std::copy(r + k * hid, r + (k + 1) * hid, wr.begin() + k * kx + n_in);
      }
    // The BLAS products' weights as stored rows ([K, N]), transposed once for every step and tile
    // (blas.h): [W R]^T, or GRU's W^T, R^T and Rh^T.
    std::vector<T> wr_t, w_t, r_t, rh_t;
    if (joint && !packed) {
      wr_t = transposed(wr.data(), gh, kx, kx);
    } else if (!joint && !gru_packed) {
      w_t = transposed(w, gh, n_in, n_in);
      r_t = transposed(r, gh, hid, hid);
      if (gru_reset_first) rh_t = transposed(r + 2 * hid * hid, hid, hid, hid);
    }
    for (int64_t b0 = 0; b0 < batch; b0 += tile) {
      const int64_t rows = std::min(tile, batch - b0);
      std::fill(h.begin(), h.end(), T(0));
      std::fill(c.begin(), c.end(), T(0));
      int64_t steps = 0;
      for (int64_t q = 0; q < rows; ++q) {
        const int64_t b = b0 + q;
        if (ph0) std::copy(ph0 + state_row(d, b), ph0 + state_row(d, b) + hid, h.begin() + q * hid);
        if (pc0) std::copy(pc0 + state_row(d, b), pc0 + state_row(d, b) + hid, c.begin() + q * hid);
        steps = std::max(steps, lens[static_cast<std::size_t>(b)]);
      }
      for (int64_t s = 0; s < steps; ++s) {
        std::fill(xg.begin(), xg.end(), T(0));
        for (int64_t q = 0; q < tile; ++q) {
          const int64_t len = q < rows ? lens[static_cast<std::size_t>(b0 + q)] : 0;
          t_of[static_cast<std::size_t>(q)] = s < len ? (backward ? len - 1 - s : s) : -1;
          if (t_of[static_cast<std::size_t>(q)] >= 0) {
            const T* xr = px + x_row(t_of[static_cast<std::size_t>(q)], b0 + q);
            std::copy(xr, xr + n_in, xg.begin() + q * kx);
          }
        }
        if (joint) {
          for (int64_t q = 0; q < tile; ++q) std::copy(h.begin() + q * hid, h.begin() + (q + 1) * hid, xg.begin() + q * kx + n_in);
          if (product) {
            if constexpr (std::is_same_v<T, float>) SS_RETURN_IF_ERROR(product->run(xg.data(), xw.data()));
          } else if (kx > 0) {
            blas_gemm(false, false, tile, gh, kx, T(1), xg.data(), kx, wr_t.data(), gh, T(0), xw.data(), gh);
          } else {
            std::fill(xw.begin(), xw.end(), T(0));
          }
        } else if (gru_xw) {
          if constexpr (std::is_same_v<T, float>) {
            SS_RETURN_IF_ERROR(gru_xw->run(xg.data(), xw.data()));
            SS_RETURN_IF_ERROR(gru_hr->run(h.data(), hr.data()));
          }
        } else {
          if (n_in > 0) blas_gemm(false, false, tile, gh, n_in, T(1), xg.data(), n_in, w_t.data(), gh, T(0), xw.data(), gh);
          else std::fill(xw.begin(), xw.end(), T(0));
          if (hid > 0) {
            blas_gemm(false, false, tile, gru_reset_first ? 2 * hid : gh, hid, T(1), h.data(), hid, r_t.data(), gh, T(0),
                      hr.data(), gh);
          }
        }
        if (p.kind == RnnKind::kGru) {
          // r of every row first ((r . H) Rh^T needs it whole), padded rows included (all zeros).
          for (int64_t q = 0; q < tile; ++q)
            for (int64_t j = 0; j < hid; ++j) g1[q * hid + j] = xw[q * gh + hid + j] + hr[q * hr_ld + hid + j] + bsum[static_cast<std::size_t>(hid + j)];
          activate_all(f, g1.data(), tile * hid, clip);
        }
        if (gru_reset_first) {
          for (int64_t i = 0; i < tile * hid; ++i) rh[i] = g1[i] * h[i];
          if (gru_hrh) {
            if constexpr (std::is_same_v<T, float>) SS_RETURN_IF_ERROR(gru_hrh->run(rh.data(), hrh.data()));
          } else if (hid > 0) {
            blas_gemm(false, false, tile, hid, hid, T(1), rh.data(), hid, rh_t.data(), hid, T(0), hrh.data(), hid);
          }
        }
        // The gates of the whole tile, gate by gate: pre-activations, then one activate_all each. A row
        // not running the step computes on its stale values and keeps nothing.
        const int64_t n = rows * hid;
        auto running = [&](int64_t q) { return t_of[static_cast<std::size_t>(q)] >= 0; };
        auto pre = [&](T* dst, int64_t k) {  // x W_k^T + H R_k^T + Wb_k + Rb_k, row by row
          const T* bk = bsum.data() + k * hid;
          for (int64_t q = 0; q < rows; ++q) {
            const T* a = xw.data() + q * gh + k * hid;
            T* o = dst + q * hid;
            if (joint) {
              for (int64_t j = 0; j < hid; ++j) o[j] = a[j] + bk[j];
            } else {
              const T* b = hr.data() + q * hr_ld + k * hid;
              for (int64_t j = 0; j < hid; ++j) o[j] = a[j] + b[j] + bk[j];
            }
          }
        };
        if (p.kind == RnnKind::kLstm) {
          // Gates i, o, f, c at 0, hid, 2 hid, 3 hid; peepholes i, o, f.
          pre(g0.data(), 0);
          pre(g2.data(), 2);
          pre(g3.data(), 3);
          if (peep) {
            for (int64_t q = 0; q < rows; ++q)
              for (int64_t j = 0; j < hid; ++j) {
                g0[q * hid + j] += peep[j] * c[q * hid + j];
                g2[q * hid + j] += peep[2 * hid + j] * c[q * hid + j];
              }
          }
          activate_all(f, g0.data(), n, clip);
          if (!p.input_forget) activate_all(f, g2.data(), n, clip);
          activate_all(g, g3.data(), n, clip);
          std::vector<T>& cn = g1;  // C' of every row (a stopped row's is not kept)
          for (int64_t i = 0; i < n; ++i) {
            const T fg = p.input_forget ? T(1) - g0[i] : g2[i];
            cn[i] = fg * c[i] + g0[i] * g3[i];
          }
          pre(g2.data(), 1);  // o
          if (peep)
            for (int64_t q = 0; q < rows; ++q)
              for (int64_t j = 0; j < hid; ++j) g2[q * hid + j] += peep[hid + j] * cn[q * hid + j];
          activate_all(f, g2.data(), n, clip);
          std::copy(cn.begin(), cn.begin() + n, g3.begin());
          activate_all(ha, g3.data(), n, T(0));  // clip bounds the gates only, as ONNX Runtime has it
          for (int64_t q = 0; q < rows; ++q) {
            if (!running(q)) continue;
            for (int64_t j = 0; j < hid; ++j) {
              c[q * hid + j] = cn[q * hid + j];
              h[q * hid + j] = g2[q * hid + j] * g3[q * hid + j];
            }
          }
        } else if (p.kind == RnnKind::kGru) {
          // Gates z, r, h at 0, hid, 2 hid.
          pre(g0.data(), 0);
          activate_all(f, g0.data(), n, clip);
          for (int64_t q = 0; q < rows; ++q)
            for (int64_t j = 0; j < hid; ++j) {
              const T wbh = pb ? wb[2 * hid + j] : T(0), rbh = pb ? rb[2 * hid + j] : T(0);
              g2[q * hid + j] = p.linear_before_reset
                                    ? xw[q * gh + 2 * hid + j] + g1[q * hid + j] * (hr[q * hr_ld + 2 * hid + j] + rbh) + wbh
                                    : xw[q * gh + 2 * hid + j] + hrh[q * hid + j] + rbh + wbh;
            }
          activate_all(g, g2.data(), n, clip);
          for (int64_t q = 0; q < rows; ++q) {
            if (!running(q)) continue;
            for (int64_t j = 0; j < hid; ++j) {
              const int64_t i = q * hid + j;
              h[i] = (T(1) - g0[i]) * g2[i] + g0[i] * h[i];
            }
          }
        } else {
          pre(g0.data(), 0);
          activate_all(f, g0.data(), n, clip);
          for (int64_t q = 0; q < rows; ++q)
            if (running(q)) std::copy(g0.begin() + q * hid, g0.begin() + (q + 1) * hid, h.begin() + q * hid);
        }
        if (py) {
          for (int64_t q = 0; q < rows; ++q)
            if (running(q)) std::copy(h.begin() + q * hid, h.begin() + (q + 1) * hid, py + y_row(t_of[static_cast<std::size_t>(q)], d, b0 + q));
        }
      }
      for (int64_t q = 0; q < rows; ++q) {
        const int64_t b = b0 + q;
        T* hs = h.data() + q * hid;
        T* cs = c.data() + q * hid;
        if (lens[static_cast<std::size_t>(b)] == 0) {  // no step: final states of 0, as ONNX Runtime has them
          std::fill(hs, hs + hid, T(0));
          std::fill(cs, cs + hid, T(0));
        }
        if (pyh) std::copy(hs, hs + hid, pyh + state_row(d, b));
        if (pyc) std::copy(cs, cs + hid, pyc + state_row(d, b));
      }
    }
  }
  return ok_status();
}

// Whether the joint weights hold W's and R's rows side by side, as the graph pass made them: a node
// of the model's own with the pass's attribute and a ninth input gets no silently different function.
bool joint_matches(const RnnPlan& p, const Tensor& joint, const Tensor& w, const Tensor& r) {
  const int64_t rows = p.dirs * p.gates * p.hidden, n_in = p.input, hid = p.hidden, kx = n_in + hid;
  const float *pj = joint.data<float>(), *pw = w.data<float>(), *pr = r.data<float>();
  for (int64_t row = 0; row < rows; ++row) {
    if (std::memcmp(pj + row * kx, pw + row * n_in, static_cast<std::size_t>(n_in) * sizeof(float)) != 0 ||
        std::memcmp(pj + row * kx + n_in, pr + row * hid, static_cast<std::size_t>(hid) * sizeof(float)) != 0) {
      return false;
    }
  }
  return true;
}

Status rnn(RnnKind kind, OpContext& ctx) {
  SS_ASSIGN_OR_RETURN(RnnPlan p, rnn_plan(kind, ctx.node, ctx.inputs));
  std::vector<const Tensor*> in(kRecurrentJointInput + 1, nullptr);
  for (std::size_t i = 0; i < in.size() && i < ctx.inputs.size(); ++i) in[i] = ctx.inputs[i];
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> lens, rnn_sequence_lengths(p, in[4]));
  const DType t = in[0]->dtype();
  if (t != DType::kFloat32 && t != DType::kFloat64) return unsupported_element_type(t);  // float16 is widened by op_run_cpu
  std::vector<Tensor> out(3);
  if (!p.y_shape.empty()) out[0] = Tensor(t, p.y_shape);
  if (!p.h_shape.empty()) out[1] = Tensor(t, p.h_shape);
  if (!p.c_shape.empty()) out[2] = Tensor(t, p.c_shape);
  if (p.has_joint && !joint_matches(p, *in[kRecurrentJointInput], *in[1], *in[2])) {
    return invalid_argument("input " + std::to_string(kRecurrentJointInput) + " is not [W R], the joint weights attribute " +
                            kRecurrentJointAttr + " announces");
  }
  if (t == DType::kFloat32) SS_RETURN_IF_ERROR(rnn_typed<float>(p, lens, in, out));
  else SS_RETURN_IF_ERROR(rnn_typed<double>(p, lens, in, out));
  for (std::size_t i = 0; i < ctx.outputs.size() && i < out.size(); ++i) ctx.outputs[i] = std::move(out[i]);
  return ok_status();
}

}  // namespace

Status cpu_rnn(OpContext& ctx) { return rnn(RnnKind::kRnn, ctx); }
Status cpu_gru(OpContext& ctx) { return rnn(RnnKind::kGru, ctx); }
Status cpu_lstm(OpContext& ctx) { return rnn(RnnKind::kLstm, ctx); }

}  // namespace shardscore
