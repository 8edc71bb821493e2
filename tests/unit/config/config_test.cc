#include "config/config.h"

#include <gtest/gtest.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace gatehouse::config {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------
// Helpers

// A fresh directory under the system temp dir, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ =
        fs::temp_directory_path() / ("gatehouse-config-test-" + std::to_string(::getpid()) + "-" +
                                     std::to_string(now) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    std::string p = file(name);
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  fs::path path_;
};

std::vector<std::string> messages(const LoadResult& result) {
  std::vector<std::string> out;
  for (const auto& e : result.errors) out.push_back(e.to_string());
  return out;
}

std::vector<std::string> networks(const std::vector<Cidr>& list) {
  std::vector<std::string> out;
  for (const auto& c : list) out.push_back(c.to_string());
  return out;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Valid building blocks; each starts with its table header.
const std::string kServer =
    "[server]\n"
    "listen = \"127.0.0.1:8080\"\n"
    "public_url = \"http://127.0.0.1:8080\"\n";
const std::string kStore =
    "[store]\n"
    "path = \"/tmp/gatehouse-test.db\"\n";
const std::string kDirectory =
    "[[directory]]\n"
    "name = \"local\"\n"
    "kind = \"local\"\n";
const std::string kRoute =
    "[[route]]\n"
    "path_prefix = \"/\"\n"
    "upstream = \"http://127.0.0.1:9000\"\n";

// Documents whose first lines are the section under test, followed by valid remainders,
// so that the line numbers in the expectations count from the case's own text.
std::string with_server(const std::string& body) {
  return "[server]\n" + body + kStore + kDirectory + kRoute;
}
std::string with_store(const std::string& body) {
  return "[store]\n" + body + kServer + kDirectory + kRoute;
}
std::string with_keys(const std::string& body) {
  return "[keys]\n" + body + kServer + kStore + kDirectory + kRoute;
}
std::string with_session(const std::string& body) {
  return "[session]\n" + body + kServer + kStore + kDirectory + kRoute;
}
std::string with_directories(const std::string& text) { return text + kServer + kStore + kRoute; }
std::string with_routes(const std::string& text) { return text + kServer + kStore + kDirectory; }
std::string with_all(const std::string& text) {
  return text + kServer + kStore + kDirectory + kRoute;
}

// Lines 1-8: a valid kind = "ldap" table; `extra` follows on line 9.
std::string ldap_table(const std::string& extra, bool with_uri = true, bool with_password_file = true) {
  return std::string("[[directory]]\nname = \"corp\"\nkind = \"ldap\"\n") +
         (with_uri ? "tls_verify = true\n" : "") +  // keeps the line numbers when uri comes later
         "bind_dn = \"cn=gatehouse,ou=services,dc=example,dc=org\"\n" +
         (with_password_file ? "bind_password_file = \"" __FILE__ "\"\n" : "\n") +
         "user_base = \"ou=people,dc=example,dc=org\"\n" + "tenant = \"example\"\n" + extra +
         (with_uri && extra.find("uri =") == std::string::npos ? "uri = \"ldap://127.0.0.1:3389\"\n" : "");
}

const std::string kListenAndUrl =
    "listen = \"127.0.0.1:8080\"\n"
    "public_url = \"http://127.0.0.1:8080\"\n";  // lines 2 and 3 of with_server()

// ---------------------------------------------------------------------------------------
// Durations

struct DurationCase {
  const char* text;
  std::optional<long long> seconds;
};

class ParseDuration : public testing::TestWithParam<DurationCase> {};

TEST_P(ParseDuration, AcceptsIntegerWithOneLowerCaseUnitAndRejectsEverythingElse) {
  const auto& c = GetParam();
  auto d = parse_duration(c.text);
  if (c.seconds) {
    ASSERT_TRUE(d.has_value()) << c.text;
    EXPECT_EQ(d->count(), *c.seconds) << c.text;
  } else {
    EXPECT_FALSE(d.has_value()) << c.text << " parsed as " << d->count();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseDuration,
    testing::Values(DurationCase{"90s", 90}, DurationCase{"15m", 900}, DurationCase{"12h", 43200},
                    DurationCase{"7d", 604800}, DurationCase{"0s", 0}, DurationCase{"0d", 0},
                    DurationCase{"1s", 1}, DurationCase{"007m", 420},
                    DurationCase{"36500d", 3153600000}, DurationCase{"876000h", 3153600000},
                    DurationCase{"52560000m", 3153600000}, DurationCase{"3153600000s", 3153600000},
                    DurationCase{"00000000000000000000000000000036500d", 3153600000},
                    DurationCase{"", std::nullopt}, DurationCase{"15", std::nullopt},
                    DurationCase{"m", std::nullopt}, DurationCase{"s", std::nullopt},
                    DurationCase{"-5m", std::nullopt}, DurationCase{"+5m", std::nullopt},
                    DurationCase{"1.5h", std::nullopt}, DurationCase{"15 m", std::nullopt},
                    DurationCase{" 15m", std::nullopt}, DurationCase{"15m ", std::nullopt},
                    DurationCase{"15M", std::nullopt}, DurationCase{"15H", std::nullopt},
                    DurationCase{"15ms", std::nullopt}, DurationCase{"1h30m", std::nullopt},
                    DurationCase{"15w", std::nullopt}, DurationCase{"0x10s", std::nullopt},
                    DurationCase{"99999999999999999999d", std::nullopt},
                    DurationCase{"106751991167301d", std::nullopt},
                    DurationCase{"9223372036854775808s", std::nullopt},
                    // Longer than kMaxDuration (100 years): refused, never wrapped around.
                    DurationCase{"106751991167300d", std::nullopt},
                    DurationCase{"36501d", std::nullopt}, DurationCase{"876001h", std::nullopt},
                    DurationCase{"52560001m", std::nullopt}, DurationCase{"3153600001s", std::nullopt},
                    DurationCase{"9223372036854775807s", std::nullopt},
                    DurationCase{"9223372036854775807m", std::nullopt},
                    DurationCase{"9223372036854775807h", std::nullopt},
                    DurationCase{"9223372036854775807d", std::nullopt},
                    DurationCase{"153722867280912931m", std::nullopt},
                    DurationCase{"2562047788015216h", std::nullopt},
                    DurationCase{"18446744073709551616s", std::nullopt},
                    DurationCase{"18446744073709551617d", std::nullopt},
                    DurationCase{"340282366920938463463374607431768211457s", std::nullopt}));

TEST(ParseDuration, MaxDurationFitsNanosecondClocksAfterNow) {
  // The guarantee kMaxDuration gives: now + any duration fits system_clock's nanoseconds.
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto room = std::chrono::nanoseconds::max() - std::chrono::duration_cast<std::chrono::nanoseconds>(now);
  EXPECT_LT(std::chrono::duration_cast<std::chrono::nanoseconds>(kMaxDuration), room);
}

TEST(LooksLikeDuration, TellsShapeFromValue) {
  for (const char* text : {"1s", "0d", "99999999999999999999999999d", "007m"}) EXPECT_TRUE(looks_like_duration(text)) << text;
  for (const char* text : {"", "s", "5", "-5m", "5 m", "5ms", "5M", "1h30m", "0x5s", " 5s"})
    EXPECT_FALSE(looks_like_duration(text)) << text;
}

struct FormatCase {
  long long seconds;
  const char* text;
};

class FormatDuration : public testing::TestWithParam<FormatCase> {};

TEST_P(FormatDuration, PicksTheLargestExactUnitAndRoundTrips) {
  const auto& c = GetParam();
  EXPECT_EQ(format_duration(Seconds(c.seconds)), c.text);
  EXPECT_EQ(parse_duration(c.text), Seconds(c.seconds));
}

INSTANTIATE_TEST_SUITE_P(Table, FormatDuration,
                         testing::Values(FormatCase{0, "0s"}, FormatCase{1, "1s"},
                                         FormatCase{90, "90s"}, FormatCase{60, "1m"},
                                         FormatCase{900, "15m"}, FormatCase{5400, "90m"},
                                         FormatCase{3600, "1h"}, FormatCase{43200, "12h"},
                                         FormatCase{86400, "1d"}, FormatCase{90000, "25h"},
                                         FormatCase{604800, "7d"}, FormatCase{86401, "86401s"}));

// ---------------------------------------------------------------------------------------
// RFC 3339 date-times

struct Rfc3339Case {
  const char* text;
  std::optional<long long> unix_seconds;
};

class ParseRfc3339 : public testing::TestWithParam<Rfc3339Case> {};

TEST_P(ParseRfc3339, AcceptsFullDateTimesWithZoneAndRejectsEverythingElse) {
  const auto& c = GetParam();
  auto t = parse_rfc3339(c.text);
  if (c.unix_seconds) {
    ASSERT_TRUE(t.has_value()) << c.text;
    EXPECT_EQ(*t, *c.unix_seconds) << c.text;
  } else {
    EXPECT_FALSE(t.has_value()) << c.text << " parsed as " << *t;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ParseRfc3339,
                         testing::Values(Rfc3339Case{"1970-01-01T00:00:00Z", 0},
                                         Rfc3339Case{"2023-11-14T22:13:20Z", 1'700'000'000},
                                         Rfc3339Case{"2023-11-14t22:13:20z", 1'700'000'000},
                                         Rfc3339Case{"2023-11-14T23:13:20+01:00", 1'700'000'000},
                                         Rfc3339Case{"2023-11-14T20:43:20-01:30", 1'700'000'000},
                                         Rfc3339Case{"2023-11-14T22:13:20.999Z", 1'700'000'000},
                                         Rfc3339Case{"2024-02-29T00:00:00Z", 1'709'164'800},
                                         Rfc3339Case{"1969-12-31T23:59:59Z", -1},
                                         Rfc3339Case{"2000-02-29T12:00:00Z", 951'825'600},
                                         Rfc3339Case{"", std::nullopt},
                                         Rfc3339Case{"2023-11-14", std::nullopt},
                                         Rfc3339Case{"2023-11-14T22:13:20", std::nullopt},
                                         Rfc3339Case{"2023-11-14 22:13:20Z", std::nullopt},
                                         Rfc3339Case{"2023-11-14T22:13Z", std::nullopt},
                                         Rfc3339Case{"2023-13-01T00:00:00Z", std::nullopt},
                                         Rfc3339Case{"2023-02-29T00:00:00Z", std::nullopt},
                                         Rfc3339Case{"1900-02-29T00:00:00Z", std::nullopt},
                                         Rfc3339Case{"2023-04-31T00:00:00Z", std::nullopt},
                                         Rfc3339Case{"2023-11-14T24:00:00Z", std::nullopt},
                                         Rfc3339Case{"2023-11-14T22:60:00Z", std::nullopt},
                                         Rfc3339Case{"2023-11-14T22:13:20.Z", std::nullopt},
                                         Rfc3339Case{"2023-11-14T22:13:20+0100", std::nullopt},
                                         Rfc3339Case{"2023-11-14T22:13:20Z ", std::nullopt},
                                         Rfc3339Case{"yesterday", std::nullopt},
                                         Rfc3339Case{"23-11-14T22:13:20Z", std::nullopt}));

TEST(FormatRfc3339, WritesUtcAndRoundTrips) {
  for (std::int64_t t : {0LL, 1'700'000'000LL, -1LL, 951'825'600LL, 4'102'444'800LL}) {
    const std::string text = format_rfc3339(t);
    EXPECT_EQ(parse_rfc3339(text), t) << text;
  }
  EXPECT_EQ(format_rfc3339(1'700'000'000), "2023-11-14T22:13:20Z");
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59Z");
}

// ---------------------------------------------------------------------------------------
// URLs

struct UrlCase {
  const char* text;
  bool ok;
  const char* scheme = "";
  const char* host = "";
  int port = 0;
  const char* path = "";
  const char* origin = "";
};

class ParseUrl : public testing::TestWithParam<UrlCase> {};

TEST_P(ParseUrl, SplitsAbsoluteHttpUrlsAndRejectsEverythingElse) {
  const auto& c = GetParam();
  auto url = Url::parse(c.text);
  if (!c.ok) {
    EXPECT_FALSE(url.has_value()) << c.text << " parsed with host " << url->host;
    return;
  }
  ASSERT_TRUE(url.has_value()) << c.text;
  EXPECT_EQ(url->scheme, c.scheme);
  EXPECT_EQ(url->host, c.host);
  EXPECT_EQ(url->port, c.port);
  EXPECT_EQ(url->path, c.path);
  EXPECT_EQ(url->origin(), c.origin);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseUrl,
    testing::Values(
        UrlCase{"http://127.0.0.1:9000", true, "http", "127.0.0.1", 9000, "",
                "http://127.0.0.1:9000"},
        UrlCase{"http://example.org", true, "http", "example.org", 80, "", "http://example.org"},
        UrlCase{"http://example.org:80/", true, "http", "example.org", 80, "/",
                "http://example.org"},
        UrlCase{"https://example.org:443/a/b", true, "https", "example.org", 443, "/a/b",
                "https://example.org"},
        UrlCase{"https://example.org:8443", true, "https", "example.org", 8443, "",
                "https://example.org:8443"},
        UrlCase{"http://example.org:443", true, "http", "example.org", 443, "",
                "http://example.org:443"},
        UrlCase{"https://Example.ORG/App", true, "https", "example.org", 443, "/App",
                "https://example.org"},
        UrlCase{"http://[::1]:8080/x", true, "http", "::1", 8080, "/x", "http://[::1]:8080"},
        UrlCase{"http://[2001:db8::1]", true, "http", "2001:db8::1", 80, "",
                "http://[2001:db8::1]"},
        UrlCase{"http://app_1.internal-net:65535/%41b;c=d", true, "http", "app_1.internal-net",
                65535, "/%41b;c=d", "http://app_1.internal-net:65535"},
        UrlCase{"ftp://example.org", false}, UrlCase{"HTTP://example.org", false},
        UrlCase{"Https://example.org", false}, UrlCase{"example.org", false},
        UrlCase{"http:/example.org", false}, UrlCase{"http://", false},
        UrlCase{"http:///path", false}, UrlCase{"http://:8080", false},
        UrlCase{"http://user@example.org", false}, UrlCase{"http://u:p@example.org/", false},
        UrlCase{"http://example.org/?q=1", false}, UrlCase{"http://example.org/#top", false},
        UrlCase{"http://example.org?q", false}, UrlCase{"http://exa mple.org", false},
        UrlCase{"http://example.org/a b", false}, UrlCase{" http://example.org", false},
        UrlCase{"http://example.org/\x01", false}, UrlCase{"http://example.org:0", false},
        UrlCase{"http://example.org:65536", false}, UrlCase{"http://example.org:", false},
        UrlCase{"http://example.org:http", false}, UrlCase{"http://example.org:-1", false},
        UrlCase{"http://[::1", false}, UrlCase{"http://[127.0.0.1]", false},
        UrlCase{"http://[::1]x", false}, UrlCase{"http://::1:8080", false},
        UrlCase{"http://999.1.1.1", false}, UrlCase{"http://example.org/%zz", false},
        UrlCase{"http://example.org/%4", false}, UrlCase{"http://example.org/a\\b", false},
        UrlCase{"http://exam*ple.org", false}));

// ---------------------------------------------------------------------------------------
// Listen addresses

struct ListenCase {
  const char* text;
  bool ok;
  const char* host = "";
  int port = 0;
};

class ParseListenAddress : public testing::TestWithParam<ListenCase> {};

TEST_P(ParseListenAddress, AcceptsIpLiteralAndPortOnly) {
  const auto& c = GetParam();
  auto a = ListenAddress::parse(c.text);
  if (!c.ok) {
    EXPECT_FALSE(a.has_value()) << c.text << " parsed as " << a->host << " " << a->port;
    return;
  }
  ASSERT_TRUE(a.has_value()) << c.text;
  EXPECT_EQ(a->host, c.host);
  EXPECT_EQ(a->port, c.port);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseListenAddress,
    testing::Values(ListenCase{"127.0.0.1:8080", true, "127.0.0.1", 8080},
                    ListenCase{"[::1]:8443", true, "::1", 8443},
                    ListenCase{":8080", true, "0.0.0.0", 8080},
                    ListenCase{"0.0.0.0:0", true, "0.0.0.0", 0},
                    ListenCase{"[::]:65535", true, "::", 65535},
                    ListenCase{"10.1.2.3:443", true, "10.1.2.3", 443}, ListenCase{"", false},
                    ListenCase{"127.0.0.1", false}, ListenCase{"127.0.0.1:", false},
                    ListenCase{":", false}, ListenCase{"localhost:8080", false},
                    ListenCase{"::1:8080", false}, ListenCase{"[::1]", false},
                    ListenCase{"[::1]8080", false}, ListenCase{"[127.0.0.1]:8080", false},
                    ListenCase{"127.0.0.1:65536", false}, ListenCase{"127.0.0.1:-1", false},
                    ListenCase{"127.0.0.1:80x", false}, ListenCase{"127.0.0.1: 80", false},
                    ListenCase{"256.0.0.1:80", false}, ListenCase{"[::1:8080", false}));

// ---------------------------------------------------------------------------------------
// Small pieces

TEST(RouteId, IsHostFollowedByPathPrefix) {
  RouteConfig r;
  r.path_prefix = "/app";
  EXPECT_EQ(r.id(), "/app");
  r.host = "example.org";
  EXPECT_EQ(r.id(), "example.org/app");
}

TEST(ConfigErrorToString, IsFileColonLineColonMessage) {
  ConfigError e{"/etc/gatehouse/gatehouse.toml", 12, "something is wrong"};
  EXPECT_EQ(e.to_string(), "/etc/gatehouse/gatehouse.toml:12: something is wrong");
}

// ---------------------------------------------------------------------------------------
// Valid configurations

TEST(ParseConfig, MinimalConfigGetsDefaults) {
  auto result = parse_config(with_all(""), "test.toml");
  ASSERT_EQ(messages(result), std::vector<std::string>{});
  ASSERT_TRUE(result.config);
  const Config& c = *result.config;
  EXPECT_EQ(c.file, "test.toml");
  EXPECT_EQ(c.server.listen.host, "127.0.0.1");
  EXPECT_EQ(c.server.listen.port, 8080);
  EXPECT_EQ(c.server.public_url.origin(), "http://127.0.0.1:8080");
  EXPECT_TRUE(c.server.tls_cert_file.empty());
  EXPECT_TRUE(c.server.trusted_proxies.empty());
  EXPECT_EQ(c.server.upstream_connect_timeout, 5s);
  EXPECT_EQ(c.server.upstream_timeout, 60s);
  EXPECT_EQ(c.server.shutdown_timeout, 10s);
  EXPECT_EQ(c.server.header_timeout, 10s);
  EXPECT_EQ(c.server.keepalive_timeout, 75s);
  EXPECT_EQ(c.server.max_body_bytes, 1ull << 30);
  EXPECT_EQ(c.server.max_header_bytes, 16384u);
  EXPECT_EQ(c.server.threads, 0u);
  EXPECT_EQ(c.store.backend, "sqlite");
  EXPECT_EQ(c.store.path, "/tmp/gatehouse-test.db");
  EXPECT_EQ(c.keys.master_key_file, "");
  EXPECT_EQ(c.session.cookie_name, "gatehouse_session");
  EXPECT_EQ(c.session.idle_timeout, 30min);
  EXPECT_EQ(c.session.absolute_timeout, 12h);
  EXPECT_EQ(c.session.assertion_ttl, 120s);
  EXPECT_EQ(c.lockout.max_failures, 5);
  EXPECT_EQ(c.lockout.window, 15min);
  EXPECT_EQ(c.lockout.lock_duration, 0s);
  EXPECT_EQ(c.lockout.ip_max_failures, 50);
  EXPECT_EQ(c.audit.retention, 180 * 24h);
  EXPECT_EQ(networks(c.metrics.allow), (std::vector<std::string>{"127.0.0.1/32", "::1/128"}));
  EXPECT_EQ(c.log.format, log::Format::kv);
  EXPECT_EQ(c.log.level, log::Level::info);
  EXPECT_FALSE(c.log.access_log);
  ASSERT_EQ(c.directories.size(), 1u);
  EXPECT_EQ(c.directories[0].name, "local");
  EXPECT_EQ(c.directories[0].kind, DirectoryKind::local);
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].host, "");
  EXPECT_EQ(c.routes[0].path_prefix, "/");
  EXPECT_FALSE(c.routes[0].is_public);
  EXPECT_TRUE(c.routes[0].allow_groups.empty());
}

TEST(LoadConfig, TlsListenerIsRefusedUntilSupported) {
  TempDir dir;
  std::string cert = dir.write("cert.pem", "cert");
  std::string key = dir.write("key.pem", "key");
  std::string path = dir.write(
      "gatehouse.toml",
      "[server]\nlisten = \"127.0.0.1:8443\"\npublic_url = \"https://sso.example.org\"\n"
      "tls_cert_file = \"" + cert + "\"\ntls_key_file = \"" + key + "\"\n"
      "[store]\npath = \"" + dir.file("gh.db") + "\"\n"
      "[[directory]]\nname = \"local\"\nkind = \"local\"\n"
      "[[route]]\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:9000\"\n");
  auto result = load_config(path);
  EXPECT_EQ(messages(result),
            std::vector<std::string>{path + ":4: [server] tls_cert_file: a TLS listener is not supported by "
                                            "this build yet; terminate TLS in front of gatehouse and list "
                                            "that proxy in trusted_proxies"});
}

TEST(LoadConfig, FullConfigIsLoadedWithEveryValue) {
  TempDir dir;
  std::string master = dir.file("master.key");  // does not exist yet: fine
  std::string text =
      "# full example\n"
      "[server]\n"
      "listen = \"[::1]:8443\"\n"
      "public_url = \"https://SSO.example.org/\"\n"
      "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1/128\"]\n"
      "upstream_connect_timeout = \"2s\"\n"
      "upstream_timeout = \"2m\"\n"
      "shutdown_timeout = \"30s\"\n"
      "max_body_bytes = 1048576\n"
      "max_header_bytes = 1024\n"
      "threads = 256\n"
      "\n"
      "[store]\n"
      "backend = \"sqlite\"\n"
      "path = \"" +
      dir.file("gatehouse.db") +
      "\"\n"
      "\n"
      "[keys]\n"
      "master_key_file = \"" +
      master +
      "\"\n"
      "\n"
      "[session]\n"
      "cookie_name = \"__Host-gh\"\n"
      "idle_timeout = \"12h\"\n"
      "absolute_timeout = \"12h\"\n"
      "assertion_ttl = \"1h\"\n"
      "\n"
      "[[directory]]\n"
      "name = \"local\"\n"
      "kind = \"local\"\n"
      "\n"
      "[[directory]]\n"
      "name = \"staff-2\"\n"
      "kind = \"local\"\n"
      "\n"
      "[[route]]\n"
      "host = \"App.Example.org\"\n"
      "path_prefix = \"/api/\"\n"
      "upstream = \"http://10.0.0.5:8080/base\"\n"
      "allow_groups = [\"admins\", \"devs\"]\n"
      "\n"
      "[[route]]\n"
      "path_prefix = \"/public\"\n"
      "upstream = \"http://127.0.0.1:9000\"\n"
      "public = true\n"
      "allow_groups = []\n";
  std::string path = dir.write("gatehouse.toml", text);

  auto result = load_config(path);
  ASSERT_EQ(messages(result), std::vector<std::string>{});
  ASSERT_TRUE(result.config);
  const Config& c = *result.config;
  EXPECT_EQ(c.file, path);
  EXPECT_EQ(c.server.listen.host, "::1");
  EXPECT_EQ(c.server.listen.port, 8443);
  EXPECT_EQ(c.server.public_url.scheme, "https");
  EXPECT_EQ(c.server.public_url.host, "sso.example.org");
  EXPECT_EQ(c.server.public_url.path, "");
  EXPECT_EQ(c.server.public_url.origin(), "https://sso.example.org");
  EXPECT_TRUE(c.server.tls_cert_file.empty());
  ASSERT_EQ(c.server.trusted_proxies.size(), 3u);
  EXPECT_EQ(c.server.trusted_proxies[0].to_string(), "127.0.0.1/32");
  EXPECT_EQ(c.server.trusted_proxies[1].to_string(), "10.0.0.0/8");
  EXPECT_EQ(c.server.trusted_proxies[2].to_string(), "::1/128");
  EXPECT_EQ(c.server.upstream_connect_timeout, 2s);
  EXPECT_EQ(c.server.upstream_timeout, 120s);
  EXPECT_EQ(c.server.shutdown_timeout, 30s);
  EXPECT_EQ(c.server.max_body_bytes, 1048576u);
  EXPECT_EQ(c.server.max_header_bytes, 1024u);
  EXPECT_EQ(c.server.threads, 256u);
  EXPECT_EQ(c.store.backend, "sqlite");
  EXPECT_EQ(c.store.path, dir.file("gatehouse.db"));
  EXPECT_EQ(c.keys.master_key_file, master);
  EXPECT_EQ(c.session.cookie_name, "__Host-gh");
  EXPECT_EQ(c.session.idle_timeout, 12h);
  EXPECT_EQ(c.session.absolute_timeout, 12h);
  EXPECT_EQ(c.session.assertion_ttl, 1h);
  ASSERT_EQ(c.directories.size(), 2u);
  EXPECT_EQ(c.directories[0].name, "local");
  EXPECT_EQ(c.directories[0].line, 26);
  EXPECT_EQ(c.directories[1].name, "staff-2");
  EXPECT_EQ(c.directories[1].line, 30);
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.routes[0].host, "app.example.org");
  EXPECT_EQ(c.routes[0].path_prefix, "/api");
  EXPECT_EQ(c.routes[0].id(), "app.example.org/api");
  EXPECT_EQ(c.routes[0].upstream.host, "10.0.0.5");
  EXPECT_EQ(c.routes[0].upstream.port, 8080);
  EXPECT_EQ(c.routes[0].upstream.path, "/base");
  EXPECT_FALSE(c.routes[0].is_public);
  EXPECT_EQ(c.routes[0].allow_groups, (std::vector<std::string>{"admins", "devs"}));
  EXPECT_EQ(c.routes[0].line, 34);
  EXPECT_EQ(c.routes[1].host, "");
  EXPECT_EQ(c.routes[1].path_prefix, "/public");
  EXPECT_TRUE(c.routes[1].is_public);
  EXPECT_EQ(c.routes[1].line, 40);
}

TEST(ParseConfig, LockoutAndAuditValuesAreRead) {
  auto result = parse_config(with_all("[lockout]\nmax_failures = 1\nwindow = \"1h\"\n"
                                      "lock_duration = \"30m\"\nip_max_failures = 1000\n"
                                      "[audit]\nretention = \"7d\"\n"),
                             "test.toml");
  ASSERT_EQ(messages(result), std::vector<std::string>{});
  const Config& c = *result.config;
  EXPECT_EQ(c.lockout.max_failures, 1);
  EXPECT_EQ(c.lockout.window, 1h);
  EXPECT_EQ(c.lockout.lock_duration, 30min);
  EXPECT_EQ(c.lockout.ip_max_failures, 1000);
  EXPECT_EQ(c.audit.retention, 7 * 24h);
}

TEST(ParseConfig, EmptyLockoutAndAuditTablesKeepTheDefaults) {
  auto result = parse_config(with_all("[lockout]\n[audit]\n"), "test.toml");
  ASSERT_EQ(messages(result), std::vector<std::string>{});
  EXPECT_EQ(result.config->lockout.max_failures, 5);
  EXPECT_EQ(result.config->lockout.window, 15min);
  EXPECT_EQ(result.config->audit.retention, 180 * 24h);
}

TEST(ParseConfig, MetricsAllowReplacesTheLoopbackDefault) {
  auto result = parse_config(with_all("[metrics]\nallow = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.7\"]\n"),
                             "test.toml");
  ASSERT_EQ(messages(result), std::vector<std::string>{});
  EXPECT_EQ(networks(result.config->metrics.allow),
            (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"}));
}

TEST(ParseConfig, EmptyMetricsAllowClosesTheEndpointAndEmptyTableKeepsTheDefault) {
  auto closed = parse_config(with_all("[metrics]\nallow = []\n"), "test.toml");
  ASSERT_EQ(messages(closed), std::vector<std::string>{});
  EXPECT_TRUE(closed.config->metrics.allow.empty());
  auto empty = parse_config(with_all("[metrics]\n"), "test.toml");
  ASSERT_EQ(messages(empty), std::vector<std::string>{});
  EXPECT_EQ(networks(empty.config->metrics.allow), (std::vector<std::string>{"127.0.0.1/32", "::1/128"}));
}

TEST(ParseConfig, LogFormatLevelAndAccessLogAreRead) {
  auto result = parse_config(with_all("[log]\nformat = \"json\"\nlevel = \"debug\"\naccess_log = true\n"),
                             "test.toml");
  ASSERT_EQ(messages(result), std::vector<std::string>{});
  EXPECT_EQ(result.config->log.format, log::Format::json);
  EXPECT_EQ(result.config->log.level, log::Level::debug);
  EXPECT_TRUE(result.config->log.access_log);
}

TEST(ParseConfig, LogAcceptsEveryFormatAndLevelName) {
  for (const char* format : {"kv", "json"}) {
    for (const char* level : {"debug", "info", "warning", "error"}) {
      auto result = parse_config(with_all(std::string("[log]\nformat = \"") + format + "\"\nlevel = \"" +
                                          level + "\"\naccess_log = false\n"),
                                 "test.toml");
      ASSERT_EQ(messages(result), std::vector<std::string>{}) << format << " " << level;
      EXPECT_EQ(log::format_name(result.config->log.format), format);
      EXPECT_EQ(log::level_name(result.config->log.level), level);
      EXPECT_FALSE(result.config->log.access_log);
    }
  }
}

TEST(ParseConfig, EmptyLogTableKeepsTheDefaults) {
  auto result = parse_config(with_all("[log]\n"), "test.toml");
  ASSERT_EQ(messages(result), std::vector<std::string>{});
  EXPECT_EQ(result.config->log.format, log::Format::kv);
  EXPECT_EQ(result.config->log.level, log::Level::info);
  EXPECT_FALSE(result.config->log.access_log);
}

TEST(ParseConfig, ActiveDirectoryNeedsOnlyUriBindAndBase) {
  auto result = parse_config(with_directories("[[directory]]\nname = \"ad\"\nkind = \"active_directory\"\n"
                                              "uri = [\"ldaps://dc1.example.org\", \"ldaps://dc2.example.org:3269\"]\n"
                                              "bind_dn = \"CN=svc,CN=Users,DC=example,DC=org\"\n"
                                              "bind_password_file = \"" __FILE__ "\"\n"
                                              "user_base = \"DC=example,DC=org\"\ntenant = \"example\"\n"),
                             "test.toml");
  ASSERT_TRUE(result.config) << messages(result)[0];
  const auto& d = result.config->directories.at(0);
  EXPECT_EQ(d.kind, DirectoryKind::active_directory);
  ASSERT_EQ(d.ldap.uris.size(), 2u);
  EXPECT_TRUE(d.ldap.uris[0].tls);
  EXPECT_EQ(d.ldap.uris[0].port, 636);
  EXPECT_EQ(d.ldap.uris[1].port, 3269);
  EXPECT_EQ(d.ldap.username_attribute, "sAMAccountName");
  EXPECT_NE(d.ldap.user_filter.find("(sAMAccountName={username})"), std::string::npos);
  EXPECT_EQ(d.ldap.group_base, "DC=example,DC=org");
  EXPECT_EQ(d.ldap.group_filter, "(member:1.2.840.113556.1.4.1941:={dn})");
  EXPECT_FALSE(d.ldap.nested_groups);  // the in-chain rule already follows nesting
  EXPECT_TRUE(d.ldap.tls_verify);
  EXPECT_EQ(d.ldap.timeout, Seconds(5));
}

TEST(ParseConfig, LdapDefaultsAndLoopbackPlaintext) {
  auto result = parse_config(with_directories(ldap_table("")), "test.toml");
  ASSERT_TRUE(result.config) << messages(result)[0];
  const auto& c = result.config->directories.at(0).ldap;
  ASSERT_EQ(c.uris.size(), 1u);
  EXPECT_EQ(c.uris[0].host, "127.0.0.1");
  EXPECT_EQ(c.uris[0].port, 3389);
  EXPECT_FALSE(c.uris[0].tls);
  EXPECT_EQ(c.user_filter, "(uid={username})");
  EXPECT_EQ(c.group_filter, "(member={dn})");
  EXPECT_TRUE(c.nested_groups);
  EXPECT_EQ(c.tenant, "example");
}

TEST(LdapUri, ParsesSchemesHostsAndPorts) {
  auto a = LdapUri::parse("ldap://ldap.example.org");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 389);
  EXPECT_FALSE(a->is_loopback());
  auto b = LdapUri::parse("ldaps://[::1]:1636/");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 1636);
  EXPECT_TRUE(b->is_loopback());
  EXPECT_TRUE(LdapUri::parse("ldap://localhost:3389")->is_loopback());
  for (const char* bad : {"ldapi:///var/run/ldapi", "ldap://", "ldap://host/dc=example", "ldap://host:0",
                          "ldap://user@host", "ldap://host?x", "http://host", "ldap://ho st"})
    EXPECT_FALSE(LdapUri::parse(bad)) << bad;
}

TEST(ParseConfig, PathPrefixLosesTrailingSlashesButRootStaysSlash) {
  auto result = parse_config(
      with_routes("[[route]]\npath_prefix = \"/app//\"\nupstream = \"http://127.0.0.1:1\"\n"
                  "[[route]]\npath_prefix = \"//\"\nupstream = \"http://127.0.0.1:2\"\n"),
      "test.toml");
  ASSERT_EQ(messages(result), std::vector<std::string>{});
  ASSERT_EQ(result.config->routes.size(), 2u);
  EXPECT_EQ(result.config->routes[0].path_prefix, "/app");
  EXPECT_EQ(result.config->routes[1].path_prefix, "/");
}

TEST(ParseConfig, EmptyMasterKeyFileMeansCredentialsDirectory) {
  auto result = parse_config(with_keys("master_key_file = \"\"\n"), "test.toml");
  ASSERT_EQ(messages(result), std::vector<std::string>{});
  EXPECT_EQ(result.config->keys.master_key_file, "");
}

TEST(ParseConfig, MasterKeyFileInCurrentDirectoryNeedsNoParentCheck) {
  auto result = parse_config(with_keys("master_key_file = \"master.key\"\n"), "test.toml");
  ASSERT_EQ(messages(result), std::vector<std::string>{});
  EXPECT_EQ(result.config->keys.master_key_file, "master.key");
}

TEST(LoadConfig, ExampleFileIsValidOnceItsPathsExist) {
  // tests/unit/config/config_test.cc -> repository root -> config/gatehouse.example.toml
  fs::path root = fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
  std::string example = (root / "config" / "gatehouse.example.toml").string();
  std::string text = read_file(example);
  ASSERT_FALSE(text.empty()) << example;
  ASSERT_NE(text.find("/var/lib/gatehouse/gatehouse.db"), std::string::npos);
  ASSERT_NE(text.find("/etc/gatehouse/master.key"), std::string::npos);
  TempDir dir;
  text = replace_all(text, "/var/lib/gatehouse/gatehouse.db", dir.file("gatehouse.db"));
  text = replace_all(text, "/etc/gatehouse/master.key", dir.file("master.key"));
  auto result = load_config(dir.write("gatehouse.toml", text));
  ASSERT_EQ(messages(result), std::vector<std::string>{});
  const Config& c = *result.config;
  EXPECT_EQ(c.store.backend, "sqlite");
  EXPECT_EQ(c.keys.master_key_file, dir.file("master.key"));
  ASSERT_EQ(c.directories.size(), 1u);
  EXPECT_EQ(c.directories[0].name, "local");
  EXPECT_EQ(c.directories[0].kind, DirectoryKind::local);
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.routes[0].path_prefix, "/public");
  EXPECT_TRUE(c.routes[0].is_public);
  EXPECT_EQ(c.routes[1].path_prefix, "/");
  EXPECT_FALSE(c.routes[1].is_public);
  EXPECT_EQ(c.routes[1].upstream.origin(), "http://127.0.0.1:9000");
  EXPECT_EQ(c.lockout.max_failures, 5);
  EXPECT_EQ(c.lockout.lock_duration, 0s);
  EXPECT_EQ(c.audit.retention, 180 * 24h);
  EXPECT_EQ(networks(c.metrics.allow), (std::vector<std::string>{"127.0.0.1/32", "::1/128"}));
  EXPECT_EQ(c.log.format, log::Format::kv);
  EXPECT_EQ(c.log.level, log::Level::info);
  EXPECT_FALSE(c.log.access_log);
}

// ---------------------------------------------------------------------------------------
// Every error, with its exact text and line

struct ErrorCase {
  const char* name;
  std::string text;
  std::vector<std::string> expected;
};

class ConfigErrors : public testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrors, AreReportedAsFileLineMessage) {
  const auto& c = GetParam();
  auto result = parse_config(c.text, "test.toml");
  EXPECT_EQ(messages(result), c.expected) << c.text;
  EXPECT_FALSE(result.config);
}

std::string error_case_name(const testing::TestParamInfo<ErrorCase>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(
    Server, ConfigErrors,
    testing::Values(
        ErrorCase{"UnknownKey",
                  with_server(kListenAndUrl + "listn = \"x\"\n"),
                  {"test.toml:4: unknown key \"listn\" in [server]"}},
        ErrorCase{"ListenNotAString",
                  with_server("listen = 8080\npublic_url = \"http://127.0.0.1:8080\"\n"),
                  {"test.toml:2: [server] listen: expected a string, got integer"}},
        ErrorCase{"ListenHostName",
                  with_server("listen = \"localhost:8080\"\npublic_url = \"http://x\"\n"),
                  {"test.toml:2: [server] listen: \"localhost:8080\" is not an IP address and "
                   "port (write 127.0.0.1:8080, [::1]:8443 or :8080)"}},
        ErrorCase{"ListenMissing",
                  with_server("public_url = \"http://127.0.0.1:8080\"\n"),
                  {"test.toml:1: [server] listen: missing"}},
        ErrorCase{"PublicUrlMissing",
                  with_server("listen = \"127.0.0.1:8080\"\n"),
                  {"test.toml:1: [server] public_url: missing"}},
        ErrorCase{
            "ServerTableAbsent",
            kStore + kDirectory + kRoute,
            {"test.toml:1: [server] listen: missing", "test.toml:1: [server] public_url: missing"}},
        ErrorCase{"PublicUrlNotHttp",
                  with_server("listen = \"127.0.0.1:8080\"\npublic_url = \"ftp://x\"\n"),
                  {"test.toml:3: [server] public_url: \"ftp://x\" is not an http:// or https:// "
                   "URL"}},
        ErrorCase{"PublicUrlWithPath",
                  with_server("listen = \"127.0.0.1:8080\"\n"
                              "public_url = \"https://sso.example.org/gate\"\n"),
                  {"test.toml:3: [server] public_url: \"https://sso.example.org/gate\" has a "
                   "path; gatehouse must be served at the root of its host (write "
                   "https://sso.example.org)"}},
        ErrorCase{"PublicUrlWithQuery",
                  with_server("listen = \"127.0.0.1:8080\"\n"
                              "public_url = \"http://x/?a=1\"\n"),
                  {"test.toml:3: [server] public_url: \"http://x/?a=1\" is not an http:// or "
                   "https:// URL"}},
        ErrorCase{"TlsCertWithoutKey",
                  with_server(kListenAndUrl + "tls_cert_file = \"/etc/ssl/cert.pem\"\n"),
                  {"test.toml:4: [server] tls_cert_file: is set but tls_key_file is not (give "
                   "both or neither)"}},
        ErrorCase{"TlsKeyWithoutCert",
                  with_server(kListenAndUrl + "tls_key_file = \"/etc/ssl/key.pem\"\n"),
                  {"test.toml:4: [server] tls_key_file: is set but tls_cert_file is not (give "
                   "both or neither)"}},
        ErrorCase{
            "TlsFilesMissing",
            with_server(kListenAndUrl + "tls_cert_file = \"/nonexistent-gatehouse-test/cert.pem\"\n"
                                        "tls_key_file = \"/nonexistent-gatehouse-test/key.pem\"\n"),
            {"test.toml:4: [server] tls_cert_file: missing file "
             "\"/nonexistent-gatehouse-test/cert.pem\"",
             "test.toml:5: [server] tls_key_file: missing file "
             "\"/nonexistent-gatehouse-test/key.pem\""}},
        ErrorCase{"TlsFileIsDirectory",
                  with_server(kListenAndUrl + "tls_cert_file = \"/\"\ntls_key_file = \"/\"\n"),
                  {"test.toml:4: [server] tls_cert_file: \"/\" is a directory, not a file",
                   "test.toml:5: [server] tls_key_file: \"/\" is a directory, not a file"}},
        ErrorCase{
            "TrustedProxyBadPrefix",
            with_server(kListenAndUrl + "trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n"),
            {"test.toml:4: [server] trusted_proxies: \"10.0.0.0/33\" is not an IP address "
             "or CIDR network"}},
        ErrorCase{"TrustedProxyLineOfElement",
                  with_server(kListenAndUrl +
                              "trusted_proxies = [\n  \"10.0.0.0/8\",\n  \"proxy.local\",\n]\n"),
                  {"test.toml:6: [server] trusted_proxies: \"proxy.local\" is not an IP address "
                   "or CIDR network"}},
        ErrorCase{"TrustedProxiesNotAnArray",
                  with_server(kListenAndUrl + "trusted_proxies = \"10.0.0.0/8\"\n"),
                  {"test.toml:4: [server] trusted_proxies: expected an array of strings, got "
                   "string"}},
        ErrorCase{"TrustedProxyNotAString",
                  with_server(kListenAndUrl + "trusted_proxies = [\"::1\", 10]\n"),
                  {"test.toml:4: [server] trusted_proxies[1]: expected a string, got integer"}},
        ErrorCase{"UpstreamTimeoutZero",
                  with_server(kListenAndUrl + "upstream_timeout = \"0s\"\n"),
                  {"test.toml:4: [server] upstream_timeout: must be between 1s and 1d, got 0s"}},
        ErrorCase{"ConnectTimeoutNotADuration",
                  with_server(kListenAndUrl + "upstream_connect_timeout = \"5 s\"\n"),
                  {"test.toml:4: [server] upstream_connect_timeout: \"5 s\" is not a duration "
                   "(write 90s, 15m, 12h or 7d)"}},
        ErrorCase{"ShutdownTimeoutInteger",
                  with_server(kListenAndUrl + "shutdown_timeout = 10\n"),
                  {"test.toml:4: [server] shutdown_timeout: expected a duration string such as "
                   "\"15m\", got integer"}},
        ErrorCase{"MaxBodyBytesZero",
                  with_server(kListenAndUrl + "max_body_bytes = 0\n"),
                  {"test.toml:4: [server] max_body_bytes: must be between 1 and 1099511627776, got 0"}},
        ErrorCase{"MaxBodyBytesString",
                  with_server(kListenAndUrl + "max_body_bytes = \"1M\"\n"),
                  {"test.toml:4: [server] max_body_bytes: expected an integer, got string"}},
        ErrorCase{"MaxHeaderBytesTooSmall",
                  with_server(kListenAndUrl + "max_header_bytes = 1023\n"),
                  {"test.toml:4: [server] max_header_bytes: must be between 1024 and 1048576, "
                   "got 1023"}},
        ErrorCase{"MaxHeaderBytesTooLarge",
                  with_server(kListenAndUrl + "max_header_bytes = 1048577\n"),
                  {"test.toml:4: [server] max_header_bytes: must be between 1024 and 1048576, "
                   "got 1048577"}},
        ErrorCase{"ThreadsTooMany",
                  with_server(kListenAndUrl + "threads = 257\n"),
                  {"test.toml:4: [server] threads: must be between 0 and 256, got 257"}},
        ErrorCase{"ThreadsNegative",
                  with_server(kListenAndUrl + "threads = -1\n"),
                  {"test.toml:4: [server] threads: must be between 0 and 256, got -1"}},
        ErrorCase{"ThreadsFloat",
                  with_server(kListenAndUrl + "threads = 1.5\n"),
                  {"test.toml:4: [server] threads: expected an integer, got float"}}),
    error_case_name);

INSTANTIATE_TEST_SUITE_P(
    Store, ConfigErrors,
    testing::Values(
        ErrorCase{"PostgresqlNotYet",
                  with_store("backend = \"postgresql\"\npath = \"x\"\n"),
                  {"test.toml:2: [store] backend \"postgresql\" is not supported by this build "
                   "yet"}},
        ErrorCase{"UnknownBackend",
                  with_store("backend = \"mysql\"\npath = \"x\"\n"),
                  {"test.toml:2: [store] backend \"mysql\" is not one of sqlite, postgresql"}},
        ErrorCase{"BackendNotAString",
                  with_store("backend = true\npath = \"x\"\n"),
                  {"test.toml:2: [store] backend: expected a string, got boolean"}},
        ErrorCase{"PathMissing",
                  with_store("backend = \"sqlite\"\n"),
                  {"test.toml:1: [store] path: missing"}},
        ErrorCase{"PathEmpty",
                  with_store("path = \"\"\n"),
                  {"test.toml:2: [store] path: must not be empty"}},
        ErrorCase{
            "TableAbsent", kServer + kDirectory + kRoute, {"test.toml:1: [store] path: missing"}},
        ErrorCase{"UnknownKey",
                  with_store("path = \"x\"\nfile = \"y\"\n"),
                  {"test.toml:3: unknown key \"file\" in [store]"}}),
    error_case_name);

INSTANTIATE_TEST_SUITE_P(
    Keys, ConfigErrors,
    testing::Values(
        ErrorCase{"MasterKeyDirectoryMissing",
                  with_keys("master_key_file = \"/nonexistent-gatehouse-test/master.key\"\n"),
                  {"test.toml:2: [keys] master_key_file: missing file "
                   "\"/nonexistent-gatehouse-test/master.key\", and it cannot be created: missing directory "
                   "\"/nonexistent-gatehouse-test\""}},
        ErrorCase{"MasterKeyFileIsADirectory",
                  with_keys("master_key_file = \"/\"\n"),
                  {"test.toml:2: [keys] master_key_file: \"/\" is a directory, not a file"}},
        ErrorCase{"MasterKeyFileNotAString",
                  with_keys("master_key_file = [\"a\"]\n"),
                  {"test.toml:2: [keys] master_key_file: expected a string, got array"}},
        ErrorCase{"UnknownKey",
                  with_keys("master_key = \"/x\"\n"),
                  {"test.toml:2: unknown key \"master_key\" in [keys]"}}),
    error_case_name);

INSTANTIATE_TEST_SUITE_P(
    Session, ConfigErrors,
    testing::Values(
        ErrorCase{"CookieNameWithSpace",
                  with_session("cookie_name = \"gh session\"\n"),
                  {"test.toml:2: [session] cookie_name: \"gh session\" is not a valid cookie "
                   "name (use letters, digits and !#$%&'*+-.^_`|~)"}},
        ErrorCase{"CookieNameWithSeparator",
                  with_session("cookie_name = \"gh=1;\"\n"),
                  {"test.toml:2: [session] cookie_name: \"gh=1;\" is not a valid cookie name "
                   "(use letters, digits and !#$%&'*+-.^_`|~)"}},
        ErrorCase{"CookieNameEmpty",
                  with_session("cookie_name = \"\"\n"),
                  {"test.toml:2: [session] cookie_name: \"\" is not a valid cookie name (use "
                   "letters, digits and !#$%&'*+-.^_`|~)"}},
        ErrorCase{"IdleTimeoutNotADuration",
                  with_session("idle_timeout = \"15 minutes\"\n"),
                  {"test.toml:2: [session] idle_timeout: \"15 minutes\" is not a duration "
                   "(write 90s, 15m, 12h or 7d)"}},
        ErrorCase{"IdleTimeoutZero",
                  with_session("idle_timeout = \"0s\"\n"),
                  {"test.toml:2: [session] idle_timeout: must be between 1s and 366d, got 0s"}},
        ErrorCase{"AbsoluteTimeoutZero",
                  with_session("absolute_timeout = \"0m\"\n"),
                  {"test.toml:2: [session] absolute_timeout: must be between 1s and 366d, got 0s"}},
        ErrorCase{"IdleLongerThanAbsolute",
                  with_session("idle_timeout = \"13h\"\nabsolute_timeout = \"12h\"\n"),
                  {"test.toml:2: [session] idle_timeout: 13h is longer than absolute_timeout "
                   "(12h)"}},
        ErrorCase{"AbsoluteShorterThanDefaultIdle",
                  with_session("absolute_timeout = \"10m\"\n"),
                  {"test.toml:2: [session] absolute_timeout: 10m is shorter than idle_timeout "
                   "(30m)"}},
        ErrorCase{"AssertionTtlTooShort",
                  with_session("assertion_ttl = \"9s\"\n"),
                  {"test.toml:2: [session] assertion_ttl: must be between 10s and 1h, got 9s"}},
        ErrorCase{"AssertionTtlTooLong",
                  with_session("assertion_ttl = \"61m\"\n"),
                  {"test.toml:2: [session] assertion_ttl: must be between 10s and 1h, got 61m"}},
        ErrorCase{"UnknownKey",
                  with_session("cookie = \"x\"\n"),
                  {"test.toml:2: unknown key \"cookie\" in [session]"}}),
    error_case_name);

INSTANTIATE_TEST_SUITE_P(
    Directory, ConfigErrors,
    testing::Values(
        ErrorCase{"NoneConfigured",
                  kServer + kStore + kRoute,
                  {"test.toml:1: no [[directory]] or [[oidc]] configured: nobody could sign in"}},
        ErrorCase{"NameMissing",
                  with_directories("[[directory]]\nkind = \"local\"\n"),
                  {"test.toml:1: [directory] name: missing"}},
        ErrorCase{"KindMissing",
                  with_directories("[[directory]]\nname = \"local\"\n"),
                  {"test.toml:1: [directory] kind: missing"}},
        ErrorCase{"NameInvalid",
                  with_directories("[[directory]]\nname = \"Corp\"\nkind = \"local\"\n"),
                  {"test.toml:2: [directory] name: \"Corp\" is not a valid name (use a-z, 0-9, _ "
                   "and -)"}},
        ErrorCase{"NameDuplicate",
                  with_directories("[[directory]]\nname = \"local\"\nkind = \"local\"\n"
                                   "[[directory]]\nname = \"local\"\nkind = \"local\"\n"),
                  {"test.toml:5: [directory] name: \"local\" is already used by the "
                   "[[directory]] at line 1"}},
        // An ldap table that is valid but for the line each case appends (line 9 on).
        ErrorCase{"LdapUriNotLdap",
                  with_directories(ldap_table("uri = [\"http://ldap.example.org\"]\n")),
                  {"test.toml:9: [directory] uri: \"http://ldap.example.org\" is not an LDAP "
                   "server address (write ldap://host[:port] or ldaps://host[:port])"}},
        ErrorCase{"LdapUriMissing",
                  with_directories(ldap_table("", /*with_uri=*/false)),
                  {"test.toml:1: [directory] uri: missing"}},
        ErrorCase{"LdapPlaintextToRemoteHost",
                  with_directories(ldap_table("uri = \"ldap://ldap.example.org\"\n")),
                  {"test.toml:9: [directory] uri: \"ldap://ldap.example.org\" would carry "
                   "passwords unencrypted: use ldaps://, start_tls = true, or allow_plaintext = "
                   "true"}},
        ErrorCase{"LdapStartTlsOnLdaps",
                  with_directories(ldap_table("uri = \"ldaps://ldap.example.org\"\nstart_tls = true\n")),
                  {"test.toml:10: [directory] start_tls: is for ldap:// servers; "
                   "\"ldaps://ldap.example.org\" already uses TLS"}},
        ErrorCase{"LdapNoWayToBind",
                  with_directories("[[directory]]\nname = \"corp\"\nkind = \"ldap\"\n"
                                   "uri = \"ldap://127.0.0.1\"\nuser_base = \"dc=example\"\n"
                                   "tenant = \"example\"\n"),
                  {"test.toml:1: [directory] \"corp\": set bind_dn and bind_password_file "
                   "(search, then bind as the user), or bind_template (bind directly)"}},
        ErrorCase{"LdapNoTenant",
                  with_directories("[[directory]]\nname = \"corp\"\nkind = \"ldap\"\n"
                                   "uri = \"ldap://127.0.0.1\"\nuser_base = \"dc=example\"\n"
                                   "bind_template = \"uid={username},dc=example\"\n"),
                  {"test.toml:1: [directory] \"corp\": set tenant (the organisation of its "
                   "users) or tenant_attribute"}},
        ErrorCase{"LdapFilterWithoutPlaceholder",
                  with_directories(ldap_table("user_filter = \"(uid=alice)\"\n")),
                  {"test.toml:9: [directory] user_filter: must contain {username}"}},
        ErrorCase{"LdapFilterNotAFilter",
                  with_directories(ldap_table("user_filter = \"uid={username}\"\n")),
                  {"test.toml:9: [directory] user_filter: \"uid={username}\" is not an LDAP "
                   "filter (it must be in parentheses)"}},
        ErrorCase{"LdapBindTemplateWithoutPlaceholder",
                  with_directories(ldap_table("bind_template = \"uid=alice,dc=example\"\n")),
                  {"test.toml:9: [directory] bind_template: must contain {username}"}},
        ErrorCase{"LdapPasswordFileMissing",
                  with_directories(ldap_table("bind_password_file = \"/nonexistent/ldap.pw\"\n",
                                              true, /*with_password_file=*/false)),
                  {"test.toml:9: [directory] bind_password_file: missing file "
                   "\"/nonexistent/ldap.pw\""}},
        ErrorCase{"LdapBadAttributeName",
                  with_directories(ldap_table("tenant_attribute = \"o)(uid=*\"\n")),
                  {"test.toml:9: [directory] tenant_attribute: \"o)(uid=*\" is not an LDAP "
                   "attribute name"}},
        ErrorCase{"LdapTimeoutZero",
                  with_directories(ldap_table("timeout = \"0s\"\n")),
                  {"test.toml:9: [directory] timeout: must be between 1s and 5m, got 0s"}},
        ErrorCase{"LdapPoolSizeZero",
                  with_directories(ldap_table("pool_size = 0\n")),
                  {"test.toml:9: [directory] pool_size: must be between 1 and 256, got 0"}},
        ErrorCase{"ActiveDirectoryHasNoBindTemplate",
                  with_directories("[[directory]]\nname = \"ad\"\nkind = \"active_directory\"\n"
                                   "uri = \"ldaps://dc1.example.org\"\nbind_dn = \"cn=x\"\n"
                                   "bind_password_file = \"" __FILE__ "\"\n"
                                   "user_base = \"DC=example,DC=org\"\ntenant = \"example\"\n"
                                   "bind_template = \"{username}\"\n"),
                  {"test.toml:9: unknown key \"bind_template\" in [directory]"}},
        ErrorCase{"KindUnknown",
                  with_directories("[[directory]]\nname = \"corp\"\nkind = \"nis\"\n"),
                  {"test.toml:3: [directory] kind \"nis\" is not one of local, ldap, "
                   "active_directory"}},
        ErrorCase{"LocalWithExtraKey",
                  with_directories("[[directory]]\nname = \"local\"\nkind = \"local\"\n"
                                   "uri = \"ldap://x\"\n"),
                  {"test.toml:4: unknown key \"uri\" in [directory]"}},
        ErrorCase{"WrittenAsPlainTable",
                  with_directories("[directory]\nname = \"local\"\nkind = \"local\"\n"),
                  {"test.toml:1: directory: expected an array of tables (write [[directory]]), "
                   "got table"}}),
    error_case_name);

INSTANTIATE_TEST_SUITE_P(
    Route, ConfigErrors,
    testing::Values(
        ErrorCase{"NoneConfigured",
                  kServer + kStore + kDirectory,
                  {"test.toml:1: no [[route]] configured"}},
        ErrorCase{"UpstreamNotHttp",
                  with_routes("[[route]]\npath_prefix = \"/\"\nupstream = \"ftp://x\"\n"),
                  {"test.toml:3: [route] upstream: \"ftp://x\" is not an http:// or https:// "
                   "URL"}},
        ErrorCase{"UpstreamHttpsNotYet",
                  with_routes("[[route]]\npath_prefix = \"/\"\n"
                              "upstream = \"https://127.0.0.1:9443\"\n"),
                  {"test.toml:3: [route] upstream: \"https://127.0.0.1:9443\" uses https, which "
                   "is not supported by this build yet"}},
        ErrorCase{"UpstreamMissing",
                  with_routes("[[route]]\npath_prefix = \"/\"\n"),
                  {"test.toml:1: [route] upstream: missing"}},
        ErrorCase{"PathPrefixMissing",
                  with_routes("[[route]]\nupstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:1: [route] path_prefix: missing"}},
        ErrorCase{"PathPrefixRelative",
                  with_routes("[[route]]\npath_prefix = \"app\"\n"
                              "upstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:2: [route] path_prefix: \"app\" does not start with \"/\""}},
        ErrorCase{"PathPrefixWithQuery",
                  with_routes("[[route]]\npath_prefix = \"/app?x\"\n"
                              "upstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:2: [route] path_prefix: \"/app?x\" contains a space, \"?\" or "
                   "\"#\""}},
        ErrorCase{"HostWithPort",
                  with_routes("[[route]]\nhost = \"example.org:8080\"\npath_prefix = \"/\"\n"
                              "upstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:2: [route] host: \"example.org:8080\" is not a host name (write it "
                   "without scheme, port or path)"}},
        ErrorCase{"HostWithPath",
                  with_routes("[[route]]\nhost = \"example.org/app\"\npath_prefix = \"/\"\n"
                              "upstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:2: [route] host: \"example.org/app\" is not a host name (write it "
                   "without scheme, port or path)"}},
        ErrorCase{"HostWithSpace",
                  with_routes("[[route]]\nhost = \"example .org\"\npath_prefix = \"/\"\n"
                              "upstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:2: [route] host: \"example .org\" is not a host name (write it "
                   "without scheme, port or path)"}},
        // A route host a request's Host could never be (daemon/request_hygiene: parse_host).
        ErrorCase{"HostWithUnderscore",
                  with_routes("[[route]]\nhost = \"my_app.example\"\npath_prefix = \"/\"\n"
                              "upstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:2: [route] host: \"my_app.example\" is not a host name (write it "
                   "without scheme, port or path)"}},
        // A route host a request's Host could never be (daemon/request_hygiene: parse_host).
        ErrorCase{"HostWithEmptyLabel",
                  with_routes("[[route]]\nhost = \"a..example\"\npath_prefix = \"/\"\n"
                              "upstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:2: [route] host: \"a..example\" is not a host name (write it "
                   "without scheme, port or path)"}},
        // A route host a request's Host could never be (daemon/request_hygiene: parse_host).
        ErrorCase{"HostWithTrailingDot",
                  with_routes("[[route]]\nhost = \"example.org.\"\npath_prefix = \"/\"\n"
                              "upstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:2: [route] host: \"example.org.\" is not a host name (write it "
                   "without scheme, port or path)"}},
        // A route host a request's Host could never be (daemon/request_hygiene: parse_host).
        ErrorCase{"HostStartingWithHyphen",
                  with_routes("[[route]]\nhost = \"-a.example\"\npath_prefix = \"/\"\n"
                              "upstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:2: [route] host: \"-a.example\" is not a host name (write it "
                   "without scheme, port or path)"}},
        // A route host a request's Host could never be (daemon/request_hygiene: parse_host).
        ErrorCase{"HostLabelEndingWithHyphen",
                  with_routes("[[route]]\nhost = \"a-.example\"\npath_prefix = \"/\"\n"
                              "upstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:2: [route] host: \"a-.example\" is not a host name (write it "
                   "without scheme, port or path)"}},
        // A route host a request's Host could never be (daemon/request_hygiene: parse_host).
        ErrorCase{"HostLabelTooLong",
                  with_routes("[[route]]\nhost = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example\"\npath_prefix = \"/\"\n"
                              "upstream = \"http://127.0.0.1:9000\"\n"),
                  {"test.toml:2: [route] host: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example\" is not a host name (write it "
                   "without scheme, port or path)"}},
        ErrorCase{"PublicNotABoolean",
                  with_routes(kRoute + "public = \"yes\"\n"),
                  {"test.toml:4: [route] public: expected a boolean (true or false), got "
                   "string"}},
        ErrorCase{"AllowGroupsNotAnArray",
                  with_routes(kRoute + "allow_groups = \"admins\"\n"),
                  {"test.toml:4: [route] allow_groups: expected an array of strings, got "
                   "string"}},
        ErrorCase{"AllowGroupsEmptyName",
                  with_routes(kRoute + "allow_groups = [\"\"]\n"),
                  {"test.toml:4: [route] allow_groups: \"\" is not a group name"}},
        ErrorCase{"PublicWithAllowGroups",
                  with_routes(kRoute + "public = true\nallow_groups = [\"admins\"]\n"),
                  {"test.toml:5: [route] allow_groups: a public route admits everyone; remove "
                   "allow_groups or set public = false"}},
        ErrorCase{"InjectSecretNotATable", with_routes(kRoute + "inject_secret = \"Authorization\"\n"),
                  {"test.toml:4: [route] inject_secret: expected a table such as { header = \"Authorization\", secret = \"api-token\", format = \"Bearer {}\" }, got string"}},
        ErrorCase{"InjectSecretWithoutHeader", with_routes(kRoute + "inject_secret = { secret = \"t\" }\n"),
                  {"test.toml:4: [route inject_secret] header: missing"}},
        ErrorCase{"InjectSecretWithoutSecret", with_routes(kRoute + "inject_secret = { header = \"X-Api\" }\n"),
                  {"test.toml:4: [route inject_secret] secret: missing"}},
        ErrorCase{"InjectSecretHeaderWithSpace", with_routes(kRoute + "inject_secret = { header = \"Bad Header\", secret = \"t\" }\n"),
                  {"test.toml:4: [route inject_secret] header: \"Bad Header\" is not a header name"}},
        ErrorCase{"InjectSecretHeaderEmpty", with_routes(kRoute + "inject_secret = { header = \"\", secret = \"t\" }\n"),
                  {"test.toml:4: [route inject_secret] header: \"\" is not a header name"}},
        ErrorCase{"InjectSecretHeaderWithColon", with_routes(kRoute + "inject_secret = { header = \"X-Api:\", secret = \"t\" }\n"),
                  {"test.toml:4: [route inject_secret] header: \"X-Api:\" is not a header name"}},
        ErrorCase{"InjectSecretIntoHost", with_routes(kRoute + "inject_secret = { header = \"Host\", secret = \"t\" }\n"),
                  {"test.toml:4: [route inject_secret] header: \"Host\" is a header gatehouse or HTTP itself controls; use another one"}},
        ErrorCase{"InjectSecretIntoCookie", with_routes(kRoute + "inject_secret = { header = \"cookie\", secret = \"t\" }\n"),
                  {"test.toml:4: [route inject_secret] header: \"cookie\" is a header gatehouse or HTTP itself controls; use another one"}},
        ErrorCase{"InjectSecretIntoFraming", with_routes(kRoute + "inject_secret = { header = \"Transfer-Encoding\", secret = \"t\" }\n"),
                  {"test.toml:4: [route inject_secret] header: \"Transfer-Encoding\" is a header gatehouse or HTTP itself controls; use another one"}},
        ErrorCase{"InjectSecretIntoContentLength", with_routes(kRoute + "inject_secret = { header = \"Content-Length\", secret = \"t\" }\n"),
                  {"test.toml:4: [route inject_secret] header: \"Content-Length\" is a header gatehouse or HTTP itself controls; use another one"}},
        ErrorCase{"InjectSecretIntoIdentityHeader", with_routes(kRoute + "inject_secret = { header = \"X-Gatehouse-User\", secret = \"t\" }\n"),
                  {"test.toml:4: [route inject_secret] header: \"X-Gatehouse-User\" is a header gatehouse sets itself; use another one"}},
        ErrorCase{"InjectSecretIntoIdentityHeaderUnderscore", with_routes(kRoute + "inject_secret = { header = \"x_gatehouse_user\", secret = \"t\" }\n"),
                  {"test.toml:4: [route inject_secret] header: \"x_gatehouse_user\" is a header gatehouse sets itself; use another one"}},
        ErrorCase{"InjectSecretIntoForwarded", with_routes(kRoute + "inject_secret = { header = \"X-Forwarded-For\", secret = \"t\" }\n"),
                  {"test.toml:4: [route inject_secret] header: \"X-Forwarded-For\" is a header gatehouse sets itself; use another one"}},
        ErrorCase{"InjectSecretBadName", with_routes(kRoute + "inject_secret = { header = \"X-Api\", secret = \"-bad\" }\n"),
                  {"test.toml:4: [route inject_secret] secret: \"-bad\" is not a secret name (1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit)"}},
        ErrorCase{"InjectSecretNameWithSlash", with_routes(kRoute + "inject_secret = { header = \"X-Api\", secret = \"a/b\" }\n"),
                  {"test.toml:4: [route inject_secret] secret: \"a/b\" is not a secret name (1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit)"}},
        ErrorCase{"InjectSecretFormatWithoutPlace", with_routes(kRoute + "inject_secret = { header = \"X-Api\", secret = \"t\", format = \"Bearer\" }\n"),
                  {"test.toml:4: [route inject_secret] format: \"Bearer\" must contain \"{}\" (where the value goes) exactly once"}},
        ErrorCase{"InjectSecretFormatTwoPlaces", with_routes(kRoute + "inject_secret = { header = \"X-Api\", secret = \"t\", format = \"{}{}\" }\n"),
                  {"test.toml:4: [route inject_secret] format: \"{}{}\" must contain \"{}\" (where the value goes) exactly once"}},
        ErrorCase{"InjectSecretFormatLineBreak", with_routes(kRoute + "inject_secret = { header = \"X-Api\", secret = \"t\", format = \"a\\nb {}\" }\n"),
                  {"test.toml:4: [route inject_secret] format: must be at most 256 characters without control characters"}},
        ErrorCase{"InjectSecretFormatNotString", with_routes(kRoute + "inject_secret = { header = \"X-Api\", secret = \"t\", format = 5 }\n"),
                  {"test.toml:4: [route inject_secret] format: expected a string, got integer"}},
        ErrorCase{"InjectSecretUnknownKey", with_routes(kRoute + "inject_secret = { header = \"X-Api\", secret = \"t\", extra = 1 }\n"),
                  {"test.toml:4: unknown key \"extra\" in [route inject_secret]"}},
        ErrorCase{"InjectSecretOnPublicRoute",
                  with_routes(kRoute + "public = true\ninject_secret = { header = \"X-Api\", secret = \"t\" }\n"),
                  {"test.toml:5: [route] inject_secret: a public route has no signed-in party whose secret could be "
                   "injected; set public = false"}},
        ErrorCase{"Duplicate",
                  with_routes("[[route]]\nhost = \"Example.org\"\npath_prefix = \"/app/\"\n"
                              "upstream = \"http://127.0.0.1:1\"\n"
                              "[[route]]\nhost = \"example.org\"\npath_prefix = \"/app\"\n"
                              "upstream = \"http://127.0.0.1:2\"\n"),
                  {"test.toml:5: [route] duplicate route \"example.org/app\" (first defined at "
                   "line 1)"}},
        ErrorCase{"UnknownKey",
                  with_routes(kRoute + "upstream_url = \"http://x\"\n"),
                  {"test.toml:4: unknown key \"upstream_url\" in [route]"}},
        ErrorCase{"WrittenAsPlainTable",
                  with_routes("[route]\npath_prefix = \"/\"\nupstream = \"http://x\"\n"),
                  {"test.toml:1: route: expected an array of tables (write [[route]]), got "
                   "table"}}),
    error_case_name);

std::string with_lockout(const std::string& body) { return with_all("[lockout]\n" + body); }

INSTANTIATE_TEST_SUITE_P(
    Lockout, ConfigErrors,
    testing::Values(
        ErrorCase{"UnknownKey",
                  with_lockout("max_failures = 5\nban_time = \"1h\"\n"),
                  {"test.toml:3: unknown key \"ban_time\" in [lockout]"}},
        ErrorCase{"MaxFailuresZero",
                  with_lockout("max_failures = 0\n"),
                  {"test.toml:2: [lockout] max_failures: must be between 1 and 1000000, got 0"}},
        ErrorCase{"MaxFailuresString",
                  with_lockout("max_failures = \"5\"\n"),
                  {"test.toml:2: [lockout] max_failures: expected an integer, got string"}},
        ErrorCase{"IpMaxFailuresNegative",
                  with_lockout("ip_max_failures = -1\n"),
                  {"test.toml:2: [lockout] ip_max_failures: must be between 1 and 1000000, got -1"}},
        ErrorCase{"IpMaxFailuresFloat",
                  with_lockout("ip_max_failures = 50.0\n"),
                  {"test.toml:2: [lockout] ip_max_failures: expected an integer, got float"}},
        ErrorCase{"WindowZero",
                  with_lockout("window = \"0s\"\n"),
                  {"test.toml:2: [lockout] window: must be between 1s and 366d, got 0s"}},
        ErrorCase{"WindowNotADuration",
                  with_lockout("window = \"15 minutes\"\n"),
                  {"test.toml:2: [lockout] window: \"15 minutes\" is not a duration (write 90s, "
                   "15m, 12h or 7d)"}},
        ErrorCase{"WindowInteger",
                  with_lockout("window = 900\n"),
                  {"test.toml:2: [lockout] window: expected a duration string such as \"15m\", "
                   "got integer"}},
        ErrorCase{"LockDurationNegative",
                  with_lockout("lock_duration = \"-5m\"\n"),
                  {"test.toml:2: [lockout] lock_duration: \"-5m\" is not a duration (write 90s, "
                   "15m, 12h or 7d)"}},
        ErrorCase{"EveryKeyWrongAtOnce",
                  with_lockout("max_failures = 0\nwindow = \"x\"\nlock_duration = true\n"
                               "ip_max_failures = 0\n"),
                  {"test.toml:2: [lockout] max_failures: must be between 1 and 1000000, got 0",
                   "test.toml:3: [lockout] window: \"x\" is not a duration (write 90s, 15m, 12h "
                   "or 7d)",
                   "test.toml:4: [lockout] lock_duration: expected a duration string such as "
                   "\"15m\", got boolean",
                   "test.toml:5: [lockout] ip_max_failures: must be between 1 and 1000000, got 0"}}),
    error_case_name);

INSTANTIATE_TEST_SUITE_P(
    Audit, ConfigErrors,
    testing::Values(
        ErrorCase{"UnknownKey",
                  with_all("[audit]\nretention = \"30d\"\nkeep = true\n"),
                  {"test.toml:3: unknown key \"keep\" in [audit]"}},
        ErrorCase{"RetentionZero",
                  with_all("[audit]\nretention = \"0s\"\n"),
                  {"test.toml:2: [audit] retention: must be between 1s and 3660d, got 0s"}},
        ErrorCase{"RetentionNotADuration",
                  with_all("[audit]\nretention = \"6 months\"\n"),
                  {"test.toml:2: [audit] retention: \"6 months\" is not a duration (write 90s, "
                   "15m, 12h or 7d)"}},
        ErrorCase{"RetentionInteger",
                  with_all("[audit]\nretention = 180\n"),
                  {"test.toml:2: [audit] retention: expected a duration string such as \"15m\", "
                   "got integer"}}),
    error_case_name);

INSTANTIATE_TEST_SUITE_P(
    Metrics, ConfigErrors,
    testing::Values(
        ErrorCase{"UnknownKey",
                  with_all("[metrics]\nallow = []\nlisten = \":9100\"\n"),
                  {"test.toml:3: unknown key \"listen\" in [metrics]"}},
        ErrorCase{"AllowNotAnArray",
                  with_all("[metrics]\nallow = \"127.0.0.1/32\"\n"),
                  {"test.toml:2: [metrics] allow: expected an array of strings, got string"}},
        ErrorCase{"AllowElementNotAString",
                  with_all("[metrics]\nallow = [\n  \"127.0.0.1\",\n  8,\n]\n"),
                  {"test.toml:4: [metrics] allow[1]: expected a string, got integer"}},
        ErrorCase{"AllowNotANetworkAtItsLine",
                  with_all("[metrics]\nallow = [\n  \"::1/128\",\n  \"localhost\",\n  \"10.0.0.0/33\",\n]\n"),
                  {"test.toml:4: [metrics] allow: \"localhost\" is not an IP address or CIDR network",
                   "test.toml:5: [metrics] allow: \"10.0.0.0/33\" is not an IP address or CIDR network"}}),
    error_case_name);

INSTANTIATE_TEST_SUITE_P(
    Log, ConfigErrors,
    testing::Values(
        ErrorCase{"UnknownKey",
                  with_all("[log]\nformat = \"json\"\nfile = \"/var/log/gatehouse.log\"\n"),
                  {"test.toml:3: unknown key \"file\" in [log]"}},
        ErrorCase{"FormatNotOneOfTheNames",
                  with_all("[log]\nformat = \"text\"\n"),
                  {"test.toml:2: [log] format: \"text\" is not one of kv, json"}},
        ErrorCase{"FormatInUpperCase",
                  with_all("[log]\nformat = \"JSON\"\n"),
                  {"test.toml:2: [log] format: \"JSON\" is not one of kv, json"}},
        ErrorCase{"FormatNotAString",
                  with_all("[log]\nformat = 1\n"),
                  {"test.toml:2: [log] format: expected a string, got integer"}},
        ErrorCase{"LevelNotOneOfTheNames",
                  with_all("[log]\nlevel = \"warn\"\n"),
                  {"test.toml:2: [log] level: \"warn\" is not one of debug, info, warning, error"}},
        ErrorCase{"LevelEmpty",
                  with_all("[log]\nlevel = \"\"\n"),
                  {"test.toml:2: [log] level: \"\" is not one of debug, info, warning, error"}},
        ErrorCase{"LevelNotAString",
                  with_all("[log]\nlevel = [\"info\"]\n"),
                  {"test.toml:2: [log] level: expected a string, got array"}},
        ErrorCase{"AccessLogNotABoolean",
                  with_all("[log]\naccess_log = \"yes\"\n"),
                  {"test.toml:2: [log] access_log: expected a boolean (true or false), got string"}},
        ErrorCase{"EveryBadValueAtItsLine",
                  with_all("[log]\nformat = \"xml\"\nlevel = \"trace\"\naccess_log = 1\n"),
                  {"test.toml:2: [log] format: \"xml\" is not one of kv, json",
                   "test.toml:3: [log] level: \"trace\" is not one of debug, info, warning, error",
                   "test.toml:4: [log] access_log: expected a boolean (true or false), got integer"}}),
    error_case_name);

INSTANTIATE_TEST_SUITE_P(
    TopLevel, ConfigErrors,
    testing::Values(ErrorCase{"OidcNotAnArrayOfTables",
                              with_all("oidc = \"sso\"\n"),
                              {"test.toml:1: oidc: expected an array of tables (write [[oidc]]), got string"}},
                    ErrorCase{"UnknownTable",
                              with_all("[servr]\nlisten = \":8080\"\n"),
                              {"test.toml:1: unknown table [servr]"}},
                    ErrorCase{"UnknownArrayOfTables",
                              with_all("[[routes]]\npath_prefix = \"/\"\n"),
                              {"test.toml:1: unknown table [[routes]]"}},
                    ErrorCase{"UnknownTopLevelKey",
                              with_all("debug = true\n"),
                              {"test.toml:1: unknown key \"debug\" at top level"}},
                    ErrorCase{"LockoutNotATable",
                              with_all("lockout = 5\n"),
                              {"test.toml:1: lockout: expected a table (write [lockout]), got "
                               "integer"}},
                    ErrorCase{"AuditNotATable",
                              with_all("audit = \"180d\"\n"),
                              {"test.toml:1: audit: expected a table (write [audit]), got string"}},
                    ErrorCase{"MetricsNotATable",
                              with_all("metrics = true\n"),
                              {"test.toml:1: metrics: expected a table (write [metrics]), got boolean"}},
                    ErrorCase{"LogNotATable",
                              with_all("log = \"json\"\n"),
                              {"test.toml:1: log: expected a table (write [log]), got string"}},
                    ErrorCase{
                        "SectionNotATable",
                        "server = \"127.0.0.1:8080\"\n" + kStore + kDirectory + kRoute,
                        {"test.toml:1: server: expected a table (write [server]), got string"}}),
    error_case_name);

// Lines 1-6: a valid [[oidc]] table; `extra` follows on line 7.
std::string oidc_table(const std::string& extra) {
  return std::string("[[oidc]]\nname = \"sso\"\nissuer = \"https://idp.example.org\"\n") +
         "client_id = \"gatehouse\"\nclient_secret_file = \"" __FILE__ "\"\ntenant = \"example\"\n" + extra;
}

TEST(ParseConfig, OidcProviderWithDefaults) {
  auto result = parse_config(with_all(oidc_table("")), "test.toml");
  ASSERT_TRUE(result.config) << (result.errors.empty() ? "" : result.errors[0].to_string());
  ASSERT_EQ(result.config->oidc.size(), 1u);
  const auto& o = result.config->oidc[0];
  EXPECT_EQ(o.name, "sso");
  EXPECT_EQ(o.display_name, "sso");
  EXPECT_EQ(o.issuer, "https://idp.example.org");
  EXPECT_EQ(o.issuer_url.host, "idp.example.org");
  EXPECT_EQ(o.client_id, "gatehouse");
  EXPECT_EQ(o.scopes, (std::vector<std::string>{"openid", "email", "profile"}));
  EXPECT_EQ(o.username_claim, "preferred_username");
  EXPECT_EQ(o.groups_claim, "groups");
  EXPECT_EQ(o.tenant, "example");
  EXPECT_TRUE(o.tenant_claim.empty());
  EXPECT_TRUE(o.bearer_audience.empty());
  EXPECT_EQ(o.algorithms, (std::vector<std::string>{"RS256", "PS256", "ES256", "EdDSA"}));
  EXPECT_EQ(o.clock_skew, Seconds(60));
  EXPECT_EQ(o.timeout, Seconds(10));
  EXPECT_TRUE(o.use_userinfo);
}

TEST(ParseConfig, OidcProviderEveryKey) {
  auto result = parse_config(
      with_all(oidc_table("display_name = \"Corporate SSO\"\nscopes = [\"openid\", \"groups\"]\n"
                          "username_claim = \"email\"\nemail_claim = \"mail\"\nname_claim = \"display\"\n"
                          "groups_claim = \"roles\"\ntenant_claim = \"org\"\n"
                          "bearer_audience = \"https://api.example.org\"\nalgorithms = [\"ES256\"]\n"
                          "clock_skew = \"30s\"\ntimeout = \"5s\"\ndiscovery_refresh = \"2h\"\n"
                          "jwks_refetch_interval = \"1m\"\nca_file = \"" __FILE__ "\"\nuse_userinfo = false\n")),
      "test.toml");
  ASSERT_TRUE(result.config) << (result.errors.empty() ? "" : result.errors[0].to_string());
  const auto& o = result.config->oidc.at(0);
  EXPECT_EQ(o.display_name, "Corporate SSO");
  EXPECT_EQ(o.scopes, (std::vector<std::string>{"openid", "groups"}));
  EXPECT_EQ(o.username_claim, "email");
  EXPECT_EQ(o.email_claim, "mail");
  EXPECT_EQ(o.name_claim, "display");
  EXPECT_EQ(o.groups_claim, "roles");
  EXPECT_EQ(o.tenant_claim, "org");
  EXPECT_EQ(o.bearer_audience, "https://api.example.org");
  EXPECT_EQ(o.algorithms, (std::vector<std::string>{"ES256"}));
  EXPECT_EQ(o.clock_skew, Seconds(30));
  EXPECT_EQ(o.timeout, Seconds(5));
  EXPECT_EQ(o.discovery_refresh, Seconds(7200));
  EXPECT_EQ(o.jwks_refetch_interval, Seconds(60));
  EXPECT_FALSE(o.use_userinfo);
}

TEST(ParseConfig, OidcAloneIsEnoughToSignIn) {
  auto result = parse_config(oidc_table("") + kServer + kStore + kRoute, "test.toml");
  ASSERT_TRUE(result.config) << (result.errors.empty() ? "" : result.errors[0].to_string());
  EXPECT_TRUE(result.config->directories.empty());
  EXPECT_EQ(result.config->oidc.size(), 1u);
}

TEST(ParseConfig, OidcHttpIssuerOnLoopbackIsAccepted) {
  auto text = replace_all(oidc_table(""), "https://idp.example.org", "http://127.0.0.1:9400");
  auto result = parse_config(with_all(text), "test.toml");
  ASSERT_TRUE(result.config) << (result.errors.empty() ? "" : result.errors[0].to_string());
  EXPECT_EQ(result.config->oidc.at(0).issuer, "http://127.0.0.1:9400");
}

INSTANTIATE_TEST_SUITE_P(
    Oidc, ConfigErrors,
    testing::Values(
        ErrorCase{"IssuerMissing",
                  with_all(replace_all(oidc_table(""), "issuer = \"https://idp.example.org\"\n", "\n")),
                  {"test.toml:1: [oidc] issuer: missing"}},
        ErrorCase{"IssuerPlainHttp",
                  with_all(replace_all(oidc_table(""), "https://idp.example.org", "http://idp.example.org")),
                  {"test.toml:3: [oidc] issuer: \"http://idp.example.org\" must use https (http only for a "
                   "provider on this machine)"}},
        ErrorCase{"IssuerNotAUrl",
                  with_all(replace_all(oidc_table(""), "https://idp.example.org", "idp.example.org")),
                  {"test.toml:3: [oidc] issuer: \"idp.example.org\" is not an https:// URL (no query or "
                   "fragment)"}},
        ErrorCase{"ClientIdMissing",
                  with_all(replace_all(oidc_table(""), "client_id = \"gatehouse\"\n", "\n")),
                  {"test.toml:1: [oidc] client_id: missing"}},
        ErrorCase{"SecretFileMissing",
                  with_all(oidc_table("").replace(oidc_table("").find("client_secret_file"),
                                                  std::string("client_secret_file = \"" __FILE__ "\"").size(),
                                                  "client_secret_file = \"/nonexistent/oidc.secret\"")),
                  {"test.toml:5: [oidc] client_secret_file: missing file \"/nonexistent/oidc.secret\""}},
        ErrorCase{"NoTenant",
                  with_all(replace_all(oidc_table(""), "tenant = \"example\"\n", "\n")),
                  {"test.toml:1: [oidc] \"sso\": set tenant (the organisation of its users) or tenant_claim"}},
        ErrorCase{"AlgorithmNone",
                  with_all(oidc_table("algorithms = [\"RS256\", \"none\"]\n")),
                  {"test.toml:7: [oidc] algorithms: \"none\" is not accepted (choose from RS256, PS256, "
                   "ES256, EdDSA; never none or HS*)"}},
        ErrorCase{"AlgorithmHmac",
                  with_all(oidc_table("algorithms = [\"HS256\"]\n")),
                  {"test.toml:7: [oidc] algorithms: \"HS256\" is not accepted (choose from RS256, PS256, "
                   "ES256, EdDSA; never none or HS*)"}},
        ErrorCase{"ScopesWithoutOpenid",
                  with_all(oidc_table("scopes = [\"email\"]\n")),
                  {"test.toml:7: [oidc] scopes: must include \"openid\""}},
        ErrorCase{"NameClashesWithDirectory",
                  with_all(replace_all(oidc_table(""), "name = \"sso\"", "name = \"local\"")),
                  {"test.toml:2: [oidc] name: \"local\" is already used by the [[directory]] or [[oidc]] "
                   "at line 12"}},
        ErrorCase{"UnknownKey",
                  with_all(oidc_table("client_secret = \"hunter2\"\n")),
                  {"test.toml:7: unknown key \"client_secret\" in [oidc]"}},
        ErrorCase{"SkewTooLarge",
                  with_all(oidc_table("clock_skew = \"1h\"\n")),
                  {"test.toml:7: [oidc] clock_skew: must be between 0s and 10m, got 1h"}}),
    error_case_name);

// ---------------------------------------------------------------------------------------
// Route prefixes are held to the normal form request paths are routed by

struct PrefixCase {
  std::string name;
  std::string prefix;  // as written in the file (TOML basic-string escapes allowed)
  std::string normal;  // the form to write; "" when no form can ever match
};

class RoutePrefixNotNormal : public testing::TestWithParam<PrefixCase> {};

TEST_P(RoutePrefixNotNormal, IsRefusedNamingTheNormalForm) {
  const auto& c = GetParam();
  auto result = parse_config(
      with_routes("[[route]]\npath_prefix = \"" + c.prefix + "\"\nupstream = \"http://127.0.0.1:1\"\n"), "test.toml");
  EXPECT_FALSE(result.config) << c.prefix;
  ASSERT_EQ(result.errors.size(), 1u) << c.prefix;
  const std::string m = result.errors[0].to_string();
  EXPECT_EQ(m.rfind("test.toml:2: [route] path_prefix: ", 0), 0u) << m;
  EXPECT_NE(m.find("can never match"), std::string::npos) << m;
  if (!c.normal.empty()) {
    EXPECT_EQ(m.substr(m.size() - c.normal.size() - 8), "write \"" + c.normal + "\"") << m;
    // The form it names is accepted as it is.
    auto fixed = parse_config(
        with_routes("[[route]]\npath_prefix = \"" + c.normal + "\"\nupstream = \"http://127.0.0.1:1\"\n"), "test.toml");
    EXPECT_EQ(messages(fixed), std::vector<std::string>{}) << c.normal;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, RoutePrefixNotNormal,
    testing::Values(
        // Escapes of unreserved characters: requests arrive with them decoded.
        PrefixCase{"TildeEncoded", "/%7Eadmin", "/~admin"}, PrefixCase{"TildeEncodedLower", "/%7eadmin", "/~admin"},
        PrefixCase{"LetterEncoded", "/%61dmin", "/admin"}, PrefixCase{"UpperLetterEncoded", "/%41dmin", "/Admin"},
        PrefixCase{"DigitEncoded", "/v%31", "/v1"}, PrefixCase{"DashEncoded", "/a%2Db", "/a-b"},
        PrefixCase{"UnderscoreEncoded", "/a%5fb", "/a_b"}, PrefixCase{"DotEncodedInName", "/a%2Eb", "/a.b"},
        PrefixCase{"AllEncoded", "/%61%64%6D%69%6E", "/admin"},
        // Other escapes are kept, upper-cased.
        PrefixCase{"LowerHexEscape", "/a%3fb", "/a%3Fb"}, PrefixCase{"LowerHexUtf8", "/a%c3%a9", "/a%C3%A9"},
        PrefixCase{"MixedCaseHex", "/a%3F%3fb", "/a%3F%3Fb"},
        // Dot segments, raw and encoded.
        PrefixCase{"DotSegment", "/api/./internal", "/api/internal"},
        PrefixCase{"DotDotSegment", "/api/../internal", "/internal"},
        PrefixCase{"DotDotAboveRoot", "/../admin", "/admin"}, PrefixCase{"DotAtEnd", "/api/.", "/api"},
        PrefixCase{"DotDotAtEnd", "/api/internal/..", "/api"}, PrefixCase{"OnlyDot", "/.", "/"},
        PrefixCase{"OnlyDotDot", "/..", "/"}, PrefixCase{"EncodedDot", "/api/%2e/internal", "/api/internal"},
        PrefixCase{"EncodedDotDot", "/api/%2e%2e/internal", "/internal"},
        PrefixCase{"HalfEncodedDotDot", "/api/.%2E/internal", "/internal"},
        // Repeated slashes inside the prefix (trailing ones are simply dropped).
        PrefixCase{"DoubleSlash", "/api//internal", "/api/internal"}, PrefixCase{"LeadingDoubleSlash", "//admin", "/admin"},
        PrefixCase{"ManySlashes", "/a///b////c", "/a/b/c"},
        // Raw non-ASCII: browsers send it percent-encoded.
        PrefixCase{"NonAscii", "/caf\\u00e9", "/caf%C3%A9"},
        // Forms no request can have: refused with 400 before routing.
        PrefixCase{"EncodedSlash", "/a%2Fb", ""}, PrefixCase{"EncodedSlashLower", "/a%2fb", ""},
        PrefixCase{"EncodedBackslash", "/a%5Cb", ""}, PrefixCase{"Backslash", "/a\\\\b", ""},
        PrefixCase{"EncodedNul", "/a%00b", ""}, PrefixCase{"EncodedControl", "/a%1Fb", ""},
        PrefixCase{"EncodedDel", "/a%7Fb", ""}, PrefixCase{"Control", "/a\\u0001b", ""},
        PrefixCase{"Del", "/a\\u007fb", ""}, PrefixCase{"TruncatedEscape", "/a%4", ""},
        PrefixCase{"EscapeAtEnd", "/a%", ""}, PrefixCase{"BadHexEscape", "/a%zzb", ""}),
    [](const testing::TestParamInfo<PrefixCase>& info) { return info.param.name; });

TEST(ParseConfig, NormalRoutePrefixesAreAcceptedAsWritten) {
  for (std::string prefix : {"/", "/app", "/~admin", "/a%3Fb", "/caf%C3%A9", "/a.b/c..d/...", "/a;b=c", "/a:b@c",
                             "/!$&'()*+,=", "/.well-known"}) {
    auto result = parse_config(
        with_routes("[[route]]\npath_prefix = \"" + prefix + "\"\nupstream = \"http://127.0.0.1:1\"\n"), "test.toml");
    ASSERT_EQ(messages(result), std::vector<std::string>{}) << prefix;
    EXPECT_EQ(result.config->routes[0].path_prefix, prefix);
  }
}

// ---------------------------------------------------------------------------------------
// Bounds: every number and every duration has a maximum (and a minimum), so no
// configured value can overflow the arithmetic it later takes part in.

struct BoundedKey {
  std::string label;  // "[lockout] lock_duration", as the messages write it
  std::string key;
  int line;           // where `key = …` lands in document()
  std::string (*document)(const std::string& line);  // "key = value\n" -> whole file
  bool duration;
  long long min, max;  // seconds for durations
};

std::string server_doc(const std::string& line) { return with_server(kListenAndUrl + line); }
std::string session_doc(const std::string& line) { return with_session(line); }
// idle_timeout and absolute_timeout are also checked against each other; the other one
// is set so that only the bound under test can fail.
std::string idle_doc(const std::string& line) { return with_session(line + "absolute_timeout = \"366d\"\n"); }
std::string absolute_doc(const std::string& line) { return with_session(line + "idle_timeout = \"1s\"\n"); }
std::string lockout_doc(const std::string& line) { return with_all("[lockout]\n" + line); }
std::string audit_doc(const std::string& line) { return with_all("[audit]\n" + line); }
std::string ldap_doc(const std::string& line) { return with_all(ldap_table(line)); }
std::string oidc_doc(const std::string& line) { return with_all(oidc_table(line)); }

const std::vector<BoundedKey>& bounded_keys() {
  static const std::vector<BoundedKey> keys = {
      {"[server] upstream_connect_timeout", "upstream_connect_timeout", 4, server_doc, true, 1, 300},
      {"[server] upstream_timeout", "upstream_timeout", 4, server_doc, true, 1, 86400},
      {"[server] shutdown_timeout", "shutdown_timeout", 4, server_doc, true, 1, 3600},
      {"[server] header_timeout", "header_timeout", 4, server_doc, true, 1, 300},
      {"[server] keepalive_timeout", "keepalive_timeout", 4, server_doc, true, 1, 3600},
      {"[server] max_body_bytes", "max_body_bytes", 4, server_doc, false, 1, 1LL << 40},
      {"[server] max_header_bytes", "max_header_bytes", 4, server_doc, false, 1024, 1048576},
      {"[server] threads", "threads", 4, server_doc, false, 0, 256},
      {"[session] idle_timeout", "idle_timeout", 2, idle_doc, true, 1, 366 * 86400},
      {"[session] absolute_timeout", "absolute_timeout", 2, absolute_doc, true, 1, 366 * 86400},
      {"[session] assertion_ttl", "assertion_ttl", 2, session_doc, true, 10, 3600},
      {"[lockout] max_failures", "max_failures", 2, lockout_doc, false, 1, 1000000},
      {"[lockout] ip_max_failures", "ip_max_failures", 2, lockout_doc, false, 1, 1000000},
      {"[lockout] window", "window", 2, lockout_doc, true, 1, 366 * 86400},
      {"[lockout] lock_duration", "lock_duration", 2, lockout_doc, true, 0, 366 * 86400},
      {"[audit] retention", "retention", 2, audit_doc, true, 1, 3660LL * 86400},
      {"[directory] connect_timeout", "connect_timeout", 9, ldap_doc, true, 1, 60},
      {"[directory] timeout", "timeout", 9, ldap_doc, true, 1, 300},
      {"[directory] retry_after", "retry_after", 9, ldap_doc, true, 1, 3600},
      {"[directory] group_cache_ttl", "group_cache_ttl", 9, ldap_doc, true, 0, 3600},
      {"[directory] pool_size", "pool_size", 9, ldap_doc, false, 1, 256},
      {"[oidc] clock_skew", "clock_skew", 7, oidc_doc, true, 0, 600},
      {"[oidc] timeout", "timeout", 7, oidc_doc, true, 1, 120},
      {"[oidc] discovery_refresh", "discovery_refresh", 7, oidc_doc, true, 60, 7 * 86400},
      {"[oidc] jwks_refetch_interval", "jwks_refetch_interval", 7, oidc_doc, true, 1, 3600},
  };
  return keys;
}

struct BoundCase {
  std::string name;
  std::string text;  // the whole document
  std::optional<std::string> error;  // nullopt: accepted
};

std::string case_name(const std::string& key, const std::string& what) {
  std::string out;
  for (char c : key + "_" + what) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

// For each key: its minimum and maximum accepted, one beyond each, and values that
// overflow 64 bits or any clock (as durations: in every unit).
std::vector<BoundCase> bound_cases() {
  std::vector<BoundCase> out;
  for (const auto& k : bounded_keys()) {
    const std::string prefix = "test.toml:" + std::to_string(k.line) + ": " + k.label + ": ";
    auto add = [&](const std::string& what, const std::string& value, std::optional<std::string> error) {
      out.push_back({case_name(k.key + "_" + k.label.substr(1, k.label.find(']') - 1), what),
                     k.document(k.key + " = " + value + "\n"),
                     error ? std::optional(prefix + *error) : std::nullopt});
    };
    if (k.duration) {
      const std::string range =
          "must be between " + format_duration(Seconds(k.min)) + " and " + format_duration(Seconds(k.max)) + ", got ";
      auto quoted = [](const std::string& v) { return "\"" + v + "\""; };
      add("Min", quoted(std::to_string(k.min) + "s"), std::nullopt);
      add("Max", quoted(std::to_string(k.max) + "s"), std::nullopt);
      add("MaxPlusOne", quoted(std::to_string(k.max + 1) + "s"), range + format_duration(Seconds(k.max + 1)));
      if (k.min > 0) add("MinMinusOne", quoted(std::to_string(k.min - 1) + "s"), range + format_duration(Seconds(k.min - 1)));
      add("OneHundredYears", quoted("36500d"), range + "36500d");
      // Beyond kMaxDuration: not parsed at all, the text is quoted back.
      for (std::string v : {"106751991167300d", "36501d", "876001h", "52560001m", "3153600001s",
                                   "9223372036854775807s", "9223372036854775808s", "9223372036854775807d",
                                   "153722867280912931m", "99999999999999999999999999999999h"})
        add("Huge_" + v, quoted(v), range + quoted(v));
      add("Negative", quoted("-1s"), "\"-1s\" is not a duration (write 90s, 15m, 12h or 7d)");
    } else {
      const std::string range = "must be between " + std::to_string(k.min) + " and " + std::to_string(k.max) + ", got ";
      add("Min", std::to_string(k.min), std::nullopt);
      add("Max", std::to_string(k.max), std::nullopt);
      add("MaxPlusOne", std::to_string(k.max + 1), range + std::to_string(k.max + 1));
      add("MinMinusOne", std::to_string(k.min - 1), range + std::to_string(k.min - 1));
      add("Int64Max", "9223372036854775807", range + "9223372036854775807");
      add("Int64Min", "-9223372036854775808", range + "-9223372036854775808");
      add("Hex", "0x7fffffffffffffff", range + "9223372036854775807");
      add("MinusOne", "-1", k.min <= -1 ? std::nullopt : std::optional(range + "-1"));
    }
  }
  return out;
}

class ConfigBounds : public testing::TestWithParam<BoundCase> {};

TEST_P(ConfigBounds, EveryNumberAndDurationIsBounded) {
  const auto& c = GetParam();
  auto result = parse_config(c.text, "test.toml");
  if (c.error) {
    EXPECT_EQ(messages(result), std::vector<std::string>{*c.error}) << c.text;
    EXPECT_FALSE(result.config);
  } else {
    EXPECT_EQ(messages(result), std::vector<std::string>{}) << c.text;
    EXPECT_TRUE(result.config);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ConfigBounds, testing::ValuesIn(bound_cases()),
                         [](const testing::TestParamInfo<BoundCase>& info) { return info.param.name; });

// An integer beyond 64 bits is a TOML syntax error: one error, at its line.
TEST(ParseConfig, IntegerBeyondSixtyFourBitsIsAnErrorAtItsLine) {
  for (std::string v : {"9223372036854775808", "-9223372036854775809", "99999999999999999999999",
                               "0xffffffffffffffffff"}) {
    auto result = parse_config(with_all("[lockout]\nmax_failures = " + v + "\n"), "test.toml");
    EXPECT_FALSE(result.config) << v;
    ASSERT_EQ(result.errors.size(), 1u) << v;
    EXPECT_EQ(result.errors[0].line, 2) << v;
  }
}

// ---------------------------------------------------------------------------------------
// What `serve` needs from the file system is checked by `config check` too

// parse_config in a child process that runs as nobody when the tests run as root (root
// may write and read anything, so permission checks would pass); its messages come back
// through a pipe.
std::vector<std::string> messages_unprivileged(const std::string& text) {
  int fds[2];
  if (::pipe(fds) != 0) return {"pipe failed"};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
                             ::setresuid(65534, 65534, 65534) != 0)) {
      out = "could not drop privileges";
    } else {
      for (const auto& m : messages(parse_config(text, "test.toml"))) out += m + "\n";
    }
    for (std::size_t done = 0; done < out.size();) {
      const ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string all;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) all.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::vector<std::string> out;
  std::istringstream lines(all);
  for (std::string line; std::getline(lines, line);) out.push_back(line);
  return out;
}

struct FsCase {
  std::string name;
  void (*setup)(const TempDir& dir);  // files and modes; the directory itself is 0777
  std::string text;                   // "@" stands for the directory
  std::vector<std::string> expected;  // likewise
};

void nothing(const TempDir&) {}
void write_mode(const TempDir& dir, const std::string& name, const std::string& content, fs::perms mode) {
  dir.write(name, content);
  fs::permissions(dir.file(name), mode);
}
void make_dir(const TempDir& dir, const std::string& name, fs::perms mode) {
  fs::create_directories(dir.file(name));
  fs::permissions(dir.file(name), mode);
}
constexpr auto kAll = fs::perms::all;
constexpr auto kReadOnly = fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read;
constexpr auto kReadExec = kReadOnly | fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec;
const std::string kKey32(32, 'k');
const std::string kKeyHex = std::string(64, 'a') + "\n";

// [[oidc]] with client_secret_file on line 5.
std::string oidc_secret_doc(const std::string& file) {
  return with_all("[[oidc]]\nname = \"sso\"\nissuer = \"https://idp.example.org\"\nclient_id = \"gatehouse\"\n"
                  "client_secret_file = \"" + file + "\"\ntenant = \"example\"\n");
}
// [[directory]] kind = "ldap" with bind_password_file on line 9.
std::string ldap_secret_doc(const std::string& file) {
  return with_all(ldap_table("bind_password_file = \"" + file + "\"\n", true, false));
}

class ServeNeeds : public testing::TestWithParam<FsCase> {};

TEST_P(ServeNeeds, AreCheckedWithFileAndLine) {
  const auto& c = GetParam();
  TempDir dir;
  fs::permissions(dir.path(), kAll);
  c.setup(dir);
  const std::string at = dir.path().string();
  std::vector<std::string> expected;
  for (const auto& e : c.expected) expected.push_back(replace_all(e, "@", at));
  EXPECT_EQ(messages_unprivileged(replace_all(c.text, "@", at)), expected);
  // Leave everything removable.
  for (const auto& entry : fs::recursive_directory_iterator(dir.path())) fs::permissions(entry.path(), kAll);
}

INSTANTIATE_TEST_SUITE_P(
    Store, ServeNeeds,
    testing::Values(
        FsCase{"NewFileInWritableDirectory", nothing, with_store("path = \"@/gh.db\"\n"), {}},
        FsCase{"ExistingWritableFile", [](const TempDir& d) { write_mode(d, "gh.db", "", kAll); },
               with_store("path = \"@/gh.db\"\n"), {}},
        FsCase{"InMemory", nothing, with_store("path = \":memory:\"\n"), {}},
        FsCase{"DirectoryMissing", nothing, with_store("path = \"@/missing/gh.db\"\n"),
               {"test.toml:2: [store] path: missing directory \"@/missing\""}},
        FsCase{"NestedDirectoryMissing", nothing, with_store("path = \"@/a/b/c/gh.db\"\n"),
               {"test.toml:2: [store] path: missing directory \"@/a/b/c\""}},
        FsCase{"ParentIsAFile", [](const TempDir& d) { write_mode(d, "file", "x", kAll); },
               with_store("path = \"@/file/gh.db\"\n"), {"test.toml:2: [store] path: \"@/file\" is not a directory"}},
        FsCase{"PathIsADirectory", nothing, with_store("path = \"@\"\n"),
               {"test.toml:2: [store] path: \"@\" is a directory, not a file"}},
        FsCase{"PathIsADirectoryWithSlash", nothing, with_store("path = \"@/\"\n"),
               {"test.toml:2: [store] path: \"@/\" is a directory, not a file"}},
        FsCase{"PathIsADevice", nothing, with_store("path = \"/dev/null\"\n"),
               {"test.toml:2: [store] path: \"/dev/null\" is not a regular file"}},
        FsCase{"DirectoryNotWritable", [](const TempDir& d) { make_dir(d, "ro", kReadExec); },
               with_store("path = \"@/ro/gh.db\"\n"),
               {"test.toml:2: [store] path: cannot create files in directory \"@/ro\": Permission denied"}},
        FsCase{"DirectoryNotSearchable", [](const TempDir& d) { make_dir(d, "nox", kReadOnly); },
               with_store("path = \"@/nox/gh.db\"\n"),
               {"test.toml:2: [store] path: cannot create files in directory \"@/nox\": Permission denied"}},
        FsCase{"ExistingFileInReadOnlyDirectory",
               [](const TempDir& d) {
                 make_dir(d, "ro", kAll);
                 write_mode(d, "ro/gh.db", "", kAll);
                 fs::permissions(d.file("ro"), kReadExec);
               },
               with_store("path = \"@/ro/gh.db\"\n"),
               {"test.toml:2: [store] path: cannot create files in directory \"@/ro\": Permission denied"}},
        FsCase{"ExistingFileReadOnly", [](const TempDir& d) { write_mode(d, "gh.db", "", kReadOnly); },
               with_store("path = \"@/gh.db\"\n"),
               {"test.toml:2: [store] path: cannot write \"@/gh.db\": Permission denied"}},
        FsCase{"ExistingFileUnreadable", [](const TempDir& d) { write_mode(d, "gh.db", "", fs::perms::none); },
               with_store("path = \"@/gh.db\"\n"),
               {"test.toml:2: [store] path: cannot write \"@/gh.db\": Permission denied"}}),
    [](const testing::TestParamInfo<FsCase>& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Keys, ServeNeeds,
    testing::Values(
        FsCase{"AbsentInWritableDirectory", nothing, with_keys("master_key_file = \"@/master.key\"\n"), {}},
        FsCase{"RawKey", [](const TempDir& d) { write_mode(d, "master.key", kKey32, kReadOnly); },
               with_keys("master_key_file = \"@/master.key\"\n"), {}},
        FsCase{"HexKey", [](const TempDir& d) { write_mode(d, "master.key", kKeyHex, kReadOnly); },
               with_keys("master_key_file = \"@/master.key\"\n"), {}},
        FsCase{"HexKeyCrLf", [](const TempDir& d) { write_mode(d, "master.key", std::string(64, 'a') + "\r\n", kReadOnly); },
               with_keys("master_key_file = \"@/master.key\"\n"), {}},
        FsCase{"DirectoryMissing", nothing, with_keys("master_key_file = \"@/missing/master.key\"\n"),
               {"test.toml:2: [keys] master_key_file: missing file \"@/missing/master.key\", and it cannot be "
                "created: missing directory \"@/missing\""}},
        FsCase{"ParentIsAFile", [](const TempDir& d) { write_mode(d, "file", "x", kAll); },
               with_keys("master_key_file = \"@/file/master.key\"\n"),
               {"test.toml:2: [keys] master_key_file: missing file \"@/file/master.key\", and it cannot be "
                "created: \"@/file\" is not a directory"}},
        FsCase{"AbsentInReadOnlyDirectory", [](const TempDir& d) { make_dir(d, "ro", kReadExec); },
               with_keys("master_key_file = \"@/ro/master.key\"\n"),
               {"test.toml:2: [keys] master_key_file: missing file \"@/ro/master.key\", and it cannot be "
                "created: cannot create files in directory \"@/ro\": Permission denied"}},
        FsCase{"Unreadable", [](const TempDir& d) { write_mode(d, "master.key", kKey32, fs::perms::none); },
               with_keys("master_key_file = \"@/master.key\"\n"),
               {"test.toml:2: [keys] master_key_file: cannot read file \"@/master.key\": Permission denied"}},
        FsCase{"Empty", [](const TempDir& d) { write_mode(d, "master.key", "", kReadOnly); },
               with_keys("master_key_file = \"@/master.key\"\n"),
               {"test.toml:2: [keys] master_key_file: \"@/master.key\" has 0 bytes; a master key is 32 raw "
                "bytes or 64 hexadecimal digits"}},
        FsCase{"TooShort", [](const TempDir& d) { write_mode(d, "master.key", std::string(31, 'k'), kReadOnly); },
               with_keys("master_key_file = \"@/master.key\"\n"),
               {"test.toml:2: [keys] master_key_file: \"@/master.key\" has 31 bytes; a master key is 32 raw "
                "bytes or 64 hexadecimal digits"}},
        FsCase{"BetweenRawAndHex", [](const TempDir& d) { write_mode(d, "master.key", std::string(33, 'k'), kReadOnly); },
               with_keys("master_key_file = \"@/master.key\"\n"),
               {"test.toml:2: [keys] master_key_file: \"@/master.key\" has 33 bytes; a master key is 32 raw "
                "bytes or 64 hexadecimal digits"}},
        FsCase{"TooLong", [](const TempDir& d) { write_mode(d, "master.key", std::string(4096, 'k'), kReadOnly); },
               with_keys("master_key_file = \"@/master.key\"\n"),
               {"test.toml:2: [keys] master_key_file: \"@/master.key\" has 4096 bytes; a master key is 32 raw "
                "bytes or 64 hexadecimal digits"}}),
    [](const testing::TestParamInfo<FsCase>& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    SecretFiles, ServeNeeds,
    testing::Values(
        FsCase{"OidcSecret", [](const TempDir& d) { write_mode(d, "secret", "s3cret\n", kReadOnly); },
               oidc_secret_doc("@/secret"), {}},
        FsCase{"OidcSecretMissing", nothing, oidc_secret_doc("@/secret"),
               {"test.toml:5: [oidc] client_secret_file: missing file \"@/secret\""}},
        FsCase{"OidcSecretEmpty", [](const TempDir& d) { write_mode(d, "secret", "", kReadOnly); },
               oidc_secret_doc("@/secret"), {"test.toml:5: [oidc] client_secret_file: \"@/secret\" is empty"}},
        FsCase{"OidcSecretOnlyANewline", [](const TempDir& d) { write_mode(d, "secret", "\n", kReadOnly); },
               oidc_secret_doc("@/secret"), {"test.toml:5: [oidc] client_secret_file: \"@/secret\" is empty"}},
        FsCase{"OidcSecretOnlyCrLf", [](const TempDir& d) { write_mode(d, "secret", "\r\n", kReadOnly); },
               oidc_secret_doc("@/secret"), {"test.toml:5: [oidc] client_secret_file: \"@/secret\" is empty"}},
        FsCase{"OidcSecretUnreadable", [](const TempDir& d) { write_mode(d, "secret", "s3cret", fs::perms::none); },
               oidc_secret_doc("@/secret"),
               {"test.toml:5: [oidc] client_secret_file: cannot read file \"@/secret\": Permission denied"}},
        FsCase{"OidcSecretIsADirectory", [](const TempDir& d) { make_dir(d, "secret", kAll); },
               oidc_secret_doc("@/secret"),
               {"test.toml:5: [oidc] client_secret_file: \"@/secret\" is a directory, not a file"}},
        FsCase{"LdapPassword", [](const TempDir& d) { write_mode(d, "ldap.pw", "pw", kReadOnly); },
               ldap_secret_doc("@/ldap.pw"), {}},
        FsCase{"LdapPasswordMissing", nothing, ldap_secret_doc("@/ldap.pw"),
               {"test.toml:9: [directory] bind_password_file: missing file \"@/ldap.pw\""}},
        FsCase{"LdapPasswordEmpty", [](const TempDir& d) { write_mode(d, "ldap.pw", "", kReadOnly); },
               ldap_secret_doc("@/ldap.pw"), {"test.toml:9: [directory] bind_password_file: \"@/ldap.pw\" is empty"}},
        FsCase{"LdapPasswordOnlyANewline", [](const TempDir& d) { write_mode(d, "ldap.pw", "\n", kReadOnly); },
               ldap_secret_doc("@/ldap.pw"), {"test.toml:9: [directory] bind_password_file: \"@/ldap.pw\" is empty"}},
        FsCase{"LdapPasswordUnreadable", [](const TempDir& d) { write_mode(d, "ldap.pw", "pw", fs::perms::none); },
               ldap_secret_doc("@/ldap.pw"),
               {"test.toml:9: [directory] bind_password_file: cannot read file \"@/ldap.pw\": Permission denied"}},
        FsCase{"LdapPasswordInUnsearchableDirectory",
               [](const TempDir& d) {
                 make_dir(d, "private", kAll);
                 write_mode(d, "private/ldap.pw", "pw", kAll);
                 fs::permissions(d.file("private"), fs::perms::owner_all);
               },
               ldap_secret_doc("@/private/ldap.pw"),
               {"test.toml:9: [directory] bind_password_file: cannot read file \"@/private/ldap.pw\": Permission "
                "denied"}}),
    [](const testing::TestParamInfo<FsCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------
// Whole-file behaviour

TEST(ParseConfig, CollectsEveryErrorSortedByLine) {
  // Routes come first in the file but are validated last: the output is still in file
  // order.
  std::string text =
      "[[route]]\n"                               // 1
      "path_prefix = \"app\"\n"                   // 2
      "upstream = \"ftp://x\"\n"                  // 3
      "[server]\n"                                // 4
      "listen = 8080\n"                           // 5
      "public_url = \"http://127.0.0.1:8080\"\n"  // 6
      "trusted_proxies = [\"bad\"]\n"             // 7
      "color = \"blue\"\n"                        // 8
      "[session]\n"                               // 9
      "idle_timeout = \"15 minutes\"\n"           // 10
      "[lockout]\n"                               // 11
      "max_failures = 0\n";                       // 12
  auto result = parse_config(text, "test.toml");
  EXPECT_FALSE(result.config);
  EXPECT_EQ(messages(result),
            (std::vector<std::string>{
                "test.toml:1: [store] path: missing",
                "test.toml:1: no [[directory]] or [[oidc]] configured: nobody could sign in",
                "test.toml:2: [route] path_prefix: \"app\" does not start with \"/\"",
                "test.toml:3: [route] upstream: \"ftp://x\" is not an http:// or https:// URL",
                "test.toml:5: [server] listen: expected a string, got integer",
                "test.toml:7: [server] trusted_proxies: \"bad\" is not an IP address or CIDR "
                "network",
                "test.toml:8: unknown key \"color\" in [server]",
                "test.toml:10: [session] idle_timeout: \"15 minutes\" is not a duration (write "
                "90s, 15m, 12h or 7d)",
                "test.toml:12: [lockout] max_failures: must be between 1 and 1000000, got 0",
            }));
}

TEST(ParseConfig, SyntaxErrorIsOneErrorAtTheParsersLine) {
  auto result = parse_config("[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \n", "test.toml");
  EXPECT_FALSE(result.config);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].file, "test.toml");
  EXPECT_EQ(result.errors[0].line, 3);
  EXPECT_FALSE(result.errors[0].message.empty());
  EXPECT_EQ(result.errors[0].to_string().rfind("test.toml:3: ", 0), 0u)
      << result.errors[0].to_string();
}

TEST(ParseConfig, DuplicateTableIsASyntaxError) {
  auto result = parse_config(with_all("") + "[server]\nthreads = 1\n", "test.toml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].line, 12);
}

TEST(LoadConfig, MissingFileIsOneErrorAtLineOne) {
  TempDir dir;
  std::string path = dir.file("absent.toml");
  auto result = load_config(path);
  EXPECT_FALSE(result.config);
  EXPECT_EQ(messages(result),
            std::vector<std::string>{path + ":1: cannot read file: No such file or directory"});
}

TEST(LoadConfig, DirectoryInsteadOfFileIsOneErrorAtLineOne) {
  TempDir dir;
  auto result = load_config(dir.path().string());
  EXPECT_FALSE(result.config);
  EXPECT_EQ(messages(result),
            std::vector<std::string>{dir.path().string() + ":1: cannot read file: Is a directory"});
}

TEST(LoadConfig, ErrorsNameTheFileThatWasLoaded) {
  TempDir dir;
  std::string path = dir.write("bad.toml", with_server(kListenAndUrl + "threads = 999\n"));
  auto result = load_config(path);
  EXPECT_EQ(
      messages(result),
      std::vector<std::string>{path + ":4: [server] threads: must be between 0 and 256, got 999"});
}

}  // namespace
}  // namespace gatehouse::config
