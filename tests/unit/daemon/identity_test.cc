#include "daemon/identity.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "daemon/asio.h"

namespace gatehouse::daemon {
namespace {

const std::vector<std::string> kOwnCookies = {"gatehouse_session", "gatehouse_session_csrf", "gatehouse_oidc_*"};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_identity_name(std::string_view name) {
  std::string n = lower(name);
  for (auto& c : n)
    if (c == '_') c = '-';
  return n.starts_with("x-gatehouse-");
}

std::vector<std::pair<std::string, std::string>> all_fields(const http::fields& f) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& h : f) out.emplace_back(std::string(h.name_string()), std::string(h.value()));
  return out;
}

// Every output field whose name equals `name` case-insensitively.
std::vector<std::string> values_of(const http::fields& f, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& h : f)
    if (lower(h.name_string()) == lower(name)) out.emplace_back(h.value());
  return out;
}

std::string dump(const http::fields& f) {
  std::string out;
  for (const auto& [n, v] : all_fields(f)) out += "  " + n + ": " + v + "\n";
  return out;
}

// What a hostile client sends: spoofed identity, hop-by-hop and framing headers.
http::fields hostile_client_headers() {
  http::fields c;
  c.insert("Host", "app.example.org");
  c.insert("X-Gatehouse-User", "root");
  c.insert("Accept", "text/html");
  c.insert("x-gatehouse-user", "root2");
  c.insert("X_Gatehouse_User", "root3");
  c.insert("X-GATEHOUSE-ASSERTION", "forged.jwt.value");
  c.insert("X-Gatehouse-Groups", "admins");
  c.insert("x_gatehouse-effective-party", "victim");
  c.insert("Connection", "close");
  c.insert("X-Custom", "kept");
  c.insert("Keep-Alive", "timeout=5");
  c.insert("TE", "trailers");
  c.insert("Upgrade", "websocket");
  c.insert("Transfer-Encoding", "chunked");
  c.insert("Proxy-Authorization", "Basic Zm9vOmJhcg==");
  c.insert("Proxy-Connection", "keep-alive");
  c.insert("Trailer", "X-Trailer");
  c.insert("Connection", "X-Drop");
  c.insert("X-Drop", "1");
  c.insert("X-Forwarded-For", "6.6.6.6");
  c.insert("x-forwarded-proto", "https");
  c.insert("X-Forwarded-Host", "evil.example");
  c.insert("Forwarded", "for=6.6.6.6;host=evil.example;proto=https");
  c.insert("Expect", "100-continue");
  c.insert("Content-Length", "42");
  c.insert("Cookie", "a=1; gatehouse_session=SECRET; b=2; gatehouse_session_csrf=Z");
  return c;
}

ForwardInfo forward_info() {
  ForwardInfo f;
  f.client_address = "192.0.2.10";
  f.forwarded_for = "192.0.2.10";
  f.proto = "http";
  f.host = "app.example.org";
  f.host_header = "app.example.org";
  return f;
}

auth::Principal alice_session() {
  auth::Principal s;
  s.session_id = std::string(32, '\x01');
  s.user = {"local", "alice"};
  s.email = "alice@example.org";
  s.display_name = "Alice Example";
  s.groups = {"staff", "admins", "ops"};
  s.real_party = "example";
  s.effective_party = "customer";
  s.delegation_id = 42;
  s.delegation_until = 1'800'000'000;
  return s;
}

http::fields upstream(const http::fields& client, const auth::Principal* session,
                      std::string_view assertion = "header.payload.signature") {
  http::fields out;
  build_upstream_fields(client, out, forward_info(), session, assertion, kOwnCookies);
  return out;
}

TEST(UpstreamFieldsTest, NoSpoofedHopByHopOrFramingHeaderSurvives) {
  const auto session = alice_session();
  for (const auth::Principal* s : {static_cast<const auth::Principal*>(nullptr), &session}) {
    const http::fields out = upstream(hostile_client_headers(), s);
    for (const auto& [name, value] : all_fields(out)) {
      const std::string n = lower(name);
      for (const char* banned : {"connection", "keep-alive", "te", "upgrade", "transfer-encoding",
                                 "proxy-authorization", "proxy-connection", "trailer", "x-drop",
                                 "forwarded", "expect", "content-length"})
        EXPECT_NE(n, banned) << "with session: " << (s != nullptr) << "\n" << dump(out);
      EXPECT_NE(value, "root") << name;
      EXPECT_NE(value, "root2") << name;
      EXPECT_NE(value, "root3") << name;
      EXPECT_NE(value, "forged.jwt.value") << name;
      EXPECT_NE(value, "victim") << name;
      EXPECT_EQ(value.find("6.6.6.6"), std::string::npos) << name;
      EXPECT_EQ(value.find("evil.example"), std::string::npos) << name;
      EXPECT_EQ(value.find("SECRET"), std::string::npos) << name;
    }
  }
}

TEST(UpstreamFieldsTest, OrdinaryHeadersSurvive) {
  const http::fields out = upstream(hostile_client_headers(), nullptr);
  EXPECT_EQ(values_of(out, "X-Custom"), std::vector<std::string>{"kept"});
  EXPECT_EQ(values_of(out, "Accept"), std::vector<std::string>{"text/html"});
  EXPECT_EQ(values_of(out, "Host"), std::vector<std::string>{"app.example.org"});
}

TEST(UpstreamFieldsTest, GatehouseCookiesAreRemovedFromCookie) {
  const http::fields out = upstream(hostile_client_headers(), nullptr);
  EXPECT_EQ(values_of(out, "Cookie"), std::vector<std::string>{"a=1; b=2"});
}

TEST(UpstreamFieldsTest, CookieHeaderHoldingOnlyGatehouseCookiesIsDropped) {
  http::fields client;
  client.insert("Cookie", "gatehouse_session=SECRET; gatehouse_session_csrf=Z");
  const http::fields out = upstream(client, nullptr);
  EXPECT_TRUE(values_of(out, "Cookie").empty()) << dump(out);
}

TEST(UpstreamFieldsTest, EveryCookieHeaderIsCleaned) {
  http::fields client;
  client.insert("Cookie", "gatehouse_session=ONE; a=1");
  client.insert("X-Other", "x");
  client.insert("cookie", "b=2; gatehouse_session=TWO");
  const http::fields out = upstream(client, nullptr);
  for (const auto& [name, value] : all_fields(out)) {
    EXPECT_EQ(value.find("ONE"), std::string::npos) << dump(out);
    EXPECT_EQ(value.find("TWO"), std::string::npos) << dump(out);
  }
  EXPECT_EQ(values_of(out, "Cookie"), (std::vector<std::string>{"a=1", "b=2"}));
}

TEST(UpstreamFieldsTest, ForwardedHeadersAreExactlyGatehousesOwn) {
  const http::fields out = upstream(hostile_client_headers(), nullptr);
  EXPECT_EQ(values_of(out, "X-Forwarded-For"), std::vector<std::string>{"192.0.2.10"});
  EXPECT_EQ(values_of(out, "X-Forwarded-Proto"), std::vector<std::string>{"http"});
  EXPECT_EQ(values_of(out, "X-Forwarded-Host"), std::vector<std::string>{"app.example.org"});
  EXPECT_TRUE(values_of(out, "Forwarded").empty());
}

// Every header that claims where a request came from, in the spellings applications
// read (Werkzeug's ProxyFix, Spring's ForwardedHeaderFilter, IIS, CDNs).
class ForwardingClaim : public ::testing::TestWithParam<const char*> {};

TEST_P(ForwardingClaim, NeverReachesTheUpstreamInAnySpelling) {
  const std::string name = GetParam();
  std::vector<std::string> spellings = {name, lower(name)};
  std::string upper = name, underscored = name, mixed = name;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (auto& c : underscored) c = c == '-' ? '_' : c;
  for (std::size_t i = 0; i < mixed.size(); i += 2) mixed[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(mixed[i])));
  spellings.insert(spellings.end(), {upper, underscored, mixed});
  for (const auto& spelling : spellings) {
    http::fields client;
    client.insert("Host", "app.example.org");
    client.insert(spelling, "//evil.example");
    const http::fields out = upstream(client, nullptr);
    for (const auto& [n, v] : all_fields(out)) EXPECT_NE(v, "//evil.example") << spelling << "\n" << dump(out);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ForwardingClaim,
    ::testing::Values("X-Forwarded-Prefix", "X-Forwarded-Port", "X-Forwarded-Uri", "X-Forwarded-Server",
                      "X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Forwarded-Path", "X-Forwarded-For",
                      "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Anything", "Forwarded",
                      "X-Original-URL", "X-Rewrite-URL", "X-Real-IP", "True-Client-IP", "Client-IP", "X-Client-IP",
                      "X-Cluster-Client-IP", "X-Original-Host", "X-Host", "X-Originating-IP", "X-Remote-IP",
                      "X-Remote-Addr", "CF-Connecting-IP", "Fastly-Client-IP"));

TEST(UpstreamFieldsTest, UnderscoreForwardedForBesideOursIsRemoved) {
  http::fields client;
  client.insert("X_Forwarded_For", "6.6.6.6");
  client.insert("x_forwarded_for", "6.6.6.7");
  const http::fields out = upstream(client, nullptr);
  const std::string all = dump(out);
  EXPECT_EQ(all.find("6.6.6."), std::string::npos) << all;
  EXPECT_EQ(values_of(out, "X-Forwarded-For"), std::vector<std::string>{"192.0.2.10"});
}

TEST(UpstreamFieldsTest, HostIsAlwaysSentEvenWhenConnectionNamesItOrTheClientSentNone) {
  for (const char* connection : {"Host", "host", "close, Host", "HOST, keep-alive"}) {
    http::fields client;
    client.insert("Host", "app.example.org");
    client.insert("Connection", connection);
    const http::fields out = upstream(client, nullptr);
    EXPECT_EQ(values_of(out, "Host"), std::vector<std::string>{"app.example.org"}) << connection;
  }
  http::fields none;  // HTTP/1.0 without Host: ForwardInfo carries the public name
  ForwardInfo fwd = forward_info();
  fwd.host_header = "gate.example.org:8080";
  http::fields out;
  build_upstream_fields(none, out, fwd, nullptr, "", kOwnCookies);
  EXPECT_EQ(values_of(out, "Host"), std::vector<std::string>{"gate.example.org:8080"});
}

TEST(UpstreamFieldsTest, SessionCookieIsRemovedHoweverTheCookieHeaderIsWritten) {
  const std::vector<std::string> headers = {
      "a=1, gatehouse_session=SECRET",        "a=1,gatehouse_session=SECRET; b=2",
      "gatehouse_session=SECRET, a=1",        "a=1; x=2, gatehouse_session=SECRET, y=3",
      "GATEHOUSE_SESSION=SECRET; a=1",        "a=1;  \"gatehouse_session\"=SECRET",
      "a=1; Gatehouse_Session =SECRET",       "gatehouse_session_csrf=SECRET, gatehouse_session=SECRET",
      "a=1,,gatehouse_session=SECRET,,b=2",   "a=1;gatehouse_session=SECRET,gatehouse_session=SECRET"};
  for (const auto& h : headers) {
    http::fields client;
    client.insert("Cookie", h);
    client.insert("Cookie", "c=3, gatehouse_session=SECRET");
    const http::fields out = upstream(client, nullptr);
    EXPECT_EQ(dump(out).find("SECRET"), std::string::npos) << h << "\n" << dump(out);
  }
  http::fields client;
  client.insert("Cookie", "a=1,2; b=x,y; gatehouse_session=S");
  EXPECT_EQ(values_of(upstream(client, nullptr), "Cookie"), std::vector<std::string>{"a=1,2; b=x,y"});
}

TEST(UpstreamFieldsTest, ForwardedForChainIsSentAsDecided) {
  http::fields client;
  client.insert("X-Forwarded-For", "6.6.6.6");
  ForwardInfo fwd = forward_info();
  fwd.forwarded_for = "198.51.100.7, 10.0.0.2";
  fwd.proto = "https";
  http::fields out;
  build_upstream_fields(client, out, fwd, nullptr, "", kOwnCookies);
  EXPECT_EQ(values_of(out, "X-Forwarded-For"), std::vector<std::string>{"198.51.100.7, 10.0.0.2"});
  EXPECT_EQ(values_of(out, "X-Forwarded-Proto"), std::vector<std::string>{"https"});
}

TEST(UpstreamFieldsTest, SessionSetsEveryIdentityHeaderFromTheRecord) {
  const auto session = alice_session();
  const http::fields out = upstream(hostile_client_headers(), &session, "h.p.s");
  const std::vector<std::pair<const char*, const char*>> expected = {
      {"X-Gatehouse-User", "alice"},
      {"X-Gatehouse-Email", "alice@example.org"},
      {"X-Gatehouse-Name", "Alice Example"},
      {"X-Gatehouse-Groups", "staff,admins,ops"},
      {"X-Gatehouse-Roles", ""},
      {"X-Gatehouse-Real-Party", "example"},
      {"X-Gatehouse-Effective-Party", "customer"},
      {"X-Gatehouse-Delegation", "42"},
      {"X-Gatehouse-Delegation-Until", "2027-01-15T08:00:00Z"},
      {"X-Gatehouse-Source", "local"},
      {"X-Gatehouse-Assertion", "h.p.s"},
  };
  for (const auto& [name, value] : expected)
    EXPECT_EQ(values_of(out, name), std::vector<std::string>{value}) << name << "\n" << dump(out);

  int identity_headers = 0;
  for (const auto& [name, value] : all_fields(out))
    if (is_identity_name(name)) ++identity_headers;
  EXPECT_EQ(identity_headers, 11) << "only gatehouse's own identity headers\n" << dump(out);
  // Acting for the own tenant: the delegation headers are there, and empty.
  auto own = alice_session();
  own.effective_party = own.real_party;
  own.delegation_id = 0;
  own.delegation_until = 0;
  const http::fields plain = upstream(hostile_client_headers(), &own, "h.p.s");
  EXPECT_EQ(values_of(plain, "X-Gatehouse-Delegation"), std::vector<std::string>{""});
  EXPECT_EQ(values_of(plain, "X-Gatehouse-Delegation-Until"), std::vector<std::string>{""});
}

TEST(UpstreamFieldsTest, CommaInAGroupNameCannotForgeAnotherGroup) {
  auto session = alice_session();
  session.groups = {"x,admins", "R&D, Europe", "100%"};
  const http::fields out = upstream(hostile_client_headers(), &session);
  EXPECT_EQ(values_of(out, "X-Gatehouse-Groups"), std::vector<std::string>{"x%2Cadmins,R&D%2C Europe,100%25"});
}

TEST(UpstreamFieldsTest, PublicRouteWithoutSessionGetsNoIdentityHeaderAtAll) {
  const http::fields out = upstream(hostile_client_headers(), nullptr);
  for (const auto& [name, value] : all_fields(out))
    EXPECT_FALSE(is_identity_name(name)) << name << ": " << value;
}

TEST(UpstreamFieldsTest, IdentityValuesCannotSplitHeaders) {
  auto session = alice_session();
  session.display_name = "Mallory\r\nX-Injected: 1";
  session.user.name = "mallory\n";
  session.email = "m@example.org\rX-Other: 2";
  session.groups = {"staff\r\nX-Group: 1", "ops"};
  session.effective_party = "p\x01q\x7f";
  http::fields client;
  client.insert("Accept", "*/*");
  ForwardInfo fwd = forward_info();
  fwd.host = "app.example.org\r\nX-Host: 1";
  http::fields out;
  build_upstream_fields(client, out, fwd, &session, "a.b.c", kOwnCookies);
  for (const auto& [name, value] : all_fields(out)) {
    EXPECT_EQ(value.find('\r'), std::string::npos) << name;
    EXPECT_EQ(value.find('\n'), std::string::npos) << name;
    for (unsigned char c : value) EXPECT_FALSE(c < 0x20 || c == 0x7f) << name;
    EXPECT_NE(lower(name), "x-injected");
  }
  const auto name = values_of(out, "X-Gatehouse-Name");
  ASSERT_EQ(name.size(), 1u);
  EXPECT_NE(name[0].find("Mallory"), std::string::npos);
}

TEST(UpstreamFieldsTest, HeaderNamedInASingleConnectionListIsDropped) {
  http::fields client;
  client.insert("Connection", "keep-alive, X-Drop ,x-also-drop");
  client.insert("X-Drop", "1");
  client.insert("X-Also-Drop", "2");
  client.insert("X-Keep", "3");
  const http::fields out = upstream(client, nullptr);
  EXPECT_TRUE(values_of(out, "X-Drop").empty()) << dump(out);
  EXPECT_TRUE(values_of(out, "X-Also-Drop").empty()) << dump(out);
  EXPECT_EQ(values_of(out, "X-Keep"), std::vector<std::string>{"3"});
}

TEST(UpstreamFieldsTest, HeaderNamedInAnyOfSeveralConnectionLinesIsDropped) {
  // Beast keeps fields of one name together, but the lines arrive apart on the wire.
  http::fields client;
  client.insert("Connection", "close");
  client.insert("X-Custom", "kept");
  client.insert("connection", "X-Drop");
  client.insert("X-Drop", "1");
  client.insert("CONNECTION", "x-drop-too");
  client.insert("X-Drop-Too", "2");
  const http::fields out = upstream(client, nullptr);
  EXPECT_TRUE(values_of(out, "X-Drop").empty()) << dump(out);
  EXPECT_TRUE(values_of(out, "X-Drop-Too").empty()) << dump(out);
  EXPECT_TRUE(values_of(out, "Connection").empty()) << dump(out);
  EXPECT_EQ(values_of(out, "X-Custom"), std::vector<std::string>{"kept"});
}

TEST(DownstreamFieldsTest, AnApplicationCannotSetGatehousesCookies) {
  const std::vector<std::string> tossed = {
      "gatehouse_session=attacker; Path=/",         "GATEHOUSE_SESSION=x",
      "gatehouse_session_csrf=planted; Path=/.gatehouse/", "__Host-gatehouse_session=x; Path=/; Secure",
      "__Secure-gatehouse_session=x; Secure",       " gatehouse_session =x",
      "\"gatehouse_session\"=x",                     "gatehouse_session=; Max-Age=0",
      "gatehouse_oidc_abcdef=x; Path=/.gatehouse/oidc/p/callback", "gatehouse_session"};
  for (const auto& value : tossed) {
    http::fields up;
    up.insert("Set-Cookie", value);
    up.insert("Set-Cookie", "app=1; Path=/");
    http::fields out;
    build_downstream_fields(up, out, kOwnCookies);
    EXPECT_EQ(values_of(out, "Set-Cookie"), std::vector<std::string>{"app=1; Path=/"}) << value;
  }
  http::fields up;
  up.insert("Set-Cookie", "gatehouse_session2=x");
  up.insert("Set-Cookie", "my_gatehouse_session=x");
  http::fields out;
  build_downstream_fields(up, out, kOwnCookies);
  EXPECT_EQ(values_of(out, "Set-Cookie").size(), 2u) << dump(out);
}

TEST(DownstreamFieldsTest, DropsHopByHopAndContentLengthAndKeepsTheRest) {
  http::fields up;
  up.insert("Content-Type", "text/html");
  up.insert("Set-Cookie", "a=1; Path=/");
  up.insert("Connection", "keep-alive, X-Internal");
  up.insert("Keep-Alive", "timeout=5");
  up.insert("Transfer-Encoding", "chunked");
  up.insert("Content-Length", "99");
  up.insert("Upgrade", "h2c");
  up.insert("Proxy-Authenticate", "Basic");
  up.insert("X-Internal", "secret");
  up.insert("Set-Cookie", "b=2; Path=/; HttpOnly");
  up.insert("Cache-Control", "no-store");
  up.insert("Location", "/next");
  http::fields out;
  build_downstream_fields(up, out, kOwnCookies);
  for (const auto& [name, value] : all_fields(out)) {
    const std::string n = lower(name);
    for (const char* banned : {"connection", "keep-alive", "transfer-encoding", "content-length",
                               "upgrade", "proxy-authenticate", "x-internal"})
      EXPECT_NE(n, banned) << dump(out);
  }
  EXPECT_EQ(values_of(out, "Set-Cookie"),
            (std::vector<std::string>{"a=1; Path=/", "b=2; Path=/; HttpOnly"}));
  EXPECT_EQ(values_of(out, "Content-Type"), std::vector<std::string>{"text/html"});
  EXPECT_EQ(values_of(out, "Cache-Control"), std::vector<std::string>{"no-store"});
  EXPECT_EQ(values_of(out, "Location"), std::vector<std::string>{"/next"});
}

struct HopCase {
  const char* name;
  bool hop;
};

void PrintTo(const HopCase& c, std::ostream* os) { *os << '"' << c.name << '"'; }

class HopByHop : public ::testing::TestWithParam<HopCase> {};

TEST_P(HopByHop, IsRecognisedCaseInsensitively) {
  EXPECT_EQ(is_hop_by_hop(GetParam().name), GetParam().hop) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Table, HopByHop,
    ::testing::Values(HopCase{"Connection", true}, HopCase{"KEEP-ALIVE", true}, HopCase{"te", true},
                      HopCase{"Transfer-Encoding", true}, HopCase{"Upgrade", true},
                      HopCase{"Proxy-Authorization", true}, HopCase{"Proxy-Authenticate", true},
                      HopCase{"Proxy-Connection", true}, HopCase{"Trailer", true},
                      HopCase{"Content-Type", false}, HopCase{"Cookie", false},
                      HopCase{"Authorization", false}, HopCase{"Tea", false}, HopCase{"", false}));

TEST(HeaderSafeTest, ReplacesControlCharactersAndKeepsTheRest) {
  EXPECT_EQ(header_safe("a\r\nb"), "a  b");
  EXPECT_EQ(header_safe(std::string("a\0b", 3)), "a b");
  EXPECT_EQ(header_safe("x\x7fy\tz"), "x y z");
  EXPECT_EQ(header_safe("Zoë, \"quoted\""), "Zoë, \"quoted\"");
}

}  // namespace
}  // namespace gatehouse::daemon
