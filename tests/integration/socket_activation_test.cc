// gatehouse serve with its listening socket passed by systemd (gatehouse.socket). The
// tests run it under systemd-socket-activate, systemd's own tool for what a socket unit
// does: it binds the ListenStream= address, waits for the first connection, then starts
// gatehouse with the socket as fd 3 and LISTEN_FDS/LISTEN_PID set.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "integration/harness.h"

namespace gatehouse::testing {
namespace {

constexpr const char* kSocketActivate = "/usr/bin/systemd-socket-activate";

class SocketActivationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // systemd's package; a missing tool is a failure, not a skip.
    ASSERT_EQ(access(kSocketActivate, X_OK), 0) << kSocketActivate << " is missing: install Debian's systemd package";
    // [server] listen names another address: the passed socket wins.
    std::ofstream(dir_.file("gatehouse.toml"))
        << basic_config(dir_, "[[directory]]\nname = \"local\"\nkind = \"local\"\n", upstream_.url())
        << "\n[[route]]\npath_prefix = \"/public\"\nupstream = \"" << upstream_.url() << "\"\npublic = true\n";
  }

  std::vector<std::string> serve() const { return {"serve", "--config", dir_.file("gatehouse.toml")}; }

  // Waits until systemd-socket-activate has bound `address` (it says so on stderr).
  static bool bound(const Daemon& d, const std::string& address) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (d.log().find("Listening on " + address) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  TempDir dir_;
  EchoUpstream upstream_;
};

TEST_F(SocketActivationTest, ServesOnThePassedSocketAndTheConnectionThatStartedItIsAnswered) {
  const int port = unused_port();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  Daemon daemon(serve(), {}, {kSocketActivate, "-l", address});
  ASSERT_TRUE(daemon.launch());
  ASSERT_TRUE(bound(daemon, address)) << daemon.log();

  // This connection is accepted by the kernel into the socket's backlog before gatehouse
  // exists (it is what starts gatehouse) and must be answered once gatehouse is up.
  std::optional<httplib::Result> first;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(20, 0);
    first.emplace(c.Get("/public/early"));
  });
  const bool listening = daemon.wait_listening(20000);
  client.join();
  ASSERT_TRUE(listening) << daemon.log();
  EXPECT_EQ(daemon.port(), port) << "gatehouse bound [server] listen instead of using the passed socket";
  EXPECT_NE(daemon.log().find("event=listen.socket_activation address=" + address + " configured=127.0.0.1:0"),
            std::string::npos)
      << daemon.log();
  ASSERT_TRUE(first && *first) << daemon.log();
  EXPECT_EQ((*first)->status, 200) << (*first)->body;
  EXPECT_NE((*first)->body.find("\"target\":\"/public/early\""), std::string::npos) << (*first)->body;

  // Later connections too; the daemon's own children do not see LISTEN_FDS (not testable
  // from here), and SIGTERM stops it cleanly.
  httplib::Client c("127.0.0.1", port);
  auto again = c.Get("/.gatehouse/healthz");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

TEST_F(SocketActivationTest, TwoPassedSocketsAreRefusedWithAClearError) {
  const std::string a = "127.0.0.1:" + std::to_string(unused_port());
  std::string b = "127.0.0.1:" + std::to_string(unused_port());
  while (b == a) b = "127.0.0.1:" + std::to_string(unused_port());
  Daemon daemon(serve(), {}, {kSocketActivate, "-l", a, "-l", b});
  ASSERT_TRUE(daemon.launch());
  ASSERT_TRUE(bound(daemon, b)) << daemon.log();
  // A connection starts gatehouse, which must give up rather than serve on one of them.
  raw_http(std::stoi(a.substr(a.rfind(':') + 1)), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_FALSE(daemon.wait_listening(20000)) << daemon.log();
  EXPECT_EQ(daemon.stop(), 1) << daemon.log();
  EXPECT_NE(daemon.log().find("systemd passed 2 sockets; gatehouse listens on one"), std::string::npos)
      << daemon.log();
}

}  // namespace
}  // namespace gatehouse::testing
