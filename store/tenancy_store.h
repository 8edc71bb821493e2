#pragma once
// Storage of the tenancy model: superusers, users as last seen at sign-in, delegations,
// each user's choice of effective party, the notification outbox and usage counts.
// A user is the directory or provider it signs in through plus its name there (UserRef):
// two directories that both know an "alice" are two users, and nothing here mixes them.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace gatehouse::store {

struct UserRef {
  std::string source;  // directory or provider name
  std::string name;    // the user's name there, as the source reports it
  friend bool operator==(const UserRef&, const UserRef&) = default;
};

// A user as of its latest sign-in (or OpenID refresh): what gatehouse needs to reach it
// when it is not signed in (e-mails to superusers, a delegation's overview).
struct KnownUser {
  UserRef user;
  std::string email;           // "" when the source reports none or an unverified one
  std::string display_name;
  std::string real_party;
  // Tenants whose superuser_groups the user was in at that sign-in (its groups as the
  // source reported them), sorted.
  std::vector<std::string> superuser_of;
  std::int64_t last_sign_in = 0;
};

struct Delegation {
  std::int64_t id = 0;       // assigned by the store, increasing, never reused
  std::string tenant;        // the delegating tenant (the effective party it gives)
  std::string email;         // the delegate's address, stored lower-cased (ASCII)
  std::string granted_by;    // "source:name" of a superuser, or "cli"
  std::int64_t created_at = 0;
  std::int64_t until = 0;    // 0: no end
  std::int64_t revoked_at = 0;  // 0: not revoked
  std::string revoked_by;
  bool expiry_recorded = false;  // delegation.expired was audited (once)
};

enum class DelegationState { active, expired, revoked };
// revoked beats expired; a delegation with until <= now is expired.
inline DelegationState delegation_state(const Delegation& d, std::int64_t now) {
  if (d.revoked_at != 0) return DelegationState::revoked;
  if (d.until != 0 && d.until <= now) return DelegationState::expired;
  return DelegationState::active;
}

struct DelegationQuery {
  std::string tenant;  // "" = any
  std::string email;   // "" = any; compared case-insensitively
};

// What a user acts for. delegation_id 0: its own tenant (the real party).
struct PartyChoice {
  UserRef user;
  std::string party;
  std::int64_t delegation_id = 0;
  std::int64_t chosen_at = 0;
  // A one-time notice for the user's next page: "" none, "switched" (it just chose
  // another organisation), "ended" (the delegation it acted through ended).
  std::string notice;
};

// A choice with the delegation it rests on, read in one statement.
struct PartyChoiceView {
  PartyChoice choice;
  std::optional<Delegation> delegation;  // empty when delegation_id is 0 or the row is gone
};

// One e-mail waiting in the outbox. The payload is rendered into text by the sender, in
// `language`, at delivery time.
struct OutboxMessage {
  std::int64_t id = 0;        // assigned by the store
  std::int64_t created_at = 0;
  std::string recipient;      // an e-mail address
  std::string kind;           // "party.switched", "delegation.granted"
  std::string language;       // "en", "nl", "de", "it"
  std::string payload;        // JSON object, never a secret
  std::int64_t attempts = 0;
  std::int64_t next_attempt_at = 0;
  std::string last_error;     // "" when not tried yet
  std::int64_t sent_at = 0;   // 0 while pending
};

struct OutboxStats {
  std::int64_t pending = 0;
  std::int64_t oldest_created_at = 0;  // 0 when none is pending
};

// Who acted for a tenant through a delegation (the delegations page).
struct DelegationActivity {
  std::int64_t delegation_id = 0;
  UserRef user;
  std::string email;
  std::string real_party;
  std::int64_t last_switch_in = 0;
  std::int64_t last_switch_out = 0;  // 0 while acting, or never left
};

// The switch: one transaction. The choice is replaced only while the stored one still
// rests on `expected_delegation_id` (-1: whatever it is; 0: the own tenant or no row),
// so two processes that both see a delegation end switch the user out once; the outbox
// messages and the activity row are written in the same transaction or not at all.
struct PartySwitch {
  PartyChoice next;
  std::int64_t expected_delegation_id = -1;
  std::vector<OutboxMessage> notifications;
  std::vector<DelegationActivity> activity;  // each upserted by (delegation_id, user); 0 times keep the stored one
};

struct UsageRow {
  std::string day;               // "YYYY-MM-DD" (UTC)
  std::string effective_party;
  std::string route;             // route id
  std::int64_t delegation_id = 0;   // 0: not delegated
  std::string delegate_real_party;  // the delegate's own tenant; "" when not delegated
  std::int64_t requests = 0;
};

struct UsageQuery {
  std::string tenant;  // effective party; "" = any
  std::string since_day;  // inclusive, "" = from the start
  std::string until_day;  // inclusive, "" = to the end
};

struct UsageReportRow {
  std::string day;
  std::string effective_party;
  std::string route;
  std::int64_t requests = 0;            // all requests, delegated ones included
  std::int64_t delegated_requests = 0;  // of which through a delegation
};

struct DelegationUsage {
  std::int64_t delegation_id = 0;
  std::string route;
  std::int64_t requests = 0;
};

class TenancyStore {
 public:
  virtual ~TenancyStore() = default;

  // --- tenants (the rest is TenantStore) ---
  virtual Result<std::optional<Tenant>> find_tenant(const std::string& name) = 0;
  // A [[tenant]] table of the configuration: added when absent, else its display name and
  // language are replaced (created_at is kept).
  virtual Status upsert_tenant(const Tenant& tenant) = 0;

  // --- superusers named by an administrator ---
  // error "store.no_tenant" for an unknown tenant; false when already present
  virtual Result<bool> add_superuser(const std::string& tenant, const UserRef& user, std::int64_t at) = 0;
  // false when it was not a superuser
  virtual Result<bool> remove_superuser(const std::string& tenant, const UserRef& user) = 0;
  virtual Result<std::vector<UserRef>> list_superusers(const std::string& tenant) = 0;  // by source, name
  virtual Result<bool> is_named_superuser(const std::string& tenant, const UserRef& user) = 0;
  virtual Result<std::vector<std::string>> named_superuser_tenants(const UserRef& user) = 0;  // sorted

  // --- users as of their latest sign-in ---
  virtual Status record_sign_in(const KnownUser& user) = 0;  // insert or replace
  virtual Result<std::optional<KnownUser>> find_known_user(const UserRef& user) = 0;
  // Known users whose superuser_of holds `tenant`, by source, name.
  virtual Result<std::vector<KnownUser>> group_superusers(const std::string& tenant) = 0;

  // --- delegations ---
  // Returns the id; error "store.no_tenant" for an unknown tenant. `messages` (the
  // invitation) are written to the outbox in the same transaction.
  virtual Result<std::int64_t> add_delegation(const Delegation& delegation,
                                              std::span<const OutboxMessage> messages = {}) = 0;
  virtual Result<std::optional<Delegation>> find_delegation(std::int64_t id) = 0;
  virtual Result<std::vector<Delegation>> list_delegations(const DelegationQuery& query) = 0;  // newest first
  // Active at `now` for this address (case-insensitive), by tenant then id.
  virtual Result<std::vector<Delegation>> active_delegations_for(const std::string& email, std::int64_t now) = 0;
  // false when it was revoked already; error "store.not_found" for an unknown id.
  virtual Result<bool> revoke_delegation(std::int64_t id, const std::string& by, std::int64_t at) = 0;
  // Delegations that ended (until <= now, not revoked) whose expiry was not recorded yet;
  // marks them recorded in the same transaction, so each is returned once.
  virtual Result<std::vector<Delegation>> take_newly_expired(std::int64_t now) = 0;

  // --- the effective party ---
  virtual Result<std::optional<PartyChoiceView>> find_party_choice(const UserRef& user) = 0;
  // Users whose choice rests on `delegation_id` (to switch them out when it ends).
  virtual Result<std::vector<PartyChoice>> choices_on_delegation(std::int64_t delegation_id) = 0;
  // Users whose choice rests on a delegation that is revoked or ended at `now`.
  virtual Result<std::vector<PartyChoice>> choices_on_ended_delegations(std::int64_t now) = 0;
  // false (and nothing written) when the stored choice no longer rests on
  // expected_delegation_id.
  virtual Result<bool> switch_party(const PartySwitch& change) = 0;
  // Clears the notice only if it is still `notice` (shown once, across devices).
  virtual Status clear_party_notice(const UserRef& user, const std::string& notice) = 0;
  virtual Result<std::vector<DelegationActivity>> delegation_activity(const std::string& tenant) = 0;

  // --- the outbox (each message sent once, also with several processes) ---
  // Claims up to `limit` messages due at `now` (pending, next_attempt_at <= now, not
  // claimed by a lease still running) by setting their lease to `lease_until`.
  virtual Result<std::vector<OutboxMessage>> claim_outbox(std::int64_t now, std::int64_t lease_until,
                                                          std::int64_t limit) = 0;
  virtual Status outbox_sent(std::int64_t id, std::int64_t at) = 0;
  virtual Status outbox_failed(std::int64_t id, const std::string& error, std::int64_t next_attempt_at) = 0;
  virtual Result<std::vector<OutboxMessage>> list_outbox_pending() = 0;  // oldest first
  virtual Result<OutboxStats> outbox_stats() = 0;
  // Sent messages older than `before` are deleted; returns how many.
  virtual Result<std::int64_t> prune_outbox(std::int64_t before) = 0;

  // --- usage ---
  // Adds each row's requests to its counter (never overwrites), in one transaction.
  virtual Status add_usage(std::span<const UsageRow> rows) = 0;
  // By day, effective party, route.
  virtual Result<std::vector<UsageReportRow>> usage_report(const UsageQuery& query) = 0;
  // Requests per delegation of `tenant` and route.
  virtual Result<std::vector<DelegationUsage>> delegation_usage(const std::string& tenant) = 0;
};

}  // namespace gatehouse::store
