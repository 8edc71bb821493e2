// The admin command line and the demo, run as a sysadmin would.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "auth/audit.h"
#include "auth/lockout.h"
#include "common/clock.h"
#include "config/config.h"
#include "integration/harness.h"
#include "store/sqlite_store.h"

namespace gatehouse::testing {
namespace {

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream out(config_path());
    out << "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1\"\n"
        << "[store]\npath = \"" << dir_.file("gh.db") << "\"\n"
        << "[keys]\nmaster_key_file = \"" << dir_.file("master.key") << "\"\n"
        << "[[directory]]\nname = \"local\"\nkind = \"local\"\n"
        << "[[route]]\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:9\"\n";
  }
  std::string config_path() const { return dir_.file("gatehouse.toml"); }
  CommandResult cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--config", config_path()});
    return run_gatehouse(args, input);
  }
  TempDir dir_;
};

TEST_F(CliTest, ConfigCheckAcceptsAValidFile) {
  auto r = run_gatehouse({"config", "check", "--config", config_path()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(CliTest, ConfigCheckReportsEveryErrorWithFileAndLine) {
  const std::string bad = dir_.file("bad.toml");
  {
    std::ofstream out(bad);
    out << "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"ftp://x\"\nlistn = 1\n"
        << "[store]\npath = \"" << dir_.file("gh.db") << "\"\n"
        << "[session]\nidle_timeout = \"15 minutes\"\n"
        << "[[directory]]\nname = \"local\"\nkind = \"local\"\n"
        << "[[route]]\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:9\"\n";
  }
  auto r = run_gatehouse({"config", "check", "--config", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(bad + ":3: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad + ":4: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad + ":8: "), std::string::npos) << r.err;
}

TEST_F(CliTest, ServeRefusesABadConfigWithExitCode2) {
  auto r = run_gatehouse({"serve", "--config", dir_.file("missing.toml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.toml:1: "), std::string::npos) << r.err;
}

TEST_F(CliTest, VersionIsTheProjectVersion) {
  auto r = run_gatehouse({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string("gatehouse ") + GATEHOUSE_VERSION + "\n");
}

TEST_F(CliTest, UsageErrorsExitWith2) {
  EXPECT_EQ(run_gatehouse({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(cli({"user", "add"}).exit_code, 2);
  EXPECT_EQ(cli({"user", "add", "x", "--tenant", "nope", "--password-stdin"}, "pw\n").exit_code, 2);
  EXPECT_EQ(cli({"user", "passwd", "ghost", "--password-stdin"}, "pw\n").exit_code, 2);
  EXPECT_EQ(cli({"user", "add", "x", "--tenant", "t", "--password-stdin"}, "").exit_code, 2);
}

TEST_F(CliTest, TenantsAndUsersAreManaged) {
  ASSERT_EQ(cli({"tenant", "add", "acme"}).exit_code, 0);
  EXPECT_EQ(cli({"tenant", "add", "acme"}).exit_code, 1);
  auto tenants = cli({"tenant", "list"});
  EXPECT_NE(tenants.out.find("acme"), std::string::npos);
  auto added = cli({"user", "add", "dave", "--tenant", "acme", "--email", "dave@acme.example", "--group", "ops"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(added.out, m, std::regex("generated password \\(shown once\\): (\\S+)")));
  EXPECT_GE(m[1].str().size(), 16u);
  EXPECT_EQ(cli({"user", "add", "dave", "--tenant", "acme", "--password-stdin"}, "x\n").exit_code, 1);
  auto list = cli({"user", "list"});
  EXPECT_NE(list.out.find("dave"), std::string::npos);
  EXPECT_NE(list.out.find("dave@acme.example"), std::string::npos);
  EXPECT_NE(list.out.find("enabled"), std::string::npos);
  EXPECT_EQ(list.out.find("argon2"), std::string::npos);
  ASSERT_EQ(cli({"user", "disable", "dave"}).exit_code, 0);
  EXPECT_NE(cli({"user", "list"}).out.find("disabled"), std::string::npos);
  EXPECT_EQ(cli({"user", "passwd", "dave", "--password-stdin"}, "new-pass\n").exit_code, 0);
}

TEST_F(CliTest, MasterKeyIsCreatedPrivate) {
  ASSERT_EQ(cli({"keys", "init"}).exit_code, 0);
  struct stat st {};
  ASSERT_EQ(stat(dir_.file("master.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
}

// The lockout, whitelist and audit commands act on the store a running daemon uses.
// These tests play the daemon's part in-process, through the same library, on the
// file the CLI opens.
class LockoutCliTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    auto opened = store::SqliteStore::open(dir_.file("gh.db"));
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(opened).value();
    lockout_ = std::make_unique<auth::Lockout>(config::LockoutConfig{}, *store_, clock_);
    audit_ = std::make_unique<auth::Audit>(config::AuditConfig{}, *store_, clock_);
  }

  // A wrong password as the login flow reports it.
  void fail_login(const std::string& user, const char* client = "192.0.2.1") {
    auto a = lockout_->begin(user, *IpAddress::parse(client));
    ASSERT_TRUE(a.ok());
    if (a->allowed()) {
      ASSERT_TRUE(lockout_->failed(*a).ok());
      ASSERT_TRUE(audit_
                      ->record({auth::AuditEventType::login_failure, user, IpAddress::parse(client),
                                "local", "/", "bad credentials"})
                      .ok());
    }
  }

  auth::Verdict verdict(const std::string& user, const char* client = "192.0.2.1") {
    auto a = lockout_->begin(user, *IpAddress::parse(client));
    EXPECT_TRUE(a.ok());
    return a.ok() ? a->verdict() : auth::Verdict::throttled;
  }

  SystemClock clock_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<auth::Lockout> lockout_;
  std::unique_ptr<auth::Audit> audit_;
};

TEST_F(LockoutCliTest, LockoutListShowsLockedUsersAndThrottledAddresses) {
  auto empty = cli({"lockout", "list"});
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_NE(empty.out.find("no locked users"), std::string::npos) << empty.out;
  EXPECT_NE(empty.out.find("no throttled addresses"), std::string::npos) << empty.out;

  for (const char* form : {"Alice", "alice", "CORP\\alice", "alice@corp.example", " ALICE "})
    fail_login(form);
  ASSERT_EQ(verdict("alice", "192.0.2.2"), auth::Verdict::locked);
  for (int i = 0; i < 50; ++i) fail_login("guess" + std::to_string(i), "198.51.100.7");

  auto list = cli({"lockout", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(std::regex_search(
      list.out, std::regex("\nalice +\\d{4}-\\d\\d-\\d\\dT[0-9:]+Z +unlocked by an admin +"
                           "192\\.0\\.2\\.1 +5 failed logins within 15m\n")))
      << list.out;
  EXPECT_TRUE(std::regex_search(
      list.out, std::regex("\n198\\.51\\.100\\.7 +\\S+Z +\\S+Z +50 failed logins within 15m\n")))
      << list.out;
}

TEST_F(LockoutCliTest, LockoutUnlockLiftsTheLockAndIsAudited) {
  for (int i = 0; i < 5; ++i) fail_login("alice");
  ASSERT_EQ(verdict("alice"), auth::Verdict::locked);

  auto r = cli({"lockout", "unlock", "ALICE"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "user alice unlocked\n");
  EXPECT_EQ(verdict("alice"), auth::Verdict::allowed);  // the "daemon" sees it at once

  auto again = cli({"lockout", "unlock", "alice"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("was not locked"), std::string::npos) << again.out;

  auto audit = cli({"audit", "list", "--event", "lockout.unlocked", "--json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  auto records = nlohmann::json::parse(audit.out);
  ASSERT_EQ(records.size(), 1u) << audit.out;
  EXPECT_EQ(records[0]["user"], "ALICE");
  EXPECT_EQ(records[0]["source"], "cli");
  EXPECT_NE(records[0]["detail"].get<std::string>().find("unlocked by "), std::string::npos);
}

TEST_F(LockoutCliTest, LockoutUnlockOfAnAddressForgetsItsFailures) {
  for (int i = 0; i < 50; ++i) fail_login("guess" + std::to_string(i), "198.51.100.7");
  ASSERT_EQ(verdict("bob", "198.51.100.7"), auth::Verdict::throttled);
  auto r = cli({"lockout", "unlock", "198.51.100.7"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("address 198.51.100.7 unblocked (50 failed logins forgotten)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(verdict("bob", "198.51.100.7"), auth::Verdict::allowed);
  EXPECT_EQ(cli({"lockout", "unlock", "10.0.0.0/8"}).exit_code, 2);
  EXPECT_EQ(cli({"lockout", "unlock", " "}).exit_code, 2);
}

TEST_F(LockoutCliTest, WhitelistingALockedUserUnblocksItAndSaysWhenTheNameIsUnknown) {
  ASSERT_EQ(cli({"tenant", "add", "acme"}).exit_code, 0);
  ASSERT_EQ(cli({"user", "add", "alice", "--tenant", "acme", "--password-stdin"}, "pw\n").exit_code,
            0);
  for (int i = 0; i < 5; ++i) fail_login("alice");
  ASSERT_EQ(verdict("alice"), auth::Verdict::locked);

  auto r = cli({"whitelist", "add", "CORP\\Alice", "--comment", "manual, page 12"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "user alice added to the whitelist\nuser alice was locked and is unblocked\n");
  EXPECT_EQ(verdict("alice"), auth::Verdict::allowed);
  for (int i = 0; i < 10; ++i) fail_login("alice");
  EXPECT_EQ(verdict("alice"), auth::Verdict::allowed);

  auto unknown = cli({"whitelist", "add", "svc-backup"});
  EXPECT_EQ(unknown.exit_code, 0) << unknown.err;
  EXPECT_NE(unknown.out.find("note: no local user \"svc-backup\""), std::string::npos)
      << unknown.out;
  EXPECT_NE(unknown.out.find("user svc-backup added to the whitelist"), std::string::npos)
      << unknown.out;

  auto again = cli({"whitelist", "add", "alice"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("already on the whitelist"), std::string::npos) << again.out;

  auto list = cli({"whitelist", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(
      std::regex_search(list.out, std::regex("\nuser +alice +\\S+Z +\\S+ +manual, page 12\n")))
      << list.out;
  EXPECT_NE(list.out.find("svc-backup"), std::string::npos) << list.out;

  auto removed = cli({"whitelist", "remove", "ALICE"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(removed.out, "user alice removed from the whitelist\n");
  EXPECT_NE(cli({"whitelist", "remove", "alice"}).out.find("was not on the whitelist"),
            std::string::npos);

  auto audit = cli({"audit", "list", "--user", "alice", "--json", "--limit", "1000"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  std::vector<std::string> events;
  for (const auto& rec : nlohmann::json::parse(audit.out))
    if (rec["source"] == "cli") events.push_back(rec["event"]);
  EXPECT_EQ(events,
            (std::vector<std::string>{"whitelist.removed", "lockout.unlocked", "whitelist.added", "user.added"}));
}

TEST_F(LockoutCliTest, WhitelistedNetworksAreNeverThrottled) {
  auto r = cli({"whitelist", "add", "198.51.100.0/24"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "network 198.51.100.0/24 added to the whitelist\n");
  for (int i = 0; i < 60; ++i) fail_login("guess" + std::to_string(i), "198.51.100.7");
  EXPECT_EQ(verdict("bob", "198.51.100.7"), auth::Verdict::allowed);
  auto list = cli({"whitelist", "list"});
  EXPECT_TRUE(std::regex_search(list.out, std::regex("\nnetwork +198\\.51\\.100\\.0/24 +")))
      << list.out;
  EXPECT_EQ(cli({"whitelist", "add", "2001:db8::1"}).out,
            "network 2001:db8::1/128 added to the whitelist\n");
  EXPECT_EQ(cli({"whitelist", "remove", "198.51.100.0/24"}).out,
            "network 198.51.100.0/24 removed from the whitelist\n");
}

TEST_F(LockoutCliTest, InvalidNetworksAreRefusedWithExitCode2) {
  for (const char* bad :
       {"10.0.0.0/33", "300.1.1.1/8", "::1/129", "10.0.0.0/", "1.2.3", "10.0.0.0/8/8"}) {
    for (const char* verb : {"add", "remove"}) {
      auto r = cli({"whitelist", verb, bad});
      EXPECT_EQ(r.exit_code, 2) << verb << " " << bad;
      EXPECT_NE(r.err.find("is not a valid IP address or CIDR network"), std::string::npos)
          << r.err;
      EXPECT_EQ(r.out, "");
    }
  }
  EXPECT_NE(cli({"whitelist", "list"}).out.find("the whitelist is empty"), std::string::npos);
  EXPECT_EQ(cli({"whitelist", "add"}).exit_code, 2);
  EXPECT_EQ(cli({"whitelist", "add", ""}).exit_code, 2);
  EXPECT_EQ(cli({"lockout", "unlock"}).exit_code, 2);
}

TEST_F(LockoutCliTest, AuditListFiltersNewestFirstAndPrintsJson) {
  FakeClock at(1'700'000'000);  // 2023-11-14T22:13:20Z
  auth::Audit audit(config::AuditConfig{}, *store_, at);
  ASSERT_TRUE(audit
                  .record({auth::AuditEventType::login_failure, "Alice",
                           IpAddress::parse("192.0.2.1"), "local", "/", "bad credentials"})
                  .ok());
  at.advance(3600);
  ASSERT_TRUE(audit
                  .record({auth::AuditEventType::login_success, "alice",
                           IpAddress::parse("192.0.2.1"), "local", "/", ""})
                  .ok());
  at.advance(3600);
  ASSERT_TRUE(audit
                  .record({auth::AuditEventType::logout, "bob", IpAddress::parse("2001:db8::1"),
                           "ldap", "/", ""})
                  .ok());

  auto table = cli({"audit", "list"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_TRUE(std::regex_search(
      table.out, std::regex("\n3 +2023-11-15T00:13:20Z +logout +bob +2001:db8::1 +ldap +/ *\n"
                            "2 +2023-11-14T23:13:20Z +login.success +alice +192.0.2.1 +local +/ *\n"
                            "1 +2023-11-14T22:13:20Z +login.failure +Alice +192.0.2.1 +local +/ "
                            "+bad credentials\n")))
      << table.out;

  auto json = cli({"audit", "list", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto all = nlohmann::json::parse(json.out);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]["event"], "logout");
  EXPECT_EQ(all[2]["time"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(all[2]["unix_time"], 1'700'000'000);
  EXPECT_EQ(all[2]["client"], "192.0.2.1");
  EXPECT_EQ(all[2]["detail"], "bad credentials");

  const auto ids = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"audit", "list", "--json"});
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<int> out;
    for (const auto& rec : nlohmann::json::parse(r.out.empty() ? "[]" : r.out))
      out.push_back(rec["id"]);
    return out;
  };
  EXPECT_EQ(ids({"--user", "CORP\\ALICE"}), (std::vector<int>{2, 1}));
  EXPECT_EQ(ids({"--since", "2023-11-14T23:13:20Z"}), (std::vector<int>{3, 2}));
  EXPECT_EQ(ids({"--since", "2023-11-15T00:13:20+01:00"}), (std::vector<int>{3, 2}));
  EXPECT_EQ(ids({"--event", "login.failure"}), (std::vector<int>{1}));
  EXPECT_EQ(ids({"--user", "alice", "--event", "login.success", "--since", "2023-11-14T22:00:00Z"}),
            (std::vector<int>{2}));
  EXPECT_EQ(ids({"--limit", "2"}), (std::vector<int>{3, 2}));
  EXPECT_EQ(ids({"--limit", "2", "--before", "2"}), (std::vector<int>{1}));
  EXPECT_EQ(ids({"--since", "2030-01-01T00:00:00Z"}), (std::vector<int>{}));

  auto page = cli({"audit", "list", "--limit", "2"});
  EXPECT_NE(page.err.find("--before 2"), std::string::npos) << page.err;

  for (std::vector<std::string> bad : {std::vector<std::string>{"--since", "yesterday"},
                                       {"--since", "2023-11-14"},
                                       {"--since", "2023-02-30T00:00:00Z"},
                                       {"--event", "login"},
                                       {"--limit", "0"},
                                       {"--limit", "many"}}) {
    bad.insert(bad.begin(), {"audit", "list"});
    auto r = cli(bad);
    EXPECT_EQ(r.exit_code, 2) << bad[2] << " " << bad[3];
    EXPECT_FALSE(r.err.empty());
  }
  EXPECT_NE(cli({"audit", "list", "--since", "yesterday"}).err.find("is not an RFC 3339 time"),
            std::string::npos);
}

TEST_F(LockoutCliTest, AuditOutputSurvivesHostileNames) {
  // Names come from the login form: not necessarily UTF-8, maybe terminal escapes.
  ASSERT_TRUE(audit_
                  ->record({auth::AuditEventType::login_failure, "evil\x1b[31m\xff\xfe",
                            std::nullopt, "local", "/", "line\nbreak"})
                  .ok());
  auto table = cli({"audit", "list"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.find('\x1b'), std::string::npos);
  EXPECT_NE(table.out.find("evil\\x1b[31m"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("line\\x0abreak"), std::string::npos) << table.out;

  auto json = cli({"audit", "list", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const std::string file = dir_.file("audit.json");
  std::ofstream(file) << json.out;
  const std::string check =
      "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
      "assert d[0][\"detail\"] == \"line\\nbreak\"' " +
      file;
  EXPECT_EQ(std::system(check.c_str()), 0) << json.out;
}

TEST_F(LockoutCliTest, UserListShowsLastLoginLastFailureAndLockState) {
  ASSERT_EQ(cli({"tenant", "add", "acme"}).exit_code, 0);
  for (const char* name : {"alice", "bob", "carol"})
    ASSERT_EQ(cli({"user", "add", name, "--tenant", "acme", "--password-stdin"}, "pw\n").exit_code,
              0);
  FakeClock at(1'700'000'000);
  auth::Audit audit(config::AuditConfig{}, *store_, at);
  ASSERT_TRUE(
      audit.record({auth::AuditEventType::login_success, "Alice", std::nullopt, "local", "/", ""})
          .ok());
  at.advance(60);
  ASSERT_TRUE(
      audit.record({auth::AuditEventType::login_failure, "alice", std::nullopt, "local", "/", ""})
          .ok());
  for (int i = 0; i < 5; ++i) fail_login("bob");
  ASSERT_EQ(cli({"whitelist", "add", "carol"}).exit_code, 0);

  auto r = cli({"user", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("LAST LOGIN"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("\nalice .* enabled +2023-11-14T22:13:20Z +2023-11-14T22:14:20Z +- *\n")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nbob .* enabled +never +\\S+Z +locked *\n")))
      << r.out;
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex("\ncarol .* enabled +never +never +whitelisted *\n")))
      << r.out;
}

TEST(DemoTest, DemoServesTheEchoApplicationBehindALogin) {
  Daemon demo({"demo", "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(demo.start()) << demo.log();
  std::string out;
  for (int i = 0; i < 100 && out.find("Press Ctrl-C") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    out = demo.stdout_text();
  }
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("alice / (\\S+)"))) << out;
  const std::string password = m[1].str();
  httplib::Client c("127.0.0.1", demo.port());
  auto form = c.Get("/.gatehouse/login");
  ASSERT_TRUE(form);
  std::smatch t;
  ASSERT_TRUE(std::regex_search(form->body, t, std::regex("name=\"csrf\" value=\"([^\"]+)\"")));
  auto res = c.Post("/.gatehouse/login", {{"Cookie", cookie_from(form->headers, "gatehouse_session_csrf")}},
                    httplib::Params{{"username", "alice"}, {"password", password}, {"csrf", t[1].str()}, {"rd", "/"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 303);
  auto page = c.Get("/", {{"Cookie", cookie_from(res->headers, "gatehouse_session")}, {"Accept", "text/html"}});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("Signed in as <strong id=\"user\">alice</strong>"), std::string::npos) << page->body;
  EXPECT_NE(page->body.find("&quot;effective_party&quot;: &quot;acme&quot;"), std::string::npos);
  EXPECT_EQ(demo.stop(), 0) << demo.log();
}

// [log] format = "json": every line the daemon writes on stderr, from start to stop, is
// one JSON object; a hostile user name stays inside its field and no password shows.
TEST(LogFormatTest, ServeWritesEveryStderrLineAsJsonWhenConfigured) {
  TempDir dir;
  EchoUpstream upstream;
  const std::string config = dir.file("gatehouse.toml");
  {
    std::ofstream out(config);
    out << basic_config(dir, "[[directory]]\nname = \"local\"\nkind = \"local\"\n", upstream.url())
        << "\n[log]\nformat = \"json\"\nlevel = \"debug\"\n";
  }
  ASSERT_EQ(run_gatehouse({"config", "check", "--config", config}).exit_code, 0);
  Daemon daemon({"serve", "--config", config});
  ASSERT_TRUE(daemon.start()) << daemon.log();
  const std::string hostile = "eve\"\n{\"level\":\"error\",\"event\":\"forged\"}\xff";
  const std::string password = "never-logged-Pa55word";
  auto res = post_login(daemon.port(), hostile, password);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();

  const std::string err = daemon.log();
  EXPECT_EQ(err.find(password), std::string::npos) << err;
  ASSERT_FALSE(err.empty());
  EXPECT_EQ(err.back(), '\n') << err;
  auto utc_millis = [](const std::string& ts) {  // 2026-11-24T10:00:00.123Z
    const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (ts.size() != shape.size()) return false;
    for (std::size_t i = 0; i < ts.size(); ++i)
      if (shape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(ts[i])) : ts[i] != shape[i]) return false;
    return true;
  };
  std::map<std::string, nlohmann::json> first_of;  // event name -> its first line
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not a JSON object: " << line << "\n" << err;
    for (const char* key : {"ts", "level", "event"})
      ASSERT_TRUE(j.contains(key) && j[key].is_string()) << key << " missing: " << line;
    for (const auto& [name, value] : j.items()) EXPECT_TRUE(value.is_string()) << name << ": " << line;
    EXPECT_TRUE(utc_millis(j["ts"].get<std::string>())) << line;
    first_of.emplace(j["event"].get<std::string>(), j);
  }
  ASSERT_EQ(first_of.count("listening"), 1u) << err;
  const auto& listening = first_of["listening"];
  EXPECT_EQ(listening["level"], "info");
  EXPECT_EQ(listening["address"], "127.0.0.1:" + std::to_string(daemon.port()));
  EXPECT_EQ(listening["public_url"], "http://gatehouse.test");
  EXPECT_EQ(listening["routes"], "1");
  ASSERT_EQ(first_of.count("login.failure"), 1u) << err;
  EXPECT_EQ(first_of["login.failure"]["user"], "eve\"\n{\"level\":\"error\",\"event\":\"forged\"}\xef\xbf\xbd") << err;
  EXPECT_EQ(first_of.count("forged"), 0u) << err;
  EXPECT_EQ(first_of.count("shutdown.complete"), 1u) << err;
}

}  // namespace
}  // namespace gatehouse::testing
