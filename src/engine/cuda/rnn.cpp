// RNN, GRU and LSTM on CUDA (equations: engine/op_plans_rnn.h): per direction one cuBLAS product
// X W^T for every step and row, then per step a product H R^T over the batch and one kernel for the
// gates (kernels/rnn.cu). Computed in float32 (float16 / bfloat16 tensors widened first and the
// outputs rounded once, as the CPU's op_run_cpu does) or float64. sequence_lens is read on the host
// (checked as the CPU checks it) and reaches the kernels as a table in the op's scratch.
#include <string>

#include "engine/cuda/cuda_ops.h"
#include "engine/cuda/cuda_util.h"
#include "engine/op_plans_rnn.h"
#include "kernels/elementwise.h"
#include "kernels/rnn.h"

namespace shardscore {
namespace {

kernels::RnnAct kernel_act(RnnActivation a) {
  switch (a) {
    case RnnActivation::kSigmoid: return kernels::RnnAct::kSigmoid;
    case RnnActivation::kTanh: return kernels::RnnAct::kTanh;
    case RnnActivation::kRelu: return kernels::RnnAct::kRelu;
  }
  return kernels::RnnAct::kTanh;
}

Status rnn(RnnKind kind, CudaOpContext& ctx) {
  SS_ASSIGN_OR_RETURN(RnnPlan p, rnn_plan(kind, ctx.node, ctx.inputs));
  std::vector<const Tensor*> in(8, nullptr);
  for (std::size_t i = 0; i < in.size() && i < ctx.inputs.size(); ++i) in[i] = ctx.inputs[i];
  SS_ASSIGN_OR_RETURN(std::vector<int64_t> lens, rnn_sequence_lengths(p, in[4]));  // in[4]: a host tensor
  const DType t = in[0]->dtype();
  const bool wide = t == DType::kFloat16 || t == DType::kBFloat16;
  const DType ct = t == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;  // the compute type
  const auto ce = cuda_elem(ct);
  const int64_t cs = static_cast<int64_t>(dtype_size(ct));
  cudaStream_t stream = ctx.lane.stream;
  // An input in the compute type: as it is, or widened into scratch.
  auto as_compute = [&](const Tensor* v) -> StatusOr<const char*> {
    if (!v) return static_cast<const char*>(nullptr);
    if (!wide) return static_cast<const char*>(v->raw());
    void* s = ctx.scratch(static_cast<std::size_t>(v->numel() * cs));
    SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_cast(cuda_elem(t), ce, v->raw(), s, v->numel(), stream));
    return static_cast<const char*>(s);
  };
  SS_ASSIGN_OR_RETURN(const char* x, as_compute(in[0]));
  SS_ASSIGN_OR_RETURN(const char* w, as_compute(in[1]));
  SS_ASSIGN_OR_RETURN(const char* r, as_compute(in[2]));
  SS_ASSIGN_OR_RETURN(const char* b, as_compute(p.has_b ? in[3] : nullptr));
  SS_ASSIGN_OR_RETURN(const char* h0, as_compute(p.has_initial_h ? in[5] : nullptr));
  SS_ASSIGN_OR_RETURN(const char* c0, as_compute(p.has_initial_c ? in[6] : nullptr));
  SS_ASSIGN_OR_RETURN(const char* peep, as_compute(p.has_p ? in[7] : nullptr));
  const int32_t* dlens = nullptr;
  if (p.has_seq_lens) {
    SS_ASSIGN_OR_RETURN(const void* up, cuda_upload_table(ctx, in[4]->raw(), in[4]->nbytes()));
    dlens = static_cast<const int32_t*>(up);
  }
  // The outputs, and where the kernels write them (scratch in the compute type for 16-bit ones).
  std::vector<Tensor> out(3);
  std::vector<char*> dst(3, nullptr);
  const Shape* shapes[3] = {&p.y_shape, &p.h_shape, &p.c_shape};
  for (int k = 0; k < 3; ++k) {
    if (shapes[k]->empty()) continue;
    out[k] = Tensor(t, *shapes[k]);
    dst[k] = wide ? static_cast<char*>(ctx.scratch(static_cast<std::size_t>(out[k].numel() * cs)))
                  : static_cast<char*>(out[k].raw());
  }
  const int64_t hid = p.hidden, gh = p.gates * hid, rows = p.seq * p.batch;
  if (dst[0] && out[0].numel() > 0) {
    SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(dst[0], 0, static_cast<std::size_t>(out[0].numel() * cs), stream));
  }
  const std::size_t state_bytes = static_cast<std::size_t>(p.batch * hid * cs);
  char* xw = static_cast<char*>(ctx.scratch(static_cast<std::size_t>(rows * gh * cs)));
  char* hr = static_cast<char*>(ctx.scratch(static_cast<std::size_t>(p.batch * gh * cs)));
  char* h = static_cast<char*>(ctx.scratch(state_bytes));
  char* c = static_cast<char*>(ctx.scratch(state_bytes));
  const bool gru_reset_first = kind == RnnKind::kGru && !p.linear_before_reset;
  char* rh = gru_reset_first ? static_cast<char*>(ctx.scratch(state_bytes)) : nullptr;
  char* hrh = gru_reset_first ? static_cast<char*>(ctx.scratch(state_bytes)) : nullptr;
  const int64_t per = kind == RnnKind::kLstm ? 3 : kind == RnnKind::kGru ? 2 : 1;
  for (int64_t d = 0; d < p.dirs && p.batch * hid > 0; ++d) {
    // X W^T for every row and step (rows in X's order).
    if (p.input > 0 && rows > 0) {
      RowMajorGemm g;
      g.trans_b = true;
      g.m = rows;
      g.n = gh;
      g.k = p.input;
      g.a = x;
      g.b = w + d * gh * p.input * cs;
      g.y = xw;
      SS_RETURN_IF_ERROR(gemm_rowmajor(ctx, ct, g));
    } else if (rows > 0) {
      SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(xw, 0, static_cast<std::size_t>(rows * gh * cs), stream));
    }
    for (auto [from, buf] : {std::pair<const char*, char*>{h0, h}, {c0, c}}) {
      if (from) {
        SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_rnn_state(ce, buf, const_cast<char*>(from), p.batch, hid, d, p.dirs,
                                                            p.batch_first, false, nullptr, p.seq, stream));
      } else {
        SS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(buf, 0, state_bytes, stream));
      }
    }
    kernels::RnnStep st;
    st.cell = kind == RnnKind::kLstm ? kernels::RnnCell::kLstm : kind == RnnKind::kGru ? kernels::RnnCell::kGru : kernels::RnnCell::kRnn;
    st.seq = p.seq;
    st.batch = p.batch;
    st.hidden = hid;
    st.dirs = p.dirs;
    st.dir = d;
    st.backward = p.reverse || d == 1;
    st.batch_first = p.batch_first;
    st.f = kernel_act(p.act[static_cast<std::size_t>(d * per)]);
    st.g = per > 1 ? kernel_act(p.act[static_cast<std::size_t>(d * per + 1)]) : st.f;
    st.h = per > 2 ? kernel_act(p.act[static_cast<std::size_t>(d * per + 2)]) : st.f;
    st.clip = p.clip;
    st.input_forget = p.input_forget;
    st.linear_before_reset = p.linear_before_reset;
    st.hr_ld = gru_reset_first ? 2 * hid : gh;
    const char* rd = r + d * gh * hid * cs;
    const char* wb = b ? b + d * 2 * gh * cs : nullptr;
    const char* rb = b ? wb + gh * cs : nullptr;
    const char* pd = peep ? peep + d * 3 * hid * cs : nullptr;
    for (int64_t s = 0; s < p.seq; ++s) {
      st.step = s;
      RowMajorGemm g;  // H R^T ([batch, hidden] by [gates * hidden, hidden]^T; GRU reset-first: z and r only)
      g.trans_b = true;
      g.m = p.batch;
      g.n = st.hr_ld;
      g.k = hid;
      g.a = h;
      g.b = rd;
      g.y = hr;
      SS_RETURN_IF_ERROR(gemm_rowmajor(ctx, ct, g));
      if (gru_reset_first) {
        SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_rnn_gru_reset(ce, st, xw, hr, wb, rb, dlens, h, rh, stream));
        RowMajorGemm gr;  // (r . H) Rh^T
        gr.trans_b = true;
        gr.m = p.batch;
        gr.n = hid;
        gr.k = hid;
        gr.a = rh;
        gr.b = rd + 2 * hid * hid * cs;
        gr.y = hrh;
        SS_RETURN_IF_ERROR(gemm_rowmajor(ctx, ct, gr));
      }
      SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_rnn_gates(ce, st, xw, hr, hrh, wb, rb, pd, dlens, h, c, dst[0], stream));
    }
    if (dst[1]) {
      SS_LAUNCH_RETURN_IF_ERROR(
          kernels::launch_rnn_state(ce, h, dst[1], p.batch, hid, d, p.dirs, p.batch_first, true, dlens, p.seq, stream));
    }
    if (dst[2]) {
      SS_LAUNCH_RETURN_IF_ERROR(
          kernels::launch_rnn_state(ce, c, dst[2], p.batch, hid, d, p.dirs, p.batch_first, true, dlens, p.seq, stream));
    }
  }
  for (int k = 0; k < 3; ++k) {
    if (wide && dst[k] && out[k].numel() > 0) {
      SS_LAUNCH_RETURN_IF_ERROR(kernels::launch_cast(ce, cuda_elem(t), dst[k], out[k].raw(), out[k].numel(), stream));
    }
  }
  for (std::size_t i = 0; i < ctx.outputs.size() && i < out.size(); ++i) ctx.outputs[i] = std::move(out[i]);
  return ok_status();
}

}  // namespace

Status cuda_rnn(CudaOpContext& ctx) { return rnn(RnnKind::kRnn, ctx); }
Status cuda_gru(CudaOpContext& ctx) { return rnn(RnnKind::kGru, ctx); }
Status cuda_lstm(CudaOpContext& ctx) { return rnn(RnnKind::kLstm, ctx); }

}  // namespace shardscore
