#pragma once
// Issues X-Gatehouse-Assertion for a principal and route. Signing costs tens of
// microseconds, so an assertion is reused for half its lifetime.
#include <mutex>
#include <string>
#include <unordered_map>

#include "auth/assertion.h"
#include "auth/principal.h"
#include "common/clock.h"

namespace gatehouse::auth {

class AssertionIssuer {
 public:
  AssertionIssuer(const AssertionSigner& signer, const Clock& clock, std::string issuer,
                  std::int64_t ttl_seconds);
  Result<std::string> issue(const Principal& principal, const std::string& audience);
  void sweep();

  // exp is iat + ttl, never later than the principal's end (its session's, or its
  // delegation's: an assertion never outlives the delegation it was made under).
  Claims claims_for(const Principal& principal, const std::string& audience) const;

 private:
  struct Entry {
    std::string jwt;
    std::int64_t issued_at;
  };
  const AssertionSigner& signer_;
  const Clock& clock_;
  std::string issuer_;
  std::int64_t ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;
};

}  // namespace gatehouse::auth
