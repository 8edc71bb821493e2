// Tests of HttpBrowser (the test browser the OIDC tests drive login flows with): URL
// and form parsing, and redirects and cookies against two small local servers.
#include "integration/http_browser.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

TEST(HttpBrowserUrl, ParsesHttpUrls) {
  auto u = parse_url("http://127.0.0.1:8080/a/b?x=1#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/a/b?x=1");
  EXPECT_EQ(u->path(), "/a/b");
  EXPECT_EQ(u->host_port(), "127.0.0.1:8080");
  EXPECT_EQ(u->origin(), "http://127.0.0.1:8080");

  u = parse_url("HTTP://User:pw@Gatehouse.TEST?q");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "gatehouse.test");
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/?q");
  EXPECT_EQ(u->origin(), "http://gatehouse.test");

  u = parse_url("http://[::1]:9/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "[::1]");
  EXPECT_EQ(u->port, 9);

  for (const char* bad : {"https://127.0.0.1/", "/relative", "http://", "http://h:0/", "http://h:99999/",
                          "http://h:8a/", "ftp://h/"})
    EXPECT_FALSE(parse_url(bad)) << bad;
}

TEST(HttpBrowserUrl, ResolvesReferencesAsRfc3986) {
  const std::string base = "http://a/b/c/d;p?q";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"g", "http://a/b/c/g"},          {"./g", "http://a/b/c/g"},       {"g/", "http://a/b/c/g/"},
      {"/g", "http://a/g"},             {"//g", "http://g"},             {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},      {"#s", "http://a/b/c/d;p?q#s"}, {"g#s", "http://a/b/c/g#s"},
      {"", "http://a/b/c/d;p?q"},       {".", "http://a/b/c/"},          {"..", "http://a/b/"},
      {"../g", "http://a/b/g"},         {"../..", "http://a/"},          {"../../g", "http://a/g"},
      {"../../../g", "http://a/g"},     {"/./g", "http://a/g"},          {"g/../h", "http://a/b/c/h"},
      {"http://x:9/y?z", "http://x:9/y?z"},
  };
  for (const auto& [ref, want] : cases) EXPECT_EQ(resolve_url(base, ref), want) << "ref " << ref;
  EXPECT_EQ(resolve_url("http://127.0.0.1:5", "/x"), "http://127.0.0.1:5/x");
  EXPECT_EQ(resolve_url("http://127.0.0.1:5?a=1", "b"), "http://127.0.0.1:5/b");
}

TEST(HttpBrowserUrl, QueryParamsArePercentDecoded) {
  auto q = query_params("http://h/cb?code=a%2Fb%3D&state=x+y%20z&empty=&flag&code=second#code=frag");
  EXPECT_EQ(q["code"], "a/b=");  // the first of a repeated name
  EXPECT_EQ(q["state"], "x y z");
  EXPECT_EQ(q["empty"], "");
  EXPECT_EQ(q.count("flag"), 1u);
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(query_params("a=1&b=%zz")["b"], "%zz");  // a bad escape stays as written
  EXPECT_TRUE(query_params("http://h/path").empty());
  EXPECT_EQ(percent_decode("a+b%2B", false), "a+b+");
}

TEST(HttpBrowserUrl, FormEncodingRoundTrips) {
  FormFields fields = {{"redirect_uri", "http://127.0.0.1:9/cb?x=1&y=2"}, {"scope", "openid email"},
                       {"pw", "Gr\xC3\xBC\xC3\x9F""e+%~*"}};
  std::string body = form_encode(fields);
  EXPECT_EQ(body,
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb%3Fx%3D1%26y%3D2&scope=openid+email&"
            "pw=Gr%C3%BC%C3%9Fe%2B%25%7E*");
  auto back = query_params(body);
  for (const auto& [name, value] : fields) EXPECT_EQ(back[name], value);
}

TEST(HttpBrowserForm, FindsFormsFieldsAndButtons) {
  const std::string html = R"(<!DOCTYPE html><html><head><title>a <form> in a title</title>
<script>document.write('<form action="/script">')</script></head><body>
<!-- <form action="/commented"> -->
<FORM Method=POST action="../interaction/abc/login?x=1&amp;y=2" id=f1>
  <input type="hidden" name="xsrf" value="t&lt;0&gt;&#x41;&#66;&quot;">
  <input name="login" value='alice'>
  <input type="password" name="password">
  <input type="checkbox" name="remember" checked>
  <input type="checkbox" name="unchecked" value="1">
  <input type="radio" name="r" value="a"><input type="radio" name="r" value="b" checked>
  <input type="text" name="off" value="x" disabled>
  <input type="submit" value="no name">
  <input type="file" name="upload">
  <select name="lang"><option value="en">English<option value="de" selected>Deutsch</select>
  <select name="first"><option>One</option><option>Two</option></select>
  <textarea name="note">a &amp; b</textarea>
  <button type="button" name="js">JS</button>
  <button name="action" value="login">Sign in</button>
  <button type="submit" name="action" value="cancel">Cancel</button>
</form>
<form><input name="q"><input type="submit" name="go" value="Go"></form>
</body></html>)";
  auto forms = parse_forms(html, "http://127.0.0.1:4000/app/page?z=9");
  ASSERT_EQ(forms.size(), 2u);
  const HtmlForm& f = forms[0];
  EXPECT_EQ(f.method, "POST");
  EXPECT_EQ(f.id, "f1");
  EXPECT_EQ(f.action, "http://127.0.0.1:4000/interaction/abc/login?x=1&y=2");
  EXPECT_EQ(f.fields, (FormFields{{"xsrf", "t<0>AB\""},
                                  {"login", "alice"},
                                  {"password", ""},
                                  {"remember", "on"},
                                  {"r", "b"},
                                  {"lang", "de"},
                                  {"first", "One"},
                                  {"note", "a & b"}}));
  EXPECT_EQ(f.buttons, (FormFields{{"action", "login"}, {"action", "cancel"}}));
  EXPECT_EQ(f.submission().back(), (std::pair<std::string, std::string>{"action", "login"}));
  EXPECT_EQ(f.get("login"), "alice");
  EXPECT_FALSE(f.get("off"));

  HtmlForm copy = f;
  copy.set("password", "secret");
  copy.set("extra", "1");
  EXPECT_EQ(copy.get("password"), "secret");
  EXPECT_EQ(copy.fields.back(), (std::pair<std::string, std::string>{"extra", "1"}));

  EXPECT_EQ(forms[1].method, "GET");
  EXPECT_EQ(forms[1].action, "http://127.0.0.1:4000/app/page?z=9");  // no action: the page
  EXPECT_EQ(forms[1].submission("go"), (FormFields{{"q", ""}, {"go", "Go"}}));
  EXPECT_EQ(forms[1].submission("missing"), (FormFields{{"q", ""}}));

  auto found = find_form(html, "http://127.0.0.1:4000/", "/login");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, "f1");
  EXPECT_FALSE(find_form(html, "http://127.0.0.1:4000/", "/nowhere"));
  EXPECT_FALSE(find_form("<p>no forms</p>", "http://127.0.0.1:4000/"));
}

// A loopback HTTP server for the navigation tests.
class TestServer {
 public:
  explicit TestServer(const std::function<void(httplib::Server&)>& routes) {
    routes(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // no ready signal in 0.11
  }
  ~TestServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string url(const std::string& path = "") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

// Answers with what it was sent: "METHOD TARGET\nHost: …\nCookie: …\nBODY".
void echo(const httplib::Request& req, httplib::Response& res) {
  res.set_content(req.method + " " + req.target + "\nHost: " + req.get_header_value("Host") +
                      "\nCookie: " + req.get_header_value("Cookie") + "\n" + req.body,
                  "text/plain");
}

class HttpBrowserNavigation : public ::testing::Test {
 protected:
  HttpBrowserNavigation()
      : b_([](httplib::Server& s) {
          s.Get("/land", [](const httplib::Request& req, httplib::Response& res) {
            res.set_header("Set-Cookie", "b=2; Path=/");
            echo(req, res);
          });
          s.Get(".*", echo);
          s.Post(".*", echo);
        }),
        a_([this](httplib::Server& s) {
          s.Get("/start", [this](const httplib::Request&, httplib::Response& res) {
            res.set_header("Set-Cookie", "a=1; Path=/; HttpOnly; SameSite=Lax");
            res.set_redirect(b_.url("/land?from=a"), 302);
          });
          s.Post("/post303", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("after?x=1", 303); });
          s.Post("/post307", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/echo", 307); });
          s.Get("/loop", [](const httplib::Request& req, httplib::Response& res) {
            int n = req.has_param("n") ? std::stoi(req.get_param_value("n")) : 0;
            res.set_redirect("/loop?n=" + std::to_string(n + 1), 302);
          });
          s.Get("/set", [](const httplib::Request&, httplib::Response& res) {
            res.set_header("Set-Cookie", "s=1");  // default path: /
            res.set_header("Set-Cookie", "scoped=2; Path=/app");
            res.set_header("Set-Cookie", "gone=3; Path=/");
            res.set_content("set", "text/plain");
          });
          s.Get("/del", [](const httplib::Request&, httplib::Response& res) {
            res.set_header("Set-Cookie", "s=; Max-Age=0");
            res.set_header("Set-Cookie", "gone=x; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
            res.set_header("Set-Cookie", "later=4; Path=/; Max-Age=3600; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
            res.set_content("deleted", "text/plain");
          });
          s.Get("/form", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("<form method=post action=/echo><input type=hidden name=h value='a b'>"
                            "<input name=user></form><form action='/echo?drop=me'><input name=q value=1></form>",
                            "text/html");
          });
          s.Get(".*", echo);
          s.Post(".*", echo);
        }) {}

  TestServer b_;
  TestServer a_;
  HttpBrowser browser_;
};

TEST_F(HttpBrowserNavigation, FollowsRedirectsAcrossPortsWithCookiesPerPort) {
  auto nav = browser_.get(a_.url("/start"));
  ASSERT_TRUE(nav.ok()) << nav.describe();
  ASSERT_EQ(nav.hops.size(), 2u) << nav.describe();
  EXPECT_EQ(nav.hops[0].status, 302);
  EXPECT_EQ(nav.hops[0].location(), b_.url("/land?from=a"));
  EXPECT_EQ(nav.url(), b_.url("/land?from=a"));
  EXPECT_EQ(nav.status(), 200);
  EXPECT_NE(nav.body().find("GET /land?from=a\n"), std::string::npos) << nav.body();
  EXPECT_NE(nav.body().find("Cookie: \n"), std::string::npos) << "a's cookie went to b: " << nav.body();
  EXPECT_EQ(nav.find(b_.url()), &nav.hops[1]);
  EXPECT_EQ(browser_.cookie("127.0.0.1:" + std::to_string(a_.port()), "a"), "1");
  EXPECT_EQ(browser_.cookie("127.0.0.1:" + std::to_string(b_.port()), "b"), "2");
  EXPECT_FALSE(browser_.cookie("127.0.0.1:" + std::to_string(b_.port()), "a"));

  nav = browser_.get(a_.url("/again"));
  EXPECT_NE(nav.body().find("Cookie: a=1\n"), std::string::npos) << nav.body();
  EXPECT_EQ(nav.hops[0].request_cookies, "a=1");
}

TEST_F(HttpBrowserNavigation, SeeOtherTurnsPostIntoGetAndTemporaryRedirectRepeatsIt) {
  auto nav = browser_.post_form(a_.url("/post303"), {{"k", "v w"}});
  ASSERT_TRUE(nav.ok()) << nav.describe();
  ASSERT_EQ(nav.hops.size(), 2u);
  EXPECT_EQ(nav.hops[0].method, "POST");
  EXPECT_EQ(nav.hops[1].method, "GET");
  EXPECT_EQ(nav.url(), a_.url("/after?x=1"));  // a relative Location
  EXPECT_EQ(nav.body(), "GET /after?x=1\nHost: 127.0.0.1:" + std::to_string(a_.port()) + "\nCookie: \n");

  nav = browser_.post_form(a_.url("/post307"), {{"k", "v w"}});
  ASSERT_TRUE(nav.ok()) << nav.describe();
  ASSERT_EQ(nav.hops.size(), 2u);
  EXPECT_EQ(nav.hops[1].method, "POST");
  EXPECT_NE(nav.body().find("POST /echo\n"), std::string::npos) << nav.body();
  EXPECT_NE(nav.body().find("\nk=v+w"), std::string::npos) << nav.body();
}

TEST_F(HttpBrowserNavigation, StopsAfterTwentyRedirects) {
  auto nav = browser_.get(a_.url("/loop"));
  EXPECT_FALSE(nav.ok());
  EXPECT_NE(nav.error.find("more than 20 redirects"), std::string::npos) << nav.describe();
  EXPECT_EQ(nav.hops.size(), 21u);
}

TEST_F(HttpBrowserNavigation, CanStopAtRedirects) {
  browser_.set_follow_redirects(false);
  auto nav = browser_.get(a_.url("/start"));
  ASSERT_TRUE(nav.ok()) << nav.describe();
  ASSERT_EQ(nav.hops.size(), 1u);
  EXPECT_EQ(nav.status(), 302);
  EXPECT_EQ(nav.last().location(), b_.url("/land?from=a"));

  browser_.set_follow_redirects(true);
  browser_.stop_before(b_.url("/land"));
  nav = browser_.get(a_.url("/start"));
  ASSERT_EQ(nav.hops.size(), 1u) << nav.describe();
  EXPECT_EQ(query_params(nav.last().location())["from"], "a");
  browser_.clear_stop_before();
  EXPECT_EQ(browser_.get(a_.url("/start")).hops.size(), 2u);
}

TEST_F(HttpBrowserNavigation, CookiePathsAndDeletion) {
  const std::string jar = "127.0.0.1:" + std::to_string(a_.port());
  ASSERT_TRUE(browser_.get(a_.url("/set")).ok());
  EXPECT_EQ(browser_.cookie_header(a_.url("/other")), "s=1; gone=3");
  EXPECT_EQ(browser_.cookie_header(a_.url("/app/x")), "scoped=2; s=1; gone=3");
  EXPECT_EQ(browser_.cookie_header(a_.url("/application")), "s=1; gone=3");  // not a path match
  ASSERT_TRUE(browser_.get(a_.url("/del")).ok());
  EXPECT_FALSE(browser_.cookie(jar, "s"));
  EXPECT_FALSE(browser_.cookie(jar, "gone"));
  EXPECT_EQ(browser_.cookie(jar, "later"), "4");  // Max-Age wins over Expires
  auto nav = browser_.get(a_.url("/"));
  EXPECT_NE(nav.body().find("Cookie: later=4\n"), std::string::npos) << nav.body();

  browser_.set_cookie(jar, "manual", "5");
  EXPECT_EQ(browser_.cookie_header(a_.url("/")), "later=4; manual=5");
  browser_.delete_cookie(jar, "later");
  EXPECT_EQ(browser_.cookie_header(a_.url("/")), "manual=5");
  browser_.clear_cookies();
  EXPECT_EQ(browser_.cookie_header(a_.url("/")), "");
}

TEST_F(HttpBrowserNavigation, SubmitsForms) {
  auto page = browser_.get(a_.url("/form"));
  auto form = page.form();
  ASSERT_TRUE(form) << page.describe();
  form->set("user", "alice");
  auto nav = browser_.submit(*form);
  ASSERT_TRUE(nav.ok()) << nav.describe();
  EXPECT_NE(nav.body().find("POST /echo\n"), std::string::npos) << nav.body();
  EXPECT_NE(nav.body().find("\nh=a+b&user=alice"), std::string::npos) << nav.body();

  auto get_form = page.form("drop=me");
  ASSERT_TRUE(get_form);
  nav = browser_.submit(*get_form);
  EXPECT_NE(nav.body().find("GET /echo?q=1\n"), std::string::npos) << nav.body();
}

TEST_F(HttpBrowserNavigation, ResolvesAHostToALoopbackPort) {
  browser_.resolve("gatehouse.test", 80, a_.port());
  auto nav = browser_.get("http://gatehouse.test/start");
  ASSERT_TRUE(nav.ok()) << nav.describe();
  ASSERT_EQ(nav.hops.size(), 2u) << nav.describe();
  EXPECT_EQ(nav.url(), b_.url("/land?from=a"));
  EXPECT_EQ(browser_.cookie("gatehouse.test:80", "a"), "1");
  EXPECT_FALSE(browser_.cookie("127.0.0.1:" + std::to_string(a_.port()), "a"));
  nav = browser_.get("http://gatehouse.test/x");
  EXPECT_NE(nav.body().find("Host: gatehouse.test\nCookie: a=1\n"), std::string::npos) << nav.body();
}

TEST_F(HttpBrowserNavigation, ReportsConnectionFailures) {
  HttpBrowser b;
  b.set_timeout_ms(2000);
  auto nav = b.get("http://127.0.0.1:" + std::to_string(unused_port()) + "/");
  EXPECT_FALSE(nav.ok());
  EXPECT_TRUE(nav.hops.empty());
  EXPECT_NE(nav.error.find("GET http://127.0.0.1:"), std::string::npos) << nav.error;
  nav = b.get("https://127.0.0.1/");
  EXPECT_NE(nav.error.find("only absolute http:// URLs"), std::string::npos) << nav.error;
}

}  // namespace
}  // namespace gatehouse::testing
