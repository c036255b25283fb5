#include "common/status.h"

#include <gtest/gtest.h>

namespace shardscore {
namespace {

TEST(Status, ExitCodesFollowTheDocumentedContract) {
  EXPECT_EQ(exit_code_for(ok_status()), 0);
  EXPECT_EQ(exit_code_for(invalid_argument("x")), 2);
  EXPECT_EQ(exit_code_for(not_found("x")), 2);
  EXPECT_EQ(exit_code_for(data_loss("x")), 2);
  EXPECT_EQ(exit_code_for(unimplemented("x")), 2);
  EXPECT_EQ(exit_code_for(already_exists("x")), 2);
  EXPECT_EQ(exit_code_for(unavailable("x")), 1);
  EXPECT_EQ(exit_code_for(internal_error("x")), 1);
}

StatusOr<int> half(int v) {
  if (v % 2) return invalid_argument("odd: " + std::to_string(v));
  return v / 2;
}

Status quarter(int v, int* out) {
  SS_ASSIGN_OR_RETURN(int h, half(v));
  SS_ASSIGN_OR_RETURN(*out, half(h));
  return ok_status();
}

TEST(Status, MacrosPropagateTheFirstError) {
  int out = 0;
  EXPECT_TRUE(quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status s = quarter(6, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "odd: 3");
  EXPECT_EQ(s.with_context("shard 4: ").message(), "shard 4: odd: 3");
  EXPECT_TRUE(ok_status().with_context("x").message().empty());
}

}  // namespace
}  // namespace shardscore
