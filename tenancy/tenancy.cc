#include "tenancy/tenancy.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "common/email_address.h"
#include "common/log.h"

namespace gatehouse::tenancy {
namespace {

constexpr auto kTenantCacheTtl = std::chrono::seconds(5);

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Groups of `groups` that are superuser groups of tenant `t`.
bool in_superuser_group(const std::vector<std::string>& groups, const config::TenantConfig& t) {
  for (const auto& g : groups)
    if (contains(t.superuser_groups, g)) return true;
  return false;
}

}  // namespace

std::string user_text(const store::UserRef& user) { return user.source + ":" + user.name; }

Tenancy::Tenancy(std::shared_ptr<const config::Config> config, store::TenancyStore& store,
                 store::TenantStore& tenants, store::UserStore& users, const Clock& clock, auth::AuditSink& audit)
    : config_(std::move(config)), store_(store), tenants_(tenants), users_(users), clock_(clock), audit_(audit) {}

Status sync_configured_tenants(const config::Config& config, store::TenancyStore& store, std::int64_t now) {
  for (const auto& t : config.tenants)
    if (auto st = store.upsert_tenant({t.name, now, t.display_name, t.language}); !st) return st;
  return Ok{};
}

Status Tenancy::sync_configured_tenants() {
  if (auto st = tenancy::sync_configured_tenants(*config_, store_, clock_.now()); !st) return st;
  std::lock_guard lock(mu_);
  tenant_cache_.clear();
  return Ok{};
}

TenantInfo Tenancy::tenant(const std::string& name) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = tenant_cache_.find(name);
    if (it != tenant_cache_.end() && now - it->second.fetched < kTenantCacheTtl) return it->second.info;
  }
  TenantInfo info;
  info.name = name;
  info.display_name = name;
  if (const auto* t = config_->find_tenant(name)) {
    info.display_name = t->display_name.empty() ? name : t->display_name;
    info.language = t->language;
    info.superuser_groups = t->superuser_groups;
    info.exists = true;
  } else if (auto found = store_.find_tenant(name); found && found->has_value()) {
    const auto& rec = **found;
    if (!rec.display_name.empty()) info.display_name = rec.display_name;
    if (!rec.language.empty()) info.language = rec.language;
    info.exists = true;
  } else if (!found) {
    log::warning("tenancy.store_error", {{"error", found.error().message}});
    return info;  // not cached: the next call asks again
  }
  std::lock_guard lock(mu_);
  if (tenant_cache_.size() > 10000) tenant_cache_.clear();
  tenant_cache_[name] = CachedTenant{info, now};
  return info;
}

Status Tenancy::record_sign_in(const store::UserRef& user, const directory::Identity& identity) {
  store::KnownUser k;
  k.user = user;
  if (identity.email_verified)
    if (auto e = normal_email(identity.email)) k.email = *e;
  k.display_name = identity.display_name;
  k.real_party = identity.tenant;
  if (const auto* t = config_->find_tenant(identity.tenant); t != nullptr && in_superuser_group(identity.groups, *t))
    k.superuser_of.push_back(t->name);
  k.last_sign_in = clock_.now();
  return store_.record_sign_in(k);
}

Result<std::vector<std::string>> Tenancy::superuser_tenants(const auth::Principal& p) {
  auto named = store_.named_superuser_tenants(p.user);
  if (!named) return named.error();
  std::set<std::string> out(named->begin(), named->end());
  if (const auto* t = config_->find_tenant(p.real_party); t != nullptr && in_superuser_group(p.groups, *t))
    out.insert(t->name);
  return std::vector<std::string>(out.begin(), out.end());
}

Result<bool> Tenancy::is_superuser(const auth::Principal& p, const std::string& tenant) {
  if (const auto* t = config_->find_tenant(tenant); t != nullptr && p.real_party == tenant && in_superuser_group(p.groups, *t))
    return true;
  return store_.is_named_superuser(tenant, p.user);
}

Result<std::vector<std::string>> Tenancy::superuser_addresses(const std::string& tenant) {
  std::set<std::string> out;
  auto named = store_.list_superusers(tenant);
  if (!named) return named.error();
  for (const auto& u : *named) {
    auto known = store_.find_known_user(u);
    if (!known) return known.error();
    if (known->has_value() && !(*known)->email.empty()) {
      out.insert((*known)->email);
      continue;
    }
    // A user of a local directory who has not signed in yet: its address is in the store.
    for (const auto& d : config_->directories) {
      if (d.name != u.source || d.kind != config::DirectoryKind::local) continue;
      auto local = users_.find_user(u.name);
      if (!local) return local.error();
      if (local->has_value())
        if (auto e = normal_email((*local)->email)) out.insert(*e);
    }
  }
  // Members of the superuser groups: as their directory reported them at their latest
  // sign-in; for a local directory (the store itself) as it says now, signed in or not.
  const auto info = this->tenant(tenant);
  if (info.superuser_groups.empty()) return std::vector<std::string>(out.begin(), out.end());
  auto members = store_.group_superusers(tenant);
  if (!members) return members.error();
  for (const auto& k : *members)
    if (!k.email.empty() && k.real_party == tenant) out.insert(k.email);
  const bool local = std::any_of(config_->directories.begin(), config_->directories.end(),
                                 [](const auto& d) { return d.kind == config::DirectoryKind::local; });
  if (local) {
    auto users = users_.list_users();
    if (!users) return users.error();
    for (const auto& u : *users) {
      if (u.disabled || u.tenant != tenant) continue;
      const bool member = std::any_of(u.groups.begin(), u.groups.end(),
                                      [&](const std::string& g) { return contains(info.superuser_groups, g); });
      if (member)
        if (auto e = normal_email(u.email)) out.insert(*e);
    }
  }
  return std::vector<std::string>(out.begin(), out.end());
}

Result<store::Delegation> Tenancy::grant(const GrantRequest& r) {
  std::string why;
  auto email = normal_email(r.email, &why);
  if (!email) return make_error("tenancy.bad_email", why);
  const auto now = clock_.now();
  store::Delegation d;
  d.tenant = r.tenant;
  d.email = *email;
  d.granted_by = r.granted_by;
  d.created_at = now;
  if (r.no_end) {
    d.until = 0;
  } else if (r.until) {
    if (*r.until <= now) return make_error("tenancy.bad_until", "the end of a delegation must lie in the future");
    d.until = *r.until;
  } else {
    d.until = now + config_->delegation.default_duration.count();
  }
  const auto info = tenant(r.tenant);
  if (!info.exists) return make_error("store.no_tenant", "tenant '" + r.tenant + "' does not exist");
  // The invitation to the delegate goes with the grant, through the outbox.
  store::OutboxMessage invite;
  invite.created_at = now;
  invite.next_attempt_at = now;
  invite.recipient = d.email;
  invite.kind = "delegation.granted";
  invite.language = info.language;
  invite.payload = nlohmann::json{{"tenant", d.tenant},
                                  {"tenant_name", info.display_name},
                                  {"email", d.email},
                                  {"until", d.until},
                                  {"public_url", config_->server.public_url.origin() + "/"},
                                  {"granted_by", d.granted_by}}
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto id = store_.add_delegation(d, std::vector<store::OutboxMessage>{invite});
  if (!id) return id.error();
  d.id = *id;
  std::string detail = "delegation " + std::to_string(d.id) + " of tenant " + d.tenant + " to " + d.email + ", " +
                       (d.until == 0 ? std::string("no end") : "until " + config::format_rfc3339(d.until));
  (void)audit_.record({auth::AuditEventType::delegation_granted, r.granted_by, r.client, "", "", detail});
  (void)audit_.record({auth::AuditEventType::notification_queued, r.granted_by, r.client, "", "",
                       "invitation for delegation " + std::to_string(d.id) + " to " + d.email});
  return d;
}

Result<bool> Tenancy::revoke(std::int64_t id, const std::string& by, std::optional<IpAddress> client) {
  auto found = store_.find_delegation(id);
  if (!found) return found.error();
  if (!found->has_value()) return make_error("store.not_found", "no delegation " + std::to_string(id));
  auto changed = store_.revoke_delegation(id, by, clock_.now());
  if (!changed) return changed.error();
  if (*changed)
    (void)audit_.record({auth::AuditEventType::delegation_revoked, by, client, "", "",
                         "delegation " + std::to_string(id) + " of tenant " + (*found)->tenant + " to " +
                             (*found)->email});
  // Whoever acts through it stops now (the sweep would within a second; this is at once).
  auto choices = store_.choices_on_delegation(id);
  if (!choices) return choices.error();
  for (const auto& c : *choices) {
    auto known = store_.find_known_user(c.user);
    const std::string real = known && known->has_value() ? (*known)->real_party : std::string();
    if (auto out = switch_out(c, real, "revoked"); !out)
      log::error("tenancy.switch_out_failed", {{"user", user_text(c.user)}, {"error", out.error().message}});
  }
  return *changed;
}

Result<std::vector<Party>> Tenancy::parties(const auth::Principal& p) {
  std::vector<Party> out;
  out.push_back({p.real_party, tenant(p.real_party).display_name, 0, 0});
  if (!p.email_verified || p.email.empty()) return out;
  auto active = store_.active_delegations_for(p.email, clock_.now());
  if (!active) return active.error();
  for (const auto& d : *active) {
    if (d.tenant == p.real_party) continue;
    // Several delegations for one tenant: the one that lasts longest is offered.
    auto same = std::find_if(out.begin(), out.end(), [&](const Party& x) { return x.party == d.tenant; });
    if (same != out.end()) {
      if (same->until != 0 && (d.until == 0 || d.until > same->until)) {
        same->delegation_id = d.id;
        same->until = d.until;
      }
      continue;
    }
    out.push_back({d.tenant, tenant(d.tenant).display_name, d.id, d.until});
  }
  return out;
}

store::OutboxMessage Tenancy::switch_message(const std::string& recipient, const TenantInfo& tenant,
                                             const store::UserRef& user, const store::KnownUser* known,
                                             const auth::Principal* p, bool in, bool automatic,
                                             std::int64_t delegation_id, const std::string& reason) const {
  store::OutboxMessage m;
  m.created_at = clock_.now();
  m.next_attempt_at = m.created_at;
  m.recipient = recipient;
  m.kind = "party.switched";
  m.language = tenant.language;
  const std::string display = p ? p->display_name : known ? known->display_name : user.name;
  const std::string email = p ? p->email : known ? known->email : std::string();
  const std::string real = p ? p->real_party : known ? known->real_party : std::string();
  m.payload = nlohmann::json{{"direction", in ? "in" : "out"},
                             {"automatic", automatic},
                             {"user", user_text(user)},
                             {"display_name", display},
                             {"email", email},
                             {"real_party", real},
                             {"real_party_name", p ? p->real_party_name : real},
                             {"tenant", tenant.name},
                             {"tenant_name", tenant.display_name},
                             {"delegation_id", delegation_id},
                             {"at", m.created_at},
                             {"reason", reason}}
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return m;
}

std::vector<store::OutboxMessage> Tenancy::switch_messages(const std::string& tenant_name,
                                                           const store::UserRef& user, const auth::Principal* p,
                                                           bool in, bool automatic, std::int64_t delegation_id,
                                                           const std::string& reason) {
  std::vector<store::OutboxMessage> out;
  const auto info = tenant(tenant_name);
  auto addresses = superuser_addresses(tenant_name);
  if (!addresses) {
    log::error("tenancy.superusers_unreadable", {{"tenant", tenant_name}, {"error", addresses.error().message}});
    return out;
  }
  if (addresses->empty()) log::warning("tenancy.no_superuser_address", {{"tenant", tenant_name}});
  std::optional<store::KnownUser> known;
  if (p == nullptr)
    if (auto k = store_.find_known_user(user); k && k->has_value()) known = **k;
  for (const auto& a : *addresses)
    out.push_back(switch_message(a, info, user, known ? &*known : nullptr, p, in, automatic, delegation_id, reason));
  return out;
}

void Tenancy::audit_switch(const store::UserRef& user, const std::string& from, const std::string& to,
                           std::int64_t delegation_id, bool automatic, const std::string& reason,
                           std::optional<IpAddress> client, std::size_t notifications) {
  std::string detail = "from " + from + " to " + to + ", delegation " + std::to_string(delegation_id) +
                       (automatic ? ", automatic (" + reason + ")" : std::string());
  (void)audit_.record({auth::AuditEventType::party_switched, user.name, client, user.source, "", detail});
  if (notifications > 0)
    (void)audit_.record({auth::AuditEventType::notification_queued, user.name, client, user.source, "",
                         std::to_string(notifications) + " e-mail(s) to superusers about delegation " +
                             std::to_string(delegation_id)});
}

Result<SwitchResult> Tenancy::switch_party(const auth::Principal& p, const std::string& party,
                                           std::optional<IpAddress> client) {
  const auto now = clock_.now();
  std::int64_t delegation_id = 0;
  std::string target = p.real_party;
  if (party != p.real_party) {
    auto offered = parties(p);
    if (!offered) return offered.error();
    auto it = std::find_if(offered->begin(), offered->end(), [&](const Party& x) { return x.party == party; });
    if (it == offered->end()) return SwitchResult::forbidden;
    delegation_id = it->delegation_id;
    target = it->party;
  }
  if (target == p.effective_party && delegation_id == p.delegation_id) return SwitchResult::unchanged;

  store::PartySwitch change;
  change.expected_delegation_id = p.delegation_id;
  change.next = {p.user, target, delegation_id, now, "switched"};
  // Out of the tenant acted for until now, into the new one: each told separately.
  if (p.delegation_id != 0) {
    auto out = switch_messages(p.effective_party, p.user, &p, false, false, p.delegation_id, "");
    change.notifications.insert(change.notifications.end(), out.begin(), out.end());
  }
  if (delegation_id != 0) {
    auto in = switch_messages(target, p.user, &p, true, false, delegation_id, "");
    change.notifications.insert(change.notifications.end(), in.begin(), in.end());
    change.activity.push_back({delegation_id, p.user, p.email, p.real_party, now, 0});
  }
  if (p.delegation_id != 0)
    change.activity.push_back({p.delegation_id, p.user, p.email, p.real_party, 0, now});
  auto done = store_.switch_party(change);
  if (!done) return done.error();
  if (!*done) return SwitchResult::unchanged;  // changed by another request meanwhile
  audit_switch(p.user, p.effective_party, target, delegation_id != 0 ? delegation_id : p.delegation_id, false, "",
               client, change.notifications.size());
  return SwitchResult::switched;
}

Result<bool> Tenancy::switch_out(const store::PartyChoice& choice, const std::string& real_party,
                                 const std::string& reason) {
  const auto now = clock_.now();
  store::PartySwitch change;
  change.expected_delegation_id = choice.delegation_id;
  change.next = {choice.user, real_party, 0, now, "ended"};
  change.notifications = switch_messages(choice.party, choice.user, nullptr, false, true, choice.delegation_id, reason);
  auto known = store_.find_known_user(choice.user);
  change.activity.push_back({choice.delegation_id, choice.user,
                             known && known->has_value() ? (*known)->email : std::string(), real_party, 0, now});
  auto done = store_.switch_party(change);
  if (!done) return done.error();
  if (!*done) return false;
  audit_switch(choice.user, choice.party, real_party.empty() ? std::string("own tenant") : real_party,
               choice.delegation_id, true, reason, std::nullopt, change.notifications.size());
  return true;
}

Result<std::int64_t> Tenancy::sweep() {
  const auto now = clock_.now();
  auto expired = store_.take_newly_expired(now);
  if (!expired) return expired.error();
  for (const auto& d : *expired)
    (void)audit_.record({auth::AuditEventType::delegation_expired, d.granted_by, std::nullopt, "", "",
                         "delegation " + std::to_string(d.id) + " of tenant " + d.tenant + " to " + d.email +
                             " ended at " + config::format_rfc3339(d.until)});
  auto ended = store_.choices_on_ended_delegations(now);
  if (!ended) return ended.error();
  std::int64_t n = 0;
  for (const auto& c : *ended) {
    auto d = store_.find_delegation(c.delegation_id);
    std::string reason = "expired";
    if (d && d->has_value() && (*d)->revoked_at != 0) reason = "revoked";
    auto known = store_.find_known_user(c.user);
    const std::string real = known && known->has_value() ? (*known)->real_party : std::string();
    auto out = switch_out(c, real, reason);
    if (!out) return out.error();
    if (*out) ++n;
  }
  return n;
}

}  // namespace gatehouse::tenancy
