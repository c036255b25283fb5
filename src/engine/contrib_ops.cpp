#include "engine/contrib_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include "engine/cpu/float16.h"
#include "engine/graph_edit.h"

namespace shardscore {

namespace {

constexpr std::string_view kMicrosoft = "com.microsoft";
// The opset of the default-domain nodes made here: every op they use is in the table at 17
// (Unsqueeze and ReduceSum take their axes as an input there).
constexpr int64_t kOpset = 17;
constexpr int64_t kOnnxFloat32 = 1, kOnnxInt32 = 6, kOnnxInt64 = 7, kOnnxFloat16 = 10;  // Cast's `to`

const std::string& slot(const std::vector<std::string>& v, std::size_t k) {
  static const std::string none;
  return k < v.size() ? v[k] : none;
}

// One scalar (rank 0) or vector of `dt` holding `v` (converted as a float: 0, 1, a mask value).
Tensor filled(DType dt, Shape shape, double v) {
  Tensor t(dt, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (dt) {
      case DType::kFloat32: t.data<float>()[i] = static_cast<float>(v); break;
      case DType::kFloat16: t.data<uint16_t>()[i] = double_to_half(v); break;
      case DType::kBFloat16: t.data<uint16_t>()[i] = double_to_bfloat16(v); break;
      case DType::kInt32: t.data<int32_t>()[i] = static_cast<int32_t>(v); break;
      default: t.data<int64_t>()[i] = static_cast<int64_t>(v); break;  // kInt64 (the only other use)
    }
  }
  return t;
}

// The lowest finite value of a float type: where a mask sum would pass it, ONNX Runtime's has it.
double lowest_of(DType dt) {
  if (dt == DType::kFloat16) return -65504.0;
  if (dt == DType::kBFloat16) return -3.3895313892515355e38;
  return std::numeric_limits<float>::lowest();
}

class Expander {
 public:
  Expander(Graph* g, const std::map<std::string, int64_t>& ranks) : g_(g), fresh_(*g), ranks_(ranks) {
    for (const auto& n : g->nodes) {
      for (const auto& i : n.inputs)
        if (!i.empty()) read_.insert(i);
      for (std::size_t k = 0; k < n.outputs.size(); ++k)
        made_by_[n.outputs[k]] = Producer{n.op_type, n.domain, k, slot(n.inputs, 0)};
    }
    for (const auto& o : g->outputs) read_.insert(o.name);
    for (const auto& n : g->nodes) node_names_.insert(n.name);
  }

  Status run() {
    std::vector<Node> nodes = std::move(g_->nodes);
    g_->nodes.clear();
    for (Node& n : nodes) {
      if (!contrib_op_expands(n.domain, n.op_type, n.opset)) {
        out_.push_back(std::move(n));
        continue;
      }
      ++g_->expanded_contrib_ops;
      Status s = n.op_type == "BiasGelu"                  ? bias_gelu(n)
                 : n.op_type == "QuickGelu"               ? quick_gelu(n)
                 : n.op_type == "FastGelu"                ? fast_gelu(n)
                 : n.op_type == "SkipLayerNormalization"  ? skip_layer_norm(n)
                 : n.op_type == "EmbedLayerNormalization" ? embed_layer_norm(n)
                                                          : attention(n);
      if (!s.ok()) return s;
    }
    g_->nodes = std::move(out_);
    return ok_status();
  }

 private:
  struct Producer {
    std::string op, domain;
    std::size_t index = 0;
    std::string input0;
  };

  std::string where(const Node& n) const { return "model '" + g_->source + "': " + n.describe() + " (com.microsoft)"; }
  Status refuse(const Node& n, const std::string& what) const {
    return unimplemented(where(n) + " uses " + what + ", which shardscore does not run");
  }
  Status bad(const Node& n, const std::string& what) const { return invalid_argument(where(n) + ": " + what); }
  bool is_read(const std::string& v) const { return !v.empty() && read_.count(v) > 0; }

  // Appends a node made for `src` and returns its output: `out`, or a fresh name where empty.
  std::string emit(const Node& src, const std::string& op, std::vector<std::string> inputs,
                   std::map<std::string, Attribute> attrs = {}, std::string out = "", int64_t opset = kOpset,
                   const std::string& domain = "") {
    Node n;
    n.name = src.name + "/" + op;
    for (int k = 2; !node_names_.insert(n.name).second; ++k) n.name = src.name + "/" + op + "_" + std::to_string(k);
    n.op_type = op;
    n.domain = domain;
    n.opset = opset;
    n.inputs = std::move(inputs);
    n.outputs = {out.empty() ? fresh_(src.name + "/" + op + "_out") : out};
    n.attrs = std::move(attrs);
    out_.push_back(std::move(n));
    return out_.back().outputs[0];
  }
  // Names the node emitted last for what it checks: a batch that fails it names that in its error.
  void rename_last(const Node& src, const std::string& what) {
    std::string name = src.name + "/" + what;
    for (int k = 2; !node_names_.insert(name).second; ++k) name = src.name + "/" + what + "_" + std::to_string(k);
    out_.back().name = name;
  }
  std::string constant(const Node& src, const std::string& what, Tensor t) {
    std::string name = fresh_(src.name + "/" + what);
    g_->initializers.emplace(name, std::move(t));
    return name;
  }
  std::string int64s(const Node& src, const std::string& what, std::vector<int64_t> v) {
    Tensor t(DType::kInt64, {static_cast<int64_t>(v.size())});
    std::memcpy(t.raw(), v.data(), v.size() * sizeof(int64_t));
    return constant(src, what, std::move(t));
  }
  std::string unsqueeze(const Node& src, const std::string& x, std::vector<int64_t> axes) {
    return emit(src, "Unsqueeze", {x, int64s(src, "axes", std::move(axes))});
  }
  // Dimension `axis` of x's shape, an int64 scalar.
  std::string dim_of(const Node& src, const std::string& x, int64_t axis) {
    const std::string shape = emit(src, "Shape", {x});
    return emit(src, "Gather", {shape, constant(src, "axis", filled(DType::kInt64, {}, static_cast<double>(axis)))},
                {{"axis", int_attr(0)}});
  }
  // 0, 1, ..., n - 1 (int64) for an int64 scalar n.
  std::string iota(const Node& src, const std::string& n) {
    return emit(src, "Range", {constant(src, "zero", filled(DType::kInt64, {}, 0)), n,
                               constant(src, "one", filled(DType::kInt64, {}, 1))});
  }
  // The rank of value v, else -1: EmbedLayerNormalization's mask_index is [B]; Cast and Identity
  // keep their input's; else the model's (declared or inferred: `ranks`) or an initializer's.
  int64_t rank_of(const std::string& v, int depth = 0) const {
    if (auto it = made_by_.find(v); it != made_by_.end() && depth < 64) {
      const Producer& p = it->second;
      if (p.domain == kMicrosoft && p.op == "EmbedLayerNormalization" && p.index == 1) return 1;
      if (p.domain.empty() && (p.op == "Cast" || p.op == "Identity") && p.index == 0) {
        if (const int64_t r = rank_of(p.input0, depth + 1); r >= 0) return r;
      }
    }
    if (auto it = ranks_.find(v); it != ranks_.end()) return it->second;
    if (auto it = g_->initializers.find(v); it != g_->initializers.end()) return it->second.rank();
    return -1;
  }

  Status bias_gelu(const Node& n) {
    if (n.inputs.size() != 2 || n.inputs[0].empty() || n.inputs[1].empty() || n.outputs.size() != 1) {
      return bad(n, "BiasGelu takes inputs A and B and has one output");
    }
    const std::string sum = emit(n, "Add", {n.inputs[0], n.inputs[1]});
    emit(n, "Gelu", {sum}, {}, n.outputs[0], 1, std::string(kMicrosoft));
    return ok_status();
  }

  Status fast_gelu(const Node& n) {
    if (n.inputs.empty() || n.inputs.size() > 2 || n.inputs[0].empty() || n.outputs.size() != 1) {
      return bad(n, "FastGelu takes inputs X and an optional bias and has one output");
    }
    std::string x = n.inputs[0];
    if (!slot(n.inputs, 1).empty()) x = emit(n, "Add", {x, n.inputs[1]});
    emit(n, "Gelu", {x}, {{"approximate", string_attr("tanh")}}, n.outputs[0], 20);
    return ok_status();
  }

  Status quick_gelu(const Node& n) {
    if (n.inputs.size() != 1 || n.inputs[0].empty() || n.outputs.size() != 1) {
      return bad(n, "QuickGelu takes input X and has one output");
    }
    // alpha in X's type, whatever it is (CastLike; a scalar per batch)
    const std::string alpha = emit(n, "CastLike", {constant(n, "alpha", filled(DType::kFloat32, {}, n.attr_float("alpha", 1.702f))),
                                                   n.inputs[0]});
    const std::string gate = emit(n, "Sigmoid", {emit(n, "Mul", {n.inputs[0], alpha})});
    emit(n, "Mul", {n.inputs[0], gate}, {}, n.outputs[0]);
    return ok_status();
  }

  Status skip_layer_norm(const Node& n) {
    if (n.inputs.size() < 3 || n.inputs.size() > 5 || n.inputs[0].empty() || n.inputs[1].empty() ||
        n.inputs[2].empty() || n.outputs.empty() || n.outputs.size() > 4 || n.outputs[0].empty()) {
      return bad(n, "SkipLayerNormalization takes input, skip, gamma[, beta[, bias]] and has 1 to 4 outputs");
    }
    if (is_read(slot(n.outputs, 1)) || is_read(slot(n.outputs, 2))) {
      return refuse(n, "outputs mean / inv_std_var (saved for training)");
    }
    const std::string& beta = slot(n.inputs, 3);
    const std::string& bias = slot(n.inputs, 4);
    const std::string& sum_out = slot(n.outputs, 3);  // input_skip_bias_sum
    std::string sum = emit(n, "Add", {n.inputs[0], n.inputs[1]}, {}, bias.empty() ? sum_out : "");
    if (!bias.empty()) sum = emit(n, "Add", {sum, bias}, {}, sum_out);
    std::vector<std::string> ln = {sum, n.inputs[2]};
    if (!beta.empty()) ln.push_back(beta);
    emit(n, "LayerNormalization", std::move(ln),
         {{"axis", int_attr(-1)}, {"epsilon", float_attr(n.attr_float("epsilon", 1e-12f))}}, n.outputs[0]);
    return ok_status();
  }

  // `ids` as they are, through a check that fails the batch, in a node named for it, where one is
  // negative: ONNX Runtime refuses them, where Gather would take them from the end of `table`. Each
  // id minus the table's row count V picks a zero from V zeros: in range exactly for ids >= 0 (an id
  // of V or more fails in the Gather that uses it).
  std::string not_negative(const Node& n, const std::string& ids, const std::string& table, const std::string& what) {
    const std::string rows = dim_of(n, table, 0);
    const std::string zeros = emit(n, "ConstantOfShape", {unsqueeze(n, rows, {0})}, {{"value", tensor_attr(filled(DType::kInt64, {1}, 0))}});
    const std::string shifted = emit(n, "Sub", {ids, emit(n, "CastLike", {rows, ids})});
    const std::string picked = emit(n, "Gather", {zeros, shifted}, {{"axis", int_attr(0)}});
    rename_last(n, what + "_must_not_be_negative");
    return emit(n, "Add", {ids, emit(n, "CastLike", {picked, ids})});
  }

  Status embed_layer_norm(const Node& n) {
    const std::string &ids = slot(n.inputs, 0), &segment_ids = slot(n.inputs, 1), &word = slot(n.inputs, 2),
                      &position = slot(n.inputs, 3), &segment = slot(n.inputs, 4), &gamma = slot(n.inputs, 5),
                      &beta = slot(n.inputs, 6), &mask = slot(n.inputs, 7), &position_ids = slot(n.inputs, 8);
    if (n.inputs.size() > 9 || ids.empty() || word.empty() || position.empty() || gamma.empty() || beta.empty() ||
        n.outputs.empty() || n.outputs.size() > 3 || n.outputs[0].empty()) {
      return bad(n, "EmbedLayerNormalization takes input_ids, segment_ids, word_embedding, position_embedding, "
                    "segment_embedding, gamma, beta, mask, position_ids (input_ids, the two embeddings, gamma and beta "
                    "required) and has 1 to 3 outputs");
    }
    if (segment_ids.empty() != segment.empty()) {
      return bad(n, "segment_ids and segment_embedding must be given together");
    }
    const Attribute axis0 = int_attr(0);
    std::string sum_of = emit(n, "Gather", {word, not_negative(n, ids, word, "input_ids")}, {{"axis", axis0}});
    std::string positions = position_ids.empty() ? iota(n, dim_of(n, ids, 1)) : not_negative(n, position_ids, position, "position_ids");
    const std::string pos = emit(n, "Gather", {position, positions}, {{"axis", axis0}});
    const std::string& sum_out = slot(n.outputs, 2);  // embedding_sum
    sum_of = emit(n, "Add", {sum_of, pos}, {}, segment.empty() ? sum_out : "");
    if (!segment.empty()) {
      const std::string seg = emit(n, "Gather", {segment, not_negative(n, segment_ids, segment, "segment_ids")}, {{"axis", axis0}});
      sum_of = emit(n, "Add", {sum_of, seg}, {}, sum_out);
    }
    emit(n, "LayerNormalization", {sum_of, gamma, beta},
         {{"axis", int_attr(-1)}, {"epsilon", float_attr(n.attr_float("epsilon", 1e-12f))}}, n.outputs[0]);
    const std::string& mask_index = slot(n.outputs, 1);
    if (mask_index.empty()) return ok_status();
    if (!mask.empty()) {
      // ONNX Runtime counts the entries equal to 1 (not the non-zero ones, nor the first 0's position).
      const std::string ones = emit(n, "Equal", {mask, constant(n, "one_int32", filled(DType::kInt32, {}, 1))});
      const std::string counted = emit(n, "Cast", {ones}, {{"to", int_attr(kOnnxInt32)}});
      emit(n, "ReduceSum", {counted, int64s(n, "axes", {1})}, {{"keepdims", int_attr(0)}}, mask_index);
    } else {
      const std::string batch = unsqueeze(n, dim_of(n, ids, 0), {0});
      emit(n, "ConstantOfShape", {batch}, {{"value", tensor_attr(filled(DType::kInt32, {1}, 0))}}, mask_index);
    }
    return ok_status();
  }

  // The additive mask for mask_index (may be empty) and causal attention, in dt: 0 where a key is
  // kept, `filter` where mask_index masks it, float32's lowest (dt's, in float16) where it is after
  // the query (causal: ONNX Runtime's value, whatever the filter); "" when there is none. Built once
  // per (mask_index, dt, filter, causal) and read by every Attention that shares them. x: the node's
  // input [B, S, hidden], whose S is the keys' length (no past state).
  StatusOr<std::string> additive_mask(const Node& n, const std::string& mask_index, const std::string& x, DType dt,
                                      float filter, bool causal) {
    if (mask_index.empty() && !causal) return std::string();
    uint32_t filter_bits;
    std::memcpy(&filter_bits, &filter, sizeof filter);
    const std::string key = mask_index + "\n" + std::to_string(static_cast<int>(dt)) + "\n" +
                            std::to_string(filter_bits) + "\n" + (causal ? "causal" : "");
    if (auto it = masks_.find(key); it != masks_.end()) return it->second;
    const std::string zero = constant(n, "mask_zero", filled(dt, {}, 0));
    // dt's lowest at most (attention() makes dt float32 where a float16 filter would saturate).
    const std::string masked = constant(n, "mask_filter_value", filled(dt, {}, std::max<double>(filter, lowest_of(dt))));
    std::string keys_made;
    const auto keys = [&]() -> const std::string& {  // 0 .. T-1
      if (keys_made.empty()) keys_made = iota(n, dim_of(n, x, 1));
      return keys_made;
    };
    const auto i64 = [&](const std::string& what, int64_t v) { return constant(n, what, filled(DType::kInt64, {}, static_cast<double>(v))); };
    std::string m;
    if (!mask_index.empty()) {
      const int64_t rank = rank_of(mask_index);
      std::string kept;  // [B, T] or [B, S, T]
      if (rank == 1) {
        // [B]: key j of row b kept where j < end[b]; [2B]: the ends, then the starts: start[b] <= j <
        // end[b]. Told apart per batch: the values as rows of B, one or two; a zero row of starts
        // appended. Any other length fails the batch in the node named for it.
        const std::string batch = unsqueeze(n, dim_of(n, x, 0), {0});
        const std::string rows_shape = emit(n, "Concat", {int64s(n, "minus_one", {-1}), batch}, {{"axis", int_attr(0)}});
        const std::string rows = emit(n, "Reshape", {emit(n, "Cast", {mask_index}, {{"to", int_attr(kOnnxInt64)}}), rows_shape});
        rename_last(n, "mask_index_rows_of_batch");
        const Attribute zero64 = tensor_attr(filled(DType::kInt64, {1}, 0));
        const std::string row_count = emit(n, "Slice", {emit(n, "Shape", {rows}), int64s(n, "zero_1d", {0}), int64s(n, "one_1d", {1})});
        const std::string zero_rows = emit(n, "ConstantOfShape", {row_count}, {{"value", zero64}});
        // [R] + [2] broadcasts only for R = 1 or 2.
        const std::string checked = emit(n, "Add", {zero_rows, int64s(n, "two_zeros", {0, 0})});
        rename_last(n, "mask_index_must_be_[batch]_or_[2*batch]");
        const std::string check_zero = emit(n, "ReduceSum", {checked}, {{"keepdims", int_attr(0)}});
        const std::string row_shape = emit(n, "Concat", {int64s(n, "one_1d", {1}), batch}, {{"axis", int_attr(0)}});
        const std::string padded = emit(n, "Concat", {rows, emit(n, "ConstantOfShape", {row_shape}, {{"value", zero64}})},
                                        {{"axis", int_attr(0)}});
        const std::string end = emit(n, "Gather", {padded, i64("row_0", 0)}, {{"axis", int_attr(0)}});
        const std::string start = emit(n, "Add", {emit(n, "Gather", {padded, i64("row_1", 1)}, {{"axis", int_attr(0)}}), check_zero});
        kept = emit(n, "And", {emit(n, "Less", {keys(), unsqueeze(n, end, {1})}),
                               emit(n, "GreaterOrEqual", {keys(), unsqueeze(n, start, {1})})});
      } else if (rank == 2 || rank == 3) {  // raw: kept where > 0
        kept = emit(n, "Greater", {mask_index, constant(n, "zero_int32", filled(DType::kInt32, {}, 0))});
        if (rank == 2) {  // [B, 1] or [1, 1] is ONNX Runtime's dummy mask: every key kept (exact for T = 1 too)
          kept = emit(n, "Or", {kept, emit(n, "Equal", {dim_of(n, mask_index, 1), i64("one", 1)})});
        }
      } else if (rank == 4) {
        return refuse(n, "a 4-D mask_index ([batch, 1, max_sequence, max_sequence], Megatron's)");
      } else {
        return refuse(n, "mask_index '" + mask_index + "' of " +
                             (rank < 0 ? std::string("a rank neither the model nor ONNX's shape inference gives")
                                       : "rank " + std::to_string(rank)) +
                             " (shardscore builds the mask at load from its rank: 1 for lengths, 2 or 3 for a raw mask)");
      }
      m = unsqueeze(n, emit(n, "Where", {kept, zero, masked}), rank == 3 ? std::vector<int64_t>{1} : std::vector<int64_t>{1, 2});
    }
    if (causal) {  // [S, T] (S = T): key j after query i gets the lowest, over [B, 1, S, T] with a mask
      const std::string kept_causal = emit(n, "LessOrEqual", {unsqueeze(n, keys(), {0}), unsqueeze(n, keys(), {1})});
      m = emit(n, "Where", {kept_causal, m.empty() ? zero : m, constant(n, "mask_lowest", filled(dt, {}, lowest_of(dt)))});
    }
    masks_[key] = m;
    return m;
  }

  Status attention(const Node& n) {
    const std::string &x = slot(n.inputs, 0), &w_name = slot(n.inputs, 1), &bias_name = slot(n.inputs, 2),
                      &mask_index = slot(n.inputs, 3), &attention_bias = slot(n.inputs, 5);
    if (n.inputs.size() > 7 || x.empty() || w_name.empty() || n.outputs.empty() || n.outputs.size() > 2 ||
        n.outputs[0].empty()) {
      return bad(n, "Attention takes input, weights[, bias, mask_index, past, attention_bias, past_sequence_length] "
                    "and has 1 or 2 outputs");
    }
    if (!slot(n.inputs, 4).empty() || !slot(n.inputs, 6).empty() || is_read(slot(n.outputs, 1))) {
      return refuse(n, "past / present key-value state (incremental decoding)");
    }
    if (n.attr_int("do_rotary", 0) != 0) return refuse(n, "do_rotary (rotary position embedding)");
    const int64_t heads = n.attr_int("num_heads", 0);
    if (heads <= 0) return bad(n, "num_heads must be given, and positive");
    auto wit = g_->initializers.find(w_name);
    if (wit == g_->initializers.end() || wit->second.rank() != 2) {
      return refuse(n, "weights '" + w_name + "' that are not a constant matrix");
    }
    const Tensor& w = wit->second;
    const DType dt = w.dtype();
    if (dt != DType::kFloat32 && dt != DType::kFloat16 && dt != DType::kBFloat16) {
      return bad(n, "weights '" + w_name + "' are " + std::string(dtype_name(dt)) + ", not a float type");
    }
    std::vector<int64_t> sizes;
    if (const auto* q = n.attr_ints("qkv_hidden_sizes"); q && !q->empty()) {
      sizes = *q;
    } else if (w.dim(1) % 3 == 0) {
      sizes.assign(3, w.dim(1) / 3);
    }
    if (sizes.size() != 3 || sizes[0] <= 0 || sizes[1] <= 0 || sizes[2] <= 0 ||
        sizes[0] + sizes[1] + sizes[2] != w.dim(1) || sizes[0] != sizes[1] || sizes[0] % heads || sizes[2] % heads) {
      return bad(n, "weights '" + w_name + "' " + shape_to_string(w.shape()) +
                    " do not split into Q, K and V of hidden sizes that num_heads " + std::to_string(heads) +
                    " divides, Q's equal to K's (qkv_hidden_sizes, or three equal parts)");
    }
    const Tensor* b = nullptr;
    if (!bias_name.empty()) {
      auto bit = g_->initializers.find(bias_name);
      if (bit == g_->initializers.end()) return refuse(n, "bias '" + bias_name + "' that is not a constant");
      b = &bit->second;
      if (b->rank() != 1 || b->dim(0) != w.dim(1) || b->dtype() != dt) {
        return bad(n, "bias '" + bias_name + "' " + shape_to_string(b->shape()) + " " + std::string(dtype_name(b->dtype())) +
                      " does not match weights " + shape_to_string(w.shape()) + " " + std::string(dtype_name(dt)));
      }
    }
    const std::size_t es = dtype_size(dt);
    const char* part_names[3] = {"q", "k", "v"};
    std::string projected[3];
    int64_t first = 0;
    for (int p = 0; p < 3; ++p) {
      Tensor wp(dt, {w.dim(0), sizes[p]});
      for (int64_t r = 0; r < w.dim(0); ++r) {
        std::memcpy(static_cast<std::byte*>(wp.raw()) + r * sizes[p] * es,
                    static_cast<const std::byte*>(w.raw()) + (r * w.dim(1) + first) * es, sizes[p] * es);
      }
      std::string y = emit(n, "MatMul", {x, constant(n, std::string("W_") + part_names[p], std::move(wp))});
      if (b) {
        Tensor bp(dt, {sizes[p]});
        std::memcpy(bp.raw(), static_cast<const std::byte*>(b->raw()) + first * es, sizes[p] * es);
        y = emit(n, "Add", {y, constant(n, std::string("bias_") + part_names[p], std::move(bp))});
      }
      projected[p] = emit(n, "Reshape", {y, int64s(n, std::string("heads_") + part_names[p], {0, 0, heads, sizes[p] / heads})});
      first += sizes[p];
    }
    // ONNX Runtime keeps the mask in float32 for float16 too: a filter below float16's range (the
    // optimizer's -3.4e38) still absorbs the scores, so that a row with every key masked is uniform.
    // There the attention runs in float32 between Casts.
    const float filter = n.attr_float("mask_filter_value", -10000.0f);
    const bool causal = n.attr_int("unidirectional", 0) != 0;
    const bool widen = dt == DType::kFloat16 && (!mask_index.empty() || causal) && filter < lowest_of(dt);
    const DType at = widen ? DType::kFloat32 : dt;
    SS_ASSIGN_OR_RETURN(std::string mask, additive_mask(n, mask_index, x, at, filter, causal));
    if (!attention_bias.empty()) {
      const std::string bias = widen ? emit(n, "Cast", {attention_bias}, {{"to", int_attr(kOnnxFloat32)}}) : attention_bias;
      mask = mask.empty() ? bias : emit(n, "Add", {mask, bias});
    }
    if (widen)
      for (auto& p : projected) p = emit(n, "Cast", {p}, {{"to", int_attr(kOnnxFloat32)}});
    float scale = n.attr_float("scale", 0.0f);
    if (scale == 0.0f) scale = 1.0f / std::sqrt(static_cast<float>(sizes[0] / heads));
    std::vector<std::string> ins = {projected[0], projected[1], projected[2]};
    if (!mask.empty()) ins.push_back(mask);
    std::string y = emit(n, "Attention", std::move(ins), {{"scale", float_attr(scale)}, {"scale_divides", int_attr(0)}},
                         "", 1, "shardscore");
    if (widen) y = emit(n, "Cast", {y}, {{"to", int_attr(kOnnxFloat16)}});
    emit(n, "Reshape", {y, int64s(n, "hidden_v", {0, 0, sizes[2]})}, {}, n.outputs[0]);
    return ok_status();
  }

  Graph* g_;
  FreshNames fresh_;
  const std::map<std::string, int64_t>& ranks_;
  std::set<std::string> read_;
  std::map<std::string, Producer> made_by_;
  std::set<std::string> node_names_;
  std::map<std::string, std::string> masks_;
  std::vector<Node> out_;
};

}  // namespace

bool contrib_op_expands(std::string_view domain, std::string_view op_type, int64_t opset) {
  return domain == kMicrosoft && opset == 1 &&
         (op_type == "BiasGelu" || op_type == "FastGelu" || op_type == "QuickGelu" || op_type == "SkipLayerNormalization" ||
          op_type == "EmbedLayerNormalization" || op_type == "Attention");
}

Status expand_contrib_ops(Graph* g, const std::map<std::string, int64_t>& ranks) {
  bool any = false;
  for (const auto& n : g->nodes) any = any || contrib_op_expands(n.domain, n.op_type, n.opset);
  if (!any) return ok_status();
  return Expander(g, ranks).run();
}

}  // namespace shardscore
