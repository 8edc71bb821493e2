// [smtp], [delegation], [[tenant]] and the tenants / banner keys of [[route]]: defaults,
// every value read, and each bad input reported as FILE:LINE: message.
// The test sources are compiled as a unity build: everything here lives in its own
// namespace so that no name meets one of config_test.cc.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"

namespace gatehouse::config::tenancy_config_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::vector<std::string> error_lines(const LoadResult& result) {
  std::vector<std::string> out;
  for (const auto& e : result.errors) out.push_back(e.to_string());
  return out;
}

std::string substitute(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}

// A directory removed with its contents at the end.
class Scratch {
 public:
  Scratch() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("gatehouse-tenancy-test-" + std::to_string(::getpid()) + "-" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "-" +
             std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(file(name), std::ios::binary) << content;
    return file(name);
  }

 private:
  fs::path path_;
};

// The rest of a valid file, after the table under test (so that its lines count from 1).
const std::string kRest =
    "[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"http://127.0.0.1:8080\"\n"
    "[store]\npath = \"/tmp/gatehouse-test.db\"\n"
    "[[directory]]\nname = \"local\"\nkind = \"local\"\n";
const std::string kPlainRoute = "[[route]]\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:9000\"\n";

// A readable, non-empty file for password_file and ca_file: this source file.
const std::string kReadable = __FILE__;

// "[smtp]" on line 1, then `body` from line 2.
std::string smtp_doc(const std::string& body) { return "[smtp]\n" + body + kRest + kPlainRoute; }
// "[delegation]" on line 1, then `body` from line 2.
std::string delegation_doc(const std::string& body) { return "[delegation]\n" + body + kRest + kPlainRoute; }
// `tables` from line 1.
std::string tenant_doc(const std::string& tables) { return tables + kRest + kPlainRoute; }
// A [[route]] on line 1 (path_prefix line 2, upstream line 3), then `body` from line 4.
std::string route_doc(const std::string& body) {
  return "[[route]]\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:9000\"\n" + body + kRest;
}

LoadResult load(const std::string& text) { return parse_config(text, "test.toml"); }

// ---------------------------------------------------------------------------------------
// Defaults and good values

TEST(TenancyConfig, DefaultsWithoutTheNewTables) {
  auto result = load(kRest + kPlainRoute);
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  const Config& c = *result.config;
  EXPECT_EQ(c.smtp.url, "");
  EXPECT_TRUE(c.smtp.starttls);
  EXPECT_EQ(c.smtp.from, "");
  EXPECT_EQ(c.smtp.username, "");
  EXPECT_EQ(c.smtp.password_file, "");
  EXPECT_EQ(c.smtp.ca_file, "");
  EXPECT_EQ(c.smtp.timeout, 30s);
  EXPECT_TRUE(c.smtp.tls_verify);
  EXPECT_EQ(c.delegation.default_duration, 7 * 24h);
  EXPECT_TRUE(c.tenants.empty());
  EXPECT_EQ(c.find_tenant("acme"), nullptr);
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_TRUE(c.routes[0].tenants.empty());
  EXPECT_TRUE(c.routes[0].banner);
}

TEST(TenancyConfig, EmptyTablesKeepTheDefaults) {
  auto result = load("[smtp]\n[delegation]\n" + kRest + kPlainRoute);
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  EXPECT_EQ(result.config->smtp.url, "");
  EXPECT_EQ(result.config->smtp.timeout, 30s);
  EXPECT_EQ(result.config->delegation.default_duration, 7 * 24h);
}

TEST(TenancyConfig, ContractSmtpTableWithEmptyLoginIsNotConfiguredLogin) {
  auto result = load(smtp_doc(
      "url = \"smtp://127.0.0.1:25\"\nstarttls = true\nfrom = \"gatehouse <gatehouse@example.org>\"\n"
      "username = \"\"\npassword_file = \"\"\nca_file = \"\"\n"));
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  const SmtpConfig& s = result.config->smtp;
  EXPECT_EQ(s.url, "smtp://127.0.0.1:25");
  EXPECT_TRUE(s.starttls);
  EXPECT_EQ(s.from, "gatehouse <gatehouse@example.org>");
  EXPECT_EQ(s.username, "");
  EXPECT_EQ(s.password_file, "");
  EXPECT_EQ(s.ca_file, "");
}

TEST(TenancyConfig, SmtpEveryKey) {
  auto result = load(smtp_doc("url = \"smtps://mail.example.org:465/\"\nfrom = \"ops@example.org\"\n"
                              "username = \"gatehouse\"\npassword_file = \"" + kReadable + "\"\n"
                              "ca_file = \"" + kReadable + "\"\ntimeout = \"2m\"\n"));
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  const SmtpConfig& s = result.config->smtp;
  EXPECT_EQ(s.url, "smtps://mail.example.org:465/");
  EXPECT_EQ(s.from, "ops@example.org");
  EXPECT_EQ(s.username, "gatehouse");
  EXPECT_EQ(s.password_file, kReadable);
  EXPECT_EQ(s.ca_file, kReadable);
  EXPECT_EQ(s.timeout, 2min);
  EXPECT_TRUE(s.tls_verify);
}

TEST(TenancyConfig, SmtpUrlShapesThatAreAccepted) {
  for (const char* url : {"smtp://mail.example.org", "smtp://mail.example.org:587", "smtp://mail.example.org/",
                          "smtps://mail.example.org", "smtps://10.0.0.5:465", "smtp://[2001:db8::25]:25",
                          "smtp://localhost", "smtp://Mail.Example.ORG:2525"}) {
    auto result = load(smtp_doc(std::string("url = \"") + url + "\"\nfrom = \"a@example.org\"\n"));
    EXPECT_EQ(error_lines(result), std::vector<std::string>{}) << url;
    if (result.config) {
      EXPECT_EQ(result.config->smtp.url, url);
    }
  }
}

TEST(TenancyConfig, SmtpFromShapesThatAreAccepted) {
  for (const char* from :
       {"a@example.org", "gatehouse <gatehouse@example.org>", "<noreply@example.org>",
        "\\\"Doe, John\\\" <john.doe@mail.example.org>", "Doe, John <j@example.org>", "Zoë Ünal <z@example.org>",
        "first.last+tag@sub.example.co.uk", "root@localhost", "o'brien@example.org"}) {
    auto result = load(smtp_doc(std::string("url = \"smtp://127.0.0.1\"\nfrom = \"") + from + "\"\n"));
    EXPECT_EQ(error_lines(result), std::vector<std::string>{}) << from;
  }
}

TEST(TenancyConfig, SmtpFromMayBeSetWithoutUrl) {
  auto result = load(smtp_doc("from = \"gatehouse <gatehouse@example.org>\"\n"));
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  EXPECT_EQ(result.config->smtp.url, "");
  EXPECT_EQ(result.config->smtp.from, "gatehouse <gatehouse@example.org>");
}

TEST(TenancyConfig, SmtpTlsVerifyOffOnLoopback) {
  for (const char* url : {"smtp://127.0.0.1:2525", "smtps://localhost", "smtp://[::1]:25", "smtp://127.3.2.1"}) {
    auto result = load(smtp_doc(std::string("url = \"") + url + "\"\nfrom = \"a@example.org\"\ntls_verify = false\n"));
    ASSERT_EQ(error_lines(result), std::vector<std::string>{}) << url;
    EXPECT_FALSE(result.config->smtp.tls_verify) << url;
  }
}

TEST(TenancyConfig, SmtpStarttlsFalseOnSmtpAndFalseOnSmtps) {
  auto plain = load(smtp_doc("url = \"smtp://127.0.0.1\"\nfrom = \"a@example.org\"\nstarttls = false\n"));
  ASSERT_EQ(error_lines(plain), std::vector<std::string>{});
  EXPECT_FALSE(plain.config->smtp.starttls);
  auto tls = load(smtp_doc("url = \"smtps://mail.example.org\"\nfrom = \"a@example.org\"\nstarttls = false\n"));
  ASSERT_EQ(error_lines(tls), std::vector<std::string>{});
}

TEST(TenancyConfig, SmtpTimeoutBounds) {
  for (const auto& [text, value] : std::vector<std::pair<std::string, Seconds>>{{"1s", 1s}, {"10m", 10min}, {"600s", 600s}}) {
    auto result = load(smtp_doc("timeout = \"" + text + "\"\n"));
    ASSERT_EQ(error_lines(result), std::vector<std::string>{}) << text;
    EXPECT_EQ(result.config->smtp.timeout, value);
  }
}

TEST(TenancyConfig, DelegationDefaultDurationBounds) {
  for (const auto& [text, value] :
       std::vector<std::pair<std::string, Seconds>>{{"1m", 1min}, {"60s", 60s}, {"12h", 12h}, {"3650d", 3650 * 24h}}) {
    auto result = load(delegation_doc("default_duration = \"" + text + "\"\n"));
    ASSERT_EQ(error_lines(result), std::vector<std::string>{}) << text;
    EXPECT_EQ(result.config->delegation.default_duration, value);
  }
}

TEST(TenancyConfig, TenantWithDefaults) {
  auto result = load(tenant_doc("[[tenant]]\nname = \"acme\"\n"));
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  ASSERT_EQ(result.config->tenants.size(), 1u);
  const TenantConfig& t = result.config->tenants[0];
  EXPECT_EQ(t.name, "acme");
  EXPECT_EQ(t.display_name, "acme");
  EXPECT_TRUE(t.superuser_groups.empty());
  EXPECT_EQ(t.language, "en");
  EXPECT_EQ(t.line, 1);
  EXPECT_EQ(result.config->find_tenant("acme"), &t);
}

TEST(TenancyConfig, TenantsWithEveryKey) {
  auto result = load(tenant_doc(
      "[[tenant]]\nname = \"acme\"\ndisplay_name = \"Acme Ltd\"\nsuperuser_groups = [\"acme-admins\", \"CN=Ops\"]\n"
      "language = \"nl\"\n"
      "[[tenant]]\nname = \"globex.eu_2-b\"\ndisplay_name = \"Globex — Zürich\"\nlanguage = \"it\"\n"
      "[[tenant]]\nname = \"" + std::string(64, 'x') + "\"\ndisplay_name = \"" + std::string(200, 'D') + "\"\n"
      "language = \"de\"\nsuperuser_groups = []\n"));
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  const auto& list = result.config->tenants;
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].display_name, "Acme Ltd");
  EXPECT_EQ(list[0].superuser_groups, (std::vector<std::string>{"acme-admins", "CN=Ops"}));
  EXPECT_EQ(list[0].language, "nl");
  EXPECT_EQ(list[1].name, "globex.eu_2-b");
  EXPECT_EQ(list[1].display_name, "Globex — Zürich");
  EXPECT_EQ(list[1].language, "it");
  EXPECT_EQ(list[1].line, 6);
  EXPECT_EQ(list[2].name, std::string(64, 'x'));
  EXPECT_EQ(list[2].language, "de");
  EXPECT_EQ(result.config->find_tenant("globex.eu_2-b"), &list[1]);
}

TEST(TenancyConfig, DisplayNameCountsCharactersNotBytes) {
  std::string name;
  for (int i = 0; i < 200; ++i) name += "é";  // 400 bytes
  auto result = load(tenant_doc("[[tenant]]\nname = \"a\"\ndisplay_name = \"" + name + "\"\n"));
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  EXPECT_EQ(result.config->tenants.at(0).display_name, name);
}

TEST(TenancyConfig, EmptyDisplayNameIsTheName) {
  auto result = load(tenant_doc("[[tenant]]\nname = \"acme\"\ndisplay_name = \"\"\n"));
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  EXPECT_EQ(result.config->tenants.at(0).display_name, "acme");
}

TEST(TenancyConfig, RouteTenantsNeedNoTenantTableAndBannerIsRead) {
  auto result = load(route_doc("tenants = [\"acme\", \"added-by-cli\"]\nbanner = false\nallow_groups = [\"staff\"]\n"));
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  const RouteConfig& r = result.config->routes.at(0);
  EXPECT_EQ(r.tenants, (std::vector<std::string>{"acme", "added-by-cli"}));
  EXPECT_FALSE(r.banner);
}

TEST(TenancyConfig, PublicRouteWithEmptyTenantsAndNoBanner) {
  auto result = load(route_doc("public = true\ntenants = []\nbanner = false\n"));
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  EXPECT_TRUE(result.config->routes.at(0).is_public);
  EXPECT_TRUE(result.config->routes.at(0).tenants.empty());
}

TEST(TenancyConfig, DirectoryAndProviderTenantsFollowTheTenantNameRule) {
  auto result = load("[[directory]]\nname = \"ldap\"\nkind = \"ldap\"\nuri = \"ldap://127.0.0.1\"\n"
                     "bind_template = \"uid={username},dc=example\"\ntenant = \"acme.eu_1-x\"\n"
                     "[[oidc]]\nname = \"sso\"\nissuer = \"https://idp.example.org\"\nclient_id = \"g\"\n"
                     "client_secret_file = \"" + kReadable + "\"\ntenant = \"globex\"\n" + kRest + kPlainRoute);
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  EXPECT_EQ(result.config->directories.at(0).ldap.tenant, "acme.eu_1-x");
  EXPECT_EQ(result.config->oidc.at(0).tenant, "globex");
}

TEST(TenancyConfig, SmtpPasswordAndCaFilesAreChecked) {
  Scratch dir;
  const std::string empty = dir.write("empty.pw", "\n");
  const std::string missing = dir.file("missing.pw");
  auto result = load(smtp_doc("url = \"smtp://127.0.0.1\"\nfrom = \"a@example.org\"\nusername = \"u\"\n"
                              "password_file = \"" + empty + "\"\nca_file = \"" + missing + "\"\n"));
  EXPECT_EQ(error_lines(result),
            (std::vector<std::string>{"test.toml:5: [smtp] password_file: \"" + empty + "\" is empty",
                                      "test.toml:6: [smtp] ca_file: missing file \"" + missing + "\""}));
  auto dir_as_file = load(smtp_doc("url = \"smtp://127.0.0.1\"\nfrom = \"a@example.org\"\nusername = \"u\"\n"
                                   "password_file = \"" + dir.file("") + "\"\n"));
  EXPECT_EQ(error_lines(dir_as_file),
            (std::vector<std::string>{"test.toml:5: [smtp] password_file: \"" + dir.file("") +
                                      "\" is a directory, not a file"}));
  auto missing_password = load(smtp_doc("username = \"u\"\npassword_file = \"" + missing + "\"\n"));
  EXPECT_EQ(error_lines(missing_password),
            (std::vector<std::string>{"test.toml:3: [smtp] password_file: missing file \"" + missing + "\""}));
}

// ---------------------------------------------------------------------------------------
// Every error, with its exact text and line

struct TenancyCase {
  const char* name;
  std::string text;
  std::vector<std::string> expected;
};

class TenancyConfigErrors : public testing::TestWithParam<TenancyCase> {};

TEST_P(TenancyConfigErrors, AreReportedAsFileLineMessage) {
  const auto& c = GetParam();
  auto result = load(c.text);
  EXPECT_EQ(error_lines(result), c.expected) << c.text;
  EXPECT_FALSE(result.config);
}

std::string tenancy_case_name(const testing::TestParamInfo<TenancyCase>& info) { return info.param.name; }

const std::string kUrlShape =
    " is not an SMTP server address (write smtp://host[:port] or smtps://host[:port])";
TenancyCase url_case(const char* name, const std::string& url, const std::string& message) {
  return TenancyCase{name, smtp_doc("url = \"" + url + "\"\nfrom = \"a@example.org\"\n"),
                     {"test.toml:2: [smtp] url: \"" + url + "\"" + message}};
}
TenancyCase from_case(const char* name, const std::string& toml_from, const std::string& shown,
                      const std::string& message) {
  return TenancyCase{name, smtp_doc("url = \"smtp://127.0.0.1\"\nfrom = \"" + toml_from + "\"\n"),
                     {"test.toml:3: [smtp] from: \"" + shown + "\"" + message}};
}
const std::string kFromShape = " is not an e-mail address (write \"Name <local@domain>\" or \"local@domain\")";
const std::string kFromList = " names more than one address (a comma outside the display name)";

INSTANTIATE_TEST_SUITE_P(
    SmtpUrl, TenancyConfigErrors,
    testing::Values(
        url_case("HttpScheme", "http://mail.example.org", kUrlShape),
        url_case("UpperCaseScheme", "SMTP://mail.example.org", kUrlShape),
        url_case("Submissions", "submissions://mail.example.org", kUrlShape),
        url_case("NoScheme", "mail.example.org:25", kUrlShape),
        url_case("NoHost", "smtp://", kUrlShape),
        url_case("NoHostWithPort", "smtp://:25", kUrlShape),
        url_case("PortZero", "smtp://mail.example.org:0", kUrlShape),
        url_case("PortTooLarge", "smtps://mail.example.org:65536", kUrlShape),
        url_case("PortNotNumeric", "smtp://mail.example.org:smtp", kUrlShape),
        url_case("EmptyPort", "smtp://mail.example.org:", kUrlShape),
        url_case("Ipv6WithoutBrackets", "smtp://::1:25", kUrlShape),
        url_case("Ipv6Unclosed", "smtp://[::1:25", kUrlShape),
        url_case("Ipv4InBrackets", "smtp://[127.0.0.1]:25", kUrlShape),
        url_case("SpaceInHost", "smtp://mail example.org", kUrlShape),
        url_case("UserInfo", "smtp://user@mail.example.org",
                 " holds a user name or password: use username and password_file"),
        url_case("UserAndPassword", "smtps://user:secret@mail.example.org:465",
                 " holds a user name or password: use username and password_file"),
        url_case("Path", "smtp://mail.example.org/example.org",
                 " has a path; write smtp://host[:port] or smtps://host[:port]"),
        url_case("DoubleSlash", "smtp://mail.example.org//",
                 " has a path; write smtp://host[:port] or smtps://host[:port]"),
        url_case("Query", "smtp://mail.example.org?tls=1",
                 " has a query or fragment; write smtp://host[:port] or smtps://host[:port]"),
        url_case("QueryAfterSlash", "smtp://mail.example.org/?x",
                 " has a query or fragment; write smtp://host[:port] or smtps://host[:port]"),
        url_case("Fragment", "smtps://mail.example.org#x",
                 " has a query or fragment; write smtp://host[:port] or smtps://host[:port]"),
        TenancyCase{"ControlCharacter", smtp_doc("url = \"smtp://mail.example.org\\r\\n\"\nfrom = \"a@example.org\"\n"),
                    {"test.toml:2: [smtp] url: \"smtp://mail.example.org\\x0d\\x0a\"" + kUrlShape}},
        TenancyCase{"NotAString", smtp_doc("url = 25\n"), {"test.toml:2: [smtp] url: expected a string, got integer"}},
        TenancyCase{"UnknownKey", smtp_doc("url = \"\"\nhost = \"mail.example.org\"\n"),
                    {"test.toml:3: unknown key \"host\" in [smtp]"}},
        TenancyCase{"NotATable", "smtp = \"smtp://127.0.0.1\"\n" + kRest + kPlainRoute,
                    {"test.toml:1: smtp: expected a table (write [smtp]), got string"}}),
    tenancy_case_name);

INSTANTIATE_TEST_SUITE_P(
    SmtpKeys, TenancyConfigErrors,
    testing::Values(
        TenancyCase{"StarttlsOnSmtps",
                    smtp_doc("url = \"smtps://mail.example.org\"\nfrom = \"a@example.org\"\nstarttls = true\n"),
                    {"test.toml:4: [smtp] starttls: is for smtp:// servers; \"smtps://mail.example.org\" already "
                     "uses TLS"}},
        TenancyCase{"StarttlsNotABoolean", smtp_doc("starttls = \"yes\"\n"),
                    {"test.toml:2: [smtp] starttls: expected a boolean (true or false), got string"}},
        TenancyCase{"FromMissingWithUrl", smtp_doc("url = \"smtp://127.0.0.1\"\n"),
                    {"test.toml:1: [smtp] from: missing (required with url: every e-mail needs a sender)"}},
        TenancyCase{"FromEmptyWithUrl", smtp_doc("url = \"smtp://127.0.0.1\"\nfrom = \"\"\n"),
                    {"test.toml:3: [smtp] from: must not be empty: url is set"}},
        TenancyCase{"FromNotAString", smtp_doc("from = [\"a@example.org\"]\n"),
                    {"test.toml:2: [smtp] from: expected a string, got array"}},
        TenancyCase{"UsernameWithoutPasswordFile", smtp_doc("username = \"gatehouse\"\n"),
                    {"test.toml:2: [smtp] username: is set but password_file is not"}},
        TenancyCase{"UsernameWithEmptyPasswordFile", smtp_doc("username = \"gatehouse\"\npassword_file = \"\"\n"),
                    {"test.toml:2: [smtp] username: is set but password_file is not"}},
        TenancyCase{"PasswordFileWithoutUsername", smtp_doc("password_file = \"" + kReadable + "\"\n"),
                    {"test.toml:2: [smtp] password_file: is set but username is not"}},
        TenancyCase{"PasswordFileWithEmptyUsername",
                    smtp_doc("username = \"\"\npassword_file = \"" + kReadable + "\"\n"),
                    {"test.toml:3: [smtp] password_file: is set but username is not"}},
        TenancyCase{"UsernameWithLineBreak",
                    smtp_doc("username = \"a\\r\\nMAIL FROM\"\npassword_file = \"" + kReadable + "\"\n"),
                    {"test.toml:2: [smtp] username: \"a\\x0d\\x0aMAIL FROM\" contains a control character"}},
        TenancyCase{"PasswordFileMissing",
                    smtp_doc("username = \"u\"\npassword_file = \"/nonexistent/smtp.pw\"\n"),
                    {"test.toml:3: [smtp] password_file: missing file \"/nonexistent/smtp.pw\""}},
        TenancyCase{"CaFileMissing", smtp_doc("ca_file = \"/nonexistent/ca.pem\"\n"),
                    {"test.toml:2: [smtp] ca_file: missing file \"/nonexistent/ca.pem\""}},
        TenancyCase{"CaFileIsADirectory", smtp_doc("ca_file = \"/\"\n"),
                    {"test.toml:2: [smtp] ca_file: \"/\" is a directory, not a file"}},
        TenancyCase{"TimeoutTooShort", smtp_doc("timeout = \"0s\"\n"),
                    {"test.toml:2: [smtp] timeout: must be between 1s and 10m, got 0s"}},
        TenancyCase{"TimeoutTooLong", smtp_doc("timeout = \"601s\"\n"),
                    {"test.toml:2: [smtp] timeout: must be between 1s and 10m, got 601s"}},
        TenancyCase{"TimeoutHuge", smtp_doc("timeout = \"106751991167300d\"\n"),
                    {"test.toml:2: [smtp] timeout: must be between 1s and 10m, got \"106751991167300d\""}},
        TenancyCase{"TimeoutNotADuration", smtp_doc("timeout = \"30\"\n"),
                    {"test.toml:2: [smtp] timeout: \"30\" is not a duration (write 90s, 15m, 12h or 7d)"}},
        TenancyCase{"TimeoutInteger", smtp_doc("timeout = 30\n"),
                    {"test.toml:2: [smtp] timeout: expected a duration string such as \"15m\", got integer"}},
        TenancyCase{"TlsVerifyOffRemote",
                    smtp_doc("url = \"smtps://mail.example.org\"\nfrom = \"a@example.org\"\ntls_verify = false\n"),
                    {"test.toml:4: [smtp] tls_verify: false is only allowed for an SMTP server on this machine "
                     "(localhost, 127.0.0.0/8 or ::1), not \"mail.example.org\""}},
        TenancyCase{"TlsVerifyOffPrivateAddress",
                    smtp_doc("url = \"smtp://10.0.0.1:25\"\nfrom = \"a@example.org\"\ntls_verify = false\n"),
                    {"test.toml:4: [smtp] tls_verify: false is only allowed for an SMTP server on this machine "
                     "(localhost, 127.0.0.0/8 or ::1), not \"10.0.0.1\""}},
        TenancyCase{"TlsVerifyOffLocalhostLookalike",
                    smtp_doc("url = \"smtp://localhost.example.org\"\nfrom = \"a@example.org\"\ntls_verify = false\n"),
                    {"test.toml:4: [smtp] tls_verify: false is only allowed for an SMTP server on this machine "
                     "(localhost, 127.0.0.0/8 or ::1), not \"localhost.example.org\""}},
        TenancyCase{"TlsVerifyOffWithoutUrl", smtp_doc("tls_verify = false\n"),
                    {"test.toml:2: [smtp] tls_verify: false is only allowed for an SMTP server on this machine "
                     "(localhost, 127.0.0.0/8 or ::1)"}},
        TenancyCase{"TlsVerifyOffWithBadUrlReportsOnlyTheUrl",
                    smtp_doc("url = \"smtp://user@127.0.0.1\"\nfrom = \"a@example.org\"\ntls_verify = false\n"),
                    {"test.toml:2: [smtp] url: \"smtp://user@127.0.0.1\" holds a user name or password: use "
                     "username and password_file"}},
        TenancyCase{"TlsVerifyNotABoolean", smtp_doc("tls_verify = 0\n"),
                    {"test.toml:2: [smtp] tls_verify: expected a boolean (true or false), got integer"}},
        TenancyCase{"EveryErrorCollected",
                    smtp_doc("url = \"smtps://mail.example.org/x\"\nstarttls = 1\nusername = \"u\"\n"
                             "timeout = \"1h\"\ntls_verify = false\nca_file = \"/nonexistent\"\n"),
                    {"test.toml:2: [smtp] url: \"smtps://mail.example.org/x\" has a path; write "
                     "smtp://host[:port] or smtps://host[:port]",
                     "test.toml:3: [smtp] starttls: expected a boolean (true or false), got integer",
                     "test.toml:4: [smtp] username: is set but password_file is not",
                     "test.toml:5: [smtp] timeout: must be between 1s and 10m, got 1h",
                     "test.toml:7: [smtp] ca_file: missing file \"/nonexistent\""}}),
    tenancy_case_name);

INSTANTIATE_TEST_SUITE_P(
    SmtpFrom, TenancyConfigErrors,
    testing::Values(
        from_case("NoAt", "gatehouse", "gatehouse", kFromShape),
        from_case("NoLocalPart", "@example.org", "@example.org", kFromShape),
        from_case("NoDomain", "gatehouse@", "gatehouse@", kFromShape),
        from_case("DomainWithoutDot", "gatehouse@example", "gatehouse@example", kFromShape),
        from_case("DomainTrailingDot", "a@example.org.", "a@example.org.", kFromShape),
        from_case("DomainUnderscore", "a@ex_ample.org", "a@ex_ample.org", kFromShape),
        from_case("AddressLiteral", "a@[127.0.0.1]", "a@[127.0.0.1]", kFromShape),
        from_case("TwoAts", "a@b@example.org", "a@b@example.org", kFromShape),
        from_case("SpaceInAddress", "a b@example.org", "a b@example.org", kFromShape),
        from_case("LeadingDot", ".a@example.org", ".a@example.org", kFromShape),
        from_case("DoubleDot", "a..b@example.org", "a..b@example.org", kFromShape),
        from_case("LocalPartTooLong", std::string(65, 'a') + "@example.org", std::string(65, 'a') + "@example.org",
                  kFromShape),
        from_case("QuotedLocalPart", "\\\"a b\\\"@example.org", "\\\"a b\\\"@example.org", kFromShape),
        from_case("Crlf", "a@example.org\\r\\nBcc: victim@example.org",
                  "a@example.org\\x0d\\x0aBcc: victim@example.org",
                  " contains a line break or another control character"),
        from_case("LineFeedInName", "Name\\n <a@example.org>", "Name\\x0a <a@example.org>",
                  " contains a line break or another control character"),
        from_case("Tab", "a@example.org\\t", "a@example.org\\x09",
                  " contains a line break or another control character"),
        from_case("Nul", "a@example.org\\u0000", "a@example.org\\x00",
                  " contains a line break or another control character"),
        from_case("C1Control", "Name\\u0085 <a@example.org>", "Name\xc2\x85 <a@example.org>",
                  " contains a line break or another control character"),
        from_case("TwoBareAddresses", "a@example.org, b@example.org", "a@example.org, b@example.org", kFromList),
        from_case("TwoBareAddressesNoSpace", "a@example.org,b@example.org", "a@example.org,b@example.org", kFromList),
        from_case("CommaInAngleAddress", "Name <a@example.org,b@example.org>", "Name <a@example.org,b@example.org>",
                  kFromList),
        from_case("SecondAddressAfterBracket", "Name <a@example.org>, b@example.org",
                  "Name <a@example.org>, b@example.org", kFromShape),
        from_case("TwoNamedAddresses", "A <a@example.org>, B <b@example.org>",
                  "A <a@example.org>, B <b@example.org>", kFromShape),
        from_case("Unclosed", "Name <a@example.org", "Name <a@example.org", kFromShape),
        from_case("EmptyAngles", "Name <>", "Name <>", kFromShape),
        from_case("GreaterThanInName", "A > B <a@example.org>", "A > B <a@example.org>", kFromShape),
        from_case("TextAfterAddress", "Name <a@example.org> x", "Name <a@example.org> x", kFromShape),
        from_case("QuoteInsideName", "Al \\\"X\\\" <a@example.org>", "Al \\\"X\\\" <a@example.org>",
                  " has a display name with a '\"' or '\\' (write \"Name <local@domain>\")"),
        from_case("UnbalancedQuote", "\\\"Al <a@example.org>", "\\\"Al <a@example.org>",
                  " has a display name with a '\"' or '\\' (write \"Name <local@domain>\")"),
        from_case("BackslashInName", "A\\\\B <a@example.org>", "A\\\\B <a@example.org>",
                  " has a display name with a '\"' or '\\' (write \"Name <local@domain>\")")),
    tenancy_case_name);

INSTANTIATE_TEST_SUITE_P(
    Delegation, TenancyConfigErrors,
    testing::Values(
        TenancyCase{"TooShort", delegation_doc("default_duration = \"59s\"\n"),
                    {"test.toml:2: [delegation] default_duration: must be between 1m and 3650d, got 59s"}},
        TenancyCase{"Zero", delegation_doc("default_duration = \"0s\"\n"),
                    {"test.toml:2: [delegation] default_duration: must be between 1m and 3650d, got 0s"}},
        TenancyCase{"TooLong", delegation_doc("default_duration = \"3651d\"\n"),
                    {"test.toml:2: [delegation] default_duration: must be between 1m and 3650d, got 3651d"}},
        TenancyCase{"TooLongInHours", delegation_doc("default_duration = \"87601h\"\n"),
                    {"test.toml:2: [delegation] default_duration: must be between 1m and 3650d, got 87601h"}},
        TenancyCase{"BeyondHundredYears", delegation_doc("default_duration = \"9223372036854775807s\"\n"),
                    {"test.toml:2: [delegation] default_duration: must be between 1m and 3650d, got "
                     "\"9223372036854775807s\""}},
        TenancyCase{"Weeks", delegation_doc("default_duration = \"1w\"\n"),
                    {"test.toml:2: [delegation] default_duration: \"1w\" is not a duration (write 90s, 15m, 12h "
                     "or 7d)"}},
        TenancyCase{"Negative", delegation_doc("default_duration = \"-7d\"\n"),
                    {"test.toml:2: [delegation] default_duration: \"-7d\" is not a duration (write 90s, 15m, 12h "
                     "or 7d)"}},
        TenancyCase{"Empty", delegation_doc("default_duration = \"\"\n"),
                    {"test.toml:2: [delegation] default_duration: \"\" is not a duration (write 90s, 15m, 12h or "
                     "7d)"}},
        TenancyCase{"Integer", delegation_doc("default_duration = 604800\n"),
                    {"test.toml:2: [delegation] default_duration: expected a duration string such as \"15m\", got "
                     "integer"}},
        TenancyCase{"UnknownKey", delegation_doc("duration = \"7d\"\n"),
                    {"test.toml:2: unknown key \"duration\" in [delegation]"}},
        TenancyCase{"NotATable", "delegation = \"7d\"\n" + kRest + kPlainRoute,
                    {"test.toml:1: delegation: expected a table (write [delegation]), got string"}}),
    tenancy_case_name);

const std::string kNameRule = " is not a valid tenant name (use 1 to 64 characters a-z, 0-9, '.', '_' and '-')";

INSTANTIATE_TEST_SUITE_P(
    Tenant, TenancyConfigErrors,
    testing::Values(
        TenancyCase{"NameMissing", tenant_doc("[[tenant]]\ndisplay_name = \"Acme\"\n"),
                    {"test.toml:1: [tenant] name: missing"}},
        TenancyCase{"NameEmpty", tenant_doc("[[tenant]]\nname = \"\"\n"),
                    {"test.toml:2: [tenant] name: \"\"" + kNameRule}},
        TenancyCase{"NameUpperCase", tenant_doc("[[tenant]]\nname = \"Acme\"\n"),
                    {"test.toml:2: [tenant] name: \"Acme\"" + kNameRule}},
        TenancyCase{"NameSpace", tenant_doc("[[tenant]]\nname = \"acme ltd\"\n"),
                    {"test.toml:2: [tenant] name: \"acme ltd\"" + kNameRule}},
        TenancyCase{"NameSlash", tenant_doc("[[tenant]]\nname = \"acme/eu\"\n"),
                    {"test.toml:2: [tenant] name: \"acme/eu\"" + kNameRule}},
        TenancyCase{"NameAt", tenant_doc("[[tenant]]\nname = \"acme@eu\"\n"),
                    {"test.toml:2: [tenant] name: \"acme@eu\"" + kNameRule}},
        TenancyCase{"NameNonAscii", tenant_doc("[[tenant]]\nname = \"zoë\"\n"),
                    {"test.toml:2: [tenant] name: \"zoë\"" + kNameRule}},
        TenancyCase{"NameControl", tenant_doc("[[tenant]]\nname = \"acme\\n\"\n"),
                    {"test.toml:2: [tenant] name: \"acme\\x0a\"" + kNameRule}},
        TenancyCase{"NameTooLong", tenant_doc("[[tenant]]\nname = \"" + std::string(65, 'a') + "\"\n"),
                    {"test.toml:2: [tenant] name: \"" + std::string(65, 'a') + "\"" + kNameRule}},
        TenancyCase{"NameNotAString", tenant_doc("[[tenant]]\nname = 1\n"),
                    {"test.toml:2: [tenant] name: expected a string, got integer"}},
        TenancyCase{"NameDuplicate",
                    tenant_doc("[[tenant]]\nname = \"acme\"\n[[tenant]]\nname = \"globex\"\n[[tenant]]\nname = \"acme\"\n"),
                    {"test.toml:6: [tenant] name: \"acme\" is already used by the [[tenant]] at line 1"}},
        TenancyCase{"DisplayNameTooLong",
                    tenant_doc("[[tenant]]\nname = \"acme\"\ndisplay_name = \"" + std::string(201, 'D') + "\"\n"),
                    {"test.toml:3: [tenant] display_name: is 201 characters long; at most 200 are allowed"}},
        TenancyCase{"DisplayNameLineBreak", tenant_doc("[[tenant]]\nname = \"acme\"\ndisplay_name = \"Acme\\r\\nLtd\"\n"),
                    {"test.toml:3: [tenant] display_name: \"Acme\\x0d\\x0aLtd\" contains a control character"}},
        TenancyCase{"DisplayNameTab", tenant_doc("[[tenant]]\nname = \"acme\"\ndisplay_name = \"Acme\\tLtd\"\n"),
                    {"test.toml:3: [tenant] display_name: \"Acme\\x09Ltd\" contains a control character"}},
        TenancyCase{"DisplayNameDelete", tenant_doc("[[tenant]]\nname = \"acme\"\ndisplay_name = \"Acme\\u007f\"\n"),
                    {"test.toml:3: [tenant] display_name: \"Acme\\x7f\" contains a control character"}},
        TenancyCase{"DisplayNameC1", tenant_doc("[[tenant]]\nname = \"acme\"\ndisplay_name = \"Acme\\u009b\"\n"),
                    {"test.toml:3: [tenant] display_name: \"Acme\xc2\x9b\" contains a control character"}},
        TenancyCase{"DisplayNameNotAString", tenant_doc("[[tenant]]\nname = \"acme\"\ndisplay_name = true\n"),
                    {"test.toml:3: [tenant] display_name: expected a string, got boolean"}},
        TenancyCase{"SuperuserGroupsNotAnArray",
                    tenant_doc("[[tenant]]\nname = \"acme\"\nsuperuser_groups = \"acme-admins\"\n"),
                    {"test.toml:3: [tenant] superuser_groups: expected an array of strings, got string"}},
        TenancyCase{"SuperuserGroupEmpty",
                    tenant_doc("[[tenant]]\nname = \"acme\"\nsuperuser_groups = [\n  \"acme-admins\",\n  \"\",\n]\n"),
                    {"test.toml:5: [tenant] superuser_groups: \"\" is not a group name"}},
        TenancyCase{"SuperuserGroupNotAString",
                    tenant_doc("[[tenant]]\nname = \"acme\"\nsuperuser_groups = [\"a\", 2]\n"),
                    {"test.toml:3: [tenant] superuser_groups[1]: expected a string, got integer"}},
        TenancyCase{"LanguageUnknown", tenant_doc("[[tenant]]\nname = \"acme\"\nlanguage = \"fr\"\n"),
                    {"test.toml:3: [tenant] language: \"fr\" is not one of en, nl, de, it"}},
        TenancyCase{"LanguageUpperCase", tenant_doc("[[tenant]]\nname = \"acme\"\nlanguage = \"EN\"\n"),
                    {"test.toml:3: [tenant] language: \"EN\" is not one of en, nl, de, it"}},
        TenancyCase{"LanguageRegion", tenant_doc("[[tenant]]\nname = \"acme\"\nlanguage = \"en-GB\"\n"),
                    {"test.toml:3: [tenant] language: \"en-GB\" is not one of en, nl, de, it"}},
        TenancyCase{"LanguageEmpty", tenant_doc("[[tenant]]\nname = \"acme\"\nlanguage = \"\"\n"),
                    {"test.toml:3: [tenant] language: \"\" is not one of en, nl, de, it"}},
        TenancyCase{"LanguageNotAString", tenant_doc("[[tenant]]\nname = \"acme\"\nlanguage = [\"en\"]\n"),
                    {"test.toml:3: [tenant] language: expected a string, got array"}},
        TenancyCase{"UnknownKey", tenant_doc("[[tenant]]\nname = \"acme\"\nsuperusers = [\"alice\"]\n"),
                    {"test.toml:3: unknown key \"superusers\" in [tenant]"}},
        TenancyCase{"SingleTableInsteadOfArray", "[tenant]\nname = \"acme\"\n" + kRest + kPlainRoute,
                    {"test.toml:1: tenant: expected an array of tables (write [[tenant]]), got table"}},
        TenancyCase{"EveryErrorCollected",
                    tenant_doc("[[tenant]]\nname = \"Acme\"\nlanguage = \"fr\"\n[[tenant]]\nname = \"ok\"\n"
                               "display_name = \"a\\u0007\"\n"),
                    {"test.toml:2: [tenant] name: \"Acme\"" + kNameRule,
                     "test.toml:3: [tenant] language: \"fr\" is not one of en, nl, de, it",
                     "test.toml:6: [tenant] display_name: \"a\\x07\" contains a control character"}}),
    tenancy_case_name);

INSTANTIATE_TEST_SUITE_P(
    RouteTenants, TenancyConfigErrors,
    testing::Values(
        TenancyCase{"NotAnArray", route_doc("tenants = \"acme\"\n"),
                    {"test.toml:4: [route] tenants: expected an array of strings, got string"}},
        TenancyCase{"ElementNotAString", route_doc("tenants = [\"acme\", 7]\n"),
                    {"test.toml:4: [route] tenants[1]: expected a string, got integer"}},
        TenancyCase{"Empty", route_doc("tenants = [\"\"]\n"), {"test.toml:4: [route] tenants: \"\"" + kNameRule}},
        TenancyCase{"UpperCase", route_doc("tenants = [\"acme\", \"Globex\"]\n"),
                    {"test.toml:4: [route] tenants: \"Globex\"" + kNameRule}},
        TenancyCase{"Space", route_doc("tenants = [\"acme ltd\"]\n"),
                    {"test.toml:4: [route] tenants: \"acme ltd\"" + kNameRule}},
        TenancyCase{"TooLong", route_doc("tenants = [\"" + std::string(65, 'a') + "\"]\n"),
                    {"test.toml:4: [route] tenants: \"" + std::string(65, 'a') + "\"" + kNameRule}},
        TenancyCase{"EachBadNameAtItsLine", route_doc("tenants = [\n  \"acme\",\n  \"A\",\n  \"b c\",\n]\n"),
                    {"test.toml:6: [route] tenants: \"A\"" + kNameRule,
                     "test.toml:7: [route] tenants: \"b c\"" + kNameRule}},
        TenancyCase{"OnPublicRoute", route_doc("public = true\ntenants = [\"acme\"]\n"),
                    {"test.toml:5: [route] tenants: a public route admits everyone, with no signed-in party to "
                     "check; remove tenants or set public = false"}},
        TenancyCase{"BannerNotABoolean", route_doc("banner = \"no\"\n"),
                    {"test.toml:4: [route] banner: expected a boolean (true or false), got string"}},
        TenancyCase{"UnknownKey", route_doc("tenant = [\"acme\"]\n"), {"test.toml:4: unknown key \"tenant\" in [route]"}}),
    tenancy_case_name);

INSTANTIATE_TEST_SUITE_P(
    LoginTenants, TenancyConfigErrors,
    testing::Values(
        TenancyCase{"DirectoryTenantUpperCase",
                    "[[directory]]\nname = \"ldap\"\nkind = \"ldap\"\nuri = \"ldap://127.0.0.1\"\n"
                    "bind_template = \"uid={username},dc=example\"\ntenant = \"Example\"\n" + kRest + kPlainRoute,
                    {"test.toml:6: [directory] tenant: \"Example\"" + kNameRule}},
        TenancyCase{"DirectoryTenantTooLong",
                    "[[directory]]\nname = \"ldap\"\nkind = \"ldap\"\nuri = \"ldap://127.0.0.1\"\n"
                    "bind_template = \"uid={username},dc=example\"\ntenant = \"" + std::string(65, 't') + "\"\n" +
                        kRest + kPlainRoute,
                    {"test.toml:6: [directory] tenant: \"" + std::string(65, 't') + "\"" + kNameRule}},
        TenancyCase{"ProviderTenantSpace",
                    "[[oidc]]\nname = \"sso\"\nissuer = \"https://idp.example.org\"\nclient_id = \"g\"\n"
                    "client_secret_file = \"" + kReadable + "\"\ntenant = \"example org\"\n" + kRest + kPlainRoute,
                    {"test.toml:6: [oidc] tenant: \"example org\"" + kNameRule}}),
    tenancy_case_name);

// ---------------------------------------------------------------------------------------
// The example file, with the new keys, still loads

TEST(TenancyConfig, ExampleFileHasTheNewKeysAndLoads) {
  fs::path root = fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
  std::ifstream in(root / "config" / "gatehouse.example.toml", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  ASSERT_FALSE(text.empty());
  for (const char* key : {"[smtp]", "url =", "starttls =", "from =", "username =", "password_file =", "ca_file =",
                          "timeout =", "tls_verify =", "[delegation]", "default_duration =", "[[tenant]]",
                          "display_name =", "superuser_groups =", "language =", "tenants =", "banner ="})
    EXPECT_NE(text.find(key), std::string::npos) << key;
  Scratch dir;
  text = substitute(text, "/var/lib/gatehouse/gatehouse.db", dir.file("gatehouse.db"));
  text = substitute(text, "/etc/gatehouse/master.key", dir.file("master.key"));
  auto result = load_config(dir.write("gatehouse.toml", text));
  ASSERT_EQ(error_lines(result), std::vector<std::string>{});
  const Config& c = *result.config;
  EXPECT_EQ(c.smtp.url, "");
  EXPECT_EQ(c.delegation.default_duration, 7 * 24h);
  EXPECT_TRUE(c.tenants.empty());
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_TRUE(c.routes[1].tenants.empty());
  EXPECT_TRUE(c.routes[1].banner);

  // Its commented [[tenant]] and [smtp] examples, uncommented, load too.
  std::string uncommented = substitute(text, "# [[tenant]]", "[[tenant]]");
  for (const char* key : {"name = \"acme\"", "display_name = \"Acme Ltd\"", "superuser_groups = [\"acme-admins\"]",
                          "language = \"en\"", "from = \"gatehouse <gatehouse@example.org>\"", "starttls = true",
                          "timeout = \"30s\"", "tls_verify = true"})
    uncommented = substitute(uncommented, std::string("# ") + key, key);
  uncommented = substitute(uncommented, "url = \"\"", "url = \"smtps://mail.example.org\"");
  uncommented = substitute(uncommented, "starttls = true", "starttls = false");
  auto full = load_config(dir.write("full.toml", uncommented));
  ASSERT_EQ(error_lines(full), std::vector<std::string>{});
  ASSERT_EQ(full.config->tenants.size(), 1u);
  EXPECT_EQ(full.config->tenants[0].display_name, "Acme Ltd");
  EXPECT_EQ(full.config->smtp.url, "smtps://mail.example.org");
  EXPECT_EQ(full.config->smtp.from, "gatehouse <gatehouse@example.org>");
}

}  // namespace gatehouse::config::tenancy_config_test
