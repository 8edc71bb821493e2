// `user add`, `user passwd`, `user disable` and `user enable` leave an audit record
// (user.added, user.password_changed, user.disabled, user.enabled) that `audit list`
// shows; a command that fails leaves none.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

class UserAudit : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream out(config_path());
    out << "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1\"\n"
        << "[store]\npath = \"" << dir_.file("gh.db") << "\"\n"
        << "[keys]\nmaster_key_file = \"" << dir_.file("master.key") << "\"\n"
        << "[[directory]]\nname = \"local\"\nkind = \"local\"\n"
        << "[[route]]\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:9\"\n";
    out.close();
    ASSERT_EQ(cli({"tenant", "add", "acme"}).exit_code, 0);
  }
  std::string config_path() const { return dir_.file("gatehouse.toml"); }
  CommandResult cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--config", config_path()});
    return run_gatehouse(args, input);
  }
  // user.* records, oldest first.
  std::vector<nlohmann::json> user_records() {
    auto r = cli({"audit", "list", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<nlohmann::json> out;
    for (const auto& rec : nlohmann::json::parse(r.out.empty() ? "[]" : r.out))
      if (rec["event"].get<std::string>().rfind("user.", 0) == 0) out.insert(out.begin(), rec);
    return out;
  }
  TempDir dir_;
};

struct Step {
  std::vector<std::string> args;
  std::string input;
  std::string event;   // "" when the command must fail and leave no record
  std::string detail;  // a part of the record's detail
};

struct Scenario {
  std::string name;
  std::vector<Step> steps;
};

class UserAuditScenarios : public UserAudit, public ::testing::WithParamInterface<Scenario> {};

TEST_P(UserAuditScenarios, EveryChangeIsRecordedAndEveryFailureIsNot) {
  std::vector<std::pair<std::string, std::string>> expected;  // event, user
  for (const auto& step : GetParam().steps) {
    auto r = cli(step.args, step.input);
    if (step.event.empty()) {
      EXPECT_NE(r.exit_code, 0) << r.out;
    } else {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      expected.emplace_back(step.event, step.args[2]);
    }
    auto records = user_records();
    ASSERT_EQ(records.size(), expected.size()) << r.out << r.err;
    if (!step.event.empty()) {
      const auto& last = records.back();
      EXPECT_EQ(last["event"], step.event);
      EXPECT_EQ(last["user"], step.args[2]);
      EXPECT_EQ(last["source"], "cli");
      EXPECT_NE(last["detail"].get<std::string>().find(step.detail), std::string::npos) << last;
      EXPECT_NE(last["detail"].get<std::string>().find(" by "), std::string::npos) << last;
    }
  }
  // Filtered by event and by user, as an administrator looks for them.
  for (const auto& [event, user] : expected) {
    auto r = cli({"audit", "list", "--json", "--event", event, "--user", user});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(nlohmann::json::parse(r.out.empty() ? "[]" : r.out).empty()) << event << " " << user;
  }
  // No password ever reaches the audit trail.
  auto all = cli({"audit", "list"});
  EXPECT_EQ(all.out.find("s3cret-pass"), std::string::npos) << all.out;
  EXPECT_EQ(all.out.find("generated password (shown once)"), std::string::npos) << all.out;
}

const Step kAdd{{"user", "add", "dave", "--tenant", "acme", "--password-stdin"}, "s3cret-pass\n", "user.added",
                "tenant acme"};

INSTANTIATE_TEST_SUITE_P(
    Table, UserAuditScenarios,
    ::testing::Values(
        Scenario{"AddWithPassword", {kAdd}},
        Scenario{"AddGenerated",
                 {{{"user", "add", "erin", "--tenant", "acme"}, "", "user.added", "generated password"}}},
        Scenario{"AddTwiceRecordsOnce",
                 {kAdd, {{"user", "add", "dave", "--tenant", "acme", "--password-stdin"}, "other\n", "", ""}}},
        Scenario{"AddToUnknownTenant",
                 {{{"user", "add", "frank", "--tenant", "nope", "--password-stdin"}, "pw\n", "", ""}}},
        Scenario{"AddWithoutPasswordOnStdin",
                 {{{"user", "add", "frank", "--tenant", "acme", "--password-stdin"}, "", "", ""}}},
        Scenario{"PasswdFromStdin",
                 {kAdd,
                  {{"user", "passwd", "dave", "--password-stdin"}, "s3cret-pass-2\n", "user.password_changed",
                   "password from stdin, sessions ended"}}},
        Scenario{"PasswdGenerated",
                 {kAdd, {{"user", "passwd", "dave"}, "", "user.password_changed", "generated password"}}},
        Scenario{"PasswdOfUnknownUser", {{{"user", "passwd", "ghost", "--password-stdin"}, "pw\n", "", ""}}},
        Scenario{"DisableThenEnable",
                 {kAdd, {{"user", "disable", "dave"}, "", "user.disabled", "sessions ended"},
                  {{"user", "enable", "dave"}, "", "user.enabled", "logins allowed again"}}},
        Scenario{"DisableUnknownUser", {{{"user", "disable", "ghost"}, "", "", ""}}},
        Scenario{"EnableUnknownUser", {{{"user", "enable", "ghost"}, "", "", ""}}},
        Scenario{"EveryCommandInTurn",
                 {kAdd,
                  {{"user", "add", "erin", "--tenant", "acme", "--password-stdin"}, "pw-erin\n", "user.added",
                   "tenant acme"},
                  {{"user", "disable", "erin"}, "", "user.disabled", "sessions ended"},
                  {{"user", "passwd", "dave", "--password-stdin"}, "pw-new\n", "user.password_changed", ""},
                  {{"user", "disable", "ghost"}, "", "", ""},
                  {{"user", "enable", "erin"}, "", "user.enabled", ""}}}),
    [](const ::testing::TestParamInfo<Scenario>& info) { return info.param.name; });

TEST_F(UserAudit, TheRecordNamesTheAdministrator) {
  ASSERT_EQ(cli({"user", "add", "dave", "--tenant", "acme", "--password-stdin"}, "pw\n").exit_code, 0);
  auto records = user_records();
  ASSERT_EQ(records.size(), 1u);
  const std::string detail = records[0]["detail"];
  EXPECT_NE(detail.find(" by "), std::string::npos) << detail;
  EXPECT_GT(detail.size(), detail.find(" by ") + 4) << detail;
}

}  // namespace
}  // namespace gatehouse::testing
