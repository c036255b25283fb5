// device_fault_status (src/engine/cuda/cuda_util.cpp): the record a kernel leaves for a value that
// fails its op, as the error the CPU function gives for the same input. Runs without a device: the
// CPU backend is the oracle for the text. That the kernels record these fields for these inputs is
// checked by the op tests on a GPU, which expect the CPU's errors on both backends.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/cuda/cuda_op.h"
#include "engine/op_test.h"

namespace shardscore::op_test {
namespace {

// What the kernel records; `data`, the indexed data's shape that the launcher passes (FaultSink).
kernels::DeviceFault record(kernels::FaultKind kind, long long value, long long extent, int where,
                            const Shape& data = {}) {
  kernels::DeviceFault f{};
  f.tag = 1;
  f.kind = static_cast<int>(kind);
  f.value = value;
  f.extent = extent;
  f.where = where;
  f.pos1 = 1;
  f.data_rank = static_cast<int>(data.size());
  for (std::size_t k = 0; k < data.size(); ++k) f.data_dims[k] = data[k];
  return f;
}

// The CPU's error for the one-node model, less the node's prefix, is the device's text.
void expect_same_error(const kernels::DeviceFault& f, const std::string& op_type, std::vector<Tensor> inputs,
                       Attrs attrs = {}, int64_t opset = 17, const std::string& domain = "") {
  const std::unique_ptr<Backend> cpu = backend_cpu_create();
  std::vector<Tensor> outs;
  const Status want = run_node(*cpu, op_type, std::move(inputs), 1, &outs, std::move(attrs), opset, domain);
  ASSERT_FALSE(want.ok()) << op_type << " should fail on the CPU";
  const std::string prefix = "node 'test_" + op_type + "' (" + op_type + "): ";
  ASSERT_EQ(want.message().rfind(prefix, 0), 0u) << want.message();
  const Status got = device_fault_status(f);
  EXPECT_EQ(got.code(), want.code());
  EXPECT_FALSE(got.message().empty());
  EXPECT_EQ(want.message().substr(prefix.size()), got.message())
      << "CPU: " << want.message() << "\ndevice: " << got.message();
}

TEST(DeviceFault, GatherIndexReadsAsTheCpuError) {
  const Tensor data = make<float>({5, 2}, std::vector<float>(10, 1.0f));
  expect_same_error(record(kernels::FaultKind::kIndexOutOfRange, 5, 5, 0, {5, 2}), "Gather",
                    {data, make<int64_t>({2}, {0, 5})});
  expect_same_error(record(kernels::FaultKind::kIndexOutOfRange, -3, 2, 1, {5, 2}), "Gather",
                    {data, make<int64_t>({2}, {1, -3})}, {{"axis", a_int(1)}});
}

TEST(DeviceFault, GatherElementsAndScatterNdIndexReadAsTheCpuErrors) {
  const Tensor data = make<float>({3, 4}, std::vector<float>(12, 1.0f));
  expect_same_error(record(kernels::FaultKind::kIndexOutOfRange, -5, 4, 1, {3, 4}), "GatherElements",
                    {data, make<int64_t>({1, 2}, {0, -5})}, {{"axis", a_int(1)}});
  expect_same_error(record(kernels::FaultKind::kNdIndexOutOfRange, 4, 4, 1, {3, 4}), "ScatterND",
                    {data, make<int64_t>({1, 2}, {0, 4}), make<float>({1}, {1.0f})});
}

TEST(DeviceFault, OneHotEncoderCategoryReadsAsTheCpuError) {
  const Attrs a = {{"cats_int64s", a_ints({1, 2})}, {"zeros", a_int(0)}};
  auto one_hot = [&](const kernels::DeviceFault& f, Tensor x) {
    expect_same_error(f, "OneHotEncoder", {std::move(x)}, a, 1, "ai.onnx.ml");
  };
  one_hot(record(kernels::FaultKind::kUnknownCategory, 5, 2, 0), make<int64_t>({2}, {1, 5}));
  one_hot(record(kernels::FaultKind::kUnknownCategory, INT64_MIN, 2, 0), make<int64_t>({1}, {INT64_MIN}));
  one_hot(record(kernels::FaultKind::kUnknownCategory, 0, 2, 1), make<float>({1}, {NAN}));
}

TEST(DeviceFault, GatherNdIndexReadsAsTheCpuError) {
  const Tensor data = make<float>({4, 3}, std::vector<float>(12, 1.0f));
  expect_same_error(record(kernels::FaultKind::kNdIndexOutOfRange, -4, 3, 1, {4, 3}), "GatherND",
                    {data, make<int64_t>({1, 2}, {0, -4})});
  // batch_dims 1: the backend passes where = 1 and the kernel adds its k = 0.
  expect_same_error(record(kernels::FaultKind::kNdIndexOutOfRange, 5, 3, 1, {4, 3}), "GatherND",
                    {data, make<int64_t>({4, 1}, {0, 2, 5, 1})}, {{"batch_dims", a_int(1)}});
}

TEST(DeviceFault, IntegerDivAndPowReadAsTheCpuErrors) {
  expect_same_error(record(kernels::FaultKind::kDivisionByZero, 0, 0, 0), "Div",
                    {make<int32_t>({3}, {4, 5, 6}), make<int32_t>({3}, {1, 0, 2})});
  expect_same_error(record(kernels::FaultKind::kZeroToNegativePower, -2, 0, 0), "Pow",
                    {make<int64_t>({2}, {3, 0}), make<int64_t>({2}, {1, -2})});
}

TEST(DeviceFault, UnknownKindIsAnInternalError) {
  const Status st = device_fault_status(record(static_cast<kernels::FaultKind>(99), 0, 0, 0));
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_NE(st.message().find("unknown kind 99"), std::string::npos) << st.message();
}

// cuda_status: a kernel's fault on the device, which CUDA reports at a later call (perhaps a later
// node's), says so and names the switch that has the faulting node named; other errors do not, and
// out of memory stays ResourceExhausted (the engine's retry at half size). No device needed.
TEST(CudaStatus, DeviceFaultsSayHowToNameTheNode) {
  for (const cudaError_t e : {cudaErrorIllegalAddress, cudaErrorMisalignedAddress, cudaErrorLaunchFailure,
                              cudaErrorIllegalInstruction, cudaErrorAssert}) {
    const Status st = cuda_status(e, "cudaStreamSynchronize(s)");
    EXPECT_EQ(st.code(), StatusCode::kInternal);
    EXPECT_EQ(st.message().rfind(std::string("cudaStreamSynchronize(s) failed: ") + cudaGetErrorName(e), 0), 0u)
        << st.message();
    EXPECT_NE(st.message().find("SHARDSCORE_CUDA_SYNC=1"), std::string::npos) << st.message();
  }
  for (const cudaError_t e : {cudaErrorInvalidValue, cudaErrorNotPermitted, cudaErrorStreamCaptureInvalidated}) {
    const Status st = cuda_status(e, "cudaMemcpyAsync(d, s, n, k, stream)");
    EXPECT_EQ(st.code(), StatusCode::kInternal);
    EXPECT_EQ(st.message().find("SHARDSCORE_CUDA_SYNC"), std::string::npos) << st.message();
  }
  const Status oom = cuda_status(cudaErrorMemoryAllocation, "cudaMallocAsync(&p, n, stream)");
  EXPECT_EQ(oom.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(oom.message().find("SHARDSCORE_CUDA_SYNC"), std::string::npos) << oom.message();
}

}  // namespace
}  // namespace shardscore::op_test
