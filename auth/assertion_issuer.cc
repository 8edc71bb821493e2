#include "auth/assertion_issuer.h"

namespace gatehouse::auth {

AssertionIssuer::AssertionIssuer(const AssertionSigner& signer, const Clock& clock,
                                 std::string issuer, std::int64_t ttl_seconds)
    : signer_(signer), clock_(clock), issuer_(std::move(issuer)), ttl_(ttl_seconds) {}

Claims AssertionIssuer::claims_for(const store::SessionRecord& s, const std::string& audience) const {
  Claims c;
  c.issuer = issuer_;
  c.audience = audience;
  c.subject = s.user;
  c.email = s.email;
  c.name = s.display_name;
  c.groups = s.groups;
  c.real_party = s.real_party;
  c.effective_party = s.effective_party;
  c.issued_at = clock_.now();
  c.expires_at = c.issued_at + ttl_;
  return c;
}

Result<std::string> AssertionIssuer::issue(const store::SessionRecord& s, const std::string& audience) {
  // The key covers everything that goes into the claims and may change during a session.
  std::string key = s.id;
  key += '\0';
  key += audience;
  key += '\0';
  key += s.effective_party;
  const auto now = clock_.now();
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && now - it->second.issued_at < ttl_ / 2) return it->second.jwt;
  }
  auto jwt = signer_.sign(claims_for(s, audience));
  if (!jwt) return jwt;
  std::lock_guard lock(mu_);
  cache_[key] = Entry{*jwt, now};
  return jwt;
}

void AssertionIssuer::sweep() {
  const auto now = clock_.now();
  std::lock_guard lock(mu_);
  std::erase_if(cache_, [&](const auto& kv) { return now - kv.second.issued_at >= ttl_ / 2; });
}

}  // namespace gatehouse::auth
