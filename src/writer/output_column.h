#pragma once
// One model output as the writers store it.
#include <string>

#include "common/dtype.h"
#include "engine/tensor.h"

namespace shardscore {

struct OutputColumn {
  std::string name;  // dataset / column name (the model output's name)
  DType dtype = DType::kFloat32;
  Shape row_shape;   // per-row shape; empty for one value per row
};

}  // namespace shardscore
