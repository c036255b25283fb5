// pass_row_quantized_matmuls (passes.h): which values hold the batch's rows in dimension 0, and the
// rewrite of quantize_dynamic's products into shardscore.RowQuantizedMatMul.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/graph_edit.h"
#include "engine/op_plans_nn.h"
#include "engine/passes.h"

namespace shardscore {
namespace {

// What a value is to the rows of a batch (the graph inputs' dimension 0):
//   kStatic:   the same whatever the rows (initializers, and what is computed from them and from
//              dimensions other than the batch's);
//   kRows:     dimension 0 holds the rows, in order and outermost, each slice one row's alone;
//   kRowCount: a shape (or one element of it) whose first element is the number of rows;
//   kOther:    anything else, or not known.
enum class RowKind { kStatic, kRows, kRowCount, kOther };
struct RowValue {
  RowKind kind = RowKind::kOther;
  int64_t rank = -1;  // -1: not known
  int64_t len = -1;   // a 1-D value's length, where known
};

// The values of an int64 or int32 initializer; nullopt for anything else.
std::optional<std::vector<int64_t>> int_values(const Graph& g, const std::string& name) {
  const Tensor* t = initializer(g, name);
  if (!t || (t->dtype() != DType::kInt64 && t->dtype() != DType::kInt32)) return std::nullopt;
  std::vector<int64_t> v(static_cast<std::size_t>(t->numel()));
  for (int64_t i = 0; i < t->numel(); ++i) v[i] = t->dtype() == DType::kInt64 ? t->data<int64_t>()[i] : t->data<int32_t>()[i];
  return v;
}

// A node's axes: its attribute, or its input 1 where that is an initializer (nullopt: neither).
std::optional<std::vector<int64_t>> axes_of(const Graph& g, const Node& n) {
  if (const auto* a = n.attr_ints("axes")) return *a;
  if (n.inputs.size() > 1 && !n.inputs[1].empty()) return int_values(g, n.inputs[1]);
  return std::nullopt;
}

// Every axis, of a value of `rank` dimensions, past dimension 0 (a negative one needs the rank).
bool past_rows(const std::vector<int64_t>& axes, int64_t rank) {
  for (int64_t a : axes) {
    if (a < 0 && rank < 0) return false;
    const int64_t k = a < 0 ? a + rank : a;
    if (k < 1 || (rank >= 0 && k >= rank)) return false;
  }
  return true;
}

bool one_of(const std::string& op, std::initializer_list<const char*> ops) {
  return std::any_of(ops.begin(), ops.end(), [&](const char* o) { return op == o; });
}

const std::initializer_list<const char*> kUnary = {
    "Cast",     "CastLike", "Relu",  "Erf",      "Tanh",      "Sigmoid",     "Sqrt",     "Neg",   "Abs",
    "Exp",      "Log",      "Reciprocal", "Identity", "Floor", "Ceil",      "Round",       "Sign",     "Not",
    "Softplus", "Softsign", "LeakyRelu", "Elu",   "Selu",     "Celu",      "HardSigmoid", "HardSwish", "Gelu",
    "Mish",     "Clip",     "IsNaN", "IsInf",    "Dropout",   "Sin",         "Cos",      "ThresholdedRelu", "Shrink"};
const std::initializer_list<const char*> kElementwise = {
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Where", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual",
    "And", "Or",  "Xor", "Max", "Min", "Sum", "Mean",  "PRelu", "BitShift"};
const std::initializer_list<const char*> kReduce = {
    "ReduceMean", "ReduceSum", "ReduceMax",    "ReduceMin",       "ReduceProd", "ReduceL1",
    "ReduceL2",   "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax",     "ArgMin"};

// The rank of node n's output 0 from its inputs' (-1 where not known).
int64_t output_rank(const Graph& g, const Node& n, const std::vector<RowValue>& in) {
  const std::string& op = n.op_type;
  const int64_t r0 = in.empty() ? -1 : in[0].rank;
  if (n.domain == "shardscore") {
    if (op == "Attention") return 4;
    if (op == "FusedGemm" || op == "AddLayerNormalization") return r0 >= 2 ? r0 : -1;
    return -1;
  }
  if (!n.domain.empty() && !(n.domain == "com.microsoft" && op == "Gelu")) return -1;
  if (one_of(op, kUnary) || one_of(op, {"Softmax", "LogSoftmax", "LayerNormalization", "Transpose", "Slice",
                                        "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear"})) {
    return r0;
  }
  if (one_of(op, kElementwise)) {
    int64_t r = 0;
    for (const RowValue& v : in) {
      if (v.rank < 0) return -1;
      r = std::max(r, v.rank);
    }
    return r;
  }
  if (op == "Reshape" || op == "ConstantOfShape") return in.size() > (op == "Reshape" ? 1u : 0u) ? in.back().len : -1;
  if (op == "Shape" || op == "Range") return 1;
  if (op == "Flatten" || op == "Gemm") return 2;
  if (op == "Concat") return r0;
  if (op == "Gather") return in.size() > 1 && r0 >= 0 && in[1].rank >= 0 ? r0 + in[1].rank - 1 : -1;
  if (op == "MatMul" || op == "MatMulInteger") {
    return in.size() > 1 && r0 >= 2 && in[1].rank >= 2 ? std::max(r0, in[1].rank) : -1;
  }
  if (op == "Unsqueeze" || op == "Squeeze" || one_of(op, kReduce)) {
    const auto axes = axes_of(g, n);
    if (r0 < 0) return -1;
    if (op == "Unsqueeze") return axes ? r0 + static_cast<int64_t>(axes->size()) : -1;
    if (op == "Squeeze") return axes ? r0 - static_cast<int64_t>(axes->size()) : -1;
    const bool arg = op == "ArgMax" || op == "ArgMin";
    if (n.attr_int("keepdims", 1) != 0) return r0;
    if (arg) return r0 - 1;
    return axes ? r0 - static_cast<int64_t>(axes->size()) : -1;
  }
  return -1;
}

// What output 0 of node n is to the rows (RowValue::kind), given its inputs'; `rank` is its rank.
RowKind output_kind(const Graph& g, const Node& n, const std::vector<RowValue>& in, int64_t rank) {
  const std::string& op = n.op_type;
  auto kind = [&](std::size_t i) { return i < in.size() ? in[i].kind : RowKind::kStatic; };
  auto rest_static = [&](std::size_t from) {
    for (std::size_t i = from; i < in.size(); ++i)
      if (in[i].kind != RowKind::kStatic) return false;
    return true;
  };
  const bool rows0 = kind(0) == RowKind::kRows;
  const int64_t r0 = in.empty() ? -1 : in[0].rank;
  // The rows meet other operands, numpy-broadcast: each holding rows of the output's rank (so that
  // their dimensions 0 align), or static of no higher rank.
  auto broadcast_rows = [&](std::size_t first, std::size_t last) {
    bool any = false;
    for (std::size_t i = first; i < std::min(last, in.size()); ++i) {
      if (in[i].kind == RowKind::kRows) {
        if (in[i].rank < 1 || in[i].rank != rank) return false;
        any = true;
      } else if (in[i].kind != RowKind::kStatic || in[i].rank < 0 || in[i].rank > rank) {
        return false;
      }
    }
    return any;
  };
  // An axis attribute (default `fallback`) past dimension 0 of input 0.
  auto axis_past_rows = [&](int64_t fallback) { return past_rows({n.attr_int("axis", fallback)}, r0); };
  if (n.domain == "shardscore") {
    if (op == "FusedGemm") return rows0 && r0 >= 2 && rest_static(1) ? RowKind::kRows : RowKind::kOther;
    if (op == "AddLayerNormalization") {
      return broadcast_rows(0, 2) && rest_static(2) && axis_past_rows(-1) ? RowKind::kRows : RowKind::kOther;
    }
    if (op == "Attention") {
      if (!rows0) return RowKind::kOther;
      for (const RowValue& v : in)
        if (!(v.kind == RowKind::kStatic || (v.kind == RowKind::kRows && v.rank == 4))) return RowKind::kOther;
      return RowKind::kRows;
    }
    return RowKind::kOther;
  }
  if (!n.domain.empty() && !(n.domain == "com.microsoft" && op == "Gelu")) return RowKind::kOther;
  if (one_of(op, kUnary) || op == "DynamicQuantizeLinear") return rows0 && rest_static(1) ? RowKind::kRows : RowKind::kOther;
  if (one_of(op, kElementwise)) return rank >= 1 && broadcast_rows(0, in.size()) ? RowKind::kRows : RowKind::kOther;
  if (op == "Softmax" || op == "LogSoftmax") return rows0 && axis_past_rows(n.opset < 13 ? 1 : -1) ? RowKind::kRows : RowKind::kOther;
  if (op == "LayerNormalization") return rows0 && rest_static(1) && axis_past_rows(-1) ? RowKind::kRows : RowKind::kOther;
  if (op == "Flatten") return rows0 && axis_past_rows(1) ? RowKind::kRows : RowKind::kOther;
  if (op == "QuantizeLinear" || op == "DequantizeLinear") {
    const bool per_tensor = in.size() < 2 || in[1].rank == 0;
    return rows0 && rest_static(1) && (per_tensor || axis_past_rows(1)) ? RowKind::kRows : RowKind::kOther;
  }
  if (op == "Transpose") {
    const auto* perm = n.attr_ints("perm");
    return rows0 && perm && !perm->empty() && (*perm)[0] == 0 ? RowKind::kRows : RowKind::kOther;
  }
  if (op == "Reshape") {
    if (!rows0 || in.size() < 2 || n.attr_int("allowzero", 0) != 0) return RowKind::kOther;
    if (kind(1) == RowKind::kRowCount) return RowKind::kRows;  // dimension 0: the rows' count
    const auto shape = int_values(g, n.inputs[1]);
    return shape && !shape->empty() && (*shape)[0] == 0 ? RowKind::kRows : RowKind::kOther;  // 0: kept as it is
  }
  if (op == "Unsqueeze" || op == "Squeeze") {
    const auto axes = axes_of(g, n);
    if (!axes) return RowKind::kOther;
    if (rows0 && rest_static(1)) return past_rows(*axes, op == "Unsqueeze" ? rank : r0) ? RowKind::kRows : RowKind::kOther;
    // The count as a scalar, made 1-D: still first.
    if (op == "Unsqueeze" && kind(0) == RowKind::kRowCount && r0 == 0 && *axes == std::vector<int64_t>{0}) return RowKind::kRowCount;
    return RowKind::kOther;
  }
  if (one_of(op, kReduce)) {
    if (!rows0 || !rest_static(1)) return RowKind::kOther;
    if (op == "ArgMax" || op == "ArgMin") return axis_past_rows(0) ? RowKind::kRows : RowKind::kOther;
    const auto axes = axes_of(g, n);
    return axes && !axes->empty() && past_rows(*axes, r0) ? RowKind::kRows : RowKind::kOther;  // none: every axis
  }
  if (op == "Gather") {
    if (in.size() < 2) return RowKind::kOther;
    const int64_t axis = n.attr_int("axis", 0);
    if (kind(0) == RowKind::kStatic && kind(1) == RowKind::kRows && (axis == 0 || (r0 > 0 && axis == -r0))) {
      return RowKind::kRows;  // rows of indices into a table (embeddings)
    }
    if (rows0 && kind(1) == RowKind::kStatic && in[1].rank >= 0 && axis_past_rows(0)) return RowKind::kRows;
    if (kind(0) == RowKind::kRowCount && axis == 0) {  // elements of a shape: its first, or others only
      const auto idx = int_values(g, n.inputs[1]);
      if (!idx) return RowKind::kOther;
      if (std::all_of(idx->begin(), idx->end(), [](int64_t i) { return i == 0; }) && !idx->empty()) return RowKind::kRowCount;
      if (std::none_of(idx->begin(), idx->end(), [&](int64_t i) { return i == 0 || (i < 0 && (in[0].len < 0 || i == -in[0].len)); })) {
        return RowKind::kStatic;
      }
    }
    return RowKind::kOther;
  }
  if (op == "Shape") {
    if (!rows0) return RowKind::kOther;
    const int64_t start = n.attr_int("start", 0), end = n.attr_int("end", -1);
    if (start > 0) return RowKind::kStatic;  // the other dimensions only
    return start == 0 && (!n.attr("end") || end > 0) ? RowKind::kRowCount : RowKind::kOther;
  }
  if (op == "Concat") {
    return kind(0) == RowKind::kRowCount && r0 == 1 && n.attr_int("axis", 0) == 0 && rest_static(1) ? RowKind::kRowCount
                                                                                                 : RowKind::kOther;
  }
  if (op == "MatMul" || op == "MatMulInteger") {
    if (!rows0 || r0 < 2 || in.size() < 2 || !rest_static(2)) return RowKind::kOther;
    if (kind(1) == RowKind::kStatic && in[1].rank == 2) return RowKind::kRows;
    return kind(1) == RowKind::kRows && in[1].rank == r0 && r0 >= 3 ? RowKind::kRows : RowKind::kOther;
  }
  if (op == "Gemm") return rows0 && n.attr_int("transA", 0) == 0 && rest_static(1) ? RowKind::kRows : RowKind::kOther;
  return RowKind::kOther;
}

// Every value's RowValue: graph inputs hold rows, initializers are static, then node by node.
std::map<std::string, RowValue> row_values(const Graph& g) {
  std::map<std::string, RowValue> v;
  for (const auto& [name, t] : g.initializers) v[name] = {RowKind::kStatic, t.rank(), t.rank() == 1 ? t.dim(0) : -1};
  for (const ValueInfo& in : g.inputs) {
    const bool rows = in.tensor && in.rank_known && !in.dims.empty();
    v[in.name] = {rows ? RowKind::kRows : RowKind::kOther, rows ? static_cast<int64_t>(in.dims.size()) : -1, -1};
  }
  for (const Node& n : g.nodes) {
    std::vector<RowValue> in;
    bool all_static = true;
    for (const std::string& name : n.inputs) {
      auto it = v.find(name);
      in.push_back(name.empty() ? RowValue{RowKind::kStatic, -1, -1} : it == v.end() ? RowValue{} : it->second);
      all_static = all_static && in.back().kind == RowKind::kStatic;
    }
    RowValue out;
    out.rank = output_rank(g, n, in);
    out.kind = all_static ? RowKind::kStatic : output_kind(g, n, in, out.rank);
    // The length of a 1-D shape value: a Shape's, a count made 1-D, a Concat of such, a Cast of one.
    if (n.op_type == "Shape" && !n.attr("start") && !n.attr("end") && !in.empty()) out.len = in[0].rank;
    if (n.op_type == "Unsqueeze" && !in.empty() && in[0].rank == 0 && out.rank == 1) out.len = 1;
    if ((n.op_type == "Cast" || n.op_type == "Identity") && !in.empty()) out.len = in[0].len;
    if (n.op_type == "Concat" && out.rank == 1) {
      out.len = 0;
      for (const RowValue& i : in) out.len = i.len < 0 || out.len < 0 ? -1 : out.len + i.len;
    }
    if (n.op_type == "Gather" && in.size() > 1 && in[1].rank == 1 && initializer(g, n.inputs[1])) {
      out.len = initializer(g, n.inputs[1])->numel();
    }
    for (std::size_t k = 0; k < n.outputs.size(); ++k) {
      if (n.outputs[k].empty()) continue;
      // A DynamicQuantizeLinear's scale and zero point count as static: the pass rewrites only where
      // its products read them, as the row's own (RowQuantizedMatMul). Other outputs are not followed.
      const bool quantizer_param = n.op_type == "DynamicQuantizeLinear" && n.domain.empty() && out.kind == RowKind::kRows;
      v[n.outputs[k]] = k == 0            ? out
                        : quantizer_param ? RowValue{RowKind::kStatic, 0, -1}
                                          : RowValue{all_static ? RowKind::kStatic : RowKind::kOther, -1, -1};
    }
  }
  return v;
}

// One product of quantize_dynamic's pattern, its nodes by index into g.nodes.
struct RowProduct {
  std::size_t quantize, product, cast, scales, rescale;
};

}  // namespace

Status pass_row_quantized_matmuls(Graph* g, PassStats* stats, std::string* why_not) {
  why_not->clear();
  std::vector<std::size_t> quantizers;
  for (std::size_t i = 0; i < g->nodes.size(); ++i)
    if (g->nodes[i].domain.empty() && g->nodes[i].op_type == "DynamicQuantizeLinear") quantizers.push_back(i);
  if (quantizers.empty()) return ok_status();
  // Who reads each value: (node, input position); graph outputs apart.
  std::map<std::string, std::vector<std::pair<std::size_t, std::size_t>>> readers;
  for (std::size_t i = 0; i < g->nodes.size(); ++i)
    for (std::size_t k = 0; k < g->nodes[i].inputs.size(); ++k)
      if (!g->nodes[i].inputs[k].empty()) readers[g->nodes[i].inputs[k]].push_back({i, k});
  std::set<std::string> outputs;
  for (const ValueInfo& o : g->outputs) outputs.insert(o.name);
  auto read_by = [&](const std::string& v) {
    auto it = readers.find(v);
    return it == readers.end() ? std::vector<std::pair<std::size_t, std::size_t>>{} : it->second;
  };
  // The only node reading v, at any position (nullopt: none, several, or a graph output).
  auto sole = [&](const std::string& v) -> std::optional<std::size_t> {
    const auto r = read_by(v);
    if (r.size() != 1 || outputs.count(v)) return std::nullopt;
    return r[0].first;
  };
  const auto rows = row_values(*g);
  std::vector<RowProduct> found;
  for (std::size_t qi : quantizers) {
    const Node& q = g->nodes[qi];
    const std::string who = q.describe();
    auto refuse = [&](const std::string& why) {
      *why_not = who + " " + why;
      return ok_status();
    };
    auto it = rows.find(q.inputs.empty() ? std::string() : q.inputs[0]);
    if (it == rows.end() || it->second.kind != RowKind::kRows || it->second.rank < 2) {
      return refuse("quantizes a value whose dimension 0 is not shown to be the rows of the batch (through the ops "
                    "that keep it there)");
    }
    if (q.outputs.size() < 3 || q.outputs[1].empty() || q.outputs[2].empty()) return refuse("leaves its scale or zero point unnamed");
    const std::string &y = q.outputs[0], &scale = q.outputs[1], &zero = q.outputs[2];
    if (outputs.count(y) || outputs.count(scale) || outputs.count(zero)) return refuse("gives a graph output");
    // Every reader of y: a MatMulInteger by constant weights with this zero point, each the start of
    // Cast -> Mul by (scale * w_scale).
    std::set<std::size_t> scale_muls;
    const auto y_readers = read_by(y);
    if (y_readers.empty()) return refuse("has no MatMulInteger reading it");
    for (const auto& [mi, pos] : y_readers) {
      const Node& m = g->nodes[mi];
      const bool constant_w = m.inputs.size() > 1 && initializer(*g, m.inputs[1]) && initializer(*g, m.inputs[1])->rank() == 2 &&
                              (m.inputs.size() < 4 || m.inputs[3].empty() || initializer(*g, m.inputs[3]));
      if (!m.domain.empty() || m.op_type != "MatMulInteger" || pos != 0 || m.inputs.size() < 3 || m.inputs[2] != zero ||
          m.inputs[1] == y || !constant_w) {
        return refuse("feeds " + m.describe() + ", not only MatMulIntegers by constant weights with its zero point");
      }
      const auto ci = sole(m.outputs[0]);
      const Node* c = ci ? &g->nodes[*ci] : nullptr;
      if (!c || !c->domain.empty() || c->op_type != "Cast" || c->attr_int("to", 0) != 1) {
        return refuse("feeds " + m.describe() + ", whose product is not read by one Cast to float alone");
      }
      const auto ui = sole(c->outputs[0]);
      const Node* u = ui ? &g->nodes[*ui] : nullptr;
      if (!u || !u->domain.empty() || u->op_type != "Mul" || u->inputs.size() != 2) {
        return refuse("feeds " + m.describe() + ", whose product is not rescaled by one Mul alone");
      }
      const std::string& other = u->inputs[0] == c->outputs[0] ? u->inputs[1] : u->inputs[0];
      std::optional<std::size_t> vi;
      for (std::size_t i = 0; i < g->nodes.size(); ++i)
        if (!g->nodes[i].outputs.empty() && g->nodes[i].outputs[0] == other) vi = i;
      const Node* v = vi ? &g->nodes[*vi] : nullptr;
      const std::string ws_name = !v || v->inputs.size() != 2 ? "" : v->inputs[0] == scale ? v->inputs[1] : v->inputs[0];
      const Tensor* ws = initializer(*g, ws_name);
      const int64_t n_out = initializer(*g, m.inputs[1])->dim(1);
      if (!v || !v->domain.empty() || v->op_type != "Mul" || (v->inputs[0] != scale && v->inputs[1] != scale) ||
          sole(other) != ui || !ws || ws->dtype() != DType::kFloat32 || ws->rank() > 1 ||
          (ws->numel() != 1 && ws->numel() != n_out) || u->inputs[0] == u->inputs[1]) {
        return refuse("feeds " + m.describe() + ", whose product is not rescaled by its scale times a constant "
                      "float32 scale (a scalar or one per column)");
      }
      scale_muls.insert(*vi);
      found.push_back({qi, mi, *ci, *vi, *ui});
    }
    for (const auto& reader : read_by(zero)) {
      const std::size_t ri = reader.first;  // a plain variable: clang (the fuzz build) cannot capture a binding
      if (std::none_of(y_readers.begin(), y_readers.end(), [&](const auto& r) { return r.first == ri; }) || reader.second != 2) {
        return refuse("gives its zero point to " + g->nodes[ri].describe() + ", not only to its MatMulIntegers");
      }
    }
    for (const auto& [ri, pos] : read_by(scale)) {
      if (!scale_muls.count(ri)) return refuse("gives its scale to " + g->nodes[ri].describe() + ", not only to its products' rescaling");
    }
  }
  // Every quantizer qualifies: each rescaling Mul becomes the fused node, where it was (after all
  // it reads); the rest of each pattern goes.
  std::set<std::size_t> dead;
  for (const RowProduct& p : found) {
    const Node& q = g->nodes[p.quantize];
    const Node& m = g->nodes[p.product];
    const Node& v = g->nodes[p.scales];
    Node fused;
    fused.name = m.name + "/row_quantized";
    fused.domain = "shardscore";
    fused.op_type = "RowQuantizedMatMul";
    fused.opset = 1;
    fused.inputs = {q.inputs[0], m.inputs[1], m.inputs.size() > 3 ? m.inputs[3] : std::string(),
                    v.inputs[0] == q.outputs[1] ? v.inputs[1] : v.inputs[0]};
    fused.outputs = {g->nodes[p.rescale].outputs[0]};
    fused.attrs[kConstantWeightAttr] = int_attr(1);
    g->nodes[p.rescale] = std::move(fused);
    dead.insert({p.quantize, p.product, p.cast, p.scales});
  }
  std::vector<Node> kept;
  for (std::size_t i = 0; i < g->nodes.size(); ++i)
    if (!dead.count(i)) kept.push_back(std::move(g->nodes[i]));
  g->nodes = std::move(kept);
  stats->row_quantized_matmuls += static_cast<int>(found.size());
  return ok_status();
}

}  // namespace shardscore
