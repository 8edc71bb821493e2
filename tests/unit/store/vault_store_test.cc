// The vault's rows in SQLite (store/vault_store.h): the store keeps opaque sealed text,
// so these tests use plain strings for it. What matters here is the bookkeeping that
// keeps an old value from coming back: versions, compare-and-set, all-or-nothing.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/sqlite_store.h"
#include "unit/store/temp_dir.h"

namespace gatehouse::store {
// Named so that the unity build keeps these helpers apart from the other test files'.
namespace vault_store_cases {
namespace {

constexpr std::int64_t kAt = 1'700'000'000;

TenantKeyRecord tenant_key(std::string tenant, std::string id, std::string wrapped) {
  return TenantKeyRecord{std::move(tenant), std::move(id), std::move(wrapped), kAt};
}

VaultSecretRecord secret(std::string tenant, std::string name, std::int64_t version, std::string sealed,
                         std::string by = "cli:test") {
  VaultSecretRecord r;
  r.tenant = std::move(tenant);
  r.name = std::move(name);
  r.version = version;
  r.sealed = std::move(sealed);
  r.updated_at = kAt + version;
  r.updated_by = std::move(by);
  return r;
}

class VaultStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = SqliteStore::open(dir_.file("gatehouse.db"));
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    db_ = std::move(opened).value();
    ASSERT_TRUE(db_->add_tenant({"acme", kAt, "", ""}).ok());
    ASSERT_TRUE(db_->add_tenant({"globex", kAt, "", ""}).ok());
  }

  std::int64_t generation() {
    auto g = db_->vault_generation();
    EXPECT_TRUE(g.ok());
    return g.ok() ? *g : -1;
  }

  // The tenant's live value, or "" when it has none.
  std::string sealed_of(const std::string& tenant, const std::string& name) {
    auto found = db_->find_vault_secret(tenant, name);
    EXPECT_TRUE(found.ok());
    return found.ok() && found->has_value() ? (*found)->sealed : "";
  }

  void put(const VaultSecretRecord& r, const std::string& key_id) {
    auto ok = db_->put_vault_secret(r, key_id);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    ASSERT_TRUE(*ok) << r.tenant << "/" << r.name << " v" << r.version;
  }

  test_support::TempDir dir_;
  std::unique_ptr<SqliteStore> db_;
};

TEST_F(VaultStoreTest, FreshStoreHasNothing) {
  EXPECT_EQ(generation(), 0);
  auto key = db_->find_tenant_key("acme");
  ASSERT_TRUE(key.ok());
  EXPECT_FALSE(key->has_value());
  EXPECT_TRUE(db_->list_tenant_keys()->empty());
  EXPECT_TRUE(db_->list_vault_secrets("acme")->empty());
  EXPECT_EQ(*db_->last_vault_version("acme", "api-token"), 0);
  EXPECT_FALSE(db_->find_vault_secret("acme", "api-token")->has_value());
}

TEST_F(VaultStoreTest, FirstTenantKeyWinsAndTheSecondAddReturnsIt) {
  auto first = db_->add_tenant_key_if_absent(tenant_key("acme", "id-first", "wrapped-first"));
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->key_id, "id-first");
  EXPECT_EQ(first->wrapped, "wrapped-first");
  EXPECT_EQ(first->created_at, kAt);

  auto second = db_->add_tenant_key_if_absent(tenant_key("acme", "id-second", "wrapped-second"));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->tenant, "acme");
  EXPECT_EQ(second->key_id, "id-first");
  EXPECT_EQ(second->wrapped, "wrapped-first");

  auto stored = db_->find_tenant_key("acme");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->key_id, "id-first");
  EXPECT_FALSE(db_->find_tenant_key("globex")->has_value()) << "one tenant's key is not another's";
}

TEST_F(VaultStoreTest, TenantKeysAreListedByTenant) {
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("globex", "g", "wg")).ok());
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "a", "wa")).ok());
  auto keys = db_->list_tenant_keys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].tenant, "acme");
  EXPECT_EQ((*keys)[0].wrapped, "wa");
  EXPECT_EQ((*keys)[1].tenant, "globex");
  EXPECT_EQ((*keys)[1].key_id, "g");
}

TEST_F(VaultStoreTest, RewrapIsACompareAndSet) {
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "id", "under-A")).ok());
  struct Attempt {
    const char* what;
    std::string tenant, key_id, expected;
  };
  for (const auto& a : {Attempt{"stale wrapping", "acme", "id", "under-X"},
                        Attempt{"another key id", "acme", "id2", "under-A"},
                        Attempt{"another tenant", "globex", "id", "under-A"},
                        Attempt{"unknown tenant", "nobody", "id", "under-A"},
                        Attempt{"empty expectation", "acme", "id", ""}}) {
    auto done = db_->rewrap_tenant_key(a.tenant, a.key_id, a.expected, "under-B");
    ASSERT_TRUE(done.ok()) << a.what;
    EXPECT_FALSE(*done) << a.what;
    EXPECT_EQ((*db_->find_tenant_key("acme"))->wrapped, "under-A") << a.what;
  }
  auto done = db_->rewrap_tenant_key("acme", "id", "under-A", "under-B");
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(*done);
  EXPECT_EQ((*db_->find_tenant_key("acme"))->wrapped, "under-B");
  EXPECT_EQ((*db_->find_tenant_key("acme"))->key_id, "id");
  // The second of two concurrent rewraps expected the old wrapping.
  EXPECT_FALSE(*db_->rewrap_tenant_key("acme", "id", "under-A", "under-C"));
  EXPECT_EQ((*db_->find_tenant_key("acme"))->wrapped, "under-B");
}

TEST_F(VaultStoreTest, VersionsStartAtOneAndEachPutIsTheNext) {
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "k1", "w")).ok());
  put(secret("acme", "api-token", 1, "sealed-v1", "cli:root"), "k1");
  auto v1 = db_->find_vault_secret("acme", "api-token");
  ASSERT_TRUE(v1.ok() && v1->has_value());
  EXPECT_EQ((*v1)->version, 1);
  EXPECT_EQ((*v1)->sealed, "sealed-v1");
  EXPECT_EQ((*v1)->updated_by, "cli:root");
  EXPECT_EQ((*v1)->updated_at, kAt + 1);
  EXPECT_EQ(*db_->last_vault_version("acme", "api-token"), 1);

  put(secret("acme", "api-token", 2, "sealed-v2", "ldap:alice"), "k1");
  EXPECT_EQ(sealed_of("acme", "api-token"), "sealed-v2");
  EXPECT_EQ(*db_->last_vault_version("acme", "api-token"), 2);
  EXPECT_EQ((*db_->find_vault_secret("acme", "api-token"))->updated_by, "ldap:alice");
}

TEST_F(VaultStoreTest, PutWithAnyOtherVersionChangesNothing) {
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "k1", "w")).ok());
  // Before the first value: only version 1.
  for (std::int64_t v : {0, 2, 3, -1, 100}) {
    auto r = db_->put_vault_secret(secret("acme", "api-token", v, "x"), "k1");
    ASSERT_TRUE(r.ok()) << v;
    EXPECT_FALSE(*r) << "version " << v << " as a first value";
  }
  EXPECT_EQ(*db_->last_vault_version("acme", "api-token"), 0);
  put(secret("acme", "api-token", 1, "v1"), "k1");
  put(secret("acme", "api-token", 2, "v2"), "k1");
  const std::int64_t g = generation();
  // Version 2 exists: a writer that read 1 (and so writes 2 again), an old version, a
  // skipped one: all refused.
  for (std::int64_t v : {0, 1, 2, 4, 5, -2}) {
    auto r = db_->put_vault_secret(secret("acme", "api-token", v, "stale"), "k1");
    ASSERT_TRUE(r.ok()) << v;
    EXPECT_FALSE(*r) << "version " << v << " after version 2";
  }
  EXPECT_EQ(sealed_of("acme", "api-token"), "v2");
  EXPECT_EQ(*db_->last_vault_version("acme", "api-token"), 2);
  EXPECT_EQ(generation(), g) << "a refused put is no change";
}

TEST_F(VaultStoreTest, PutUnderAKeyThatIsNotTheTenantsIsRefused) {
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "k-acme", "w")).ok());
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("globex", "k-globex", "w")).ok());
  for (const std::string key_id : {"k-globex", "", "k-acm", "K-ACME", "k-acme "}) {
    auto r = db_->put_vault_secret(secret("acme", "api-token", 1, "x"), key_id);
    ASSERT_TRUE(r.ok()) << key_id;
    EXPECT_FALSE(*r) << "key id '" << key_id << "'";
  }
  // A tenant without a key takes no value at all.
  auto none = db_->put_vault_secret(secret("nobody", "api-token", 1, "x"), "k-acme");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  EXPECT_EQ(*db_->last_vault_version("acme", "api-token"), 0);
  // After a rotation the old key id no longer writes.
  put(secret("acme", "api-token", 1, "v1"), "k-acme");
  ASSERT_TRUE(*db_->replace_tenant_key("k-acme", tenant_key("acme", "k-acme-2", "w2"),
                                      {secret("acme", "api-token", 1, "v1-resealed")}));
  EXPECT_FALSE(*db_->put_vault_secret(secret("acme", "api-token", 2, "under old key"), "k-acme"));
  put(secret("acme", "api-token", 2, "under new key"), "k-acme-2");
}

TEST_F(VaultStoreTest, RemovalKeepsTheVersionTaken) {
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "k1", "w")).ok());
  put(secret("acme", "api-token", 1, "v1"), "k1");
  put(secret("acme", "api-token", 2, "v2"), "k1");
  auto removed = db_->remove_vault_secret("acme", "api-token", kAt + 10, "cli:root");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(db_->find_vault_secret("acme", "api-token")->has_value());
  EXPECT_EQ(*db_->last_vault_version("acme", "api-token"), 2);
  // Removing again: nothing to remove.
  EXPECT_FALSE(*db_->remove_vault_secret("acme", "api-token", kAt + 11, "cli:root"));
  EXPECT_FALSE(*db_->remove_vault_secret("acme", "never-set", kAt + 11, "cli:root"));
  EXPECT_FALSE(*db_->remove_vault_secret("globex", "api-token", kAt + 11, "cli:root"));

  // The old versions cannot come back, neither as a first value nor as themselves.
  for (std::int64_t v : {1, 2, 4}) {
    auto r = db_->put_vault_secret(secret("acme", "api-token", v, "again"), "k1");
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(*r) << "version " << v << " after removal of version 2";
  }
  put(secret("acme", "api-token", 3, "v3"), "k1");
  EXPECT_EQ(sealed_of("acme", "api-token"), "v3");
  EXPECT_EQ(*db_->last_vault_version("acme", "api-token"), 3);
}

TEST_F(VaultStoreTest, ListingHasLiveSecretsByNameWithoutValues) {
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "k1", "w")).ok());
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("globex", "k2", "w")).ok());
  put(secret("acme", "zeta", 1, "sealed-zeta"), "k1");
  put(secret("acme", "alpha", 1, "sealed-alpha"), "k1");
  put(secret("acme", "alpha", 2, "sealed-alpha-2", "oidc:bob"), "k1");
  put(secret("acme", "gone", 1, "sealed-gone"), "k1");
  put(secret("globex", "other", 1, "sealed-other"), "k2");
  ASSERT_TRUE(*db_->remove_vault_secret("acme", "gone", kAt, "cli:root"));

  auto listed = db_->list_vault_secrets("acme");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].name, "alpha");
  EXPECT_EQ((*listed)[0].version, 2);
  EXPECT_EQ((*listed)[0].updated_by, "oidc:bob");
  EXPECT_EQ((*listed)[0].tenant, "acme");
  EXPECT_EQ((*listed)[1].name, "zeta");
  for (const auto& r : *listed) EXPECT_TRUE(r.sealed.empty()) << r.name << " listed with its sealed value";
  EXPECT_EQ(db_->list_vault_secrets("globex")->size(), 1u);
  EXPECT_TRUE(db_->list_vault_secrets("nobody")->empty());
}

TEST_F(VaultStoreTest, NamesAndTenantsAreExact) {
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "k1", "w")).ok());
  put(secret("acme", "Token", 1, "upper"), "k1");
  put(secret("acme", "token", 1, "lower"), "k1");
  EXPECT_EQ(sealed_of("acme", "Token"), "upper");
  EXPECT_EQ(sealed_of("acme", "token"), "lower");
  EXPECT_EQ(sealed_of("acme", "TOKEN"), "");
  EXPECT_EQ(sealed_of("Acme", "token"), "");
  EXPECT_EQ(sealed_of("globex", "token"), "");
}

TEST_F(VaultStoreTest, ReplaceTenantKeyReSealsEverySecretAtOnce) {
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "old", "w-old")).ok());
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("globex", "g", "w-g")).ok());
  put(secret("acme", "a", 1, "a1"), "old");
  put(secret("acme", "b", 1, "b1"), "old");
  put(secret("acme", "b", 2, "b2"), "old");
  put(secret("acme", "c", 1, "c1"), "old");
  ASSERT_TRUE(*db_->remove_vault_secret("acme", "c", kAt, "cli"));
  put(secret("globex", "a", 1, "ga1"), "g");

  auto replaced = db_->replace_tenant_key(
      "old", TenantKeyRecord{"acme", "new", "w-new", kAt + 50},
      {secret("acme", "a", 1, "a1-new"), secret("acme", "b", 2, "b2-new")});
  ASSERT_TRUE(replaced.ok()) << replaced.error().message;
  ASSERT_TRUE(*replaced);
  auto key = db_->find_tenant_key("acme");
  EXPECT_EQ((*key)->key_id, "new");
  EXPECT_EQ((*key)->wrapped, "w-new");
  EXPECT_EQ((*key)->created_at, kAt + 50);
  EXPECT_EQ(sealed_of("acme", "a"), "a1-new");
  EXPECT_EQ(sealed_of("acme", "b"), "b2-new");
  EXPECT_EQ(*db_->last_vault_version("acme", "b"), 2) << "a rotation is not a new version";
  EXPECT_EQ(sealed_of("acme", "c"), "") << "a removed secret stays removed";
  EXPECT_EQ(*db_->last_vault_version("acme", "c"), 1);
  EXPECT_EQ(sealed_of("globex", "a"), "ga1");
  EXPECT_EQ((*db_->find_tenant_key("globex"))->key_id, "g");
}

TEST_F(VaultStoreTest, ReplaceTenantKeyIsAllOrNothing) {
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "old", "w-old")).ok());
  put(secret("acme", "a", 1, "a1"), "old");
  put(secret("acme", "b", 1, "b1"), "old");
  put(secret("acme", "b", 2, "b2"), "old");
  put(secret("acme", "gone", 1, "g1"), "old");
  ASSERT_TRUE(*db_->remove_vault_secret("acme", "gone", kAt, "cli"));
  const std::int64_t g = generation();

  struct Attempt {
    const char* what;
    std::string old_key_id;
    std::vector<VaultSecretRecord> resealed;
  };
  const std::vector<Attempt> attempts = {
      {"a secret missing", "old", {secret("acme", "a", 1, "new")}},
      {"no secrets", "old", {}},
      {"a secret too many", "old",
       {secret("acme", "a", 1, "new"), secret("acme", "b", 2, "new"), secret("acme", "c", 1, "new")}},
      {"an older version", "old", {secret("acme", "a", 1, "new"), secret("acme", "b", 1, "new")}},
      {"a newer version", "old", {secret("acme", "a", 1, "new"), secret("acme", "b", 3, "new")}},
      {"a removed secret instead of a live one", "old",
       {secret("acme", "a", 1, "new"), secret("acme", "gone", 1, "new")}},
      {"one secret twice", "old", {secret("acme", "b", 2, "new"), secret("acme", "b", 2, "new")}},
      {"key rotated meanwhile", "other", {secret("acme", "a", 1, "new"), secret("acme", "b", 2, "new")}},
  };
  for (const auto& a : attempts) {
    auto replaced = db_->replace_tenant_key(a.old_key_id, TenantKeyRecord{"acme", "new", "w-new", kAt + 50},
                                            a.resealed);
    ASSERT_TRUE(replaced.ok()) << a.what << ": " << replaced.error().message;
    EXPECT_FALSE(*replaced) << a.what;
    auto key = db_->find_tenant_key("acme");
    EXPECT_EQ((*key)->key_id, "old") << a.what;
    EXPECT_EQ((*key)->wrapped, "w-old") << a.what;
    EXPECT_EQ(sealed_of("acme", "a"), "a1") << a.what;
    EXPECT_EQ(sealed_of("acme", "b"), "b2") << a.what;
    EXPECT_EQ(sealed_of("acme", "gone"), "") << a.what;
    EXPECT_EQ(generation(), g) << a.what;
  }
  // Writes still work afterwards: no transaction was left open.
  put(secret("acme", "a", 2, "a2"), "old");
}

TEST_F(VaultStoreTest, ReplaceTenantKeyOfATenantWithoutAKeyIsRefused) {
  auto replaced = db_->replace_tenant_key("old", TenantKeyRecord{"acme", "new", "w", kAt}, {});
  ASSERT_TRUE(replaced.ok());
  EXPECT_FALSE(*replaced);
  EXPECT_FALSE(db_->find_tenant_key("acme")->has_value());
}

TEST_F(VaultStoreTest, GenerationMovesOnEveryChangeAndOnNoRead) {
  std::int64_t g = generation();
  auto expect_moved = [&](const char* what) {
    const std::int64_t now = generation();
    EXPECT_GT(now, g) << what;
    g = now;
  };
  auto expect_still = [&](const char* what) { EXPECT_EQ(generation(), g) << what; };

  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "k1", "w1")).ok());
  expect_moved("tenant key added");
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "k2", "w2")).ok());
  expect_still("second tenant key (not stored)");
  ASSERT_TRUE(*db_->rewrap_tenant_key("acme", "k1", "w1", "w1b"));
  expect_moved("tenant key rewrapped");
  ASSERT_FALSE(*db_->rewrap_tenant_key("acme", "k1", "w1", "w1c"));
  expect_still("refused rewrap");
  put(secret("acme", "s", 1, "v1"), "k1");
  expect_moved("secret put");
  put(secret("acme", "s", 2, "v2"), "k1");
  expect_moved("secret put again");
  ASSERT_FALSE(*db_->put_vault_secret(secret("acme", "s", 2, "v2"), "k1"));
  expect_still("refused put");
  ASSERT_TRUE(*db_->replace_tenant_key("k1", tenant_key("acme", "k3", "w3"), {secret("acme", "s", 2, "v2b")}));
  expect_moved("key replaced");
  ASSERT_FALSE(*db_->replace_tenant_key("k1", tenant_key("acme", "k4", "w4"), {secret("acme", "s", 2, "v2c")}));
  expect_still("refused replace");
  ASSERT_TRUE(*db_->remove_vault_secret("acme", "s", kAt, "cli"));
  expect_moved("secret removed");
  ASSERT_FALSE(*db_->remove_vault_secret("acme", "s", kAt, "cli"));
  expect_still("nothing to remove");

  // Reads, many times over.
  for (int i = 0; i < 3; ++i) {
    (void)db_->find_tenant_key("acme");
    (void)db_->list_tenant_keys();
    (void)db_->find_vault_secret("acme", "s");
    (void)db_->list_vault_secrets("acme");
    (void)db_->last_vault_version("acme", "s");
    (void)db_->vault_generation();
  }
  expect_still("reads");
}

TEST_F(VaultStoreTest, ASecondHandleSeesTheChangesAndTheGeneration) {
  // The CLI and the daemon open the same file: the daemon learns of the CLI's change
  // through the generation.
  auto other = SqliteStore::open(dir_.file("gatehouse.db"));
  ASSERT_TRUE(other.ok());
  const std::int64_t g = generation();
  ASSERT_TRUE((*other)->add_tenant_key_if_absent(tenant_key("acme", "k1", "w")).ok());
  ASSERT_TRUE(*(*other)->put_vault_secret(secret("acme", "s", 1, "from-cli"), "k1"));
  EXPECT_EQ(generation(), g + 2);
  EXPECT_EQ(sealed_of("acme", "s"), "from-cli");
  // And a write through one handle that the other raced is refused.
  put(secret("acme", "s", 2, "from-daemon"), "k1");
  EXPECT_FALSE(*(*other)->put_vault_secret(secret("acme", "s", 2, "from-cli-again"), "k1"));
  EXPECT_EQ(sealed_of("acme", "s"), "from-daemon");
}

TEST_F(VaultStoreTest, VaultRowsSurviveReopening) {
  ASSERT_TRUE(db_->add_tenant_key_if_absent(tenant_key("acme", "k1", "w")).ok());
  put(secret("acme", "s", 1, "v1"), "k1");
  ASSERT_TRUE(*db_->remove_vault_secret("acme", "s", kAt, "cli"));
  const std::int64_t g = generation();
  db_.reset();
  auto reopened = SqliteStore::open(dir_.file("gatehouse.db"));
  ASSERT_TRUE(reopened.ok());
  db_ = std::move(reopened).value();
  EXPECT_EQ(generation(), g);
  EXPECT_EQ(*db_->last_vault_version("acme", "s"), 1);
  EXPECT_EQ((*db_->find_tenant_key("acme"))->key_id, "k1");
}

}  // namespace
}  // namespace vault_store_cases
}  // namespace gatehouse::store
