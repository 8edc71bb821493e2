// End-to-end tests: the real gatehouse binary, a real upstream, real HTTP.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

// Memory growth is measured in the normal build; under ASan the quarantine of freed
// blocks (256 MB) makes RSS say nothing about buffering.
#ifdef GATEHOUSE_SANITIZED
constexpr long kMaxGrowthKb = 1024 * 1024;
#else
constexpr long kMaxGrowthKb = 20 * 1024;
#endif

using nlohmann::json;

struct ConfigOptions {
  std::string upstream;
  std::string extra_server;
  std::string extra_routes;
  std::string public_url = "http://gatehouse.test";
};

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }
  // Every daemon must stop cleanly: exit 0, no sanitizer report at exit.
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }

  void write_config(const ConfigOptions& o) {
    std::ofstream out(config_path());
    out << "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"" << o.public_url << "\"\n"
        << "upstream_timeout = \"1s\"\n" << o.extra_server << "\n"
        << "[store]\npath = \"" << dir_.file("gatehouse.db") << "\"\n\n"
        << "[keys]\nmaster_key_file = \"" << dir_.file("master.key") << "\"\n\n"
        << "[session]\nidle_timeout = \"30m\"\nabsolute_timeout = \"12h\"\n\n"
        << "[[directory]]\nname = \"local\"\nkind = \"local\"\n\n"
        << "[[route]]\npath_prefix = \"/public\"\nupstream = \"" << o.upstream << "\"\npublic = true\n\n"
        << "[[route]]\npath_prefix = \"/admin\"\nupstream = \"" << o.upstream
        << "\"\nallow_groups = [\"admins\"]\n\n"
        << "[[route]]\npath_prefix = \"/\"\nupstream = \"" << o.upstream << "\"\n" << o.extra_routes;
  }

  void start(ConfigOptions o = {}) {
    if (o.upstream.empty()) o.upstream = upstream_.url();
    write_config(o);
    if (!users_added_) {
      ASSERT_EQ(cli({"tenant", "add", "acme"}).exit_code, 0);
      ASSERT_EQ(cli({"user", "add", "alice", "--tenant", "acme", "--email", "alice@acme.example", "--name",
                     "Alice Anders", "--group", "staff", "--group", "admins", "--password-stdin"},
                    "correct horse\n")
                    .exit_code,
                0);
      ASSERT_EQ(cli({"user", "add", "bob", "--tenant", "acme", "--password-stdin"}, "bob-password\n").exit_code, 0);
      users_added_ = true;
    }
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_path()});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  void restart(ConfigOptions o = {}) {
    EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    start(std::move(o));
  }

  std::string config_path() const { return dir_.file("gatehouse.toml"); }

  CommandResult cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--config", config_path()});
    return run_gatehouse(args, input);
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", daemon_->port());
    c.set_read_timeout(10, 0);
    return c;
  }

  httplib::Result post_login(const std::string& user, const std::string& password, const std::string& rd = "/",
                             bool with_csrf = true) {
    return testing::post_login(daemon_->port(), user, password, rd, with_csrf);
  }

  std::string login(const std::string& user = "alice", const std::string& password = "correct horse") {
    auto res = post_login(user, password);
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, 303) << res->body;
    return cookie_from(res->headers, "gatehouse_session");
  }

  json echo(httplib::Result& res) {
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body, nullptr, false);
  }

  static std::string header(const json& echoed, const std::string& name) {
    for (auto& [k, v] : echoed["headers"].items())
      if (strcasecmp(k.c_str(), name.c_str()) == 0) return v[0].get<std::string>();
    return "<absent>";
  }

  TempDir dir_;
  EchoUpstream upstream_;
  std::unique_ptr<Daemon> daemon_;
  bool users_added_ = false;
};

TEST_F(GatewayTest, ProtectedRouteRedirectsBrowsersToLoginWithReturnPath) {
  const int before = upstream_.requests();
  auto raw = raw_http(daemon_->port(),
                      "GET /app/page?x=1 HTTP/1.1\r\nHost: a\r\nAccept: text/html,application/xhtml+xml\r\n"
                      "Connection: close\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 302 Found\r\n", 0), 0u) << raw;
  EXPECT_NE(raw.find("\r\nLocation: /.gatehouse/login?rd=/app/page%3Fx%3D1\r\n"), std::string::npos) << raw;
  EXPECT_EQ(upstream_.requests(), before);
}

TEST_F(GatewayTest, ProtectedRouteAnswersApiClientsWith401) {
  auto c = client();
  auto res = c.Get("/api/things", {{"Accept", "application/json"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_NE(res->get_header_value("WWW-Authenticate"), "");
}

TEST_F(GatewayTest, LoginFormIsAccessibleAndSelfContained) {
  auto c = client();
  auto res = c.Get("/.gatehouse/login?rd=/x");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("<label for=\"username\">"), std::string::npos);
  EXPECT_NE(res->body.find("<label for=\"password\">"), std::string::npos);
  EXPECT_NE(res->body.find("lang=\"en\""), std::string::npos);
  EXPECT_EQ(res->body.find("src=\"http"), std::string::npos);
  EXPECT_EQ(res->body.find("href=\"http"), std::string::npos);
  EXPECT_NE(res->body.find("name=\"rd\" value=\"/x\""), std::string::npos);
}

TEST_F(GatewayTest, FailedLoginsShowOneGenericMessage) {
  auto wrong = post_login("alice", "Tr0ub4dor&3-not-it");
  auto unknown = post_login("nobody", "whatever");
  auto empty = post_login("alice", "");
  ASSERT_TRUE(wrong && unknown && empty);
  for (auto* r : {&wrong, &unknown, &empty}) {
    EXPECT_EQ((*r)->status, 401);
    EXPECT_NE((*r)->body.find("The user name or password is incorrect."), std::string::npos);
    EXPECT_EQ(cookie_from((*r)->headers, "gatehouse_session"), "");
  }
  EXPECT_EQ(daemon_->log().find("correct horse"), std::string::npos);
  EXPECT_EQ(daemon_->log().find("Tr0ub4dor"), std::string::npos);
}

TEST_F(GatewayTest, LoginWithoutCsrfTokenIsRefused) {
  auto res = post_login("alice", "correct horse", "/", /*with_csrf=*/false);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(cookie_from(res->headers, "gatehouse_session"), "");
}

TEST_F(GatewayTest, LoginSetsHardenedCookieAndRedirectsToRd) {
  auto res = post_login("alice", "correct horse", "/reports?q=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 303);
  EXPECT_EQ(res->get_header_value("Location"), "/reports?q=1");
  std::string set_cookie;
  for (auto [it, end] = res->headers.equal_range("Set-Cookie"); it != end; ++it)
    if (it->second.rfind("gatehouse_session=", 0) == 0) set_cookie = it->second;
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(set_cookie.find("SameSite=Lax"), std::string::npos);
  EXPECT_NE(set_cookie.find("Path=/"), std::string::npos);
}

TEST_F(GatewayTest, CookiesAreSecureWhenUsersReachGatehouseOverHttps) {
  auto plain = post_login("alice", "correct horse");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->get_header_value("Set-Cookie").find("Secure"), std::string::npos);
  ConfigOptions tls;
  tls.public_url = "https://gate.example.org";
  restart(tls);
  auto res = post_login("alice", "correct horse");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 303);
  // Over https the session and CSRF cookies take the __Host- prefix (Secure, Path=/, no
  // Domain): a sibling subdomain cannot toss one in.
  int secure = 0, csrf = 0;
  for (auto [it, end] = res->headers.equal_range("Set-Cookie"); it != end; ++it) {
    EXPECT_NE(it->second.rfind("gatehouse_session", 0), 0u) << "unprefixed cookie over https: " << it->second;
    if (it->second.rfind("__Host-gatehouse_session=", 0) == 0) {
      secure += it->second.find("; Secure") != std::string::npos;
      EXPECT_NE(it->second.find("; Path=/;"), std::string::npos) << it->second;
      EXPECT_EQ(it->second.find("Domain"), std::string::npos) << it->second;
    }
    if (it->second.rfind("__Host-gatehouse_session_csrf=", 0) == 0) {
      csrf += it->second.find("; Secure") != std::string::npos;
      EXPECT_NE(it->second.find("; Path=/;"), std::string::npos) << it->second;
    }
  }
  EXPECT_EQ(secure, 1);
  EXPECT_EQ(csrf, 1);  // a new binding with the new session
}

TEST_F(GatewayTest, OpenRedirectsFallBackToRoot) {
  for (std::string rd : {"//evil.example", "/\\evil.example", "/%2f%2fevil.example", "/%5cevil.example",
                         "https://evil.example/", "javascript:alert(1)", "/x\r\nSet-Cookie: a=b"}) {
    auto res = post_login("alice", "correct horse", rd);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 303);
    EXPECT_EQ(res->get_header_value("Location"), "/") << rd;
  }
}

TEST_F(GatewayTest, SessionIdChangesAtEveryLogin) {
  auto first = login();
  auto second = login();
  EXPECT_NE(first, "");
  EXPECT_NE(first, second);
}

TEST_F(GatewayTest, ProxiedRequestCarriesIdentityAndNothingSpoofed) {
  auto cookie = login();
  auto c = client();
  httplib::Headers h = {{"Cookie", "theme=dark; " + cookie + "; lang=en"},
                        {"X-Gatehouse-User", "mallory"},
                        {"x-gatehouse-effective-party", "evilcorp"},
                        {"X_Gatehouse_Groups", "admins"},
                        {"X-GATEHOUSE-ASSERTION", "forged"},
                        {"X-Gatehouse-Something-New", "x"},
                        {"X-Forwarded-For", "6.6.6.6"}};
  auto res = c.Get("/app/data?id=7", h);
  auto e = echo(res);
  EXPECT_EQ(e["target"], "/app/data?id=7");
  EXPECT_EQ(header(e, "X-Gatehouse-User"), "alice");
  EXPECT_EQ(header(e, "X-Gatehouse-Email"), "alice@acme.example");
  EXPECT_EQ(header(e, "X-Gatehouse-Name"), "Alice Anders");
  EXPECT_EQ(header(e, "X-Gatehouse-Real-Party"), "acme");
  EXPECT_EQ(header(e, "X-Gatehouse-Effective-Party"), "acme");
  // cpp-httplib drops empty header values; the unit tests check that it is sent empty.
  EXPECT_NE(header(e, "X-Gatehouse-Delegation"), "mallory");
  EXPECT_EQ(header(e, "X-Gatehouse-Something-New"), "<absent>");
  EXPECT_EQ(header(e, "X-Forwarded-For"), "127.0.0.1");
  EXPECT_EQ(header(e, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(header(e, "Cookie"), "theme=dark; lang=en");
  auto groups = header(e, "X-Gatehouse-Groups");
  EXPECT_TRUE(groups == "admins,staff" || groups == "staff,admins") << groups;
  // Exactly one value of each identity header reached the upstream.
  for (auto& [k, v] : e["headers"].items()) {
    std::string lower = k;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(ch));
    if (lower.rfind("x-gatehouse-", 0) == 0 || lower.rfind("x_gatehouse", 0) == 0) {
      EXPECT_EQ(v.size(), 1u) << k;
    }
    EXPECT_EQ(v.dump().find("mallory"), std::string::npos) << k;
  }
  EXPECT_EQ(res->body.find("forged"), std::string::npos);
  EXPECT_EQ(res->body.find("evilcorp"), std::string::npos);
}

TEST_F(GatewayTest, PublicRouteStripsSpoofedIdentityWithoutSession) {
  auto c = client();
  auto res = c.Get("/public/page", {{"X-Gatehouse-User", "mallory"}, {"x_gatehouse_real_party", "evil"}});
  auto e = echo(res);
  for (auto& [k, v] : e["headers"].items()) {
    std::string lower = k;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(ch));
    EXPECT_NE(lower.rfind("x-gatehouse", 0), 0u) << k;
    EXPECT_NE(lower.rfind("x_gatehouse", 0), 0u) << k;
  }
}

TEST_F(GatewayTest, PublicRouteWithSessionCarriesIdentity) {
  auto cookie = login();
  auto c = client();
  auto res = c.Get("/public/page", {{"Cookie", cookie}});
  EXPECT_EQ(header(echo(res), "X-Gatehouse-User"), "alice");
}

TEST_F(GatewayTest, AssertionVerifiesWithIndependentJoseLibrary) {
  auto cookie = login();
  auto c = client();
  auto res = c.Get("/app", {{"Cookie", cookie}});
  auto jwt = header(echo(res), "X-Gatehouse-Assertion");
  auto jwks = c.Get("/.gatehouse/jwks.json");
  ASSERT_TRUE(jwks);
  EXPECT_EQ(jwks->status, 200);
  EXPECT_EQ(jwks->body.find("\"d\""), std::string::npos) << "private key material in JWKS";
  {
    std::ofstream out(dir_.file("jwks.json"));
    out << jwks->body;
  }
  auto verify = [&](const std::string& token, const std::string& aud) {
    std::string cmd = "/usr/bin/python3 " GATEHOUSE_TESTS_DIR "/integration/verify_assertion.py '" +
                      dir_.file("jwks.json") + "' '" + token + "' 'http://gatehouse.test' '" + aud + "' 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int rc = pclose(p);
    return std::make_pair(rc, out);
  };
  auto [rc, out] = verify(jwt, "/");
  ASSERT_EQ(rc, 0) << out;
  auto claims = json::parse(out);
  EXPECT_EQ(claims["sub"], "alice");
  EXPECT_EQ(claims["email"], "alice@acme.example");
  EXPECT_EQ(claims["real_party"], "acme");
  EXPECT_EQ(claims["effective_party"], "acme");
  EXPECT_LE(claims["exp"].get<long>() - claims["iat"].get<long>(), 600);
  // A tampered token and a wrong audience are refused by the same verifier.
  std::string tampered = jwt;
  auto dot = tampered.find('.');
  tampered[dot + 5] = tampered[dot + 5] == 'A' ? 'B' : 'A';
  EXPECT_NE(verify(tampered, "/").first, 0);
  EXPECT_NE(verify(jwt, "/other").first, 0);
  // The admin route gets its own audience.
  auto admin = c.Get("/admin/x", {{"Cookie", cookie}});
  EXPECT_EQ(verify(header(echo(admin), "X-Gatehouse-Assertion"), "/admin").first, 0);
}

TEST_F(GatewayTest, SigningKeySurvivesRestart) {
  auto c = client();
  auto before = c.Get("/.gatehouse/jwks.json");
  ASSERT_TRUE(before);
  restart();
  auto c2 = client();
  auto after = c2.Get("/.gatehouse/jwks.json");
  ASSERT_TRUE(after);
  EXPECT_EQ(before->body, after->body);
}

TEST_F(GatewayTest, SessionsSurviveRestart) {
  auto cookie = login();
  restart();
  auto c = client();
  auto res = c.Get("/.gatehouse/whoami", {{"Cookie", cookie}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(GatewayTest, WhoamiDescribesTheSession) {
  auto c = client();
  auto anon = c.Get("/.gatehouse/whoami");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->status, 401);
  auto cookie = login();
  auto res = c.Get("/.gatehouse/whoami", {{"Cookie", cookie}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto j = json::parse(res->body);
  EXPECT_EQ(j["user"], "alice");
  EXPECT_EQ(j["email"], "alice@acme.example");
  EXPECT_EQ(j["name"], "Alice Anders");
  EXPECT_EQ(j["real_party"], "acme");
  EXPECT_EQ(j["effective_party"], "acme");
  EXPECT_TRUE(j["groups"].is_array());
  EXPECT_TRUE(j["roles"].is_array());
  EXPECT_TRUE(j.contains("delegation"));
  EXPECT_TRUE(j["expires_at"].is_string());
}

TEST_F(GatewayTest, LogoutKillsTheCookieAtOnce) {
  auto cookie = login();
  auto c = client();
  auto out = c.Post("/.gatehouse/logout", {{"Cookie", cookie}}, "", "application/x-www-form-urlencoded");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 303);
  EXPECT_EQ(out->get_header_value("Location").rfind("/.gatehouse/login", 0), 0u);
  EXPECT_NE(out->get_header_value("Set-Cookie").find("Max-Age=0"), std::string::npos);
  auto replay = c.Get("/app", {{"Cookie", cookie}, {"Accept", "application/json"}});
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->status, 401);
}

TEST_F(GatewayTest, TamperedCookieIsNoSession) {
  auto cookie = login();
  cookie[cookie.size() - 3] = cookie[cookie.size() - 3] == 'A' ? 'B' : 'A';
  auto c = client();
  auto res = c.Get("/app", {{"Cookie", cookie}, {"Accept", "application/json"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
}

TEST_F(GatewayTest, GroupRestrictedRouteForbidsOthers) {
  auto alice = login("alice", "correct horse");
  auto bob = login("bob", "bob-password");
  auto c = client();
  auto ok = c.Get("/admin/panel", {{"Cookie", alice}});
  auto denied = c.Get("/admin/panel", {{"Cookie", bob}});
  ASSERT_TRUE(ok && denied);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(denied->status, 403);
}

TEST_F(GatewayTest, DotSegmentsCannotEscapeAPublicRoute) {
  const int before = upstream_.requests();
  auto c = client();
  for (std::string path : {"/public/../admin/x", "/public/%2e%2e/admin/x", "/public/%2E%2E/app",
                           "/public/.%2e/app", "/public//../app", "/public/./../app"}) {
    auto res = c.Get(path, {{"Accept", "application/json"}});
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 401) << path;
  }
  for (std::string path : {"/public%2F..%2Fadmin", "/public/..%2fadmin", "/public/%5c../admin"}) {
    auto res = c.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 400) << path;
  }
  EXPECT_EQ(upstream_.requests(), before);
}

TEST_F(GatewayTest, UpstreamReceivesTheNormalisedPath) {
  auto c = client();
  auto res = c.Get("/public//a/./b/../%63?x=%2F..");
  EXPECT_EQ(echo(res)["target"], "/public/a/c?x=%2F..");
}

TEST_F(GatewayTest, HostsMatchCaseInsensitivelyWithoutPort) {
  restart({"", "", "[[route]]\nhost = \"app.example.org\"\npath_prefix = \"/public\"\nupstream = \"http://127.0.0.1:" +
                       std::to_string(unused_port()) + "\"\npublic = true\n"});
  auto c = client();
  auto other = c.Get("/public/x", {{"Host", "other.example.org"}});
  auto named = c.Get("/public/x", {{"Host", "APP.Example.ORG:8443"}});
  ASSERT_TRUE(other && named);
  EXPECT_EQ(other->status, 200);  // the host-less route
  EXPECT_EQ(named->status, 502);  // the host route, whose upstream is down
}

TEST_F(GatewayTest, UpstreamDownGives502Page) {
  restart({"http://127.0.0.1:" + std::to_string(unused_port()), "", ""});
  auto c = client();
  auto res = c.Get("/public/x", {{"Accept", "text/html"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 502);
  EXPECT_NE(res->body.find("<html"), std::string::npos);
}

TEST_F(GatewayTest, SlowUpstreamGives504AfterTimeout) {
  auto c = client();
  auto t0 = std::chrono::steady_clock::now();
  auto res = c.Get("/public/../slow");  // normalised to /slow: protected
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  auto cookie = login();
  auto slow = c.Get("/slow", {{"Cookie", cookie}});
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 504) << daemon_->log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

TEST_F(GatewayTest, UpstreamConnectionsAreReused) {
  const int before = upstream_.connections();
  auto c = client();
  c.set_keep_alive(true);
  for (int i = 0; i < 30; ++i) {
    auto res = c.Get("/public/n" + std::to_string(i));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
  }
  EXPECT_LE(upstream_.connections() - before, 1);
}

TEST_F(GatewayTest, OversizedHeadersGet431) {
  auto c = client();
  auto res = c.Get("/public/x", {{"X-Big", std::string(64 * 1024, 'a')}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 431);
}

TEST_F(GatewayTest, OversizedBodyGets413) {
  restart({"", "max_body_bytes = 1000\n", ""});
  const int before = upstream_.requests();
  auto c = client();
  auto res = c.Post("/public/upload", std::string(5000, 'x'), "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(upstream_.requests(), before);
}

TEST_F(GatewayTest, MalformedRequestsGet400AndTheDaemonKeepsServing) {
  for (std::string raw : {std::string("GARBAGE\r\n\r\n"), std::string("GET /public HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
                          std::string("GET /public HTTP/1.1\r\nBad Header\r\n\r\n"), std::string("GET noslash HTTP/1.1\r\nHost: x\r\n\r\n"),
                          std::string("GET /a\x01" "b HTTP/1.1\r\nHost: x\r\n\r\n"),
                          std::string("GET /public HTTP/1.1\r\n\r\n"),
                          std::string("POST /public HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")}) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(daemon_->port()));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(write(fd, raw.data(), raw.size()), static_cast<ssize_t>(raw.size()));
    char buf[512] = {};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, 12), "HTTP/1.1 400") << raw;
  }
  auto c = client();
  auto res = c.Get("/public/still-alive");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(GatewayTest, LargeUploadIsStreamedNotBuffered) {
  auto cookie = login();
  auto c = client();
  c.set_write_timeout(60, 0);
  c.set_read_timeout(60, 0);
  const long before = daemon_->rss_kb();
  constexpr size_t total = 50u * 1024 * 1024;
  static const std::string block(256 * 1024, 'u');
  auto res = c.Put(
      "/upload", {{"Cookie", cookie}}, total,
      [](size_t offset, size_t length, httplib::DataSink& sink) {
        sink.write(block.data(), std::min(length, block.size()));
        (void)offset;
        return true;
      },
      "application/octet-stream");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["body_bytes"], static_cast<long long>(total));
  const long after = daemon_->rss_kb();
  EXPECT_LT(after - before, kMaxGrowthKb) << "daemon RSS grew from " << before << " kB to " << after << " kB";
}

TEST_F(GatewayTest, LargeDownloadIsStreamed) {
  auto cookie = login();
  auto c = client();
  const long before = daemon_->rss_kb();
  long long received = 0;
  auto res = c.Get("/big?bytes=52428800", {{"Cookie", cookie}},
                   [&](const char*, size_t n) {
                     received += static_cast<long long>(n);
                     return true;
                   });
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(received, 52428800LL);
  EXPECT_LT(daemon_->rss_kb() - before, kMaxGrowthKb);
}

TEST_F(GatewayTest, ExpectContinueUploadThroughCurl) {
  auto cookie = login();
  TempDir tmp;
  {
    std::ofstream f(tmp.file("body"));
    f << std::string(3 * 1024 * 1024, 'z');
  }
  std::string cmd = "curl -sS -H 'Expect: 100-continue' -H 'Cookie: " + cookie + "' --data-binary @" +
                    tmp.file("body") + " http://127.0.0.1:" + std::to_string(daemon_->port()) + "/up 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << out;
  auto j = json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["body_bytes"], 3 * 1024 * 1024);
  EXPECT_EQ(j["method"], "POST");
}

TEST_F(GatewayTest, TrustedProxyForwardedForIsBelievedOnlyFromTrustedPeers) {
  auto c = client();
  auto untrusted = c.Get("/public/x", {{"X-Forwarded-For", "203.0.113.9"}});
  EXPECT_EQ(header(echo(untrusted), "X-Forwarded-For"), "127.0.0.1");
  restart({"", "trusted_proxies = [\"127.0.0.0/8\"]\n", ""});
  auto c2 = client();
  auto trusted = c2.Get("/public/x", {{"X-Forwarded-For", "203.0.113.9"}});
  EXPECT_EQ(header(echo(trusted), "X-Forwarded-For"), "203.0.113.9, 127.0.0.1");
}

TEST_F(GatewayTest, AdminCliAddsUserWhileDaemonRuns) {
  ASSERT_EQ(cli({"user", "add", "carol", "--tenant", "acme", "--password-stdin"}, "carol-pass\n").exit_code, 0);
  auto cookie = login("carol", "carol-pass");
  EXPECT_NE(cookie, "");
}

TEST_F(GatewayTest, DisablingAUserEndsTheirSessionsWithinASecond) {
  auto cookie = login("bob", "bob-password");
  ASSERT_EQ(cli({"user", "disable", "bob"}).exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto c = client();
  auto res = c.Get("/.gatehouse/whoami", {{"Cookie", cookie}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  auto again = post_login("bob", "bob-password");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 401);
  ASSERT_EQ(cli({"user", "enable", "bob"}).exit_code, 0);
  EXPECT_NE(login("bob", "bob-password"), "");
}

TEST_F(GatewayTest, GracefulStopExitsZero) { EXPECT_EQ(daemon_->stop(), 0); }

TEST_F(GatewayTest, HealthEndpointsAnswer) {
  auto c = client();
  auto h = c.Get("/.gatehouse/healthz");
  auto r = c.Get("/.gatehouse/readyz");
  ASSERT_TRUE(h && r);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace gatehouse::testing
