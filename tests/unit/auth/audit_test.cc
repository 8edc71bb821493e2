// The audit sink: stored rows, log lines, retention.
#include "auth/audit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/sqlite_store.h"
#include "unit/store/temp_dir.h"

namespace gatehouse::auth {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::open(dir_.file("gatehouse.db"));
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(opened).value();
    config::AuditConfig c;
    c.retention = config::Seconds(180 * 86400);
    audit_ = std::make_unique<Audit>(c, *store_, clock_);
  }

  std::vector<store::AuditRecord> all() {
    store::AuditQuery everything;
    everything.limit = 0;
    auto list = store_->list_audit(everything);
    EXPECT_TRUE(list.ok());
    return list.ok() ? *list : std::vector<store::AuditRecord>{};
  }

  test_support::TempDir dir_;
  FakeClock clock_{kNow};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<Audit> audit_;
};

TEST(AuditEventNames, AreTheNamesOfTheContractAndRoundTrip) {
  std::vector<std::string> names;
  for (auto type : all_audit_event_types()) {
    names.emplace_back(event_name(type));
    EXPECT_EQ(parse_event_name(event_name(type)), type);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"login.success", "login.failure", "login.locked",
                                             "lockout.locked", "lockout.unlocked",
                                             "whitelist.added", "whitelist.removed", "logout",
                                             "session.expired", "config.reloaded",
                                             "config.reload_failed", "user.added",
                                             "user.password_changed", "user.disabled",
                                             "user.enabled", "delegation.granted", "delegation.revoked",
                                             "delegation.expired", "party.switched", "notification.queued",
                                             "notification.sent", "notification.failed",
                                             "tenant.superuser_added", "tenant.superuser_removed", "secret.set", "secret.removed", "secret.key_rotated", "keys.rewrapped"}));
  EXPECT_FALSE(parse_event_name("login"));
  EXPECT_FALSE(parse_event_name("LOGIN.SUCCESS"));
  EXPECT_FALSE(parse_event_name(""));
}

TEST_F(AuditTest, RecordStoresTheEventAtTheClocksTimeUnderTheAccountKey) {
  AuditEvent e;
  e.type = AuditEventType::login_failure;
  e.user = "CORP\\Alice";
  e.client = IpAddress::parse("2001:db8::1");
  e.source = "ad";
  e.route = "app.example.org/";
  e.detail = "bad credentials";
  ASSERT_TRUE(audit_->record(e).ok());

  auto rows = all();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at, kNow);
  EXPECT_EQ(rows[0].event, "login.failure");
  EXPECT_EQ(rows[0].user, "CORP\\Alice");
  EXPECT_EQ(rows[0].account, "alice");
  EXPECT_EQ(rows[0].client, "2001:db8::1");
  EXPECT_EQ(rows[0].source, "ad");
  EXPECT_EQ(rows[0].route, "app.example.org/");
  EXPECT_EQ(rows[0].detail, "bad credentials");
}

TEST_F(AuditTest, EventWithoutUserOrClientIsStoredWithEmptyFields) {
  ASSERT_TRUE(
      audit_->record({AuditEventType::config_reloaded, "", std::nullopt, "", "", "2 routes"}).ok());
  auto rows = all();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].user, "");
  EXPECT_EQ(rows[0].account, "");
  EXPECT_EQ(rows[0].client, "");
}

TEST_F(AuditTest, RecordWritesOneStructuredLogLine) {
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(audit_
                  ->record({AuditEventType::lockout_locked, "alice\nlevel=info event=forged",
                            IpAddress::parse("192.0.2.1"), "local", "/", "5 failed logins"})
                  .ok());
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("level=warning event=lockout.locked "), std::string::npos) << out;
  EXPECT_NE(out.find("user=\"alice\\x0alevel=info event=forged\""), std::string::npos) << out;
  EXPECT_NE(out.find("client=192.0.2.1"), std::string::npos) << out;
  EXPECT_NE(out.find("source=local"), std::string::npos) << out;
  EXPECT_NE(out.find("detail=\"5 failed logins\""), std::string::npos) << out;
}

TEST_F(AuditTest, AFailedReloadIsAnErrorAndNeverLogsConfigReloaded) {
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(audit_->record({AuditEventType::config_reload_failed, "", std::nullopt, "", "", "x.toml:3: bad"}).ok());
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("level=error event=config.reload_failed "), std::string::npos) << out;
  EXPECT_EQ(out.find("config.reloaded"), std::string::npos) << out;
}

TEST_F(AuditTest, UserAdministrationEventsAreInfoLinesWithTheirNames) {
  const std::pair<AuditEventType, std::string> events[] = {
      {AuditEventType::user_added, "user.added"},
      {AuditEventType::user_password_changed, "user.password_changed"},
      {AuditEventType::user_disabled, "user.disabled"},
      {AuditEventType::user_enabled, "user.enabled"}};
  for (const auto& [type, name] : events) {
    ::testing::internal::CaptureStderr();
    ASSERT_TRUE(audit_->record({type, "dave", std::nullopt, "cli", "", "by root"}).ok());
    const std::string out = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(out.find("level=info event=" + name + " user=dave "), std::string::npos) << out;
  }
  auto rows = all();
  ASSERT_EQ(rows.size(), 4u);
}

// A store that refuses every write.
class BrokenAuditStore final : public store::AuditStore {
 public:
  Result<std::int64_t> append_audit(const store::AuditRecord&) override {
    return make_error("store.io", "disk full");
  }
  Result<std::vector<store::AuditRecord>> list_audit(const store::AuditQuery&) override {
    return std::vector<store::AuditRecord>{};
  }
  Result<std::int64_t> delete_audit_before(std::int64_t, std::int64_t) override {
    return make_error("store.io", "disk full");
  }
  Result<store::LoginSummary> login_summary(const std::string&) override {
    return store::LoginSummary{};
  }
};

TEST_F(AuditTest, AStoreFailureIsReturnedAndTheEventIsStillLogged) {
  BrokenAuditStore broken;
  Audit audit(config::AuditConfig{}, broken, clock_);
  ::testing::internal::CaptureStderr();
  auto s = audit.record({AuditEventType::login_success, "alice", std::nullopt, "local", "/", ""});
  const std::string out = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "store.io");
  EXPECT_NE(out.find("event=login.success"), std::string::npos) << out;
  EXPECT_NE(out.find("event=audit.store_failed"), std::string::npos) << out;
  EXPECT_FALSE(audit.prune().ok());
}

TEST_F(AuditTest, PruneDeletesRecordsOlderThanTheRetention) {
  const std::int64_t retention = 180 * 86400;
  clock_.set(kNow - retention - 1);
  for (int i = 0; i < 2500; ++i)
    ASSERT_TRUE(audit_->record({AuditEventType::logout, "old", std::nullopt, "", "", ""}).ok());
  clock_.set(kNow - retention);
  ASSERT_TRUE(audit_->record({AuditEventType::logout, "edge", std::nullopt, "", "", ""}).ok());
  clock_.set(kNow);
  ASSERT_TRUE(audit_->record({AuditEventType::logout, "new", std::nullopt, "", "", ""}).ok());

  ::testing::internal::CaptureStderr();
  auto pruned = audit_->prune();
  const std::string out = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(pruned.ok()) << pruned.error().message;
  EXPECT_EQ(*pruned, 2500);  // several batches
  EXPECT_NE(out.find("event=audit.pruned records=2500"), std::string::npos) << out;
  auto rows = all();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].user, "new");
  EXPECT_EQ(rows[1].user, "edge");
  EXPECT_EQ(*audit_->prune(), 0);
}

TEST_F(AuditTest, PruneRunsBesideRecordingWithoutErrors) {
  clock_.set(kNow - 200 * 86400);
  for (int i = 0; i < 3000; ++i)
    ASSERT_TRUE(audit_->record({AuditEventType::logout, "old", std::nullopt, "", "", ""}).ok());
  clock_.set(kNow);

  ::testing::internal::CaptureStderr();
  std::atomic<int> failures{0};
  std::atomic<std::int64_t> pruned{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      auto n = audit_->prune();
      if (!n)
        ++failures;
      else
        pruned += *n;
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 300; ++i)
      if (!audit_->record({AuditEventType::login_success, "alice", std::nullopt, "", "", ""}))
        ++failures;
  });
  for (auto& t : threads) t.join();
  (void)::testing::internal::GetCapturedStderr();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(pruned.load(), 3000);
  pruned += *audit_->prune();
  EXPECT_EQ(pruned.load(), 3000);
  EXPECT_EQ(all().size(), 300u);
}

}  // namespace
}  // namespace gatehouse::auth
