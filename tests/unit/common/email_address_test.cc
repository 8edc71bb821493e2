#include "common/email_address.h"

#include <gtest/gtest.h>

namespace gatehouse {
namespace {

TEST(EmailAddress, AcceptsTheCommonFormAndLowerCasesIt) {
  EXPECT_EQ(normal_email("Carol@Globex.Example"), "carol@globex.example");
  EXPECT_EQ(normal_email("first.last+tag@sub.example.org"), "first.last+tag@sub.example.org");
  EXPECT_EQ(normal_email("o'brien@example.ie"), "o'brien@example.ie");
  EXPECT_EQ(normal_email("x@10.0.0.1"), "x@10.0.0.1");
}

TEST(EmailAddress, RefusesEverythingElseWithAReason) {
  const std::string long_domain = "a@" + std::string(250, 'b') + ".example";
  for (std::string bad : {std::string(""), std::string("carol"), std::string("carol@"), std::string("@x.example"),
                          std::string("carol@localhost"), std::string("carol@@x.example"), std::string("ca rol@x.example"),
                          std::string("carol@x .example"), std::string("\"carol\"@x.example"), std::string(".c@x.example"),
                          std::string("c.@x.example"), std::string("c..d@x.example"), std::string("c@x..example"),
                          std::string("c@-x.example"), std::string("c@x-.example"), std::string("c@x.example."),
                          std::string("c@x_y.example"), std::string("c\r\n@x.example"), std::string("c@x.example\r\nBcc: y@z.example"),
                          std::string("c\0d@x.example", 13), std::string("c@[10.0.0.1]"), std::string("c(comment)@x.example"),
                          std::string("c,d@x.example"), std::string("c<d@x.example"), std::string("ü@x.example"),
                          std::string(65, 'a') + "@x.example", long_domain}) {
    std::string why;
    EXPECT_FALSE(normal_email(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(EmailAddress, ComparesCaseInsensitively) {
  EXPECT_TRUE(email_equal("Carol@Globex.Example", "carol@globex.example"));
  EXPECT_FALSE(email_equal("carol@globex.example", "carol@globex.exampl"));
  EXPECT_FALSE(email_equal("carol@globex.example", "karol@globex.example"));
}

}  // namespace
}  // namespace gatehouse
