// LdapDirectory::authenticate_async against a private slapd, driven the way the daemon
// will drive it: coroutines on one io_context run by two threads. Checks the results
// match the synchronous path, that connections are pooled, that outages, hung servers
// and failover behave, and that no I/O thread is ever blocked while LDAP answers are
// awaited.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "directory/ldap_client.h"
#include "directory/ldap_directory.h"
#include "integration/harness.h"
#include "integration/slapd_server.h"

namespace gatehouse::testing {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using directory::AuthOutcome;
using directory::AuthStatus;
using Clock = std::chrono::steady_clock;

struct Login {
  std::string user;
  std::string password;
};

// What a batch of concurrent logins gave, and how the event loop fared meanwhile.
struct Batch {
  std::vector<std::optional<Result<AuthOutcome>>> results;
  Clock::duration took{};
  // The longest gap between two ticks of a 5 ms heartbeat timer on the same io_context:
  // long gaps mean a login blocked an I/O thread.
  Clock::duration max_heartbeat_gap{};
  bool finished = false;  // false: the batch hung and was abandoned
};

class LdapAsyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);  // as the daemon: a write to a closed socket is an error, not death
    std::string error;
    ASSERT_TRUE(slapd_.start(&error)) << error;
  }

  config::DirectoryConfig directory_config(const std::vector<std::string>& uris = {}) {
    config::DirectoryConfig d;
    d.name = "corp";
    d.kind = config::DirectoryKind::ldap;
    config::LdapConfig& c = d.ldap;
    for (const auto& u : uris.empty() ? std::vector<std::string>{slapd_.ldap_uri()} : uris) {
      auto parsed = config::LdapUri::parse(u);
      EXPECT_TRUE(parsed) << u;
      if (parsed) c.uris.push_back(*parsed);
    }
    c.bind_dn = slapd_.bind_dn();
    c.bind_password_file = slapd_.bind_password_file();
    c.user_base = "ou=people," + slapd_.base_dn();
    c.user_filter = "(uid={username})";
    c.username_attribute = "uid";
    c.group_base = "ou=groups," + slapd_.base_dn();
    c.group_filter = "(member={dn})";
    c.tenant = "example";
    c.tenant_attribute = "o";
    c.connect_timeout = 1s;
    c.timeout = 1s;
    c.retry_after = 1s;
    c.pool_size = 8;
    return d;
  }

  static std::shared_ptr<directory::Directory> make(const config::DirectoryConfig& c) {
    auto made = directory::LdapDirectory::create(c);
    EXPECT_TRUE(made) << (made ? "" : made.error().message);
    return made ? std::move(made).value() : nullptr;
  }

  // Runs every login at once as a coroutine on an io_context with two threads, and
  // gives up (abandoning the io_context) after `limit`.
  static Batch run(directory::Directory& d, const std::vector<Login>& logins, Clock::duration limit = 20s) {
    Batch batch;
    batch.results.resize(logins.size());
    std::vector<Secret> passwords;
    for (const auto& l : logins) passwords.emplace_back(l.password);

    asio::io_context io(2);
    std::mutex m;
    std::condition_variable cv;
    std::size_t done = 0;
    std::atomic<bool> stop_heartbeat{false};
    const auto begin = Clock::now();
    for (std::size_t i = 0; i < logins.size(); ++i) {
      asio::co_spawn(
          io,
          [&, i]() -> asio::awaitable<void> {
            auto r = co_await d.authenticate_async(logins[i].user, passwords[i]);
            std::lock_guard lock(m);
            batch.results[i].emplace(std::move(r));
            if (++done == logins.size()) {
              batch.took = Clock::now() - begin;
              stop_heartbeat = true;
              cv.notify_all();
            }
          },
          asio::detached);
    }
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer t(co_await asio::this_coro::executor);
          auto last = Clock::now();
          while (!stop_heartbeat) {
            t.expires_after(5ms);
            co_await t.async_wait(asio::use_awaitable);
            const auto now = Clock::now();
            batch.max_heartbeat_gap = std::max(batch.max_heartbeat_gap, now - last);
            last = now;
          }
        },
        asio::detached);

    std::thread a([&] { io.run(); });
    std::thread b([&] { io.run(); });
    {
      std::unique_lock lock(m);
      batch.finished = cv.wait_for(lock, limit, [&] { return done == logins.size(); });
    }
    if (!batch.finished) io.stop();
    a.join();
    b.join();
    return batch;
  }

  static Result<AuthOutcome> login(directory::Directory& d, const std::string& user, const std::string& password,
                                   Clock::duration* took = nullptr) {
    Batch b = run(d, {{user, password}});
    EXPECT_TRUE(b.finished) << "login of " << user << " hung";
    if (took != nullptr) *took = b.took;
    if (!b.finished) return make_error("test.hung", "hung");
    return std::move(*b.results[0]);
  }

  static void expect_alice(const Result<AuthOutcome>& r) {
    ASSERT_TRUE(r) << r.error().code << ": " << r.error().message;
    EXPECT_EQ(r->status, AuthStatus::ok) << r->detail;
    EXPECT_EQ(r->identity.username, "alice");
    EXPECT_EQ(r->identity.email, "alice@example.org");
    EXPECT_EQ(r->identity.display_name, "Alice Example");
    EXPECT_EQ(r->identity.groups, (std::vector<std::string>{"developers", "engineering"}));
    EXPECT_EQ(r->identity.tenant, "acme");
  }

  static std::string describe(const Result<AuthOutcome>& r) {
    if (!r) return r.error().code + ": " + r.error().message;
    return std::string(directory::to_string(r->status)) + " " + r->detail;
  }

  SlapdServer slapd_;
};

TEST_F(LdapAsyncTest, IsAsynchronous) {
  auto d = make(directory_config());
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->asynchronous());
}

TEST_F(LdapAsyncTest, SuccessWithNestedGroupsAndTenant) {
  auto d = make(directory_config());
  ASSERT_TRUE(d);
  expect_alice(login(*d, "alice", "alice-Password-1"));
  auto bob = login(*d, "bob", "bob-Password-2");
  ASSERT_TRUE(bob) << describe(bob);
  EXPECT_EQ(bob->status, AuthStatus::ok);
  EXPECT_EQ(bob->identity.groups, (std::vector<std::string>{"staff"}));
  EXPECT_EQ(bob->identity.tenant, "globex");
  // Group cycles end; a comma in a group name survives.
  auto carol = login(*d, "carol", "carol-Password-3");
  ASSERT_TRUE(carol) << describe(carol);
  EXPECT_EQ(carol->identity.groups, (std::vector<std::string>{"R&D, Europe", "cycle-a", "cycle-b"}));
  // The synchronous API gives the same answer.
  expect_alice(d->authenticate("alice", Secret("alice-Password-1")));
  EXPECT_TRUE(d->check());
}

TEST_F(LdapAsyncTest, WrongPasswordUnknownUserAndEmptyPassword) {
  auto d = make(directory_config());
  ASSERT_TRUE(d);
  auto wrong = login(*d, "alice", "alice-Password-2");
  ASSERT_TRUE(wrong) << describe(wrong);
  EXPECT_EQ(wrong->status, AuthStatus::bad_credentials);
  EXPECT_NE(wrong->detail.find("bind refused"), std::string::npos) << wrong->detail;

  auto unknown = login(*d, "nobody", "alice-Password-1");
  ASSERT_TRUE(unknown) << describe(unknown);
  EXPECT_EQ(unknown->status, AuthStatus::bad_credentials);
  EXPECT_EQ(unknown->detail, "no such user");

  auto empty = login(*d, "alice", "");
  ASSERT_TRUE(empty) << describe(empty);
  EXPECT_EQ(empty->status, AuthStatus::bad_credentials);

  auto twin = login(*d, "twin", "twin-People-5");
  ASSERT_TRUE(twin) << describe(twin);
  EXPECT_EQ(twin->status, AuthStatus::bad_credentials);
  EXPECT_EQ(twin->detail, "more than one entry matches the user filter");

  EXPECT_EQ(slapd_.bind_count("uid=alice"), 1);  // the wrong password; the empty one never reached slapd
}

TEST_F(LdapAsyncTest, DirectBindAndMemberOf) {
  auto config = directory_config();
  config.ldap.bind_dn.clear();
  config.ldap.bind_password_file.clear();
  config.ldap.bind_template = "uid={username},ou=people," + slapd_.base_dn();
  auto d = make(config);
  ASSERT_TRUE(d);
  expect_alice(login(*d, "alice", "alice-Password-1"));
  auto wrong = login(*d, "alice", "wrong");
  ASSERT_TRUE(wrong) << describe(wrong);
  EXPECT_EQ(wrong->status, AuthStatus::bad_credentials);

  auto member_of = directory_config();
  member_of.ldap.group_base.clear();
  member_of.ldap.member_of_attribute = "memberOf";
  auto m = make(member_of);
  ASSERT_TRUE(m);
  auto r = login(*m, "alice", "alice-Password-1");
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->identity.groups, (std::vector<std::string>{"developers"}));
}

TEST_F(LdapAsyncTest, ManyConcurrentLoginsShareASmallPool) {
  auto config = directory_config();
  config.ldap.pool_size = 2;
  config.ldap.timeout = 5s;  // 64 logins queue for 2 connections; slow under sanitizers
  auto d = make(config);
  ASSERT_TRUE(d);
  std::vector<Login> logins;
  for (int i = 0; i < 64; ++i)
    logins.push_back(i % 2 == 0 ? Login{"alice", "alice-Password-1"} : Login{"bob", "bob-Password-2"});
  Batch b = run(*d, logins);
  ASSERT_TRUE(b.finished);
  for (std::size_t i = 0; i < logins.size(); ++i) {
    ASSERT_TRUE(b.results[i]);
    const auto& r = *b.results[i];
    ASSERT_TRUE(r) << i << ": " << describe(r);
    EXPECT_EQ(r->status, AuthStatus::ok) << i << ": " << r->detail;
    EXPECT_EQ(r->identity.username, logins[i].user);
  }
  EXPECT_EQ(slapd_.bind_count("uid=alice"), 32);
  EXPECT_EQ(slapd_.bind_count("uid=bob"), 32);
  // At most two connections per purpose (service: searches; user: binds).
  EXPECT_LE(slapd_.accept_count(), 4) << slapd_.log();
  EXPECT_GE(slapd_.accept_count(), 2);
  EXPECT_LT(b.max_heartbeat_gap, 500ms) << "an I/O thread was blocked";

  // A second round reuses the same connections.
  const int accepted = slapd_.accept_count();
  Batch again = run(*d, logins);
  ASSERT_TRUE(again.finished);
  for (const auto& r : again.results) ASSERT_TRUE(r && *r && (*r)->status == AuthStatus::ok);
  EXPECT_EQ(slapd_.accept_count(), accepted);
}

TEST_F(LdapAsyncTest, StoppedServerIsUnavailableAtOnceAndRecoversAfterRestart) {
  auto d = make(directory_config());
  ASSERT_TRUE(d);
  expect_alice(login(*d, "alice", "alice-Password-1"));  // pooled connections now exist

  slapd_.stop();
  Clock::duration took{};
  auto down = login(*d, "alice", "alice-Password-1", &took);
  ASSERT_FALSE(down) << describe(down);
  EXPECT_EQ(down.error().code, directory::ldap::kUnavailable) << down.error().message;
  EXPECT_LT(took, 1s) << "timeout is 1s; a refused connection needs no waiting";
  auto check = d->check();
  ASSERT_FALSE(check);
  EXPECT_EQ(check.error().code, directory::ldap::kUnavailable);

  std::string error;
  ASSERT_TRUE(slapd_.restart(&error)) << error;
  bool recovered = false;
  for (int i = 0; i < 25 && !recovered; ++i) {
    std::this_thread::sleep_for(200ms);
    auto r = login(*d, "alice", "alice-Password-1");
    recovered = r && r->status == AuthStatus::ok;
  }
  EXPECT_TRUE(recovered);
  EXPECT_TRUE(d->check());
}

TEST_F(LdapAsyncTest, HungServerTimesOutWithoutBlockingTheEventLoop) {
  auto d = make(directory_config());
  ASSERT_TRUE(d);
  // Warm the pool: the logins below find pooled connections to a server that then hangs.
  Batch warm = run(*d, {{"alice", "alice-Password-1"}, {"bob", "bob-Password-2"}});
  ASSERT_TRUE(warm.finished);

  slapd_.suspend();  // the kernel still accepts connections; nothing is answered
  Batch b = run(*d, {{"alice", "alice-Password-1"}, {"bob", "bob-Password-2"}, {"carol", "carol-Password-3"}}, 15s);
  slapd_.resume();
  ASSERT_TRUE(b.finished) << "a login hung";
  for (const auto& r : b.results) {
    ASSERT_TRUE(r);
    ASSERT_FALSE(*r) << describe(*r);
    EXPECT_EQ(r->error().code, directory::ldap::kUnavailable) << r->error().message;
  }
  // timeout = 1s per operation: the pooled connection times out, the stale-connection
  // retry's fresh connection (accepted by the kernel) times out too, then the server is
  // marked down: two timeouts and a little.
  EXPECT_GE(b.took, 1s);
  EXPECT_LT(b.took, 3s);
  EXPECT_LT(b.max_heartbeat_gap, 500ms) << "an I/O thread was blocked";

  bool recovered = false;
  for (int i = 0; i < 25 && !recovered; ++i) {
    std::this_thread::sleep_for(200ms);
    auto r = login(*d, "alice", "alice-Password-1");
    recovered = r && r->status == AuthStatus::ok;
  }
  EXPECT_TRUE(recovered);
}

TEST_F(LdapAsyncTest, SilentServerTimesOutWithinTheTimeout) {
  // Connects, but never answers the first request: the connection is fresh (not from the
  // pool), so there is no stale-connection retry and one timeout is the whole wait.
  SilentServer silent;
  auto d = make(directory_config({silent.uri()}));
  ASSERT_TRUE(d);
  Clock::duration took{};
  auto r = login(*d, "alice", "alice-Password-1", &took);
  ASSERT_FALSE(r) << describe(r);
  EXPECT_EQ(r.error().code, directory::ldap::kUnavailable) << r.error().message;
  EXPECT_GE(took, 1s);
  EXPECT_LT(took, 2s);
}

TEST_F(LdapAsyncTest, FailsOverToTheSecondServer) {
  auto d = make(directory_config({"ldap://127.0.0.1:" + std::to_string(unused_port()), slapd_.ldap_uri()}));
  ASSERT_TRUE(d);
  expect_alice(login(*d, "alice", "alice-Password-1"));
  // The first server is backing off now: the next login goes straight to the second.
  expect_alice(login(*d, "alice", "alice-Password-1"));
  EXPECT_EQ(slapd_.bind_count("uid=alice"), 2);
  EXPECT_TRUE(d->check());
}

TEST_F(LdapAsyncTest, SyncAndAsyncCallersShareOneDirectory) {
  auto config = directory_config();
  config.ldap.pool_size = 2;
  config.ldap.timeout = 5s;
  auto d = make(config);
  ASSERT_TRUE(d);
  std::atomic<int> sync_ok{0};
  std::thread sync([&] {
    for (int i = 0; i < 10; ++i) {
      auto r = d->authenticate("bob", Secret("bob-Password-2"));
      if (r && r->status == AuthStatus::ok) ++sync_ok;
    }
  });
  std::vector<Login> logins(32, Login{"alice", "alice-Password-1"});
  Batch b = run(*d, logins);
  sync.join();
  ASSERT_TRUE(b.finished);
  for (const auto& r : b.results) ASSERT_TRUE(r && *r && (*r)->status == AuthStatus::ok);
  EXPECT_EQ(sync_ok, 10);
  EXPECT_LE(slapd_.accept_count(), 4);
}

}  // namespace
}  // namespace gatehouse::testing
