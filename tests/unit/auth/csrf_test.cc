#include "auth/csrf.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "common/clock.h"
#include "common/encoding.h"
#include "unit/auth/fakes.h"

namespace gatehouse::auth {
namespace {

using testing_support::random_key;

struct CsrfGuardTest : ::testing::Test {
  FakeClock clock;
  crypto::Key key = random_key();
  CsrfGuard guard{key, clock};
};

TEST_F(CsrfGuardTest, TokenVerifiesForItsBinding) {
  const std::string binding = guard.new_binding();
  EXPECT_TRUE(guard.issued(binding));
  EXPECT_TRUE(guard.verify(binding, guard.token_for(binding)));
}

TEST_F(CsrfGuardTest, BindingsAreRandomCookieSafeAndIssued) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto b = guard.new_binding();
    EXPECT_GE(b.size(), 16u);
    EXPECT_LE(b.size(), 64u);
    EXPECT_TRUE(base64url_decode(b).has_value()) << "cookie-safe base64url expected: " << b;
    EXPECT_TRUE(guard.issued(b));
    seen.insert(b);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST_F(CsrfGuardTest, AClientInventedBindingIsNotIssuedAndGetsNoToken) {
  // What a login-CSRF attacker would plant: any value of any length and alphabet.
  const std::string invented[] = {std::string(), "a", std::string(16, 'b'), std::string(32, 'A'),
                                  std::string(46, 'A'), base64url_encode(std::string(34, '\x01')),
                                  "attacker-chosen-binding-value-1234567890", std::string(65, 'x'),
                                  "%00%00%00%00%00%00%00%00%00%00%00%00", "====", "a.b.c"};
  for (const auto& b : invented) {
    EXPECT_FALSE(guard.issued(b)) << b;
    EXPECT_EQ(guard.token_for(b), "") << b;
    EXPECT_FALSE(guard.verify(b, "")) << b;
  }
}

TEST_F(CsrfGuardTest, ABindingFromAnotherKeyIsNotIssued) {
  FakeClock other_clock;
  CsrfGuard theirs(random_key(), other_clock);
  const std::string binding = theirs.new_binding();
  EXPECT_FALSE(guard.issued(binding));
  EXPECT_FALSE(guard.verify(binding, theirs.token_for(binding)));
}

TEST_F(CsrfGuardTest, AnyChangeToAnIssuedBindingUnissuesIt) {
  const std::string binding = guard.new_binding();
  for (std::size_t i = 0; i < binding.size(); ++i) {
    std::string b = binding;
    b[i] = b[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(guard.issued(b)) << "position " << i;
  }
  EXPECT_FALSE(guard.issued(binding + "A"));
  EXPECT_FALSE(guard.issued(binding.substr(1)));
}

TEST_F(CsrfGuardTest, TokenDoesNotVerifyForAnotherBinding) {
  const std::string a = guard.new_binding();
  const std::string b = guard.new_binding();
  EXPECT_FALSE(guard.verify(b, guard.token_for(a)));
  EXPECT_FALSE(guard.verify(a + "x", guard.token_for(a)));
}

TEST_F(CsrfGuardTest, TokenExpiresAfterItsLifetime) {
  const std::string binding = guard.new_binding();
  const std::string token = guard.token_for(binding);
  clock.advance(kCsrfTokenLifetime - 1);
  EXPECT_TRUE(guard.verify(binding, token));
  clock.advance(1);
  EXPECT_FALSE(guard.verify(binding, token));
  clock.advance(365 * 86400);
  EXPECT_FALSE(guard.verify(binding, token));
}

TEST_F(CsrfGuardTest, TokenFromTheFarFutureIsRefused) {
  const std::string binding = guard.new_binding();
  clock.advance(3600);
  const std::string future = guard.token_for(binding);
  clock.advance(-3600);
  EXPECT_FALSE(guard.verify(binding, future));
  clock.advance(3600 - 30);  // a clock 30 s ahead (another instance) is fine
  EXPECT_TRUE(guard.verify(binding, future));
}

TEST_F(CsrfGuardTest, TamperedTokenIsRejected) {
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
  EXPECT_FALSE(guard.verify(binding, std::string(10000, 'A')));
}

TEST_F(CsrfGuardTest, TokenFromAnotherKeyDoesNotVerify) {
  CsrfGuard theirs(random_key(), clock);
  const std::string binding = guard.new_binding();
  EXPECT_FALSE(guard.verify(binding, theirs.token_for(binding)));
}

}  // namespace
}  // namespace gatehouse::auth
