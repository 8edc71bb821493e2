#pragma once
// Narrow storage interfaces: each consumer sees only what it needs. One backend
// (SQLite) implements all of them today; a PostgreSQL backend must pass the same
// conformance suite (tests/unit/store).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace gatehouse::store {

struct Tenant {
  std::string name;
  std::int64_t created_at = 0;
};

struct User {
  std::string name;          // unique, case-sensitive as stored; lookups are exact
  std::string tenant;        // home tenant (real party); must exist
  std::string email;
  std::string display_name;
  std::vector<std::string> groups;  // a set: returned sorted (byte order), duplicates dropped
  std::string password_hash;  // argon2id string from crypto_pwhash_str; "" = no password set
  bool disabled = false;
  std::int64_t created_at = 0;
};

class TenantStore {
 public:
  virtual ~TenantStore() = default;
  // error code "store.exists" when present already
  virtual Status add_tenant(const Tenant& tenant) = 0;
  virtual Result<std::vector<Tenant>> list_tenants() = 0;
  virtual Result<bool> tenant_exists(const std::string& name) = 0;
};

class UserStore {
 public:
  virtual ~UserStore() = default;
  // error "store.exists" if the name is taken, "store.no_tenant" if the tenant is unknown
  virtual Status add_user(const User& user) = 0;
  virtual Result<std::optional<User>> find_user(const std::string& name) = 0;
  virtual Result<std::vector<User>> list_users() = 0;
  // error "store.not_found" for an unknown user
  virtual Status set_password_hash(const std::string& name, const std::string& hash) = 0;
  virtual Status set_disabled(const std::string& name, bool disabled) = 0;
};

// A server-side session. The cookie only carries a sealed reference (the id); the
// record is what logout deletes, so a copied cookie dies at once.
struct SessionRecord {
  std::string id;  // 32 random bytes, raw; the store keeps only a hash of it
  std::string user;
  std::string email;
  std::string display_name;
  std::vector<std::string> groups;
  std::string real_party;
  std::string effective_party;
  std::string source;  // directory or provider name that authenticated the user
  std::int64_t created_at = 0;
  std::int64_t last_seen = 0;
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // error "store.exists" for an id already in use; groups keep their order
  virtual Status create_session(const SessionRecord& record) = 0;
  virtual Result<std::optional<SessionRecord>> find_session(const std::string& id) = 0;
  // last_seen only moves forward; error "store.not_found" for an unknown session
  virtual Status touch_session(const std::string& id, std::int64_t last_seen) = 0;
  // Succeeds for an unknown session too: logging out twice is not an error.
  virtual Status delete_session(const std::string& id) = 0;
  // Removes sessions with created_at < created_before or last_seen < idle_before;
  // returns how many.
  virtual Result<std::int64_t> delete_expired_sessions(std::int64_t created_before,
                                                       std::int64_t idle_before) = 0;
  virtual Result<std::int64_t> delete_user_sessions(const std::string& user) = 0;
};

// Small named blobs the daemon must keep across restarts (the assertion signing key,
// sealed by the caller before it gets here).
class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;
  virtual Result<std::optional<std::string>> get_value(const std::string& key) = 0;
  // Inserts only if absent; returns the value that is stored afterwards (so two
  // processes racing to create a key agree on one).
  virtual Result<std::string> put_value_if_absent(const std::string& key, const std::string& value) = 0;
};

}  // namespace gatehouse::store
