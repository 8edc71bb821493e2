// Lockout, whitelist and audit end to end: the real daemon, the real admin CLI on the
// same store, a local directory and a real slapd.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/directory_fixture.h"
#include "integration/harness.h"
#include "integration/slapd_server.h"

namespace gatehouse::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kGeneric = "The user name or password is incorrect.";

struct Policy {
  int max_failures = 3;
  std::string window = "15m";
  std::string lock_duration = "0s";
  int ip_max_failures = 50;
  std::string trusted_proxies = "";  // e.g. "\"127.0.0.1/32\""
};

class LockoutTest : public DirectoryGatewayTest {
 protected:
  std::string config_path() { return dir_.file("gatehouse.toml"); }

  // The daemon with `policy` and one directory table; `before_start` runs CLI setup
  // (users, tenants) on the same store first.
  void start(const Policy& p, const std::string& directory_table) {
    std::string text = basic_config(dir_, lockout_table(p) + directory_table, upstream_.url());
    if (!p.trusted_proxies.empty()) {
      auto at = text.find("public_url");
      text.insert(at, "trusted_proxies = [" + p.trusted_proxies + "]\n");
    }
    std::ofstream(config_path()) << text;
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_path()});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  static std::string lockout_table(const Policy& p) {
    return "[lockout]\nmax_failures = " + std::to_string(p.max_failures) + "\nwindow = \"" + p.window +
           "\"\nlock_duration = \"" + p.lock_duration + "\"\nip_max_failures = " +
           std::to_string(p.ip_max_failures) + "\n\n";
  }

  // A local directory with users alice and bob (tenant acme), created through the CLI
  // before the daemon starts.
  void start_local(const Policy& p) {
    std::ofstream(config_path()) << basic_config(dir_, lockout_table(p) + kLocal, upstream_.url());
    ASSERT_EQ(cli({"tenant", "add", "acme"}).exit_code, 0);
    for (auto [user, password] : {std::pair{"alice", "alice-Secret-1"}, std::pair{"bob", "bob-Secret-2"}}) {
      auto r = cli({"user", "add", user, "--tenant", "acme", "--password-stdin"}, std::string(password) + "\n");
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    start(p, kLocal);
  }

  CommandResult cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--config", config_path()});
    return run_gatehouse(args, input);
  }

  // POST /.gatehouse/login with extra request headers (X-Forwarded-For).
  httplib::Result login_from(const std::string& user, const std::string& password, const httplib::Headers& extra) {
    auto form = fetch_login_form(daemon_->port());
    httplib::Client c("127.0.0.1", daemon_->port());
    c.set_read_timeout(30, 0);
    c.set_tcp_nodelay(true);
    httplib::Headers h = extra;
    h.emplace("Cookie", form.csrf_cookie);
    return c.Post("/.gatehouse/login", h,
                  httplib::Params{{"username", user}, {"password", password}, {"csrf", form.token}, {"rd", "/"}});
  }

  void expect_success(const std::string& user, const std::string& password) {
    auto res = login(user, password);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 303) << user << "\n" << res->body << "\n" << daemon_->log();
    EXPECT_NE(session_cookie(res), "");
  }

  nlohmann::json audit(std::vector<std::string> filter = {}) {
    std::vector<std::string> args = {"audit", "list", "--json"};
    args.insert(args.end(), filter.begin(), filter.end());
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_array()) << r.out;
    return j.is_array() ? j : nlohmann::json::array();
  }

  // How many audit records have this event (and user, if given).
  int count_events(const std::string& event, const std::string& user = "") {
    int n = 0;
    for (const auto& rec : audit())
      if (rec.value("event", "") == event && (user.empty() || rec.value("user", "") == user)) ++n;
    return n;
  }

  static constexpr const char* kLocal = "[[directory]]\nname = \"local\"\nkind = \"local\"\n";
};

TEST_F(LockoutTest, LocksAtMaxFailuresRefusesEvenTheRightPasswordAndUnlocksFromTheCli) {
  start_local({});
  for (int i = 0; i < 3; ++i) expect_generic_failure("alice", "wrong-" + std::to_string(i));
  // Locked: the right password gets exactly the answer a wrong one gets.
  expect_generic_failure("alice", "alice-Secret-1");
  // Other users are not affected.
  expect_success("bob", "bob-Secret-2");

  auto list = cli({"lockout", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("alice"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("bob"), std::string::npos) << list.out;

  EXPECT_EQ(count_events("login.failure", "alice"), 3);
  EXPECT_EQ(count_events("lockout.locked", "alice"), 1);
  EXPECT_EQ(count_events("login.locked", "alice"), 1);

  auto unlock = cli({"lockout", "unlock", "alice"});
  ASSERT_EQ(unlock.exit_code, 0) << unlock.err;
  // The daemon sees the change within one second.
  std::this_thread::sleep_for(1s);
  expect_success("alice", "alice-Secret-1");
  EXPECT_EQ(count_events("lockout.unlocked", "alice"), 1);
  EXPECT_EQ(cli({"lockout", "list"}).out.find("alice"), std::string::npos);

  // No secret ever reaches the audit trail or the log.
  auto all = cli({"audit", "list", "--json"}).out;
  EXPECT_EQ(all.find("alice-Secret-1"), std::string::npos);
  EXPECT_EQ(all.find("wrong-0"), std::string::npos);
  EXPECT_EQ(daemon_->log().find("alice-Secret-1"), std::string::npos);
}

TEST_F(LockoutTest, NameFormsCountAgainstOneAccount) {
  start_local({.max_failures = 4});
  expect_generic_failure("Alice", "x1");
  expect_generic_failure("  ALICE ", "x2");
  expect_generic_failure("CORP\\alice", "x3");
  expect_generic_failure("alice@corp.example", "x4");
  expect_generic_failure("alice", "alice-Secret-1");
  EXPECT_NE(cli({"lockout", "list"}).out.find("alice"), std::string::npos);
}

TEST_F(LockoutTest, SuccessResetsTheCount) {
  start_local({});
  expect_generic_failure("alice", "x1");
  expect_generic_failure("alice", "x2");
  expect_success("alice", "alice-Secret-1");
  expect_generic_failure("alice", "x3");
  expect_generic_failure("alice", "x4");
  expect_success("alice", "alice-Secret-1");
}

TEST_F(LockoutTest, UnknownUsersAreCountedAndLockedLikeRealOnes) {
  start_local({});
  for (int i = 0; i < 3; ++i) expect_generic_failure("ghost", "x");
  EXPECT_NE(cli({"lockout", "list"}).out.find("ghost"), std::string::npos);
  EXPECT_EQ(count_events("lockout.locked", "ghost"), 1);
}

TEST_F(LockoutTest, LockDurationExpires) {
  start_local({.lock_duration = "2s"});
  for (int i = 0; i < 3; ++i) expect_generic_failure("alice", "x");
  expect_generic_failure("alice", "alice-Secret-1");
  std::this_thread::sleep_for(2500ms);
  expect_success("alice", "alice-Secret-1");
}

TEST_F(LockoutTest, AddressIsThrottledWith429AndRetryAfterBeforeAnyDirectoryIsAsked) {
  start_local({.max_failures = 100, .ip_max_failures = 4});
  for (int i = 0; i < 4; ++i) expect_generic_failure("user" + std::to_string(i), "x");
  auto res = login("alice", "alice-Secret-1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429) << res->body;
  ASSERT_TRUE(res->has_header("Retry-After"));
  int retry = std::stoi(res->get_header_value("Retry-After"));
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, 15 * 60);
  EXPECT_EQ(session_cookie(res), "");
  auto list = cli({"lockout", "list"});
  EXPECT_NE(list.out.find("127.0.0.1"), std::string::npos) << list.out;
}

TEST_F(LockoutTest, ForwardedForIsBelievedOnlyFromTrustedProxies) {
  // Not trusted: a client cannot dodge the throttle by inventing addresses.
  start_local({.max_failures = 100, .ip_max_failures = 3});
  for (int i = 0; i < 3; ++i)
    login_from("user" + std::to_string(i), "x", {{"X-Forwarded-For", "203.0.113." + std::to_string(i)}});
  auto res = login_from("alice", "alice-Secret-1", {{"X-Forwarded-For", "198.51.100.7"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
}

TEST_F(LockoutTest, TrustedProxyForwardsTheRealClientAddress) {
  start_local({.max_failures = 100, .ip_max_failures = 3, .trusted_proxies = "\"127.0.0.1/32\""});
  for (int i = 0; i < 3; ++i)
    login_from("user" + std::to_string(i), "x", {{"X-Forwarded-For", "203.0.113.9"}});
  auto blocked = login_from("alice", "alice-Secret-1", {{"X-Forwarded-For", "203.0.113.9"}});
  ASSERT_TRUE(blocked);
  EXPECT_EQ(blocked->status, 429);
  // Another client behind the same proxy is not affected.
  auto other = login_from("alice", "alice-Secret-1", {{"X-Forwarded-For", "198.51.100.7"}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 303) << other->body;
  bool recorded = false;
  for (const auto& rec : audit({"--user", "user0"})) recorded |= rec.value("client", "") == "203.0.113.9";
  EXPECT_TRUE(recorded);
}

TEST_F(LockoutTest, WhitelistingALockedUserUnblocksItAndKeepsItUnlocked) {
  start_local({});
  for (int i = 0; i < 3; ++i) expect_generic_failure("bob", "x");
  expect_generic_failure("bob", "bob-Secret-2");
  auto added = cli({"whitelist", "add", "bob"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  std::this_thread::sleep_for(1s);
  expect_success("bob", "bob-Secret-2");
  for (int i = 0; i < 6; ++i) expect_generic_failure("bob", "x");
  expect_success("bob", "bob-Secret-2");
  EXPECT_NE(cli({"whitelist", "list"}).out.find("bob"), std::string::npos);
  EXPECT_EQ(count_events("whitelist.added", "bob"), 1);

  ASSERT_EQ(cli({"whitelist", "remove", "bob"}).exit_code, 0);
  EXPECT_EQ(cli({"whitelist", "list"}).out.find("bob"), std::string::npos);
  EXPECT_GE(count_events("whitelist.removed"), 1);
}

TEST_F(LockoutTest, WhitelistedNetworkIsNeverThrottled) {
  start_local({.max_failures = 100, .ip_max_failures = 2});
  ASSERT_EQ(cli({"whitelist", "add", "127.0.0.0/8"}).exit_code, 0);
  for (int i = 0; i < 5; ++i) expect_generic_failure("user" + std::to_string(i), "x");
  expect_success("alice", "alice-Secret-1");
}

TEST_F(LockoutTest, CliRejectsBadInputWithExitCode2) {
  start_local({});
  for (const char* bad : {"10.0.0.0/33", "300.1.1.1/8", "10.0.0.0/", "::1/129"}) {
    auto r = cli({"whitelist", "add", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.out << r.err;
    EXPECT_FALSE(r.err.empty()) << bad;
  }
  EXPECT_EQ(cli({"lockout", "unlock"}).exit_code, 2);
  EXPECT_EQ(cli({"lockout", "frobnicate"}).exit_code, 2);
  auto since = cli({"audit", "list", "--since", "yesterday"});
  EXPECT_EQ(since.exit_code, 2);
  EXPECT_NE(since.err.find("--since"), std::string::npos) << since.err;
  // An unknown user may be whitelisted (it may live in LDAP), but the command says so.
  auto ghost = cli({"whitelist", "add", "svc-backup"});
  EXPECT_EQ(ghost.exit_code, 0) << ghost.err;
  EXPECT_NE((ghost.out + ghost.err).find("svc-backup"), std::string::npos);
}

TEST_F(LockoutTest, AuditListsNewestFirstFiltersAndUserListShowsLoginState) {
  start_local({});
  expect_success("alice", "alice-Secret-1");
  expect_generic_failure("bob", "x");
  for (int i = 0; i < 3; ++i) expect_generic_failure("alice", "x");

  auto all = audit();
  ASSERT_GE(all.size(), 5u);
  for (std::size_t i = 1; i < all.size(); ++i)
    EXPECT_GE(all[i - 1].value("time", std::string()), all[i].value("time", std::string()));
  EXPECT_EQ(all.front().value("event", ""), "lockout.locked");
  for (const auto& rec : audit({"--user", "bob"})) EXPECT_EQ(rec.value("user", ""), "bob");
  for (const auto& rec : audit({"--event", "login.success"})) EXPECT_EQ(rec.value("event", ""), "login.success");
  EXPECT_EQ(audit({"--event", "login.success"}).size(), 1u);
  EXPECT_EQ(audit({"--since", "2999-01-01T00:00:00Z"}).size(), 0u);
  EXPECT_EQ(audit({"--since", "2000-01-01T00:00:00Z"}).size(), all.size());
  auto first = audit({"--limit", "1"});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0], all[0]);

  auto users = cli({"user", "list"});
  ASSERT_EQ(users.exit_code, 0);
  std::string alice_line, bob_line;
  std::istringstream lines(users.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("alice") != std::string::npos) alice_line = line;
    if (line.find("bob") != std::string::npos) bob_line = line;
  }
  EXPECT_NE(alice_line.find("locked"), std::string::npos) << users.out;
  EXPECT_EQ(bob_line.find("locked"), std::string::npos) << users.out;
}

TEST_F(LockoutTest, LogoutIsAudited) {
  start_local({});
  auto res = login("alice", "alice-Secret-1");
  ASSERT_EQ(res->status, 303);
  httplib::Client c("127.0.0.1", daemon_->port());
  auto out = c.Post("/.gatehouse/logout", {{"Cookie", session_cookie(res)}}, "", "application/x-www-form-urlencoded");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 303);
  auto records = audit({"--event", "logout"});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].value("user", ""), "alice");
  EXPECT_EQ(records[0].value("client", ""), "127.0.0.1");
  EXPECT_EQ(records[0].value("source", ""), "local");
}

// The same policy in front of a real directory.
class LdapLockoutTest : public LockoutTest {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(slapd_.start(&error)) << error;
  }
  std::string ldap_table() {
    return "[[directory]]\nname = \"corp\"\nkind = \"ldap\"\nuri = [\"" + slapd_.ldap_uri() + "\"]\nbind_dn = \"" +
           slapd_.bind_dn() + "\"\nbind_password_file = \"" + slapd_.bind_password_file() +
           "\"\nuser_base = \"ou=people," + slapd_.base_dn() + "\"\ntenant = \"example\"\npool_size = 16\n";
  }
  SlapdServer slapd_;
};

TEST_F(LdapLockoutTest, ParallelGuessesReachTheDirectoryExactlyMaxFailuresTimes) {
  start({.max_failures = 5, .ip_max_failures = 1000}, ldap_table());
  std::vector<std::future<int>> guesses;
  for (int i = 0; i < 50; ++i)
    guesses.push_back(std::async(std::launch::async, [this, i] {
      auto res = login("alice", "guess-" + std::to_string(i));
      return res ? res->status : -1;
    }));
  for (auto& g : guesses) EXPECT_EQ(g.get(), 401);
  EXPECT_EQ(slapd_.bind_count("uid=alice,"), 5) << slapd_.log();

  // Locked: the right password is refused without asking the directory.
  expect_generic_failure("alice", std::string(ldap_fixture::kAlicePassword));
  EXPECT_EQ(slapd_.bind_count("uid=alice,"), 5);
  EXPECT_EQ(count_events("lockout.locked", "alice"), 1);
  EXPECT_EQ(count_events("login.failure", "alice"), 5);

  ASSERT_EQ(cli({"lockout", "unlock", "alice"}).exit_code, 0);
  std::this_thread::sleep_for(1s);
  expect_success("alice", std::string(ldap_fixture::kAlicePassword));
  EXPECT_EQ(count_events("login.success", "alice"), 1);
}

TEST_F(LdapLockoutTest, UnknownDirectoryUsersAreLockedToo) {
  start({.max_failures = 3}, ldap_table());
  for (int i = 0; i < 3; ++i) expect_generic_failure("nobody", "x");
  EXPECT_NE(cli({"lockout", "list"}).out.find("nobody"), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::testing
