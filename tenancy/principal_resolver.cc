#include "tenancy/principal_resolver.h"

#include <mutex>

#include "common/email_address.h"
#include "common/log.h"

namespace gatehouse::tenancy {

PrincipalResolver::PrincipalResolver(Tenancy& tenancy, store::TenancyStore& store, const Clock& clock,
                                     std::chrono::milliseconds ttl)
    : tenancy_(tenancy), store_(store), clock_(clock), ttl_(ttl) {}

std::string PrincipalResolver::key_of(const store::UserRef& u) {
  std::string k = std::to_string(u.source.size());
  k += ':';
  k += u.source;
  k += u.name;
  return k;
}

auth::Principal PrincipalResolver::base_of(const store::SessionRecord& s, std::int64_t expires_at, bool bearer) {
  auth::Principal p;
  p.user = {s.source, s.user};
  p.email = s.email;
  // Compared with a delegation's address (stored in its normal form) without regard to case.
  p.email_verified = s.email_verified && !s.email.empty();
  p.display_name = s.display_name;
  p.groups = s.groups;
  p.real_party = s.real_party;
  p.effective_party = s.real_party;
  p.session_id = bearer ? std::string() : s.id;
  p.expires_at = expires_at;
  p.bearer = bearer;
  return p;
}

PrincipalResolver::Verdict PrincipalResolver::judge(const auth::Principal& p,
                                                    const std::optional<store::PartyChoiceView>& view,
                                                    std::string* reason) const {
  if (!view || view->choice.delegation_id == 0) return Verdict::own;
  const auto& d = view->delegation;
  if (!d) {
    *reason = "revoked";
    return Verdict::ended;
  }
  switch (store::delegation_state(*d, clock_.now())) {
    case store::DelegationState::revoked:
      *reason = "revoked";
      return Verdict::ended;
    case store::DelegationState::expired:
      *reason = "expired";
      return Verdict::ended;
    case store::DelegationState::active:
      break;
  }
  // The delegation is for an address: it reaches the user only while the source still
  // vouches for that address, and never makes a user act for its own tenant "delegated".
  if (!p.email_verified || !email_equal(p.email, d->email) || d->tenant != view->choice.party ||
      d->tenant == p.real_party) {
    *reason = "not_reached";
    return Verdict::ended;
  }
  return Verdict::delegated;
}

void PrincipalResolver::apply(auth::Principal& p, const std::optional<store::PartyChoiceView>& view,
                              Verdict verdict) {
  if (view) p.notice = view->choice.notice;
  if (verdict == Verdict::delegated) {
    const auto& d = *view->delegation;
    p.effective_party = d.tenant;
    p.delegation_id = d.id;
    p.delegation_until = d.until;
    if (d.until != 0 && (p.expires_at == 0 || d.until < p.expires_at)) p.expires_at = d.until;
  }
}

void PrincipalResolver::name_parties(auth::Principal& p) {
  p.real_party_name = tenancy_.tenant(p.real_party).display_name;
  p.effective_party_name =
      p.effective_party == p.real_party ? p.real_party_name : tenancy_.tenant(p.effective_party).display_name;
}

std::optional<auth::Principal> PrincipalResolver::resolve_cached(const store::SessionRecord& s,
                                                                 std::int64_t expires_at, bool bearer) {
  auth::Principal p = base_of(s, expires_at, bearer);
  std::optional<store::PartyChoiceView> view;
  {
    std::shared_lock lock(mu_);
    auto it = cache_.find(key_of(p.user));
    if (it == cache_.end() || std::chrono::steady_clock::now() - it->second.fetched >= ttl_) return std::nullopt;
    view = it->second.view;
  }
  std::string reason;
  const Verdict v = judge(p, view, &reason);
  if (v == Verdict::ended) return std::nullopt;  // the switch out is a write: resolve() does it
  apply(p, view, v);
  return p;
}

Result<auth::Principal> PrincipalResolver::resolve(const store::SessionRecord& s, std::int64_t expires_at,
                                                   bool bearer) {
  auth::Principal p = base_of(s, expires_at, bearer);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto found = store_.find_party_choice(p.user);
    if (!found) return found.error();
    std::optional<store::PartyChoiceView> view = std::move(*found);
    std::string reason;
    const Verdict v = judge(p, view, &reason);
    if (v == Verdict::ended) {
      // Back to the own tenant: told once, the tenant's superusers e-mailed. Another
      // process may do it at the same moment; then read again.
      auto out = tenancy_.switch_out(view->choice, p.real_party, reason);
      if (!out) return out.error();
      continue;
    }
    {
      std::unique_lock lock(mu_);
      if (cache_.size() > 100000) cache_.clear();
      cache_[key_of(p.user)] = Entry{view, std::chrono::steady_clock::now()};
    }
    apply(p, view, v);
    return p;
  }
  return make_error("tenancy.unsettled", "the user's organisation kept changing while it was read");
}

void PrincipalResolver::forget(const store::UserRef& user) {
  std::unique_lock lock(mu_);
  cache_.erase(key_of(user));
}

}  // namespace gatehouse::tenancy
