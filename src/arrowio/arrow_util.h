#pragma once
// Shared Apache Arrow plumbing for the Parquet reader and writer: one checking macro that turns an
// arrow::Status or arrow::Result into our Status, with the code the caller chooses (a failure to
// parse an input file is DataLoss, a failure to write one is Unavailable) and a message naming
// what was being done (file, column, row group) followed by Arrow's own reason.
#include <arrow/result.h>
#include <arrow/status.h>
#include <arrow/type_fwd.h>

#include <string>

#include "common/status.h"

namespace shardscore {

// Status(code, what + ": " + Arrow's message); ResourceExhausted instead of `code` where Arrow ran out
// of memory.
Status arrow_to_status(const arrow::Status& s, StatusCode code, const std::string& what);

// The Arrow release this binary was built against ("17.0.0").
std::string arrow_build_version();

// SS_ARROW_CHECK(writer->Close(), StatusCode::kUnavailable, "closing 'part-00001.parquet'");
#define SS_ARROW_CHECK(expr, code, what)                                                  \
  do {                                                                                    \
    ::arrow::Status ss_arrow_st_ = ::arrow::internal::GenericToStatus(expr);              \
    if (!ss_arrow_st_.ok()) return ::shardscore::arrow_to_status(ss_arrow_st_, code, what); \
  } while (0)

#define SS_ARROW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr, code, what)                    \
  auto tmp = (expr);                                                                  \
  if (!tmp.ok()) return ::shardscore::arrow_to_status(tmp.status(), code, what);      \
  lhs = std::move(tmp).ValueUnsafe()

// SS_ARROW_ASSIGN_OR_RETURN(auto file, arrow::io::ReadableFile::Open(p), StatusCode::kNotFound, "opening " + p);
#define SS_ARROW_ASSIGN_OR_RETURN(lhs, expr, code, what) \
  SS_ARROW_ASSIGN_OR_RETURN_IMPL(SS_CONCAT(ss_arrow_or_, __LINE__), lhs, expr, code, what)

}  // namespace shardscore
