#include "auth/assertion_issuer.h"

#include <algorithm>

namespace gatehouse::auth {

AssertionIssuer::AssertionIssuer(const AssertionSigner& signer, const Clock& clock,
                                 std::string issuer, std::int64_t ttl_seconds)
    : signer_(signer), clock_(clock), issuer_(std::move(issuer)), ttl_(ttl_seconds) {}

Claims AssertionIssuer::claims_for(const Principal& p, const std::string& audience) const {
  Claims c;
  c.issuer = issuer_;
  c.audience = audience;
  c.subject = p.user.name;
  c.source = p.user.source;
  c.email = p.email;
  c.name = p.display_name;
  c.groups = p.groups;
  c.roles = p.roles;
  c.real_party = p.real_party;
  c.effective_party = p.effective_party;
  c.delegation = p.delegation_text();
  c.delegation_until = p.delegation_until;
  c.issued_at = clock_.now();
  c.expires_at = c.issued_at + ttl_;
  if (p.delegation_until != 0) c.expires_at = std::min(c.expires_at, p.delegation_until);
  return c;
}

Result<std::string> AssertionIssuer::issue(const Principal& p, const std::string& audience) {
  // The key covers every claim the assertion makes (all but its times), each with its
  // length in front so no two different sets of claims can read alike: after a refresh
  // or a switch changes anything, the headers and the signed claims still agree.
  std::string key;
  auto add = [&key](std::string_view v) {
    key += std::to_string(v.size());
    key += ':';
    key += v;
  };
  add(p.session_id);
  add(audience);
  add(p.user.source);
  add(p.user.name);
  add(p.email);
  add(p.display_name);
  key += std::to_string(p.groups.size());
  for (const auto& g : p.groups) add(g);
  key += std::to_string(p.roles.size());
  for (const auto& r : p.roles) add(r);
  add(p.real_party);
  add(p.effective_party);
  add(std::to_string(p.delegation_id));
  add(std::to_string(p.delegation_until));
  const auto now = clock_.now();
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && now - it->second.issued_at < ttl_ / 2) return it->second.jwt;
  }
  auto jwt = signer_.sign(claims_for(p, audience));
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
