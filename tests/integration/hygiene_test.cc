// Request hygiene end to end (issue 17's review findings): Host and request framing,
// streaming bodies, the headers and cookies an application trusts, gatehouse's own
// endpoints. Each class is tried in many variants against the real binary.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

using nlohmann::json;

std::string query_encode(std::string_view s) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

std::string read_until(int fd, std::string& got, const std::string& needle);

class HygieneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_config("", upstream_.url());
    ASSERT_EQ(cli({"tenant", "add", "acme"}).exit_code, 0);
    ASSERT_EQ(cli({"user", "add", "alice", "--tenant", "acme", "--group", "admins", "--password-stdin"},
                  "alice-password\n").exit_code, 0);
    ASSERT_EQ(cli({"user", "add", "bob", "--tenant", "acme", "--password-stdin"}, "bob-password\n").exit_code, 0);
  }
  void TearDown() override {
    if (daemon_) EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
  }

  // Routes: secure.example.org (admins only), /public (anyone), / (signed in).
  void start(const std::string& extra_server = "", const std::string& upstream = "") {
    write_config(extra_server, upstream.empty() ? upstream_.url() : upstream);
    if (daemon_) EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_path()});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  void write_config(const std::string& extra_server, const std::string& up) {
    std::ofstream out(config_path());
    out << "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://gate.example.org:8080\"\n"
        << "upstream_timeout = \"1s\"\n" << extra_server << "\n"
        << "[store]\npath = \"" << dir_.file("gatehouse.db") << "\"\n\n"
        << "[keys]\nmaster_key_file = \"" << dir_.file("master.key") << "\"\n\n"
        << "[log]\naccess_log = true\n\n"
        << "[[directory]]\nname = \"local\"\nkind = \"local\"\n\n"
        << "[[route]]\nhost = \"secure.example.org\"\npath_prefix = \"/\"\nupstream = \"" << up
        << "\"\nallow_groups = [\"admins\"]\n\n"
        << "[[route]]\npath_prefix = \"/public\"\nupstream = \"" << up << "\"\npublic = true\n\n"
        << "[[route]]\npath_prefix = \"/\"\nupstream = \"" << up << "\"\n";
  }

  std::string config_path() const { return dir_.file("gatehouse.toml"); }
  CommandResult cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--config", config_path()});
    return run_gatehouse(args, input);
  }
  std::string raw(const std::string& request) { return raw_http(daemon_->port(), request); }
  static std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }
  static std::string body_of(const std::string& response) {
    const auto at = response.find("\r\n\r\n");
    return at == std::string::npos ? "" : response.substr(at + 4);
  }
  std::string session(const std::string& user, const std::string& password) {
    auto res = post_login(daemon_->port(), user, password);
    EXPECT_TRUE(res && res->status == 303) << (res ? res->body : "no answer");
    return res ? cookie_from(res->headers, "gatehouse_session") : "";
  }
  // The upstream's echo of a request, or null when the answer was not the echo.
  static json echoed(const std::string& response) {
    return json::parse(body_of(response), nullptr, false);
  }
  static std::vector<std::string> header_values(const json& echo, const std::string& name) {
    std::vector<std::string> out;
    if (!echo.is_object()) return out;
    for (auto& [k, v] : echo["headers"].items())
      if (strcasecmp(k.c_str(), name.c_str()) == 0)
        for (auto& x : v) out.push_back(x.get<std::string>());
    return out;
  }

  TempDir dir_;
  EchoUpstream upstream_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(HygieneTest, AMalformedHostNeverFallsToTheHostlessRoute) {
  start();
  const std::string bob = session("bob", "bob-password");
  // The host route refuses bob; a malformed Host must not turn that into the host-less
  // route's 200.
  const std::string ok = raw("GET /x HTTP/1.1\r\nHost: secure.example.org\r\nCookie: " + bob +
                             "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(ok), "HTTP/1.1 403 Forbidden");
  const int before = upstream_.requests();
  for (const std::string host :
       {"secure.example.org:80:80", "secure.example.org:80:", "secure.example.org::80", "secure.example.org:",
        "secure.example.org:0", "secure.example.org:65536", "secure.example.org:8o", "secure.example.org x",
        "user@secure.example.org", "secure.example.org@other", "secure.example.org/x", "secure.example.org\\x",
        "secure.example.org;x", "secure.example.org,other", "secure..example.org", "-secure.example.org",
        "secure.example.org..", "[secure.example.org]", "[::1", "[::1]:80:80", "secure_example.org",
        "secure.example.org%2e", "\"secure.example.org\"", "*", ":80", ""}) {
    const std::string r = raw("GET /x HTTP/1.1\r\nHost: " + host + "\r\nCookie: " + bob + "\r\n\r\n");
    EXPECT_EQ(status_line(r), "HTTP/1.1 400 Bad Request") << "Host: " << host;
    EXPECT_NE(r.find("Connection: close"), std::string::npos) << "Host: " << host;
  }
  EXPECT_EQ(upstream_.requests(), before);
}

TEST_F(HygieneTest, TwoHostHeadersAre400) {
  start();
  for (const std::string hosts : {"Host: a.example\r\nHost: b.example", "Host: a.example\r\nhost: a.example",
                                  "Host: secure.example.org\r\nHOST: other.example"}) {
    const std::string r = raw("GET /public/x HTTP/1.1\r\n" + hosts + "\r\n\r\n");
    EXPECT_EQ(status_line(r), "HTTP/1.1 400 Bad Request") << hosts;
  }
}

TEST_F(HygieneTest, AbsoluteFormRoutesByItsOwnHost) {
  start();
  const std::string bob = session("bob", "bob-password");
  // The target names the protected host, Host another: the target's host decides.
  const std::string r = raw("GET http://secure.example.org/x HTTP/1.1\r\nHost: public.example.org\r\nCookie: " +
                            bob + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(r), "HTTP/1.1 403 Forbidden");
  for (const std::string target : {"http://secure.example.org:80:80/x", "http://u@secure.example.org/x",
                                   "http:///x", "http://secure.example.org:0/x", "http://a b/x"}) {
    const std::string bad = raw("GET " + target + " HTTP/1.1\r\nHost: public.example.org\r\n\r\n");
    EXPECT_EQ(status_line(bad), "HTTP/1.1 400 Bad Request") << target;
  }
  // And the upstream is told the host the request was routed by.
  const std::string pub = raw("GET http://Public.Example.org:8080/public/x HTTP/1.1\r\nHost: other.example\r\n"
                              "Connection: close\r\n\r\n");
  EXPECT_EQ(header_values(echoed(pub), "Host"), std::vector<std::string>{"Public.Example.org:8080"}) << pub;
}

TEST_F(HygieneTest, TransferEncodingThatIsNotAFinalChunkedIsRefusedAndNothingIsSmuggled) {
  start();
  const std::string smuggled = "GET /public/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string te : {"identity", "chunked, identity", "gzip", "chunked,identity", "chunkedx", "",
                               "chunked\r\nTransfer-Encoding: identity", "identity\r\nTransfer-Encoding: gzip",
                               " chunked , identity", "x-custom"}) {
    const std::string r = raw("POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + "\r\n\r\n" + smuggled);
    EXPECT_EQ(status_line(r), "HTTP/1.1 400 Bad Request") << te;
    EXPECT_EQ(r.find("HTTP/1.1", 1), std::string::npos) << "a second response for TE " << te << ":\n" << r;
  }
  for (const std::string te : {"gzip, chunked", "chunked, chunked", "deflate,chunked"}) {
    const std::string r = raw("POST /public/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + "\r\n\r\n0\r\n\r\n" +
                              smuggled);
    EXPECT_EQ(status_line(r), "HTTP/1.1 501 Not Implemented") << te;
    EXPECT_EQ(r.find("HTTP/1.1", 1), std::string::npos) << te;
  }
  const std::string v10 = raw("POST /public/a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
                              smuggled);
  EXPECT_EQ(status_line(v10), "HTTP/1.1 400 Bad Request");
  for (const auto& target : upstream_.targets()) EXPECT_NE(target, "/public/smuggled");
}

TEST_F(HygieneTest, AMalformedChunkedBodyAnswers400) {
  start("", "");
  for (const std::string body :
       {"zz\r\nhello\r\n0\r\n\r\n", "-1\r\nx\r\n0\r\n\r\n", "ffffffffffffffffffff\r\nx\r\n0\r\n\r\n",
        "10000000000000000\r\nx\r\n0\r\n\r\n", "5\nhello\n0\n\n", "5\r\nhelloXX0\r\n\r\n", "5 x\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n", "5;\"\r\nhello\r\n0\r\n\r\n", "+5\r\nhello\r\n0\r\n\r\n",
        " 5\r\nhello\r\n0\r\n\r\n", "\r\nhello\r\n0\r\n\r\n"}) {
    const std::string r = raw("POST /public/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
    EXPECT_EQ(status_line(r), "HTTP/1.1 400 Bad Request") << body;
  }
  EXPECT_TRUE(daemon_->wait_for_log("status=400"));
  EXPECT_EQ(daemon_->log().find("status=-"), std::string::npos) << daemon_->log();
  // The same at the sign-in form.
  const std::string login = raw("POST /.gatehouse/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                "Content-Type: application/x-www-form-urlencoded\r\n\r\nzz\r\nusername=a\r\n0\r\n\r\n");
  EXPECT_EQ(status_line(login), "HTTP/1.1 400 Bad Request");
}

TEST_F(HygieneTest, TheUpstreamAlwaysGetsAHost) {
  start();
  const std::string v10 = raw("GET /public/x HTTP/1.0\r\n\r\n");
  EXPECT_EQ(header_values(echoed(v10), "Host"), std::vector<std::string>{"gate.example.org:8080"}) << v10;
  for (const std::string connection : {"Host", "host", "keep-alive, Host", "close, HOST"}) {
    const std::string r =
        raw("GET /public/x HTTP/1.1\r\nHost: app.example\r\nConnection: " + connection + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(header_values(echoed(r), "Host"), std::vector<std::string>{"app.example"}) << connection << r;
  }
}

TEST_F(HygieneTest, OnlyGatehousesOwnForwardingHeadersReachTheUpstream) {
  start();
  std::string request = "GET /public/x HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n";
  const std::vector<std::string> names = {
      "X-Forwarded-Prefix", "X-Forwarded-Port",  "X-Forwarded-Uri",    "X-Forwarded-Server", "X-Forwarded-Ssl",
      "X_Forwarded_For",    "x_forwarded_proto", "X-FORWARDED-HOST",   "Forwarded",          "X-Original-URL",
      "X-Rewrite-URL",      "X-Real-IP",         "x_real_ip",          "True-Client-IP",     "Client-IP",
      "X-Client-IP",        "CF-Connecting-IP",  "Fastly-Client-IP",   "X-Forwarded-For",    "X-Forwarded-Host"};
  for (const auto& n : names) request += n + ": //evil.example\r\n";
  const json echo = echoed(raw(request + "\r\n"));
  ASSERT_TRUE(echo.is_object());
  EXPECT_EQ(echo.dump().find("evil.example"), std::string::npos) << echo.dump(2);
  EXPECT_EQ(header_values(echo, "X-Forwarded-For"), std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(header_values(echo, "X-Forwarded-Host"), std::vector<std::string>{"app.example"});
}

TEST_F(HygieneTest, AnUnreadableForwardedForFromATrustedProxyIsAnUnknownClient) {
  start("trusted_proxies = [\"127.0.0.0/8\"]\n");
  // The proxy itself is in the default metrics allow list: an unknown client is not.
  for (const std::string xff : {"unknown", "", "127.1", "_hidden", "203.0.113.9:5555:1", "[2001:db8::1",
                                "1.2.3.4, garbage"}) {
    const std::string r = raw("GET /.gatehouse/metrics HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + xff +
                              "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_line(r), "HTTP/1.1 403 Forbidden") << "X-Forwarded-For: " << xff;
  }
  // The forms proxies send are read: a port suffix, a bracketed IPv6 address.
  for (const std::string xff : {"203.0.113.9:5555", "[2001:db8::1]", "[2001:db8::1]:443"}) {
    const std::string r = raw("GET /public/x HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + xff +
                              "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_line(r), "HTTP/1.1 200 OK") << xff;
  }
  EXPECT_TRUE(daemon_->wait_for_log("client=203.0.113.9 "));
  EXPECT_TRUE(daemon_->wait_for_log("client=2001:db8::1 "));
  EXPECT_TRUE(daemon_->wait_for_log("client=unknown "));
  // A loopback client with no X-Forwarded-For is the proxy itself and still allowed.
  EXPECT_EQ(status_line(raw("GET /.gatehouse/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
            "HTTP/1.1 200 OK");
}

TEST_F(HygieneTest, TheSessionCookieNeverReachesTheUpstreamHoweverCookieIsWritten) {
  start();
  const std::string cookie = session("alice", "alice-password");
  ASSERT_FALSE(cookie.empty());
  const std::string value = cookie.substr(cookie.find('=') + 1);
  // Failure messages name the variant, never the session cookie itself.
  const std::vector<std::string> variants = {"a=1, " + cookie, "a=1," + cookie + "; b=2", cookie + ", a=1",
                                             "a=1; x=2, " + cookie + ", y=3", cookie + "\r\nCookie: c=3, " + cookie};
  for (std::size_t i = 0; i < variants.size(); ++i) {
    const std::string r = raw("GET /x HTTP/1.1\r\nHost: app.example\r\nCookie: " + cookie + "\r\nCookie: " +
                              variants[i] + "\r\nConnection: close\r\n\r\n");
    const json echo = echoed(r);
    ASSERT_TRUE(echo.is_object()) << "variant " << i << ": " << status_line(r);
    EXPECT_EQ(echo.dump().find(value), std::string::npos) << "variant " << i << ": the session cookie reached the upstream";
  }
}

TEST_F(HygieneTest, TwoDifferentSessionCookiesAreNoSession) {
  start();
  const std::string alice = session("alice", "alice-password");
  const std::string bob = session("bob", "bob-password");
  const std::vector<std::string> pairs = {bob + "; " + alice, alice + "; " + bob, alice + "\r\nCookie: " + bob};
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const std::string r = raw("GET /x HTTP/1.1\r\nHost: app.example\r\nCookie: " + pairs[i] + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_line(r), "HTTP/1.1 401 Unauthorized") << "pair " << i;
  }
  // The same cookie twice is still that session.
  const std::string twice = raw("GET /x HTTP/1.1\r\nHost: app.example\r\nCookie: " + alice + "; " + alice +
                                "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(twice), "HTTP/1.1 200 OK");
}

TEST_F(HygieneTest, AnApplicationCannotSetGatehousesCookies) {
  start();
  const std::vector<std::string> tossed = {"gatehouse_session=planted; Path=/", "GATEHOUSE_SESSION=planted",
                                           "gatehouse_session_csrf=planted; Path=/.gatehouse/",
                                           "__Host-gatehouse_session=planted; Path=/; Secure",
                                           "gatehouse_oidc_abc=planted"};
  std::string query;
  for (const auto& c : tossed) query += (query.empty() ? "?c=" : "&c=") + query_encode(c);
  query += "&c=app%3D1";
  const std::string r = raw("GET /public/set-cookie" + query + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(r), "HTTP/1.1 200 OK") << r;
  EXPECT_EQ(r.find("planted"), std::string::npos) << r;
  EXPECT_NE(r.find("Set-Cookie: app=1"), std::string::npos) << r;
}

TEST_F(HygieneTest, AClientInventedCsrfBindingGetsAFreshOneAndItsTokenFails) {
  start();
  const std::string invented = "gatehouse_session_csrf=" + std::string(32, 'A');
  const std::string form = raw("GET /.gatehouse/login HTTP/1.1\r\nHost: x\r\nCookie: " + invented +
                               "\r\nConnection: close\r\n\r\n");
  EXPECT_NE(form.find("Set-Cookie: gatehouse_session_csrf="), std::string::npos) << "no fresh binding:\n" << form;
  const auto at = form.find("name=\"csrf\" value=\"");
  ASSERT_NE(at, std::string::npos);
  const auto start_at = at + 19;
  const std::string token = form.substr(start_at, form.find('"', start_at) - start_at);
  // The token belongs to the fresh binding: with the invented one it fails.
  const std::string body = "username=alice&password=alice-password&csrf=" + token + "&rd=%2F";
  const std::string post = raw("POST /.gatehouse/login HTTP/1.1\r\nHost: x\r\nCookie: " + invented +
                               "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  EXPECT_EQ(status_line(post), "HTTP/1.1 403 Forbidden");
}

TEST_F(HygieneTest, ALoginRotatesTheCsrfBinding) {
  start();
  auto res = post_login(daemon_->port(), "alice", "alice-password");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 303);
  EXPECT_FALSE(cookie_from(res->headers, "gatehouse_session_csrf").empty()) << "no new binding at sign-in";
}

TEST_F(HygieneTest, TraceIsRefusedAndInternalEndpointsAnswerWrongMethodsWith405) {
  start();
  for (const std::string method : {"TRACE", "TRACK"}) {
    const std::string r = raw(method + " /public/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_line(r), "HTTP/1.1 405 Method Not Allowed") << method;
  }
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"POST", "/.gatehouse/whoami", "GET, HEAD"},       {"DELETE", "/.gatehouse/healthz", "GET, HEAD"},
      {"PUT", "/.gatehouse/readyz", "GET, HEAD"},        {"POST", "/.gatehouse/metrics", "GET, HEAD"},
      {"POST", "/.gatehouse/jwks.json", "GET, HEAD"},    {"GET", "/.gatehouse/logout", "POST"},
      {"PUT", "/.gatehouse/login", "GET, HEAD, POST"},   {"OPTIONS", "/.gatehouse/login", "GET, HEAD, POST"},
      {"POST", "/.gatehouse/oidc/x/start", "GET, HEAD"}, {"PATCH", "/.gatehouse/whoami", "GET, HEAD"}};
  for (const auto& [method, path, allow] : cases) {
    const std::string r = raw(method + " " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_line(r), "HTTP/1.1 405 Method Not Allowed") << method << " " << path;
    EXPECT_NE(r.find("Allow: " + allow + "\r\n"), std::string::npos) << method << " " << path << "\n" << r;
  }
  EXPECT_EQ(status_line(raw("GET /.gatehouse/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
            "HTTP/1.1 404 Not Found");
}

TEST_F(HygieneTest, TheAccessLogNamesTheUserOnA403) {
  start();
  const std::string bob = session("bob", "bob-password");
  const std::string r = raw("GET /x HTTP/1.1\r\nHost: secure.example.org\r\nCookie: " + bob + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(r), "HTTP/1.1 403 Forbidden");
  EXPECT_TRUE(daemon_->wait_for_log("user=bob status=403")) << daemon_->log();
}

TEST_F(HygieneTest, LocalNamesAreCaseInsensitiveForSignInAndAdministration) {
  start();
  // The lockout counts "ALICE" towards alice: signing in agrees, as the stored name.
  const std::string cookie = session("ALICE", "alice-password");
  ASSERT_FALSE(cookie.empty());
  const std::string who = raw("GET /.gatehouse/whoami HTTP/1.1\r\nHost: x\r\nCookie: " + cookie +
                              "\r\nConnection: close\r\n\r\n");
  EXPECT_NE(who.find("\"user\":\"alice\""), std::string::npos) << who;
  // A case variant cannot be added beside her.
  EXPECT_NE(cli({"user", "add", "Alice", "--tenant", "acme", "--password-stdin"}, "x-password\n").exit_code, 0);
  // Disabling "Alice" disables alice and ends her session.
  ASSERT_EQ(cli({"user", "disable", "Alice"}).exit_code, 0);
  std::string status;
  for (int i = 0; i < 50; ++i) {
    status = status_line(raw("GET /x HTTP/1.1\r\nHost: x\r\nCookie: " + cookie + "\r\nConnection: close\r\n\r\n"));
    if (status == "HTTP/1.1 401 Unauthorized") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, "HTTP/1.1 401 Unauthorized");
  auto again = post_login(daemon_->port(), "alice", "alice-password");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 401);
}

TEST_F(HygieneTest, AHeaderTricklingInIsCutAtHeaderTimeoutButAnIdleConnectionIsNot) {
  start("header_timeout = \"1s\"\nkeepalive_timeout = \"30s\"\n");
  // Slowloris: the header a byte every 0.3 s would take 10 s; the server closes at 1 s.
  const int fd = connect_loopback(daemon_->port());
  ASSERT_GE(fd, 0);
  const std::string head = "GET /public/x HTTP/1.1\r\n";
  ASSERT_EQ(write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
  const std::string trickle = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  bool cut = false;
  for (char ch : trickle) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (send(fd, &ch, 1, MSG_NOSIGNAL) != 1) {
      cut = true;
      break;
    }
  }
  if (!cut) {
    char buf[64];
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    cut = read(fd, buf, sizeof buf) <= 0;
  }
  close(fd);
  EXPECT_TRUE(cut) << "the trickling header was never cut";
  EXPECT_TRUE(daemon_->wait_for_log("event=http.header_timeout")) << daemon_->log();

  // A keep-alive connection idle for longer than header_timeout is still served.
  const int idle = connect_loopback(daemon_->port());
  ASSERT_GE(idle, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  const std::string request = "GET /public/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(write(idle, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string got;
  read_until(idle, got, "body_bytes");
  close(idle);
  EXPECT_EQ(got.substr(0, 15), "HTTP/1.1 200 OK") << got;
}

// An upstream that answers one request with a chunked body written piece by piece: each
// piece after its delay, or after the test releases it.
class ScriptedUpstream {
 public:
  struct Piece {
    std::string data;
    int delay_ms = 0;
    bool wait_release = false;
  };
  ScriptedUpstream(std::string head, std::vector<Piece> pieces) : head_(std::move(head)), pieces_(std::move(pieces)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(fd_, 4);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedUpstream() {
    release();
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void release() {
    if (!released_.exchange(true)) go_.set_value();
  }

 private:
  void serve() {
    const int c = accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    auto send_all = [c](const std::string& s) { (void)!write(c, s.data(), s.size()); };
    send_all(head_);
    auto released = go_.get_future();
    for (const auto& p : pieces_) {
      if (p.wait_release) released.wait_for(std::chrono::seconds(20));
      if (p.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(p.delay_ms));
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", p.data.size());
      send_all(std::string(size) + p.data + "\r\n");
    }
    send_all("0\r\n\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    close(c);
  }

  std::string head_;
  std::vector<Piece> pieces_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::promise<void> go_;
  std::atomic<bool> released_{false};
};

// Reads from `fd` until `needle` has arrived or 10 s pass; everything read so far.
std::string read_until(int fd, std::string& got, const std::string& needle) {
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[4096];
  while (got.find(needle) == std::string::npos) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

constexpr const char* kEventStreamHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

TEST_F(HygieneTest, AnEventIsForwardedAsSoonAsTheUpstreamSendsIt) {
  // The second event is only sent after the client has the first: a gateway that waits
  // for a full buffer never delivers the first, and the test fails.
  ScriptedUpstream events(kEventStreamHead, {{"data: one\n\n"}, {"data: two\n\n", 0, true}});
  start("", events.url());
  const int fd = connect_loopback(daemon_->port());
  ASSERT_GE(fd, 0);
  const std::string request = "GET /public/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";
  ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string got;
  read_until(fd, got, "data: one");
  EXPECT_NE(got.find("data: one"), std::string::npos) << "the first event did not arrive on its own:\n" << got;
  EXPECT_EQ(got.find("data: two"), std::string::npos);
  events.release();
  read_until(fd, got, "0\r\n\r\n");
  close(fd);
  EXPECT_NE(got.find("data: two"), std::string::npos) << got;
}

TEST_F(HygieneTest, AStreamThatKeepsFlowingOutlivesTheUpstreamTimeout) {
  // upstream_timeout is 1 s; the stream lasts 2.4 s with an event every 0.4 s.
  std::vector<ScriptedUpstream::Piece> pieces;
  for (int i = 0; i < 6; ++i) pieces.push_back({"data: " + std::to_string(i) + "\n\n", 400, false});
  ScriptedUpstream events(kEventStreamHead, pieces);
  start("", events.url());
  const std::string r = raw("GET /public/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  for (int i = 0; i < 6; ++i) EXPECT_NE(r.find("data: " + std::to_string(i)), std::string::npos) << i << "\n" << r;
  EXPECT_NE(r.find("\r\n0\r\n\r\n"), std::string::npos) << "the stream was cut:\n" << r;
}

TEST_F(HygieneTest, AnUploadThatKeepsFlowingOutlivesTheUpstreamTimeout) {
  start();
  const int fd = connect_loopback(daemon_->port());
  ASSERT_GE(fd, 0);
  const std::string head = "POST /public/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
  const std::string piece(1000, 'u');
  for (int i = 0; i < 6; ++i) {  // 2.4 s in all, 0.4 s apart; upstream_timeout is 1 s
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    const std::string chunk = "3e8\r\n" + piece + "\r\n";
    ASSERT_EQ(write(fd, chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
  }
  const std::string end = "0\r\n\r\n";
  ASSERT_EQ(write(fd, end.data(), end.size()), 5);
  std::string got;
  read_until(fd, got, "body_bytes");
  close(fd);
  EXPECT_EQ(got.substr(0, 15), "HTTP/1.1 200 OK") << got;
  EXPECT_NE(got.find("\"body_bytes\":6000"), std::string::npos) << got;
}

}  // namespace
}  // namespace gatehouse::testing
