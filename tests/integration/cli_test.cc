// The admin command line and the demo, run as a sysadmin would.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>

#include "integration/harness.h"

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

}  // namespace
}  // namespace gatehouse::testing
