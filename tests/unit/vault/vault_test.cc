// The tenant vault over a real SQLite store: the rules for names and values, versions
// that never go back, sealed values that do not open anywhere but where they were
// written, key rotation, master key change (rewrap), and the daemon's cache.
#include "vault/vault.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "store/sqlite_store.h"
#include "unit/auth/fakes.h"

namespace gatehouse::vault {
// Named so that the unity build keeps these helpers apart from the other test files'.
namespace vault_cases {
namespace {

using auth::testing_support::random_master_key;
using auth::testing_support::TempDir;
using crypto::Keyring;
using crypto::MasterKey;

std::shared_ptr<const Keyring> ring_of(const MasterKey& current, std::initializer_list<const MasterKey*> previous = {}) {
  auto ring = std::make_shared<Keyring>(current.clone());
  for (const MasterKey* p : previous) ring->add_previous(p->clone());
  return ring;
}

Secret value(std::string_view v) { return Secret::copy_of(v); }

// Runs one statement on the database file behind the store's back, as someone with
// write access to the file (but not the master key) could.
void run_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

std::string sql_text(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

class VaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = open_store();
    ASSERT_TRUE(db_);
    ASSERT_TRUE(db_->add_tenant({"acme", clock_.now(), "", ""}).ok());
    ASSERT_TRUE(db_->add_tenant({"globex", clock_.now(), "", ""}).ok());
    vault_ = std::make_unique<Vault>(*db_, *db_, ring_of(master_a_), clock_);
  }

  std::unique_ptr<store::SqliteStore> open_store() {
    auto opened = store::SqliteStore::open(path());
    EXPECT_TRUE(opened.ok()) << opened.error().message;
    return opened.ok() ? std::move(opened).value() : nullptr;
  }
  std::string path() const { return dir_.file("gatehouse.db"); }

  std::int64_t set(const std::string& tenant, const std::string& name, std::string_view v, Vault* on = nullptr) {
    auto r = (on ? on : vault_.get())->set(tenant, name, value(v), "cli:test");
    EXPECT_TRUE(r.ok()) << tenant << "/" << name << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : -1;
  }

  // What the daemon would inject: the value, "<none>" or "<error CODE>".
  static std::string injected(Vault& v, const std::string& tenant, const std::string& name) {
    auto r = v.value_for(tenant, name);
    if (!r) return "<error " + r.error().code + ">";
    if (!*r) return "<none>";
    return std::string((*r)->reveal());
  }
  std::string injected(const std::string& tenant, const std::string& name) { return injected(*vault_, tenant, name); }

  // A new Vault, with nothing cached, as a restarted daemon has.
  std::unique_ptr<Vault> fresh_vault(std::shared_ptr<const Keyring> ring) {
    return std::make_unique<Vault>(*db_, *db_, std::move(ring), clock_);
  }

  std::string tenant_key_id(const std::string& tenant) {
    auto k = db_->find_tenant_key(tenant);
    return k.ok() && k->has_value() ? (*k)->key_id : "";
  }
  std::string sealed_of(const std::string& tenant, const std::string& name) {
    auto s = db_->find_vault_secret(tenant, name);
    return s.ok() && s->has_value() ? (*s)->sealed : "";
  }

  TempDir dir_;
  FakeClock clock_;
  MasterKey master_a_ = random_master_key();
  MasterKey master_b_ = random_master_key();
  std::unique_ptr<store::SqliteStore> db_;
  std::unique_ptr<Vault> vault_;
};

TEST_F(VaultTest, SetListAndRemove) {
  EXPECT_EQ(set("acme", "api-token", "tok-1"), 1);
  EXPECT_EQ(set("acme", "db.password", "pw"), 1);
  clock_.advance(5);
  auto listed = vault_->list("acme");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].name, "api-token");
  EXPECT_EQ((*listed)[0].version, 1);
  EXPECT_EQ((*listed)[0].updated_by, "cli:test");
  EXPECT_EQ((*listed)[0].updated_at, clock_.now() - 5);
  EXPECT_TRUE((*listed)[0].sealed.empty());
  EXPECT_EQ((*listed)[1].name, "db.password");
  EXPECT_TRUE(vault_->list("globex")->empty());
  EXPECT_EQ(injected("acme", "api-token"), "tok-1");
  EXPECT_EQ(injected("acme", "db.password"), "pw");

  // Stored sealed, under the tenant's data key, never in clear.
  const std::string sealed = sealed_of("acme", "api-token");
  EXPECT_EQ(sealed.find("tok-1"), std::string::npos);
  EXPECT_EQ(crypto::blob_key_id(sealed), tenant_key_id("acme"));

  auto removed = vault_->remove("acme", "api-token", "cli:test");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(*vault_->remove("acme", "api-token", "cli:test"));
  EXPECT_FALSE(*vault_->remove("acme", "never-set", "cli:test"));
  EXPECT_FALSE(*vault_->remove("globex", "db.password", "cli:test"));
  EXPECT_FALSE(*vault_->remove("acme", "not a name", "cli:test"));
  ASSERT_EQ(vault_->list("acme")->size(), 1u);
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "api-token"), "<none>");
  EXPECT_EQ(injected("acme", "db.password"), "pw");
}

TEST_F(VaultTest, NothingSetIsNone) {
  EXPECT_EQ(injected("acme", "api-token"), "<none>");
  EXPECT_EQ(injected("nobody", "api-token"), "<none>");
  EXPECT_EQ(tenant_key_id("acme"), "") << "reading makes no data key";
}

TEST_F(VaultTest, UnknownTenantIsRefused) {
  for (const std::string tenant : {"nobody", "ACME", "acme ", "", "acme\n"}) {
    auto s = vault_->set(tenant, "api-token", value("v"), "cli:test");
    ASSERT_FALSE(s.ok()) << tenant;
    EXPECT_EQ(s.error().code, "vault.tenant") << tenant;
    auto l = vault_->list(tenant);
    ASSERT_FALSE(l.ok()) << tenant;
    EXPECT_EQ(l.error().code, "vault.tenant");
    auto r = vault_->rotate_key(tenant);
    ASSERT_FALSE(r.ok()) << tenant;
    EXPECT_EQ(r.error().code, "vault.tenant");
    EXPECT_EQ(tenant_key_id(tenant), "") << "no data key for an unknown tenant";
  }
  EXPECT_TRUE(db_->list_tenant_keys()->empty());
}

TEST_F(VaultTest, BadNamesAreRefused) {
  const std::vector<std::string> bad = {"",          "-token",    ".token",  "_token",      "api token", "api/token",
                                        "api\\token", "api:token", "a=b",     "a@b",         "a+b",       "a\tb",
                                        "a\nb",      "a\rb",      std::string("a\0b", 3),   "tökén",     "a*",
                                        "../x",      " x",        "x ",      std::string(65, 'n'), "a%20b", "a;b"};
  for (const auto& name : bad) {
    auto s = vault_->set("acme", name, value("v"), "cli:test");
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.error().code, "vault.name") << name;
  }
  EXPECT_TRUE(vault_->list("acme")->empty());
  EXPECT_EQ(tenant_key_id("acme"), "") << "a refused set makes no data key";
  for (const std::string& name : std::vector<std::string>{"a", "Z", "9", "a.b_c-d", "API_TOKEN", "x9-", std::string(64, 'n')})
    EXPECT_EQ(set("acme", name, "v"), 1) << name;
  EXPECT_EQ(vault_->list("acme")->size(), 7u);
}

TEST_F(VaultTest, BadValuesAreRefused) {
  const std::vector<std::string> bad = {"",
                                        "line\r",
                                        "line\nbreak",
                                        "\r\nX-Injected: yes",
                                        std::string("nul\0byte", 8),
                                        std::string("\0", 1),
                                        "del\x7f",
                                        "\x01",
                                        "esc\x1b[0m",
                                        "\x1f",
                                        "\x0b",
                                        "\x0c",
                                        std::string(kMaxValueBytes + 1, 'v'),
                                        std::string(kMaxValueBytes * 2, 'v'),
                                        std::string(kMaxValueBytes, 'v') + "\n"};
  for (const auto& v : bad) {
    auto s = vault_->set("acme", "api-token", value(v), "cli:test");
    ASSERT_FALSE(s.ok()) << v.size() << " bytes";
    EXPECT_EQ(s.error().code, "vault.value") << v.size() << " bytes";
    EXPECT_FALSE(value_problem(v).empty());
    if (v.size() > 3) {
      EXPECT_EQ(s.error().message.find(v), std::string::npos) << "the error repeats the value";
    }
  }
  EXPECT_TRUE(vault_->list("acme")->empty());
  EXPECT_EQ(*db_->last_vault_version("acme", "api-token"), 0);

  const std::vector<std::string> good = {std::string(kMaxValueBytes, 'v'), "tab\there", "\t", "Bearer abc.def-ghi",
                                         "ünïcode ✓", "\x80\xff", " spaced ", "x"};
  for (const auto& v : good) {
    EXPECT_EQ(value_problem(v), "") << v;
    const std::int64_t version = set("acme", "ok", v);
    EXPECT_GT(version, 0) << v.size() << " bytes";
    ASSERT_TRUE(vault_->refresh().ok());
    EXPECT_EQ(injected("acme", "ok"), v);
  }
}

TEST_F(VaultTest, VersionsOnlyGoUpAcrossRemoval) {
  EXPECT_EQ(set("acme", "s", "one"), 1);
  EXPECT_EQ(set("acme", "s", "two"), 2);
  ASSERT_TRUE(*vault_->remove("acme", "s", "cli:test"));
  EXPECT_EQ(set("acme", "s", "three"), 3);
  ASSERT_TRUE(*vault_->remove("acme", "s", "cli:test"));
  ASSERT_TRUE(*vault_->remove("acme", "s", "cli:test") == false);
  EXPECT_EQ(set("acme", "s", "four"), 4);
  EXPECT_EQ(set("globex", "s", "other tenant"), 1) << "versions are per tenant and name";
  EXPECT_EQ(set("acme", "t", "other name"), 1);
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "s"), "four");
  EXPECT_EQ((*vault_->list("acme"))[0].version, 4);
}

TEST_F(VaultTest, TenantsGetTheirOwnDataKeys) {
  set("acme", "s", "a");
  set("globex", "s", "g");
  EXPECT_NE(tenant_key_id("acme"), "");
  EXPECT_NE(tenant_key_id("acme"), tenant_key_id("globex"));
  // The data key is wrapped by the master key, not kept in clear.
  auto k = db_->find_tenant_key("acme");
  EXPECT_EQ(crypto::blob_key_id((*k)->wrapped), master_a_.id());
  EXPECT_EQ(injected("acme", "s"), "a");
  EXPECT_EQ(injected("globex", "s"), "g");
}

TEST_F(VaultTest, SealedValueCopiedToAnotherTenantDoesNotOpen) {
  set("acme", "api-token", "acme-only");
  set("globex", "api-token", "globex-value");
  const std::string stolen = sealed_of("acme", "api-token");
  // Through the store: the row is well formed, only its sealed text is acme's.
  store::VaultSecretRecord row{"globex", "api-token", 2, stolen, clock_.now(), "attacker"};
  ASSERT_TRUE(*db_->put_vault_secret(row, tenant_key_id("globex")));
  auto restarted = fresh_vault(ring_of(master_a_));
  for (auto* v : {vault_.get(), restarted.get()}) {
    ASSERT_TRUE(v->refresh().ok());
    const std::string got = injected(*v, "globex", "api-token");
    EXPECT_TRUE(got == "<error crypto.key>" || got == "<error crypto.open>") << got;
  }
  EXPECT_EQ(injected("acme", "api-token"), "acme-only");
}

TEST_F(VaultTest, SealedValueCopiedToAnotherNameDoesNotOpen) {
  set("acme", "api-token", "the token");
  set("acme", "other", "other value");
  const std::string stolen = sealed_of("acme", "api-token");
  store::VaultSecretRecord row{"acme", "other", 2, stolen, clock_.now(), "attacker"};
  ASSERT_TRUE(*db_->put_vault_secret(row, tenant_key_id("acme")));
  // And as a first value of a new name.
  store::VaultSecretRecord fresh_name{"acme", "new-name", 1, stolen, clock_.now(), "attacker"};
  ASSERT_TRUE(*db_->put_vault_secret(fresh_name, tenant_key_id("acme")));
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "other"), "<error crypto.open>");
  EXPECT_EQ(injected("acme", "new-name"), "<error crypto.open>");
  EXPECT_EQ(injected("acme", "api-token"), "the token");
}

TEST_F(VaultTest, OlderVersionPutBackDoesNotOpen) {
  set("acme", "api-token", "old token (revoked)");
  const std::string v1 = sealed_of("acme", "api-token");
  set("acme", "api-token", "new token");
  // As the next version through the store, and as itself (version 2 renamed 1) behind
  // the store's back.
  store::VaultSecretRecord row{"acme", "api-token", 3, v1, clock_.now(), "attacker"};
  ASSERT_TRUE(*db_->put_vault_secret(row, tenant_key_id("acme")));
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "api-token"), "<error crypto.open>");

  run_sql(path(), "UPDATE vault_secrets SET version = 2 WHERE tenant = 'acme' AND name = 'api-token'");
  auto restarted = fresh_vault(ring_of(master_a_));
  EXPECT_EQ(injected(*restarted, "acme", "api-token"), "<error crypto.open>");
  run_sql(path(), "UPDATE vault_secrets SET version = 1 WHERE tenant = 'acme' AND name = 'api-token'");
  // Version 1 with version 1's sealed value does open: the binding is right, which shows
  // that the refusals above are the binding's doing and not a broken row.
  restarted = fresh_vault(ring_of(master_a_));
  EXPECT_EQ(injected(*restarted, "acme", "api-token"), "old token (revoked)");
}

TEST_F(VaultTest, EditedRowsBehindTheStoresBackDoNotOpen) {
  set("acme", "api-token", "acme token");
  set("globex", "api-token", "globex token");
  const std::string acme_sealed = sealed_of("acme", "api-token");
  // globex's secret row given acme's sealed value, unchanged version.
  run_sql(path(), "UPDATE vault_secrets SET sealed = " + sql_text(acme_sealed) +
                      " WHERE tenant = 'globex' AND name = 'api-token'");
  EXPECT_NE(injected(*fresh_vault(ring_of(master_a_)), "globex", "api-token").find("<error crypto."),
            std::string::npos);

  // globex's data key replaced by acme's (id and wrapping): the wrapping is bound to
  // acme, so it does not open as globex's key.
  auto acme_key = db_->find_tenant_key("acme");
  run_sql(path(), "UPDATE tenant_keys SET key_id = " + sql_text((*acme_key)->key_id) +
                      ", wrapped = " + sql_text((*acme_key)->wrapped) + " WHERE tenant = 'globex'");
  EXPECT_EQ(injected(*fresh_vault(ring_of(master_a_)), "globex", "api-token"), "<error crypto.open>");
  auto s = fresh_vault(ring_of(master_a_))->set("globex", "api-token", value("v"), "cli:test");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "crypto.open");

  // Garbage for a sealed value.
  run_sql(path(), "UPDATE vault_secrets SET sealed = 'not sealed' WHERE tenant = 'acme'");
  EXPECT_EQ(injected(*fresh_vault(ring_of(master_a_)), "acme", "api-token"), "<error crypto.format>");

  // A key id that does not match the wrapped key.
  run_sql(path(), "UPDATE vault_secrets SET sealed = " + sql_text(acme_sealed) + " WHERE tenant = 'acme'");
  EXPECT_EQ(injected(*fresh_vault(ring_of(master_a_)), "acme", "api-token"), "acme token");
  run_sql(path(), "UPDATE tenant_keys SET key_id = '0123456789abcdef' WHERE tenant = 'acme'");
  EXPECT_EQ(injected(*fresh_vault(ring_of(master_a_)), "acme", "api-token"), "<error crypto.open>");
}

TEST_F(VaultTest, RotationGivesANewKeyAndKeepsEveryValue) {
  set("acme", "a", "value a");
  set("acme", "b", "value b1");
  set("acme", "b", "value b2");
  set("acme", "gone", "removed");
  ASSERT_TRUE(*vault_->remove("acme", "gone", "cli:test"));
  set("globex", "a", "globex a");
  const std::string old_id = tenant_key_id("acme");
  const std::string old_a = sealed_of("acme", "a");
  const std::string old_b = sealed_of("acme", "b");
  const std::string globex_id = tenant_key_id("globex");
  const std::string globex_a = sealed_of("globex", "a");
  EXPECT_EQ(injected("acme", "a"), "value a");  // cached under the old key

  auto rotated = vault_->rotate_key("acme");
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  EXPECT_NE(*rotated, old_id);
  EXPECT_EQ(*rotated, tenant_key_id("acme"));
  EXPECT_EQ(rotated->size(), 16u);
  EXPECT_NE(sealed_of("acme", "a"), old_a);
  EXPECT_NE(sealed_of("acme", "b"), old_b);
  EXPECT_EQ(crypto::blob_key_id(sealed_of("acme", "a")), *rotated);
  EXPECT_EQ(crypto::blob_key_id(sealed_of("acme", "b")), *rotated);
  EXPECT_EQ((*vault_->list("acme"))[1].version, 2) << "a rotation is not a new version";
  EXPECT_EQ(tenant_key_id("globex"), globex_id);
  EXPECT_EQ(sealed_of("globex", "a"), globex_a);

  auto restarted = fresh_vault(ring_of(master_a_));
  for (auto* v : {vault_.get(), restarted.get()}) {
    ASSERT_TRUE(v->refresh().ok());
    EXPECT_EQ(injected(*v, "acme", "a"), "value a");
    EXPECT_EQ(injected(*v, "acme", "b"), "value b2");
    EXPECT_EQ(injected(*v, "acme", "gone"), "<none>");
    EXPECT_EQ(injected(*v, "globex", "a"), "globex a");
  }
  // The old sealed values, put back, belong to a key the tenant no longer has.
  store::VaultSecretRecord row{"acme", "a", 2, old_a, clock_.now(), "attacker"};
  ASSERT_TRUE(*db_->put_vault_secret(row, *rotated));
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "a"), "<error crypto.key>");

  // Writes after a rotation use the new key; a second rotation works too.
  EXPECT_EQ(set("acme", "a", "value a3"), 3);
  EXPECT_EQ(crypto::blob_key_id(sealed_of("acme", "a")), *rotated);
  auto again = vault_->rotate_key("acme");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *rotated);
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "a"), "value a3");
  EXPECT_EQ(injected("acme", "b"), "value b2");
}

TEST_F(VaultTest, RotationWithoutSecretsIsRefused) {
  auto r = vault_->rotate_key("acme");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "vault.no_key");
  EXPECT_EQ(tenant_key_id("acme"), "") << "refusing makes no key either";
  // A tenant whose secrets were all removed still has a key, and rotates it.
  set("acme", "s", "v");
  ASSERT_TRUE(*vault_->remove("acme", "s", "cli:test"));
  auto emptied = vault_->rotate_key("acme");
  ASSERT_TRUE(emptied.ok()) << emptied.error().message;
  EXPECT_EQ(tenant_key_id("acme"), *emptied);
}

TEST_F(VaultTest, MasterKeyChangeThenRewrap) {
  set("acme", "a", "acme a");
  set("acme", "b", "acme b");
  set("globex", "a", "globex a");

  // Before the change: B alone cannot open what A wrapped.
  {
    auto only_b = fresh_vault(ring_of(master_b_));
    auto r = only_b->value_for("acme", "a");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "crypto.key");
    EXPECT_NE(r.error().message.find(master_a_.id()), std::string::npos) << r.error().message;
    auto s = only_b->set("acme", "a", value("x"), "cli:test");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, "crypto.key");
    auto rw = only_b->rewrap_tenant_keys();
    ASSERT_FALSE(rw.ok());
    EXPECT_EQ(rw.error().code, "crypto.key");
  }

  // During the change: B current, A previous.
  auto during = ring_of(master_b_, {&master_a_});
  vault_->set_keyring(during);
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "a"), "acme a");
  EXPECT_EQ(injected("globex", "a"), "globex a");
  EXPECT_EQ(set("acme", "c", "written during the change"), 1);

  auto report = vault_->rewrap_tenant_keys();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->rewrapped, 2);
  EXPECT_EQ(report->current, 0);
  auto keys = db_->list_tenant_keys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  for (const auto& k : *keys) EXPECT_EQ(crypto::blob_key_id(k.wrapped), master_b_.id()) << k.tenant;
  auto again = vault_->rewrap_tenant_keys();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->rewrapped, 0);
  EXPECT_EQ(again->current, 2);

  // After: B alone reads everything, and A alone nothing.
  auto after = fresh_vault(ring_of(master_b_));
  EXPECT_EQ(injected(*after, "acme", "a"), "acme a");
  EXPECT_EQ(injected(*after, "acme", "b"), "acme b");
  EXPECT_EQ(injected(*after, "acme", "c"), "written during the change");
  EXPECT_EQ(injected(*after, "globex", "a"), "globex a");
  EXPECT_EQ(set("globex", "a", "new", after.get()), 2);
  EXPECT_EQ(injected(*fresh_vault(ring_of(master_a_)), "acme", "a"), "<error crypto.key>");
}

TEST_F(VaultTest, NewTenantKeysAreWrappedByTheCurrentKeyOfTheNewKeyring) {
  set("acme", "a", "under A");
  vault_->set_keyring(ring_of(master_b_, {&master_a_}));
  set("globex", "a", "under B");
  EXPECT_EQ(crypto::blob_key_id((*db_->find_tenant_key("acme"))->wrapped), master_a_.id());
  EXPECT_EQ(crypto::blob_key_id((*db_->find_tenant_key("globex"))->wrapped), master_b_.id());
  auto report = vault_->rewrap_tenant_keys();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->rewrapped, 1);
  EXPECT_EQ(report->current, 1);
}

TEST_F(VaultTest, RotationDuringAMasterKeyChangeWrapsUnderTheCurrentKey) {
  set("acme", "a", "value");
  vault_->set_keyring(ring_of(master_b_, {&master_a_}));
  ASSERT_TRUE(vault_->rotate_key("acme").ok());
  EXPECT_EQ(crypto::blob_key_id((*db_->find_tenant_key("acme"))->wrapped), master_b_.id());
  EXPECT_EQ(injected(*fresh_vault(ring_of(master_b_)), "acme", "a"), "value");
}

TEST_F(VaultTest, CachedValuesChangeOnlyOnRefresh) {
  // The daemon's vault and the CLI's, on separate handles of one file.
  ASSERT_TRUE(vault_->refresh().ok());
  auto cli_db = open_store();
  ASSERT_TRUE(cli_db);
  Vault cli(*cli_db, *cli_db, ring_of(master_a_), clock_);

  set("acme", "s", "one", &cli);
  set("acme", "t", "tee", &cli);
  EXPECT_EQ(injected("acme", "s"), "one");
  EXPECT_EQ(injected("acme", "u"), "<none>");

  set("acme", "s", "two", &cli);
  set("acme", "u", "you", &cli);
  EXPECT_EQ(injected("acme", "s"), "one") << "served from the cache until refresh()";
  EXPECT_EQ(injected("acme", "u"), "<none>") << "an absent value is cached too";
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "s"), "two");
  EXPECT_EQ(injected("acme", "u"), "you");

  ASSERT_TRUE(*cli.remove("acme", "s", "cli:test"));
  EXPECT_EQ(injected("acme", "s"), "two");
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "s"), "<none>");

  // A refresh with nothing changed keeps serving the same values.
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "t"), "tee");
}

TEST_F(VaultTest, ValueReadAfterARotationElsewhereStillOpens) {
  // The daemon has acme's data key cached (through "a") but not the value of "b"; the
  // CLI rotates the key; the daemon reads "b" before its next refresh.
  ASSERT_TRUE(vault_->refresh().ok());
  auto cli_db = open_store();
  ASSERT_TRUE(cli_db);
  Vault cli(*cli_db, *cli_db, ring_of(master_a_), clock_);
  set("acme", "a", "value a", &cli);
  set("acme", "b", "value b", &cli);
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "a"), "value a");
  ASSERT_TRUE(cli.rotate_key("acme").ok());
  EXPECT_EQ(injected("acme", "b"), "value b");
  ASSERT_TRUE(vault_->refresh().ok());
  EXPECT_EQ(injected("acme", "a"), "value a");
}

TEST_F(VaultTest, SetUsesTheKeyInForceNotACachedOne) {
  // The daemon cached the old key; the CLI rotated; a set through the daemon must
  // still be readable by everyone.
  ASSERT_TRUE(vault_->refresh().ok());
  auto cli_db = open_store();
  ASSERT_TRUE(cli_db);
  Vault cli(*cli_db, *cli_db, ring_of(master_a_), clock_);
  set("acme", "a", "v1");
  EXPECT_EQ(injected("acme", "a"), "v1");
  const std::string rotated = *cli.rotate_key("acme");
  EXPECT_EQ(set("acme", "a", "v2"), 2);
  EXPECT_EQ(crypto::blob_key_id(sealed_of("acme", "a")), rotated);
  EXPECT_EQ(injected(*fresh_vault(ring_of(master_a_)), "acme", "a"), "v2");
}

TEST_F(VaultTest, ValueProblemAcceptsExactlyTheHeaderSafeValues) {
  for (int c = 0; c < 256; ++c) {
    const std::string v = "a" + std::string(1, static_cast<char>(c)) + "b";
    const bool control = (c < 0x20 && c != '\t') || c == 0x7f;
    EXPECT_EQ(value_problem(v).empty(), !control) << "byte " << c;
  }
  EXPECT_EQ(value_problem(std::string(kMaxValueBytes, 'x')), "");
  EXPECT_NE(value_problem(std::string(kMaxValueBytes + 1, 'x')), "");
  EXPECT_NE(value_problem(""), "");
}

}  // namespace
}  // namespace vault_cases
}  // namespace gatehouse::vault
