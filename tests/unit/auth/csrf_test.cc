#include "auth/csrf.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "common/encoding.h"
#include "unit/auth/fakes.h"

namespace gatehouse::auth {
namespace {

using testing_support::random_key;

TEST(CsrfGuardTest, TokenVerifiesForItsBinding) {
  CsrfGuard guard(random_key());
  const std::string binding = guard.new_binding();
  EXPECT_TRUE(guard.verify(binding, guard.token_for(binding)));
}

TEST(CsrfGuardTest, TokenIsDeterministicPerBindingAndKey) {
  CsrfGuard guard(random_key());
  const std::string binding = guard.new_binding();
  EXPECT_EQ(guard.token_for(binding), guard.token_for(binding));
}

TEST(CsrfGuardTest, BindingsAreRandomAndLongEnough) {
  CsrfGuard guard(random_key());
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto b = guard.new_binding();
    EXPECT_GE(b.size(), 16u);
    EXPECT_TRUE(base64url_decode(b).has_value()) << "cookie-safe base64url expected: " << b;
    seen.insert(b);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(CsrfGuardTest, TokenDoesNotVerifyForAnotherBinding) {
  CsrfGuard guard(random_key());
  const std::string a = guard.new_binding();
  const std::string b = guard.new_binding();
  EXPECT_FALSE(guard.verify(b, guard.token_for(a)));
  EXPECT_FALSE(guard.verify(a + "x", guard.token_for(a)));
}

TEST(CsrfGuardTest, TokenFromAnotherKeyDoesNotVerify) {
  CsrfGuard ours(random_key());
  CsrfGuard theirs(random_key());
  const std::string binding = ours.new_binding();
  EXPECT_FALSE(ours.verify(binding, theirs.token_for(binding)));
}

TEST(CsrfGuardTest, EmptyOrShortBindingIsRejectedEvenWithItsOwnToken) {
  CsrfGuard guard(random_key());
  for (std::string binding : {std::string(), std::string("a"), std::string(15, 'b')})
    EXPECT_FALSE(guard.verify(binding, guard.token_for(binding))) << "binding size " << binding.size();
  const std::string sixteen(16, 'b');
  EXPECT_TRUE(guard.verify(sixteen, guard.token_for(sixteen)));
}

TEST(CsrfGuardTest, TamperedTokenIsRejected) {
  CsrfGuard guard(random_key());
  const std::string binding = guard.new_binding();
  const std::string token = guard.token_for(binding);
  ASSERT_FALSE(token.empty());
  for (std::size_t i = 0; i < token.size(); ++i) {
    std::string t = token;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(guard.verify(binding, t)) << "position " << i;
  }
  EXPECT_FALSE(guard.verify(binding, ""));
  EXPECT_FALSE(guard.verify(binding, token.substr(0, token.size() - 1)));
  EXPECT_FALSE(guard.verify(binding, token + "A"));
  EXPECT_FALSE(guard.verify(binding, binding));
}

}  // namespace
}  // namespace gatehouse::auth
