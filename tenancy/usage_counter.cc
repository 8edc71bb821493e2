#include "tenancy/usage_counter.h"

#include <ctime>
#include <functional>

namespace gatehouse::tenancy {

std::string utc_day(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::size_t UsageCounter::KeyHash::operator()(const Key& k) const {
  std::hash<std::string> h;
  std::size_t v = h(k.day);
  for (const std::string* s : {&k.party, &k.route, &k.delegate_party}) v = v * 1000003u ^ h(*s);
  return v * 1000003u ^ std::hash<std::int64_t>()(k.delegation);
}

UsageCounter::UsageCounter(store::TenancyStore& store, const Clock& clock) : store_(store), clock_(clock) {}

void UsageCounter::count(const auth::Principal& p, const std::string& route_id) {
  // The day's text is made once a day per thread, not per request (Unix time has no leap
  // seconds: a day is 86400 of them).
  thread_local std::int64_t day_number = -1;
  thread_local std::string day_text;
  const std::int64_t now = clock_.now();
  const std::int64_t day = now >= 0 ? now / 86400 : -1 - (-now - 1) / 86400;
  if (day != day_number) {
    day_text = utc_day(now);
    day_number = day;
  }
  Key k{day_text, p.effective_party, route_id, p.delegated() ? p.real_party : std::string(), p.delegation_id};
  std::lock_guard lock(mu_);
  ++counts_[std::move(k)];
}

std::size_t UsageCounter::pending_rows() const {
  std::lock_guard lock(mu_);
  return counts_.size();
}

Status UsageCounter::flush() {
  std::lock_guard one(flush_mu_);
  std::unordered_map<Key, std::int64_t, KeyHash> taken;
  {
    std::lock_guard lock(mu_);
    taken.swap(counts_);
  }
  if (taken.empty()) return Ok{};
  std::vector<store::UsageRow> rows;
  rows.reserve(taken.size());
  for (const auto& [k, n] : taken) rows.push_back({k.day, k.party, k.route, k.delegation, k.delegate_party, n});
  auto st = store_.add_usage(rows);
  if (!st) {
    // Nothing was added (one transaction): put the counts back for the next try.
    std::lock_guard lock(mu_);
    for (auto& [k, n] : taken) counts_[k] += n;
  }
  return st;
}

}  // namespace gatehouse::tenancy
