#include "daemon/request_hygiene.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace gatehouse::daemon {
namespace {

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) {
      static constexpr char digits[] = "0123456789ABCDEF";
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

struct TargetCase {
  std::string target;
  std::string path;
  std::string query;
};

void PrintTo(const TargetCase& c, std::ostream* os) { *os << printable(c.target); }

class NormaliseTarget : public ::testing::TestWithParam<TargetCase> {};

TEST_P(NormaliseTarget, GivesTheOneNormalPathAndKeepsTheQuery) {
  const auto& c = GetParam();
  auto t = normalise_target(c.target);
  ASSERT_TRUE(t.has_value()) << printable(c.target);
  EXPECT_EQ(t->path, c.path) << printable(c.target);
  EXPECT_EQ(t->query, c.query) << printable(c.target);
  // The normal form is a fixed point: normalising it again changes nothing.
  auto again = normalise_path(t->path);
  ASSERT_TRUE(again.has_value()) << t->path;
  EXPECT_EQ(*again, t->path);
}

INSTANTIATE_TEST_SUITE_P(
    Table, NormaliseTarget,
    ::testing::Values(
        // Dot segments, raw and encoded.
        TargetCase{"/public/../admin", "/admin", ""},
        TargetCase{"/public/%2e%2e/admin", "/admin", ""},
        TargetCase{"/public/%2E%2E/admin", "/admin", ""},
        TargetCase{"/public/.%2e/admin", "/admin", ""},
        TargetCase{"/public/%2e./admin", "/admin", ""},
        TargetCase{"/public/%2e/admin", "/public/admin", ""},
        TargetCase{"/a/./b", "/a/b", ""}, TargetCase{"/a/b/..", "/a/", ""},
        TargetCase{"/a/b/.", "/a/b/", ""}, TargetCase{"/..", "/", ""},
        TargetCase{"/../../..", "/", ""}, TargetCase{"/a/../../b", "/b", ""},
        TargetCase{"/a/..", "/", ""}, TargetCase{"/...", "/...", ""},
        TargetCase{"/a/..b/c", "/a/..b/c", ""},
        // Repeated slashes, also where they would hide a dot segment.
        TargetCase{"//admin", "/admin", ""}, TargetCase{"/a//b///c", "/a/b/c", ""},
        TargetCase{"/public/..//admin", "/admin", ""}, TargetCase{"/a//..//b", "/b", ""},
        // Escapes: unreserved decoded, others kept with upper-case hex.
        TargetCase{"/%61dmin", "/admin", ""}, TargetCase{"/%7e", "/~", ""},
        TargetCase{"/%41%5a%30%2D%5F", "/AZ0-_", ""}, TargetCase{"/a%20b", "/a%20b", ""},
        TargetCase{"/a%3fb", "/a%3Fb", ""}, TargetCase{"/a%3Fb", "/a%3Fb", ""},
        TargetCase{"/a%25", "/a%25", ""}, TargetCase{"/a%252f", "/a%252f", ""},
        TargetCase{"/a%c3%a9", "/a%C3%A9", ""},
        // Plain paths stay as they are.
        TargetCase{"/", "/", ""}, TargetCase{"/app/", "/app/", ""},
        TargetCase{"/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;=", ""},
        // Query: split off and never changed.
        TargetCase{"/x?a=%2F&b=../", "/x", "a=%2F&b=../"}, TargetCase{"/x?", "/x", ""},
        TargetCase{"/a/../b?q=/../c//d", "/b", "q=/../c//d"},
        TargetCase{"/x?a=1?b=2", "/x", "a=1?b=2"},
        // Absolute form.
        TargetCase{"http://h/a/../b?q", "/b", "q"}, TargetCase{"https://h:8443/x", "/x", ""},
        TargetCase{"http://h", "/", ""}));

class NormaliseTargetRefuses : public ::testing::TestWithParam<std::string> {};

TEST_P(NormaliseTargetRefuses, WithNullopt) {
  EXPECT_FALSE(normalise_target(GetParam()).has_value()) << printable(GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Table, NormaliseTargetRefuses,
    ::testing::Values(
        // Encoded '/' and '\', a raw '\'.
        std::string("/a%2Fb"), std::string("/a%2fb"), std::string("/a%5Cb"),
        std::string("/a%5cb"), std::string("/a\\b"), std::string("/..%2fadmin"),
        std::string("/..%5cadmin"), std::string("/\\admin"),
        // Control characters, raw and encoded.
        std::string("/a%00b"), std::string("/a%0ab"), std::string("/a%0Db"), std::string("/a%1fb"),
        std::string("/a%7fb"), std::string("/a b"), std::string("/a\tb"), std::string("/a\nb"),
        std::string("/a\rb"), std::string("/a\x7f"), std::string("/a\0b", 4),
        std::string("/x?a\nb"), std::string("/x?a b"),
        // Not a path.
        std::string("a/b"), std::string(""), std::string("*"), std::string("?x"),
        std::string("example.org:443"),
        // Malformed escapes.
        std::string("/a%zz"), std::string("/a%2"), std::string("/a%"), std::string("/a%g0"),
        // Fragments are never sent; a raw '#' is garbage.
        std::string("/a#b")));

TEST(NormalisePathTest, AgreesWithNormaliseTargetOnThePath) {
  EXPECT_EQ(normalise_path("/public/%2e%2e/admin"), "/admin");
  EXPECT_EQ(normalise_path("/a%3fb"), "/a%3Fb");
  EXPECT_FALSE(normalise_path("/a%2fb").has_value());
  EXPECT_FALSE(normalise_path("").has_value());
  EXPECT_FALSE(normalise_path("relative").has_value());
}

struct HostCase {
  const char* header;
  const char* host;
};

void PrintTo(const HostCase& c, std::ostream* os) { *os << c.header; }

class ParseHost : public ::testing::TestWithParam<HostCase> {};

TEST_P(ParseHost, LowerCasesAndDropsPortBracketsAndTrailingDot) {
  auto host = parse_host(GetParam().header);
  ASSERT_TRUE(host.has_value()) << GetParam().header;
  EXPECT_EQ(*host, GetParam().host) << GetParam().header;
  // The normal form is a fixed point (an IPv6 one inside its brackets).
  const std::string again = host->find(':') == std::string::npos ? *host : "[" + *host + "]";
  EXPECT_EQ(parse_host(again).value_or("?"), *host);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseHost,
    ::testing::Values(HostCase{"Example.ORG:8080", "example.org"}, HostCase{"[::1]:80", "::1"},
                      HostCase{"[::1]", "::1"}, HostCase{"host.", "host"},
                      HostCase{"Host.Example.org.:443", "host.example.org"},
                      HostCase{"example.org", "example.org"}, HostCase{"127.0.0.1:8080", "127.0.0.1"},
                      HostCase{"[2001:DB8::1]:443", "2001:db8::1"}, HostCase{"[2001:db8:0:0::1]", "2001:db8::1"},
                      HostCase{"a-b.c-d.example", "a-b.c-d.example"}, HostCase{"x:1", "x"},
                      HostCase{"x:65535", "x"}, HostCase{"x:00080", "x"}, HostCase{"localhost", "localhost"},
                      HostCase{"[::ffff:192.0.2.1]", "192.0.2.1"}));

class ParseHostRefuses : public ::testing::TestWithParam<std::string> {};

TEST_P(ParseHostRefuses, AnythingButHostAndPort) {
  EXPECT_FALSE(parse_host(GetParam()).has_value()) << printable(GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseHostRefuses,
    ::testing::Values(
        // The review's bypass and its relatives: more than one port.
        std::string("secure.example.org:80:80"), std::string("secure.example.org:80:"),
        std::string("secure.example.org::80"), std::string("a:b:c"),
        // Ports out of range or not digits.
        std::string("a:"), std::string("a:0"), std::string("a:65536"), std::string("a:99999"),
        std::string("a:123456"), std::string("a:-1"), std::string("a:+80"), std::string("a:8 0"),
        std::string("a:0x50"), std::string("a: 80"), std::string(":80"),
        // Characters no DNS name has.
        std::string(""), std::string("a b"), std::string("a@b"), std::string("user@secure.example.org"),
        std::string("a/b"), std::string("a\\b"), std::string("a?b"), std::string("a#b"), std::string("a%2eb"),
        std::string("_x"), std::string("a_b.example"), std::string("a;b"), std::string("a,b"),
        std::string("\"a\""), std::string("a\tb"), std::string("a\rb"), std::string("a\x7f"),
        std::string("a\0b", 3), std::string("caf\xc3\xa9.example"), std::string("*.example"),
        // Empty labels, labels starting or ending with '-', oversized names.
        std::string("a..b"), std::string(".a"), std::string("."), std::string(".."), std::string("a.."),
        std::string("-a.example"), std::string("a-.example"), std::string("a.-b"), std::string(64, 'a'),
        std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(63, 'd'),
        // Brackets that are not an IPv6 address.
        std::string("[::1"), std::string("::1"), std::string("[::1]x"), std::string("[::1]:"),
        std::string("[::1]:0"), std::string("[::1]:80:80"), std::string("[]"), std::string("[example.org]"),
        std::string("[192.0.2.1]"), std::string("[fe80::1%25eth0]"), std::string("[fe80::1%eth0]"),
        std::string("[::1]]"), std::string("[[::1]]"), std::string("[::g]"), std::string("[1:2:3:4:5:6:7:8:9]")));

}  // namespace
}  // namespace gatehouse::daemon

namespace gatehouse::daemon {
namespace {

TEST(AbsoluteFormTargetTest, EmptyPathMeansRootAndSchemeIsCaseInsensitive) {
  auto t = normalise_target("http://h?q=1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/");
  EXPECT_EQ(t->query, "q=1");
  auto u = normalise_target("HTTP://Host/a/../b");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->path, "/b");
  EXPECT_FALSE(normalise_target("?q=1"));
}

}  // namespace
}  // namespace gatehouse::daemon
