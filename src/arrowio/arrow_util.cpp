#include "arrowio/arrow_util.h"

#include <arrow/util/config.h>

namespace shardscore {

Status arrow_to_status(const arrow::Status& s, StatusCode code, const std::string& what) {
  std::string reason = s.message();
  // The operating system's reason, where Arrow kept it ("[errno 28] No space left on device").
  if (s.detail()) reason.append(" (").append(s.detail()->ToString()).append(")");
  // Arrow messages may span lines or carry raw bytes of a corrupt file; the error is one printable line.
  for (char& c : reason)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  while (!reason.empty() && reason.back() == ' ') reason.pop_back();
  // Arrow's own allocation refused: not what the caller expected (a corrupt file is not the cause).
  if (s.IsOutOfMemory()) code = StatusCode::kResourceExhausted;
  return Status(code, what + ": " + reason);
}

std::string arrow_build_version() { return ARROW_VERSION_STRING; }

}  // namespace shardscore
