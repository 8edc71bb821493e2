#include "directory/local_directory.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <ostream>
#include <string>

#include "directory/ldap_client.h"  // run_sync
#include "store/sqlite_store.h"
#include "unit/store/temp_dir.h"

namespace gatehouse::directory {
namespace {

constexpr const char* kPassword = "correct horse battery staple";

// An in-memory UserStore: the directory receives the interface, so no database is
// needed to test its decisions.
class FakeUserStore final : public store::UserStore {
 public:
  Status add_user(const store::User& user) override {
    if (users_.count(user.name)) return make_error("store.exists", user.name);
    users_[user.name] = user;
    return Ok{};
  }
  Result<std::optional<store::User>> find_user(const std::string& name) override {
    ++lookups;
    if (failure) return *failure;
    auto it = users_.find(name);
    if (it == users_.end()) return std::optional<store::User>();
    return std::optional<store::User>(it->second);
  }
  Result<std::vector<store::User>> list_users() override {
    std::vector<store::User> out;
    for (const auto& [name, user] : users_) out.push_back(user);
    return out;
  }
  Status set_password_hash(const std::string& name, const std::string& hash) override {
    auto it = users_.find(name);
    if (it == users_.end()) return make_error("store.not_found", name);
    it->second.password_hash = hash;
    return Ok{};
  }
  Status set_disabled(const std::string& name, bool disabled) override {
    auto it = users_.find(name);
    if (it == users_.end()) return make_error("store.not_found", name);
    it->second.disabled = disabled;
    return Ok{};
  }

  int lookups = 0;
  std::optional<Error> failure;

 private:
  std::map<std::string, store::User> users_;
};

class LocalDirectoryTest : public ::testing::Test {
 protected:
  // argon2id is deliberately slow: hash the shared password once for the suite.
  static void SetUpTestSuite() {
    auto h = hash_password(Secret(kPassword));
    ASSERT_TRUE(h.ok()) << h.error().message;
    hash_ = new std::string(std::move(h).value());
  }
  static void TearDownTestSuite() {
    delete hash_;
    hash_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(hash_, nullptr);
    add("alice", *hash_, false, {"staff", "admins"});
    add("dave", *hash_, true, {});
    add("nopass", "", false, {});
  }

  void add(std::string name, std::string hash, bool disabled, std::vector<std::string> groups) {
    store::User u;
    u.name = std::move(name);
    u.tenant = "acme";
    u.email = u.name + "@example.org";
    u.display_name = "User " + u.name;
    u.password_hash = std::move(hash);
    u.disabled = disabled;
    u.groups = std::move(groups);
    ASSERT_TRUE(users_.add_user(u).ok());
  }

  static std::string* hash_;
  FakeUserStore users_;
  LocalDirectory directory_{"local", users_};
};
std::string* LocalDirectoryTest::hash_ = nullptr;

struct OutcomeCase {
  const char* label;
  const char* username;
  const char* password;
  AuthStatus status;
  const char* detail;
};

void PrintTo(const OutcomeCase& c, std::ostream* os) { *os << c.label; }

class LocalDirectoryOutcomeTest : public LocalDirectoryTest,
                                  public ::testing::WithParamInterface<OutcomeCase> {};

TEST_P(LocalDirectoryOutcomeTest, ReturnsExpectedOutcome) {
  const OutcomeCase& c = GetParam();
  auto outcome = directory_.authenticate(c.username, Secret(c.password));
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_EQ(to_string(outcome->status), to_string(c.status));
  EXPECT_EQ(outcome->detail, c.detail);
  if (c.status != AuthStatus::ok) {
    EXPECT_EQ(outcome->identity.username, "") << "identity must stay empty unless ok";
    EXPECT_TRUE(outcome->identity.groups.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Outcomes, LocalDirectoryOutcomeTest,
    ::testing::Values(OutcomeCase{"RightPassword", "alice", kPassword, AuthStatus::ok, ""},
                      OutcomeCase{"WrongPassword", "alice", "wrong", AuthStatus::bad_credentials,
                                  "wrong password"},
                      OutcomeCase{"UnknownUser", "mallory", kPassword, AuthStatus::bad_credentials,
                                  "unknown user"},
                      OutcomeCase{"NameInOtherCase", "Alice", kPassword,
                                  AuthStatus::bad_credentials, "unknown user"},
                      OutcomeCase{"EmptyPassword", "alice", "", AuthStatus::bad_credentials,
                                  "empty password"},
                      OutcomeCase{"DisabledRightPassword", "dave", kPassword, AuthStatus::disabled,
                                  "account disabled"},
                      OutcomeCase{"DisabledWrongPassword", "dave", "wrong",
                                  AuthStatus::bad_credentials, "wrong password"},
                      OutcomeCase{"NoPasswordSet", "nopass", kPassword, AuthStatus::bad_credentials,
                                  "no password set"}),
    [](const ::testing::TestParamInfo<OutcomeCase>& info) {
      return std::string(info.param.label);
    });

TEST_F(LocalDirectoryTest, SuccessReturnsIdentityWithGroupsAndTenant) {
  auto outcome = directory_.authenticate("alice", Secret(kPassword));
  ASSERT_TRUE(outcome.ok());
  ASSERT_EQ(outcome->status, AuthStatus::ok);
  const Identity& id = outcome->identity;
  EXPECT_EQ(id.username, "alice");
  EXPECT_EQ(id.email, "alice@example.org");
  EXPECT_EQ(id.display_name, "User alice");
  EXPECT_EQ(id.groups, (std::vector<std::string>{"staff", "admins"}));
  EXPECT_EQ(id.tenant, "acme");
}

// The Directory interface's default: not asynchronous, and authenticate_async gives
// authenticate()'s answer.
TEST_F(LocalDirectoryTest, DefaultAsyncAuthenticateGivesTheSameAnswer) {
  EXPECT_FALSE(directory_.asynchronous());
  const Secret password(kPassword);
  auto outcome = ldap::run_sync(directory_.authenticate_async("alice", password));
  ASSERT_TRUE(outcome.ok());
  ASSERT_EQ(outcome->status, AuthStatus::ok);
  EXPECT_EQ(outcome->identity.groups, (std::vector<std::string>{"staff", "admins"}));
  const Secret wrong("wrong");
  EXPECT_EQ(ldap::run_sync(directory_.authenticate_async("alice", wrong))->status, AuthStatus::bad_credentials);
}

TEST_F(LocalDirectoryTest, EmptyPasswordIsRefusedWithoutLookup) {
  auto outcome = directory_.authenticate("alice", Secret(""));
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->status, AuthStatus::bad_credentials);
  EXPECT_EQ(users_.lookups, 0);
}

TEST_F(LocalDirectoryTest, StoreFailureIsAnErrorNotBadCredentials) {
  users_.failure = make_error("store.io", "disk I/O error");
  auto outcome = directory_.authenticate("alice", Secret(kPassword));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, "store.io");
}

TEST_F(LocalDirectoryTest, PasswordChangeTakesEffectAtOnce) {
  auto new_hash = hash_password(Secret("new password"));
  ASSERT_TRUE(new_hash.ok());
  ASSERT_TRUE(users_.set_password_hash("alice", *new_hash).ok());
  EXPECT_EQ(directory_.authenticate("alice", Secret(kPassword))->status,
            AuthStatus::bad_credentials);
  EXPECT_EQ(directory_.authenticate("alice", Secret("new password"))->status, AuthStatus::ok);
}

TEST_F(LocalDirectoryTest, KeepsConfiguredName) { EXPECT_EQ(directory_.name(), "local"); }

TEST(PasswordHashTest, HashIsArgon2idString) {
  // The password has characters base64 never makes (space, '!'), so finding it in the
  // encoded string can only mean it was stored; a short one could appear by chance.
  const std::string password = "not in base64!";
  auto h = hash_password(Secret(password));
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u) << *h;
  EXPECT_EQ(h->find(password), std::string::npos) << *h;
}

TEST(PasswordHashTest, SamePasswordHashesDifferentlyEachTime) {
  auto a = hash_password(Secret("pw"));
  auto b = hash_password(Secret("pw"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(verify_password(*a, Secret("pw")));
  EXPECT_TRUE(verify_password(*b, Secret("pw")));
}

TEST(PasswordHashTest, VerifyRejectsWrongPasswordAndMalformedHash) {
  auto h = hash_password(Secret("pw"));
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(verify_password(*h, Secret("pW")));
  EXPECT_FALSE(verify_password(*h, Secret("")));
  EXPECT_FALSE(verify_password("", Secret("pw")));
  EXPECT_FALSE(verify_password("$argon2id$garbage", Secret("pw")));
}

// The same decisions against the real store, as the daemon wires it.
TEST(LocalDirectorySqliteTest, AuthenticatesUserStoredInSqlite) {
  test_support::TempDir dir;
  auto opened = store::SqliteStore::open(dir.file("gatehouse.db"));
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& db = *opened.value();
  ASSERT_TRUE(db.add_tenant({"acme", 1, "", ""}).ok());
  auto hash = hash_password(Secret(kPassword));
  ASSERT_TRUE(hash.ok());
  store::User u;
  u.name = "alice";
  u.tenant = "acme";
  u.email = "alice@example.org";
  u.display_name = "Alice";
  u.password_hash = *hash;
  u.groups = {"staff", "admins"};
  ASSERT_TRUE(db.add_user(u).ok());

  LocalDirectory directory("local", db);
  auto ok = directory.authenticate("alice", Secret(kPassword));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->status, AuthStatus::ok);
  EXPECT_EQ(ok->identity.tenant, "acme");
  EXPECT_EQ(ok->identity.groups, (std::vector<std::string>{"admins", "staff"}));

  ASSERT_TRUE(db.set_disabled("alice", true).ok());
  auto disabled = directory.authenticate("alice", Secret(kPassword));
  ASSERT_TRUE(disabled.ok());
  EXPECT_EQ(disabled->status, AuthStatus::disabled);
  EXPECT_EQ(directory.authenticate("bob", Secret(kPassword))->detail, "unknown user");

  // Timing: an unknown user costs one argon2id check, exactly like a wrong password.
  const auto before_wrong = password_verifications();
  ASSERT_TRUE(db.set_disabled("alice", false).ok());
  EXPECT_EQ(directory.authenticate("alice", Secret("wrong"))->status, AuthStatus::bad_credentials);
  EXPECT_EQ(password_verifications() - before_wrong, 1u);
  const auto before_unknown = password_verifications();
  EXPECT_EQ(directory.authenticate("nobody", Secret("wrong"))->status, AuthStatus::bad_credentials);
  EXPECT_EQ(password_verifications() - before_unknown, 1u);
}

}  // namespace
}  // namespace gatehouse::directory
