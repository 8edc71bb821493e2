#include "auth/session_manager.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "common/encoding.h"
#include "common/clock.h"
#include "unit/auth/fakes.h"

namespace gatehouse::auth {
namespace {

using namespace std::chrono_literals;
using testing_support::FakeSessionStore;
using testing_support::random_key;

constexpr std::int64_t kStart = 1'700'000'000;
constexpr std::int64_t kIdle = 100;       // touch interval: clamp(100 / 10, 1, 60) = 10
constexpr std::int64_t kAbsolute = 1000;
constexpr std::chrono::milliseconds kNoCache = 0ms;
constexpr std::chrono::milliseconds kLongCache = std::chrono::hours(1);

config::SessionConfig session_config(std::int64_t idle = kIdle, std::int64_t absolute = kAbsolute) {
  config::SessionConfig c;
  c.idle_timeout = config::Seconds(idle);
  c.absolute_timeout = config::Seconds(absolute);
  return c;
}

directory::Identity alice() {
  directory::Identity id;
  id.username = "alice";
  id.email = "alice@example.org";
  id.display_name = "Alice Example";
  id.groups = {"staff", "admins"};
  id.tenant = "example";
  return id;
}

// A manager over a fake store and a fake clock; `cache_ttl` decides whether resolve()
// may answer from memory.
struct Harness {
  explicit Harness(std::chrono::milliseconds cache_ttl, std::int64_t idle = kIdle,
                   std::int64_t absolute = kAbsolute)
      : key(random_key()),
        clock(kStart),
        manager(store, clock, SessionCodec(key), session_config(idle, absolute), cache_ttl) {}

  NewSession create() {
    auto s = manager.create(alice(), "local");
    if (!s) throw std::runtime_error("create failed: " + s.error().message);
    return *s;
  }

  // resolve() that must not fail; returns the record or nullptr.
  SessionPtr resolve(const std::string& cookie) {
    auto r = manager.resolve(cookie);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().code + ": " + r.error().message);
    return r.ok() ? *r : nullptr;
  }

  crypto::Key key;
  FakeClock clock;
  FakeSessionStore store;
  SessionManager manager;
};

TEST(SessionManagerTest, CreateStoresRecordFromIdentityAndCookieResolvesToIt) {
  Harness h(kNoCache);
  auto s = h.create();
  ASSERT_NE(s.record, nullptr);
  EXPECT_EQ(s.record->id.size(), kSessionIdBytes);
  EXPECT_EQ(s.record->user, "alice");
  EXPECT_EQ(s.record->email, "alice@example.org");
  EXPECT_EQ(s.record->display_name, "Alice Example");
  EXPECT_EQ(s.record->groups, (std::vector<std::string>{"staff", "admins"}));
  EXPECT_EQ(s.record->real_party, "example");
  EXPECT_EQ(s.record->effective_party, "example");
  EXPECT_EQ(s.record->source, "local");
  EXPECT_EQ(s.record->created_at, kStart);
  EXPECT_EQ(s.record->last_seen, kStart);
  ASSERT_EQ(h.store.sessions.count(s.record->id), 1u);

  EXPECT_EQ(SessionCodec(h.key).open(s.cookie_value), s.record->id);
  auto resolved = h.resolve(s.cookie_value);
  ASSERT_NE(resolved, nullptr);
  EXPECT_EQ(resolved->id, s.record->id);
  EXPECT_EQ(resolved->user, "alice");
  EXPECT_EQ(resolved->groups, s.record->groups);
}

TEST(SessionManagerTest, EveryCreateUsesAFreshIdAndCookie) {
  Harness h(kNoCache);
  auto a = h.create();
  auto b = h.create();
  EXPECT_NE(a.record->id, b.record->id);
  EXPECT_NE(a.cookie_value, b.cookie_value);
  EXPECT_EQ(h.store.sessions.size(), 2u);
  ASSERT_NE(h.resolve(a.cookie_value), nullptr);
  ASSERT_NE(h.resolve(b.cookie_value), nullptr);
  EXPECT_EQ(h.resolve(a.cookie_value)->id, a.record->id);
  EXPECT_EQ(h.resolve(b.cookie_value)->id, b.record->id);
}

TEST(SessionManagerTest, CreateFailsWhenTheStoreFails) {
  Harness h(kNoCache);
  h.store.fail_create = true;
  auto s = h.manager.create(alice(), "local");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "store.io");
}

// --- Lifetime, with and without the cache: the answer must not depend on caching. ---

struct LifetimeCase {
  const char* name;
  std::int64_t offset;  // seconds after creation, no request in between
  bool alive;
};

void PrintTo(const LifetimeCase& c, std::ostream* os) { *os << c.name; }

class SessionLifetime
    : public ::testing::TestWithParam<std::tuple<LifetimeCase, std::chrono::milliseconds>> {};

TEST_P(SessionLifetime, UntouchedSessionLivesUntilExactlyTheIdleTimeout) {
  const auto& [c, cache_ttl] = GetParam();
  Harness h(cache_ttl);
  auto s = h.create();
  h.clock.advance(c.offset);
  auto r = h.resolve(s.cookie_value);
  EXPECT_EQ(r != nullptr, c.alive) << c.name;
  EXPECT_EQ(h.store.sessions.count(s.record->id), c.alive ? 1u : 0u)
      << "an expired record must be deleted from the store";
}

INSTANTIATE_TEST_SUITE_P(
    Table, SessionLifetime,
    ::testing::Combine(::testing::Values(LifetimeCase{"at creation", 0, true},
                                         LifetimeCase{"one second later", 1, true},
                                         LifetimeCase{"one second before idle", kIdle - 1, true},
                                         LifetimeCase{"exactly at idle", kIdle, false},
                                         LifetimeCase{"one second after idle", kIdle + 1, false},
                                         LifetimeCase{"after absolute", kAbsolute + 1, false}),
                       ::testing::Values(kNoCache, kLongCache)),
    [](const auto& info) {
      std::string n = std::to_string(std::get<0>(info.param).offset) + "s_" +
                      (std::get<1>(info.param).count() == 0 ? "uncached" : "cached");
      return n;
    });

// The audit trail's session.expired: reported once, with the reason, before deletion.
TEST(SessionExpiryHook, ReportsIdleAndAbsoluteExpiryOnce) {
  Harness h(kNoCache);
  std::vector<std::pair<std::string, std::string>> seen;
  h.manager.on_expired([&](const store::SessionRecord& r, std::string_view why) {
    seen.emplace_back(r.user, std::string(why));
  });
  auto idle = h.create();
  h.clock.advance(kIdle);
  EXPECT_EQ(h.resolve(idle.cookie_value), nullptr);
  EXPECT_EQ(h.resolve(idle.cookie_value), nullptr);
  ASSERT_EQ(seen.size(), 1u) << "a deleted session is unknown, not expired again";
  EXPECT_EQ(seen[0], (std::pair<std::string, std::string>{"alice", "idle timeout"}));

  auto old = h.create();
  for (std::int64_t t = 0; t <= kAbsolute; t += kIdle / 2) {
    h.clock.advance(kIdle / 2);
    (void)h.resolve(old.cookie_value);
  }
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].second, "absolute timeout");

  auto live = h.create();
  EXPECT_NE(h.resolve(live.cookie_value), nullptr);
  EXPECT_EQ(seen.size(), 2u);
}

class SessionActivity : public ::testing::TestWithParam<std::chrono::milliseconds> {};

TEST_P(SessionActivity, ActivityExtendsIdleLife) {
  Harness h(GetParam());
  auto s = h.create();
  h.clock.set(kStart + 50);
  ASSERT_NE(h.resolve(s.cookie_value), nullptr);
  ASSERT_EQ(h.store.touch_calls, 1);
  EXPECT_EQ(h.store.sessions.at(s.record->id).last_seen, kStart + 50);

  // Without that request the session would have died at kStart + kIdle.
  h.clock.set(kStart + 50 + kIdle - 1);
  auto later = h.resolve(s.cookie_value);
  ASSERT_NE(later, nullptr);
  EXPECT_EQ(later->last_seen, kStart + 50 + kIdle - 1);
}

TEST_P(SessionActivity, SessionDiesExactlyIdleTimeoutAfterTheLastRecordedActivity) {
  Harness h(GetParam());
  auto s = h.create();
  h.clock.set(kStart + 50);
  ASSERT_NE(h.resolve(s.cookie_value), nullptr);
  h.clock.set(kStart + 50 + kIdle);
  EXPECT_EQ(h.resolve(s.cookie_value), nullptr);
  EXPECT_EQ(h.store.sessions.count(s.record->id), 0u);
}

TEST_P(SessionActivity, AbsoluteTimeoutEndsSessionDespiteConstantActivity) {
  Harness h(GetParam());
  auto s = h.create();
  for (std::int64_t t = 30; t < kAbsolute; t += 30) {
    h.clock.set(kStart + t);
    ASSERT_NE(h.resolve(s.cookie_value), nullptr) << "at +" << t;
  }
  h.clock.set(kStart + kAbsolute - 1);
  ASSERT_NE(h.resolve(s.cookie_value), nullptr);
  h.clock.set(kStart + kAbsolute);
  EXPECT_EQ(h.resolve(s.cookie_value), nullptr);
  EXPECT_EQ(h.store.sessions.count(s.record->id), 0u);
}

TEST_P(SessionActivity, EndKillsTheCookieAtOnce) {
  Harness h(GetParam());
  auto s = h.create();
  ASSERT_NE(h.resolve(s.cookie_value), nullptr);
  ASSERT_TRUE(h.manager.end(s.cookie_value).ok());
  EXPECT_EQ(h.store.sessions.count(s.record->id), 0u);
  EXPECT_EQ(h.resolve(s.cookie_value), nullptr);
  EXPECT_TRUE(h.manager.end(s.cookie_value).ok()) << "ending twice is not an error";
}

TEST_P(SessionActivity, EndLeavesOtherSessionsAlone) {
  Harness h(GetParam());
  auto a = h.create();
  auto b = h.create();
  ASSERT_TRUE(h.manager.end(a.cookie_value).ok());
  EXPECT_EQ(h.resolve(a.cookie_value), nullptr);
  EXPECT_NE(h.resolve(b.cookie_value), nullptr);
}

INSTANTIATE_TEST_SUITE_P(CachedAndUncached, SessionActivity, ::testing::Values(kNoCache, kLongCache),
                         [](const auto& info) {
                           return std::string(info.param.count() == 0 ? "uncached" : "cached");
                         });

// --- last_seen is written only every clamp(idle / 10, 1, 60) seconds. ---

struct TouchCase {
  std::int64_t idle;
  std::int64_t interval;
};

void PrintTo(const TouchCase& c, std::ostream* os) {
  *os << "idle " << c.idle << "s, interval " << c.interval << "s";
}

class SessionTouchInterval : public ::testing::TestWithParam<TouchCase> {};

TEST_P(SessionTouchInterval, WritesLastSeenOnlyOncePerInterval) {
  const auto c = GetParam();
  Harness h(kNoCache, c.idle, c.idle * 10);
  auto s = h.create();
  h.clock.set(kStart + c.interval - 1);
  ASSERT_NE(h.resolve(s.cookie_value), nullptr);
  EXPECT_EQ(h.store.touch_calls, 0) << "idle " << c.idle;

  h.clock.set(kStart + c.interval);
  ASSERT_NE(h.resolve(s.cookie_value), nullptr);
  ASSERT_EQ(h.store.touch_calls, 1) << "idle " << c.idle;
  EXPECT_EQ(h.store.touched_at.back(), kStart + c.interval);
  EXPECT_EQ(h.store.sessions.at(s.record->id).last_seen, kStart + c.interval);

  // A second request in the same interval writes nothing.
  if (c.interval > 1) {
    h.clock.set(kStart + 2 * c.interval - 1);
    ASSERT_NE(h.resolve(s.cookie_value), nullptr);
    EXPECT_EQ(h.store.touch_calls, 1) << "idle " << c.idle;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, SessionTouchInterval,
                         ::testing::Values(TouchCase{5, 1}, TouchCase{10, 1},
                                           TouchCase{100, 10}, TouchCase{599, 59},
                                           TouchCase{600, 60}, TouchCase{3600, 60}),
                         [](const auto& info) { return "idle" + std::to_string(info.param.idle); });

TEST(SessionManagerTest, TouchFailureIsAnError) {
  Harness h(kNoCache);
  auto s = h.create();
  h.store.fail_touch = true;
  h.clock.advance(kIdle / 2);
  auto r = h.manager.resolve(s.cookie_value);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "store.io");
}

// --- Caching and revocation ---

TEST(SessionManagerTest, CachedSessionIsResolvedWithoutAskingTheStore) {
  Harness h(kLongCache);
  auto s = h.create();
  for (int i = 0; i < 3; ++i) ASSERT_NE(h.resolve(s.cookie_value), nullptr);
  EXPECT_EQ(h.store.find_calls, 0);
}

TEST(SessionManagerTest, WithoutCacheEveryResolveAsksTheStore) {
  Harness h(kNoCache);
  auto s = h.create();
  for (int i = 0; i < 3; ++i) ASSERT_NE(h.resolve(s.cookie_value), nullptr);
  EXPECT_EQ(h.store.find_calls, 3);
}

TEST(SessionManagerTest, RecordDeletedFromStoreStopsResolvingOnceCacheTtlPassed) {
  Harness h(kNoCache);
  auto s = h.create();
  ASSERT_NE(h.resolve(s.cookie_value), nullptr);
  h.store.sessions.erase(s.record->id);  // admin revocation, or logout in another instance
  EXPECT_EQ(h.resolve(s.cookie_value), nullptr);
}

TEST(SessionManagerTest, RecordsOfOneUserDeletedFromStoreStopResolving) {
  Harness h(kNoCache);
  auto a = h.create();
  auto b = h.create();
  ASSERT_TRUE(h.store.delete_user_sessions("alice").ok());
  EXPECT_EQ(h.resolve(a.cookie_value), nullptr);
  EXPECT_EQ(h.resolve(b.cookie_value), nullptr);
}

TEST(SessionManagerTest, RevocationSeenWhileCachedEntryNeedsATouchIsNotAnError) {
  // The cached record is still within cache_ttl, the store no longer has it, and a
  // last_seen write is due: the store answers "store.not_found", which means revoked,
  // not "store trouble".
  Harness h(kLongCache);
  auto s = h.create();
  h.store.sessions.erase(s.record->id);
  h.clock.advance(kIdle / 2);  // past the touch interval, before the idle timeout
  auto r = h.manager.resolve(s.cookie_value);
  ASSERT_TRUE(r.ok()) << r.error().code;
  EXPECT_EQ(*r, nullptr);
}

// resolve_cached answers exactly when resolve() would not call the store.
TEST(SessionManagerTest, ResolveCachedAnswersOnlyFromMemory) {
  Harness h(kLongCache);
  auto s = h.create();  // cached by create()
  auto hit = h.manager.resolve_cached(s.cookie_value);
  ASSERT_TRUE(hit.has_value());
  ASSERT_NE(*hit, nullptr);
  EXPECT_EQ((*hit)->id, s.record->id);

  // A cookie that does not open needs no store: null at once.
  auto garbage = h.manager.resolve_cached("not-a-cookie");
  ASSERT_TRUE(garbage.has_value());
  EXPECT_EQ(*garbage, nullptr);

  // A sealed id the cache does not hold: only the store can tell.
  EXPECT_FALSE(h.manager.resolve_cached(SessionCodec(h.key).seal(random_bytes(kSessionIdBytes))).has_value());

  // A last_seen write due, or the session expired: resolve() must write.
  h.clock.advance(kIdle / 2);
  EXPECT_FALSE(h.manager.resolve_cached(s.cookie_value).has_value());
  ASSERT_NE(h.resolve(s.cookie_value), nullptr);  // touches and re-caches
  EXPECT_TRUE(h.manager.resolve_cached(s.cookie_value).has_value());
  h.clock.advance(kIdle);
  EXPECT_FALSE(h.manager.resolve_cached(s.cookie_value).has_value());
  EXPECT_EQ(h.store.find_calls, 0);
}

TEST(SessionManagerTest, ResolveCachedDefersToTheStoreOnceTheCacheTtlPassed) {
  Harness h(kNoCache);
  auto s = h.create();
  EXPECT_FALSE(h.manager.resolve_cached(s.cookie_value).has_value());
  ASSERT_NE(h.resolve(s.cookie_value), nullptr);
  EXPECT_FALSE(h.manager.resolve_cached(s.cookie_value).has_value());
}

TEST(SessionManagerTest, StoreLookupFailureIsAnError) {
  Harness h(kNoCache);
  auto s = h.create();
  h.store.fail_find = true;
  auto r = h.manager.resolve(s.cookie_value);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "store.io");
}

TEST(SessionManagerTest, UnknownButValidlySealedIdResolvesToNull) {
  Harness h(kNoCache);
  SessionCodec codec(h.key);
  auto r = h.manager.resolve(codec.seal(random_bytes(kSessionIdBytes)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, nullptr);
  EXPECT_EQ(h.store.find_calls, 1);
}

TEST(SessionManagerTest, TamperedOrForeignCookieResolvesToNullWithoutAStoreLookup) {
  Harness h(kNoCache);
  auto s = h.create();
  auto raw = base64url_decode(s.cookie_value);
  ASSERT_TRUE(raw.has_value());
  std::string flipped = *raw;
  flipped[flipped.size() / 2] ^= 0x01;
  const std::vector<std::string> bad = {
      base64url_encode(flipped),
      SessionCodec(random_key()).seal(s.record->id),
      s.cookie_value.substr(0, s.cookie_value.size() - 1),
      "",
      "garbage",
      base64url_encode(s.record->id),  // the raw id itself is not a cookie
  };
  for (const auto& cookie : bad) {
    auto r = h.manager.resolve(cookie);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, nullptr) << cookie;
  }
  EXPECT_EQ(h.store.find_calls, 0);
  EXPECT_EQ(h.store.sessions.size(), 1u) << "a bad cookie must not delete anything";
}

TEST(SessionManagerTest, EndWithABadCookieDeletesNothing) {
  Harness h(kNoCache);
  h.create();
  EXPECT_TRUE(h.manager.end("garbage").ok());
  EXPECT_EQ(h.store.delete_calls, 0);
  EXPECT_EQ(h.store.sessions.size(), 1u);
}

TEST(SessionManagerTest, EndReportsStoreFailure) {
  Harness h(kNoCache);
  auto s = h.create();
  h.store.fail_delete = true;
  EXPECT_FALSE(h.manager.end(s.cookie_value).ok());
}

TEST(SessionManagerTest, ExpiresAtIsTheEarlierOfIdleAndAbsoluteDeadline) {
  Harness h(kNoCache);
  store::SessionRecord r;
  r.created_at = kStart;
  r.last_seen = kStart;
  EXPECT_EQ(h.manager.expires_at(r), kStart + kIdle);
  r.last_seen = kStart + kAbsolute - 10;
  EXPECT_EQ(h.manager.expires_at(r), kStart + kAbsolute);
}

// --- sweep() ---

store::SessionRecord record(std::string id, std::int64_t created_at, std::int64_t last_seen) {
  store::SessionRecord r;
  r.id = std::move(id);
  r.user = "alice";
  r.created_at = created_at;
  r.last_seen = last_seen;
  return r;
}

TEST(SessionManagerTest, SweepDeletesExpiredSessionsAndKeepsLiveOnes) {
  Harness h(kNoCache);
  const std::int64_t now = kStart + 10'000;
  h.clock.set(now);
  for (auto r : {record("live", now - 10, now - 1),
                 record("idle-expired", now - 500, now - kIdle - 1),
                 record("absolute-expired", now - kAbsolute - 1, now - 1),
                 record("almost-idle", now - 500, now - kIdle + 1),
                 record("almost-absolute", now - kAbsolute + 1, now - 1)})
    h.store.sessions[r.id] = r;

  auto n = h.manager.sweep();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  ASSERT_EQ(h.store.expired_calls.size(), 1u);
  EXPECT_EQ(h.store.sessions.count("live"), 1u);
  EXPECT_EQ(h.store.sessions.count("almost-idle"), 1u);
  EXPECT_EQ(h.store.sessions.count("almost-absolute"), 1u);
  EXPECT_EQ(h.store.sessions.count("idle-expired"), 0u);
  EXPECT_EQ(h.store.sessions.count("absolute-expired"), 0u);

  // The bounds are derived from the injected clock and the configured timeouts.
  const auto& call = h.store.expired_calls.front();
  EXPECT_GE(call.created_before, now - kAbsolute);
  EXPECT_LE(call.created_before, now - kAbsolute + 1);
  EXPECT_GE(call.idle_before, now - kIdle);
  EXPECT_LE(call.idle_before, now - kIdle + 1);
}

TEST(SessionManagerTest, SweepDeletesSessionsThatExpireExactlyNow) {
  // resolve() treats now >= last_seen + idle (or created_at + absolute) as expired, and
  // the store deletes last_seen < idle_before: the bounds must include that second.
  Harness h(kNoCache);
  const std::int64_t now = kStart + 10'000;
  h.clock.set(now);
  for (auto r : {record("idle-now", now - 500, now - kIdle),
                 record("absolute-now", now - kAbsolute, now - 1)})
    h.store.sessions[r.id] = r;
  auto n = h.manager.sweep();
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(h.store.expired_calls.size(), 1u);
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(h.store.sessions.size(), 0u);
}

TEST(SessionManagerTest, CountActiveCountsExactlyWhatSweepKeeps) {
  Harness h(kNoCache);
  const std::int64_t now = kStart + 10'000;
  h.clock.set(now);
  for (auto r : {record("live", now - 10, now - 1),
                 record("idle-now", now - 500, now - kIdle),
                 record("absolute-now", now - kAbsolute, now - 1),
                 record("almost-idle", now - 500, now - kIdle + 1),
                 record("almost-absolute", now - kAbsolute + 1, now - 1)})
    h.store.sessions[r.id] = r;
  auto active = h.manager.count_active();
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(*active, 3);
  ASSERT_TRUE(h.manager.sweep().ok());
  EXPECT_EQ(h.store.sessions.size(), 3u);
}

TEST(SessionManagerTest, SweepReportsStoreFailure) {
  Harness h(kNoCache);
  h.store.fail_delete_expired = true;
  auto n = h.manager.sweep();
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code, "store.io");
}

}  // namespace
}  // namespace gatehouse::auth
