#include "directory/directory.h"

#include <gtest/gtest.h>

namespace gatehouse::directory {
namespace {

// The names end up in audit logs and metrics labels; they must not drift.
TEST(AuthStatusTest, EveryStatusHasItsStableName) {
  EXPECT_EQ(to_string(AuthStatus::ok), "ok");
  EXPECT_EQ(to_string(AuthStatus::bad_credentials), "bad_credentials");
  EXPECT_EQ(to_string(AuthStatus::disabled), "disabled");
  EXPECT_EQ(to_string(AuthStatus::expired), "expired");
  EXPECT_EQ(to_string(AuthStatus::must_change_password), "must_change_password");
  EXPECT_EQ(to_string(AuthStatus::locked), "locked");
}

}  // namespace
}  // namespace gatehouse::directory
