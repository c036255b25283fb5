#include "common/env.h"

#include <cstdlib>
#include <cstring>

namespace shardscore {

bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, value) == 0;
}

}  // namespace shardscore
