#pragma once
// The tenant vault's rows: one data key per tenant (wrapped by the master key) and the
// tenant's named secrets (sealed by that data key). The store keeps opaque sealed text;
// sealing, opening and the rules live in vault/. Every change bumps a generation number
// that running daemons poll, so a change made by the CLI reaches them within a second.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace gatehouse::store {

struct TenantKeyRecord {
  std::string tenant;
  std::string key_id;   // the data key's id (crypto::Key::id), also named in every value it seals
  std::string wrapped;  // the data key sealed under a master key (crypto/envelope.h)
  std::int64_t created_at = 0;
};

struct VaultSecretRecord {
  std::string tenant;
  std::string name;
  std::int64_t version = 0;  // 1 for the first value; never reused, not even after a removal
  std::string sealed;        // empty in listings
  std::int64_t updated_at = 0;
  std::string updated_by;  // "cli:…" or "SOURCE:USER"
};

class VaultStore {
 public:
  virtual ~VaultStore() = default;

  virtual Result<std::optional<TenantKeyRecord>> find_tenant_key(const std::string& tenant) = 0;
  // Stores `key` unless the tenant has one already; returns the stored one (two processes
  // creating a tenant's first key at once agree on one).
  virtual Result<TenantKeyRecord> add_tenant_key_if_absent(const TenantKeyRecord& key) = 0;
  virtual Result<std::vector<TenantKeyRecord>> list_tenant_keys() = 0;  // by tenant
  // Replaces the wrapping of the tenant's key `key_id` if it is still `expected`.
  virtual Result<bool> rewrap_tenant_key(const std::string& tenant, const std::string& key_id,
                                         const std::string& expected, const std::string& wrapped) = 0;

  // The live value of one secret (nullopt when absent or removed).
  virtual Result<std::optional<VaultSecretRecord>> find_vault_secret(const std::string& tenant,
                                                                     const std::string& name) = 0;
  // Live secrets of a tenant, by name, without their sealed values.
  virtual Result<std::vector<VaultSecretRecord>> list_vault_secrets(const std::string& tenant) = 0;
  // The highest version the name ever had in the tenant (0: never), removed ones included.
  virtual Result<std::int64_t> last_vault_version(const std::string& tenant, const std::string& name) = 0;
  // Writes a new value whose version is last_vault_version + 1, if the tenant's data key
  // is still `key_id` and nobody wrote the name meanwhile; false otherwise (seal again).
  virtual Result<bool> put_vault_secret(const VaultSecretRecord& secret, const std::string& key_id) = 0;
  // Removes the live value (its version stays taken); false when there was none.
  virtual Result<bool> remove_vault_secret(const std::string& tenant, const std::string& name,
                                           std::int64_t at, const std::string& by) = 0;
  // Key rotation in one transaction: the tenant's key `old_key_id` becomes `fresh` and every
  // live secret gets its re-sealed value (matched by name and version). false, and nothing
  // changed, when the key or any secret changed meanwhile.
  virtual Result<bool> replace_tenant_key(const std::string& old_key_id, const TenantKeyRecord& fresh,
                                          const std::vector<VaultSecretRecord>& resealed) = 0;
  virtual Result<std::int64_t> vault_generation() = 0;
};

}  // namespace gatehouse::store
