// Reload on SIGHUP: the configuration changes under load, and none of the requests in
// flight or arriving fails; a broken configuration leaves the running one in place.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_config(route("/", first_.url()));
    ASSERT_EQ(cli({"tenant", "add", "acme"}).exit_code, 0);
    ASSERT_EQ(cli({"user", "add", "alice", "--tenant", "acme", "--password-stdin"}, "correct horse\n").exit_code, 0);
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
      EXPECT_EQ(daemon_->log().find("runtime error"), std::string::npos) << daemon_->log();
    }
  }

  // `routes`: [[route]] tables after the fixed part.
  void write_config(const std::string& routes, const std::string& extra_server = "") {
    std::ofstream out(config_path());
    out << "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://gatehouse.test\"\n" << extra_server << "\n"
        << "[store]\npath = \"" << dir_.file("gatehouse.db") << "\"\n\n"
        << "[keys]\nmaster_key_file = \"" << dir_.file("master.key") << "\"\n\n"
        << "[[directory]]\nname = \"local\"\nkind = \"local\"\n\n"
        << routes;
  }
  static std::string route(const std::string& prefix, const std::string& upstream, bool is_public = true) {
    return "[[route]]\npath_prefix = \"" + prefix + "\"\nupstream = \"" + upstream + "\"\npublic = " +
           (is_public ? "true" : "false") + "\n\n";
  }

  void start() {
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_path()});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  // SIGHUP, then waits until the daemon logged the outcome of one more reload.
  bool reload(int timeout_ms = 10000) {
    const auto count = [this] {
      const std::string log = daemon_->log();
      std::size_t n = 0;
      for (const char* needle : {"event=config.reloaded", "event=config.reload_failed", "\"event\":\"config.reloaded\"",
                                 "\"event\":\"config.reload_failed\""})
        for (auto p = log.find(needle); p != std::string::npos; p = log.find(needle, p + 1)) ++n;
      return n;
    };
    const auto before = count();
    daemon_->signal(SIGHUP);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (count() > before) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  std::string config_path() const { return dir_.file("gatehouse.toml"); }
  CommandResult cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--config", config_path()});
    return run_gatehouse(args, input);
  }
  httplib::Result get(const std::string& path, const httplib::Headers& headers = {}) {
    httplib::Client c("127.0.0.1", daemon_->port());
    c.set_read_timeout(10, 0);
    return c.Get(path, headers);
  }
  // The path the upstream saw, or "<status>" / "<error>".
  std::string upstream_path(const std::string& path) {
    auto res = get(path);
    if (!res) return "<error>";
    if (res->status != 200) return "<" + std::to_string(res->status) + ">";
    auto j = json::parse(res->body, nullptr, false);
    return j.is_object() ? j.value("target", "<no target>") : "<not json>";
  }

  TempDir dir_;
  EchoUpstream first_;
  EchoUpstream second_;
  std::unique_ptr<Daemon> daemon_;
};

// Clients that keep requesting (keep-alive and fresh connections) and record every
// failure: a transport error or a status other than 200.
class Load {
 public:
  Load(int port, std::vector<std::string> paths) {
    for (int i = 0; i < 4; ++i)
      threads_.emplace_back([this, port, paths, keep_alive = i % 2 == 0] {
        httplib::Client c("127.0.0.1", port);
        c.set_keep_alive(keep_alive);
        c.set_read_timeout(10, 0);
        for (std::size_t n = 0; !stop_; ++n) {
          const std::string& path = paths[n % paths.size()];
          auto res = c.Get(path);
          ++requests_;
          if (!res || res->status != 200) {
            std::lock_guard lock(mu_);
            failures_.push_back(path + " -> " + (res ? std::to_string(res->status) : httplib::to_string(res.error())));
          }
        }
      });
  }
  ~Load() { finish(); }
  void finish() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  long requests() const { return requests_.load(); }
  std::vector<std::string> failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> requests_{0};
  std::mutex mu_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

TEST_F(ReloadTest, RoutesChangeUnderLoadWithoutAFailedRequest) {
  write_config(route("/", first_.url() + "/one"));
  start();
  ASSERT_EQ(upstream_path("/x"), "/one/x");
  ASSERT_EQ(upstream_path("/new/x"), "/one/new/x");

  Load load(daemon_->port(), {"/x", "/new/x"});
  std::this_thread::sleep_for(300ms);

  // A route added and the catch-all's upstream moved to another server, then back,
  // several times while the clients keep going.
  for (int round = 0; round < 4; ++round) {
    write_config(route("/", second_.url() + "/two") + route("/new", first_.url() + "/added"));
    ASSERT_TRUE(reload()) << daemon_->log();
    std::this_thread::sleep_for(150ms);
    write_config(route("/", first_.url() + "/one"));
    ASSERT_TRUE(reload()) << daemon_->log();
    std::this_thread::sleep_for(150ms);
  }
  write_config(route("/", second_.url() + "/two") + route("/new", first_.url() + "/added"));
  ASSERT_TRUE(reload()) << daemon_->log();
  std::this_thread::sleep_for(300ms);
  load.finish();

  EXPECT_EQ(load.failures(), std::vector<std::string>{}) << daemon_->log();
  EXPECT_GT(load.requests(), 100);
  EXPECT_EQ(daemon_->log().find("config.reload_failed"), std::string::npos) << daemon_->log();
  // The last configuration is the one served, on new and on reused connections.
  EXPECT_EQ(upstream_path("/new/x"), "/added/x");
  EXPECT_EQ(upstream_path("/x"), "/two/x");
  EXPECT_GT(second_.connections(), 0);
}

TEST_F(ReloadTest, ABrokenConfigurationKeepsTheRunningOneAndSaysWhere) {
  write_config(route("/", first_.url() + "/one"));
  start();
  ASSERT_EQ(upstream_path("/x"), "/one/x");

  // Line 17 of the new file: an upstream gatehouse cannot use.
  write_config(route("/", "ftp://127.0.0.1:21/"));
  ASSERT_TRUE(reload()) << daemon_->log();
  const std::string log = daemon_->log();
  EXPECT_NE(log.find("event=config.reload_failed"), std::string::npos) << log;
  EXPECT_NE(log.find(config_path() + ":17: [route] upstream"), std::string::npos) << log;
  EXPECT_EQ(upstream_path("/x"), "/one/x");

  // Not TOML at all.
  {
    std::ofstream(config_path()) << "[server\nlisten = ";
  }
  ASSERT_TRUE(reload()) << daemon_->log();
  EXPECT_EQ(upstream_path("/x"), "/one/x");

  // A setting only a restart can change: refused as a whole, naming the setting.
  write_config(route("/", second_.url() + "/two"), "threads = 3\n");
  ASSERT_TRUE(reload()) << daemon_->log();
  EXPECT_NE(daemon_->log().find("[server] threads changed from"), std::string::npos) << daemon_->log();
  EXPECT_EQ(upstream_path("/x"), "/one/x");

  // A failed reload is an error, never also an info "config.reloaded".
  EXPECT_NE(daemon_->log().find("level=error event=config.reload_failed"), std::string::npos) << daemon_->log();
  EXPECT_EQ(daemon_->log().find("event=config.reloaded"), std::string::npos) << daemon_->log();

  // Fixed: the next reload applies it.
  write_config(route("/", second_.url() + "/two"));
  ASSERT_TRUE(reload()) << daemon_->log();
  EXPECT_EQ(upstream_path("/x"), "/two/x");

  // The outcomes are in the metrics and in the audit trail.
  auto metrics = get("/.gatehouse/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("gatehouse_config_reloads_total{result=\"failure\"} 3"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("gatehouse_config_reloads_total{result=\"success\"} 1"), std::string::npos)
      << metrics->body;
  auto audit = cli({"audit", "list", "--json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  std::size_t failed = 0, applied = 0;
  for (const auto& record : json::parse(audit.out)) {
    if (record["event"] == "config.reload_failed") {
      ++failed;
      EXPECT_EQ(record["detail"].get<std::string>().rfind("old configuration kept: ", 0), 0u) << record;
    }
    if (record["event"] == "config.reloaded") {
      ++applied;
      EXPECT_EQ(record["detail"], "applied") << record;
    }
  }
  EXPECT_EQ(failed, 3u) << audit.out;
  EXPECT_EQ(applied, 1u) << audit.out;
}

TEST_F(ReloadTest, SessionsAndProtectedRoutesSurviveAReload) {
  write_config(route("/", first_.url() + "/one", false));
  start();
  auto login = post_login(daemon_->port(), "alice", "correct horse");
  const std::string cookie = session_cookie(login);
  ASSERT_NE(cookie, "");
  auto before = get("/x", {{"Cookie", cookie}});
  ASSERT_TRUE(before);
  ASSERT_EQ(before->status, 200);

  // Everything about the route changes except that it needs a login.
  write_config(route("/", second_.url() + "/two", false) + route("/open", first_.url() + "/open"),
               "upstream_timeout = \"30s\"\n");
  ASSERT_TRUE(reload()) << daemon_->log();
  EXPECT_NE(daemon_->log().find("event=config.reloaded"), std::string::npos) << daemon_->log();
  auto after = get("/x", {{"Cookie", cookie}});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200) << after->body;
  EXPECT_EQ(json::parse(after->body, nullptr, false).value("target", ""), "/two/x");
  EXPECT_EQ(echoed_header(after->body, "X-Gatehouse-User"), "alice");
  // Without the cookie: still a protected route.
  auto anonymous = get("/x", {{"Accept", "text/html"}});
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 302);
}

TEST_F(ReloadTest, TheAccessLogLogsPathsWithoutQueriesAndFollowsAReload) {
  write_config("[log]\naccess_log = true\n\n" + route("/", first_.url()) + route("/private", first_.url(), false));
  start();
  ASSERT_EQ(upstream_path("/x?code=s3cr3t-code&state=abc"), "/x?code=s3cr3t-code&state=abc");
  auto refused = get("/private/y?token=hidden", {{"Accept", "text/html"}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 302);
  EXPECT_TRUE(daemon_->wait_for_log("event=http.access client=127.0.0.1 method=GET path=/x route=/ user=\"\" "
                                    "status=200"))
      << daemon_->log();
  EXPECT_TRUE(daemon_->wait_for_log("event=http.access client=127.0.0.1 method=GET path=/private/y "
                                    "route=/private user=\"\" status=302"))
      << daemon_->log();
  const std::string log = daemon_->log();
  EXPECT_EQ(log.find("s3cr3t-code"), std::string::npos) << log;
  EXPECT_EQ(log.find("hidden"), std::string::npos) << log;

  // Off again, and JSON for the other lines, from the reload on.
  write_config("[log]\nformat = \"json\"\n\n" + route("/", first_.url()));
  ASSERT_TRUE(reload()) << daemon_->log();
  const std::size_t mark = daemon_->log().size();
  ASSERT_EQ(upstream_path("/after"), "/after");
  daemon_->signal(SIGHUP);  // one more reload: its lines are JSON now
  std::this_thread::sleep_for(1s);
  const std::string later = daemon_->log().substr(mark);
  EXPECT_EQ(later.find("http.access"), std::string::npos) << later;
  EXPECT_NE(later.find("{\"ts\":"), std::string::npos) << later;
  EXPECT_NE(later.find("\"event\":\"config.reloaded\""), std::string::npos) << later;
}

TEST_F(ReloadTest, ARequestInFlightFinishesWithTheConfigurationItStartedWith) {
  write_config(route("/", first_.url()));
  start();
  std::optional<httplib::Result> slow_result;
  std::thread slow([&] { slow_result.emplace(get("/slow")); });  // the first upstream takes 3 s
  std::this_thread::sleep_for(500ms);
  write_config(route("/", second_.url() + "/two"));
  ASSERT_TRUE(reload()) << daemon_->log();
  EXPECT_EQ(upstream_path("/x"), "/two/x");
  slow.join();
  ASSERT_TRUE(slow_result && *slow_result);
  EXPECT_EQ((*slow_result)->status, 200);
  EXPECT_EQ((*slow_result)->body, "slow");
  EXPECT_EQ(first_.connections(), 1);
}

}  // namespace
}  // namespace gatehouse::testing
