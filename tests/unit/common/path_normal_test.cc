#include "common/path_normal.h"

#include <gtest/gtest.h>

#include <string>

namespace gatehouse {
namespace {

struct NormalCase {
  std::string path;
  std::optional<std::string> normal;  // nullopt: refused
};

class NormalisePath : public testing::TestWithParam<NormalCase> {};

TEST_P(NormalisePath, GivesTheOneNormalFormAndIsAFixedPoint) {
  const auto& c = GetParam();
  auto got = normalise_path(c.path);
  EXPECT_EQ(got, c.normal) << c.path;
  if (got) {
    EXPECT_EQ(normalise_path(*got), got) << c.path;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, NormalisePath,
    testing::Values(
        NormalCase{"/", "/"}, NormalCase{"/a/b", "/a/b"}, NormalCase{"/a/b/", "/a/b/"},
        NormalCase{"//", "/"}, NormalCase{"//a///b//", "/a/b/"},
        NormalCase{"/a/./b", "/a/b"}, NormalCase{"/a/b/..", "/a/"}, NormalCase{"/a/b/.", "/a/b/"},
        NormalCase{"/..", "/"}, NormalCase{"/../../..", "/"}, NormalCase{"/a/../../b", "/b"},
        NormalCase{"/public/%2e%2e/admin", "/admin"}, NormalCase{"/public/%2E%2E/admin", "/admin"},
        NormalCase{"/public/.%2e/admin", "/admin"}, NormalCase{"/public/%2e/admin", "/public/admin"},
        NormalCase{"/%7Eadmin", "/~admin"}, NormalCase{"/%7eadmin", "/~admin"}, NormalCase{"/%41", "/A"},
        NormalCase{"/a%3fb", "/a%3Fb"}, NormalCase{"/a%c3%a9", "/a%C3%A9"}, NormalCase{"/a%20b", "/a%20b"},
        NormalCase{"/a..b/...", "/a..b/..."}, NormalCase{"/a;b=c", "/a;b=c"},
        NormalCase{"", std::nullopt}, NormalCase{"relative", std::nullopt}, NormalCase{"*", std::nullopt},
        NormalCase{"/a%2fb", std::nullopt}, NormalCase{"/a%2Fb", std::nullopt}, NormalCase{"/a%5Cb", std::nullopt},
        NormalCase{"/a\\b", std::nullopt}, NormalCase{"/a#b", std::nullopt}, NormalCase{"/a b", std::nullopt},
        NormalCase{"/a\tb", std::nullopt}, NormalCase{std::string("/a\0b", 4), std::nullopt},
        NormalCase{"/a\x7f", std::nullopt}, NormalCase{"/caf\xc3\xa9", std::nullopt},
        NormalCase{"/a%00", std::nullopt}, NormalCase{"/a%1f", std::nullopt}, NormalCase{"/a%7F", std::nullopt},
        NormalCase{"/a%", std::nullopt}, NormalCase{"/a%4", std::nullopt}, NormalCase{"/a%zz", std::nullopt},
        NormalCase{"/a%4g", std::nullopt}));

}  // namespace
}  // namespace gatehouse
