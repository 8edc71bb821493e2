#include "daemon/form.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace gatehouse::daemon {
namespace {

TEST(ParseFormTest, DecodesPlusAndEscapesAndKeepsMalformedEscapesLiterally) {
  const FormFields fields = parse_form("a=1&b=x+y&c=%41%zz&d&=e");
  const FormFields expected = {{"a", "1"}, {"b", "x y"}, {"c", "A%zz"}, {"d", ""}, {"", "e"}};
  EXPECT_EQ(fields, expected);
}

struct FormCase {
  const char* text;
  FormFields fields;
};

void PrintTo(const FormCase& c, std::ostream* os) { *os << c.text; }

class ParseForm : public ::testing::TestWithParam<FormCase> {};

TEST_P(ParseForm, SplitsAndDecodes) {
  EXPECT_EQ(parse_form(GetParam().text), GetParam().fields) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseForm,
    ::testing::Values(
        FormCase{"", {}}, FormCase{"&&", {}}, FormCase{"a=1&&b=2", {{"a", "1"}, {"b", "2"}}},
        FormCase{"a=", {{"a", ""}}}, FormCase{"a=b=c", {{"a", "b=c"}}},
        FormCase{"k%20ey=v%2Bal%26ue", {{"k ey", "v+al&ue"}}},
        FormCase{"rd=%2Fapp%3Fx%3D1", {{"rd", "/app?x=1"}}},
        FormCase{"p=%", {{"p", "%"}}}, FormCase{"p=%4", {{"p", "%4"}}},
        FormCase{"p=%41", {{"p", "A"}}}, FormCase{"p=a%4", {{"p", "a%4"}}},
        FormCase{"u=%C3%A9", {{"u", "\xC3\xA9"}}}, FormCase{"n=%00", {{"n", std::string(1, '\0')}}},
        FormCase{"a=1&a=2", {{"a", "1"}, {"a", "2"}}}));

TEST(FormValueTest, FirstValueWinsAndAbsentIsEmpty) {
  const FormFields fields = parse_form("user=alice&user=mallory&empty=");
  EXPECT_EQ(form_value(fields, "user"), "alice");
  EXPECT_EQ(form_value(fields, "empty"), "");
  EXPECT_EQ(form_value(fields, "missing"), "");
  EXPECT_EQ(form_value(fields, "USER"), "") << "names are case-sensitive";
}

TEST(WipeFormTest, ClearsTheFields) {
  FormFields fields = parse_form("username=alice&password=hunter2");
  wipe_form(fields);
  EXPECT_TRUE(fields.empty());
}

struct EncodeCase {
  std::string text;
  std::string encoded;
};

void PrintTo(const EncodeCase& c, std::ostream* os) { *os << c.encoded; }

class UrlEncode : public ::testing::TestWithParam<EncodeCase> {};

TEST_P(UrlEncode, EscapesEverythingButUnreservedAndSlash) {
  EXPECT_EQ(url_encode(GetParam().text), GetParam().encoded);
}

INSTANTIATE_TEST_SUITE_P(
    Table, UrlEncode,
    ::testing::Values(EncodeCase{"/a b?c=d&e", "/a%20b%3Fc%3Dd%26e"}, EncodeCase{"", ""},
                      EncodeCase{"AZaz09-._~/", "AZaz09-._~/"}, EncodeCase{"%", "%25"},
                      EncodeCase{"+#", "%2B%23"}, EncodeCase{"\r\n", "%0D%0A"},
                      EncodeCase{"\xC3\xA9", "%C3%A9"}, EncodeCase{std::string(1, '\0'), "%00"}));

TEST(UrlEncodeTest, RoundTripsThroughParseForm) {
  const std::string original = "/app/page?x=1&y=a b+c%d\xC3\xA9";
  const FormFields fields = parse_form("rd=" + url_encode(original));
  EXPECT_EQ(form_value(fields, "rd"), original);
}

}  // namespace
}  // namespace gatehouse::daemon
