// The host preprocessing chain on ResNet-50-sized uint8 NHWC images, one core, next to a plain copy
// of the same uint8 bytes (what the job does per image when preprocess.where puts the chain in the
// model): images per second per core, median of the repeats. docs/benchmarks.md ("GPU") uses it
// for the predicted host cost of feeding a GPU.
//
//   build/bench/preprocess_bench [--images 64] [--repeats 11]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "preprocess/transforms.h"

namespace {
using Clock = std::chrono::steady_clock;

template <typename F>
double median_seconds(int repeats, F f) {
  f();  // warm-up: pages touched, caches filled
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  using namespace shardscore;
  int64_t images = 64;
  int repeats = 11;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--images") images = std::atoll(argv[i + 1]);
    else if (a == "--repeats") repeats = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: preprocess_bench [--images N] [--repeats R]\n");
      return 2;
    }
  }
  const int64_t hw = 224 * 224, c = 3, n = images * hw * c;
  std::vector<uint8_t> raw(static_cast<std::size_t>(n)), copy(raw.size());
  std::mt19937 rng(1);
  for (auto& v : raw) v = static_cast<uint8_t>(rng());
  std::vector<float> out(static_cast<std::size_t>(n));
  auto spec_or = preprocess_spec_make({}, {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {}, {}, c);
  if (!spec_or.ok()) return 1;
  PreprocessSpec spec = *spec_or;
  spec.scale = 1.0f / 255;
  std::vector<int64_t> nan(c), inf(c);
  const double chain = median_seconds(repeats, [&] {
    preprocess_rows(reinterpret_cast<const std::byte*>(raw.data()), DType::kUInt8, images, c, spec, out.data(),
                    nan.data(), inf.data(), hw, true);
  });
  const double plain = median_seconds(repeats, [&] { std::memcpy(copy.data(), raw.data(), raw.size()); });
  std::printf("| side | images/s per core | GB/s written |\n|---|---:|---:|\n");
  std::printf("| host chain (uint8 NHWC -> float32 NCHW, scale, mean/std) | %.0f | %.2f |\n", images / chain,
              n * 4.0 / chain / 1e9);
  std::printf("| plain copy of the uint8 rows | %.0f | %.2f |\n", images / plain, n / plain / 1e9);
  return 0;
}
