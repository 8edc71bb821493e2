// SqliteStore's TenancyStore: superusers, known users, delegations, the effective party,
// the outbox and usage (tables of migrations/0005_tenancy.sql).
// Every method holds impl_->mu for its whole run. Those that write more than one
// statement use Impl::write, which becomes a savepoint inside a batch of run_batch.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/sqlite_impl.h"
#include "store/sqlite_store.h"

namespace gatehouse::store {

using sqlite_detail::ascii_lower;
using sqlite_detail::io_error;
using sqlite_detail::join_groups;
using sqlite_detail::Query;
using sqlite_detail::split_groups;

namespace {

// A day past every "YYYY-MM-DD": the open end of a usage query.
constexpr std::string_view kLastDay = "9999-99-99";

bool is_foreign_key_violation(sqlite3* db) {
  return sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_FOREIGNKEY;
}

Error no_tenant(const std::string& tenant) {
  return make_error("store.no_tenant", "tenant '" + tenant + "' does not exist");
}

// The column lists below are macros so that they join the statements' literals (the
// statement cache keys on the literal's text). Readers take them in this order.
#define GH_DELEGATION_COLUMNS \
  "id, tenant, email, granted_by, created_at, ends_at, revoked_at, revoked_by, expiry_recorded"

Delegation read_delegation(const Query& q, int first = 0) {
  Delegation d;
  d.id = q.column_int64(first + 0);
  d.tenant = q.column_text(first + 1);
  d.email = q.column_text(first + 2);
  d.granted_by = q.column_text(first + 3);
  d.created_at = q.column_int64(first + 4);
  d.until = q.column_int64(first + 5);
  d.revoked_at = q.column_int64(first + 6);
  d.revoked_by = q.column_text(first + 7);
  d.expiry_recorded = q.column_int64(first + 8) != 0;
  return d;
}

#define GH_CHOICE_COLUMNS "source, name, party, delegation_id, chosen_at, notice"

PartyChoice read_choice(const Query& q) {
  PartyChoice c;
  c.user.source = q.column_text(0);
  c.user.name = q.column_text(1);
  c.party = q.column_text(2);
  c.delegation_id = q.column_int64(3);
  c.chosen_at = q.column_int64(4);
  c.notice = q.column_text(5);
  return c;
}

#define GH_KNOWN_USER_COLUMNS \
  "source, name, email, display_name, real_party, superuser_of, last_sign_in"

KnownUser read_known_user(const Query& q) {
  KnownUser u;
  u.user.source = q.column_text(0);
  u.user.name = q.column_text(1);
  u.email = q.column_text(2);
  u.display_name = q.column_text(3);
  u.real_party = q.column_text(4);
  u.superuser_of = split_groups(q.column_text(5));
  u.last_sign_in = q.column_int64(6);
  return u;
}

#define GH_OUTBOX_COLUMNS                                                                   \
  "id, created_at, recipient, kind, language, payload, attempts, next_attempt_at, last_error, " \
  "sent_at"

OutboxMessage read_message(const Query& q) {
  OutboxMessage m;
  m.id = q.column_int64(0);
  m.created_at = q.column_int64(1);
  m.recipient = q.column_text(2);
  m.kind = q.column_text(3);
  m.language = q.column_text(4);
  m.payload = q.column_text(5);
  m.attempts = q.column_int64(6);
  m.next_attempt_at = q.column_int64(7);
  m.last_error = q.column_text(8);
  m.sent_at = q.column_int64(9);
  return m;
}

}  // namespace

// Helpers shared by the tenancy methods; each expects impl_->mu held.
struct SqliteStore::TenancySql {
  Impl& d;

  // Runs q to the end, appending read(q) for each row.
  template <class T, class Read>
  Status collect(Query& q, std::vector<T>& out, Read read, std::string_view what) {
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) out.push_back(read(q));
    if (rc != SQLITE_DONE) return io_error(d.db, what);
    return Ok{};
  }

  // The single row of q, or nothing.
  template <class Read>
  auto one(Query& q, Read read, std::string_view what)
      -> Result<std::optional<decltype(read(q))>> {
    using T = decltype(read(q));
    const int rc = q.step();
    if (rc == SQLITE_DONE) return std::optional<T>();
    if (rc != SQLITE_ROW) return io_error(d.db, what);
    return std::optional<T>(read(q));
  }

  // A statement that returns no rows; returns the number of rows it changed.
  Result<std::int64_t> done(Query& q, std::string_view what) {
    if (q.step() != SQLITE_DONE) return io_error(d.db, what);
    return static_cast<std::int64_t>(sqlite3_changes(d.db));
  }

  Result<std::vector<Delegation>> delegations(Query& q, std::string_view what) {
    std::vector<Delegation> out;
    if (auto s = collect(q, out, [](const Query& r) { return read_delegation(r); }, what); !s)
      return s.error();
    return out;
  }

  Result<std::vector<PartyChoice>> choices(Query& q, std::string_view what) {
    std::vector<PartyChoice> out;
    if (auto s = collect(q, out, read_choice, what); !s) return s.error();
    return out;
  }

  Status insert_outbox(const OutboxMessage& m) {
    auto stmt = d.prepare(
        "INSERT INTO outbox (created_at, recipient, kind, language, payload, attempts, "
        "next_attempt_at, last_error, sent_at, lease_until) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)");
    if (!stmt) return stmt.error();
    Query q(*stmt);
    q.int64(1, m.created_at)
        .text(2, m.recipient)
        .text(3, m.kind)
        .text(4, m.language)
        .text(5, m.payload)
        .int64(6, m.attempts)
        .int64(7, m.next_attempt_at)
        .text(8, m.last_error)
        .int64(9, m.sent_at);
    if (auto n = done(q, "queue e-mail"); !n) return n.error();
    return Ok{};
  }

  // A stored time is kept where the new one is 0.
  Status upsert_activity(const DelegationActivity& a) {
    auto stmt = d.prepare(
        "INSERT INTO delegation_activity (delegation_id, source, name, email, real_party, "
        "last_switch_in, last_switch_out) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT (delegation_id, source, name) DO UPDATE SET "
        "email = excluded.email, real_party = excluded.real_party, "
        "last_switch_in = CASE WHEN excluded.last_switch_in = 0 THEN last_switch_in "
        "ELSE excluded.last_switch_in END, "
        "last_switch_out = CASE WHEN excluded.last_switch_out = 0 THEN last_switch_out "
        "ELSE excluded.last_switch_out END");
    if (!stmt) return stmt.error();
    Query q(*stmt);
    q.int64(1, a.delegation_id)
        .text(2, a.user.source)
        .text(3, a.user.name)
        .text(4, a.email)
        .text(5, a.real_party)
        .int64(6, a.last_switch_in)
        .int64(7, a.last_switch_out);
    if (q.step() != SQLITE_DONE) {
      if (is_foreign_key_violation(d.db))
        return make_error("store.not_found",
                          "no delegation " + std::to_string(a.delegation_id) + " for its activity");
      return io_error(d.db, "record delegation activity");
    }
    return Ok{};
  }
};

// --- tenants ---------------------------------------------------------------------

Result<std::optional<Tenant>> SqliteStore::find_tenant(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt =
      d.prepare("SELECT name, created_at, display_name, language FROM tenants WHERE name = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, name);
  return sql.one(
      q,
      [](const Query& r) {
        return Tenant{r.column_text(0), r.column_int64(1), r.column_text(2), r.column_text(3)};
      },
      "find tenant");
}

Status SqliteStore::upsert_tenant(const Tenant& tenant) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "INSERT INTO tenants (name, created_at, display_name, language) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, "
      "language = excluded.language");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant.name)
      .int64(2, tenant.created_at)
      .text(3, tenant.display_name)
      .text(4, tenant.language);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "upsert tenant");
  return Ok{};
}

// --- superusers --------------------------------------------------------------------

Result<bool> SqliteStore::add_superuser(const std::string& tenant, const UserRef& user,
                                        std::int64_t at) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "INSERT INTO tenant_superusers (tenant, source, name, added_at) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (tenant, source, name) DO NOTHING");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant).text(2, user.source).text(3, user.name).int64(4, at);
  if (q.step() != SQLITE_DONE) {
    if (is_foreign_key_violation(d.db)) return no_tenant(tenant);
    return io_error(d.db, "add superuser");
  }
  return sqlite3_changes(d.db) > 0;
}

Result<bool> SqliteStore::remove_superuser(const std::string& tenant, const UserRef& user) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt =
      d.prepare("DELETE FROM tenant_superusers WHERE tenant = ?1 AND source = ?2 AND name = ?3");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant).text(2, user.source).text(3, user.name);
  auto n = sql.done(q, "remove superuser");
  if (!n) return n.error();
  return *n > 0;
}

Result<std::vector<UserRef>> SqliteStore::list_superusers(const std::string& tenant) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt = d.prepare(
      "SELECT source, name FROM tenant_superusers WHERE tenant = ?1 ORDER BY source, name");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant);
  std::vector<UserRef> out;
  if (auto s = sql.collect(
          q, out, [](const Query& r) { return UserRef{r.column_text(0), r.column_text(1)}; },
          "list superusers");
      !s)
    return s.error();
  return out;
}

Result<bool> SqliteStore::is_named_superuser(const std::string& tenant, const UserRef& user) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "SELECT 1 FROM tenant_superusers WHERE tenant = ?1 AND source = ?2 AND name = ?3");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant).text(2, user.source).text(3, user.name);
  const int rc = q.step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return io_error(d.db, "find superuser");
}

Result<std::vector<std::string>> SqliteStore::named_superuser_tenants(const UserRef& user) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt = d.prepare(
      "SELECT tenant FROM tenant_superusers WHERE source = ?1 AND name = ?2 ORDER BY tenant");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, user.source).text(2, user.name);
  std::vector<std::string> out;
  if (auto s = sql.collect(
          q, out, [](const Query& r) { return r.column_text(0); }, "list superuser tenants");
      !s)
    return s.error();
  return out;
}

// --- known users -------------------------------------------------------------------

Status SqliteStore::record_sign_in(const KnownUser& user) {
  // A set: sorted (byte order), duplicates dropped, as it is returned.
  std::vector<std::string> tenants = user.superuser_of;
  std::sort(tenants.begin(), tenants.end());
  tenants.erase(std::unique(tenants.begin(), tenants.end()), tenants.end());
  auto joined = join_groups(tenants);
  if (!joined) return joined.error();
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "INSERT OR REPLACE INTO known_users (" GH_KNOWN_USER_COLUMNS
      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, user.user.source)
      .text(2, user.user.name)
      .text(3, user.email)
      .text(4, user.display_name)
      .text(5, user.real_party)
      .text(6, *joined)
      .int64(7, user.last_sign_in);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "record sign-in");
  return Ok{};
}

Result<std::optional<KnownUser>> SqliteStore::find_known_user(const UserRef& user) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt = d.prepare("SELECT " GH_KNOWN_USER_COLUMNS
                        " FROM known_users WHERE source = ?1 AND name = ?2");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, user.source).text(2, user.name);
  return sql.one(q, read_known_user, "find known user");
}

Result<std::vector<KnownUser>> SqliteStore::group_superusers(const std::string& tenant) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  // The list is stored as "a\x1fb\x1f": the tenant is an item when "\x1f" + tenant +
  // "\x1f" occurs in "\x1f" + list. A scan: this serves rare e-mails to superusers.
  auto stmt = d.prepare("SELECT " GH_KNOWN_USER_COLUMNS
                        " FROM known_users "
                        "WHERE instr(char(31) || superuser_of, char(31) || ?1 || char(31)) > 0 "
                        "ORDER BY source, name");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant);
  std::vector<KnownUser> out;
  if (auto s = sql.collect(q, out, read_known_user, "list group superusers"); !s)
    return s.error();
  return out;
}

// --- delegations -------------------------------------------------------------------

Result<std::int64_t> SqliteStore::add_delegation(const Delegation& g, std::span<const OutboxMessage> messages) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  // The delegation and its invitation e-mail: both, or neither.
  return d.write([&]() -> Result<std::int64_t> {
    auto stmt = d.prepare(
        "INSERT INTO delegations (tenant, email, granted_by, created_at, ends_at, revoked_at, "
        "revoked_by, expiry_recorded) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!stmt) return stmt.error();
    std::int64_t id = 0;
    {
      Query q(*stmt);
      q.text(1, g.tenant)
          .text(2, ascii_lower(g.email))
          .text(3, g.granted_by)
          .int64(4, g.created_at)
          .int64(5, g.until)
          .int64(6, g.revoked_at)
          .text(7, g.revoked_by)
          .int64(8, g.expiry_recorded ? 1 : 0);
      if (q.step() != SQLITE_DONE) {
        if (is_foreign_key_violation(d.db)) return no_tenant(g.tenant);
        return io_error(d.db, "add delegation");
      }
      id = static_cast<std::int64_t>(sqlite3_last_insert_rowid(d.db));
    }
    for (const auto& m : messages)
      if (auto st = sql.insert_outbox(m); !st) return st.error();
    return id;
  });
}

Result<std::optional<Delegation>> SqliteStore::find_delegation(std::int64_t id) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt = d.prepare("SELECT " GH_DELEGATION_COLUMNS " FROM delegations WHERE id = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.int64(1, id);
  return sql.one(q, [](const Query& r) { return read_delegation(r); }, "find delegation");
}

Result<std::vector<Delegation>> SqliteStore::list_delegations(const DelegationQuery& query) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  // Separate texts so that each filter can use its index.
  const bool by_tenant = !query.tenant.empty();
  const bool by_email = !query.email.empty();
  Result<sqlite3_stmt*> stmt =
      by_email ? d.prepare("SELECT " GH_DELEGATION_COLUMNS
                           " FROM delegations WHERE email = ?2 AND (?1 = '' OR tenant = ?1) "
                           "ORDER BY id DESC")
      : by_tenant
          ? d.prepare("SELECT " GH_DELEGATION_COLUMNS
                      " FROM delegations WHERE tenant = ?1 ORDER BY id DESC")
          : d.prepare("SELECT " GH_DELEGATION_COLUMNS " FROM delegations ORDER BY id DESC");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  if (by_email) q.text(1, query.tenant).text(2, ascii_lower(query.email));
  if (!by_email && by_tenant) q.text(1, query.tenant);
  return sql.delegations(q, "list delegations");
}

Result<std::vector<Delegation>> SqliteStore::active_delegations_for(const std::string& email,
                                                                    std::int64_t now) {
  // "" is a user without a (verified) address: it is nobody's delegate.
  if (email.empty()) return std::vector<Delegation>();
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt = d.prepare("SELECT " GH_DELEGATION_COLUMNS
                        " FROM delegations WHERE email = ?1 AND revoked_at = 0 "
                        "AND (ends_at = 0 OR ends_at > ?2) ORDER BY tenant, id");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, ascii_lower(email)).int64(2, now);
  return sql.delegations(q, "find active delegations");
}

Result<bool> SqliteStore::revoke_delegation(std::int64_t id, const std::string& by,
                                            std::int64_t at) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  return d.write([&]() -> Result<bool> {
    auto update = d.prepare(
        "UPDATE delegations SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at = 0");
    if (!update) return update.error();
    {
      Query q(*update);
      q.int64(1, id).int64(2, at).text(3, by);
      auto n = sql.done(q, "revoke delegation");
      if (!n) return n.error();
      if (*n > 0) return true;
    }
    auto exists = d.prepare("SELECT 1 FROM delegations WHERE id = ?1");
    if (!exists) return exists.error();
    Query q(*exists);
    q.int64(1, id);
    const int rc = q.step();
    if (rc == SQLITE_ROW) return false;  // revoked already
    if (rc != SQLITE_DONE) return io_error(d.db, "find delegation");
    return make_error("store.not_found", "no delegation " + std::to_string(id));
  });
}

Result<std::vector<Delegation>> SqliteStore::take_newly_expired(std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  // Called every second: a read first, so that the write lock (and a wait for it behind
  // another process) is only taken when a delegation did end.
  {
    auto any = d.prepare("SELECT 1 FROM delegations WHERE expiry_recorded = 0 AND revoked_at = 0 "
                         "AND ends_at != 0 AND ends_at <= ?1 LIMIT 1");
    if (!any) return any.error();
    Query q(*any);
    q.int64(1, now);
    const int rc = q.step();
    if (rc == SQLITE_DONE) return std::vector<Delegation>{};
    if (rc != SQLITE_ROW) return io_error(d.db, "find ended delegations");
  }
  return d.write([&]() -> Result<std::vector<Delegation>> {
    // The terms of the partial index delegations_unrecorded_end, so that it is used.
    auto select = d.prepare("SELECT " GH_DELEGATION_COLUMNS
                            " FROM delegations WHERE expiry_recorded = 0 AND revoked_at = 0 "
                            "AND ends_at != 0 AND ends_at <= ?1 ORDER BY ends_at, id");
    if (!select) return select.error();
    std::vector<Delegation> ended;
    {
      Query q(*select);
      q.int64(1, now);
      auto found = sql.delegations(q, "find ended delegations");
      if (!found) return found.error();
      ended = std::move(*found);
    }
    auto mark = d.prepare("UPDATE delegations SET expiry_recorded = 1 WHERE id = ?1");
    if (!mark) return mark.error();
    for (auto& g : ended) {
      Query q(*mark);
      q.int64(1, g.id);
      if (auto n = sql.done(q, "record delegation expiry"); !n) return n.error();
      g.expiry_recorded = true;
    }
    return ended;
  });
}

// --- the effective party -----------------------------------------------------------

Result<std::optional<PartyChoiceView>> SqliteStore::find_party_choice(const UserRef& user) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  // One statement: the choice and its delegation come from one snapshot.
  auto stmt = d.prepare(
      "SELECT c.source, c.name, c.party, c.delegation_id, c.chosen_at, c.notice, "
      "g.id, g.tenant, g.email, g.granted_by, g.created_at, g.ends_at, g.revoked_at, "
      "g.revoked_by, g.expiry_recorded "
      "FROM party_choices c LEFT JOIN delegations g "
      "ON c.delegation_id != 0 AND g.id = c.delegation_id "
      "WHERE c.source = ?1 AND c.name = ?2");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, user.source).text(2, user.name);
  return sql.one(
      q,
      [](const Query& r) {
        PartyChoiceView view;
        view.choice = read_choice(r);
        // g.id is NULL (read as 0) when there is no such delegation.
        if (r.column_int64(6) != 0) view.delegation = read_delegation(r, 6);
        return view;
      },
      "find party choice");
}

Result<std::vector<PartyChoice>> SqliteStore::choices_on_delegation(std::int64_t delegation_id) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt = d.prepare("SELECT " GH_CHOICE_COLUMNS
                        " FROM party_choices WHERE delegation_id = ?1 ORDER BY source, name");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.int64(1, delegation_id);
  return sql.choices(q, "list choices on delegation");
}

Result<std::vector<PartyChoice>> SqliteStore::choices_on_ended_delegations(std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  // A choice whose delegation row is gone rests on nothing either: it is listed too.
  auto stmt = d.prepare(
      "SELECT c.source, c.name, c.party, c.delegation_id, c.chosen_at, c.notice "
      "FROM party_choices c LEFT JOIN delegations g ON g.id = c.delegation_id "
      "WHERE c.delegation_id != 0 "
      "AND (g.id IS NULL OR g.revoked_at != 0 OR (g.ends_at != 0 AND g.ends_at <= ?1)) "
      "ORDER BY c.source, c.name");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.int64(1, now);
  return sql.choices(q, "list choices on ended delegations");
}

Result<bool> SqliteStore::switch_party(const PartySwitch& change) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  const PartyChoice& next = change.next;
  return d.write([&]() -> Result<bool> {
    if (change.expected_delegation_id != -1) {
      auto current = d.prepare(
          "SELECT delegation_id FROM party_choices WHERE source = ?1 AND name = ?2");
      if (!current) return current.error();
      Query q(*current);
      q.text(1, next.user.source).text(2, next.user.name);
      const int rc = q.step();
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return io_error(d.db, "read party choice");
      // No row rests on the own tenant, as a row with delegation 0 does.
      const std::int64_t stored = rc == SQLITE_ROW ? q.column_int64(0) : 0;
      if (stored != change.expected_delegation_id) return false;
    }
    auto upsert = d.prepare("INSERT OR REPLACE INTO party_choices (" GH_CHOICE_COLUMNS
                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!upsert) return upsert.error();
    {
      Query q(*upsert);
      q.text(1, next.user.source)
          .text(2, next.user.name)
          .text(3, next.party)
          .int64(4, next.delegation_id)
          .int64(5, next.chosen_at)
          .text(6, next.notice);
      if (auto n = sql.done(q, "store party choice"); !n) return n.error();
    }
    for (const auto& m : change.notifications)
      if (auto s = sql.insert_outbox(m); !s) return s.error();
    for (const auto& a : change.activity)
      if (auto s = sql.upsert_activity(a); !s) return s.error();
    return true;
  });
}

Status SqliteStore::clear_party_notice(const UserRef& user, const std::string& notice) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "UPDATE party_choices SET notice = '' WHERE source = ?1 AND name = ?2 AND notice = ?3");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, user.source).text(2, user.name).text(3, notice);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "clear party notice");
  return Ok{};
}

Result<std::vector<DelegationActivity>> SqliteStore::delegation_activity(
    const std::string& tenant) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt = d.prepare(
      "SELECT a.delegation_id, a.source, a.name, a.email, a.real_party, a.last_switch_in, "
      "a.last_switch_out FROM delegations g JOIN delegation_activity a ON a.delegation_id = g.id "
      "WHERE g.tenant = ?1 ORDER BY a.delegation_id, a.source, a.name");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant);
  std::vector<DelegationActivity> out;
  if (auto s = sql.collect(
          q, out,
          [](const Query& r) {
            DelegationActivity a;
            a.delegation_id = r.column_int64(0);
            a.user = {r.column_text(1), r.column_text(2)};
            a.email = r.column_text(3);
            a.real_party = r.column_text(4);
            a.last_switch_in = r.column_int64(5);
            a.last_switch_out = r.column_int64(6);
            return a;
          },
          "list delegation activity");
      !s)
    return s.error();
  return out;
}

// --- the outbox --------------------------------------------------------------------

Result<std::vector<OutboxMessage>> SqliteStore::claim_outbox(std::int64_t now,
                                                             std::int64_t lease_until,
                                                             std::int64_t limit) {
  if (limit <= 0) return std::vector<OutboxMessage>();
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  // Under the write lock (BEGIN IMMEDIATE) from the SELECT on: two processes cannot both
  // see a message unclaimed.
  return d.write([&]() -> Result<std::vector<OutboxMessage>> {
    auto select = d.prepare("SELECT " GH_OUTBOX_COLUMNS
                            " FROM outbox WHERE sent_at = 0 AND next_attempt_at <= ?1 "
                            "AND lease_until <= ?1 ORDER BY next_attempt_at, id LIMIT ?2");
    if (!select) return select.error();
    std::vector<OutboxMessage> due;
    {
      Query q(*select);
      q.int64(1, now).int64(2, limit);
      if (auto s = sql.collect(q, due, read_message, "find due e-mails"); !s) return s.error();
    }
    auto claim =
        d.prepare("UPDATE outbox SET lease_until = ?2, attempts = attempts + 1 WHERE id = ?1");
    if (!claim) return claim.error();
    for (auto& m : due) {
      Query q(*claim);
      q.int64(1, m.id).int64(2, lease_until);
      if (auto n = sql.done(q, "claim e-mail"); !n) return n.error();
      ++m.attempts;
    }
    return due;
  });
}

Status SqliteStore::outbox_sent(std::int64_t id, std::int64_t at) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  // The first time it was sent stays (a second report changes nothing).
  auto stmt = d.prepare(
      "UPDATE outbox SET sent_at = CASE WHEN sent_at = 0 THEN ?2 ELSE sent_at END, "
      "lease_until = 0 WHERE id = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.int64(1, id).int64(2, at);
  auto n = sql.done(q, "mark e-mail sent");
  if (!n) return n.error();
  if (*n == 0) return make_error("store.not_found", "no e-mail " + std::to_string(id));
  return Ok{};
}

Status SqliteStore::outbox_failed(std::int64_t id, const std::string& error,
                                  std::int64_t next_attempt_at) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt = d.prepare(
      "UPDATE outbox SET last_error = ?2, next_attempt_at = ?3, lease_until = 0 WHERE id = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.int64(1, id).text(2, error).int64(3, next_attempt_at);
  auto n = sql.done(q, "record e-mail failure");
  if (!n) return n.error();
  if (*n == 0) return make_error("store.not_found", "no e-mail " + std::to_string(id));
  return Ok{};
}

Result<std::vector<OutboxMessage>> SqliteStore::list_outbox_pending() {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt = d.prepare("SELECT " GH_OUTBOX_COLUMNS
                        " FROM outbox WHERE sent_at = 0 ORDER BY created_at, id");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  std::vector<OutboxMessage> out;
  if (auto s = sql.collect(q, out, read_message, "list pending e-mails"); !s) return s.error();
  return out;
}

Result<OutboxStats> SqliteStore::outbox_stats() {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt =
      d.prepare("SELECT COUNT(*), COALESCE(MIN(created_at), 0) FROM outbox WHERE sent_at = 0");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  if (q.step() != SQLITE_ROW) return io_error(d.db, "count pending e-mails");
  return OutboxStats{q.column_int64(0), q.column_int64(1)};
}

Result<std::int64_t> SqliteStore::prune_outbox(std::int64_t before) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt = d.prepare("DELETE FROM outbox WHERE sent_at != 0 AND sent_at < ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.int64(1, before);
  return sql.done(q, "prune e-mails");
}

// --- usage -------------------------------------------------------------------------

Status SqliteStore::add_usage(std::span<const UsageRow> rows) {
  if (rows.empty()) return Ok{};
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  return d.write([&]() -> Status {
    auto stmt = d.prepare(
        "INSERT INTO usage_counts (day, effective_party, route, delegation_id, "
        "delegate_real_party, requests) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT (day, effective_party, route, delegation_id, delegate_real_party) "
        "DO UPDATE SET requests = requests + excluded.requests");
    if (!stmt) return stmt.error();
    for (const auto& r : rows) {
      Query q(*stmt);
      q.text(1, r.day)
          .text(2, r.effective_party)
          .text(3, r.route)
          .int64(4, r.delegation_id)
          .text(5, r.delegate_real_party)
          .int64(6, r.requests);
      if (auto n = sql.done(q, "add usage"); !n) return n.error();
    }
    return Ok{};
  });
}

Result<std::vector<UsageReportRow>> SqliteStore::usage_report(const UsageQuery& query) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  // Two texts so that a tenant's report uses usage_counts_party and the rest the
  // primary key (which starts with the day).
  auto stmt =
      query.tenant.empty()
          ? d.prepare(
                "SELECT day, effective_party, route, SUM(requests), "
                "SUM(CASE WHEN delegation_id != 0 THEN requests ELSE 0 END) FROM usage_counts "
                "WHERE day >= ?2 AND day <= ?3 "
                "GROUP BY day, effective_party, route ORDER BY day, effective_party, route")
          : d.prepare(
                "SELECT day, effective_party, route, SUM(requests), "
                "SUM(CASE WHEN delegation_id != 0 THEN requests ELSE 0 END) FROM usage_counts "
                "WHERE effective_party = ?1 AND day >= ?2 AND day <= ?3 "
                "GROUP BY day, effective_party, route ORDER BY day, effective_party, route");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  if (!query.tenant.empty()) q.text(1, query.tenant);
  q.text(2, query.since_day).text(3, query.until_day.empty() ? kLastDay : query.until_day);
  std::vector<UsageReportRow> out;
  if (auto s = sql.collect(
          q, out,
          [](const Query& r) {
            return UsageReportRow{r.column_text(0), r.column_text(1), r.column_text(2),
                                  r.column_int64(3), r.column_int64(4)};
          },
          "usage report");
      !s)
    return s.error();
  return out;
}

Result<std::vector<DelegationUsage>> SqliteStore::delegation_usage(const std::string& tenant) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  TenancySql sql{d};
  auto stmt = d.prepare(
      "SELECT delegation_id, route, SUM(requests) FROM usage_counts "
      "WHERE effective_party = ?1 AND delegation_id != 0 "
      "GROUP BY delegation_id, route ORDER BY delegation_id, route");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant);
  std::vector<DelegationUsage> out;
  if (auto s = sql.collect(
          q, out,
          [](const Query& r) {
            return DelegationUsage{r.column_int64(0), r.column_text(1), r.column_int64(2)};
          },
          "delegation usage");
      !s)
    return s.error();
  return out;
}

#undef GH_DELEGATION_COLUMNS
#undef GH_CHOICE_COLUMNS
#undef GH_KNOWN_USER_COLUMNS
#undef GH_OUTBOX_COLUMNS

}  // namespace gatehouse::store
