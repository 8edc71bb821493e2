// SqliteStore's VaultStore: tenant data keys and sealed secrets (migrations/0007_vault.sql).
// Every method holds impl_->mu for its whole run; the ones that write bump the vault's
// generation in the same transaction.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/sqlite_impl.h"
#include "store/sqlite_store.h"

namespace gatehouse::store {

using sqlite_detail::io_error;
using sqlite_detail::Query;

namespace {

constexpr std::string_view kBumpGeneration = "UPDATE vault_state SET generation = generation + 1 WHERE id = 1";

TenantKeyRecord read_tenant_key(const Query& q) {
  TenantKeyRecord k;
  k.tenant = q.column_text(0);
  k.key_id = q.column_text(1);
  k.wrapped = q.column_text(2);
  k.created_at = q.column_int64(3);
  return k;
}

}  // namespace


Result<std::optional<TenantKeyRecord>> SqliteStore::find_tenant_key(const std::string& tenant) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("SELECT tenant, key_id, wrapped, created_at FROM tenant_keys WHERE tenant = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<TenantKeyRecord>();
  if (rc != SQLITE_ROW) return io_error(d.db, "find tenant key");
  return std::optional<TenantKeyRecord>(read_tenant_key(q));
}

Result<TenantKeyRecord> SqliteStore::add_tenant_key_if_absent(const TenantKeyRecord& key) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  return d.write([&]() -> Result<TenantKeyRecord> {
    auto insert = d.prepare(
        "INSERT INTO tenant_keys (tenant, key_id, wrapped, created_at) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (tenant) DO NOTHING");
    if (!insert) return insert.error();
    {
      Query q(*insert);
      q.text(1, key.tenant).text(2, key.key_id).text(3, key.wrapped).int64(4, key.created_at);
      if (q.step() != SQLITE_DONE) return io_error(d.db, "add tenant key");
    }
    if (sqlite3_changes(d.db) == 1)
      if (auto s = d.exec(kBumpGeneration, "bump vault generation"); !s) return s.error();
    auto select = d.prepare("SELECT tenant, key_id, wrapped, created_at FROM tenant_keys WHERE tenant = ?1");
    if (!select) return select.error();
    Query q(*select);
    q.text(1, key.tenant);
    if (q.step() != SQLITE_ROW) return io_error(d.db, "read back tenant key");
    return read_tenant_key(q);
  });
}

Result<std::vector<TenantKeyRecord>> SqliteStore::list_tenant_keys() {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("SELECT tenant, key_id, wrapped, created_at FROM tenant_keys ORDER BY tenant");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  std::vector<TenantKeyRecord> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_tenant_key(q));
  if (rc != SQLITE_DONE) return io_error(d.db, "list tenant keys");
  return out;
}

Result<bool> SqliteStore::rewrap_tenant_key(const std::string& tenant, const std::string& key_id,
                                            const std::string& expected, const std::string& wrapped) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  return d.write([&]() -> Result<bool> {
    auto stmt = d.prepare(
        "UPDATE tenant_keys SET wrapped = ?4 WHERE tenant = ?1 AND key_id = ?2 AND wrapped = ?3");
    if (!stmt) return stmt.error();
    Query q(*stmt);
    q.text(1, tenant).text(2, key_id).text(3, expected).text(4, wrapped);
    if (q.step() != SQLITE_DONE) return io_error(d.db, "rewrap tenant key");
    if (sqlite3_changes(d.db) != 1) return false;
    if (auto s = d.exec(kBumpGeneration, "bump vault generation"); !s) return s.error();
    return true;
  });
}

Result<std::optional<VaultSecretRecord>> SqliteStore::find_vault_secret(const std::string& tenant,
                                                                        const std::string& name) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "SELECT version, sealed, updated_at, updated_by FROM vault_secrets "
      "WHERE tenant = ?1 AND name = ?2 AND sealed IS NOT NULL");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant).text(2, name);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<VaultSecretRecord>();
  if (rc != SQLITE_ROW) return io_error(d.db, "find secret");
  VaultSecretRecord r;
  r.tenant = tenant;
  r.name = name;
  r.version = q.column_int64(0);
  r.sealed = q.column_text(1);
  r.updated_at = q.column_int64(2);
  r.updated_by = q.column_text(3);
  return std::optional<VaultSecretRecord>(std::move(r));
}

Result<std::vector<VaultSecretRecord>> SqliteStore::list_vault_secrets(const std::string& tenant) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "SELECT name, version, updated_at, updated_by FROM vault_secrets "
      "WHERE tenant = ?1 AND sealed IS NOT NULL ORDER BY name");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant);
  std::vector<VaultSecretRecord> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    VaultSecretRecord r;
    r.tenant = tenant;
    r.name = q.column_text(0);
    r.version = q.column_int64(1);
    r.updated_at = q.column_int64(2);
    r.updated_by = q.column_text(3);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return io_error(d.db, "list secrets");
  return out;
}

Result<std::int64_t> SqliteStore::last_vault_version(const std::string& tenant, const std::string& name) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("SELECT version FROM vault_secrets WHERE tenant = ?1 AND name = ?2");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant).text(2, name);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return std::int64_t{0};
  if (rc != SQLITE_ROW) return io_error(d.db, "last secret version");
  return q.column_int64(0);
}

Result<bool> SqliteStore::put_vault_secret(const VaultSecretRecord& secret, const std::string& key_id) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  return d.write([&]() -> Result<bool> {
    auto key = d.prepare("SELECT 1 FROM tenant_keys WHERE tenant = ?1 AND key_id = ?2");
    if (!key) return key.error();
    {
      Query q(*key);
      q.text(1, secret.tenant).text(2, key_id);
      const int rc = q.step();
      if (rc == SQLITE_DONE) return false;
      if (rc != SQLITE_ROW) return io_error(d.db, "check tenant key");
    }
    // Version N+1 replaces version N, or version 1 is a first value: any other writer
    // in between makes this one change nothing.
    auto stmt = d.prepare(
        "INSERT INTO vault_secrets (tenant, name, version, sealed, updated_at, updated_by) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant, name) DO NOTHING");
    auto update = d.prepare(
        "UPDATE vault_secrets SET version = ?3, sealed = ?4, updated_at = ?5, updated_by = ?6 "
        "WHERE tenant = ?1 AND name = ?2 AND version = ?3 - 1");
    if (!stmt) return stmt.error();
    if (!update) return update.error();
    Query q(secret.version == 1 ? *stmt : *update);
    q.text(1, secret.tenant).text(2, secret.name).int64(3, secret.version).text(4, secret.sealed);
    q.int64(5, secret.updated_at).text(6, secret.updated_by);
    if (q.step() != SQLITE_DONE) return io_error(d.db, "put secret");
    if (sqlite3_changes(d.db) != 1) return false;
    if (auto s = d.exec(kBumpGeneration, "bump vault generation"); !s) return s.error();
    return true;
  });
}

Result<bool> SqliteStore::remove_vault_secret(const std::string& tenant, const std::string& name,
                                              std::int64_t at, const std::string& by) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  return d.write([&]() -> Result<bool> {
    auto stmt = d.prepare(
        "UPDATE vault_secrets SET sealed = NULL, updated_at = ?3, updated_by = ?4 "
        "WHERE tenant = ?1 AND name = ?2 AND sealed IS NOT NULL");
    if (!stmt) return stmt.error();
    Query q(*stmt);
    q.text(1, tenant).text(2, name).int64(3, at).text(4, by);
    if (q.step() != SQLITE_DONE) return io_error(d.db, "remove secret");
    if (sqlite3_changes(d.db) != 1) return false;
    if (auto s = d.exec(kBumpGeneration, "bump vault generation"); !s) return s.error();
    return true;
  });
}

Result<bool> SqliteStore::replace_tenant_key(const std::string& old_key_id, const TenantKeyRecord& fresh,
                                             const std::vector<VaultSecretRecord>& resealed) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  // A mismatch is not an error of the store: roll back by returning an error code the
  // caller maps to "changed meanwhile".
  auto outcome = d.write([&]() -> Result<bool> {
    auto key = d.prepare(
        "UPDATE tenant_keys SET key_id = ?3, wrapped = ?4, created_at = ?5 WHERE tenant = ?1 AND key_id = ?2");
    if (!key) return key.error();
    {
      Query q(*key);
      q.text(1, fresh.tenant).text(2, old_key_id).text(3, fresh.key_id).text(4, fresh.wrapped);
      q.int64(5, fresh.created_at);
      if (q.step() != SQLITE_DONE) return io_error(d.db, "replace tenant key");
      if (sqlite3_changes(d.db) != 1) return make_error("store.conflict", "tenant key changed");
    }
    auto live = d.prepare("SELECT count(*) FROM vault_secrets WHERE tenant = ?1 AND sealed IS NOT NULL");
    if (!live) return live.error();
    {
      Query q(*live);
      q.text(1, fresh.tenant);
      if (q.step() != SQLITE_ROW) return io_error(d.db, "count secrets");
      if (q.column_int64(0) != static_cast<std::int64_t>(resealed.size()))
        return make_error("store.conflict", "secrets changed");
    }
    auto put = d.prepare(
        "UPDATE vault_secrets SET sealed = ?4 WHERE tenant = ?1 AND name = ?2 AND version = ?3 "
        "AND sealed IS NOT NULL");
    if (!put) return put.error();
    // Each live secret once: a name listed twice would make the count match while
    // another secret stays sealed under the old key.
    std::set<std::string> names;
    for (const auto& s : resealed) {
      if (!names.insert(s.name).second) return make_error("store.conflict", "a secret listed twice");
      Query q(*put);
      q.text(1, fresh.tenant).text(2, s.name).int64(3, s.version).text(4, s.sealed);
      if (q.step() != SQLITE_DONE) return io_error(d.db, "reseal secret");
      if (sqlite3_changes(d.db) != 1) return make_error("store.conflict", "secrets changed");
    }
    if (auto s = d.exec(kBumpGeneration, "bump vault generation"); !s) return s.error();
    return true;
  });
  if (!outcome && outcome.error().code == "store.conflict") return false;
  return outcome;
}

Result<std::int64_t> SqliteStore::vault_generation() {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("SELECT generation FROM vault_state WHERE id = 1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  if (q.step() != SQLITE_ROW) return io_error(d.db, "vault generation");
  return q.column_int64(0);
}

}  // namespace gatehouse::store
