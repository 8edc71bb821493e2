#include "auth/redirect.h"

#include <gtest/gtest.h>

#include <string>

namespace gatehouse::auth {
namespace {

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      static constexpr char digits[] = "0123456789ABCDEF";
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out.size() > 80 ? out.substr(0, 80) + "...(" + std::to_string(s.size()) + " bytes)" : out;
}

class UnsafeRedirect : public ::testing::TestWithParam<std::string> {};

TEST_P(UnsafeRedirect, FallsBackToRoot) {
  const std::string& rd = GetParam();
  EXPECT_FALSE(is_safe_redirect(rd)) << printable(rd);
  EXPECT_EQ(safe_redirect(rd), "/") << printable(rd);
}

INSTANTIATE_TEST_SUITE_P(
    OtherOriginsAndMalformedValues, UnsafeRedirect,
    ::testing::Values(
        // Protocol-relative and backslash forms browsers read as another host.
        std::string("//evil.com"), std::string("///evil.com"), std::string("/\\evil.com"),
        std::string("\\\\evil.com"), std::string("\\/evil.com"), std::string("//evil.com/%2e%2e"),
        // Encoded slashes and backslashes, once and twice.
        std::string("/%2f%2fevil.com"), std::string("/%2F%2Fevil.com"),
        std::string("%2f%2fevil.com"), std::string("/%5cevil.com"), std::string("/%5Cevil.com"),
        std::string("/%252f%252fevil.com"), std::string("/%25252f%25252fevil.com"),
        std::string("/%2f/evil.com"), std::string("/%5c/evil.com"),
        // Schemes.
        std::string("https://evil.com"), std::string("http:evil.com"),
        std::string("javascript:alert(1)"), std::string("JavaScript:alert(1)"),
        std::string("data:text/html,x"),
        // Control characters, raw and encoded (header splitting, browsers dropping tabs).
        std::string("/\tevil"), std::string("/\t/evil.com"), std::string("/a\nb"),
        std::string("/a\rb"), std::string("/a%0d%0aSet-Cookie:x"), std::string("/a%0aSet-Cookie:x"),
        std::string("/%09/evil.com"), std::string("/a%00"), std::string("/a\x7f"),
        std::string("/a%7f"), std::string("/a\0b", 4),
        // Malformed escapes.
        std::string("/a%"), std::string("/a%2"), std::string("/a%zz"),
        // Empty, relative, oversized, leading space.
        std::string(""), std::string("evil.com"), std::string("app"), std::string("./app"),
        std::string("/" + std::string(3000, 'a')), std::string(" /x")));

class SafeRedirect : public ::testing::TestWithParam<std::string> {};

TEST_P(SafeRedirect, IsKeptAsIs) {
  const std::string& rd = GetParam();
  EXPECT_TRUE(is_safe_redirect(rd)) << rd;
  EXPECT_EQ(safe_redirect(rd), rd);
}

// '#' is acceptable: a fragment never leaves the browser and cannot change the origin.
INSTANTIATE_TEST_SUITE_P(SameOriginPaths, SafeRedirect,
                         ::testing::Values(std::string("/"), std::string("/app"),
                                           std::string("/app/page?x=1&y=2"),
                                           std::string("/a%20b"), std::string("/path#frag"),
                                           std::string("/~user"), std::string("/app/"),
                                           std::string("/a/b/c?next=/x"),
                                           std::string("/" + std::string(1000, 'a'))));

struct NormalCase {
  std::string rd;
  std::string expected;
};

void PrintTo(const NormalCase& c, std::ostream* os) { *os << c.rd; }

class SafeRedirectNormalises : public ::testing::TestWithParam<NormalCase> {};

// A browser resolves dot segments: "/..//evil" would become "//evil", another host.
TEST_P(SafeRedirectNormalises, ThePathLikeRequestPaths) {
  EXPECT_EQ(safe_redirect(GetParam().rd), GetParam().expected) << GetParam().rd;
  EXPECT_EQ(safe_redirect(GetParam().expected), GetParam().expected) << "a fixed point";
}

INSTANTIATE_TEST_SUITE_P(
    Table, SafeRedirectNormalises,
    ::testing::Values(NormalCase{"/..//evil", "/evil"}, NormalCase{"/../..//evil.example", "/evil.example"},
                      NormalCase{"/./..//evil", "/evil"}, NormalCase{"/a/..//..//evil", "/evil"},
                      NormalCase{"/%2e%2e//evil", "/evil"}, NormalCase{"/.%2e//evil", "/evil"},
                      NormalCase{"/a//b", "/a/b"}, NormalCase{"/a/./b/../c", "/a/c"},
                      NormalCase{"/%7Euser", "/~user"}, NormalCase{"/a?next=//x/../y", "/a?next=//x/../y"},
                      NormalCase{"/a/..#//evil", "/#//evil"}, NormalCase{"/..", "/"},
                      // A path with no normal form falls back to "/".
                      NormalCase{"/a b", "/"}, NormalCase{"/a%zz", "/"},
                      // Found by the redirect fuzzer: the normal form would decode to "//Rf…".
                      NormalCase{"/./%252f%52fevil.exa?mp", "/"}, NormalCase{"/a/../%252f%252fevil", "/"}));

}  // namespace
}  // namespace gatehouse::auth
