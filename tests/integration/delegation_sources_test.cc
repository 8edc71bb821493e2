// Delegation and where users come from (issue 18): the choice of effective party belongs
// to a user, and a user is a source (directory or OpenID provider) plus its name there.
// - A user of the real OpenID provider (oidc-provider, tests/oidc/provider.mjs) keeps its
//   switch when gatehouse refreshes the session's claims with the refresh token; an
//   address the provider does not vouch for (email_verified false) reaches no delegation.
// - The same name in two directories (the real slapd and the local directory) is two
//   users: a switch, a named superuser and the X-Gatehouse-Source header of one are never
//   the other's.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "integration/harness.h"
#include "integration/http_browser.h"
#include "integration/oidc_provider.h"
#include "integration/slapd_server.h"

namespace gatehouse::testing {
// A named namespace: the integration tests are unity-built, so file-local names must not
// meet those of other files.
namespace delegation_sources {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kDsTenants =
    "[[tenant]]\nname = \"acme\"\ndisplay_name = \"Acme Ltd\"\n\n"
    "[[tenant]]\nname = \"globex\"\ndisplay_name = \"Globex Consulting\"\n\n"
    "[[tenant]]\nname = \"initech\"\ndisplay_name = \"Initech\"\n\n";

bool ds_empty_or_absent(const std::string& v) { return v.empty() || v == "<absent>"; }

json ds_assertion_claims(const std::string& jwt) {
  const auto a = jwt.find('.');
  const auto b = a == std::string::npos ? a : jwt.find('.', a + 1);
  if (b == std::string::npos) return {};
  auto payload = base64url_decode(jwt.substr(a + 1, b - a - 1));
  return payload ? json::parse(*payload, nullptr, false) : json{};
}

std::size_t ds_count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

std::int64_t ds_grant(const std::string& config, const std::string& tenant, const std::string& email) {
  auto r = run_gatehouse({"--config", config, "delegation", "grant", "--tenant", tenant, "--email", email, "--no-end"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return std::atoll(r.out.c_str());
}

// ---------------------------------------------------------------------------------------
// 1. OpenID: the switch survives the refresh of the session's claims.

class DelegationSourcesOidcTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }

  // carol: globex, carol@globex.example, verified. dave: globex, dave@globex.example,
  // not verified. ID and access tokens live `token_ttl_s` seconds.
  void start(bool conform_id_token_claims, int token_ttl_s = 3600) {
    OidcProviderOptions options;
    OidcAccount carol;
    carol.sub = "carol-0003";
    carol.username = "carol";
    carol.password = "carol-Password-3";
    carol.email = "Carol@Globex.Example";
    carol.email_verified = true;
    carol.name = "Carol Consultant";
    carol.groups = {"consultants"};
    carol.tenant = "globex";
    OidcAccount dave = carol;
    dave.sub = "dave-0004";
    dave.username = "dave";
    dave.password = "dave-Password-4";
    dave.email = "dave@globex.example";
    dave.email_verified = false;
    dave.name = "Dave Unverified";
    options.accounts = {carol, dave};
    options.ttl.id_token_s = token_ttl_s;
    options.ttl.access_token_s = token_ttl_s;
    options.conform_id_token_claims = conform_id_token_claims;
    provider_ = std::make_unique<OidcProvider>(std::move(options));
    std::string error;
    ASSERT_TRUE(provider_->start(&error)) << error;

    const std::string secret = dir_.file("oidc.secret");
    std::ofstream(secret) << oidc_fixture::kClientSecret << "\n";
    // The local directory too: its sign-in form is where a browser without a delegation
    // to choose gets a CSRF token for its binding.
    const std::string tables =
        std::string(kDsTenants) + "[[directory]]\nname = \"local\"\nkind = \"local\"\n\n" +
        "[[oidc]]\nname = \"sso\"\ndisplay_name = \"SSO\"\nissuer = \"" + provider_->issuer() +
        "\"\nclient_id = \"gatehouse\"\nclient_secret_file = \"" + secret +
        "\"\nscopes = [\"openid\", \"email\", \"profile\", \"groups\", \"tenant\"]\n"
        "tenant = \"globex\"\ntenant_claim = \"tenant\"\n\n";
    config_ = dir_.file("gatehouse.toml");
    std::ofstream(config_) << basic_config(dir_, tables, upstream_.url());
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
    browser_.resolve("gatehouse.test", 80, daemon_->port());
  }

  Navigation sign_in(const std::string& user, const std::string& password) {
    auto nav = browser_.get(std::string(kPublicUrl) + "/.gatehouse/oidc/sso/start?rd=/app");
    if (!nav.ok()) return nav;
    auto login = nav.form("/login");
    if (!login) return nav;
    login->set("login", user);
    login->set("password", password);
    nav = browser_.submit(*login);
    if (auto consent = nav.form("/confirm")) nav = browser_.submit(*consent);
    return nav;
  }

  json parties() {
    auto nav = browser_.get(std::string(kPublicUrl) + "/.gatehouse/parties", {{"Accept", "application/json"}});
    EXPECT_EQ(nav.status(), 200) << nav.describe();
    return json::parse(nav.body(), nullptr, false);
  }

  // Chooses `party` with the switcher's own form; the navigation ends at `rd`.
  Navigation switch_with_form(const std::string& party, const std::string& rd = "/app") {
    const std::string url = std::string(kPublicUrl) + "/.gatehouse/parties?rd=" + rd;
    auto page = browser_.get(url, {{"Accept", "text/html"}});
    EXPECT_EQ(page.status(), 200) << page.describe();
    for (const auto& form : parse_forms(page.body(), page.url()))
      if (form.get("party") == party) return browser_.submit(form);
    ADD_FAILURE() << "the switcher offers no form for " << party << "\n" << page.body();
    return page;
  }

  Navigation app() { return browser_.get(std::string(kPublicUrl) + "/app"); }

  TempDir dir_;
  EchoUpstream upstream_;
  std::unique_ptr<OidcProvider> provider_;
  std::unique_ptr<Daemon> daemon_;
  std::string config_;
  HttpBrowser browser_;

  // Signs carol in, switches her to acme, lets her ID token run out and shows that the
  // requests after gatehouse refreshed her session still act for acme.
  void expect_switch_survives_refresh() {
    const auto id = ds_grant(config_, "acme", "carol@globex.example");
    ASSERT_GT(id, 0);

    auto signed_in = sign_in("carol", "carol-Password-3");
    ASSERT_EQ(signed_in.status(), 200) << signed_in.describe() << "\nprovider:\n" << provider_->log();
    EXPECT_EQ(echoed_header(signed_in.body(), "X-Gatehouse-Source"), "sso");
    EXPECT_EQ(echoed_header(signed_in.body(), "X-Gatehouse-Effective-Party"), "globex");

    auto offered = parties();
    ASSERT_EQ(offered["parties"].size(), 2u) << offered.dump();
    EXPECT_EQ(offered["parties"][1]["party"], "acme");
    EXPECT_EQ(offered["parties"][1]["delegation"], std::to_string(id));

    auto switched = switch_with_form("acme");
    ASSERT_EQ(switched.status(), 200) << switched.describe();
    ASSERT_EQ(switched.hops.at(0).status, 303) << switched.describe();
    EXPECT_EQ(echoed_header(switched.body(), "X-Gatehouse-Effective-Party"), "acme");

    // Until gatehouse has used the refresh token (at least once after the switch), every
    // request acts for acme.
    const std::size_t refreshed_before = ds_count(daemon_->log(), "event=oidc.refreshed");
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    int requests = 0;
    while (ds_count(daemon_->log(), "event=oidc.refreshed") == refreshed_before &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(250ms);
      auto nav = app();
      ++requests;
      ASSERT_EQ(nav.status(), 200) << nav.describe() << "\n" << tail(daemon_->log());
      ASSERT_EQ(echoed_header(nav.body(), "X-Gatehouse-Effective-Party"), "acme") << "request " << requests;
    }
    ASSERT_GT(ds_count(daemon_->log(), "event=oidc.refreshed"), refreshed_before)
        << "the session was never refreshed\n"
        << tail(daemon_->log());
    // The provider issued tokens twice at least: for the code, then for the refresh token.
    EXPECT_GE(ds_count(provider_->log(), "POST /token 200"), 2u) << provider_->log();

    // After the refresh: still the same user, still acting for acme through the delegation.
    auto after = app();
    ASSERT_EQ(after.status(), 200) << after.describe();
    EXPECT_EQ(echoed_header(after.body(), "X-Gatehouse-User"), "carol");
    EXPECT_EQ(echoed_header(after.body(), "X-Gatehouse-Source"), "sso");
    EXPECT_EQ(echoed_header(after.body(), "X-Gatehouse-Email"), "Carol@Globex.Example");
    EXPECT_EQ(echoed_header(after.body(), "X-Gatehouse-Real-Party"), "globex");
    EXPECT_EQ(echoed_header(after.body(), "X-Gatehouse-Effective-Party"), "acme");
    EXPECT_EQ(echoed_header(after.body(), "X-Gatehouse-Delegation"), std::to_string(id));
    auto claims = ds_assertion_claims(echoed_header(after.body(), "X-Gatehouse-Assertion"));
    EXPECT_EQ(claims["effective_party"], "acme") << claims.dump();
    EXPECT_EQ(claims["delegation"], std::to_string(id));
    EXPECT_EQ(claims["src"], "sso");
    auto who = json::parse(browser_.get(std::string(kPublicUrl) + "/.gatehouse/whoami").body(), nullptr, false);
    EXPECT_EQ(who["effective_party"], "acme") << who.dump();
    auto after_parties = parties();
    EXPECT_EQ(after_parties["effective_party"], "acme") << after_parties.dump();
    // The switch in was the only switch.
    auto audit = run_gatehouse({"--config", config_, "audit", "list", "--event", "party.switched", "--json"});
    ASSERT_EQ(audit.exit_code, 0) << audit.err;
    EXPECT_EQ(json::parse(audit.out).size(), 1u) << audit.out;
  }
};

TEST_F(DelegationSourcesOidcTest, TheSwitchSurvivesARefreshWhoseClaimsComeFromUserinfo) {
  // The ID tokens carry only sub: after the refresh, email_verified comes from userinfo.
  start(/*conform_id_token_claims=*/true, /*token_ttl_s=*/3);
  expect_switch_survives_refresh();
}

TEST_F(DelegationSourcesOidcTest, TheSwitchSurvivesARefreshWhoseClaimsComeFromTheIdToken) {
  // The refreshed ID token itself carries email and email_verified.
  start(/*conform_id_token_claims=*/false, /*token_ttl_s=*/3);
  expect_switch_survives_refresh();
}

TEST_F(DelegationSourcesOidcTest, AnAddressTheProviderDoesNotVouchForReachesNoDelegation) {
  start(/*conform_id_token_claims=*/true);
  const auto id = ds_grant(config_, "acme", "dave@globex.example");
  ASSERT_GT(id, 0);
  auto signed_in = sign_in("dave", "dave-Password-4");
  ASSERT_EQ(signed_in.status(), 200) << signed_in.describe() << "\nprovider:\n" << provider_->log();
  EXPECT_EQ(echoed_header(signed_in.body(), "X-Gatehouse-User"), "dave");

  // Only the own party is offered, and the switcher has no form at all.
  auto offered = parties();
  EXPECT_EQ(offered["real_party"], "globex");
  EXPECT_EQ(offered["effective_party"], "globex");
  EXPECT_EQ(offered["parties"].size(), 1u) << offered.dump();
  EXPECT_EQ(offered["parties"][0]["party"], "globex");
  EXPECT_EQ(offered["parties"][0]["delegation"], "");
  auto page = browser_.get(std::string(kPublicUrl) + "/.gatehouse/parties", {{"Accept", "text/html"}});
  ASSERT_EQ(page.status(), 200) << page.describe();
  EXPECT_FALSE(page.form("/parties/switch").has_value()) << page.body();

  // A switch sent anyway, with a valid CSRF token for this browser's binding (made by
  // the sign-in form), is refused for want of a delegation.
  auto login_page = browser_.get(std::string(kPublicUrl) + "/.gatehouse/login");
  auto login_form = login_page.form("/.gatehouse/login");
  ASSERT_TRUE(login_form) << login_page.describe();
  const auto csrf = login_form->get("csrf");
  ASSERT_TRUE(csrf && !csrf->empty()) << login_page.body();
  auto refused = browser_.post_form(std::string(kPublicUrl) + "/.gatehouse/parties/switch",
                                    {{"csrf", *csrf}, {"party", "acme"}, {"rd", "/app"}});
  EXPECT_EQ(refused.status(), 403) << refused.describe();
  EXPECT_NE(refused.body().find("You hold no active delegation"), std::string::npos) << refused.body();

  auto echoed = app();
  ASSERT_EQ(echoed.status(), 200) << echoed.describe();
  EXPECT_EQ(echoed_header(echoed.body(), "X-Gatehouse-Effective-Party"), "globex");
  EXPECT_TRUE(ds_empty_or_absent(echoed_header(echoed.body(), "X-Gatehouse-Delegation")));
  auto audit = run_gatehouse({"--config", config_, "audit", "list", "--event", "party.switched", "--json"});
  EXPECT_EQ(json::parse(audit.out).size(), 0u) << audit.out;
}

// ---------------------------------------------------------------------------------------
// 2. The same name in two directories: slapd's alice and the local directory's alice.

constexpr const char* kDsLocalAlicePassword = "local-Alice-Password-9";

using DsJar = SessionJar;

class DelegationSourcesDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(slapd_.start(&error)) << error;
    // corp (slapd) first, then local: directories are tried in order, and the password
    // decides which alice signs in.
    const std::string tables =
        std::string(kDsTenants) + "[[directory]]\nname = \"corp\"\nkind = \"ldap\"\nuri = [\"" + slapd_.ldap_uri() +
        "\"]\nbind_dn = \"" + slapd_.bind_dn() + "\"\nbind_password_file = \"" + slapd_.bind_password_file() +
        "\"\nuser_base = \"ou=people," + slapd_.base_dn() + "\"\ngroup_base = \"ou=groups," + slapd_.base_dn() +
        "\"\ntenant = \"example\"\ntenant_attribute = \"o\"\n"
        "connect_timeout = \"1s\"\ntimeout = \"2s\"\nretry_after = \"1s\"\n\n"
        "[[directory]]\nname = \"local\"\nkind = \"local\"\n\n";
    std::ofstream(config_path()) << basic_config(dir_, tables, upstream_.url());
    auto added = cli({"user", "add", "alice", "--tenant", "globex", "--email", "alice@globex.example",
                      "--password-stdin"},
                     std::string(kDsLocalAlicePassword) + "\n");
    ASSERT_EQ(added.exit_code, 0) << added.out << added.err;
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
  }

  void start() {
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_path()});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }
  std::string config_path() const { return dir_.file("gatehouse.toml"); }
  CommandResult cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--config", config_path()});
    return run_gatehouse(args, input);
  }
  httplib::Client client() {
    httplib::Client c("127.0.0.1", daemon_->port());
    c.set_read_timeout(10, 0);
    c.set_tcp_nodelay(true);
    return c;
  }
  DsJar login(const std::string& password) {
    std::string why;
    DsJar jar = login_jar(daemon_->port(), "alice", password, &why);
    EXPECT_FALSE(jar.session.empty()) << why << tail(daemon_->log());
    return jar;
  }
  httplib::Result get(DsJar& jar, const std::string& path, httplib::Headers extra = {}) {
    return jar_get(daemon_->port(), jar, path, std::move(extra));
  }
  json parties(DsJar& jar) {
    auto res = get(jar, "/.gatehouse/parties", {{"Accept", "application/json"}});
    EXPECT_TRUE(res && res->status == 200);
    return res ? json::parse(res->body, nullptr, false) : json{};
  }
  // A CSRF token of the switcher's forms (there is one while a delegation is offered).
  std::string csrf_token(DsJar& jar) {
    auto page = get(jar, "/.gatehouse/parties", {{"Accept", "text/html"}});
    EXPECT_TRUE(page && page->status == 200);
    const std::string token = page ? form_csrf_token(page->body) : std::string();
    EXPECT_FALSE(token.empty()) << (page ? page->body : "");
    return token;
  }
  httplib::Result switch_to(DsJar& jar, const std::string& party) {
    const std::string token = csrf_token(jar);
    return client().Post("/.gatehouse/parties/switch", {{"Cookie", jar.header()}},
                         httplib::Params{{"party", party}, {"csrf", token}, {"rd", "/"}});
  }
  // What the application received for a request of `jar`'s user.
  json echo(DsJar& jar) {
    auto res = get(jar, "/app");
    EXPECT_TRUE(res && res->status == 200) << (res ? std::to_string(res->status) + res->body : "no answer");
    return res ? json::parse(res->body, nullptr, false) : json{};
  }
  static std::string header(const json& echoed, const std::string& name) { return echoed_header(echoed.dump(), name); }

  // The identity and party `jar`'s user shows the application.
  void expect_acts(DsJar& jar, const std::string& source, const std::string& real, const std::string& effective,
                   std::int64_t delegation, const std::string& what) {
    SCOPED_TRACE(what);
    auto e = echo(jar);
    EXPECT_EQ(header(e, "X-Gatehouse-User"), "alice");
    EXPECT_EQ(header(e, "X-Gatehouse-Source"), source);
    EXPECT_EQ(header(e, "X-Gatehouse-Real-Party"), real);
    EXPECT_EQ(header(e, "X-Gatehouse-Effective-Party"), effective);
    if (delegation == 0)
      EXPECT_TRUE(ds_empty_or_absent(header(e, "X-Gatehouse-Delegation"))) << header(e, "X-Gatehouse-Delegation");
    else
      EXPECT_EQ(header(e, "X-Gatehouse-Delegation"), std::to_string(delegation));
    auto claims = ds_assertion_claims(header(e, "X-Gatehouse-Assertion"));
    EXPECT_EQ(claims["src"], source);
    EXPECT_EQ(claims["effective_party"], effective);
  }

  TempDir dir_;
  SlapdServer slapd_;
  EchoUpstream upstream_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DelegationSourcesDirectoryTest, TheSameNameInTwoDirectoriesStaysTwoUsers) {
  // initech lets both addresses act for it; the local alice is a named superuser of
  // acme, which is the home tenant of the directory's alice.
  const auto local_delegation = ds_grant(config_path(), "initech", "alice@globex.example");
  const auto corp_delegation = ds_grant(config_path(), "initech", "alice@example.org");
  ASSERT_GT(local_delegation, 0);
  ASSERT_GT(corp_delegation, 0);
  auto su = cli({"tenant", "superuser", "add", "acme", "local:alice"});
  ASSERT_EQ(su.exit_code, 0) << su.err;
  start();

  DsJar corp = login(std::string(ldap_fixture::kAlicePassword));
  DsJar local = login(kDsLocalAlicePassword);
  ASSERT_FALSE(corp.session.empty());
  ASSERT_FALSE(local.session.empty());
  {
    auto e = echo(corp);
    EXPECT_EQ(header(e, "X-Gatehouse-Email"), "alice@example.org");
    e = echo(local);
    EXPECT_EQ(header(e, "X-Gatehouse-Email"), "alice@globex.example");
  }
  expect_acts(corp, "corp", "acme", "acme", 0, "corp alice, signed in");
  expect_acts(local, "local", "globex", "globex", 0, "local alice, signed in");

  // Each is offered the delegation for its own address.
  auto corp_parties = parties(corp);
  ASSERT_EQ(corp_parties["parties"].size(), 2u) << corp_parties.dump();
  EXPECT_EQ(corp_parties["parties"][1]["delegation"], std::to_string(corp_delegation));
  auto local_parties = parties(local);
  ASSERT_EQ(local_parties["parties"].size(), 2u) << local_parties.dump();
  EXPECT_EQ(local_parties["parties"][1]["delegation"], std::to_string(local_delegation));

  // The local alice switches: the directory's alice still acts for its own tenant, and
  // its requests do not end the local alice's choice.
  auto switched = switch_to(local, "initech");
  ASSERT_TRUE(switched);
  ASSERT_EQ(switched->status, 303) << switched->body;
  expect_acts(local, "local", "globex", "initech", local_delegation, "local alice, switched");
  for (int i = 0; i < 3; ++i) expect_acts(corp, "corp", "acme", "acme", 0, "corp alice, after local's switch");
  EXPECT_EQ(parties(corp)["effective_party"], "acme");
  expect_acts(local, "local", "globex", "initech", local_delegation, "local alice, after corp's requests");
  // Past the resolver's cache too.
  std::this_thread::sleep_for(1200ms);
  expect_acts(corp, "corp", "acme", "acme", 0, "corp alice, a second later");
  expect_acts(local, "local", "globex", "initech", local_delegation, "local alice, a second later");

  // The directory's alice switches through its own delegation; then the local one
  // switches back. Each keeps its own choice and its own delegation.
  switched = switch_to(corp, "initech");
  ASSERT_TRUE(switched);
  ASSERT_EQ(switched->status, 303) << switched->body;
  expect_acts(corp, "corp", "acme", "initech", corp_delegation, "corp alice, switched");
  expect_acts(local, "local", "globex", "initech", local_delegation, "local alice, after corp's switch");
  switched = switch_to(local, "globex");
  ASSERT_TRUE(switched);
  ASSERT_EQ(switched->status, 303) << switched->body;
  expect_acts(local, "local", "globex", "globex", 0, "local alice, switched back");
  expect_acts(corp, "corp", "acme", "initech", corp_delegation, "corp alice, after local switched back");

  // A new sign-in of each finds its own choice again.
  DsJar corp_again = login(std::string(ldap_fixture::kAlicePassword));
  DsJar local_again = login(kDsLocalAlicePassword);
  expect_acts(corp_again, "corp", "acme", "initech", corp_delegation, "corp alice, signed in again");
  expect_acts(local_again, "local", "globex", "globex", 0, "local alice, signed in again");

  // Named superuser of acme: the local alice only, though acme is the other's home.
  auto local_page = get(local, "/.gatehouse/delegations");
  ASSERT_TRUE(local_page);
  EXPECT_EQ(local_page->status, 200) << local_page->body;
  EXPECT_NE(local_page->body.find("Acme Ltd"), std::string::npos) << local_page->body;
  auto corp_page = get(corp, "/.gatehouse/delegations");
  ASSERT_TRUE(corp_page);
  EXPECT_EQ(corp_page->status, 403) << corp_page->body;
  // And only the local alice may grant acme's delegations.
  auto corp_grant = client().Post(
      "/.gatehouse/delegations", {{"Cookie", corp.header()}},
      httplib::Params{{"tenant", "acme"}, {"email", "bob@example.org"}, {"csrf", csrf_token(corp)}});
  ASSERT_TRUE(corp_grant);
  EXPECT_EQ(corp_grant->status, 403) << corp_grant->body;
  auto local_grant = client().Post(
      "/.gatehouse/delegations", {{"Cookie", local.header()}},
      httplib::Params{{"tenant", "acme"}, {"email", "bob@example.org"}, {"csrf", csrf_token(local)}});
  ASSERT_TRUE(local_grant);
  EXPECT_EQ(local_grant->status, 303) << local_grant->body;
  auto granted = json::parse(cli({"delegation", "list", "--json", "--tenant", "acme"}).out);
  ASSERT_EQ(granted.size(), 1u) << granted.dump();
  EXPECT_EQ(granted[0]["granted_by"], "local:alice");
  auto listed = cli({"tenant", "superuser", "list", "acme"});
  EXPECT_NE(listed.out.find("local:alice"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find("corp:alice"), std::string::npos) << listed.out;

  // The audit trail names each switch's source.
  auto audit = cli({"audit", "list", "--event", "party.switched", "--json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  auto rows = json::parse(audit.out);
  EXPECT_EQ(rows.size(), 3u) << audit.out;
  EXPECT_EQ(audit.out.find("automatic"), std::string::npos) << audit.out;
}

}  // namespace
}  // namespace delegation_sources
}  // namespace gatehouse::testing
