#include "vault/vault.h"

#include <utility>

#include "crypto/envelope.h"

namespace gatehouse::vault {
namespace {

constexpr int kAttempts = 8;  // a write raced by another writer is sealed again

crypto::Binding value_binding(const std::string& tenant, const std::string& name, std::int64_t version) {
  crypto::Binding b("tenant-secret");
  b.add(tenant).add(name).add(version);
  return b;
}

std::string cache_key(const std::string& tenant, const std::string& name) {
  std::string k = tenant;
  k += '\0';
  k += name;
  return k;
}

}  // namespace

crypto::Binding tenant_key_binding(const std::string& tenant) {
  crypto::Binding b("tenant-key");
  b.add(tenant);
  return b;
}

std::string value_problem(std::string_view value) {
  if (value.empty()) return "the value is empty";
  if (value.size() > kMaxValueBytes) return "the value is longer than 8 KiB";
  for (unsigned char c : value)
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return "the value contains a control character (a line break, NUL, …); it must fit in one HTTP header";
  return "";
}

Status Vault::require_tenant(const std::string& tenant) {
  auto exists = tenants_.tenant_exists(tenant);
  if (!exists) return exists.error();
  if (!*exists) return make_error("vault.tenant", "no tenant named " + tenant);
  return Ok{};
}

Vault::Vault(store::VaultStore& store, store::TenantStore& tenants, std::shared_ptr<const crypto::Keyring> keyring,
             const Clock& clock)
    : store_(store), tenants_(tenants), clock_(clock), keyring_(std::move(keyring)) {}

void Vault::set_keyring(std::shared_ptr<const crypto::Keyring> keyring) {
  std::lock_guard lock(mu_);
  keyring_ = std::move(keyring);
}

std::shared_ptr<const crypto::Keyring> Vault::keyring() const {
  std::lock_guard lock(mu_);
  return keyring_;
}

Result<crypto::Key> Vault::open_data_key(const store::TenantKeyRecord& record) const {
  auto ring = keyring();
  auto raw = crypto::open(*ring, tenant_key_binding(record.tenant), record.wrapped);
  if (!raw) return make_error(raw.error().code, "tenant " + record.tenant + ": data key: " + raw.error().message);
  auto key = crypto::Key::from_bytes(raw->reveal());
  if (!key || key->id() != record.key_id)
    return make_error("crypto.open", "tenant " + record.tenant + ": the stored data key does not match its id");
  return std::move(key.value());
}

Result<std::shared_ptr<const crypto::Key>> Vault::data_key(const std::string& tenant, bool create) {
  {
    std::lock_guard lock(mu_);
    if (auto it = keys_.find(tenant); it != keys_.end()) return it->second.key;
  }
  const std::int64_t generation = [&] {
    std::lock_guard lock(mu_);
    return generation_;
  }();
  auto record = store_.find_tenant_key(tenant);
  if (!record) return record.error();
  std::optional<store::TenantKeyRecord> stored = std::move(record.value());
  if (!stored) {
    if (!create) return std::shared_ptr<const crypto::Key>();
    auto fresh = crypto::Key::random();
    store::TenantKeyRecord r{tenant, fresh.id(), crypto::seal(*keyring(), tenant_key_binding(tenant), fresh.bytes()),
                             clock_.now()};
    auto winner = store_.add_tenant_key_if_absent(r);
    if (!winner) return winner.error();
    stored = std::move(winner.value());
  }
  auto key = open_data_key(*stored);
  if (!key) return key.error();
  auto shared = std::make_shared<const crypto::Key>(std::move(key.value()));
  std::lock_guard lock(mu_);
  if (generation_ == generation) keys_[tenant] = CachedKey{stored->key_id, shared};
  return shared;
}

Result<std::int64_t> Vault::set(const std::string& tenant, const std::string& name, const Secret& value,
                                const std::string& by) {
  if (!valid_secret_name(name))
    return make_error("vault.name", "a secret's name is 1 to 64 letters, digits, '.', '_' or '-', "
                                    "starting with a letter or digit");
  if (auto problem = value_problem(value.reveal()); !problem.empty()) return make_error("vault.value", problem);
  if (auto known = require_tenant(tenant); !known) return known.error();
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    // Straight from the store, not the cache: the write must name the key in force now.
    auto record = store_.find_tenant_key(tenant);
    if (!record) return record.error();
    std::string key_id;
    std::shared_ptr<const crypto::Key> key;
    if (record->has_value()) {
      auto opened = open_data_key(**record);
      if (!opened) return opened.error();
      key_id = (*record)->key_id;
      key = std::make_shared<const crypto::Key>(std::move(opened.value()));
    } else {
      auto created = data_key(tenant, true);
      if (!created) return created.error();
      key = *created;
      key_id = key->id();
    }
    auto last = store_.last_vault_version(tenant, name);
    if (!last) return last.error();
    store::VaultSecretRecord row;
    row.tenant = tenant;
    row.name = name;
    row.version = *last + 1;
    row.sealed = crypto::seal(*key, value_binding(tenant, name, row.version), value.reveal());
    row.updated_at = clock_.now();
    row.updated_by = by;
    auto put = store_.put_vault_secret(row, key_id);
    if (!put) return put.error();
    if (*put) return row.version;
  }
  return make_error("vault.busy", "the secret kept changing while it was being written; try again");
}

Result<bool> Vault::remove(const std::string& tenant, const std::string& name, const std::string& by) {
  if (!valid_secret_name(name)) return false;
  return store_.remove_vault_secret(tenant, name, clock_.now(), by);
}

Result<std::vector<store::VaultSecretRecord>> Vault::list(const std::string& tenant) {
  if (auto known = require_tenant(tenant); !known) return known.error();
  return store_.list_vault_secrets(tenant);
}

Result<std::string> Vault::rotate_key(const std::string& tenant) {
  if (auto known = require_tenant(tenant); !known) return known.error();
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto record = store_.find_tenant_key(tenant);
    if (!record) return record.error();
    if (!record->has_value()) return make_error("vault.no_key", "tenant " + tenant + " has no secrets yet");
    auto old_key = open_data_key(**record);
    if (!old_key) return old_key.error();
    auto names = store_.list_vault_secrets(tenant);
    if (!names) return names.error();
    auto fresh = crypto::Key::random();
    std::vector<store::VaultSecretRecord> resealed;
    for (const auto& listed : *names) {
      auto row = store_.find_vault_secret(tenant, listed.name);
      if (!row) return row.error();
      if (!row->has_value()) break;  // removed meanwhile: the count check below fails, try again
      const auto binding = value_binding(tenant, listed.name, (*row)->version);
      auto plain = crypto::open(*old_key, binding, (*row)->sealed);
      if (!plain)
        return make_error(plain.error().code, "tenant " + tenant + ", secret " + listed.name + ": " +
                                                  plain.error().message);
      store::VaultSecretRecord r = std::move(**row);
      r.sealed = crypto::seal(fresh, binding, plain->reveal());
      resealed.push_back(std::move(r));
    }
    store::TenantKeyRecord next{tenant, fresh.id(), crypto::seal(*keyring(), tenant_key_binding(tenant), fresh.bytes()),
                                clock_.now()};
    auto replaced = store_.replace_tenant_key((*record)->key_id, next, resealed);
    if (!replaced) return replaced.error();
    if (*replaced) {
      std::lock_guard lock(mu_);
      keys_.erase(tenant);
      return next.key_id;
    }
  }
  return make_error("vault.busy", "the tenant's secrets kept changing during the rotation; try again");
}

Result<RewrapReport> Vault::rewrap_tenant_keys() {
  auto ring = keyring();
  RewrapReport report;
  auto keys = store_.list_tenant_keys();
  if (!keys) return keys.error();
  for (const auto& record : *keys) {
    if (!crypto::needs_rewrap(*ring, record.wrapped)) {
      ++report.current;
      continue;
    }
    auto raw = crypto::open(*ring, tenant_key_binding(record.tenant), record.wrapped);
    if (!raw) return make_error(raw.error().code, "tenant " + record.tenant + ": data key: " + raw.error().message);
    const std::string wrapped = crypto::seal(*ring, tenant_key_binding(record.tenant), raw->reveal());
    auto done = store_.rewrap_tenant_key(record.tenant, record.key_id, record.wrapped, wrapped);
    if (!done) return done.error();
    // Not done: the key was rotated meanwhile, and a rotation wraps under the current key.
    if (*done) ++report.rewrapped;
  }
  return report;
}

Result<std::shared_ptr<const Secret>> Vault::value_for(const std::string& tenant, const std::string& name) {
  const std::string ck = cache_key(tenant, name);
  std::int64_t generation;
  {
    std::lock_guard lock(mu_);
    if (auto it = values_.find(ck); it != values_.end()) return it->second;
    generation = generation_;
  }
  std::shared_ptr<const Secret> value;
  // Two rounds: a rotation committed between reading the row and reading the key leaves
  // an old row and a new key; the second round reads both again.
  for (int round = 0; round < 2; ++round) {
    auto row = store_.find_vault_secret(tenant, name);
    if (!row) return row.error();
    if (!row->has_value()) break;
    auto key = data_key(tenant, false);
    if (!key) return key.error();
    if (*key && crypto::blob_key_id((*row)->sealed) != (*key)->id()) {
      // Rotated by another process since the key was cached: fetch the new one.
      {
        std::lock_guard lock(mu_);
        keys_.erase(tenant);
      }
      key = data_key(tenant, false);
      if (!key) return key.error();
      if (*key && crypto::blob_key_id((*row)->sealed) != (*key)->id() && round == 0) continue;
    }
    if (!*key) return make_error("crypto.key", "tenant " + tenant + " has a secret but no data key");
    auto plain = crypto::open(**key, value_binding(tenant, name, (*row)->version), (*row)->sealed);
    if (!plain)
      return make_error(plain.error().code, "tenant " + tenant + ", secret " + name + ": " + plain.error().message);
    value = std::make_shared<const Secret>(std::move(plain.value()));
    break;
  }
  std::lock_guard lock(mu_);
  if (generation_ == generation) values_[ck] = value;
  return value;
}

Status Vault::refresh() {
  auto generation = store_.vault_generation();
  if (!generation) return generation.error();
  std::lock_guard lock(mu_);
  if (*generation != generation_) {
    generation_ = *generation;
    values_.clear();
    keys_.clear();
  }
  return Ok{};
}

}  // namespace gatehouse::vault
