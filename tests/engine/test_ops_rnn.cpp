// Op tests of RNN, GRU and LSTM (src/engine/op_plans_rnn.h, src/engine/cpu/rnn.cpp,
// src/engine/cuda/rnn.cpp) against the ONNX equations written out here in double, step by step
// over plain index loops. The fixture and its helpers are in op_test.h.
#include <cstring>

#include "engine/op_plans_rnn.h"
#include "engine/op_test.h"

namespace shardscore {
namespace {
using namespace shardscore::op_test;

// One case: the op, sizes, the attributes as the reference reads them, and what the node gets.
struct RnnCase {
  std::string op;  // "RNN", "GRU", "LSTM"
  int64_t seq = 3, batch = 2, input = 3, hidden = 4;
  std::string direction = "forward";
  bool batch_first = false;
  std::vector<std::string> acts;  // per direction, as the node gets them; empty: the defaults
  double clip = 0;
  bool linear_before_reset = false, input_forget = false;
  bool bias = true, initial = false, peepholes = false;
  std::vector<int32_t> lens;  // empty: sequence_lens omitted
  bool joint = false;         // the CPU graph pass's [W R] as input 8 (LSTM, RNN), its constant-weights mark (GRU)
};

int64_t gates_of(const std::string& op) { return op == "LSTM" ? 4 : op == "GRU" ? 3 : 1; }

double act(const std::string& a, double v, double clip) {
  if (clip > 0) v = std::min(std::max(v, -clip), clip);
  if (a == "Sigmoid") return 1 / (1 + std::exp(-v));
  if (a == "Tanh") return std::tanh(v);
  return v < 0 ? 0 : v;  // Relu
}

struct RnnInputs {
  std::vector<double> x, w, r, b, h0, c0, p;
};

struct RnnRef {
  std::vector<double> y, yh, yc;
};

// The spec's equations, per direction, batch row and step.
RnnRef rnn_ref(const RnnCase& c, const RnnInputs& in) {
  const int64_t dirs = c.direction == "bidirectional" ? 2 : 1, g = gates_of(c.op), hid = c.hidden, gh = g * hid;
  const int64_t per = c.op == "LSTM" ? 3 : c.op == "GRU" ? 2 : 1;
  RnnRef out;
  out.y.assign(static_cast<std::size_t>(c.seq * dirs * c.batch * hid), 0.0);
  out.yh.assign(static_cast<std::size_t>(dirs * c.batch * hid), 0.0);
  out.yc = out.yh;
  auto xat = [&](int64_t t, int64_t b, int64_t k) {
    return in.x[static_cast<std::size_t>(((c.batch_first ? b * c.seq + t : t * c.batch + b)) * c.input + k)];
  };
  auto yidx = [&](int64_t t, int64_t d, int64_t b, int64_t j) {
    return static_cast<std::size_t>((c.batch_first ? (b * c.seq + t) * dirs + d : (t * dirs + d) * c.batch + b) * hid + j);
  };
  auto sidx = [&](int64_t d, int64_t b, int64_t j) {
    return static_cast<std::size_t>((c.batch_first ? b * dirs + d : d * c.batch + b) * hid + j);
  };
  for (int64_t d = 0; d < dirs; ++d) {
    std::vector<std::string> a;
    for (int64_t k = 0; k < per; ++k) {
      a.push_back(!c.acts.empty() ? c.acts[static_cast<std::size_t>(d * per + k)]
                  : c.op == "RNN"  ? "Tanh"
                  : k == 0         ? "Sigmoid"
                                   : "Tanh");
    }
    const bool back = c.direction == "reverse" || d == 1;
    for (int64_t b = 0; b < c.batch; ++b) {
      const int64_t len = c.lens.empty() ? c.seq : c.lens[static_cast<std::size_t>(b)];
      std::vector<double> h(static_cast<std::size_t>(hid), 0.0), cs = h;
      if (c.initial) {
        for (int64_t j = 0; j < hid; ++j) h[j] = in.h0[sidx(d, b, j)];
        if (c.op == "LSTM")
          for (int64_t j = 0; j < hid; ++j) cs[j] = in.c0[sidx(d, b, j)];
      }
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = back ? len - 1 - s : s;
        // xw[k] = Xt W_k + Wb_k, hr[k] = H R_k + Rb_k for every gate row k < gh.
        std::vector<double> xw(static_cast<std::size_t>(gh)), hr(static_cast<std::size_t>(gh));
        for (int64_t k = 0; k < gh; ++k) {
          double sx = c.bias ? in.b[static_cast<std::size_t>(d * 2 * gh + k)] : 0, sh = c.bias ? in.b[static_cast<std::size_t>(d * 2 * gh + gh + k)] : 0;
          for (int64_t q = 0; q < c.input; ++q) sx += xat(t, b, q) * in.w[static_cast<std::size_t>((d * gh + k) * c.input + q)];
          for (int64_t q = 0; q < hid; ++q) sh += h[q] * in.r[static_cast<std::size_t>((d * gh + k) * hid + q)];
          xw[k] = sx;
          hr[k] = sh;
        }
        std::vector<double> hn(static_cast<std::size_t>(hid));
        if (c.op == "RNN") {
          for (int64_t j = 0; j < hid; ++j) hn[j] = act(a[0], xw[j] + hr[j], c.clip);
        } else if (c.op == "GRU") {
          std::vector<double> z(static_cast<std::size_t>(hid)), rg(static_cast<std::size_t>(hid));
          for (int64_t j = 0; j < hid; ++j) {
            z[j] = act(a[0], xw[j] + hr[j], c.clip);
            rg[j] = act(a[0], xw[hid + j] + hr[hid + j], c.clip);
          }
          for (int64_t j = 0; j < hid; ++j) {
            double cand;
            if (c.linear_before_reset) {
              cand = act(a[1], xw[2 * hid + j] + rg[j] * hr[2 * hid + j], c.clip);
            } else {
              double s2 = c.bias ? in.b[static_cast<std::size_t>(d * 2 * gh + gh + 2 * hid + j)] : 0;  // Rbh
              for (int64_t q = 0; q < hid; ++q) s2 += rg[q] * h[q] * in.r[static_cast<std::size_t>((d * gh + 2 * hid + j) * hid + q)];
              cand = act(a[1], xw[2 * hid + j] + s2, c.clip);
            }
            hn[j] = (1 - z[j]) * cand + z[j] * h[j];
          }
        } else {
          for (int64_t j = 0; j < hid; ++j) {
            auto pe = [&](int64_t k) { return c.peepholes ? in.p[static_cast<std::size_t>(d * 3 * hid + k * hid + j)] : 0.0; };
            const double i = act(a[0], xw[j] + hr[j] + pe(0) * cs[j], c.clip);
            const double f = c.input_forget ? 1 - i : act(a[0], xw[2 * hid + j] + hr[2 * hid + j] + pe(2) * cs[j], c.clip);
            const double cc = act(a[1], xw[3 * hid + j] + hr[3 * hid + j], c.clip);
            cs[j] = f * cs[j] + i * cc;
            const double o = act(a[0], xw[hid + j] + hr[hid + j] + pe(1) * cs[j], c.clip);
            hn[j] = o * act(a[2], cs[j], 0.0);  // clip bounds the gates, not C before h (ONNX Runtime)
          }
        }
        h = hn;
        for (int64_t j = 0; j < hid; ++j) out.y[yidx(t, d, b, j)] = h[j];
      }
      for (int64_t j = 0; j < hid; ++j) {
        out.yh[sidx(d, b, j)] = len == 0 ? 0.0 : h[j];
        out.yc[sidx(d, b, j)] = len == 0 ? 0.0 : cs[j];
      }
    }
  }
  return out;
}

template <typename T>
std::vector<T> cast_all(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// [W R] as pass_recurrent_joint_weights makes it: each row of W followed by the same row of R.
Tensor joint_of(const Tensor& w, const Tensor& r) {
  const int64_t rows = w.dim(0) * w.dim(1), n_in = w.dim(2), hid = r.dim(2);
  std::vector<float> j;
  for (int64_t row = 0; row < rows; ++row) {
    j.insert(j.end(), w.data<float>() + row * n_in, w.data<float>() + (row + 1) * n_in);
    j.insert(j.end(), r.data<float>() + row * hid, r.data<float>() + (row + 1) * hid);
  }
  return make<float>({w.dim(0), w.dim(1), n_in + hid}, j);
}

// Runs case c with inputs in T (float or double) against rnn_ref on the same values.
template <typename T>
void check_rnn(const Backend& backend, const RnnCase& c, std::mt19937& rng, double tol) {
  SCOPED_TRACE(c.op + " " + c.direction + (c.batch_first ? " layout 1" : " layout 0") + (c.joint ? " joint [W R]" : ""));
  const int64_t dirs = c.direction == "bidirectional" ? 2 : 1, gh = gates_of(c.op) * c.hidden;
  std::uniform_real_distribution<double> u(-0.8, 0.8);
  auto draw = [&](int64_t n) {
    std::vector<double> v(static_cast<std::size_t>(n));
    for (auto& e : v) e = static_cast<double>(static_cast<T>(u(rng)));  // values T holds exactly
    return v;
  };
  RnnInputs in;
  in.x = draw(c.seq * c.batch * c.input);
  in.w = draw(dirs * gh * c.input);
  in.r = draw(dirs * gh * c.hidden);
  const Shape xs = c.batch_first ? Shape{c.batch, c.seq, c.input} : Shape{c.seq, c.batch, c.input};
  const Shape ss = c.batch_first ? Shape{c.batch, dirs, c.hidden} : Shape{dirs, c.batch, c.hidden};
  std::vector<Tensor> inputs = {make(xs, cast_all<T>(in.x)), make(Shape{dirs, gh, c.input}, cast_all<T>(in.w)),
                                make(Shape{dirs, gh, c.hidden}, cast_all<T>(in.r))};
  if (c.bias) {
    in.b = draw(dirs * 2 * gh);
    inputs.push_back(make(Shape{dirs, 2 * gh}, cast_all<T>(in.b)));
  } else {
    inputs.emplace_back();
  }
  inputs.push_back(c.lens.empty() ? Tensor() : make<int32_t>({c.batch}, c.lens));
  if (c.initial) {
    in.h0 = draw(dirs * c.batch * c.hidden);
    inputs.push_back(make(ss, cast_all<T>(in.h0)));
  } else {
    inputs.emplace_back();
  }
  if (c.op == "LSTM") {
    if (c.initial) {
      in.c0 = draw(dirs * c.batch * c.hidden);
      inputs.push_back(make(ss, cast_all<T>(in.c0)));
    } else {
      inputs.emplace_back();
    }
    if (c.peepholes) {
      in.p = draw(dirs * 3 * c.hidden);
      inputs.push_back(make(Shape{dirs, 3 * c.hidden}, cast_all<T>(in.p)));
    }
  }
  while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
  Attrs attrs = {{"hidden_size", a_int(c.hidden)}, {"direction", a_string(c.direction)}};
  if (c.joint && c.op == "GRU") {
    attrs[kRecurrentConstAttr] = a_int(1);
  } else if (c.joint) {
    inputs.resize(kRecurrentJointInput);
    inputs.push_back(joint_of(inputs[1], inputs[2]));
    attrs[kRecurrentJointAttr] = a_int(1);
  }
  if (c.batch_first) attrs["layout"] = a_int(1);
  if (!c.acts.empty()) attrs["activations"] = a_strings(c.acts);
  if (c.clip > 0) attrs["clip"] = a_float(static_cast<float>(c.clip));
  if (c.linear_before_reset) attrs["linear_before_reset"] = a_int(1);
  if (c.input_forget) attrs["input_forget"] = a_int(1);
  const int outs = c.op == "LSTM" ? 3 : 2;
  std::vector<Tensor> got;
  const Status st = run_node(backend, c.op, std::move(inputs), outs, &got, attrs, 14);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(outs));
  const RnnRef ref = rnn_ref(c, in);
  const DType dt = dtype_of<T>();
  expect_near(got[0], dt, c.batch_first ? Shape{c.batch, c.seq, dirs, c.hidden} : Shape{c.seq, dirs, c.batch, c.hidden}, ref.y, tol);
  expect_near(got[1], dt, ss, ref.yh, tol);
  if (c.op == "LSTM") expect_near(got[2], dt, ss, ref.yc, tol);
}

TEST_P(OpTest, LSTM_ForwardWithStatesAndPeepholes) {
  check_rnn<float>(*backend_, {.op = "LSTM", .seq = 4, .batch = 3, .input = 5, .hidden = 4, .initial = true, .peepholes = true},
                   rng_, kTolReduce);
  check_rnn<float>(*backend_, {.op = "LSTM", .bias = false}, rng_, kTolReduce);
}
TEST_P(OpTest, LSTM_BidirectionalLayout1SequenceLengths) {
  // Row 1 runs no step (its states are 0), row 2 one.
  check_rnn<float>(*backend_,
                   {.op = "LSTM", .seq = 3, .batch = 3, .direction = "bidirectional", .batch_first = true, .initial = true,
                    .lens = {3, 0, 1}},
                   rng_, kTolReduce);
}
TEST_P(OpTest, LSTM_ClipInputForgetActivations) {
  // clip 0.3 with initial states: |C| passes the clip, which bounds the gates only.
  check_rnn<float>(*backend_, {.op = "LSTM", .seq = 5, .clip = 0.3, .initial = true}, rng_, kTolReduce);
  check_rnn<float>(*backend_, {.op = "LSTM", .seq = 5, .clip = 0.3, .input_forget = true}, rng_, kTolReduce);
  check_rnn<float>(*backend_, {.op = "LSTM", .direction = "reverse", .acts = {"Sigmoid", "Relu", "Tanh"}}, rng_, kTolReduce);
}
TEST_P(OpTest, LSTM_RowIndependentOfBatch_Bitwise) {
  // Row 66 of a batch of 70 (layout 1; the second tile of 64 rows, padded) alone gives the same bits
  // on the CPU (each row's products are its own), with OpenBLAS's products and with oneDNN's on the
  // joint weights; on CUDA, where the products run over the batch, the same within tolerance.
  // GRU's three products too, OpenBLAS's and oneDNN's (weights marked constant).
  const int64_t seq = 5, n_in = 3, hid = 6, rows = 70, pick = 66;
  auto x = rand_f32(rows * seq * n_in);
  std::vector<float> x2(x.begin() + pick * seq * n_in, x.begin() + (pick + 1) * seq * n_in);
  for (const auto& [op, joint] : {std::pair{"LSTM", false}, std::pair{"LSTM", true}, std::pair{"GRU", false}, std::pair{"GRU", true}}) {
    SCOPED_TRACE(std::string(op) + (joint ? " oneDNN" : " OpenBLAS"));
    const bool gru = std::string(op) == "GRU";
    const int64_t gh = (gru ? 3 : 4) * hid;
    auto w = rand_f32(gh * n_in), r = rand_f32(gh * hid), b = rand_f32(2 * gh);
    Attrs at = {{"hidden_size", a_int(hid)}, {"layout", a_int(1)}};
    if (joint) at[gru ? kRecurrentConstAttr : kRecurrentJointAttr] = a_int(1);
    auto run = [&](int64_t batch, const std::vector<float>& xv) {
      std::vector<Tensor> in = {make<float>({batch, seq, n_in}, xv), make<float>({1, gh, n_in}, w), make<float>({1, gh, hid}, r),
                                make<float>({1, 2 * gh}, b)};
      if (joint && !gru) {
        in.resize(kRecurrentJointInput);
        in.push_back(joint_of(in[1], in[2]));
      }
      std::vector<Tensor> out;
      const Status st = run_node(*backend_, op, std::move(in), 2, &out, at, 14);
      EXPECT_TRUE(st.ok()) << st.message();
      return out.empty() ? Tensor() : out[0];
    };
    const Tensor all = run(rows, x), one = run(1, x2);
    ASSERT_EQ(all.shape(), (Shape{rows, seq, 1, hid}));
    ASSERT_EQ(one.shape(), (Shape{1, seq, 1, hid}));
    const int64_t per = seq * hid;
    if (products_bitwise_across_batches()) {
      EXPECT_EQ(std::memcmp(all.data<float>() + pick * per, one.data<float>(), per * sizeof(float)), 0);
    } else {
      expect_elements_near(one.data<float>(), all.data<float>() + pick * per, per, kTolReduce, "row 66 alone against the batch of 70");
    }
  }
}
TEST_P(OpTest, LSTM_RNN_JointWeightsMatchTheEquations) {
  // The joint weights (oneDNN's product on the CPU) over two row tiles, the second padded, with
  // peepholes, initial states, both directions and rows that stop early or run no step.
  std::vector<int32_t> lens(70);
  for (std::size_t i = 0; i < lens.size(); ++i) lens[i] = static_cast<int32_t>(i % 7);
  check_rnn<float>(*backend_,
                   {.op = "LSTM", .seq = 6, .batch = 70, .input = 5, .hidden = 12, .direction = "bidirectional",
                    .initial = true, .peepholes = true, .lens = lens, .joint = true},
                   rng_, kTolReduce);
  check_rnn<float>(*backend_, {.op = "LSTM", .seq = 3, .batch = 2, .input = 4, .hidden = 17, .bias = false, .joint = true}, rng_,
                   kTolReduce);
  check_rnn<float>(*backend_, {.op = "RNN", .seq = 4, .batch = 66, .direction = "reverse", .initial = true, .joint = true}, rng_,
                   kTolReduce);
  // GRU with its weights marked constant (oneDNN's products): both linear_before_reset forms.
  check_rnn<float>(*backend_,
                   {.op = "GRU", .seq = 6, .batch = 70, .input = 4, .hidden = 9, .direction = "bidirectional", .initial = true,
                    .lens = lens, .joint = true},
                   rng_, kTolReduce);
  check_rnn<float>(*backend_, {.op = "GRU", .seq = 4, .batch = 66, .linear_before_reset = true, .joint = true}, rng_, kTolReduce);
  check_rnn<float>(*backend_, {.op = "GRU", .hidden = 0, .joint = true}, rng_, kTolReduce);
  // hidden_size 0: empty outputs (oneDNN is never asked for a product of no columns, which faults).
  check_rnn<float>(*backend_, {.op = "LSTM", .hidden = 0, .direction = "bidirectional", .joint = true}, rng_, kTolReduce);
  check_rnn<float>(*backend_, {.op = "RNN", .hidden = 0, .joint = true}, rng_, kTolReduce);
}
TEST_P(OpTest, LSTM_JointWeightsRefusedUnlessThePassMadeThem) {
  // A model's node with a ninth input is refused; [W R] of the wrong shape, or (on the CPU, whose
  // function reads it) not W's and R's rows, is named.
  const int64_t hid = 2, gh = 4 * hid;
  auto x = make<float>({3, 2, 4}, rand_f32(24));
  auto w = make<float>({1, gh, 4}, rand_f32(gh * 4));
  auto r = make<float>({1, gh, hid}, rand_f32(gh * hid));
  std::vector<Tensor> in = {x, w, r, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), joint_of(w, r)};
  expect_error(StatusCode::kInvalidArgument, "LSTM takes at most 8 inputs; the node has 9", "LSTM", in,
               {{"hidden_size", a_int(hid)}}, 14);
  Attrs at = {{"hidden_size", a_int(hid)}, {kRecurrentJointAttr, a_int(1)}};
  std::vector<Tensor> other = in;
  if (GetParam() == "cpu") {  // the CPU function reads them; CUDA's computes from W and R
    other[8] = joint_of(w, make<float>({1, gh, hid}, rand_f32(gh * hid)));
    expect_error(StatusCode::kInvalidArgument, "input 8 is not [W R]", "LSTM", other, at, 14);
  }
  other[8] = make<float>({1, gh, 5}, rand_f32(gh * 5));
  expect_error(StatusCode::kInvalidArgument, "joint [W R] [1, 8, 5] must be [num_directions, gates * hidden_size, input_size + hidden_size] = [1, 8, 6]",
               "LSTM", other, at, 14);
}
TEST_P(OpTest, GRU_ResetBeforeAndAfterTheProduct) {
  // linear_before_reset 0 (the spec's default: (r . H) Rh^T) and 1 (torch's export: r . (H Rh^T + Rbh)).
  check_rnn<float>(*backend_, {.op = "GRU", .seq = 4, .batch = 3, .initial = true}, rng_, kTolReduce);
  check_rnn<float>(*backend_, {.op = "GRU", .direction = "bidirectional", .linear_before_reset = true, .initial = true},
                   rng_, kTolReduce);
  check_rnn<float>(*backend_, {.op = "GRU", .batch_first = true, .clip = 0.4, .lens = {1, 3}}, rng_, kTolReduce);
}
TEST_P(OpTest, GRU_Float64) {
  check_rnn<double>(*backend_, {.op = "GRU", .direction = "reverse", .initial = true}, rng_, 1e-12);
}
TEST_P(OpTest, RNN_DefaultsReluAndReverse) {
  check_rnn<float>(*backend_, {.op = "RNN", .seq = 4, .initial = true}, rng_, kTolReduce);
  check_rnn<float>(*backend_, {.op = "RNN", .direction = "bidirectional", .acts = {"Relu", "Tanh"}, .lens = {2, 3}}, rng_,
                   kTolReduce);
}
TEST_P(OpTest, RNN_Errors) {
  const int64_t hid = 2;
  auto x = make<float>({3, 2, 4}, rand_f32(24));
  auto w = make<float>({1, hid, 4}, rand_f32(8));
  auto r = make<float>({1, hid, hid}, rand_f32(4));
  Attrs at = {{"hidden_size", a_int(hid)}};
  expect_error(StatusCode::kInvalidArgument, "W [1, 2, 3] must be [num_directions, gates * hidden_size, input_size] = [1, 2, 4]",
               "RNN", {x, make<float>({1, hid, 3}, rand_f32(6)), r}, at, 14);
  expect_error(StatusCode::kInvalidArgument, "hidden_size 3 does not match R [1, 2, 2]", "RNN", {x, w, r},
               {{"hidden_size", a_int(3)}}, 14);
  expect_error(StatusCode::kInvalidArgument, "sequence_lens[1] = 4 is outside [0, 3]", "RNN",
               {x, w, r, Tensor(), make<int32_t>({2}, {3, 4})}, at, 14);
  expect_error(StatusCode::kInvalidArgument, "direction 'both' is not forward, reverse or bidirectional", "RNN", {x, w, r},
               {{"hidden_size", a_int(hid)}, {"direction", a_string("both")}}, 14);
  expect_error(StatusCode::kUnimplemented, "RNN activation 'Affine' is not supported", "RNN", {x, w, r},
               {{"hidden_size", a_int(hid)}, {"activations", a_strings({"Affine"})}}, 14);
  expect_error(StatusCode::kInvalidArgument, "activations has 3 names; GRU with 1 direction(s) needs 2", "GRU",
               {x, make<float>({1, 3 * hid, 4}, rand_f32(24)), make<float>({1, 3 * hid, hid}, rand_f32(12))},
               {{"hidden_size", a_int(hid)}, {"activations", a_strings({"Sigmoid", "Tanh", "Tanh"})}}, 14);
  expect_error(StatusCode::kInvalidArgument, "X [3, 8] must be 3-D [seq_length, batch, input_size]", "LSTM",
               {make<float>({3, 8}, rand_f32(24)), w, r}, at, 14);
}

}  // namespace
}  // namespace shardscore
