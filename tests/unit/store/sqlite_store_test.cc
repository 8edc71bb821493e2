// The SQLite backend: the conformance suite, plus what only a file-backed store has
// (migrations, file mode, what reaches the disk, several processes on one file).
#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "store/migrations.h"
#include "unit/store/conformance.h"
#include "unit/store/temp_dir.h"

namespace gatehouse::store {
namespace {

constexpr const char* kDbName = "gatehouse.db";

conformance::StoreBackend sqlite_backend() {
  return {"Sqlite", [](const std::filesystem::path& dir) -> Result<conformance::StoreHandle> {
            auto opened = SqliteStore::open((dir / kDbName).string());
            if (!opened) return opened.error();
            std::shared_ptr<SqliteStore> s = std::move(opened).value();
            return conformance::StoreHandle{s,       s.get(), s.get(), s.get(), s.get(),
                                            s.get(), s.get(), s.get(), s.get()};
          }};
}

}  // namespace
}  // namespace gatehouse::store

GATEHOUSE_STORE_CONFORMANCE(Sqlite, gatehouse::store::sqlite_backend());

namespace gatehouse::store {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Direct access for what the store's interface deliberately cannot do.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
      ADD_FAILURE() << "cannot open " << path;
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (err ? err : "?");
    }
    sqlite3_free(err);
  }
  std::int64_t scalar(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    std::int64_t value = -1;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
    } else {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
    }
    sqlite3_finalize(stmt);
    return value;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> open_store() {
    auto s = SqliteStore::open(path_);
    if (!s) {
      ADD_FAILURE() << s.error().code << ": " << s.error().message;
      return nullptr;
    }
    return std::move(s).value();
  }

  test_support::TempDir dir_;
  std::string path_ = dir_.file(kDbName);
};

TEST(EmbeddedMigrationsTest, AreNumberedFromOneWithoutGaps) {
  const auto all = migrations();
  ASSERT_FALSE(all.empty());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, static_cast<int>(i + 1));
    EXPECT_FALSE(all[i].name.empty());
    EXPECT_FALSE(all[i].sql.empty());
  }
  EXPECT_EQ(all[0].name, "initial");
  EXPECT_NE(all[0].sql.find("CREATE TABLE sessions"), std::string_view::npos);
  EXPECT_EQ(latest_schema_version(), all.back().version);
}

TEST_F(SqliteStoreTest, FreshStoreIsMigratedToLatestVersion) {
  auto store = open_store();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->schema_version(), latest_schema_version());
  RawDb raw(path_);
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM schema_migrations"), latest_schema_version());
  EXPECT_GT(raw.scalar("SELECT MIN(applied_at) FROM schema_migrations"), 1'600'000'000);
}

TEST_F(SqliteStoreTest, ReopeningKeepsDataAndAppliesNothingTwice) {
  {
    auto store = open_store();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->add_tenant({"acme", 1, "", ""}).ok());
  }
  for (int i = 0; i < 3; ++i) {
    auto store = open_store();
    ASSERT_TRUE(store);
    EXPECT_EQ(store->schema_version(), latest_schema_version());
    EXPECT_TRUE(*store->tenant_exists("acme"));
  }
  RawDb raw(path_);
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM schema_migrations"), latest_schema_version());
}

TEST_F(SqliteStoreTest, RefusesDatabaseFromNewerVersion) {
  ASSERT_TRUE(open_store());
  {
    RawDb raw(path_);
    raw.exec("INSERT INTO schema_migrations (version, applied_at) VALUES (" +
             std::to_string(latest_schema_version() + 1) + ", 0)");
  }
  auto store = SqliteStore::open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, "store.migrate");
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find(std::to_string(latest_schema_version() + 1)),
            std::string::npos)
      << store.error().message;
}

TEST_F(SqliteStoreTest, ConcurrentOpensOfNewFileApplyEachMigrationOnce) {
  constexpr int kOpeners = 4;
  std::vector<std::string> errors(kOpeners);
  std::vector<std::thread> threads;
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([this, i, &errors] {
      auto s = SqliteStore::open(path_);
      if (!s)
        errors[i] = s.error().code + ": " + s.error().message;
      else if (s.value()->schema_version() != latest_schema_version())
        errors[i] = "wrong version";
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  RawDb raw(path_);
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM schema_migrations"), latest_schema_version());
}

TEST_F(SqliteStoreTest, DatabaseFilesAreReadableByOwnerOnly) {
  const mode_t old_umask = ::umask(0022);
  auto store = open_store();
  ::umask(old_umask);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->add_tenant({"acme", 1, "", ""}).ok());  // makes sure -wal and -shm exist
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string file = path_ + suffix;
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << file;
  }
}

TEST_F(SqliteStoreTest, RawSessionIdNeverReachesTheFile) {
  std::string id(32, '\0');
  randombytes_buf(id.data(), id.size());
  {
    auto store = open_store();
    ASSERT_TRUE(store);
    SessionRecord r;
    r.id = id;
    r.user = "alice";
    r.created_at = r.last_seen = 1;
    ASSERT_TRUE(store->create_session(r).ok());
    ASSERT_TRUE(store->find_session(id)->has_value());
  }
  // Closing checkpoints the WAL into the main file; read both in case it stayed.
  const std::string bytes = read_file(path_) + read_file(path_ + "-wal");

  std::string hash(crypto_generichash_BYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(hash.data()), hash.size(),
                     reinterpret_cast<const unsigned char*>(id.data()), id.size(), nullptr, 0);
  EXPECT_NE(bytes.find(hash), std::string::npos) << "the search itself does not work";
  EXPECT_EQ(bytes.find(id), std::string::npos) << "raw session id found in the database file";
}

TEST_F(SqliteStoreTest, SessionGroupContainingSeparatorIsRefused) {
  auto store = open_store();
  ASSERT_TRUE(store);
  SessionRecord r;
  r.id = std::string(32, 'x');
  r.user = "alice";
  r.groups = {
      "a\x1f"
      "b"};
  auto s = store->create_session(r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "store.invalid");
  EXPECT_FALSE(store->find_session(r.id)->has_value());
}

TEST_F(SqliteStoreTest, WritableStorePassesWriteCheckAndKeepsNoTrace) {
  auto store = open_store();
  ASSERT_TRUE(store);
  auto s = store->check_writable();
  EXPECT_TRUE(s.ok()) << s.error().message;
  EXPECT_FALSE(store->get_value("gatehouse.health")->has_value());
}

TEST_F(SqliteStoreTest, ReadOnlyDatabaseIsNeverReportedWritable) {
  ASSERT_TRUE(open_store());
  // Root may write to read-only files, so the check runs in a child process that
  // gives up root (becomes "nobody") when it has it.
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(path_.c_str(), 0444), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    auto store = SqliteStore::open(path_);
    if (!store) ::_exit(4);  // refusing to open is as good as failing the check
    auto st = store.value()->check_writable();
    ::_exit(!st.ok() && st.error().code == "store.io" ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  // 4: SQLite refused to open it for writing; 0: it opened and check_writable() failed.
  EXPECT_TRUE(WEXITSTATUS(status) == 4 || WEXITSTATUS(status) == 0)
      << "exit " << WEXITSTATUS(status) << ": a read-only database was reported writable";
}

TEST_F(SqliteStoreTest, AuditRecordsCannotBeChangedOnlyDeleted) {
  auto store = open_store();
  ASSERT_TRUE(store);
  AuditRecord r;
  r.at = 1;
  r.event = "login.failure";
  r.user = "alice";
  ASSERT_TRUE(store->append_audit(r).ok());
  RawDb raw(path_);
  char* err = nullptr;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "UPDATE audit_log SET user = 'mallory'", nullptr, nullptr, &err),
            SQLITE_OK);
  EXPECT_NE(std::string(err ? err : "").find("append-only"), std::string::npos);
  sqlite3_free(err);
  sqlite3_close(db);
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM audit_log WHERE user = 'alice'"), 1);
  raw.exec("DELETE FROM audit_log");
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM audit_log"), 0);
}

TEST_F(SqliteStoreTest, AuditQueriesUseTheirIndexes) {
  auto store = open_store();
  ASSERT_TRUE(store);
  RawDb raw(path_);
  // EXPLAIN QUERY PLAN detail text names the index used; a full scan says "SCAN audit_log".
  const auto plan = [&](const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &stmt, nullptr) ==
        SQLITE_OK)
      while (sqlite3_step(stmt) == SQLITE_ROW)
        out += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3)) + std::string("\n");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  };
  EXPECT_NE(plan("SELECT at FROM audit_log WHERE account = 'a' AND event = 'login.success' "
                 "ORDER BY id DESC LIMIT 1")
                .find("audit_log_account"),
            std::string::npos);
  EXPECT_NE(plan("SELECT id FROM audit_log WHERE at < 5 ORDER BY at LIMIT 10").find("audit_log_at"),
            std::string::npos);
  EXPECT_NE(plan("SELECT COUNT(*) FROM lockout_account_failures WHERE account = 'a' AND at >= 1")
                .find("lockout_account_failures_account"),
            std::string::npos);
}

// A database written by the schema before the tenancy model (version 4) is migrated in
// place: its tenants keep their rows and get an empty display name and language.
TEST_F(SqliteStoreTest, StoreOfSchemaVersion4IsMigratedToTheTenancyModel) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    auto exec = [&](const std::string& sql) {
      char* err = nullptr;
      if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK)
        ADD_FAILURE() << sql.substr(0, 60) << ": " << (err ? err : "?");
      sqlite3_free(err);
    };
    exec("PRAGMA foreign_keys=ON");
    exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL, "
         "applied_at INTEGER NOT NULL)");
    for (const auto& m : migrations()) {
      if (m.version > 4) break;
      exec(std::string(m.sql));
      exec("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", 1)");
    }
    exec("INSERT INTO tenants (name, created_at) VALUES ('acme', 7)");
    exec("INSERT INTO users (name, tenant, created_at) VALUES ('alice', 'acme', 8)");
    sqlite3_close(db);
  }
  auto store = open_store();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->schema_version(), latest_schema_version());
  auto tenants = store->list_tenants();
  ASSERT_TRUE(tenants.ok()) << tenants.error().message;
  ASSERT_EQ(tenants->size(), 1u);
  EXPECT_EQ((*tenants)[0].name, "acme");
  EXPECT_EQ((*tenants)[0].created_at, 7);
  EXPECT_EQ((*tenants)[0].display_name, "");
  EXPECT_EQ((*tenants)[0].language, "");
  EXPECT_TRUE(store->find_user("alice")->has_value());
  ASSERT_TRUE(store->upsert_tenant({"acme", 99, "ACME", "nl"}).ok());
  EXPECT_EQ((**store->find_tenant("acme")).created_at, 7);
  Delegation d;
  d.tenant = "acme";
  d.email = "bob@example.org";
  EXPECT_TRUE(store->add_delegation(d).ok());
}

// AUTOINCREMENT: deleting the newest delegation (the interface never does; an operator
// might) does not hand its id out again.
TEST_F(SqliteStoreTest, DelegationIdsAreNeverReusedAfterDeletes) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->add_tenant({"acme", 1, "", ""}).ok());
  Delegation d;
  d.tenant = "acme";
  d.email = "bob@example.org";
  const auto first = *store->add_delegation(d);
  const auto second = *store->add_delegation(d);
  {
    RawDb raw(path_);
    raw.exec("DELETE FROM delegations");
  }
  const auto third = *store->add_delegation(d);
  EXPECT_GT(second, first);
  EXPECT_GT(third, second);
  EXPECT_FALSE(store->find_delegation(second)->has_value());
}

TEST_F(SqliteStoreTest, TenancyLookupsUseTheirIndexes) {
  auto store = open_store();
  ASSERT_TRUE(store);
  const auto plan = [&](const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &stmt, nullptr) ==
        SQLITE_OK)
      while (sqlite3_step(stmt) == SQLITE_ROW)
        out += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3)) + std::string("\n");
    else
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  };
  const auto uses = [&](const std::string& sql, const std::string& index) {
    const std::string p = plan(sql);
    EXPECT_NE(p.find(index), std::string::npos) << sql << "\n" << p;
  };
  uses("SELECT id FROM delegations WHERE email = 'a' AND revoked_at = 0 "
       "AND (ends_at = 0 OR ends_at > 5) ORDER BY tenant, id",
       "delegations_email");
  uses("SELECT id FROM delegations WHERE tenant = 'acme' ORDER BY id DESC", "delegations_tenant");
  uses("SELECT id FROM delegations WHERE expiry_recorded = 0 AND revoked_at = 0 "
       "AND ends_at != 0 AND ends_at <= 5 ORDER BY ends_at, id",
       "delegations_unrecorded_end");
  uses("SELECT source, name FROM party_choices WHERE delegation_id = 3 ORDER BY source, name",
       "party_choices_delegation");
  uses("SELECT id FROM outbox WHERE sent_at = 0 AND next_attempt_at <= 5 AND lease_until <= 5 "
       "ORDER BY next_attempt_at, id LIMIT 3",
       "outbox_due");
  uses("DELETE FROM outbox WHERE sent_at != 0 AND sent_at < 5", "outbox_sent");
  uses("SELECT day, route, SUM(requests) FROM usage_counts WHERE effective_party = 'a' "
       "AND day >= '' AND day <= '9999' GROUP BY day, effective_party, route",
       "usage_counts_party");
  uses("SELECT tenant FROM tenant_superusers WHERE source = 'l' AND name = 'a' ORDER BY tenant",
       "tenant_superusers_user");
  uses("SELECT a.name FROM delegations g JOIN delegation_activity a ON a.delegation_id = g.id "
       "WHERE g.tenant = 'acme'",
       "delegations_tenant");
}

TEST_F(SqliteStoreTest, OpenInMissingDirectoryFailsWithOpenError) {
  auto store = SqliteStore::open(dir_.file("missing/gatehouse.db"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, "store.open");
}

TEST_F(SqliteStoreTest, ErrorsNeverCarryPasswordHashes) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->add_tenant({"acme", 1, "", ""}).ok());
  User u;
  u.name = "alice";
  u.tenant = "acme";
  u.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$secret-salt$secret-hash";
  ASSERT_TRUE(store->add_user(u).ok());
  auto again = store->add_user(u);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message.find("secret"), std::string::npos) << again.error().message;
}

// The admin CLI and the daemon are separate processes; SQLite's locking between
// processes differs from between connections of one process, so test it for real:
// both open the same new file at once (and so race to migrate it), then write.
TEST_F(SqliteStoreTest, TwoProcessesOpeningAndWritingAtOnceBothSucceed) {
  constexpr int kUsersPerProcess = 100;
  // Returns "" or what went wrong.
  const auto add_users = [this](const std::string& prefix) -> std::string {
    auto s = SqliteStore::open(path_);
    if (!s) return s.error().code + ": " + s.error().message;
    auto& store = *s.value();
    if (auto t = store.add_tenant({"acme", 1, "", ""}); !t && t.error().code != "store.exists")
      return t.error().message;
    for (int i = 0; i < kUsersPerProcess; ++i) {
      User u;
      u.name = prefix + std::to_string(i);
      u.tenant = "acme";
      u.groups = {"staff"};
      if (auto added = store.add_user(u); !added) return added.error().message;
    }
    return "";
  };

  // No connection may be open across fork().
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string error = add_users("child-");
    if (!error.empty()) std::fprintf(stderr, "child: %s\n", error.c_str());
    _exit(error.empty() ? 0 : 1);
  }
  const std::string parent_error = add_users("parent-");
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_EQ(parent_error, "");
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the child's message above";

  auto store = open_store();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->list_users()->size(), static_cast<std::size_t>(2 * kUsersPerProcess));
  RawDb raw(path_);
  EXPECT_EQ(raw.scalar("SELECT COUNT(*) FROM schema_migrations"), latest_schema_version());
}

}  // namespace
}  // namespace gatehouse::store
