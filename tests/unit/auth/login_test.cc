#include "auth/login.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
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

class LoginServiceTest : public ::testing::Test {
 protected:
  LoginServiceTest() : sessions_(store_, clock_, SessionCodec(random_key()), config::SessionConfig{}) {}

  std::shared_ptr<FakeDirectory> add(const std::string& name, Result<directory::AuthOutcome> a) {
    auto d = std::make_shared<FakeDirectory>(name, std::move(a));
    dirs_.push_back(d);
    return d;
  }

  LoginResult login(std::string_view user, const std::string& password) {
    std::vector<std::shared_ptr<directory::Directory>> dirs(dirs_.begin(), dirs_.end());
    LoginService service(std::move(dirs), sessions_);
    auto r = service.login(user, Secret(password));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r.value()) : LoginResult{};
  }

  FakeClock clock_;
  FakeSessionStore store_;
  SessionManager sessions_;
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
  std::vector<std::shared_ptr<directory::Directory>> dirs(dirs_.begin(), dirs_.end());
  LoginService service(std::move(dirs), sessions_);
  auto r = service.login("alice", Secret("secret"));
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace gatehouse::auth
