#pragma once
// Status and StatusOr: how every module reports failure across its boundary.
//
// The code tells the caller what to do about the failure, and maps onto the process exit code
// (see exit_code_for): fix the input (InvalidArgument, NotFound, DataLoss, Unimplemented,
// AlreadyExists -> exit 2) or report a bug / environment failure (Internal, Unavailable -> exit 1).
// The message is one line that names the culprit (file, dataset, node, key).
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace shardscore {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // bad usage, config value or input shape
  kNotFound = 2,         // a file, dataset or key that should exist does not
  kDataLoss = 3,         // a file exists but is corrupt or truncated
  kUnimplemented = 4,    // valid input this build cannot handle (an unsupported op)
  kAlreadyExists = 5,    // the output exists and overwrite is off
  kUnavailable = 6,      // environment failure that may pass on retry (I/O, MPI)
  kInternal = 7,         // a bug
  kResourceExhausted = 8,  // out of host or device memory for this batch; the engine retries smaller batches
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Prefixes context ("reading shard 3: ") to the message; no-op on OK.
  Status with_context(const std::string& prefix) const;
  // Explicitly discards a status (for cleanup paths that already report another error).
  void ignore() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status ok_status() { return Status(); }
inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status data_loss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status already_exists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }

// Process exit code for a failed status: 2 for bad usage/config/input, 1 for everything else.
int exit_code_for(const Status& status);

// A file that could not be opened, as "<what>: <errno text>": NotFound where it is not there
// (ENOENT, ENOTDIR); Unavailable where the process or the system ran short (EMFILE and ENFILE, saying
// ulimit -n for the first; ENOMEM, EIO and the like), which another run may not meet; InvalidArgument
// otherwise (a permission, a folder).
Status open_error(int err, const std::string& what);

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design
  StatusOr(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

#define SS_CONCAT_INNER(a, b) a##b
#define SS_CONCAT(a, b) SS_CONCAT_INNER(a, b)

#define SS_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    ::shardscore::Status ss_status_ = (expr);    \
    if (!ss_status_.ok()) return ss_status_;     \
  } while (0)

#define SS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

// SS_ASSIGN_OR_RETURN(auto x, f());  declares x from a StatusOr, or returns its error.
#define SS_ASSIGN_OR_RETURN(lhs, expr) SS_ASSIGN_OR_RETURN_IMPL(SS_CONCAT(ss_or_, __LINE__), lhs, expr)

}  // namespace shardscore
