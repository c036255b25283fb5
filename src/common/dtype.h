#pragma once
// Element types shared by the reader, the engine and the writer.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shardscore {

enum class DType : int {
  kUndefined = 0,
  kFloat32,
  kFloat64,
  kFloat16,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kBool,
  kBFloat16,  // bfloat16 (the CUDA backend's --precision bf16); computed in float32 like float16
};

// Size of one element in bytes (0 for kUndefined).
std::size_t dtype_size(DType t);
// Lower-case name as ONNX and numpy spell it ("float32", "int64", "bool").
std::string_view dtype_name(DType t);
bool dtype_is_float(DType t);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::kFloat32; }
template <> constexpr DType dtype_of<double>() { return DType::kFloat64; }
template <> constexpr DType dtype_of<int8_t>() { return DType::kInt8; }
template <> constexpr DType dtype_of<int16_t>() { return DType::kInt16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kInt32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::kInt64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::kUInt8; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::kUInt16; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::kUInt32; }
template <> constexpr DType dtype_of<uint64_t>() { return DType::kUInt64; }
template <> constexpr DType dtype_of<bool>() { return DType::kBool; }

// Calls f(T{}) with T the C++ type of a numeric dtype (not float16). Returns false for others.
template <typename F>
bool dtype_dispatch(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: f(float{}); return true;
    case DType::kFloat64: f(double{}); return true;
    case DType::kInt8: f(int8_t{}); return true;
    case DType::kInt16: f(int16_t{}); return true;
    case DType::kInt32: f(int32_t{}); return true;
    case DType::kInt64: f(int64_t{}); return true;
    case DType::kUInt8: f(uint8_t{}); return true;
    case DType::kUInt16: f(uint16_t{}); return true;
    case DType::kUInt32: f(uint32_t{}); return true;
    case DType::kUInt64: f(uint64_t{}); return true;
    case DType::kBool: f(bool{}); return true;
    default: return false;
  }
}

// Calls f(T{}) with T the one of Ts whose dtype is t (an op's own short list of types, so that a
// nested dispatch instantiates only the pairs it can meet). Returns false when t is none of them.
template <typename... Ts, typename F>
bool dtype_dispatch_among(DType t, F&& f) {
  return ((t == dtype_of<Ts>() ? (f(Ts{}), true) : false) || ...);
}

}  // namespace shardscore
