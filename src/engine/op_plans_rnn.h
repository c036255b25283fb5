#pragma once
// The recurrent ops RNN, GRU and LSTM: what their CPU and CUDA functions share (attributes, checks
// with their messages, output shapes). Compute: src/engine/cpu/rnn.cpp, src/engine/cuda/rnn.cpp
// with kernels/rnn.cu.
//
// The ONNX equations, per direction and step t (gates in the spec's order: LSTM i, o, f, c; GRU
// z, r, h; RNN one), with Xt one batch row of X, H and C the previous step's state, W / R the
// direction's weights, Wb / Rb its two biases (0 when B is omitted), P its peepholes (0 when
// omitted), f, g, h the activations (default Sigmoid, Tanh, Tanh; RNN's f default Tanh):
//   RNN:  H' = f(Xt W^T + H R^T + Wb + Rb)
//   GRU:  z = f(Xt Wz^T + H Rz^T + Wbz + Rbz), r = f(... r ...),
//         h~ = g(Xt Wh^T + (r . H) Rh^T + Rbh + Wbh)        (linear_before_reset 0)
//         h~ = g(Xt Wh^T + r . (H Rh^T + Rbh) + Wbh)        (linear_before_reset 1)
//         H' = (1 - z) . h~ + z . H
//   LSTM: i = f(Xt Wi^T + H Ri^T + Pi . C + Wbi + Rbi), f_ = f(... f ... Pf . C ...) (1 - i with
//         input_forget), c~ = g(Xt Wc^T + H Rc^T + Wbc + Rbc), C' = f_ . C + i . c~,
//         o = f(Xt Wo^T + H Ro^T + Po . C' + Wbo + Rbo), H' = o . h(C')
// clip (when given) bounds the gates' inputs to [-clip, clip] (not C' before h, as ONNX Runtime
// computes it; the spec's "input of activations" is read so). A batch row with
// sequence_lens s runs steps 0 .. s-1 (the reverse direction s-1 down to 0); Y is 0 at its later
// steps, Y_h / Y_c hold its state after its last step (0 when s is 0, as ONNX Runtime has it; the
// spec is silent).
//
// Computed in float32 (float16 / bfloat16 widened, as every computing op) or float64. Each batch
// row's steps are its own: nothing a row computes reads another row, so its outputs do not depend
// on the batch it shares (bit-identical on the CPU).
#include <cstdint>
#include <vector>

#include "common/status.h"
#include "engine/graph.h"
#include "engine/op_plans.h"
#include "engine/op_plans_nn.h"  // plan_unsupported_type
#include "engine/tensor.h"

namespace shardscore {

enum class RnnKind { kRnn, kGru, kLstm };

// The CPU backend's joint weights [W R] of an LSTM or RNN (pass_recurrent_joint_weights,
// engine/passes.h): a ninth input, present only on a node carrying the attribute
// kRecurrentJointAttr = 1; a model's node with more than 8 inputs is refused.
inline constexpr std::size_t kRecurrentJointInput = 8;
inline constexpr const char* kRecurrentJointAttr = "shardscore_joint_weights";
// A GRU's counterpart (pass_recurrent_joint_weights): its W and R are constant initializers, so the
// CPU function may pack them once (oneDNN's cache keeps them for the process: a model that set it
// on weights computed per batch would grow that cache). GRU keeps its three products apart.
inline constexpr const char* kRecurrentConstAttr = "shardscore_constant_weights";
enum class RnnActivation { kSigmoid, kTanh, kRelu };

struct RnnPlan {
  RnnKind kind = RnnKind::kLstm;
  int64_t seq = 0, batch = 0, input = 0, hidden = 0;
  int64_t dirs = 1;              // 2 for bidirectional
  bool reverse = false;          // direction "reverse" (one direction, run backwards)
  bool batch_first = false;      // layout 1: X [batch, seq, input], Y [batch, seq, dirs, hidden], states [batch, dirs, hidden]
  int64_t gates = 4;             // RNN 1, GRU 3, LSTM 4
  // The activations of direction d: act[d * per + k], per = 1 (RNN), 2 (GRU: f, g), 3 (LSTM: f, g, h).
  std::vector<RnnActivation> act;
  float clip = 0;                // 0: none
  bool input_forget = false;     // LSTM
  bool linear_before_reset = false;  // GRU
  bool has_b = false, has_seq_lens = false, has_initial_h = false, has_initial_c = false, has_p = false;
  bool has_joint = false;        // input kRecurrentJointInput: [W R], float32 (LSTM, RNN)
  bool constant_weights = false; // GRU: kRecurrentConstAttr, float32 W and R
  // Outputs 0 (Y), 1 (Y_h) and 2 (Y_c, LSTM only): their shapes (empty where the node does not
  // ask for the output).
  Shape y_shape, h_shape, c_shape;
};

// The plan of `kind`. Inputs: X, W, R (required), B, sequence_lens (int32), initial_h, initial_c
// (LSTM), P (LSTM). `outputs`: how many outputs the node names, and which ones are given (the
// node's output names, "" for one skipped). Unimplemented for activations other than Sigmoid, Tanh
// and Relu, activation_alpha / activation_beta, and non-float types; InvalidArgument for shapes
// that do not fit, hidden_size disagreeing with W, an unknown direction or layout.
StatusOr<RnnPlan> rnn_plan(RnnKind kind, const Node& node, const std::vector<const Tensor*>& inputs);

// sequence_lens' values (a host tensor in both backends), each checked to lie in [0, seq]:
// InvalidArgument naming the first that does not. All seq where the input is omitted.
StatusOr<std::vector<int64_t>> rnn_sequence_lengths(const RnnPlan& p, const Tensor* sequence_lens);

}  // namespace shardscore
