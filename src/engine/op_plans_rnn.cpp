#include "engine/op_plans_rnn.h"

#include <string>

namespace shardscore {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

const char* kind_name(RnnKind k) {
  switch (k) {
    case RnnKind::kRnn: return "RNN";
    case RnnKind::kGru: return "GRU";
    case RnnKind::kLstm: return "LSTM";
  }
  return "?";
}

// `t`'s shape is `want` (the message names the input and the layout it must have).
Status require_shape(const Tensor* t, const char* name, const Shape& want, const char* form) {
  if (t->shape() == want) return ok_status();
  return invalid_argument(std::string(name) + " " + shape_to_string(t->shape()) + " must be " + form + " = " +
                          shape_to_string(want));
}

}  // namespace

StatusOr<RnnPlan> rnn_plan(RnnKind kind, const Node& node, const std::vector<const Tensor*>& inputs) {
  const char* op = kind_name(kind);
  SS_ASSIGN_OR_RETURN(const Tensor* x, plan_required_input(inputs, 0));
  SS_ASSIGN_OR_RETURN(const Tensor* w, plan_required_input(inputs, 1));
  SS_ASSIGN_OR_RETURN(const Tensor* r, plan_required_input(inputs, 2));
  auto opt = [&](std::size_t i) -> const Tensor* { return i < inputs.size() ? inputs[i] : nullptr; };
  const Tensor* b = opt(3);
  const Tensor* seq_lens = opt(4);
  const Tensor* h0 = opt(5);
  const Tensor* c0 = kind == RnnKind::kLstm ? opt(6) : nullptr;
  const Tensor* pp = kind == RnnKind::kLstm ? opt(7) : nullptr;
  const Tensor* joint = kind != RnnKind::kGru && node.attr_int(kRecurrentJointAttr, 0) == 1 ? opt(kRecurrentJointInput) : nullptr;
  if (inputs.size() > kRecurrentJointInput + (joint ? 1 : 0)) {
    return invalid_argument(std::string(op) + " takes at most " + str(kRecurrentJointInput) + " inputs; the node has " +
                            str(static_cast<int64_t>(inputs.size())));
  }
  if (!plan_is_float(x->dtype())) return plan_unsupported_type(x->dtype());
  for (const Tensor* t : {w, r, b, h0, c0, pp}) {
    if (t && t->dtype() != x->dtype()) return invalid_argument("input types differ");
  }
  if (seq_lens && seq_lens->dtype() != DType::kInt32) {
    return invalid_argument("sequence_lens must be int32; got " + std::string(dtype_name(seq_lens->dtype())));
  }
  RnnPlan p;
  p.kind = kind;
  p.gates = kind == RnnKind::kLstm ? 4 : kind == RnnKind::kGru ? 3 : 1;
  const std::string direction = node.attr_string("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional") {
    return invalid_argument("direction '" + direction + "' is not forward, reverse or bidirectional");
  }
  p.dirs = direction == "bidirectional" ? 2 : 1;
  p.reverse = direction == "reverse";
  const int64_t layout = node.opset >= 14 ? node.attr_int("layout", 0) : 0;
  if (layout != 0 && layout != 1) return invalid_argument("layout " + str(layout) + " is not 0 or 1");
  p.batch_first = layout == 1;
  if (x->rank() != 3) {
    return invalid_argument("X " + shape_to_string(x->shape()) + " must be 3-D " +
                            (p.batch_first ? "[batch, seq_length, input_size]" : "[seq_length, batch, input_size]"));
  }
  p.seq = x->dim(p.batch_first ? 1 : 0);
  p.batch = x->dim(p.batch_first ? 0 : 1);
  p.input = x->dim(2);
  if (w->rank() != 3 || r->rank() != 3) {
    return invalid_argument("W " + shape_to_string(w->shape()) + " and R " + shape_to_string(r->shape()) +
                            " must be 3-D [num_directions, " + str(p.gates) + " * hidden_size, ...]");
  }
  p.hidden = r->dim(2);
  if (const Attribute* hs = node.attr("hidden_size"); hs && hs->i != p.hidden) {
    return invalid_argument("hidden_size " + str(hs->i) + " does not match R " + shape_to_string(r->shape()));
  }
  const int64_t gh = p.gates * p.hidden;
  SS_RETURN_IF_ERROR(require_shape(w, "W", {p.dirs, gh, p.input}, "[num_directions, gates * hidden_size, input_size]"));
  SS_RETURN_IF_ERROR(require_shape(r, "R", {p.dirs, gh, p.hidden}, "[num_directions, gates * hidden_size, hidden_size]"));
  if (b) SS_RETURN_IF_ERROR(require_shape(b, "B", {p.dirs, 2 * gh}, "[num_directions, 2 * gates * hidden_size]"));
  const Shape state = p.batch_first ? Shape{p.batch, p.dirs, p.hidden} : Shape{p.dirs, p.batch, p.hidden};
  const char* state_form = p.batch_first ? "[batch, num_directions, hidden_size]" : "[num_directions, batch, hidden_size]";
  if (seq_lens) SS_RETURN_IF_ERROR(require_shape(seq_lens, "sequence_lens", {p.batch}, "[batch]"));
  if (h0) SS_RETURN_IF_ERROR(require_shape(h0, "initial_h", state, state_form));
  if (c0) SS_RETURN_IF_ERROR(require_shape(c0, "initial_c", state, state_form));
  if (pp) SS_RETURN_IF_ERROR(require_shape(pp, "P", {p.dirs, 3 * p.hidden}, "[num_directions, 3 * hidden_size]"));
  if (joint) {
    if (joint->dtype() != DType::kFloat32 || x->dtype() != DType::kFloat32) return invalid_argument("joint [W R] must be float32, as X");
    SS_RETURN_IF_ERROR(require_shape(joint, "joint [W R]", {p.dirs, gh, p.input + p.hidden},
                                     "[num_directions, gates * hidden_size, input_size + hidden_size]"));
  }
  p.has_joint = joint != nullptr;
  p.constant_weights = kind == RnnKind::kGru && node.attr_int(kRecurrentConstAttr, 0) == 1 && x->dtype() == DType::kFloat32;
  p.has_b = b != nullptr;
  p.has_seq_lens = seq_lens != nullptr;
  p.has_initial_h = h0 != nullptr;
  p.has_initial_c = c0 != nullptr;
  p.has_p = pp != nullptr;

  // Activations: Sigmoid, Tanh and Relu, without parameters.
  if (node.attr("activation_alpha") || node.attr("activation_beta")) {
    return unimplemented(std::string(op) + "'s activation_alpha / activation_beta are not supported");
  }
  const int64_t per = kind == RnnKind::kLstm ? 3 : kind == RnnKind::kGru ? 2 : 1;
  std::vector<std::string> names;
  if (const Attribute* a = node.attr("activations"); a && !a->strings.empty()) {
    names = a->strings;
    if (static_cast<int64_t>(names.size()) != per * p.dirs) {
      return invalid_argument("activations has " + str(static_cast<int64_t>(names.size())) + " names; " + op + " with " +
                              str(p.dirs) + " direction(s) needs " + str(per * p.dirs));
    }
  } else {
    for (int64_t d = 0; d < p.dirs; ++d) {
      if (kind == RnnKind::kRnn) names.push_back("Tanh");
      else if (kind == RnnKind::kGru) names.insert(names.end(), {"Sigmoid", "Tanh"});
      else names.insert(names.end(), {"Sigmoid", "Tanh", "Tanh"});
    }
  }
  for (const std::string& n : names) {
    // ONNX names them in CamelCase; some exporters wrote them in lower case.
    std::string lower;
    for (char ch : n) lower.push_back(static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch));
    if (lower == "sigmoid") p.act.push_back(RnnActivation::kSigmoid);
    else if (lower == "tanh") p.act.push_back(RnnActivation::kTanh);
    else if (lower == "relu") p.act.push_back(RnnActivation::kRelu);
    else return unimplemented(std::string(op) + " activation '" + n + "' is not supported (Sigmoid, Tanh and Relu are)");
  }
  p.clip = node.attr_float("clip", 0.0f);
  if (node.attr("clip") && !(p.clip > 0)) return invalid_argument("clip " + std::to_string(p.clip) + " must be positive");
  p.input_forget = kind == RnnKind::kLstm && node.attr_int("input_forget", 0) != 0;
  p.linear_before_reset = kind == RnnKind::kGru && node.attr_int("linear_before_reset", 0) != 0;

  const std::size_t n_out = node.outputs.size();
  auto wants = [&](std::size_t i) { return i < n_out && !node.outputs[i].empty(); };
  if (wants(0)) {
    p.y_shape = p.batch_first ? Shape{p.batch, p.seq, p.dirs, p.hidden} : Shape{p.seq, p.dirs, p.batch, p.hidden};
  }
  if (wants(1)) p.h_shape = state;
  if (kind == RnnKind::kLstm && wants(2)) p.c_shape = state;
  return p;
}

StatusOr<std::vector<int64_t>> rnn_sequence_lengths(const RnnPlan& p, const Tensor* sequence_lens) {
  std::vector<int64_t> lens(static_cast<std::size_t>(p.batch), p.seq);
  if (!sequence_lens) return lens;
  const int32_t* v = sequence_lens->data<int32_t>();
  for (int64_t b = 0; b < p.batch; ++b) {
    if (v[b] < 0 || v[b] > p.seq) {
      return invalid_argument("sequence_lens[" + str(b) + "] = " + str(v[b]) + " is outside [0, " + str(p.seq) +
                              "] (seq_length " + str(p.seq) + ")");
    }
    lens[static_cast<std::size_t>(b)] = v[b];
  }
  return lens;
}

}  // namespace shardscore
