#pragma once
// Private to store/*.cc: the SQLite backend's connection (SqliteStore::Impl), its cached
// statements (Query) and small helpers shared by sqlite_store.cc and sqlite_tenancy.cc.
// Nothing outside store/ includes this; the public face is store/sqlite_store.h.
#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.h"
#include "store/sqlite_store.h"

namespace gatehouse::store {
namespace sqlite_detail {

// Lists kept in one column (session groups, a known user's superuser_of) store each
// item followed by this separator, so that [] and [""] stay distinct.
inline constexpr char kGroupTerminator = '\x1f';

inline Error io_error(sqlite3* db, std::string_view what) {
  return make_error("store.io", std::string(what) + ": " + sqlite3_errmsg(db));
}

// A cached prepared statement borrowed for one use; reset and unbound on return.
// Binding failures are remembered and reported by step(), so call sites stay flat.
class Query {
 public:
  explicit Query(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  Query& text(int index, std::string_view value) {
    keep(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                           SQLITE_TRANSIENT));
    return *this;
  }
  Query& blob(int index, const void* data, std::size_t size) {
    // A null pointer would bind SQL NULL; an empty value must stay a zero-length blob.
    static const char kEmpty = 0;
    keep(sqlite3_bind_blob(stmt_, index, size == 0 ? &kEmpty : data, static_cast<int>(size),
                           SQLITE_TRANSIENT));
    return *this;
  }
  Query& int64(int index, std::int64_t value) {
    keep(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }

  // SQLITE_ROW, SQLITE_DONE or an error code (see sqlite3_errmsg).
  int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(stmt_); }

  std::string column_text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::string column_blob(int col) const {
    const auto* p = sqlite3_column_blob(stmt_, col);
    return p ? std::string(static_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::int64_t column_int64(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  void keep(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

inline bool is_unique_violation(sqlite3* db) {
  const int ext = sqlite3_extended_errcode(db);
  return ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE;
}

inline Result<std::string> join_groups(const std::vector<std::string>& groups) {
  std::string out;
  for (const auto& g : groups) {
    if (g.find(kGroupTerminator) != std::string::npos)
      return make_error("store.invalid", "group name contains the control character U+001F");
    out += g;
    out += kGroupTerminator;
  }
  return out;
}

inline std::vector<std::string> split_groups(std::string_view joined) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < joined.size(); ++i) {
    if (joined[i] == kGroupTerminator) {
      out.emplace_back(joined.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// ASCII lower case (other bytes kept as they are): delegations store e-mail addresses
// lower-cased and lookups lower-case theirs, so matching ignores case.
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace sqlite_detail

struct SqliteStore::Impl {
  using Query = sqlite_detail::Query;

  sqlite3* db = nullptr;
  // One connection, one statement at a time. Recursive: the jobs of run_batch call the
  // store's methods while the batch holds it.
  std::recursive_mutex mu;
  int version = 0;
  std::unordered_map<std::string_view, sqlite3_stmt*> statements;

  ~Impl() {
    for (auto& [sql, stmt] : statements) sqlite3_finalize(stmt);
    if (db) sqlite3_close(db);
  }

  // sql must be a string literal: the cache keys on its text without copying it.
  Result<sqlite3_stmt*> prepare(std::string_view sql) {
    if (auto it = statements.find(sql); it != statements.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &stmt, nullptr) != SQLITE_OK) {
      return sqlite_detail::io_error(db, "prepare");
    }
    statements.emplace(sql, stmt);
    return stmt;
  }

  // Runs a statement that returns no rows.
  Status exec(std::string_view sql, std::string_view what) {
    auto stmt = prepare(sql);
    if (!stmt) return stmt.error();
    Query q(*stmt);
    if (q.step() != SQLITE_DONE) return sqlite_detail::io_error(db, what);
    return Ok{};
  }

  void rollback() {
    // Some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY…) end the transaction already.
    if (!sqlite3_get_autocommit(db)) (void)exec("ROLLBACK", "rollback");
  }

  // Runs fn inside BEGIN <mode> … COMMIT, rolling back when fn or the commit fails.
  // IMMEDIATE takes the write lock up front, so a second process waits on the busy
  // timeout instead of failing to upgrade a read lock half-way through.
  // Inside a transaction already (a batch of run_batch), a savepoint instead.
  template <class F>
  auto transaction(std::string_view begin, F&& fn) -> decltype(fn()) {
    if (!sqlite3_get_autocommit(db)) return savepoint(std::forward<F>(fn));
    if (auto s = exec(begin, "begin transaction"); !s) return s.error();
    auto result = fn();
    if (!result) {
      rollback();
      return result;
    }
    if (auto s = exec("COMMIT", "commit"); !s) {
      rollback();
      return s.error();
    }
    return result;
  }
  template <class F>
  auto savepoint(F&& fn) -> decltype(fn()) {
    if (auto s = exec("SAVEPOINT nested", "begin savepoint"); !s) return s.error();
    auto result = fn();
    if (!result) {
      // Unless the error already ended the whole transaction, undo this part only.
      if (!sqlite3_get_autocommit(db)) {
        (void)exec("ROLLBACK TO nested", "roll back savepoint");
        (void)exec("RELEASE nested", "release savepoint");
      }
      return result;
    }
    if (auto s = exec("RELEASE nested", "release savepoint"); !s) return s.error();
    return result;
  }
  template <class F>
  auto write(F&& fn) -> decltype(fn()) {
    return transaction("BEGIN IMMEDIATE", std::forward<F>(fn));
  }
  // A read transaction gives several SELECTs one snapshot.
  template <class F>
  auto read(F&& fn) -> decltype(fn()) {
    return transaction("BEGIN", std::forward<F>(fn));
  }

  Status configure();
  Status enable_wal();
  Result<int> current_version();
  Status migrate();
};

}  // namespace gatehouse::store
