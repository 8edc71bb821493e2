#include "auth/login.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/clock.h"
#include "store/sqlite_store.h"
#include "unit/auth/fakes.h"

namespace gatehouse::auth {
namespace {

using directory::AuthStatus;
using testing_support::FakeDirectory;
using testing_support::FakeSessionStore;
using testing_support::random_key;

Result<directory::AuthOutcome> answer(AuthStatus status, const std::string& user = "alice",
                                      const std::string& tenant = "example") {
  return FakeDirectory::outcome(status, user, tenant);
}

Result<directory::AuthOutcome> outage() {
  return make_error("directory.unavailable", "ldap://10.0.0.1: connection refused");
}

// Records audit events in memory.
class FakeAudit final : public AuditSink {
 public:
  Status record(const AuditEvent& event) override {
    std::lock_guard lock(mu);
    events.push_back(event);
    return Ok{};
  }
  int count(AuditEventType type, const std::string& user = "") {
    std::lock_guard lock(mu);
    int n = 0;
    for (const auto& e : events) n += e.type == type && (user.empty() || e.user == user);
    return n;
  }
  std::mutex mu;
  std::vector<AuditEvent> events;
};

class LoginServiceTest : public ::testing::Test {
 protected:
  LoginServiceTest() : sessions_(store_, clock_, SessionCodec(random_key()), config::SessionConfig{}) {
    auto opened = store::SqliteStore::open(dir_.file("gatehouse.db"));
    if (!opened) throw std::runtime_error(opened.error().message);
    db_ = std::move(opened).value();
    writer_ = std::make_unique<store::GroupCommit>(*db_);
    policy(config::LockoutConfig{});
  }

  void policy(const config::LockoutConfig& c) { lockout_ = std::make_unique<Lockout>(c, *db_, clock_); }

  std::shared_ptr<FakeDirectory> add(const std::string& name, Result<directory::AuthOutcome> a) {
    auto d = std::make_shared<FakeDirectory>(name, std::move(a));
    dirs_.push_back(d);
    return d;
  }

  // One login from `client`, run to completion on a private event loop.
  Result<LoginResult> attempt(std::string_view user, const std::string& password,
                              const char* client = "192.0.2.7") {
    std::vector<std::shared_ptr<directory::Directory>> dirs(dirs_.begin(), dirs_.end());
    LoginService service(std::move(dirs), sessions_, *lockout_, audit_, *writer_);
    Secret pw(password);
    boost::asio::io_context io;
    std::optional<Result<LoginResult>> out;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          out.emplace(co_await service.login(std::string(user), pw, *IpAddress::parse(client), pool_));
        },
        boost::asio::detached);
    io.run();
    if (!out) return make_error("test", "the login coroutine did not finish");
    return std::move(*out);
  }

  LoginResult login(std::string_view user, const std::string& password, const char* client = "192.0.2.7") {
    auto r = attempt(user, password, client);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r.value()) : LoginResult{};
  }

  FakeClock clock_;
  FakeSessionStore store_;
  SessionManager sessions_;
  testing_support::TempDir dir_;
  std::unique_ptr<store::SqliteStore> db_;
  std::unique_ptr<store::GroupCommit> writer_;
  std::unique_ptr<Lockout> lockout_;
  FakeAudit audit_;
  boost::asio::thread_pool pool_{2};
  std::vector<std::shared_ptr<FakeDirectory>> dirs_;
};

TEST_F(LoginServiceTest, FirstDirectoryAcceptingGivesASession) {
  auto corp = add("corp", answer(AuthStatus::ok));
  auto other = add("other", answer(AuthStatus::ok, "mallory"));
  auto r = login("alice", "secret");
  EXPECT_EQ(r.status, LoginStatus::success);
  EXPECT_EQ(r.outcome, AuthStatus::ok);
  EXPECT_EQ(r.directory, "corp");
  ASSERT_NE(r.session.record, nullptr);
  EXPECT_EQ(r.session.record->user, "alice");
  EXPECT_EQ(r.session.record->real_party, "example");
  EXPECT_EQ(r.session.record->source, "corp");
  EXPECT_FALSE(r.session.cookie_value.empty());
  EXPECT_EQ(corp->passwords, std::vector<std::string>{"secret"});
  EXPECT_TRUE(other->asked.empty()) << "a later directory was asked after a success";

  auto resolved = sessions_.resolve(r.session.cookie_value);
  ASSERT_TRUE(resolved.ok());
  ASSERT_NE(*resolved, nullptr);
  EXPECT_EQ((*resolved)->user, "alice");
  EXPECT_EQ(store_.sessions.size(), 1u);
}

TEST_F(LoginServiceTest, BadCredentialsInFirstThenOkInSecondSucceedsFromTheSecond) {
  auto first = add("first", answer(AuthStatus::bad_credentials));
  auto second = add("second", answer(AuthStatus::ok, "alice", "partner"));
  auto r = login("alice", "secret");
  EXPECT_EQ(r.status, LoginStatus::success);
  EXPECT_EQ(r.directory, "second");
  ASSERT_NE(r.session.record, nullptr);
  EXPECT_EQ(r.session.record->source, "second");
  EXPECT_EQ(r.session.record->real_party, "partner");
  EXPECT_EQ(first->asked.size(), 1u);
  EXPECT_EQ(second->asked.size(), 1u);
}

TEST_F(LoginServiceTest, OutageInFirstThenOkInSecondSucceeds) {
  add("down", outage());
  add("up", answer(AuthStatus::ok));
  auto r = login("alice", "secret");
  EXPECT_EQ(r.status, LoginStatus::success);
  EXPECT_EQ(r.directory, "up");
}

// A directory that knows the password decides: any non-ok outcome ends the login there.
class LoginDecidingOutcome : public LoginServiceTest,
                             public ::testing::WithParamInterface<AuthStatus> {};

TEST_P(LoginDecidingOutcome, FailsAndDoesNotAskTheNextDirectory) {
  auto first = add("first", answer(GetParam()));
  auto second = add("second", answer(AuthStatus::ok));
  auto r = login("alice", "secret");
  EXPECT_EQ(r.status, LoginStatus::failed);
  EXPECT_EQ(r.outcome, GetParam());
  EXPECT_EQ(r.directory, "first");
  EXPECT_EQ(r.session.record, nullptr);
  EXPECT_TRUE(r.session.cookie_value.empty());
  EXPECT_TRUE(second->asked.empty());
  EXPECT_TRUE(store_.sessions.empty());
}

INSTANTIATE_TEST_SUITE_P(Statuses, LoginDecidingOutcome,
                         ::testing::Values(AuthStatus::disabled, AuthStatus::expired,
                                           AuthStatus::must_change_password, AuthStatus::locked),
                         [](const auto& info) { return std::string(directory::to_string(info.param)); });

TEST_F(LoginServiceTest, AllDirectoriesRejectingFails) {
  auto a = add("a", answer(AuthStatus::bad_credentials));
  auto b = add("b", answer(AuthStatus::bad_credentials));
  auto r = login("alice", "wrong");
  EXPECT_EQ(r.status, LoginStatus::failed);
  EXPECT_EQ(r.outcome, AuthStatus::bad_credentials);
  EXPECT_EQ(r.session.record, nullptr);
  EXPECT_EQ(a->asked.size(), 1u);
  EXPECT_EQ(b->asked.size(), 1u);
  EXPECT_TRUE(store_.sessions.empty());
}

TEST_F(LoginServiceTest, NoDirectoriesFails) {
  auto r = login("alice", "secret");
  EXPECT_EQ(r.status, LoginStatus::failed);
}

TEST_F(LoginServiceTest, OutageAndBadCredentialsIsUnavailableNeverWrongPassword) {
  for (bool outage_first : {true, false}) {
    dirs_.clear();
    if (outage_first) add("down", outage());
    add("rejecting", answer(AuthStatus::bad_credentials));
    if (!outage_first) add("down", outage());
    auto r = login("alice", "secret");
    EXPECT_EQ(r.status, LoginStatus::unavailable) << "outage first: " << outage_first;
    EXPECT_EQ(r.session.record, nullptr);
    EXPECT_NE(r.detail.find("down"), std::string::npos) << r.detail;
    EXPECT_EQ(r.detail.find("secret"), std::string::npos) << "the detail leaks the password";
  }
}

TEST_F(LoginServiceTest, EveryDirectoryDownIsUnavailable) {
  add("a", outage());
  add("b", outage());
  EXPECT_EQ(login("alice", "secret").status, LoginStatus::unavailable);
}

TEST_F(LoginServiceTest, EmptyPasswordFailsWithoutAskingAnyDirectory) {
  auto d = add("corp", answer(AuthStatus::ok));
  auto r = login("alice", "");
  EXPECT_EQ(r.status, LoginStatus::failed);
  EXPECT_TRUE(d->asked.empty());
  EXPECT_TRUE(store_.sessions.empty());
}

TEST_F(LoginServiceTest, UsernameReachesTheDirectoryTrimmed) {
  auto d = add("corp", answer(AuthStatus::ok));
  for (const char* raw : {" alice ", "alice", "\talice\t", "  alice"}) {
    d->asked.clear();
    auto r = login(raw, "secret");
    EXPECT_EQ(r.status, LoginStatus::success) << raw;
    EXPECT_EQ(d->asked, std::vector<std::string>{"alice"}) << "'" << raw << "'";
  }
}

class LoginUnusableName : public LoginServiceTest,
                          public ::testing::WithParamInterface<std::string> {};

TEST_P(LoginUnusableName, FailsWithoutAskingAnyDirectory) {
  auto d = add("corp", answer(AuthStatus::ok));
  auto r = login(GetParam(), "secret");
  EXPECT_EQ(r.status, LoginStatus::failed);
  EXPECT_TRUE(d->asked.empty());
  EXPECT_TRUE(store_.sessions.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Table, LoginUnusableName,
    ::testing::Values(std::string(""), std::string("   "), std::string("\t"),
                      std::string("ali\nce"), std::string("alice\r"), std::string("ali\0ce", 6),
                      std::string("alice\x7f"), std::string("al\x1b[2Jice"),
                      std::string("alice\n "), std::string(257, 'a')));

TEST(NormaliseUsernameTest, TrimsAndRejectsUnusableNames) {
  EXPECT_EQ(normalise_username(" alice "), "alice");
  EXPECT_EQ(normalise_username("Alice Smith"), "Alice Smith") << "inner spaces are kept";
  EXPECT_EQ(normalise_username(std::string(256, 'a')), std::string(256, 'a'));
  EXPECT_EQ(normalise_username(std::string(257, 'a')), "");
  EXPECT_EQ(normalise_username("a\nb"), "");
  EXPECT_EQ(normalise_username(""), "");
}

TEST_F(LoginServiceTest, SessionStoreFailureIsAnError) {
  add("corp", answer(AuthStatus::ok));
  store_.fail_create = true;
  EXPECT_FALSE(attempt("alice", "secret").ok());
}

TEST_F(LoginServiceTest, AsynchronousDirectoriesAreAwaitedInPlace) {
  auto d = add("corp", answer(AuthStatus::ok));
  d->asynchronous_answers = true;
  auto r = login("alice", "secret");
  EXPECT_EQ(r.status, LoginStatus::success);
  EXPECT_EQ(d->asked, std::vector<std::string>{"alice"});
}

// --- lockout and audit --------------------------------------------------------------

// An asynchronous directory that answers after 20 ms on the caller's event loop, so that
// many logins are in flight at once.
class SlowDirectory final : public directory::Directory {
 public:
  explicit SlowDirectory(directory::AuthStatus status) : status_(status) {}
  const std::string& name() const override { return name_; }
  bool asynchronous() const override { return true; }
  Result<directory::AuthOutcome> authenticate(std::string_view, const Secret&) override {
    return make_error("test", "not used");
  }
  boost::asio::awaitable<Result<directory::AuthOutcome>> authenticate_async(std::string username,
                                                                            const Secret&) override {
    ++asked;
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(20));
    co_await t.async_wait(boost::asio::use_awaitable);
    co_return FakeDirectory::outcome(status_, username, "example");
  }
  int asked = 0;

 private:
  std::string name_ = "slow";
  directory::AuthStatus status_;
};

TEST_F(LoginServiceTest, ParallelLoginsWithTheRightPasswordAllSucceedAndParallelGuessesStopAtTheLimit) {
  for (auto status : {AuthStatus::ok, AuthStatus::bad_credentials}) {
    auto dir = std::make_shared<SlowDirectory>(status);
    LoginService service({dir}, sessions_, *lockout_, audit_, *writer_);
    Secret pw("secret");
    boost::asio::io_context io;
    std::vector<LoginStatus> results;
    for (int i = 0; i < 16; ++i)
      boost::asio::co_spawn(
          io,
          [&]() -> boost::asio::awaitable<void> {
            auto r = co_await service.login("carol", pw, *IpAddress::parse("192.0.2.9"), pool_);
            results.push_back(r ? r->status : LoginStatus::unavailable);
          },
          boost::asio::detached);
    io.run();
    ASSERT_EQ(results.size(), 16u);
    if (status == AuthStatus::ok) {
      // More parallel logins than max_failures (5): none is refused for failures that
      // never happened.
      EXPECT_EQ(std::count(results.begin(), results.end(), LoginStatus::success), 16);
      EXPECT_EQ(dir->asked, 16);
    } else {
      EXPECT_EQ(std::count(results.begin(), results.end(), LoginStatus::failed), 16);
      EXPECT_EQ(dir->asked, 5) << "guesses beyond max_failures reached the directory";
      EXPECT_EQ(audit_.count(AuditEventType::lockout_locked, "carol"), 1);
    }
  }
}


config::LockoutConfig policy_with(std::int64_t max_failures, std::int64_t ip_max_failures = 50) {
  config::LockoutConfig c;
  c.max_failures = max_failures;
  c.ip_max_failures = ip_max_failures;
  return c;
}

TEST_F(LoginServiceTest, ALockedAccountIsRefusedWithoutAskingTheDirectory) {
  policy(policy_with(3));
  auto wrong = add("corp", answer(AuthStatus::bad_credentials));
  for (int i = 0; i < 3; ++i) {
    auto guess = login("alice", "guess");
    EXPECT_EQ(guess.status, LoginStatus::failed);
    EXPECT_FALSE(guess.account_locked);
    EXPECT_EQ(guess.locked_now, i == 2) << "only the attempt that reached the limit locked the account";
  }
  EXPECT_EQ(wrong->asked.size(), 3u);
  EXPECT_EQ(audit_.count(AuditEventType::login_failure, "alice"), 3);
  EXPECT_EQ(audit_.count(AuditEventType::lockout_locked, "alice"), 1);

  dirs_.clear();
  auto right = add("corp", answer(AuthStatus::ok));
  auto r = login("alice", "secret");
  EXPECT_EQ(r.status, LoginStatus::failed);
  EXPECT_EQ(r.outcome, AuthStatus::bad_credentials) << "a locked account looks like a wrong password";
  EXPECT_TRUE(r.account_locked);
  EXPECT_FALSE(r.locked_now);
  EXPECT_TRUE(right->asked.empty());
  EXPECT_EQ(audit_.count(AuditEventType::login_locked, "alice"), 1);
  EXPECT_TRUE(store_.sessions.empty());

  ASSERT_TRUE(lockout_->unlock("alice").ok());
  EXPECT_EQ(login("alice", "secret").status, LoginStatus::success);
}

TEST_F(LoginServiceTest, AThrottledAddressGetsRetryAfterAndNoDirectoryIsAsked) {
  policy(policy_with(100, 2));
  auto d = add("corp", answer(AuthStatus::bad_credentials));
  login("a", "x", "198.51.100.1");
  login("b", "x", "198.51.100.1");
  const auto rows = audit_.events.size();
  auto r = login("c", "x", "198.51.100.1");
  EXPECT_EQ(r.status, LoginStatus::throttled);
  EXPECT_EQ(r.retry_after, 15 * 60);
  EXPECT_EQ(d->asked.size(), 2u);
  EXPECT_EQ(audit_.events.size(), rows) << "throttled requests must not fill the audit table";
  EXPECT_EQ(login("c", "x", "198.51.100.2").status, LoginStatus::failed) << "another address is not throttled";
}

TEST_F(LoginServiceTest, OutagesAndProvedPasswordsDoNotCountTowardsALock) {
  policy(policy_with(2));
  add("down", outage());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(login("alice", "secret").status, LoginStatus::unavailable);
  dirs_.clear();
  add("corp", answer(AuthStatus::must_change_password));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(login("alice", "secret").outcome, AuthStatus::must_change_password);
  EXPECT_EQ(audit_.count(AuditEventType::lockout_locked), 0);
  dirs_.clear();
  add("corp", answer(AuthStatus::ok));
  EXPECT_EQ(login("alice", "secret").status, LoginStatus::success);
}

TEST_F(LoginServiceTest, UnusableNamesAndEmptyPasswordsCountAgainstTheAddress) {
  policy(policy_with(100, 3));
  add("corp", answer(AuthStatus::ok));
  login("ali\nce", "x");
  login(std::string("a\0b", 3), "x");
  login("alice", "");
  EXPECT_EQ(login("alice", "secret").status, LoginStatus::throttled);
}

TEST_F(LoginServiceTest, SuccessIsAuditedUnderTheDirectorysNameAndNothingSecretIsRecorded) {
  add("corp", answer(AuthStatus::ok, "alice"));
  auto r = login("ALICE", "Very-Secret-Password");
  ASSERT_EQ(r.status, LoginStatus::success);
  ASSERT_EQ(audit_.count(AuditEventType::login_success, "alice"), 1);
  const auto& e = audit_.events.back();
  EXPECT_EQ(e.source, "corp");
  EXPECT_EQ(e.client->to_string(), "192.0.2.7");
  EXPECT_NE(e.detail.find("ALICE"), std::string::npos);
  dirs_.clear();
  add("corp", answer(AuthStatus::bad_credentials));
  login("alice", "Another-Secret");
  for (const auto& ev : audit_.events) {
    EXPECT_EQ(ev.detail.find("Secret"), std::string::npos) << ev.detail;
    EXPECT_EQ(ev.user.find("Secret"), std::string::npos);
  }
}

}  // namespace
}  // namespace gatehouse::auth
