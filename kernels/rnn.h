#pragma once
// The element-wise parts of RNN, GRU and LSTM (src/engine/cuda/rnn.cpp, which runs the products on
// cuBLAS): one step's gates for every batch row, GRU's reset product operand, and the states'
// moves between the outputs' layouts and a [batch, hidden] buffer. Elements are float32 or float64
// (Elem kF32 / kF64: the op's compute type; 16-bit tensors are widened before and rounded after).
// The equations and the order of each sum are those of src/engine/cpu/rnn.cpp
// (engine/op_plans_rnn.h).
#include "kernels/kernel_types.h"

namespace shardscore::kernels {

enum class RnnCell : int { kRnn = 0, kGru = 1, kLstm = 2 };
enum class RnnAct : int { kSigmoid = 0, kTanh = 1, kRelu = 2 };

struct RnnStep {
  RnnCell cell = RnnCell::kLstm;
  int64_t seq = 0, batch = 0, hidden = 0, dirs = 1, dir = 0;
  int64_t step = 0;            // s: row b runs step s when s < its length; its time t is s, or len - 1 - s backward
  bool backward = false;
  bool batch_first = false;    // layout 1 (X, Y rows ordered batch-major)
  RnnAct f = RnnAct::kSigmoid, g = RnnAct::kTanh, h = RnnAct::kTanh;
  double clip = 0;             // 0: none
  bool input_forget = false, linear_before_reset = false;
  int64_t hr_ld = 0;           // elements between rows of hr
};

// One step: for each batch row b that runs it and each j < hidden, the gates from xw (X W^T, rows
// in X's order, gates * hidden wide), hr (H R^T, batch rows hr_ld apart), hrh (GRU without
// linear_before_reset: (r . H) Rh^T, [batch, hidden]; else null), the biases wb / rb (gates *
// hidden each; null: none) and peep (LSTM, i o f; null: none). Updates h and c ([batch, hidden]; c
// LSTM only) and writes the new H into y (Y's layout; null: no Y). lens: batch int32 lengths, or
// null for all seq.
cudaError_t launch_rnn_gates(Elem elem, const RnnStep& st, const void* xw, const void* hr, const void* hrh, const void* wb,
                             const void* rb, const void* peep, const int32_t* lens, void* h, void* c, void* y,
                             cudaStream_t stream);

// GRU without linear_before_reset: rh [batch, hidden] = r . H for the rows that run step st.step
// (r from xw, hr and the biases as launch_rnn_gates computes it).
cudaError_t launch_rnn_gru_reset(Elem elem, const RnnStep& st, const void* xw, const void* hr, const void* wb,
                                 const void* rb, const int32_t* lens, const void* h, void* rh, cudaStream_t stream);

// Direction dir's state between a [batch, hidden] buffer and a state tensor ([dirs, batch, hidden],
// or [batch, dirs, hidden] batch_first): to_tensor copies buffer -> tensor (0 for a row of length
// 0: its lens entry, or seq where lens is null), else tensor -> buffer.
cudaError_t launch_rnn_state(Elem elem, void* buffer, void* tensor, int64_t batch, int64_t hidden, int64_t dir,
                             int64_t dirs, bool batch_first, bool to_tensor, const int32_t* lens, int64_t seq,
                             cudaStream_t stream);

}  // namespace shardscore::kernels
