#pragma once
// The tenant vault: named secrets per tenant, envelope-encrypted. The master key (the
// keyring's current key) wraps one data key per tenant; each value is sealed under its
// tenant's data key and bound to tenant, name and version (crypto/envelope.h), so a
// sealed value moved to another tenant, another name or an older version does not open.
//
// Values are given out only to the daemon's route injection (value_for), never listed.
// Opened values are cached in secure memory until the vault's generation changes (every
// write bumps it; the daemon calls refresh() each second).
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/secret.h"
#include "common/secret_name.h"
#include "crypto/envelope.h"
#include "crypto/keys.h"
#include "store/store.h"
#include "store/vault_store.h"

namespace gatehouse::vault {

inline constexpr std::size_t kMaxValueBytes = 8 * 1024;
// A value becomes an HTTP header: 1 to 8 KiB, no control characters but tab (no CR, LF or
// NUL that could split a header). Returns an error message, or "" when it is fine.
std::string value_problem(std::string_view value);

// What a tenant's wrapped data key is bound to (its tenant).
crypto::Binding tenant_key_binding(const std::string& tenant);

struct RewrapReport {
  int rewrapped = 0;  // sealed under a previous master key, now under the current one
  int current = 0;    // already under the current master key
};

class Vault {
 public:
  Vault(store::VaultStore& store, store::TenantStore& tenants, std::shared_ptr<const crypto::Keyring> keyring,
        const Clock& clock);

  // A reload with other key files: new keys are wrapped under the new current key.
  void set_keyring(std::shared_ptr<const crypto::Keyring> keyring);

  // Stores a new version of the secret; returns the version. Errors: vault.tenant
  // (unknown tenant), vault.name, vault.value, crypto.* (the tenant key does not open
  // with these master keys), store.*.
  Result<std::int64_t> set(const std::string& tenant, const std::string& name, const Secret& value,
                           const std::string& by);
  // false when the tenant has no such secret.
  Result<bool> remove(const std::string& tenant, const std::string& name, const std::string& by);
  Result<std::vector<store::VaultSecretRecord>> list(const std::string& tenant);
  // A new data key for the tenant, every value re-sealed under it, in one transaction.
  // Returns the new key's id. Error vault.no_key when the tenant has no secrets yet.
  Result<std::string> rotate_key(const std::string& tenant);
  // Every tenant key wrapped by a previous master key is wrapped again by the current one.
  Result<RewrapReport> rewrap_tenant_keys();

  // The tenant's value of `name` for an upstream request; nullptr when it has none.
  Result<std::shared_ptr<const Secret>> value_for(const std::string& tenant, const std::string& name);
  // Drops the caches when the store's generation moved (a change by any process).
  Status refresh();

 private:
  std::shared_ptr<const crypto::Keyring> keyring() const;
  Status require_tenant(const std::string& tenant);  // vault.tenant for a tenant the store does not know
  Result<std::shared_ptr<const crypto::Key>> data_key(const std::string& tenant, bool create);
  Result<crypto::Key> open_data_key(const store::TenantKeyRecord& record) const;

  store::VaultStore& store_;
  store::TenantStore& tenants_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::shared_ptr<const crypto::Keyring> keyring_;
  std::int64_t generation_ = -1;
  struct CachedKey {
    std::string key_id;
    std::shared_ptr<const crypto::Key> key;
  };
  std::unordered_map<std::string, CachedKey> keys_;                        // by tenant
  std::unordered_map<std::string, std::shared_ptr<const Secret>> values_;  // tenant \0 name; nullptr: none
};

}  // namespace gatehouse::vault
