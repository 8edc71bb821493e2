#pragma once
// The whole store behind one object: every interface of store.h, tenancy_store.h and
// vault_store.h, plus what operations need (the schema version, a writability probe).
// The daemon, the CLI and the tests open it with open_database() from [store] and never
// name a backend; the backends (SqliteStore today) live behind the factory.
#include <memory>

#include "common/result.h"
#include "config/config.h"
#include "store/store.h"
#include "store/tenancy_store.h"
#include "store/vault_store.h"

namespace gatehouse::store {

class Database : public TenantStore,
                 public UserStore,
                 public SessionStore,
                 public KeyValueStore,
                 public LockoutStore,
                 public AuditStore,
                 public BatchStore,
                 public TenancyStore,
                 public VaultStore {
 public:
  ~Database() override = default;
  // The number of the last migration applied.
  virtual int schema_version() const = 0;
  // For readiness probes: a write in a transaction that is rolled back.
  virtual Status check_writable() = 0;
};

// Opens (creating and migrating where the backend does) the store [store] names.
// Errors: "store.open", "store.migrate", "store.backend" (a backend this build lacks).
Result<std::unique_ptr<Database>> open_database(const config::StoreConfig& config);

}  // namespace gatehouse::store
