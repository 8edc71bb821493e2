#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "store/migrations.h"
#include "store/sqlite_impl.h"

namespace gatehouse::store {

using sqlite_detail::io_error;
using sqlite_detail::is_unique_violation;
using sqlite_detail::join_groups;
using sqlite_detail::Query;
using sqlite_detail::split_groups;

namespace {

constexpr int kBusyTimeoutMs = 5000;

// BLAKE2b-256 of the raw id: the database never holds a usable session reference.
std::string session_key(const std::string& id) {
  std::string out(crypto_generichash_BYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(id.data()), id.size(), nullptr, 0);
  return out;
}

// SQLite creates the file with 0644 & ~umask; the store holds password hashes and
// sessions, so create it ourselves with 0600 first. SQLite gives the -wal and -shm
// files the mode of the database file. Changing the umask instead would race with
// other threads creating files.
Status create_private_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Ok{};
    return make_error("store.open", path + ": " + std::strerror(errno));
  }
  // Force exactly 0600 whatever the umask.
  const int rc = ::fchmod(fd, 0600);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return make_error("store.open", path + ": chmod: " + std::strerror(err));
  return Ok{};
}

}  // namespace

Status SqliteStore::Impl::enable_wal() {
  auto stmt = prepare("PRAGMA journal_mode=WAL");
  if (!stmt) return make_error("store.open", stmt.error().message);
  // Switching a new file to WAL needs an exclusive lock, and SQLite reports a
  // conflict on it at once rather than through the busy handler. Two processes
  // opening a new file together meet here, so wait as the busy timeout would.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  for (;;) {
    Query q(*stmt);
    const int rc = q.step();
    if (rc == SQLITE_ROW) {
      if (const auto mode = q.column_text(0); mode != "wal" && mode != "memory")
        return make_error("store.open", "cannot switch to WAL journal mode (got " + mode + ")");
      return Ok{};
    }
    const int primary = rc & 0xff;
    if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) ||
        std::chrono::steady_clock::now() >= deadline) {
      return make_error("store.open", io_error(db, "journal_mode").message);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Status SqliteStore::Impl::configure() {
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  if (auto s = enable_wal(); !s) return s;
  for (auto pragma : {"PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"}) {
    if (sqlite3_exec(db, pragma, nullptr, nullptr, nullptr) != SQLITE_OK)
      return make_error("store.open", io_error(db, pragma).message);
  }
  return Ok{};
}

Result<int> SqliteStore::Impl::current_version() {
  auto exists =
      prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
  if (!exists) return exists.error();
  {
    Query q(*exists);
    const int rc = q.step();
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return io_error(db, "read schema version");
  }
  auto max = prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!max) return max.error();
  Query q(*max);
  if (q.step() != SQLITE_ROW) return io_error(db, "read schema version");
  return static_cast<int>(q.column_int64(0));
}

Status SqliteStore::Impl::migrate() {
  const int latest = latest_schema_version();
  const auto too_new = [latest](int found) {
    std::string message = "database schema version " + std::to_string(found);
    message += " is newer than this gatehouse supports (" + std::to_string(latest) + ")";
    message += "; upgrade gatehouse or restore a matching backup";
    return make_error("store.migrate", std::move(message));
  };

  // Already current: no write lock needed, so a read-only file still opens and
  // check_writable() can report the problem.
  auto found = current_version();
  if (!found) return make_error("store.migrate", found.error().message);
  if (*found > latest) return too_new(*found);

  while (*found < latest) {
    // One transaction per migration. The version is read again under the write
    // lock: another process may have migrated while this one waited for it.
    auto step = write([&]() -> Result<int> {
      if (sqlite3_exec(db,
                       "CREATE TABLE IF NOT EXISTS schema_migrations ("
                       "  version INTEGER PRIMARY KEY NOT NULL,"
                       "  applied_at INTEGER NOT NULL)",
                       nullptr, nullptr, nullptr) != SQLITE_OK) {
        return io_error(db, "create schema_migrations");
      }
      auto now = current_version();
      if (!now) return now.error();
      if (*now > latest) return too_new(*now);
      if (*now == latest) return *now;
      const Migration& m = migrations()[static_cast<std::size_t>(*now)];
      const std::string sql(m.sql);  // sqlite3_exec wants a NUL-terminated string
      if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
        return io_error(db, "migration " + std::to_string(m.version) + "_" + std::string(m.name));
      }
      auto record = prepare(
          "INSERT INTO schema_migrations (version, applied_at) "
          "VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))");
      if (!record) return record.error();
      Query q(*record);
      q.int64(1, m.version);
      if (q.step() != SQLITE_DONE) return io_error(db, "record migration");
      return m.version;
    });
    if (!step) {
      if (step.error().code == "store.migrate") return step.error();
      return make_error("store.migrate", step.error().message);
    }
    found = *step;
  }
  version = *found;
  return Ok{};
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  // Session keys are BLAKE2b hashes; sodium_init() picks the implementation and may
  // be called any number of times.
  if (sodium_init() < 0) return make_error("store.open", "libsodium failed to initialise");
  if (path != ":memory:") {
    if (auto s = create_private_file(path); !s) return s.error();
  }
  auto impl = std::make_unique<Impl>();
  // Our own mutex serialises use of the single connection, so SQLite's is redundant.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &impl->db, flags, nullptr) != SQLITE_OK) {
    std::string message = path + ": ";
    message += impl->db ? sqlite3_errmsg(impl->db) : "out of memory";
    return make_error("store.open", message);
  }
  if (auto s = impl->configure(); !s) return s.error();
  if (auto s = impl->migrate(); !s) return s.error();
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

int SqliteStore::schema_version() const { return impl_->version; }

Status SqliteStore::check_writable() {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  // A real row change proves the write path (a read-only file fails here); the
  // rollback leaves nothing behind.
  if (auto s = d.exec("BEGIN IMMEDIATE", "begin transaction"); !s) return s.error();
  auto s = d.exec("INSERT OR REPLACE INTO kv (key, value) VALUES ('gatehouse.health', x'00')",
                  "write probe");
  d.rollback();
  return s;
}

// --- tenants ---------------------------------------------------------------------

Status SqliteStore::add_tenant(const Tenant& tenant) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "INSERT INTO tenants (name, created_at, display_name, language) VALUES (?1, ?2, ?3, ?4)");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, tenant.name)
      .int64(2, tenant.created_at)
      .text(3, tenant.display_name)
      .text(4, tenant.language);
  if (q.step() != SQLITE_DONE) {
    if (is_unique_violation(d.db))
      return make_error("store.exists", "tenant '" + tenant.name + "' already exists");
    return io_error(d.db, "add tenant");
  }
  return Ok{};
}

Result<std::vector<Tenant>> SqliteStore::list_tenants() {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt =
      d.prepare("SELECT name, created_at, display_name, language FROM tenants ORDER BY name");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  std::vector<Tenant> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back({q.column_text(0), q.column_int64(1), q.column_text(2), q.column_text(3)});
  if (rc != SQLITE_DONE) return io_error(d.db, "list tenants");
  return out;
}

Result<bool> SqliteStore::tenant_exists(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("SELECT 1 FROM tenants WHERE name = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, name);
  const int rc = q.step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return io_error(d.db, "find tenant");
}

// --- users -----------------------------------------------------------------------

Status SqliteStore::add_user(const User& user) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  return d.write([&]() -> Status {
    auto insert = d.prepare(
        "INSERT INTO users "
        "(name, tenant, email, display_name, password_hash, disabled, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!insert) return insert.error();
    {
      Query q(*insert);
      q.text(1, user.name)
          .text(2, user.tenant)
          .text(3, user.email)
          .text(4, user.display_name)
          .text(5, user.password_hash)
          .int64(6, user.disabled ? 1 : 0)
          .int64(7, user.created_at);
      if (q.step() != SQLITE_DONE) {
        if (is_unique_violation(d.db))
          return make_error("store.exists", "user '" + user.name + "' already exists");
        if (sqlite3_extended_errcode(d.db) == SQLITE_CONSTRAINT_FOREIGNKEY)
          return make_error("store.no_tenant", "tenant '" + user.tenant + "' does not exist");
        return io_error(d.db, "add user");
      }
    }
    // Groups are a set: duplicates collapse.
    auto group = d.prepare("INSERT OR IGNORE INTO user_groups (user, grp) VALUES (?1, ?2)");
    if (!group) return group.error();
    for (const auto& g : user.groups) {
      Query q(*group);
      q.text(1, user.name).text(2, g);
      if (q.step() != SQLITE_DONE) return io_error(d.db, "add user group");
    }
    return Ok{};
  });
}

namespace {
// Column order shared by the user SELECTs below.
User read_user(const Query& q) {
  User u;
  u.name = q.column_text(0);
  u.tenant = q.column_text(1);
  u.email = q.column_text(2);
  u.display_name = q.column_text(3);
  u.password_hash = q.column_text(4);
  u.disabled = q.column_int64(5) != 0;
  u.created_at = q.column_int64(6);
  return u;
}
}  // namespace

Result<std::optional<User>> SqliteStore::find_user(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  return d.read([&]() -> Result<std::optional<User>> {
    auto stmt = d.prepare(
        "SELECT name, tenant, email, display_name, password_hash, disabled, created_at "
        "FROM users WHERE name = ?1 COLLATE NOCASE");
    if (!stmt) return stmt.error();
    std::optional<User> user;
    {
      Query q(*stmt);
      q.text(1, name);
      const int rc = q.step();
      if (rc == SQLITE_DONE) return std::optional<User>();
      if (rc != SQLITE_ROW) return io_error(d.db, "find user");
      user = read_user(q);
    }
    auto groups = d.prepare("SELECT grp FROM user_groups WHERE user = ?1 ORDER BY grp");
    if (!groups) return groups.error();
    Query q(*groups);
    q.text(1, user->name);  // as stored
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) user->groups.push_back(q.column_text(0));
    if (rc != SQLITE_DONE) return io_error(d.db, "find user groups");
    return user;
  });
}

Result<std::vector<User>> SqliteStore::list_users() {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  return d.read([&]() -> Result<std::vector<User>> {
    auto stmt = d.prepare(
        "SELECT name, tenant, email, display_name, password_hash, disabled, created_at "
        "FROM users ORDER BY name");
    if (!stmt) return stmt.error();
    std::vector<User> users;
    std::map<std::string, std::size_t, std::less<>> index;
    {
      Query q(*stmt);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        users.push_back(read_user(q));
        index.emplace(users.back().name, users.size() - 1);
      }
      if (rc != SQLITE_DONE) return io_error(d.db, "list users");
    }
    auto groups = d.prepare("SELECT user, grp FROM user_groups ORDER BY user, grp");
    if (!groups) return groups.error();
    Query q(*groups);
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      if (auto it = index.find(q.column_text(0)); it != index.end())
        users[it->second].groups.push_back(q.column_text(1));
    }
    if (rc != SQLITE_DONE) return io_error(d.db, "list user groups");
    return users;
  });
}

Status SqliteStore::set_password_hash(const std::string& name, const std::string& hash) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("UPDATE users SET password_hash = ?2 WHERE name = ?1 COLLATE NOCASE");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, name).text(2, hash);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "set password");
  if (sqlite3_changes(d.db) == 0) return make_error("store.not_found", "no user '" + name + "'");
  return Ok{};
}

Status SqliteStore::set_disabled(const std::string& name, bool disabled) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("UPDATE users SET disabled = ?2 WHERE name = ?1 COLLATE NOCASE");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, name).int64(2, disabled ? 1 : 0);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "set disabled");
  if (sqlite3_changes(d.db) == 0) return make_error("store.not_found", "no user '" + name + "'");
  return Ok{};
}

// --- sessions --------------------------------------------------------------------
// Single-statement writes run as their own transaction, which takes the write lock
// when the statement starts, as BEGIN IMMEDIATE would.

Status SqliteStore::create_session(const SessionRecord& r) {
  auto groups = join_groups(r.groups);
  if (!groups) return groups.error();
  const std::string key = session_key(r.id);
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "INSERT INTO sessions (id_hash, user, email, display_name, group_list, real_party, "
      "effective_party, source, created_at, last_seen, provider_state, refresh_at, email_verified) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.blob(1, key.data(), key.size())
      .text(2, r.user)
      .text(3, r.email)
      .text(4, r.display_name)
      .text(5, *groups)
      .text(6, r.real_party)
      .text(7, r.effective_party)
      .text(8, r.source)
      .int64(9, r.created_at)
      .int64(10, r.last_seen)
      .blob(11, r.provider_state.data(), r.provider_state.size())
      .int64(12, r.refresh_at)
      .int64(13, r.email_verified ? 1 : 0);
  if (q.step() != SQLITE_DONE) {
    if (is_unique_violation(d.db)) return make_error("store.exists", "session already exists");
    return io_error(d.db, "create session");
  }
  return Ok{};
}

Result<std::optional<SessionRecord>> SqliteStore::find_session(const std::string& id) {
  const std::string key = session_key(id);
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "SELECT user, email, display_name, group_list, real_party, effective_party, source, "
      "created_at, last_seen, provider_state, refresh_at, email_verified FROM sessions WHERE id_hash = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.blob(1, key.data(), key.size());
  const int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<SessionRecord>();
  if (rc != SQLITE_ROW) return io_error(d.db, "find session");
  SessionRecord r;
  r.id = id;
  r.user = q.column_text(0);
  r.email = q.column_text(1);
  r.display_name = q.column_text(2);
  r.groups = split_groups(q.column_text(3));
  r.real_party = q.column_text(4);
  r.effective_party = q.column_text(5);
  r.source = q.column_text(6);
  r.created_at = q.column_int64(7);
  r.last_seen = q.column_int64(8);
  r.provider_state = q.column_blob(9);
  r.refresh_at = q.column_int64(10);
  r.email_verified = q.column_int64(11) != 0;
  return std::optional<SessionRecord>(std::move(r));
}

Status SqliteStore::update_session(const std::string& id, const SessionUpdate& u) {
  auto groups = join_groups(u.groups);
  if (!groups) return groups.error();
  const std::string key = session_key(id);
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "UPDATE sessions SET user = ?2, email = ?3, display_name = ?4, group_list = ?5, real_party = ?6, "
      "effective_party = ?7, provider_state = ?8, refresh_at = ?9, email_verified = ?10 WHERE id_hash = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.blob(1, key.data(), key.size())
      .text(2, u.user)
      .text(3, u.email)
      .text(4, u.display_name)
      .text(5, *groups)
      .text(6, u.real_party)
      .text(7, u.effective_party)
      .blob(8, u.provider_state.data(), u.provider_state.size())
      .int64(9, u.refresh_at)
      .int64(10, u.email_verified ? 1 : 0);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "update session");
  if (sqlite3_changes(d.db) == 0) return make_error("store.not_found", "no such session");
  return Ok{};
}

Status SqliteStore::touch_session(const std::string& id, std::int64_t last_seen) {
  const std::string key = session_key(id);
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  // Concurrent requests may touch out of order; last_seen never moves back.
  auto stmt = d.prepare("UPDATE sessions SET last_seen = MAX(last_seen, ?2) WHERE id_hash = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.blob(1, key.data(), key.size()).int64(2, last_seen);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "touch session");
  if (sqlite3_changes(d.db) == 0) return make_error("store.not_found", "no such session");
  return Ok{};
}

Status SqliteStore::delete_session(const std::string& id) {
  const std::string key = session_key(id);
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("DELETE FROM sessions WHERE id_hash = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.blob(1, key.data(), key.size());
  if (q.step() != SQLITE_DONE) return io_error(d.db, "delete session");
  return Ok{};
}

Result<std::int64_t> SqliteStore::delete_expired_sessions(std::int64_t created_before,
                                                          std::int64_t idle_before) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("DELETE FROM sessions WHERE created_at < ?1 OR last_seen < ?2");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.int64(1, created_before).int64(2, idle_before);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "delete expired sessions");
  return static_cast<std::int64_t>(sqlite3_changes(d.db));
}

Result<std::int64_t> SqliteStore::delete_user_sessions(const std::string& user) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("DELETE FROM sessions WHERE user = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, user);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "delete user sessions");
  return static_cast<std::int64_t>(sqlite3_changes(d.db));
}

Result<std::int64_t> SqliteStore::count_sessions(std::int64_t created_since, std::int64_t seen_since) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("SELECT count(*) FROM sessions WHERE created_at >= ?1 AND last_seen >= ?2");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.int64(1, created_since).int64(2, seen_since);
  if (q.step() != SQLITE_ROW) return io_error(d.db, "count sessions");
  return q.column_int64(0);
}

// --- key/value -------------------------------------------------------------------

Result<std::optional<std::string>> SqliteStore::get_value(const std::string& key) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("SELECT value FROM kv WHERE key = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, key);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return io_error(d.db, "get value");
  return std::optional<std::string>(q.column_blob(0));
}

Result<std::string> SqliteStore::put_value_if_absent(const std::string& key,
                                                     const std::string& value) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  return d.write([&]() -> Result<std::string> {
    auto insert =
        d.prepare("INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING");
    if (!insert) return insert.error();
    {
      Query q(*insert);
      q.text(1, key).blob(2, value.data(), value.size());
      if (q.step() != SQLITE_DONE) return io_error(d.db, "put value");
    }
    auto select = d.prepare("SELECT value FROM kv WHERE key = ?1");
    if (!select) return select.error();
    Query q(*select);
    q.text(1, key);
    if (q.step() != SQLITE_ROW) return io_error(d.db, "read back value");
    return q.column_blob(0);
  });
}

Result<bool> SqliteStore::replace_value(const std::string& key, const std::string& expected,
                                        const std::string& value) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("UPDATE kv SET value = ?3 WHERE key = ?1 AND value = ?2");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, key).blob(2, expected.data(), expected.size()).blob(3, value.data(), value.size());
  if (q.step() != SQLITE_DONE) return io_error(d.db, "replace value");
  return sqlite3_changes(d.db) == 1;
}

Result<bool> SqliteStore::remove_value(const std::string& key) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("DELETE FROM kv WHERE key = ?1");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, key);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "remove value");
  return sqlite3_changes(d.db) == 1;
}

}  // namespace gatehouse::store

namespace gatehouse::store {

// --- lockout ---------------------------------------------------------------------

namespace {

constexpr std::string_view kind_text(WhitelistKind kind) {
  return kind == WhitelistKind::user ? "user" : "network";
}

AccountLock read_lock(const Query& q, std::string account) {
  AccountLock lock;
  lock.account = std::move(account);
  lock.since = q.column_int64(0);
  lock.until = q.column_int64(1);
  lock.reason = q.column_text(2);
  lock.last_client = q.column_text(3);
  return lock;
}

}  // namespace

// Helpers shared by the lockout methods; each expects impl_->mu held.
struct SqliteStore::LockoutSql {
  Impl& d;

  Result<std::int64_t> scalar(Query& q, std::string_view what) {
    const int rc = q.step();
    if (rc == SQLITE_DONE) return std::int64_t{0};
    if (rc != SQLITE_ROW) return io_error(d.db, what);
    return q.column_int64(0);
  }

  Result<std::int64_t> count_account(const std::string& account, std::int64_t since) {
    auto stmt =
        d.prepare("SELECT COUNT(*) FROM lockout_account_failures WHERE account = ?1 AND at >= ?2");
    if (!stmt) return stmt.error();
    Query q(*stmt);
    q.text(1, account).int64(2, since);
    return scalar(q, "count account failures");
  }

  Result<std::int64_t> count_address(const std::string& address, std::int64_t since) {
    auto stmt =
        d.prepare("SELECT COUNT(*) FROM lockout_address_failures WHERE address = ?1 AND at >= ?2");
    if (!stmt) return stmt.error();
    Query q(*stmt);
    q.text(1, address).int64(2, since);
    return scalar(q, "count address failures");
  }

  // The n-th newest failure of the address since `since`; 0 when there are fewer.
  Result<std::int64_t> nth_newest_address_failure(const std::string& address, std::int64_t since,
                                                  std::int64_t n) {
    if (n < 1) return std::int64_t{0};
    auto stmt = d.prepare(
        "SELECT at FROM lockout_address_failures WHERE address = ?1 AND at >= ?2 "
        "ORDER BY at DESC LIMIT 1 OFFSET ?3");
    if (!stmt) return stmt.error();
    Query q(*stmt);
    q.text(1, address).int64(2, since).int64(3, n - 1);
    return scalar(q, "find address failure");
  }

  Result<std::optional<AccountLock>> find_lock(const std::string& account, std::int64_t now) {
    auto stmt =
        d.prepare("SELECT since, until, reason, last_client FROM lockout_locks WHERE account = ?1");
    if (!stmt) return stmt.error();
    Query q(*stmt);
    q.text(1, account);
    const int rc = q.step();
    if (rc == SQLITE_DONE) return std::optional<AccountLock>();
    if (rc != SQLITE_ROW) return io_error(d.db, "find lock");
    AccountLock lock = read_lock(q, account);
    if (!lock_in_force(lock, now)) return std::optional<AccountLock>();
    return std::optional<AccountLock>(std::move(lock));
  }

  // Removes the lock (in force or not) and the failures of the account.
  Status clear_account(const std::string& account) {
    if (auto s =
            delete_by_text("DELETE FROM lockout_locks WHERE account = ?1", account, "delete lock");
        !s)
      return s.error();
    if (auto s = delete_by_text("DELETE FROM lockout_account_failures WHERE account = ?1", account,
                                "delete account failures");
        !s)
      return s.error();
    return Ok{};
  }

  // sql: a literal "DELETE … WHERE x = ?1"; returns the number of rows deleted.
  Result<std::int64_t> delete_by_text(std::string_view sql, const std::string& value,
                                      std::string_view what) {
    auto stmt = d.prepare(sql);
    if (!stmt) return stmt.error();
    Query q(*stmt);
    q.text(1, value);
    if (q.step() != SQLITE_DONE) return io_error(d.db, what);
    return static_cast<std::int64_t>(sqlite3_changes(d.db));
  }

  // sql: a literal "DELETE … WHERE x = ?1 AND at < ?2" or "INSERT … VALUES (?1, ?2)".
  Status exec_text_int(std::string_view sql, const std::string& text, std::int64_t value,
                       std::string_view what) {
    auto stmt = d.prepare(sql);
    if (!stmt) return stmt.error();
    Query q(*stmt);
    q.text(1, text).int64(2, value);
    if (q.step() != SQLITE_DONE) return io_error(d.db, what);
    return Ok{};
  }
};

Result<LockoutState> SqliteStore::lockout_state(const LockoutQuery& query) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  LockoutSql sql{d};
  return d.read([&]() -> Result<LockoutState> {
    LockoutState state;
    auto account = sql.count_account(query.account, query.window_start);
    if (!account) return account.error();
    state.account_failures = *account;
    auto address = sql.count_address(query.address, query.window_start);
    if (!address) return address.error();
    state.address_failures = *address;
    if (state.address_failures >= query.address_threshold) {
      auto at = sql.nth_newest_address_failure(query.address, query.window_start,
                                               query.address_threshold);
      if (!at) return at.error();
      state.address_threshold_at = *at;
    }
    auto found = sql.find_lock(query.account, query.now);
    if (!found) return found.error();
    state.lock = std::move(*found);

    auto user = d.prepare("SELECT 1 FROM lockout_whitelist WHERE kind = 'user' AND value = ?1");
    if (!user) return user.error();
    {
      Query q(*user);
      q.text(1, query.account);
      const int rc = q.step();
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return io_error(d.db, "read whitelist");
      state.account_whitelisted = rc == SQLITE_ROW;
    }
    auto networks =
        d.prepare("SELECT value FROM lockout_whitelist WHERE kind = 'network' ORDER BY value");
    if (!networks) return networks.error();
    Query q(*networks);
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) state.whitelisted_networks.push_back(q.column_text(0));
    if (rc != SQLITE_DONE) return io_error(d.db, "read whitelist");
    return state;
  });
}

Result<FailureTally> SqliteStore::record_failure(const FailureRecord& f) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  LockoutSql sql{d};
  return d.write([&]() -> Result<FailureTally> {
    FailureTally tally;
    if (!f.account.empty()) {
      // Rows that left the window are dropped as the account is seen again, so a busy
      // account never accumulates more than a window's worth.
      if (auto s = sql.exec_text_int(
              "DELETE FROM lockout_account_failures WHERE account = ?1 AND at < ?2", f.account,
              f.window_start, "drop old account failures");
          !s)
        return s.error();
      if (auto s = sql.exec_text_int(
              "INSERT INTO lockout_account_failures (account, at) VALUES (?1, ?2)", f.account, f.at,
              "record account failure");
          !s)
        return s.error();
      auto count = sql.count_account(f.account, f.window_start);
      if (!count) return count.error();
      tally.account_failures = *count;
      if (f.lock_threshold > 0 && *count >= f.lock_threshold) {
        auto existing = sql.find_lock(f.account, f.at);
        if (!existing) return existing.error();
        if (!existing->has_value()) {
          auto insert = d.prepare(
              "INSERT OR REPLACE INTO lockout_locks (account, since, until, reason, last_client) "
              "VALUES (?1, ?2, ?3, ?4, ?5)");
          if (!insert) return insert.error();
          {
            Query q(*insert);
            q.text(1, f.account)
                .int64(2, f.at)
                .int64(3, f.lock.until)
                .text(4, f.lock.reason)
                .text(5, f.lock.last_client);
            if (q.step() != SQLITE_DONE) return io_error(d.db, "store lock");
          }
          if (auto s = sql.delete_by_text("DELETE FROM lockout_account_failures WHERE account = ?1",
                                          f.account, "delete account failures");
              !s)
            return s.error();
          tally.locked_now = true;
        }
      }
    }
    if (!f.address.empty()) {
      if (auto s = sql.exec_text_int(
              "DELETE FROM lockout_address_failures WHERE address = ?1 AND at < ?2", f.address,
              f.window_start, "drop old address failures");
          !s)
        return s.error();
      if (auto s = sql.exec_text_int(
              "INSERT INTO lockout_address_failures (address, at) VALUES (?1, ?2)", f.address, f.at,
              "record address failure");
          !s)
        return s.error();
      auto count = sql.count_address(f.address, f.window_start);
      if (!count) return count.error();
      tally.address_failures = *count;
    }
    return tally;
  });
}

Status SqliteStore::clear_account_failures(const std::string& account) {
  std::lock_guard lock(impl_->mu);
  LockoutSql sql{*impl_};
  auto deleted = sql.delete_by_text("DELETE FROM lockout_account_failures WHERE account = ?1",
                                    account, "delete account failures");
  if (!deleted) return deleted.error();
  return Ok{};
}

Result<bool> SqliteStore::unlock_account(const std::string& account, std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  LockoutSql sql{d};
  return d.write([&]() -> Result<bool> {
    auto found = sql.find_lock(account, now);
    if (!found) return found.error();
    if (auto s = sql.clear_account(account); !s) return s.error();
    return found->has_value();
  });
}

Result<std::int64_t> SqliteStore::clear_address_failures(const std::string& address) {
  std::lock_guard lock(impl_->mu);
  LockoutSql sql{*impl_};
  return sql.delete_by_text("DELETE FROM lockout_address_failures WHERE address = ?1", address,
                            "delete address failures");
}

Result<std::vector<AccountLock>> SqliteStore::list_locks(std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "SELECT since, until, reason, last_client, account FROM lockout_locks "
      "WHERE until = 0 OR until > ?1 ORDER BY since, account");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.int64(1, now);
  std::vector<AccountLock> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_lock(q, q.column_text(4)));
  if (rc != SQLITE_DONE) return io_error(d.db, "list locks");
  return out;
}

Result<std::vector<FailingAddress>> SqliteStore::list_failing_addresses(std::int64_t window_start,
                                                                        std::int64_t min_failures) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  LockoutSql sql{d};
  return d.read([&]() -> Result<std::vector<FailingAddress>> {
    auto stmt = d.prepare(
        "SELECT address, COUNT(*), MIN(at) FROM lockout_address_failures WHERE at >= ?1 "
        "GROUP BY address HAVING COUNT(*) >= ?2 ORDER BY address");
    if (!stmt) return stmt.error();
    std::vector<FailingAddress> out;
    {
      Query q(*stmt);
      q.int64(1, window_start).int64(2, min_failures);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW)
        out.push_back({q.column_text(0), q.column_int64(1), q.column_int64(2), 0});
      if (rc != SQLITE_DONE) return io_error(d.db, "list failing addresses");
    }
    for (auto& a : out) {
      auto at = sql.nth_newest_address_failure(a.address, window_start, min_failures);
      if (!at) return at.error();
      a.threshold_at = *at;
    }
    return out;
  });
}

Result<WhitelistChange> SqliteStore::add_to_whitelist(const WhitelistEntry& entry,
                                                      std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  LockoutSql sql{d};
  return d.write([&]() -> Result<WhitelistChange> {
    WhitelistChange change;
    auto insert = d.prepare(
        "INSERT INTO lockout_whitelist (kind, value, added_at, added_by, comment) "
        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (kind, value) DO NOTHING");
    if (!insert) return insert.error();
    {
      Query q(*insert);
      q.text(1, kind_text(entry.kind))
          .text(2, entry.value)
          .int64(3, entry.added_at)
          .text(4, entry.added_by)
          .text(5, entry.comment);
      if (q.step() != SQLITE_DONE) return io_error(d.db, "add to whitelist");
      change.changed = sqlite3_changes(d.db) > 0;
    }
    if (entry.kind == WhitelistKind::user) {
      auto found = sql.find_lock(entry.value, now);
      if (!found) return found.error();
      change.unlocked = found->has_value();
      if (auto s = sql.clear_account(entry.value); !s) return s.error();
    }
    return change;
  });
}

Result<WhitelistChange> SqliteStore::remove_from_whitelist(WhitelistKind kind,
                                                           const std::string& value) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare("DELETE FROM lockout_whitelist WHERE kind = ?1 AND value = ?2");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.text(1, kind_text(kind)).text(2, value);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "remove from whitelist");
  return WhitelistChange{sqlite3_changes(d.db) > 0, false};
}

Result<std::vector<WhitelistEntry>> SqliteStore::list_whitelist() {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "SELECT kind, value, added_at, added_by, comment FROM lockout_whitelist "
      "ORDER BY kind = 'network', value");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  std::vector<WhitelistEntry> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    WhitelistEntry e;
    e.kind = q.column_text(0) == "user" ? WhitelistKind::user : WhitelistKind::network;
    e.value = q.column_text(1);
    e.added_at = q.column_int64(2);
    e.added_by = q.column_text(3);
    e.comment = q.column_text(4);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return io_error(d.db, "list whitelist");
  return out;
}

Result<std::int64_t> SqliteStore::prune_lockout(std::int64_t failures_before, std::int64_t now) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  return d.write([&]() -> Result<std::int64_t> {
    std::int64_t total = 0;
    for (auto sql : {"DELETE FROM lockout_account_failures WHERE at < ?1",
                     "DELETE FROM lockout_address_failures WHERE at < ?1"}) {
      auto stmt = d.prepare(sql);
      if (!stmt) return stmt.error();
      Query q(*stmt);
      q.int64(1, failures_before);
      if (q.step() != SQLITE_DONE) return io_error(d.db, "prune failures");
      total += sqlite3_changes(d.db);
    }
    auto stmt = d.prepare("DELETE FROM lockout_locks WHERE until != 0 AND until <= ?1");
    if (!stmt) return stmt.error();
    Query q(*stmt);
    q.int64(1, now);
    if (q.step() != SQLITE_DONE) return io_error(d.db, "prune locks");
    return total + sqlite3_changes(d.db);
  });
}

// --- audit -----------------------------------------------------------------------

Result<std::int64_t> SqliteStore::append_audit(const AuditRecord& r) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "INSERT INTO audit_log (at, event, user, account, client, source, route, detail) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.int64(1, r.at)
      .text(2, r.event)
      .text(3, r.user)
      .text(4, r.account)
      .text(5, r.client)
      .text(6, r.source)
      .text(7, r.route)
      .text(8, r.detail);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "append audit record");
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(d.db));
}

Result<std::vector<AuditRecord>> SqliteStore::list_audit(const AuditQuery& query) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  // Two texts so that a query for one account uses the account index.
  auto stmt = query.account.empty()
                  ? d.prepare(
                        "SELECT id, at, event, user, account, client, source, route, detail "
                        "FROM audit_log WHERE at >= ?2 AND (?3 = '' OR event = ?3) "
                        "AND (?4 = 0 OR id < ?4) ORDER BY id DESC LIMIT ?5")
                  : d.prepare(
                        "SELECT id, at, event, user, account, client, source, route, detail "
                        "FROM audit_log WHERE account = ?1 AND at >= ?2 "
                        "AND (?3 = '' OR event = ?3) AND (?4 = 0 OR id < ?4) "
                        "ORDER BY id DESC LIMIT ?5");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  if (!query.account.empty()) q.text(1, query.account);
  q.int64(2, query.since.value_or(std::numeric_limits<std::int64_t>::min()))
      .text(3, query.event)
      .int64(4, query.before_id)
      .int64(5, query.limit > 0 ? query.limit : -1);
  std::vector<AuditRecord> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    AuditRecord r;
    r.id = q.column_int64(0);
    r.at = q.column_int64(1);
    r.event = q.column_text(2);
    r.user = q.column_text(3);
    r.account = q.column_text(4);
    r.client = q.column_text(5);
    r.source = q.column_text(6);
    r.route = q.column_text(7);
    r.detail = q.column_text(8);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return io_error(d.db, "list audit records");
  return out;
}

Result<std::int64_t> SqliteStore::delete_audit_before(std::int64_t before, std::int64_t limit) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  auto stmt = d.prepare(
      "DELETE FROM audit_log WHERE id IN "
      "(SELECT id FROM audit_log WHERE at < ?1 ORDER BY at LIMIT ?2)");
  if (!stmt) return stmt.error();
  Query q(*stmt);
  q.int64(1, before).int64(2, limit);
  if (q.step() != SQLITE_DONE) return io_error(d.db, "prune audit records");
  return static_cast<std::int64_t>(sqlite3_changes(d.db));
}

Result<LoginSummary> SqliteStore::login_summary(const std::string& account) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  return d.read([&]() -> Result<LoginSummary> {
    auto stmt = d.prepare(
        "SELECT at FROM audit_log WHERE account = ?1 AND event = ?2 ORDER BY id DESC LIMIT 1");
    if (!stmt) return stmt.error();
    auto last = [&](std::string_view event) -> Result<std::int64_t> {
      Query q(*stmt);
      q.text(1, account).text(2, event);
      const int rc = q.step();
      if (rc == SQLITE_DONE) return std::int64_t{0};
      if (rc != SQLITE_ROW) return io_error(d.db, "read login history");
      return q.column_int64(0);
    };
    LoginSummary summary;
    auto success = last("login.success");
    if (!success) return success.error();
    summary.last_success = *success;
    for (auto event : {"login.failure", "login.locked"}) {
      auto failure = last(event);
      if (!failure) return failure.error();
      summary.last_failure = std::max(summary.last_failure, *failure);
    }
    return summary;
  });
}

// --- group commit ----------------------------------------------------------------

std::vector<Status> SqliteStore::run_batch(std::span<const std::function<void()>> jobs) {
  std::lock_guard lock(impl_->mu);
  auto& d = *impl_;
  std::vector<Status> outcome(jobs.size(), Status(Ok{}));
  // Jobs run only inside the batch's transaction: when it cannot begin (the database
  // is locked past the busy timeout, the disk is gone), the jobs are not run and get
  // the error, so they fail after one wait instead of one per write, and writes meant
  // to commit together are never committed one by one.
  Status open = d.exec("BEGIN IMMEDIATE", "begin batch");
  std::size_t first = 0;  // the first job of the open transaction
  auto lose = [&](std::size_t end, const Error& why) {
    for (std::size_t j = first; j < end; ++j) outcome[j] = why;
  };
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (!open) {
      outcome[i] = open.error();
      continue;
    }
    jobs[i]();
    if (sqlite3_get_autocommit(d.db)) {
      // An error inside job i rolled the whole transaction back.
      lose(i + 1, make_error("store.io", "a store error rolled back the write transaction"));
      open = d.exec("BEGIN IMMEDIATE", "begin batch");
      first = i + 1;
    }
  }
  if (open) {
    if (auto s = d.exec("COMMIT", "commit batch"); !s) {
      d.rollback();
      lose(jobs.size(), s.error());
    }
  }
  return outcome;
}

}  // namespace gatehouse::store
