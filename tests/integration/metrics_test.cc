// /.gatehouse/metrics end to end: the real daemon with a local directory, scraped and
// parsed line by line after logins and proxied requests.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "integration/directory_fixture.h"
#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

// Every sample line ("name{labels} value"), by "name{labels}" exactly as written.
struct Scrape {
  int status = 0;
  std::string content_type;
  std::string cache_control;
  std::map<std::string, double> samples;
  std::vector<std::string> malformed;

  // The value of a series, or -1 when absent.
  double operator[](const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  }
};

Scrape parse(const std::string& body) {
  static const std::regex sample(
      R"re(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? (\S+)$)re");
  Scrape s;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    std::smatch m;
    if (!std::regex_match(line, m, sample)) {
      s.malformed.push_back(line);
      continue;
    }
    const std::string value = m[5];
    double v = 0;
    if (value == "+Inf") v = std::numeric_limits<double>::infinity();
    else if (value == "-Inf") v = -std::numeric_limits<double>::infinity();
    else v = std::stod(value);
    if (!s.samples.emplace(line.substr(0, line.size() - value.size() - 1), v).second)
      s.malformed.push_back("duplicate: " + line);
  }
  return s;
}

class MetricsEndpointTest : public DirectoryGatewayTest {
 protected:
  static constexpr const char* kLocal = "[[directory]]\nname = \"local\"\nkind = \"local\"\n";

  // A local directory with alice (tenant acme); `server_extra` goes into [server],
  // `tables` after everything else.
  void start(const std::string& server_extra = "", const std::string& tables = "") {
    std::string text = basic_config(dir_, kLocal, upstream_.url());
    text.insert(text.find("public_url"), server_extra);
    text += "\n" + tables;
    std::ofstream(config_path()) << text;
    ASSERT_EQ(cli({"tenant", "add", "acme"}).exit_code, 0);
    auto added = cli({"user", "add", "alice", "--tenant", "acme", "--password-stdin"}, "alice-Secret-1\n");
    ASSERT_EQ(added.exit_code, 0) << added.err;
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_path()});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  std::string config_path() { return dir_.file("gatehouse.toml"); }

  CommandResult cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--config", config_path()});
    return run_gatehouse(args, input);
  }

  Scrape scrape(const httplib::Headers& headers = {}) {
    httplib::Client c("127.0.0.1", daemon_->port());
    c.set_read_timeout(30, 0);
    auto res = c.Get("/.gatehouse/metrics", headers);
    Scrape s;
    if (!res) {
      ADD_FAILURE() << "no answer from /.gatehouse/metrics";
      return s;
    }
    if (res->status == 200) {
      s = parse(res->body);
      EXPECT_EQ(s.malformed, std::vector<std::string>{}) << res->body;
    }
    s.status = res->status;
    s.content_type = res->get_header_value("Content-Type");
    s.cache_control = res->get_header_value("Cache-Control");
    return s;
  }
};

TEST_F(MetricsEndpointTest, CountsLoginsProxiedRequestsAndSessions) {
  start();
  const Scrape before = scrape();
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(before.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(before.cache_control, "no-store");
  EXPECT_EQ(before[std::string("gatehouse_build_info{version=\"") + GATEHOUSE_VERSION + "\"}"], 1);
  EXPECT_EQ(before["gatehouse_sessions_active"], 0);
  EXPECT_EQ(before["gatehouse_logins_total{source=\"local\",outcome=\"success\"}"], 0);
  EXPECT_EQ(before["gatehouse_http_requests_total{route=\"/\",code=\"2xx\"}"], 0);

  auto ok = login("alice", "alice-Secret-1");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 303) << daemon_->log();
  expect_generic_failure("alice", "wrong-password");
  httplib::Client c("127.0.0.1", daemon_->port());
  auto page = c.Get("/app", {{"Cookie", session_cookie(ok)}});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  auto unauthenticated = c.Get("/app", {{"Accept", "application/json"}});
  ASSERT_TRUE(unauthenticated);
  EXPECT_EQ(unauthenticated->status, 401);

  const Scrape after = scrape();
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(after["gatehouse_logins_total{source=\"local\",outcome=\"success\"}"], 1);
  EXPECT_EQ(after["gatehouse_logins_total{source=\"local\",outcome=\"failure\"}"], 1);
  EXPECT_EQ(after["gatehouse_lockouts_total"], 0);
  EXPECT_EQ(after["gatehouse_sessions_active"], 1);
  EXPECT_EQ(after["gatehouse_directory_up{directory=\"local\"}"], 1);
  EXPECT_EQ(after["gatehouse_http_requests_total{route=\"/\",code=\"2xx\"}"], 1);
  EXPECT_EQ(after["gatehouse_http_requests_total{route=\"/\",code=\"4xx\"}"], 1);
  EXPECT_EQ(after["gatehouse_upstream_duration_seconds_count{route=\"/\"}"], 1);
  EXPECT_EQ(after["gatehouse_upstream_duration_seconds_bucket{route=\"/\",le=\"+Inf\"}"], 1);
  EXPECT_GT(after["gatehouse_upstream_duration_seconds_sum{route=\"/\"}"], 0);
  // The first scrape, two login forms, one success and one failure: all internal.
  EXPECT_EQ(after["gatehouse_http_requests_total{route=\"internal\",code=\"2xx\"}"], 3);
  EXPECT_EQ(after["gatehouse_http_requests_total{route=\"internal\",code=\"3xx\"}"], 1);
  EXPECT_EQ(after["gatehouse_http_requests_total{route=\"internal\",code=\"4xx\"}"], 1);
  EXPECT_EQ(after["gatehouse_config_reloads_total{result=\"success\"}"], 0);
  EXPECT_GT(after["gatehouse_config_last_reload_timestamp_seconds"], 1.7e9);
}

TEST_F(MetricsEndpointTest, CountsTheLockAndTheAttemptsItRefuses) {
  start("", "[lockout]\nmax_failures = 2\n");
  expect_generic_failure("alice", "wrong-1");
  expect_generic_failure("alice", "wrong-2");
  expect_generic_failure("alice", "alice-Secret-1");  // locked: refused like a wrong password
  const Scrape s = scrape();
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s["gatehouse_lockouts_total"], 1);
  EXPECT_EQ(s["gatehouse_logins_total{source=\"local\",outcome=\"failure\"}"], 2);
  EXPECT_EQ(s["gatehouse_logins_total{source=\"\",outcome=\"locked\"}"], 1);
  EXPECT_EQ(s["gatehouse_logins_total{source=\"local\",outcome=\"success\"}"], 0);
}

TEST_F(MetricsEndpointTest, OnlyClientsInAllowMayScrapeJudgedByTheirRealAddress) {
  // The test connects from 127.0.0.1, a trusted proxy: X-Forwarded-For names the client.
  start("trusted_proxies = [\"127.0.0.1/32\"]\n", "[metrics]\nallow = [\"127.0.0.1/32\", \"192.0.2.0/24\"]\n");
  EXPECT_EQ(scrape().status, 200);
  EXPECT_EQ(scrape({{"X-Forwarded-For", "192.0.2.10"}}).status, 200);
  const Scrape outsider = scrape({{"X-Forwarded-For", "198.51.100.7"}});
  EXPECT_EQ(outsider.status, 403);
  EXPECT_EQ(scrape({{"X-Forwarded-For", "::1"}}).status, 403);
  // The refusals are counted like any other answer.
  const Scrape s = scrape();
  EXPECT_EQ(s["gatehouse_http_requests_total{route=\"internal\",code=\"4xx\"}"], 2);
}

TEST_F(MetricsEndpointTest, AnAnswerIsCountedBeforeTheClientHasIt) {
  // Each scrape on a fresh connection must find every earlier answer counted, including
  // the scrape just before it. Counting after the write raced with the next request.
  start();
  for (int i = 0; i < 60; ++i) {
    const Scrape s = scrape();
    ASSERT_EQ(s.status, 200);
    ASSERT_EQ(s["gatehouse_http_requests_total{route=\"internal\",code=\"2xx\"}"], i) << "scrape " << i;
  }
}

TEST_F(MetricsEndpointTest, EmptyAllowClosesTheEndpointEvenToLoopback) {
  start("", "[metrics]\nallow = []\n");
  EXPECT_EQ(scrape().status, 403);
  httplib::Client c("127.0.0.1", daemon_->port());
  auto health = c.Get("/.gatehouse/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

}  // namespace
}  // namespace gatehouse::testing
