// libFuzzer target for the model loader: any bytes must give either a graph or a Status, never a
// crash, a hang or an out-of-bounds access. Built with -DSHARDSCORE_FUZZ=ON (clang), run by
// tests/fuzz/run_fuzz.sh under AddressSanitizer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/graph.h"
#include "engine/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto graph = shardscore::graph_parse_onnx(bytes, "fuzz.onnx");
  if (graph.ok()) {
    auto plan = shardscore::plan_build(graph.value());
    (void)plan.ok();
  }
  return 0;
}
