#include "daemon/pages.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace gatehouse::daemon {
namespace {

LoginPageModel hostile_model() {
  LoginPageModel m;
  m.csrf_token = "tok\"><script>alert('csrf')</script>";
  m.rd = "/app\"><script>alert('rd')</script>";
  m.username = "\"><script>alert('user')</script>";
  m.error = "<script>alert('error')</script> & \"more\"";
  m.notice = "<b>signed out</b>";
  return m;
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(HtmlEscapeTest, EscapesTheFiveSpecialCharacters) {
  EXPECT_EQ(html_escape("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
  EXPECT_EQ(html_escape("plain text / = ?"), "plain text / = ?");
  EXPECT_EQ(html_escape(""), "");
  EXPECT_EQ(html_escape("&amp;"), "&amp;amp;") << "escaping is not idempotent on purpose";
}

TEST(LoginPageTest, EscapesEveryInterpolatedValue) {
  const std::string html = login_page(hostile_model());
  EXPECT_FALSE(contains(html, "<script")) << html;
  EXPECT_FALSE(contains(html, "<b>signed out")) << "the notice is not escaped";
  EXPECT_TRUE(contains(html, html_escape("\"><script>alert('user')</script>")));
  EXPECT_TRUE(contains(html, html_escape("/app\"><script>alert('rd')</script>")));
  EXPECT_TRUE(contains(html, html_escape("<script>alert('error')</script> & \"more\"")));
}

TEST(LoginPageTest, CarriesCsrfAndRdAsHiddenFieldsInAPostForm) {
  LoginPageModel m;
  m.csrf_token = "CSRF-TOKEN-123";
  m.rd = "/app/page?x=1&y=2";
  const std::string html = login_page(m);
  EXPECT_TRUE(contains(html, "<form method=\"post\" action=\"/.gatehouse/login\"")) << html;
  EXPECT_TRUE(std::regex_search(
      html, std::regex("<input[^>]*type=\"hidden\"[^>]*name=\"csrf\"[^>]*value=\"CSRF-TOKEN-123\"")))
      << html;
  EXPECT_TRUE(std::regex_search(
      html, std::regex("<input[^>]*type=\"hidden\"[^>]*name=\"rd\"[^>]*value=\"/app/page\\?x=1&amp;y=2\"")))
      << html;
}

TEST(LoginPageTest, HasLabelledUsernameAndPasswordFieldsAndALanguage) {
  const std::string html = login_page(LoginPageModel{});
  EXPECT_TRUE(std::regex_search(html, std::regex("<html[^>]* lang=\"[a-z]{2}")));
  EXPECT_TRUE(contains(html, "<label for=\"username\">"));
  EXPECT_TRUE(contains(html, "<label for=\"password\">"));
  EXPECT_TRUE(std::regex_search(html, std::regex("<input[^>]*id=\"username\"[^>]*name=\"username\"")));
  EXPECT_TRUE(std::regex_search(
      html, std::regex("<input[^>]*type=\"password\"[^>]*id=\"password\"[^>]*name=\"password\"")));
  EXPECT_TRUE(contains(html, "autocomplete=\"current-password\""));
  EXPECT_TRUE(contains(html, "<title>"));
}

TEST(LoginPageTest, ErrorIsAnnouncedAndLinkedToTheField) {
  LoginPageModel m;
  m.error = "Wrong user name or password.";
  const std::string html = login_page(m);
  EXPECT_TRUE(contains(html, "role=\"alert\""));
  EXPECT_TRUE(contains(html, "Wrong user name or password."));
  EXPECT_TRUE(contains(html, "aria-describedby=\"login-error\""));
  EXPECT_FALSE(contains(login_page(LoginPageModel{}), "role=\"alert\""))
      << "no error box without an error";
}

TEST(LoginPageTest, UsesNoExternalAssetsOrScripts) {
  for (const std::string& html : {login_page(hostile_model()), login_page(LoginPageModel{}),
                                  error_page(403, "Forbidden", "Not for you.")}) {
    EXPECT_FALSE(contains(html, "http://"));
    EXPECT_FALSE(contains(html, "https://"));
    EXPECT_FALSE(contains(html, "src="));
    EXPECT_FALSE(contains(html, "<link"));
    EXPECT_FALSE(contains(html, "@import"));
    EXPECT_FALSE(contains(html, "url("));
  }
}

TEST(ErrorPageTest, EscapesTitleAndMessageAndShowsTheStatus) {
  const std::string html = error_page(503, "<Down>", "<script>x</script>");
  EXPECT_FALSE(contains(html, "<script"));
  EXPECT_FALSE(contains(html, "<Down>"));
  EXPECT_TRUE(contains(html, "&lt;Down&gt;"));
  EXPECT_TRUE(contains(html, "503"));
  EXPECT_TRUE(std::regex_search(html, std::regex("<html[^>]* lang=\"")));
}

}  // namespace
}  // namespace gatehouse::daemon
