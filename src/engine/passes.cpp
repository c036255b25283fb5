#include "engine/passes.h"

#include <algorithm>
#include <cstring>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "engine/cpu/float16.h"
#include "engine/graph_edit.h"
#include "engine/op_plans_nn.h"
#include "engine/op_plans_rnn.h"
#include "engine/op_registry.h"

namespace shardscore {

std::string PassStats::describe() const {
  return (expanded_contrib_ops ? std::to_string(expanded_contrib_ops) + " com.microsoft op(s) expanded, " : std::string()) +
         (spatial_1d_as_2d ? std::to_string(spatial_1d_as_2d) + " 1-D Conv/pool(s) run as 2-D, " : std::string()) +
         std::to_string(folded_constants) + " constant node(s) folded, " + std::to_string(folded_batchnorms) +
         " BatchNormalization folded into Conv, " + std::to_string(fused_gelus) + " Gelu chain(s) fused, " + std::to_string(fused_gemms) + " MatMul/Gemm fused, " +
         std::to_string(fused_convs) + " Conv fused, " +
         (fused_attentions ? std::to_string(fused_attentions) + " attention(s) fused, " : std::string()) +
         (fused_add_layer_norms ? std::to_string(fused_add_layer_norms) + " Add+LayerNormalization fused, " : std::string()) + std::to_string(blocked_convs) + " Conv on oneDNN, " +
         (nhwc_convs ? std::to_string(nhwc_convs) + " Conv in NHWC, " : std::string()) +
         (joint_recurrent ? std::to_string(joint_recurrent) + " LSTM/GRU/RNN on oneDNN, " : std::string()) +
         (constant_integer_weights ? std::to_string(constant_integer_weights) + " integer product(s) with constant weights, "
                                   : std::string()) +
         (row_quantized_matmuls ? std::to_string(row_quantized_matmuls) + " quantize_dynamic product(s) quantized by rows, "
                                : std::string()) +
         std::to_string(removed_nodes) + " dead node(s) removed";
}

namespace {

// TensorProto.DataType codes for Cast's `to`.
using onnx_dtype_code = int64_t;
constexpr onnx_dtype_code kOnnxFloat32 = 1, kOnnxFloat16 = 10, kOnnxBFloat16 = 16;
onnx_dtype_code onnx_code_of_half(DType t) { return t == DType::kBFloat16 ? kOnnxBFloat16 : kOnnxFloat16; }

// How many nodes read each value, plus one for each graph output it is.
std::map<std::string, int> count_readers(const Graph& g) {
  std::map<std::string, int> readers;
  for (const auto& n : g.nodes)
    for (const auto& i : n.inputs)
      if (!i.empty()) ++readers[i];
  for (const auto& o : g.outputs) ++readers[o.name];
  return readers;
}

// The node producing `value`, or nullptr.
Node* producer_of(Graph* g, const std::string& value) {
  for (auto& n : g->nodes)
    for (const auto& o : n.outputs)
      if (o == value) return &n;
  return nullptr;
}

// Every node input that reads `from` reads `to` instead.
void rename_reads(Graph* g, const std::string& from, const std::string& to) {
  for (auto& n : g->nodes)
    for (auto& i : n.inputs)
      if (i == from) i = to;
}

// The only node reading `value` (nullptr when none, several, it is a graph output, or the reader
// was already absorbed into a fusion this pass made: `dead` nodes are still in the list until the
// pass ends, and must never be absorbed twice).
Node* sole_reader(Graph* g, const std::string& value, const std::map<std::string, int>& readers,
                  const std::set<const Node*>& dead) {
  auto it = readers.find(value);
  if (it == readers.end() || it->second != 1) return nullptr;
  for (auto& n : g->nodes)
    for (const auto& i : n.inputs)
      if (i == value) return dead.count(&n) ? nullptr : &n;
  return nullptr;
}

void erase_marked(Graph* g, const std::set<const Node*>& dead) {
  std::vector<Node> kept;
  for (auto& n : g->nodes)
    if (!dead.count(&n)) kept.push_back(std::move(n));
  g->nodes = std::move(kept);
}

}  // namespace

namespace {
// The number of spatial axes of a Conv / MaxPool / AveragePool as far as the graph shows it at load
// (pass_spatial_1d_as_2d), or -1 where nothing does.
int64_t window_spatial_rank(const Graph& g, const Node& n) {
  if (const Attribute* k = n.attr("kernel_shape")) return static_cast<int64_t>(k->ints.size());
  if ((n.op_type == "Conv" || n.op_type == "ConvTranspose") && n.inputs.size() > 1) {
    if (const Tensor* w = initializer(g, n.inputs[1])) return w->rank() - 2;
    for (const auto& in : g.inputs)
      if (in.name == n.inputs[1] && !in.dims.empty()) return static_cast<int64_t>(in.dims.size()) - 2;
  }
  if (const Attribute* a = n.attr("strides")) return static_cast<int64_t>(a->ints.size());
  if (const Attribute* a = n.attr("dilations")) return static_cast<int64_t>(a->ints.size());
  if (const Attribute* a = n.attr("pads")) return static_cast<int64_t>(a->ints.size() / 2);
  return -1;
}
}  // namespace

Status pass_spatial_1d_as_2d(Graph* g, PassStats* stats) {
  FreshNames fresh(*g);
  // A 3-D value -> its values as [N, C, 1, L] (made by a 2-D node, or by an Unsqueeze).
  std::map<std::string, std::string> twin;
  std::set<std::string> made_2d;        // values whose twin a rewritten or lifted node makes
  std::set<std::string> squeezed;       // the model's values now made by a Squeeze of their twin
  std::set<std::string> replaced;       // 3-D initializers (W) replaced by 4-D ones
  std::string axis_2;                   // the int64 initializer {2}: Unsqueeze's and Squeeze's axes
  std::vector<Node> out;
  out.reserve(g->nodes.size());
  int rewritten = 0;
  auto reshape_node = [&](const char* op, const std::string& from, const std::string& to) {
    if (axis_2.empty()) {
      axis_2 = fresh("shardscore_spatial_axis_2");
      Tensor a(DType::kInt64, {1});
      a.data<int64_t>()[0] = 2;
      g->initializers.emplace(axis_2, std::move(a));
    }
    Node r;
    r.name = "shardscore_" + to + "_" + op;
    r.op_type = op;
    r.opset = 13;  // axes as an input
    r.inputs = {from, axis_2};
    r.outputs = {to};
    return r;
  };
  auto to_2d = [&](const std::string& v) -> std::string {
    if (v.empty()) return v;
    if (auto it = twin.find(v); it != twin.end()) return it->second;
    std::string t;
    if (const Tensor* w = initializer(*g, v); w && w->rank() == 3) {
      t = fresh(v + "::2d");
      g->initializers.emplace(t, w->reshaped({w->dim(0), w->dim(1), 1, w->dim(2)}));
      replaced.insert(v);
    } else {
      t = fresh(v + "::2d");
      out.push_back(reshape_node("Unsqueeze", v, t));
    }
    twin[v] = t;
    return t;
  };
  // The node, on 2-D values now, goes in; each output's model name is a Squeeze of its twin.
  auto emit_2d = [&](Node n) {
    std::vector<Node> squeezes;
    for (auto& o : n.outputs) {
      if (o.empty()) continue;
      const std::string t = fresh(o + "::2d");
      squeezes.push_back(reshape_node("Squeeze", t, o));
      squeezed.insert(o);
      twin[o] = t;
      made_2d.insert(o);
      o = t;
    }
    out.push_back(std::move(n));
    for (auto& s : squeezes) out.push_back(std::move(s));
  };
  auto widen = [](Node* n, const char* name, std::vector<int64_t> (*f)(const std::vector<int64_t>&)) {
    if (auto it = n->attrs.find(name); it != n->attrs.end()) it->second.ints = f(it->second.ints);
  };
  // Nodes are copied into `out`, so that FreshNames sees every value of the graph until it is replaced.
  for (const Node& node : g->nodes) {
    Node n = node;
    const bool conv = n.op_type == "Conv" || n.op_type == "ConvTranspose";
    const bool window = n.domain.empty() && (conv || n.op_type == "MaxPool" || n.op_type == "AveragePool");
    if (window && !n.inputs.empty() && window_spatial_rank(*g, n) == 1) {
      // Every attribute and W must agree that the op is 1-D.
      for (const auto& [name, len] : {std::pair<const char*, std::size_t>{"kernel_shape", 1}, {"strides", 1}, {"dilations", 1},
                                      {"pads", 2}, {"output_padding", 1}, {"output_shape", 1}}) {
        const Attribute* a = n.attr(name);
        if (a && a->ints.size() != len) {
          return invalid_argument(n.describe() + ": " + name + " " + shape_to_string(a->ints) + " has " +
                                  std::to_string(a->ints.size()) + " values; a 1-D window needs " + std::to_string(len));
        }
      }
      if (conv && n.inputs.size() > 1) {
        const Tensor* w = initializer(*g, n.inputs[1]);
        if (w && w->rank() != 3) {
          return invalid_argument(n.describe() + ": W " + shape_to_string(w->shape()) + " must be 3-D " +
                                  (n.op_type == "Conv" ? "[M, C/group, K]" : "[C, M/group, K]") + " for a 1-D convolution");
        }
      }
      widen(&n, "kernel_shape", [](const std::vector<int64_t>& v) { return std::vector<int64_t>{1, v[0]}; });
      widen(&n, "strides", [](const std::vector<int64_t>& v) { return std::vector<int64_t>{1, v[0]}; });
      widen(&n, "dilations", [](const std::vector<int64_t>& v) { return std::vector<int64_t>{1, v[0]}; });
      widen(&n, "pads", [](const std::vector<int64_t>& v) { return std::vector<int64_t>{0, v[0], 0, v[1]}; });
      widen(&n, "output_padding", [](const std::vector<int64_t>& v) { return std::vector<int64_t>{0, v[0]}; });
      widen(&n, "output_shape", [](const std::vector<int64_t>& v) { return std::vector<int64_t>{1, v[0]}; });
      n.inputs[0] = to_2d(n.inputs[0]);
      if (conv && n.inputs.size() > 1) n.inputs[1] = to_2d(n.inputs[1]);
      emit_2d(std::move(n));
      ++rewritten;
      continue;
    }
    // Per-channel and element-wise ops after a rewritten one follow it into 2-D, so that the fusions
    // find the convolution right before them: BatchNormalization (Y only) and Relu of its output,
    // and an Add of it and another value known to be 3-D (a residual).
    const bool lifted =
        n.domain.empty() && !n.inputs.empty() && !n.outputs.empty() &&
        std::all_of(n.outputs.begin() + 1, n.outputs.end(), [](const std::string& o) { return o.empty(); }) &&
        ((n.op_type == "Relu" && made_2d.count(n.inputs[0])) ||
         (n.op_type == "BatchNormalization" && made_2d.count(n.inputs[0])) ||
         (n.op_type == "Add" && n.inputs.size() == 2 && (made_2d.count(n.inputs[0]) || made_2d.count(n.inputs[1])) &&
          twin.count(n.inputs[0]) && twin.count(n.inputs[1])));
    if (lifted) {
      n.inputs[0] = twin.at(n.inputs[0]);
      if (n.op_type == "Add") n.inputs[1] = twin.at(n.inputs[1]);
      emit_2d(std::move(n));
      continue;
    }
    out.push_back(std::move(n));
  }
  g->nodes = std::move(out);
  if (rewritten == 0) return ok_status();
  // A Squeeze nothing reads goes (its value was read only in 2-D), and so does a replaced weight.
  const auto readers = count_readers(*g);
  std::erase_if(g->nodes, [&](const Node& n) {
    return n.op_type == "Squeeze" && squeezed.count(n.outputs[0]) && !readers.count(n.outputs[0]);
  });
  for (const auto& w : replaced)
    if (!readers.count(w)) g->initializers.erase(w);
  if (stats) stats->spatial_1d_as_2d += rewritten;
  return ok_status();
}

Status pass_fold_constants(Graph* g, PassStats* stats) {
  std::set<const Node*> folded;
  for (auto& n : g->nodes) {
    bool all_const = std::all_of(n.inputs.begin(), n.inputs.end(),
                                 [&](const std::string& i) { return i.empty() || g->initializers.count(i); });
    const OpEntry* op = op_registry_find(n.domain, n.op_type, n.opset);
    if (!all_const || !op || !op->cpu) continue;
    OpContext ctx{n, {}, {}};
    for (const auto& i : n.inputs) ctx.inputs.push_back(i.empty() ? nullptr : &g->initializers.at(i));
    ctx.outputs.resize(n.outputs.size());
    Status st = op_run_cpu(*op, ctx);
    // A node that fails on its constants is left in place: it fails at run time with its message.
    if (!st.ok()) continue;
    for (std::size_t k = 0; k < n.outputs.size(); ++k)
      if (!n.outputs[k].empty()) g->initializers[n.outputs[k]] = ctx.outputs[k];
    folded.insert(&n);
    ++stats->folded_constants;
  }
  erase_marked(g, folded);
  return ok_status();
}

Status pass_fold_batchnorm_into_conv(Graph* g, PassStats* stats) {
  auto readers = count_readers(*g);
  std::set<const Node*> dead;
  // The folded weights' names must be free: a node named like another's generated name ("Conv_2"),
  // or an initializer already called "conv/bn_folded_W", would have one fold overwrite the other.
  FreshNames fresh(*g);
  for (auto& bn : g->nodes) {
    if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.inputs.size() < 5) continue;
    if (bn.outputs.size() > 1 && std::any_of(bn.outputs.begin() + 1, bn.outputs.end(), [](auto& o) { return !o.empty(); })) continue;
    Node* conv = producer_of(g, bn.inputs[0]);
    if (!conv || conv->op_type != "Conv" || !conv->domain.empty() || readers[conv->outputs[0]] != 1) continue;
    const Tensor* w = initializer(*g, conv->inputs[1]);
    const Tensor* b = conv->inputs.size() > 2 && !conv->inputs[2].empty() ? initializer(*g, conv->inputs[2]) : nullptr;
    const Tensor* scale = initializer(*g, bn.inputs[1]);
    const Tensor* shift = initializer(*g, bn.inputs[2]);
    const Tensor* mean = initializer(*g, bn.inputs[3]);
    const Tensor* var = initializer(*g, bn.inputs[4]);
    if (!w || !scale || !shift || !mean || !var || (conv->inputs.size() > 2 && !conv->inputs[2].empty() && !b)) continue;
    if (w->dtype() != DType::kFloat32 || w->rank() < 3) continue;
    const int64_t m = w->dim(0);
    if (scale->numel() != m || shift->numel() != m || mean->numel() != m || var->numel() != m ||
        scale->dtype() != DType::kFloat32 || shift->dtype() != DType::kFloat32 || mean->dtype() != DType::kFloat32 ||
        var->dtype() != DType::kFloat32 || (b && (b->numel() != m || b->dtype() != DType::kFloat32))) {
      continue;
    }
    const double eps = bn.attr_float("epsilon", 1e-5f);
    const int64_t per_out = w->numel() / m;
    Tensor nw(DType::kFloat32, w->shape()), nb(DType::kFloat32, {m});
    for (int64_t o = 0; o < m; ++o) {
      // In double, rounded once: y = (conv(x) + b - mean) * s / sqrt(var + eps) + shift.
      const double f = static_cast<double>(scale->data<float>()[o]) / std::sqrt(static_cast<double>(var->data<float>()[o]) + eps);
      for (int64_t k = 0; k < per_out; ++k)
        nw.data<float>()[o * per_out + k] = static_cast<float>(w->data<float>()[o * per_out + k] * f);
      const double bias = b ? b->data<float>()[o] : 0.0;
      nb.data<float>()[o] = static_cast<float>((bias - mean->data<float>()[o]) * f + shift->data<float>()[o]);
    }
    const std::string wname = fresh(conv->name + "/bn_folded_W"), bname = fresh(conv->name + "/bn_folded_B");
    g->initializers[wname] = nw;
    g->initializers[bname] = nb;
    conv->inputs.resize(3);
    conv->inputs[1] = wname;
    conv->inputs[2] = bname;
    conv->outputs[0] = bn.outputs[0];
    dead.insert(&bn);
    ++stats->folded_batchnorms;
  }
  erase_marked(g, dead);
  return ok_status();
}

namespace {
// A float32 scalar initializer equal to `v`, of rank 0 or 1: one of higher rank ([1, 1, 1]) would
// raise the rank of what it multiplies, which the fused op would not.
bool scalar_is(const Graph& g, const std::string& name, float v) {
  const Tensor* t = initializer(g, name);
  return t && t->dtype() == DType::kFloat32 && t->numel() == 1 && t->rank() <= 1 && t->data<float>()[0] == v;
}
// The input of binary node n that is not `value` (n must read `value`).
const std::string& other_input(const Node& n, const std::string& value) {
  return n.inputs[0] == value ? n.inputs[1] : n.inputs[0];
}
}  // namespace

Status pass_fuse_gelu(Graph* g, PassStats* stats) {
  auto readers = count_readers(*g);
  std::set<const Node*> dead;
  auto is = [](const Node* n, const char* op) { return n && n->domain.empty() && n->op_type == op && n->inputs.size() == 2; };
  // Mul n reads `value` and, as its other operand, the scalar v.
  auto times = [&](const Node* n, const std::string& value, float v) {
    return is(n, "Mul") && scalar_is(*g, other_input(*n, value), v);
  };
  for (auto& erf : g->nodes) {
    if (dead.count(&erf) || erf.op_type != "Erf" || !erf.domain.empty() || erf.inputs.size() != 1) continue;
    Node* arg = producer_of(g, erf.inputs[0]);
    if (!arg || readers[erf.inputs[0]] != 1 || dead.count(arg)) continue;
    std::string x;
    if (is(arg, "Div") && scalar_is(*g, arg->inputs[1], 1.41421354f)) {
      x = arg->inputs[0];
    } else if (is(arg, "Mul") && scalar_is(*g, arg->inputs[1], 0.707106769f)) {
      x = arg->inputs[0];
    } else if (is(arg, "Mul") && scalar_is(*g, arg->inputs[0], 0.707106769f)) {
      x = arg->inputs[1];
    } else {
      continue;
    }
    Node* add = sole_reader(g, erf.outputs[0], readers, dead);
    if (!is(add, "Add") || !scalar_is(*g, other_input(*add, erf.outputs[0]), 1.0f)) continue;
    const std::string& s = add->outputs[0];
    Node* first = sole_reader(g, s, readers, dead);  // the Mul that reads 1 + erf
    if (!is(first, "Mul")) continue;
    const std::string& other = other_input(*first, s);
    Node* last = nullptr;  // the chain's last node: its output is the GELU
    Node* half_x = nullptr;  // (x * 0.5), in the third order
    if (other == x) {  // (x * s) * 0.5
      last = sole_reader(g, first->outputs[0], readers, dead);
      if (!times(last, first->outputs[0], 0.5f)) continue;
    } else if (scalar_is(*g, other, 0.5f)) {  // x * (0.5 * s)
      last = sole_reader(g, first->outputs[0], readers, dead);
      if (!is(last, "Mul") || other_input(*last, first->outputs[0]) != x) continue;
    } else {  // (x * 0.5) * s
      half_x = producer_of(g, other);
      if (!half_x || dead.count(half_x) || readers[other] != 1 || !is(half_x, "Mul") ||
          !(half_x->inputs[0] == x || half_x->inputs[1] == x) || !times(half_x, x, 0.5f)) {
        continue;
      }
      last = first;
    }
    Node gelu;
    gelu.name = erf.name + "/gelu";
    gelu.domain = "com.microsoft";
    gelu.op_type = "Gelu";
    gelu.opset = 1;
    gelu.inputs = {x};
    gelu.outputs = {last->outputs[0]};
    for (Node* n : {arg, &erf, add, first, half_x})
      if (n && n != last) dead.insert(n);
    *last = std::move(gelu);  // in the last node's place: x is made before, readers come after
    ++stats->fused_gelus;
  }
  erase_marked(g, dead);
  return ok_status();
}

Status pass_fuse_gemm_activation(Graph* g, PassStats* stats) {
  auto readers = count_readers(*g);
  std::set<const Node*> dead;
  for (auto& n : g->nodes) {
    if (dead.count(&n) || !n.domain.empty()) continue;
    Node fused;
    fused.domain = "shardscore";
    fused.op_type = "FusedGemm";
    fused.opset = 1;
    std::vector<Node*> absorbed;
    std::string out;
    if (n.op_type == "MatMul") {
      // MatMul(X, W[K,N]) + Add(bias [N] or [1,N], either side).
      const Tensor* w = initializer(*g, n.inputs[1]);
      if (!w || w->rank() != 2 || w->dtype() != DType::kFloat32) continue;
      Node* add = sole_reader(g, n.outputs[0], readers, dead);
      if (!add || add->op_type != "Add" || !add->domain.empty()) continue;
      const std::string& other = add->inputs[0] == n.outputs[0] ? add->inputs[1] : add->inputs[0];
      const Tensor* bias = initializer(*g, other);
      if (!bias || bias->dtype() != DType::kFloat32 || bias->numel() != w->dim(1) || bias->rank() > 2 ||
          (bias->rank() == 2 && bias->dim(0) != 1)) {
        continue;
      }
      fused.inputs = {n.inputs[0], n.inputs[1], other};
      absorbed = {&n, add};
      out = add->outputs[0];
    } else if (n.op_type == "Gemm" && n.attr_int("transA", 0) == 0) {
      const Tensor* w = initializer(*g, n.inputs[1]);
      if (!w || w->dtype() != DType::kFloat32) continue;
      fused.inputs = n.inputs;
      fused.attrs = n.attrs;
      absorbed = {&n};
      out = n.outputs[0];
    } else {
      continue;
    }
    // An activation reading only this result joins too.
    if (Node* act = sole_reader(g, out, readers, dead);
        act && ((act->domain.empty() && (act->op_type == "Relu" || act->op_type == "Sigmoid" || act->op_type == "Tanh")) ||
                (act->domain == "com.microsoft" && act->op_type == "Gelu"))) {
      fused.attrs["activation"] = string_attr(act->op_type);
      absorbed.push_back(act);
      out = act->outputs[0];
    }
    fused.name = n.name + "/fused";
    fused.outputs = {out};
    // The fused node takes the place of the last absorbed node, so every reader still follows it.
    for (std::size_t k = 0; k + 1 < absorbed.size(); ++k) dead.insert(absorbed[k]);
    *absorbed.back() = std::move(fused);
    ++stats->fused_gemms;
  }
  erase_marked(g, dead);
  return ok_status();
}

Status pass_fuse_conv_residual_activation(Graph* g, PassStats* stats) {
  auto readers = count_readers(*g);
  std::set<const Node*> dead;
  for (auto& n : g->nodes) {
    if (dead.count(&n) || n.op_type != "Conv" || !n.domain.empty()) continue;
    // float32 only: a float16 model rounds after each op, which a fused epilogue would skip.
    const Tensor* w = n.inputs.size() > 1 ? initializer(*g, n.inputs[1]) : nullptr;
    if (w && w->dtype() != DType::kFloat32) continue;
    std::vector<Node*> absorbed{&n};
    std::string out = n.outputs[0], residual;
    bool relu = false;
    Node* next = sole_reader(g, out, readers, dead);
    if (next && next->op_type == "Add" && next->domain.empty() && next->inputs.size() == 2) {
      // The residual of a ResNet block: another activation, not a constant (a constant would be a
      // bias, which the Conv already has).
      const std::string& other = next->inputs[0] == out ? next->inputs[1] : next->inputs[0];
      if (other != out && !g->initializers.count(other)) {
        residual = other;
        absorbed.push_back(next);
        out = next->outputs[0];
        next = sole_reader(g, out, readers, dead);
      }
    }
    if (next && next->op_type == "Relu" && next->domain.empty()) {
      relu = true;
      absorbed.push_back(next);
      out = next->outputs[0];
    }
    if (absorbed.size() == 1) continue;
    Node fused;
    fused.domain = "shardscore";
    fused.op_type = "FusedConv";
    fused.opset = 1;
    fused.name = n.name + "/fused";
    fused.attrs = n.attrs;
    if (relu) fused.attrs["activation"] = string_attr("Relu");
    fused.inputs = n.inputs;
    if (!residual.empty()) {
      fused.inputs.resize(3);  // B may be absent ("")
      fused.inputs.push_back(residual);
    }
    fused.outputs = {out};
    // In the last absorbed node's place: the residual is computed before it, every reader after.
    for (std::size_t k = 0; k + 1 < absorbed.size(); ++k) dead.insert(absorbed[k]);
    *absorbed.back() = std::move(fused);
    ++stats->fused_convs;
  }
  erase_marked(g, dead);
  return ok_status();
}

Status pass_fuse_attention(Graph* g, PassStats* stats) {
  auto readers = count_readers(*g);
  std::set<const Node*> dead;
  auto is = [](const Node* n, const char* op, std::size_t inputs) {
    return n && n->domain.empty() && n->op_type == op && n->inputs.size() == inputs;
  };
  // The input of the Transpose with permutation `perm` that makes `value`, or "" when none does.
  auto transposed_from = [&](const std::string& value, const std::vector<int64_t>& perm) -> std::string {
    const Node* t = producer_of(g, value);
    if (!is(t, "Transpose", 1)) return "";
    const Attribute* a = t->attr("perm");
    return a && a->ints == perm ? t->inputs[0] : "";
  };
  // A float32 scalar initializer's value (a float16 model rounds after each op: left alone).
  auto scalar = [&](const std::string& name, float* v) {
    const Tensor* t = initializer(*g, name);
    if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
    *v = t->data<float>()[0];
    return true;
  };
  const std::vector<int64_t> heads_out{0, 2, 1, 3}, keys_out{0, 2, 3, 1};
  // The scaled scores, in either of two forms:
  //   eager: Div or Mul by a float32 scalar initializer of MatMul(Q's heads, K's heads^T);
  //   SDPA's export: MatMul(Mul(Q's heads, s1), Mul(K^T, s2)), s1 and s2 float32 scalar initializers
  //   (scale s1 * s2), K^T taken as the graph makes it ([B, H, D, Sk]: keys_transposed).
  struct Scaled {
    Node* node = nullptr;  // the node making the scaled scores
    Node* qk = nullptr;
    std::string q, k;
    float scale = 1;
    bool divide = false, keys_transposed = false;
  };
  // The operand of Mul(x, scalar) (either side) and the scalar, or "".
  auto scaled_operand = [&](const std::string& value, float* v) -> std::string {
    const Node* m = producer_of(g, value);
    if (!is(m, "Mul", 2)) return "";
    if (scalar(m->inputs[1], v)) return m->inputs[0];
    if (scalar(m->inputs[0], v)) return m->inputs[1];
    return "";
  };
  auto scaled_scores = [&](Node* n) -> std::optional<Scaled> {
    if (is(n, "MatMul", 2)) {
      Scaled sc;
      sc.node = sc.qk = n;
      float s1 = 1, s2 = 1;
      const std::string qt = scaled_operand(n->inputs[0], &s1), kt = scaled_operand(n->inputs[1], &s2);
      if (qt.empty() || kt.empty()) return std::nullopt;
      sc.q = transposed_from(qt, heads_out);
      if (sc.q.empty()) return std::nullopt;
      sc.k = kt;
      sc.scale = s1 * s2;
      sc.keys_transposed = true;
      return sc;
    }
    if (!is(n, "Div", 2) && !is(n, "Mul", 2)) return std::nullopt;
    Scaled sc;
    sc.node = n;
    sc.divide = n->op_type == "Div";
    std::string scores;
    if (scalar(n->inputs[1], &sc.scale)) scores = n->inputs[0];
    else if (!sc.divide && scalar(n->inputs[0], &sc.scale)) scores = n->inputs[1];
    else return std::nullopt;
    sc.qk = producer_of(g, scores);
    if (!is(sc.qk, "MatMul", 2) || sole_reader(g, scores, readers, dead) != n) return std::nullopt;
    sc.q = transposed_from(sc.qk->inputs[0], heads_out);
    sc.k = transposed_from(sc.qk->inputs[1], keys_out);
    if (sc.q.empty() || sc.k.empty()) return std::nullopt;
    return sc;
  };
  for (auto& sm : g->nodes) {
    // Softmax along the last of four axes (the rank is the transposes' above; before opset 13,
    // axis 3 of 4 flattens nothing).
    if (dead.count(&sm) || !is(&sm, "Softmax", 1)) continue;
    if (const int64_t axis = sm.attr_int("axis", sm.opset < 13 ? 1 : -1); axis != -1 && axis != 3) continue;
    Node* logits = producer_of(g, sm.inputs[0]);
    Node* add = nullptr;
    std::string mask;
    std::optional<Scaled> sc;
    if (is(logits, "Add", 2)) {  // the mask, on either side of the scaled scores (a mask may be a Mul too)
      for (std::size_t side : {0u, 1u}) {
        if ((sc = scaled_scores(producer_of(g, logits->inputs[side])))) {
          add = logits;
          mask = logits->inputs[1 - side];
          break;
        }
      }
    } else {
      sc = scaled_scores(logits);
    }
    if (!sc) continue;
    Node* scaled = sc->node;
    // Each intermediate read by the next step alone.
    if (sole_reader(g, scaled->outputs[0], readers, dead) != (add ? add : &sm)) continue;
    if (add && sole_reader(g, add->outputs[0], readers, dead) != &sm) continue;
    // P read by the product, or (SDPA's export) by Where(IsNaN(P), 0, P) and the product reading that.
    std::string probs = sm.outputs[0];
    Node* isnan = nullptr;
    Node* where = nullptr;
    if (auto it = readers.find(probs); it != readers.end() && it->second == 2) {
      for (auto& n : g->nodes) {
        if (dead.count(&n)) continue;
        if (is(&n, "IsNaN", 1) && n.inputs[0] == probs) isnan = &n;
        if (is(&n, "Where", 3) && n.inputs[2] == probs) where = &n;
      }
      float zero = 1;
      if (!isnan || !where || where->inputs[0] != isnan->outputs[0] || !scalar(where->inputs[1], &zero) || zero != 0 ||
          sole_reader(g, isnan->outputs[0], readers, dead) != where) {
        continue;
      }
      probs = where->outputs[0];
    }
    Node* pv = sole_reader(g, probs, readers, dead);
    if (!is(pv, "MatMul", 2) || pv->inputs[0] != probs) continue;
    const std::string v = transposed_from(pv->inputs[1], heads_out);
    if (v.empty()) continue;
    Node* back = sole_reader(g, pv->outputs[0], readers, dead);
    if (!is(back, "Transpose", 1) || !back->attr("perm") || back->attr("perm")->ints != heads_out) continue;
    Node fused;
    fused.domain = "shardscore";
    fused.op_type = "Attention";
    fused.opset = 1;
    fused.name = sm.name + "/attention";
    fused.inputs = {sc->q, sc->k, v};
    if (add) fused.inputs.push_back(mask);
    fused.outputs = back->outputs;
    fused.attrs["scale"] = float_attr(sc->scale);
    fused.attrs["scale_divides"] = int_attr(sc->divide ? 1 : 0);
    if (sc->keys_transposed) fused.attrs["keys_transposed"] = int_attr(1);
    if (where) fused.attrs["nan_to_zero"] = int_attr(1);
    // In the last node's place: Q, K, V and the mask are made before it, its readers come after.
    // The head transposes (and SDPA's Muls) stay for any other reader (pass_remove_dead_nodes drops
    // them otherwise).
    for (Node* n : {sc->qk, scaled, add, &sm, isnan, where, pv})
      if (n) dead.insert(n);
    *back = std::move(fused);
    ++stats->fused_attentions;
  }
  erase_marked(g, dead);
  return ok_status();
}

Status pass_fuse_add_layer_norm(Graph* g, PassStats* stats) {
  auto readers = count_readers(*g);
  std::set<const Node*> dead;
  for (auto& ln : g->nodes) {
    if (dead.count(&ln) || !ln.domain.empty() || ln.op_type != "LayerNormalization" || ln.inputs.size() < 2) continue;
    // Y only (the fused op makes no Mean or InvStdDev), float32 Scale (a float16 model rounds the sum).
    if (std::any_of(ln.outputs.begin() + 1, ln.outputs.end(), [](const std::string& o) { return !o.empty(); })) continue;
    const Tensor* scale = initializer(*g, ln.inputs[1]);
    if (!scale || scale->dtype() != DType::kFloat32) continue;
    Node* add = producer_of(g, ln.inputs[0]);
    if (!add || dead.count(add) || !add->domain.empty() || add->op_type != "Add" || add->inputs.size() != 2) continue;
    if (sole_reader(g, add->outputs[0], readers, dead) != &ln) continue;
    Node fused;
    fused.domain = "shardscore";
    fused.op_type = "AddLayerNormalization";
    fused.opset = 1;
    fused.name = ln.name + "/add";
    fused.attrs = ln.attrs;
    fused.inputs = {add->inputs[0], add->inputs[1], ln.inputs[1]};
    if (ln.inputs.size() > 2 && !ln.inputs[2].empty()) fused.inputs.push_back(ln.inputs[2]);
    fused.outputs = {ln.outputs[0]};
    dead.insert(add);
    ln = std::move(fused);  // in the LayerNormalization's place: the operands come before, readers after
    ++stats->fused_add_layer_norms;
  }
  erase_marked(g, dead);
  return ok_status();
}

Status pass_remove_dead_nodes(Graph* g, PassStats* stats) {
  std::set<std::string> needed;
  for (const auto& o : g->outputs) needed.insert(o.name);
  std::set<const Node*> dead;
  for (auto it = g->nodes.rbegin(); it != g->nodes.rend(); ++it) {
    bool used = std::any_of(it->outputs.begin(), it->outputs.end(), [&](const std::string& o) { return needed.count(o) > 0; });
    if (!used) {
      dead.insert(&*it);
      continue;
    }
    for (const auto& i : it->inputs) needed.insert(i);
  }
  stats->removed_nodes += static_cast<int>(dead.size());
  erase_marked(g, dead);
  // Initializers nothing reads any more (folded weights' originals) are dropped too.
  for (auto it = g->initializers.begin(); it != g->initializers.end();) {
    it = needed.count(it->first) ? std::next(it) : g->initializers.erase(it);
  }
  return ok_status();
}

Status pass_select_outputs(Graph* g, const std::vector<std::string>& names, PassStats* stats) {
  std::vector<ValueInfo> kept;
  for (const auto& name : names) {
    auto it = std::find_if(g->outputs.begin(), g->outputs.end(), [&](const ValueInfo& v) { return v.name == name; });
    if (it == g->outputs.end()) {
      std::string all;
      for (const auto& v : g->outputs) all += (all.empty() ? "" : ", ") + v.name;
      return invalid_argument("model '" + g->source + "' has no output '" + name + "' (its outputs: " + all + ")");
    }
    if (std::any_of(kept.begin(), kept.end(), [&](const ValueInfo& v) { return v.name == name; }))
      return invalid_argument("output '" + name + "' of model '" + g->source + "' is asked for twice");
    kept.push_back(*it);
  }
  g->outputs = std::move(kept);
  SS_RETURN_IF_ERROR(pass_remove_dead_nodes(g, stats));
  // A tree classifier's label output that nothing reads any more becomes unnamed: with string
  // labels (which the engine has no tensors for) its op then computes the scores alone.
  std::set<std::string> read;
  for (const auto& v : g->outputs) read.insert(v.name);
  for (const auto& n : g->nodes) read.insert(n.inputs.begin(), n.inputs.end());
  for (auto& n : g->nodes)
    if (n.op_type == "TreeEnsembleClassifier" && n.domain == "ai.onnx.ml" && !n.outputs.empty() &&
        !read.count(n.outputs[0])) {
      n.outputs[0].clear();
    }
  return ok_status();
}

Status pass_blocked_conv_layout(Graph* g, int64_t block, PassStats* stats) {
  if (block <= 0) return ok_status();
  // oneDNN's fast kernels take and give the blocked layout; mixing layouts (or a residual in
  // another layout) sends it to its reference code, orders of magnitude slower. So a convolution
  // here runs blocked -> blocked, except a stem with fewer input channels than kStemChannels,
  // which oneDNN reads straight from NCHW.
  constexpr int64_t kStemChannels = 4;
  std::map<std::string, int64_t> blocked;  // blocked value -> its channel count
  // A residual's channel count where it is known: a blocked value's, a convolution's (its W's
  // output channels), or a graph input's fixed one.
  std::map<std::string, int64_t> conv_channels;
  for (const auto& n : g->nodes) {
    const bool conv = (n.op_type == "Conv" && n.domain.empty()) || (n.op_type == "FusedConv" && n.domain == "shardscore");
    const Tensor* w = conv && n.inputs.size() > 1 ? initializer(*g, n.inputs[1]) : nullptr;
    // (a residual with more channels broadcasts a 1-channel convolution up: then it is not known)
    const bool residual = n.inputs.size() > 3 && !n.inputs[3].empty();
    if (w && w->rank() == 4 && !n.outputs.empty() && (w->dim(0) > 1 || !residual)) conv_channels[n.outputs[0]] = w->dim(0);
  }
  auto known_channels = [&](const std::string& v) -> int64_t {
    if (auto it = blocked.find(v); it != blocked.end()) return it->second;
    if (auto it = conv_channels.find(v); it != conv_channels.end()) return it->second;
    for (const auto& in : g->inputs)
      if (in.name == v && in.dims.size() == 4 && in.dims[1] > 0) return in.dims[1];
    return -1;
  };
  auto eligible = [&](const Node& n) {
    const bool conv = (n.op_type == "Conv" && n.domain.empty()) || (n.op_type == "FusedConv" && n.domain == "shardscore");
    if (!conv || n.attr("dst_layout") || n.inputs.size() < 2) return false;
    const Tensor* w = initializer(*g, n.inputs[1]);
    if (!w || w->dtype() != DType::kFloat32 || w->rank() != 4 || w->dim(0) % block != 0) return false;
    if (w->dim(1) % block != 0 && w->dim(1) >= kStemChannels) return false;
    if (n.attr_int("group", 1) != 1) return false;
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const Tensor* b = initializer(*g, n.inputs[2]);
      if (!b || b->dtype() != DType::kFloat32) return false;
    }
    // A residual in the blocked layout must have the output's channels: one with fewer (a [N, 1, H, W]
    // broadcast over the channels) has the same blocked shape as the output when they fit one block,
    // and would be added to the first channel only. Where its channels are not known, the
    // convolution stays in NCHW, where Add broadcasts.
    if (n.inputs.size() > 3 && !n.inputs[3].empty() && known_channels(n.inputs[3]) != w->dim(0)) return false;
    const Attribute* act = n.attr("activation");
    return !act || act->s.empty() || act->s == "Relu";
  };
  // A MaxPool reading a blocked value pools it in place (lanes are channels), and its output stays
  // blocked: the stem's pool then needs no layout change on either side.
  std::set<const Node*> pools;
  for (const auto& n : g->nodes) {
    if (eligible(n)) {
      blocked[n.outputs[0]] = initializer(*g, n.inputs[1])->dim(0);
    } else if (n.op_type == "MaxPool" && n.domain.empty() && !n.inputs.empty() && blocked.count(n.inputs[0]) &&
               (n.outputs.size() == 1 || n.outputs[1].empty()) && n.attr_int("storage_order", 0) == 0) {
      pools.insert(&n);
      blocked[n.outputs[0]] = blocked[n.inputs[0]];
    }
  }
  if (blocked.empty()) return ok_status();
  auto src_blocked = [&](const Node& n) { return initializer(*g, n.inputs[1])->dim(1) % block == 0; };
  // (a blocked value read as a convolution's X has whole blocks: its producer's channels are a
  // multiple of the block, and they are this convolution's input channels)
  // Who reads a blocked value in NCHW (and gets it from a FromBlocked under the value's own name).
  std::set<std::string> plain_wanted;
  for (const auto& n : g->nodes) {
    const bool pool = pools.count(&n) > 0;
    const bool conv = !pool && blocked.count(n.outputs[0]) > 0;
    for (std::size_t k = 0; k < n.inputs.size(); ++k) {
      if (!blocked.count(n.inputs[k])) continue;
      if (!((conv && ((k == 0 && src_blocked(n)) || k == 3)) || (pool && k == 0))) plain_wanted.insert(n.inputs[k]);
    }
  }
  for (const auto& o : g->outputs)
    if (blocked.count(o.name)) plain_wanted.insert(o.name);

  // New values' names are free ones (a model may have its own "x::blocked"); nodes are copied into
  // `out`, so that FreshNames sees the whole graph until it is replaced.
  FreshNames fresh(*g);
  std::map<std::string, std::string> blocked_names;  // blocked value -> the name of its blocked form
  auto blocked_name = [&](const std::string& v) {
    auto it = blocked_names.find(v);
    if (it == blocked_names.end()) it = blocked_names.emplace(v, fresh(v + "::blocked")).first;
    return it->second;
  };
  std::map<std::string, std::string> to_blocked_made;  // NCHW value -> its blocked copy
  std::vector<Node> out;
  out.reserve(g->nodes.size() * 2);
  // The blocked form of `v` for a reader: its producer's own output, or a ToBlocked made once.
  auto blocked_input = [&](const std::string& v) {
    if (blocked.count(v)) return blocked_name(v);
    auto it = to_blocked_made.find(v);
    if (it == to_blocked_made.end()) {
      Node t;
      t.name = "shardscore_to_blocked_" + v;
      t.domain = "shardscore";
      t.op_type = "ToBlocked";
      t.opset = 1;
      t.inputs = {v};
      t.outputs = {fresh(v + "::to_blocked")};
      t.attrs["block"] = int_attr(block);
      it = to_blocked_made.emplace(v, t.outputs[0]).first;
      out.push_back(std::move(t));
    }
    return it->second;
  };
  auto from_blocked = [&](const std::string& y) {
    if (!plain_wanted.count(y)) return;
    Node f;
    f.name = "shardscore_from_blocked_" + y;
    f.domain = "shardscore";
    f.op_type = "FromBlocked";
    f.opset = 1;
    f.inputs = {blocked_name(y)};
    f.outputs = {y};
    f.attrs["channels"] = int_attr(blocked.at(y));
    out.push_back(std::move(f));
  };
  for (const auto& n : g->nodes) {
    if (!blocked.count(n.outputs[0])) {
      out.push_back(n);
      continue;
    }
    if (pools.count(&n)) {
      Node p = n;
      p.domain = "shardscore";
      p.op_type = "BlockedMaxPool";
      p.opset = 1;
      p.inputs = {blocked_name(n.inputs[0])};
      p.outputs = {blocked_name(n.outputs[0])};
      const std::string y = n.outputs[0];
      out.push_back(std::move(p));
      from_blocked(y);
      continue;
    }
    Node c;
    c.name = n.name;
    c.domain = "shardscore";
    c.op_type = "FusedConv";
    c.opset = 1;
    c.attrs = n.attrs;
    c.inputs = n.inputs;
    const bool src_b = src_blocked(n);
    if (src_b) c.inputs[0] = blocked_input(n.inputs[0]);
    if (c.inputs.size() > 3 && !c.inputs[3].empty()) c.inputs[3] = blocked_input(c.inputs[3]);
    c.attrs["src_layout"] = string_attr(src_b ? "blocked" : "plain");
    c.attrs["dst_layout"] = string_attr("blocked");
    const std::string y = n.outputs[0];
    c.outputs = {blocked_name(y)};
    out.push_back(std::move(c));
    from_blocked(y);
    ++stats->blocked_convs;
  }
  g->nodes = std::move(out);
  return ok_status();
}

namespace {
// Every node reads only values made before it: a pass that breaks this is a bug, reported as one
// rather than left to compute wrong numbers.
Status check_still_sorted(const Graph& g) {
  std::set<std::string> made{""};
  for (const auto& in : g.inputs) made.insert(in.name);
  for (const auto& [name, t] : g.initializers) made.insert(name);
  for (const auto& n : g.nodes) {
    for (const auto& i : n.inputs)
      if (!made.count(i)) return internal_error("graph passes left " + n.describe() + " reading '" + i + "', which nothing makes");
    for (const auto& o : n.outputs) made.insert(o);
  }
  for (const auto& o : g.outputs)
    if (!made.count(o.name)) return internal_error("graph passes left output '" + o.name + "' unmade");
  return ok_status();
}
}  // namespace

Status pass_float32_boundary(Graph* g) {
  auto cast_node = [](const std::string& from, const std::string& to, onnx_dtype_code code) {
    Node c;
    c.name = "shardscore_boundary_" + to;
    c.op_type = "Cast";
    c.opset = 13;  // the registry's Cast; same semantics at every opset the model may declare
    c.inputs = {from};
    c.outputs = {to};
    Attribute a;
    a.type = Attribute::Type::kInt;
    a.i = code;
    c.attrs["to"] = a;
    return c;
  };
  // A name no value has yet (a float16 model run with --precision fp16 passes here twice).
  FreshNames unused(*g);
  std::vector<Node> head;
  for (auto& in : g->inputs) {
    if (!dtype_is_half(in.dtype)) continue;
    const std::string inner = unused(in.name + "::" + std::string(dtype_name(in.dtype)));
    rename_reads(g, in.name, inner);
    head.push_back(cast_node(in.name, inner, onnx_code_of_half(in.dtype)));
    in.dtype = DType::kFloat32;
  }
  g->nodes.insert(g->nodes.begin(), std::make_move_iterator(head.begin()), std::make_move_iterator(head.end()));
  for (auto& out : g->outputs) {
    if (!dtype_is_half(out.dtype)) continue;
    const DType half = out.dtype;
    out.dtype = DType::kFloat32;
    const bool is_input = std::any_of(g->inputs.begin(), g->inputs.end(), [&](const ValueInfo& v) { return v.name == out.name; });
    if (is_input) continue;  // already float32 (the input's own Cast reads it)
    const std::string inner = unused(out.name + "::" + std::string(dtype_name(half)));
    if (Node* p = producer_of(g, out.name)) {
      for (auto& o : p->outputs)
        if (o == out.name) o = inner;
    } else if (auto it = g->initializers.find(out.name); it != g->initializers.end()) {
      g->initializers.emplace(inner, it->second);
      g->initializers.erase(it);
    } else {
      return internal_error("graph output '" + out.name + "' has no producer");
    }
    rename_reads(g, out.name, inner);
    g->nodes.push_back(cast_node(inner, out.name, kOnnxFloat32));
  }
  return ok_status();
}

Status pass_to_half(Graph* g, DType half) {
  if (!dtype_is_half(half)) return internal_error("pass_to_half: " + std::string(dtype_name(half)) + " is not a 2-byte float");
  const onnx_dtype_code code = onnx_code_of_half(half);
  // Resize's roi and scales (at opset 10 its input 1) and Upsample's scales are float32 by the ONNX
  // spec: they stay.
  std::set<std::string> keep;
  for (const auto& n : g->nodes)
    if ((n.op_type == "Resize" || n.op_type == "Upsample") && n.domain.empty())
      for (std::size_t k = 1; k < 3 && k < n.inputs.size(); ++k) keep.insert(n.inputs[k]);
  // As onnxruntime.transformers.float16 converts a constant to float16: a finite value past float16's
  // range becomes +-65504 (a mask's float32 lowest stays finite, so a row whose keys are all masked
  // is not NaN), and a non-zero one below its smallest subnormal becomes +-5.96e-8 (a tiny weight
  // does not vanish). 0, infinities and NaN as they are; bfloat16 has float32's range.
  auto convert = [half](double v) {
    if (half == DType::kFloat16 && std::isfinite(v)) {
      constexpr double kMaxFinite = 65504.0, kMinPositive = 5.96e-08;
      if (std::fabs(v) > kMaxFinite) v = std::copysign(kMaxFinite, v);
      if (v != 0 && std::fabs(v) < kMinPositive) v = std::copysign(kMinPositive, v);
    }
    return double_to_half_bits(half, v);
  };
  auto to_half = [half, &convert](const Tensor& t) {
    Tensor h(half, t.shape());
    const float* src = t.data<float>();
    uint16_t* dst = h.data<uint16_t>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) dst[i] = convert(src[i]);
    return h;
  };
  for (auto& [name, t] : g->initializers)
    if (t.dtype() == DType::kFloat32 && !keep.count(name)) t = to_half(t);
  for (auto& n : g->nodes) {
    if (!n.domain.empty()) continue;
    if (n.op_type == "Cast") {
      if (Attribute* to = n.attrs.count("to") ? &n.attrs["to"] : nullptr; to && to->i == kOnnxFloat32) to->i = code;
    } else if (n.op_type == "EyeLike") {
      if (auto it = n.attrs.find("dtype"); it != n.attrs.end() && it->second.i == kOnnxFloat32) it->second.i = code;
    } else if (n.op_type == "ConstantOfShape") {
      Attribute& v = n.attrs["value"];
      if (v.type != Attribute::Type::kTensor) {  // absent: float32 zero
        v.type = Attribute::Type::kTensor;
        v.t = Tensor(half, {1});
        v.t.data<uint16_t>()[0] = 0;
      } else if (v.t.dtype() == DType::kFloat32) {
        v.t = to_half(v.t);
      }
    } else if (n.op_type == "Constant") {
      if (auto it = n.attrs.find("value"); it != n.attrs.end() && it->second.t.dtype() == DType::kFloat32) {
        it->second.t = to_half(it->second.t);
      } else if (auto f = n.attrs.find("value_float"); f != n.attrs.end()) {
        Attribute a;
        a.type = Attribute::Type::kTensor;
        a.t = Tensor(half, {});
        a.t.data<uint16_t>()[0] = convert(f->second.f);
        n.attrs.erase(f);
        n.attrs["value"] = a;
      } else if (auto fs = n.attrs.find("value_floats"); fs != n.attrs.end()) {
        Attribute a;
        a.type = Attribute::Type::kTensor;
        a.t = Tensor(half, {static_cast<int64_t>(fs->second.floats.size())});
        for (std::size_t i = 0; i < fs->second.floats.size(); ++i)
          a.t.data<uint16_t>()[i] = convert(fs->second.floats[i]);
        n.attrs.erase(fs);
        n.attrs["value"] = a;
      }
    }
  }
  // Inputs and outputs become float16 here; pass_float32_boundary then makes the engine's
  // boundary float32 again with a Cast at each.
  for (auto& v : g->inputs)
    if (v.dtype == DType::kFloat32) v.dtype = half;
  for (auto& v : g->outputs)
    if (v.dtype == DType::kFloat32) v.dtype = half;
  return pass_float32_boundary(g);
}

Status graph_optimize(Graph* g, PassStats* stats, int64_t conv_block, bool fuse_attention) {
  SS_RETURN_IF_ERROR(pass_fold_constants(g, stats));
  // Again: a W that folding just made an initializer shows a 1-D convolution's rank now.
  SS_RETURN_IF_ERROR(pass_spatial_1d_as_2d(g, stats));
  SS_RETURN_IF_ERROR(pass_fold_batchnorm_into_conv(g, stats));
  SS_RETURN_IF_ERROR(pass_fuse_gelu(g, stats));
  SS_RETURN_IF_ERROR(pass_fuse_gemm_activation(g, stats));
  SS_RETURN_IF_ERROR(pass_fuse_conv_residual_activation(g, stats));
  if (fuse_attention) SS_RETURN_IF_ERROR(pass_fuse_attention(g, stats));
  SS_RETURN_IF_ERROR(pass_fuse_add_layer_norm(g, stats));
  SS_RETURN_IF_ERROR(pass_remove_dead_nodes(g, stats));
  SS_RETURN_IF_ERROR(pass_blocked_conv_layout(g, conv_block, stats));
  return check_still_sorted(*g);
}

Status pass_nhwc_convs(Graph* g, PassStats* stats) {
  FreshNames fresh(*g);
  auto transpose = [&](const std::string& from, const std::string& to, std::vector<int64_t> perm) {
    Node t;
    t.name = fresh("shardscore_" + to + "_transpose");
    t.op_type = "Transpose";
    t.opset = 13;
    t.inputs = {from};
    t.outputs = {to};
    Attribute a;
    a.type = Attribute::Type::kInts;
    a.ints = std::move(perm);
    t.attrs["perm"] = a;
    return t;
  };
  auto eligible = [&](const Node& n) {
    if (!((n.op_type == "Conv" && n.domain.empty()) || (n.op_type == "FusedConv" && n.domain == "shardscore"))) return false;
    if (n.attr("dst_layout") || n.attr("layout") || n.attr_int("group", 1) != 1) return false;
    if (const Attribute* ap = n.attr("auto_pad"); ap && !ap->s.empty() && ap->s != "NOTSET") return false;
    if (const Attribute* pads = n.attr("pads")) {
      if (pads->ints.size() != 4 || pads->ints[0] != pads->ints[2] || pads->ints[1] != pads->ints[3]) return false;
    }
    if (n.inputs.size() < 2) return false;
    auto w = g->initializers.find(n.inputs[1]);
    if (w == g->initializers.end() || w->second.rank() != 4 || !dtype_is_float(w->second.dtype())) return false;
    if (n.inputs.size() > 2 && !n.inputs[2].empty() && !g->initializers.count(n.inputs[2])) return false;
    // An image stem (3 channels) stays NCHW: tensor cores want channels in multiples of 8, and
    // its input comes from NCHW preprocessing anyway.
    return w->second.dim(1) >= 8;
  };
  std::map<std::string, std::string> nhwc_of;  // an NCHW value -> its NHWC twin
  std::vector<Node> out;
  int converted = 0;
  for (Node& n : g->nodes) {
    if (!eligible(n)) {
      out.push_back(std::move(n));
      continue;
    }
    // A residual must have the output's shape; the CUDA function refuses a broadcast one, naming
    // the node (after a convolution, exporters write same-shape residuals).
    auto nhwc_input = [&](const std::string& v) {
      auto it = nhwc_of.find(v);
      if (it != nhwc_of.end()) return it->second;
      const std::string t = fresh(v + "::nhwc");
      out.push_back(transpose(v, t, {0, 2, 3, 1}));
      nhwc_of[v] = t;
      return t;
    };
    const Tensor& w = g->initializers.at(n.inputs[1]);
    const std::string wname = fresh(n.inputs[1] + "::mkkc");
    {
      // [M, C, kH, kW] -> [M, kH, kW, C], element by element (any float type: bytes).
      const int64_t m = w.dim(0), c = w.dim(1), kh = w.dim(2), kw = w.dim(3);
      Tensor t(w.dtype(), {m, kh, kw, c});
      const std::size_t es = dtype_size(w.dtype());
      const auto* src = static_cast<const std::byte*>(w.raw());
      auto* dst = static_cast<std::byte*>(t.raw());
      for (int64_t a = 0; a < m; ++a)
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j)
            for (int64_t ch = 0; ch < c; ++ch)
              std::memcpy(dst + (((a * kh + i) * kw + j) * c + ch) * es, src + (((a * c + ch) * kh + i) * kw + j) * es, es);
      g->initializers.emplace(wname, std::move(t));
    }
    n.inputs[0] = nhwc_input(n.inputs[0]);
    n.inputs[1] = wname;
    if (n.inputs.size() > 3 && !n.inputs[3].empty()) n.inputs[3] = nhwc_input(n.inputs[3]);
    if (n.op_type == "Conv") {
      n.op_type = "FusedConv";
      n.domain = "shardscore";
      n.opset = 1;
    }
    Attribute layout;
    layout.type = Attribute::Type::kString;
    layout.s = "NHWC";
    n.attrs["layout"] = layout;
    const std::string y = n.outputs[0];
    const std::string y_nhwc = fresh(y + "::nhwc");
    n.outputs[0] = y_nhwc;
    nhwc_of[y] = y_nhwc;
    out.push_back(std::move(n));
    out.push_back(transpose(y_nhwc, y, {0, 3, 1, 2}));  // for other readers; dropped if none
    ++converted;
  }
  g->nodes = std::move(out);
  if (stats) stats->nhwc_convs += converted;
  return converted ? pass_remove_dead_nodes(g, stats) : ok_status();
}

Status pass_raw_inputs(Graph* g, const std::vector<RawInput>& raw) {
  // Checked first, for every input: on an error the graph is left as it was.
  for (const RawInput& r : raw) {
    auto it = std::find_if(g->inputs.begin(), g->inputs.end(), [&](const ValueInfo& v) { return v.name == r.name; });
    if (it == g->inputs.end()) return invalid_argument("raw input '" + r.name + "' is not an input of the model");
    if (it->dtype != DType::kFloat32) {
      return invalid_argument("raw input '" + r.name + "' is " + std::string(dtype_name(it->dtype)) + ", not float32");
    }
    if (r.stored != DType::kUInt8 && r.stored != DType::kInt8 && r.stored != DType::kUInt16 && r.stored != DType::kInt16) {
      return invalid_argument("raw input '" + r.name + "' stored as " + std::string(dtype_name(r.stored)) +
                              ": only 8- and 16-bit integers are converted in the model");
    }
    const int64_t rank = static_cast<int64_t>(it->dims.size());
    if (r.nhwc && rank < 3) return invalid_argument("raw input '" + r.name + "': nhwc needs rank >= 3");
    if (r.mean.size() != r.std.size()) return invalid_argument("raw input '" + r.name + "': mean and std differ in length");
    if (!r.mean.empty()) {
      if (rank < 2 || (it->dims[1] >= 0 && it->dims[1] != static_cast<int64_t>(r.mean.size()))) {
        return invalid_argument("raw input '" + r.name + "': " + std::to_string(r.mean.size()) +
                                " mean / std values for dimension 1 of " + shape_to_string(it->dims));
      }
    }
    for (auto& out : g->outputs)
      if (out.name == r.name) return unimplemented("raw input '" + r.name + "' is also a model output");
  }
  FreshNames fresh(*g);
  std::vector<Node> head;
  std::set<std::string> folded_casts;  // output names of the boundary Casts taken into a RawInput
  for (const RawInput& r : raw) {
    auto it = std::find_if(g->inputs.begin(), g->inputs.end(), [&](const ValueInfo& v) { return v.name == r.name; });
    Node n;
    n.name = "shardscore_raw_" + r.name;
    n.op_type = "RawInput";
    n.domain = "shardscore";
    n.opset = 1;
    n.inputs = {r.name};
    auto attr_floats = [&](const char* key, const std::vector<float>& v) {
      Attribute a;
      a.type = Attribute::Type::kFloats;
      a.floats = v;
      n.attrs[key] = a;
    };
    n.attrs["nhwc"] = int_attr(r.nhwc ? 1 : 0);
    Attribute scale;
    scale.type = Attribute::Type::kFloat;
    scale.f = r.scale;
    n.attrs["scale"] = scale;
    if (!r.mean.empty()) {
      attr_floats("mean", r.mean);
      attr_floats("std", r.std);
    }
    // Under --precision fp16 / bf16 the input's only reader is pass_float32_boundary's Cast to the
    // half type: the RawInput rounds to it itself (the same single rounding of the same float32).
    std::vector<Node*> readers;
    for (auto& node : g->nodes)
      if (std::find(node.inputs.begin(), node.inputs.end(), r.name) != node.inputs.end()) readers.push_back(&node);
    const Node* cast = readers.size() == 1 && readers[0]->domain.empty() && readers[0]->op_type == "Cast" &&
                               readers[0]->inputs.size() == 1 && readers[0]->outputs.size() == 1
                           ? readers[0]
                           : nullptr;
    const int64_t cast_to = cast ? cast->attr_int("to", 0) : 0;
    if (cast_to == kOnnxFloat16 || cast_to == kOnnxBFloat16) {
      n.attrs["to"] = int_attr(cast_to);
      n.outputs = {cast->outputs[0]};
      folded_casts.insert(cast->outputs[0]);
    } else {
      // Every reader of the input now reads the converted value.
      n.attrs["to"] = int_attr(kOnnxFloat32);
      n.outputs = {fresh(r.name + "::from_raw")};
      rename_reads(g, r.name, n.outputs[0]);
    }
    head.push_back(std::move(n));
    // The input as fed.
    it->dtype = r.stored;
    if (r.nhwc) {
      std::rotate(it->dims.begin() + 1, it->dims.begin() + 2, it->dims.end());
      if (it->dim_params.size() == it->dims.size()) std::rotate(it->dim_params.begin() + 1, it->dim_params.begin() + 2, it->dim_params.end());
    }
  }
  std::erase_if(g->nodes, [&](const Node& node) {
    return node.op_type == "Cast" && node.outputs.size() == 1 && folded_casts.count(node.outputs[0]) > 0;
  });
  g->nodes.insert(g->nodes.begin(), std::make_move_iterator(head.begin()), std::make_move_iterator(head.end()));
  return ok_status();
}

Status pass_constant_integer_weights(Graph* g, PassStats* stats) {
  for (auto& n : g->nodes) {
    if (!n.domain.empty() || (n.op_type != "MatMulInteger" && n.op_type != "ConvInteger") || n.inputs.size() < 2 ||
        n.attr(kConstantWeightAttr)) {
      continue;
    }
    const bool zp_constant = n.inputs.size() < 4 || n.inputs[3].empty() || initializer(*g, n.inputs[3]);
    if (!initializer(*g, n.inputs[1]) || !zp_constant) continue;
    n.attrs[kConstantWeightAttr] = int_attr(1);
    ++stats->constant_integer_weights;
  }
  return ok_status();
}

Status pass_constant_matmul_weights(Graph* g, PassStats* stats) {
  for (auto& n : g->nodes) {
    if (!n.domain.empty() || n.op_type != "MatMul" || n.inputs.size() != 2) continue;
    const Tensor* w = initializer(*g, n.inputs[1]);
    if (!w || w->rank() != 2 || w->dtype() != DType::kFloat32) continue;
    Node fused;  // the same inputs and outputs, none of the MatMul's attributes
    fused.name = n.name + "/fused";
    fused.domain = "shardscore";
    fused.op_type = "FusedGemm";
    fused.opset = 1;
    fused.inputs = std::move(n.inputs);
    fused.outputs = std::move(n.outputs);
    n = std::move(fused);
    ++stats->fused_gemms;
  }
  return ok_status();
}

Status pass_recurrent_joint_weights(Graph* g, PassStats* stats) {
  FreshNames fresh(*g);
  for (auto& n : g->nodes) {
    if (!n.domain.empty() || (n.op_type != "LSTM" && n.op_type != "RNN" && n.op_type != "GRU") || n.inputs.size() < 3 ||
        n.inputs.size() > kRecurrentJointInput || n.attr(kRecurrentJointAttr) || n.attr(kRecurrentConstAttr)) {
      continue;
    }
    const Tensor* w = initializer(*g, n.inputs[1]);
    const Tensor* r = initializer(*g, n.inputs[2]);
    if (!w || !r || w->dtype() != DType::kFloat32 || r->dtype() != DType::kFloat32 || w->rank() != 3 || r->rank() != 3 ||
        w->dim(0) != r->dim(0) || w->dim(1) != r->dim(1)) {
      continue;  // the plan names what is wrong with the shapes
    }
    const int64_t dirs = w->dim(0), gh = w->dim(1), n_in = w->dim(2), hid = r->dim(2), kx = n_in + hid;
    if (gh == 0 || kx == 0 || n.outputs.empty()) continue;  // nothing to multiply (hidden_size 0)
    if (n.op_type == "GRU") {  // its products stay apart: the weights only marked constant
      n.attrs[kRecurrentConstAttr] = int_attr(1);
      ++stats->joint_recurrent;
      continue;
    }
    Tensor joint(DType::kFloat32, {dirs, gh, kx});
    for (int64_t row = 0; row < dirs * gh; ++row) {
      std::copy(w->data<float>() + row * n_in, w->data<float>() + (row + 1) * n_in, joint.data<float>() + row * kx);
      std::copy(r->data<float>() + row * hid, r->data<float>() + (row + 1) * hid, joint.data<float>() + row * kx + n_in);
    }
    const std::string name = fresh((n.name.empty() ? n.outputs.front() : n.name) + "/joint_WR");  // outputs: not empty (above)
    g->initializers.emplace(name, std::move(joint));
    n.inputs.resize(kRecurrentJointInput + 1);
    n.inputs[kRecurrentJointInput] = name;
    n.attrs[kRecurrentJointAttr] = int_attr(1);
    ++stats->joint_recurrent;
  }
  return ok_status();
}

}  // namespace shardscore
