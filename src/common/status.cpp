#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace shardscore {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kDataLoss: return "data loss";
    case StatusCode::kUnimplemented: return "unimplemented";
    case StatusCode::kAlreadyExists: return "already exists";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kInternal: return "internal";
    case StatusCode::kResourceExhausted: return "resource exhausted";
  }
  return "unknown";
}

Status Status::with_context(const std::string& prefix) const {
  if (ok()) return *this;
  return Status(code_, prefix + message_);
}

int exit_code_for(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kDataLoss:
    case StatusCode::kUnimplemented:
    case StatusCode::kAlreadyExists: return 2;
    default: return 1;
  }
}

Status open_error(int err, const std::string& what) {
  const std::string m = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR: return not_found(m);
    case EMFILE: return unavailable(m + " (ulimit -n)");
    case EACCES:
    case EPERM:
    case EISDIR:
    case ELOOP:
    case ENAMETOOLONG: return invalid_argument(m);
    default: return unavailable(m);
  }
}

}  // namespace shardscore
