#pragma once
// Requests counted per day, effective party and route (billing), with delegated ones apart.
// Counting is an in-memory addition under a short lock; flush() adds the counts gathered
// since the last flush to the store in one transaction (store::TenancyStore::add_usage adds,
// never overwrites, so several processes may count into one store). The daemon flushes every
// few seconds and once more on a graceful stop: a crash loses at most one interval.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/principal.h"
#include "common/clock.h"
#include "store/tenancy_store.h"

namespace gatehouse::tenancy {

// "YYYY-MM-DD" of a Unix time, UTC.
std::string utc_day(std::int64_t unix_seconds);

class UsageCounter {
 public:
  UsageCounter(store::TenancyStore& store, const Clock& clock);
  void count(const auth::Principal& p, const std::string& route_id);
  // Writes what was counted; on failure the counts are kept for the next flush.
  Status flush();
  std::size_t pending_rows() const;

 private:
  struct Key {
    std::string day, party, route, delegate_party;
    std::int64_t delegation = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const;
  };
  store::TenancyStore& store_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<Key, std::int64_t, KeyHash> counts_;
  std::mutex flush_mu_;  // one flush at a time
};

}  // namespace gatehouse::tenancy
