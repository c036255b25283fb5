#include "arrowio/arrow_util.h"

#include <arrow/util/config.h>

namespace shardscore {

Status arrow_to_status(const arrow::Status& s, StatusCode code, const std::string& what) {
  std::string reason = s.message();
  // Arrow messages may span lines (nested contexts); the error is one line.
  for (char& c : reason)
    if (c == '\n' || c == '\r') c = ' ';
  return Status(code, what + ": " + reason);
}

std::string arrow_build_version() { return ARROW_VERSION_STRING; }

}  // namespace shardscore
