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
  // The key covers every claim the assertion makes (all but its times), each with its
  // length in front so no two different sets of claims can read alike: after a refresh
  // changes the groups, e-mail or name, the headers and the signed claims still agree.
  std::string key;
  auto add = [&key](std::string_view v) {
    key += std::to_string(v.size());
    key += ':';
    key += v;
  };
  add(s.id);
  add(audience);
  add(s.user);
  add(s.email);
  add(s.display_name);
  key += std::to_string(s.groups.size());
  for (const auto& g : s.groups) add(g);
  add(s.real_party);
  add(s.effective_party);
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
