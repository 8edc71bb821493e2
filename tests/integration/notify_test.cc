// gatehouse serve under systemd's notify protocol: the test owns the NOTIFY_SOCKET
// datagram socket and reads what the daemon says (READY, STATUS, WATCHDOG, STOPPING).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

// A unix datagram socket like systemd's notify socket; collects every message.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (fd_ < 0 || path.size() >= sizeof addr.sun_path) throw std::runtime_error("notify socket");
    path.copy(addr.sun_path, path.size());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind " + path);
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }

  // True once a message (received earlier, from message number `from` on, or within
  // `timeout_ms`) contains `needle`.
  bool wait_for(const std::string& needle, int timeout_ms, std::size_t from = 0) {
    for (std::size_t i = from; i < messages_.size(); ++i)
      if (messages_[i].find(needle) != std::string::npos) return true;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto m = receive(50); m && m->find(needle) != std::string::npos) return true;
    }
    return false;
  }
  // Collects messages for `ms` milliseconds; returns how many contain `needle`.
  int count_for(const std::string& needle, int ms) {
    int n = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline)
      if (auto m = receive(20); m && m->find(needle) != std::string::npos) ++n;
    return n;
  }
  std::size_t size() const { return messages_.size(); }
  // The first message from number `from` on that contains `needle`, or "".
  std::string find(const std::string& needle, std::size_t from = 0) const {
    for (std::size_t i = from; i < messages_.size(); ++i)
      if (messages_[i].find(needle) != std::string::npos) return messages_[i];
    return {};
  }
  std::string all() const {
    std::string out;
    for (const auto& m : messages_) out += "[" + m + "] ";
    return out;
  }

 private:
  std::optional<std::string> receive(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    messages_.emplace_back(buf, static_cast<std::size_t>(n));
    return messages_.back();
  }
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

class NotifyTest : public ::testing::Test {
 protected:
  std::string config() {
    const std::string path = dir_.file("gatehouse.toml");
    std::ofstream(path) << basic_config(dir_, "[[directory]]\nname = \"local\"\nkind = \"local\"\n", upstream_.url());
    return path;
  }
  TempDir dir_;
  EchoUpstream upstream_;
};

TEST_F(NotifyTest, ReloadingThenReadyAroundASighupReload) {
  NotifySocket notify(dir_.file("notify"));
  const std::string path = config();
  Daemon daemon({"serve", "--config", path}, {"NOTIFY_SOCKET=" + dir_.file("notify")});
  ASSERT_TRUE(daemon.start()) << daemon.log();
  ASSERT_TRUE(notify.wait_for("READY=1", 10000)) << notify.all();
  EXPECT_NE(notify.find("STATUS=serving").find("1 route(s)"), std::string::npos) << notify.all();

  // A route added: RELOADING=1 with the monotonic time, then READY=1 with the new status.
  std::ofstream(path, std::ios::app) << "\n[[route]]\npath_prefix = \"/two\"\nupstream = \"" << upstream_.url()
                                     << "\"\n";
  std::size_t mark = notify.size();
  daemon.signal(SIGHUP);
  ASSERT_TRUE(notify.wait_for("RELOADING=1", 10000, mark)) << notify.all();
  const std::string reloading = notify.find("RELOADING=1", mark);
  EXPECT_NE(reloading.find("MONOTONIC_USEC="), std::string::npos) << reloading;
  ASSERT_TRUE(notify.wait_for("READY=1", 10000, mark)) << notify.all();
  EXPECT_NE(notify.find("READY=1", mark).find("STATUS=serving on 127.0.0.1:" + std::to_string(daemon.port()) +
                                             ", 2 route(s)"),
            std::string::npos)
      << notify.all();

  // A broken file: RELOADING=1, then READY=1 again (still serving) with the error in STATUS.
  std::ofstream(path, std::ios::app) << "\n[[route]]\npath_prefix = \"no-slash\"\nupstream = \"" << upstream_.url()
                                     << "\"\n";
  mark = notify.size();
  daemon.signal(SIGHUP);
  ASSERT_TRUE(notify.wait_for("RELOADING=1", 10000, mark)) << notify.all();
  ASSERT_TRUE(notify.wait_for("READY=1", 10000, mark)) << notify.all();
  const std::string failed = notify.find("READY=1", mark);
  EXPECT_NE(failed.find("STATUS=reload failed: " + path + ":"), std::string::npos) << failed;
  EXPECT_NE(failed.find("still serving on"), std::string::npos) << failed;
  EXPECT_NE(failed.find("2 route(s)"), std::string::npos) << failed;
  EXPECT_NE(daemon.log().find("event=config.reload_failed"), std::string::npos) << daemon.log();

  daemon.signal(SIGTERM);
  EXPECT_TRUE(notify.wait_for("STOPPING=1", 10000)) << notify.all();
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

TEST_F(NotifyTest, ReadyWithStatusWatchdogPingsAndStopping) {
  NotifySocket notify(dir_.file("notify"));
  Daemon daemon({"serve", "--config", config()},
                {"NOTIFY_SOCKET=" + dir_.file("notify"), "WATCHDOG_USEC=400000"});
  ASSERT_TRUE(daemon.start()) << daemon.log();
  ASSERT_TRUE(notify.wait_for("READY=1", 10000)) << notify.all();
  EXPECT_NE(notify.all().find("STATUS=serving on 127.0.0.1:" + std::to_string(daemon.port())), std::string::npos)
      << notify.all();
  // WatchdogSec=0.4s: a ping every 0.2 s while the event loops answer.
  const int pings = notify.count_for("WATCHDOG=1", 1500);
  EXPECT_GE(pings, 4) << notify.all();
  EXPECT_LE(pings, 12) << notify.all();
  EXPECT_NE(daemon.log().find("event=watchdog.enabled interval_ms=200"), std::string::npos) << daemon.log();

  daemon.signal(SIGTERM);
  EXPECT_TRUE(notify.wait_for("STOPPING=1", 10000)) << notify.all();
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
  EXPECT_EQ(daemon.log().find("watchdog.stalled"), std::string::npos) << daemon.log();
}

TEST_F(NotifyTest, NoWatchdogPingsUnlessSystemdAsks) {
  NotifySocket notify(dir_.file("notify"));
  Daemon daemon({"serve", "--config", config()}, {"NOTIFY_SOCKET=" + dir_.file("notify")});
  ASSERT_TRUE(daemon.start()) << daemon.log();
  ASSERT_TRUE(notify.wait_for("READY=1", 10000)) << notify.all();
  EXPECT_EQ(notify.count_for("WATCHDOG=1", 800), 0) << notify.all();
  EXPECT_EQ(daemon.stop(), 0);
}

TEST_F(NotifyTest, AWatchdogMeantForAnotherProcessIsIgnored) {
  NotifySocket notify(dir_.file("notify"));
  Daemon daemon({"serve", "--config", config()},
                {"NOTIFY_SOCKET=" + dir_.file("notify"), "WATCHDOG_USEC=400000", "WATCHDOG_PID=1"});
  ASSERT_TRUE(daemon.start()) << daemon.log();
  ASSERT_TRUE(notify.wait_for("READY=1", 10000)) << notify.all();
  EXPECT_EQ(notify.count_for("WATCHDOG=1", 800), 0) << notify.all();
  EXPECT_EQ(daemon.stop(), 0);
}

}  // namespace
}  // namespace gatehouse::testing
