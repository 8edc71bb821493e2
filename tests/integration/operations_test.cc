// Operations: graceful stop (drain, deadline) and readiness when the store cannot be
// written. The real gatehouse binary, a real upstream, real HTTP on loopback.
// (Readiness with every directory server down: ldap_test.cc,
// LdapTest.AllServersDownGives503ThenRecoversWithoutRestart.)
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Waits until the child `pid` has exited, without reaping it (WNOWAIT): Daemon::stop()
// reaps it afterwards and returns its status. Sending nothing, so the exit observed is
// the one caused by the first signal.
bool wait_exited(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid)
      return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// A log line of event `event` (kv or JSON format) that also contains `field`=`value`.
bool log_has(const std::string& log, const std::string& event, const std::string& field = "",
             const std::string& value = "") {
  const std::regex ev("(event=\"?|\"event\":\")" + event + "[\" \\n]");
  const std::regex fv("(\\b" + field + "=\"?|\"" + field + "\":\")" + value + "(\"|\\s|$)");
  std::size_t start = 0;
  while (start < log.size()) {
    std::size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    const std::string line = log.substr(start, end - start) + "\n";
    if (std::regex_search(line, ev) && (field.empty() || std::regex_search(line, fv))) return true;
    start = end + 1;
  }
  return false;
}

// Established TCP connections on this host whose remote end is 127.0.0.1:`port`
// (/proc/net/tcp): the daemon's connections to an upstream.
int connections_to(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  char want[16];
  std::snprintf(want, sizeof want, "0100007F:%04X", port);
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (remote == want && state == "01") ++n;  // 01: ESTABLISHED
  }
  return n;
}

// What a new TCP connection to `port` meets.
struct ConnectAttempt {
  bool connected = false;
  int connect_errno = 0;
  std::string response;  // what came back to a GET, when connected
};

ConnectAttempt try_connect_and_get(int port, const std::string& path) {
  ConnectAttempt r;
  const int fd = connect_loopback(port);
  if (fd < 0) {
    r.connect_errno = -fd;
    return r;
  }
  r.connected = true;
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
    char buf[4096];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      r.response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return r;
}

class OperationsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
    }
    if (slow_thread_.joinable()) slow_thread_.join();  // after an early failure
  }

  std::string config_path() const { return dir_.file("gatehouse.toml"); }

  // One public route "/" to the echo upstream, a local directory.
  void start_public(const std::string& extra_server = "") {
    std::ofstream out(config_path());
    out << "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://gatehouse.test\"\n" << extra_server << "\n"
        << "[store]\npath = \"" << dir_.file("gatehouse.db") << "\"\n\n"
        << "[keys]\nmaster_key_file = \"" << dir_.file("master.key") << "\"\n\n"
        << "[[directory]]\nname = \"local\"\nkind = \"local\"\n\n"
        << "[[route]]\npath_prefix = \"/\"\nupstream = \"" << upstream_.url() << "\"\npublic = true\n";
    out.close();
    launch();
  }

  void launch() {
    daemon_ = std::make_unique<Daemon>(std::vector<std::string>{"serve", "--config", config_path()});
    ASSERT_TRUE(daemon_->start()) << daemon_->log();
  }

  CommandResult cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--config", config_path()});
    return run_gatehouse(args, input);
  }

  httplib::Client client(int read_timeout_s = 10) {
    httplib::Client c("127.0.0.1", daemon_->port());
    c.set_read_timeout(read_timeout_s, 0);
    c.set_tcp_nodelay(true);
    return c;
  }

  // GET /slow on its own thread; `done` once it has an answer or an error.
  void start_slow_request() {
    slow_thread_ = std::thread([this] {
      auto c = client(15);
      auto res = c.Get("/slow");
      if (res) {
        slow_status_ = res->status;
        slow_body_ = res->body;
      } else {
        slow_error_ = httplib::to_string(res.error());
      }
      slow_done_ = true;
    });
  }

  // Until the daemon has the slow request in flight: a fresh daemon has no pooled
  // upstream connections, so the first one is made for it (after the request was
  // counted as active).
  void wait_until_slow_request_reaches_upstream() {
    ASSERT_TRUE(wait_for([&] { return connections_to(upstream_.port()) > 0; }, 10s))
        << "the slow request never reached the upstream\n" << daemon_->log();
    // Let the upstream read the request and start its 3 s sleep.
    std::this_thread::sleep_for(300ms);
    ASSERT_FALSE(slow_done_.load()) << slow_status_ << " " << slow_error_;
  }

  TempDir dir_;
  EchoUpstream upstream_;
  std::unique_ptr<Daemon> daemon_;

  std::thread slow_thread_;
  std::atomic<bool> slow_done_{false};
  int slow_status_ = 0;
  std::string slow_body_;
  std::string slow_error_;
};

// SIGTERM with a slow request in flight: the acceptor closes at once, the request in
// flight runs to completion, then the daemon exits 0.
TEST_F(OperationsTest, SigtermLetsTheRequestInFlightFinishAndRefusesNewConnections) {
  ASSERT_NO_FATAL_FAILURE(start_public());
  ASSERT_EQ(connections_to(upstream_.port()), 0);
  start_slow_request();
  ASSERT_NO_FATAL_FAILURE(wait_until_slow_request_reaches_upstream());

  daemon_->signal(SIGTERM);
  ASSERT_TRUE(wait_for([&] { return log_has(daemon_->log(), "shutdown.begin"); }, 5s)) << daemon_->log();
  // shutdown.begin is logged just before the acceptor is closed, on the same thread.
  std::this_thread::sleep_for(100ms);

  // A new connection while the slow request is still in flight.
  const bool slow_still_in_flight = !slow_done_.load();
  const auto late = try_connect_and_get(daemon_->port(), "/after-sigterm");
  EXPECT_TRUE(slow_still_in_flight) << "the slow request finished before the new connection was tried";
  EXPECT_FALSE(late.connected) << "a connection made after SIGTERM was accepted; it got:\n" << late.response;
  EXPECT_EQ(late.connect_errno, ECONNREFUSED) << std::strerror(late.connect_errno);
  EXPECT_EQ(late.response, "") << "a request made after SIGTERM was served";

  slow_thread_.join();
  EXPECT_EQ(slow_error_, "");
  EXPECT_EQ(slow_status_, 200);
  EXPECT_EQ(slow_body_, "slow");  // the upstream's whole body

  ASSERT_TRUE(wait_exited(daemon_->pid(), 15s)) << "the daemon did not exit after the drain\n" << daemon_->log();
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
  const std::string log = daemon_->log();
  EXPECT_TRUE(log_has(log, "shutdown.begin", "active_requests", "1")) << log;
  EXPECT_TRUE(log_has(log, "shutdown.begin", "signal", "SIGTERM")) << log;
  EXPECT_FALSE(log_has(log, "shutdown.deadline")) << log;
  EXPECT_TRUE(log_has(log, "shutdown.complete")) << log;
}

// systemd sends one SIGTERM, but people press Ctrl-C twice: more stop signals while it
// shuts down change nothing, and it still exits 0 after closing the store.
TEST_F(OperationsTest, MoreStopSignalsDuringShutdownStillEndInExitZero) {
  ASSERT_NO_FATAL_FAILURE(start_public());
  const pid_t pid = daemon_->pid();
  int sent = 0;
  while (sent < 20000) {
    kill(pid, sent % 3 == 2 ? SIGINT : SIGTERM);
    ++sent;
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) break;
    std::this_thread::sleep_for(500us);
  }
  ASSERT_TRUE(wait_exited(pid, 15s)) << daemon_->log();
  EXPECT_EQ(daemon_->stop(), 0) << "after " << sent << " signals\n" << daemon_->log();
  EXPECT_TRUE(log_has(daemon_->log(), "shutdown.complete")) << daemon_->log();
}

// shutdown_timeout bounds the drain: the daemon exits 0 well before the upstream
// answers, and the client's connection is closed without a response.
TEST_F(OperationsTest, ShutdownTimeoutCutsTheDrainShort) {
  ASSERT_NO_FATAL_FAILURE(start_public("shutdown_timeout = \"1s\"\n"));
  ASSERT_EQ(connections_to(upstream_.port()), 0);
  start_slow_request();
  ASSERT_NO_FATAL_FAILURE(wait_until_slow_request_reaches_upstream());

  const auto sigterm_at = Clock::now();
  daemon_->signal(SIGTERM);
  ASSERT_TRUE(wait_exited(daemon_->pid(), 15s)) << daemon_->log();
  const auto took = Clock::now() - sigterm_at;
  // Correctness bound, not a benchmark: 1 s of drain, well before the upstream's 3 s.
  EXPECT_LT(took, 2900ms) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();

  slow_thread_.join();
  EXPECT_EQ(slow_status_, 0) << "the request cut off by the deadline got an answer:\n" << slow_body_;
  EXPECT_NE(slow_error_, "");
  const std::string log = daemon_->log();
  EXPECT_TRUE(log_has(log, "shutdown.begin", "active_requests", "1")) << log;
  EXPECT_TRUE(log_has(log, "shutdown.deadline", "active_requests", "1")) << log;
  EXPECT_TRUE(log_has(log, "shutdown.complete")) << log;
}

// The store's write lock held by another process (the tests run as root, so file
// permissions would not stop writes): readiness fails on the store, liveness does not,
// sign-in answers 503, and all of it recovers once the lock is released.
TEST_F(OperationsTest, LockedStoreMakesReadyzFailAndSignInUnavailableThenRecovers) {
  {
    std::ofstream out(config_path());
    out << basic_config(dir_, "[[directory]]\nname = \"local\"\nkind = \"local\"\n", upstream_.url());
  }
  ASSERT_EQ(cli({"tenant", "add", "acme"}).exit_code, 0);
  ASSERT_EQ(cli({"user", "add", "alice", "--tenant", "acme", "--password-stdin"}, "correct horse\n").exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(launch());
  {
    auto c = client();
    auto ready = c.Get("/.gatehouse/readyz");
    ASSERT_TRUE(ready);
    ASSERT_EQ(ready->status, 200) << ready->body;
  }

  // basic_config: [store] path = <dir>/gatehouse.db.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir_.file("gatehouse.db").c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");

  // readyz waits out the store's busy timeout (5 s); healthz meanwhile answers at once.
  std::optional<httplib::Result> ready;
  std::thread probe([&] {
    auto c = client(30);
    ready.emplace(c.Get("/.gatehouse/readyz"));
  });
  std::this_thread::sleep_for(200ms);
  {
    auto c = client();
    auto health = c.Get("/.gatehouse/healthz");
    EXPECT_TRUE(health) << httplib::to_string(health.error());
    if (health) {
      EXPECT_EQ(health->status, 200);
      EXPECT_EQ(json::parse(health->body, nullptr, false), json({{"status", "ok"}})) << health->body;
    }
  }
  probe.join();
  ASSERT_TRUE(ready && *ready) << (ready ? httplib::to_string(ready->error()) : "");
  EXPECT_EQ((*ready)->status, 503) << (*ready)->body;
  {
    auto j = json::parse((*ready)->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << (*ready)->body;
    EXPECT_EQ(j["status"], "not_ready") << (*ready)->body;
    ASSERT_TRUE(j["failing"].is_array()) << (*ready)->body;
    ASSERT_EQ(j["failing"].size(), 1u) << (*ready)->body;
    EXPECT_EQ(j["failing"][0]["component"], "store") << (*ready)->body;
    EXPECT_NE(j["failing"][0]["message"].get<std::string>().find("locked"), std::string::npos) << (*ready)->body;
  }
  {
    // Still alive after the failed probe.
    auto c = client();
    auto health = c.Get("/.gatehouse/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
  }

  // Sign-in with the right password: the session cannot be stored.
  {
    auto form = fetch_login_form(daemon_->port());
    ASSERT_NE(form.token, "");
    auto c = client(120);
    const auto began = Clock::now();
    auto res = c.Post("/.gatehouse/login", {{"Cookie", form.csrf_cookie}},
                      httplib::Params{{"username", "alice"}, {"password", "correct horse"},
                                      {"csrf", form.token}, {"rd", "/"}});
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began);
    ASSERT_TRUE(res) << httplib::to_string(res.error()) << " after " << took.count() << " ms\n" << daemon_->log();
    EXPECT_EQ(res->status, 503) << res->body;
    EXPECT_NE(res->body.find("Sign-in is temporarily unavailable"), std::string::npos) << res->body;
    EXPECT_EQ(cookie_from(res->headers, "gatehouse_session"), "");
    std::cout << "[ info     ] sign-in with the store locked answered " << res->status << " after " << took.count()
              << " ms\n";
  }

  ASSERT_EQ(sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_close(db);

  {
    auto c = client(30);
    auto again = c.Get("/.gatehouse/readyz");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200) << again->body;
    EXPECT_EQ(json::parse(again->body, nullptr, false)["status"], "ready") << again->body;
  }
  std::string why;
  const std::string echoed = signed_in_fetch(daemon_->port(), "alice", "correct horse", &why, "/app");
  EXPECT_NE(echoed, "") << why << "\n" << daemon_->log();
  EXPECT_EQ(echoed_header(echoed, "X-Gatehouse-User"), "alice") << echoed;
}

// A session whose last_seen write is due while the store is locked: that request waits
// for the store (and gets a 503), but off the event loop. With one worker thread, a
// health probe sent meanwhile is answered before it; the session works again once the
// lock is gone.
TEST_F(OperationsTest, ASessionWaitingForALockedStoreDoesNotHoldUpOtherRequests) {
  {
    std::ofstream out(config_path());
    // idle_timeout 10s: last_seen is written at most once a second (a tenth of it).
    out << basic_config(dir_, "[[directory]]\nname = \"local\"\nkind = \"local\"\n", upstream_.url())
        << "\n[session]\nidle_timeout = \"10s\"\n";
  }
  // One event loop for every connection ([server] threads; the table precedes the rest).
  {
    std::ifstream in(config_path());
    std::stringstream text;
    text << in.rdbuf();
    std::string cfg = text.str();
    cfg.insert(cfg.find("[server]\n") + 9, "threads = 1\n");
    std::ofstream(config_path()) << cfg;
  }
  ASSERT_EQ(cli({"tenant", "add", "acme"}).exit_code, 0);
  ASSERT_EQ(cli({"user", "add", "alice", "--tenant", "acme", "--password-stdin"}, "correct horse\n").exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(launch());
  const std::string cookie = session_cookie(post_login(daemon_->port(), "alice", "correct horse", "/app"));
  ASSERT_NE(cookie, "") << daemon_->log();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir_.file("gatehouse.db").c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  std::this_thread::sleep_for(1500ms);  // past the touch interval and the session cache

  std::atomic<bool> session_done{false};
  std::optional<httplib::Result> with_session;
  std::chrono::milliseconds session_took{};
  std::thread waiting([&] {
    auto c = client(30);
    const auto began = Clock::now();
    with_session.emplace(c.Get("/app", {{"Cookie", cookie}}));
    session_took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began);
    session_done = true;
  });
  std::this_thread::sleep_for(300ms);  // let it reach the daemon
  {
    auto c = client(30);
    auto health = c.Get("/.gatehouse/healthz");
    // Answered while the other request still waits, and not merely just before it: a
    // blocked event loop would answer both at the end of the store's 5 s busy timeout.
    std::this_thread::sleep_for(500ms);
    const bool answered_first = !session_done.load();
    EXPECT_TRUE(health) << httplib::to_string(health.error());
    if (health) {
      EXPECT_EQ(health->status, 200);
    }
    EXPECT_TRUE(answered_first) << "the health probe waited for the request stuck on the store\n" << daemon_->log();
  }
  waiting.join();
  ASSERT_TRUE(with_session && *with_session) << daemon_->log();
  EXPECT_EQ((*with_session)->status, 503) << (*with_session)->body;
  std::cout << "[ info     ] the request waiting for the locked store answered after " << session_took.count()
            << " ms\n";

  ASSERT_EQ(sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_close(db);
  auto c = client();
  auto after = c.Get("/app", {{"Cookie", cookie}});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200) << after->body << daemon_->log();
  EXPECT_EQ(echoed_header(after->body, "X-Gatehouse-User"), "alice") << after->body;
}

}  // namespace
}  // namespace gatehouse::testing
