#include "auth/identity_headers.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace gatehouse::auth {
namespace {

struct HeaderCase {
  const char* name;
  bool identity;
};

void PrintTo(const HeaderCase& c, std::ostream* os) { *os << '"' << c.name << '"'; }

class IdentityHeaderName : public ::testing::TestWithParam<HeaderCase> {};

TEST_P(IdentityHeaderName, IsRecognisedCaseInsensitivelyWithUnderscoreAsDash) {
  EXPECT_EQ(is_identity_header(GetParam().name), GetParam().identity) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Table, IdentityHeaderName,
    ::testing::Values(HeaderCase{"X-Gatehouse-User", true}, HeaderCase{"x-gatehouse-user", true},
                      HeaderCase{"X_GATEHOUSE_USER", true},
                      HeaderCase{"x_Gatehouse-Assertion", true}, HeaderCase{"X-GATEHOUSE-", true},
                      HeaderCase{"X-Gatehouse-Anything-New", true},
                      HeaderCase{"X-Gatehouse-Groups", true}, HeaderCase{"x-gAtEhOuSe_rOlEs", true},
                      HeaderCase{"X-Gatehouse", false}, HeaderCase{"X-Gatehouse_", true},
                      HeaderCase{"X-Forwarded-For", false}, HeaderCase{"Gatehouse-User", false},
                      HeaderCase{"XX-Gatehouse-User", false}, HeaderCase{" X-Gatehouse-User", false},
                      HeaderCase{"X-Gatehous-User", false}, HeaderCase{"", false}));

struct StripCase {
  const char* what;
  const char* header;
  const char* expected;
};

void PrintTo(const StripCase& c, std::ostream* os) { *os << c.what; }

class StripCookie : public ::testing::TestWithParam<StripCase> {};

TEST_P(StripCookie, RemovesEveryOccurrenceOfTheNamedCookieOnly) {
  const auto& c = GetParam();
  EXPECT_EQ(strip_cookie(c.header, "gatehouse_session"), c.expected) << c.what;
}

INSTANTIATE_TEST_SUITE_P(
    Table, StripCookie,
    ::testing::Values(
        StripCase{"first", "gatehouse_session=S; a=1; b=2", "a=1; b=2"},
        StripCase{"middle", "a=1; gatehouse_session=S; b=2", "a=1; b=2"},
        StripCase{"last", "a=1; b=2; gatehouse_session=S", "a=1; b=2"},
        StripCase{"repeated", "gatehouse_session=S1; a=1; gatehouse_session=S2; b=2; gatehouse_session=S3",
                  "a=1; b=2"},
        StripCase{"with spaces", "  a=1 ;gatehouse_session = S ;  b=2  ", "a=1; b=2"},
        StripCase{"no spaces", "a=1;gatehouse_session=S;b=2", "a=1; b=2"},
        StripCase{"the only cookie", "gatehouse_session=S", ""},
        StripCase{"the only cookie, repeated", "gatehouse_session=S; gatehouse_session=T", ""},
        StripCase{"without value", "a=1; gatehouse_session; b=2", "a=1; b=2"},
        StripCase{"empty value", "a=1; gatehouse_session=; b=2", "a=1; b=2"},
        StripCase{"similar names kept",
                  "gatehouse_session2=x; xgatehouse_session=y; gatehouse_sessio=z; gatehouse_session_csrf=v",
                  "gatehouse_session2=x; xgatehouse_session=y; gatehouse_sessio=z; gatehouse_session_csrf=v"},
        StripCase{"other case", "a=1; Gatehouse_Session=w", "a=1"},
        StripCase{"comma separated", "a=1, gatehouse_session=S, b=2", "a=1, b=2"},
        StripCase{"comma first", "gatehouse_session=S,a=1", "a=1"},
        StripCase{"comma last in a part", "a=1; b=2,gatehouse_session=S; c=3", "a=1; b=2; c=3"},
        StripCase{"quoted name", "\"gatehouse_session\"=S; a=1", "a=1"},
        StripCase{"comma inside another value kept", "a=1,2; gatehouse_session=S", "a=1,2"},
        StripCase{"value equal to the name kept", "a=gatehouse_session", "a=gatehouse_session"},
        StripCase{"order and spelling of others kept", "Zeta=1; alpha=\"q\"; gatehouse_session=S; M=a=b",
                  "Zeta=1; alpha=\"q\"; M=a=b"},
        StripCase{"absent", "a=1; b=2", "a=1; b=2"}, StripCase{"empty header", "", ""}));

TEST(FindCookieTest, ReturnsTheFirstValueOfTheNamedCookie) {
  EXPECT_EQ(find_cookie("a=1; gatehouse_session=FIRST; gatehouse_session=SECOND", "gatehouse_session"),
            "FIRST");
  EXPECT_EQ(find_cookie("gatehouse_session=only", "gatehouse_session"), "only");
  EXPECT_EQ(find_cookie("a=1;gatehouse_session=v;b=2", "gatehouse_session"), "v");
  EXPECT_EQ(find_cookie("a=1;  gatehouse_session = v  ; b=2", "gatehouse_session"), "v");
  EXPECT_EQ(find_cookie("a=1; b=x=y", "b"), "x=y");
}

TEST(FindCookieTest, IgnoresSimilarNames) {
  EXPECT_EQ(find_cookie("gatehouse_session2=x; xgatehouse_session=y; gatehouse_session=z",
                        "gatehouse_session"),
            "z");
  EXPECT_EQ(find_cookie("Gatehouse_Session=x", "gatehouse_session"), "");
}

TEST(FindCookieTest, AbsentCookieIsEmpty) {
  EXPECT_EQ(find_cookie("a=1; b=2", "gatehouse_session"), "");
  EXPECT_EQ(find_cookie("", "gatehouse_session"), "");
  EXPECT_EQ(find_cookie("gatehouse_session2=x", "gatehouse_session"), "");
}

}  // namespace
}  // namespace gatehouse::auth
