// `config check` finds what would make `serve` fail to start, and `serve` refuses the
// same file with the same FILE:LINE message and exit code 2 (which the unit's
// RestartPreventExitStatus=2 keeps from restarting in a loop).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

struct CheckCase {
  std::string name;
  std::string store_path;   // "@" stands for the test's directory
  std::string key_file;
  std::string extra;        // appended after line 10 (the [[directory]] table)
  std::string route_prefix;
  std::string expected;     // ":LINE: message" after the config path; "@" as above
};

// Line numbers: 5 [store] path, 7 [keys] master_key_file, 11 the first extra line,
// then the route's table (path_prefix on line 12 when there is no extra).
std::string config_text(const CheckCase& c) {
  return "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1\"\n"  // 1-3
         "[store]\npath = \"" + c.store_path + "\"\n"                                // 4-5
         "[keys]\nmaster_key_file = \"" + c.key_file + "\"\n"                       // 6-7
         "[[directory]]\nname = \"local\"\nkind = \"local\"\n"                      // 8-10
         + c.extra +
         "[[route]]\npath_prefix = \"" + c.route_prefix + "\"\nupstream = \"http://127.0.0.1:9\"\n";
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}

class ConfigCheck : public ::testing::TestWithParam<CheckCase> {};

TEST_P(ConfigCheck, RefusesWhatServeCouldNotUseWithFileAndLine) {
  const auto& c = GetParam();
  TempDir dir;
  std::filesystem::create_directories(dir.file("state"));
  { std::ofstream(dir.file("empty.secret")); }
  const std::string at = dir.path().string();
  const std::string config = dir.file("gatehouse.toml");
  {
    CheckCase filled = c;
    filled.store_path = replace_all(c.store_path, "@", at);
    filled.key_file = replace_all(c.key_file, "@", at);
    filled.extra = replace_all(c.extra, "@", at);
    std::ofstream(config) << config_text(filled);
  }
  const std::string expected = config + replace_all(c.expected, "@", at);
  auto check = run_gatehouse({"config", "check", "--config", config});
  EXPECT_EQ(check.exit_code, 2) << check.err;
  EXPECT_NE(check.err.find(expected), std::string::npos) << check.err;
  auto serve = run_gatehouse({"serve", "--config", config});
  EXPECT_EQ(serve.exit_code, 2) << serve.err;
  EXPECT_NE(serve.err.find(expected), std::string::npos) << serve.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("state/gh.db")));
}

const std::string kStore = "@/state/gh.db";
const std::string kKey = "@/state/master.key";

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigCheck,
    ::testing::Values(
        // Finding 13: what serve needs on disk.
        CheckCase{"StoreDirectoryMissing", "@/missing/gh.db", kKey, "", "/",
                  ":5: [store] path: missing directory \"@/missing\""},
        CheckCase{"StoreDirectoryMissingDeep", "@/var/lib/gatehouse/gh.db", kKey, "", "/",
                  ":5: [store] path: missing directory \"@/var/lib/gatehouse\""},
        CheckCase{"StorePathIsADirectory", "@/state", kKey, "", "/",
                  ":5: [store] path: \"@/state\" is a directory, not a file"},
        CheckCase{"StoreParentIsAFile", "@/empty.secret/gh.db", kKey, "", "/",
                  ":5: [store] path: \"@/empty.secret\" is not a directory"},
        CheckCase{"MasterKeyDirectoryMissing", kStore, "@/etc/master.key", "", "/",
                  ":7: [keys] master_key_file: missing file \"@/etc/master.key\", and it cannot be created: "
                  "missing directory \"@/etc\""},
        CheckCase{"MasterKeyEmpty", kStore, "@/empty.secret", "", "/",
                  ":7: [keys] master_key_file: \"@/empty.secret\" has 0 bytes; a master key is 32 raw bytes or "
                  "64 hexadecimal digits"},
        CheckCase{"OidcSecretEmpty", kStore, kKey,
                  "[[oidc]]\nname = \"sso\"\nissuer = \"https://idp.example.org\"\nclient_id = \"gh\"\n"
                  "client_secret_file = \"@/empty.secret\"\ntenant = \"t\"\n",
                  "/", ":15: [oidc] client_secret_file: \"@/empty.secret\" is empty"},
        CheckCase{"OidcSecretMissing", kStore, kKey,
                  "[[oidc]]\nname = \"sso\"\nissuer = \"https://idp.example.org\"\nclient_id = \"gh\"\n"
                  "client_secret_file = \"@/none.secret\"\ntenant = \"t\"\n",
                  "/", ":15: [oidc] client_secret_file: missing file \"@/none.secret\""},
        // Finding 11: durations and numbers beyond their bounds.
        CheckCase{"LockDurationOverflows", kStore, kKey, "[lockout]\nlock_duration = \"106751991167300d\"\n", "/",
                  ":12: [lockout] lock_duration: must be between 0s and 366d, got \"106751991167300d\""},
        CheckCase{"AbsoluteTimeoutHuge", kStore, kKey, "[session]\nabsolute_timeout = \"9223372036854775807s\"\n",
                  "/", ":12: [session] absolute_timeout: must be between 1s and 366d, got \"9223372036854775807s\""},
        CheckCase{"MaxFailuresHuge", kStore, kKey, "[lockout]\nmax_failures = 9223372036854775807\n", "/",
                  ":12: [lockout] max_failures: must be between 1 and 1000000, got 9223372036854775807"},
        CheckCase{"RetentionTooLong", kStore, kKey, "[audit]\nretention = \"36500d\"\n", "/",
                  ":12: [audit] retention: must be between 1s and 3660d, got 36500d"},
        // Finding 12: route prefixes no request path can match.
        CheckCase{"PrefixEncodedTilde", kStore, kKey, "", "/%7Eadmin",
                  ":12: [route] path_prefix: \"/%7Eadmin\" can never match: requests are routed by their "
                  "normalised path; write \"/~admin\""},
        CheckCase{"PrefixDotSegment", kStore, kKey, "", "/api/./internal",
                  ":12: [route] path_prefix: \"/api/./internal\" can never match: requests are routed by their "
                  "normalised path; write \"/api/internal\""},
        CheckCase{"PrefixEncodedSlash", kStore, kKey, "", "/a%2Fb",
                  ":12: [route] path_prefix: \"/a%2Fb\" can never match"}),
    [](const ::testing::TestParamInfo<CheckCase>& info) { return info.param.name; });

}  // namespace
}  // namespace gatehouse::testing
