// The daemon's own keys in the store: made once, sealed under the master key, the same
// on every start, carried over from the derived keys of an older version, and re-sealed
// by a master key change.
#include "vault/system_keys.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sqlite3.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "crypto/envelope.h"
#include "store/sqlite_store.h"
#include "unit/auth/fakes.h"
#include "vault/vault.h"

namespace gatehouse::vault {
// Named so that the unity build keeps these helpers apart from the other test files'.
namespace system_keys_cases {
namespace {

using auth::testing_support::random_master_key;
using auth::testing_support::TempDir;
using crypto::Key;
using crypto::KeyPurpose;
using crypto::Keyring;
using crypto::MasterKey;

const std::vector<std::string> kRows = {"system_key.assertion_signing_jwk", "system_key.csrf",
                                        "system_key.oidc_flow", "system_key.oidc_tokens",
                                        "system_key.session_cookie"};
constexpr const char* kLegacyRow = "assertion_signing_key.v1";

Keyring ring_of(const MasterKey& current, std::initializer_list<const MasterKey*> previous = {}) {
  Keyring ring(current.clone());
  for (const MasterKey* p : previous) ring.add_previous(p->clone());
  return ring;
}

bool same(const Key& a, const Key& b) { return a.bytes() == b.bytes(); }

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// A distinct JWK per call, so that "the same JWK" means the stored one.
struct JwkMaker {
  int calls = 0;
  std::function<Result<Secret>()> fn() {
    return [this]() -> Result<Secret> {
      ++calls;
      std::string jwk = R"({"kty":"EC","crv":"P-256","d":"PRIVATE-D-)" + hex(random_bytes(16)) +
                        R"(","x":"X","y":"Y"})";
      return Secret(std::move(jwk));
    };
  }
};

// Every kv row of the database file, read with SQLite directly.
std::map<std::string, std::string> kv_rows(const std::string& path) {
  std::map<std::string, std::string> rows;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << path;
    sqlite3_close(db);
    return rows;
  }
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT key, value FROM kv", -1, &stmt, nullptr), SQLITE_OK);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    std::string key(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    const void* blob = sqlite3_column_blob(stmt, 1);
    const int n = sqlite3_column_bytes(stmt, 1);
    rows[key] = blob ? std::string(static_cast<const char*>(blob), static_cast<std::size_t>(n)) : "";
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

std::vector<std::string> system_rows(const std::map<std::string, std::string>& rows) {
  std::vector<std::string> names;
  for (const auto& [k, v] : rows)
    if (k.rfind("system_key.", 0) == 0) names.push_back(k);
  return names;
}

// The signing key as the older gatehouse stored it: raw nonce || ciphertext || tag.
std::string legacy_signing_row(const MasterKey& master, std::string_view jwk,
                               KeyPurpose purpose = KeyPurpose::signing_key_wrap,
                               std::string_view ad = "gatehouse-signing-key-v1") {
  const Key wrap = master.derive(purpose);
  std::string out(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + jwk.size() +
                      crypto_aead_xchacha20poly1305_ietf_ABYTES,
                  '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(o, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(o + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen,
                                             reinterpret_cast<const unsigned char*>(jwk.data()), jwk.size(),
                                             reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, o,
                                             wrap.data());
  return out;
}

constexpr std::string_view kLegacyJwk = R"({"kty":"EC","crv":"P-256","d":"LEGACY-PRIVATE-D","x":"LX","y":"LY"})";

class SystemKeysTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = open(path()); }

  std::unique_ptr<store::SqliteStore> open(const std::string& p) {
    auto opened = store::SqliteStore::open(p);
    EXPECT_TRUE(opened.ok()) << opened.error().message;
    return opened.ok() ? std::move(opened).value() : nullptr;
  }
  std::string path() const { return dir_.file("gatehouse.db"); }

  Result<SystemKeys> load(const Keyring& ring) { return load_system_keys(*db_, ring, jwk_.fn()); }

  void expect_same_keys(const SystemKeys& a, const SystemKeys& b) {
    EXPECT_TRUE(same(a.session_cookie, b.session_cookie));
    EXPECT_TRUE(same(a.csrf, b.csrf));
    EXPECT_TRUE(same(a.oidc_flow, b.oidc_flow));
    EXPECT_TRUE(same(a.oidc_tokens, b.oidc_tokens));
    EXPECT_EQ(a.signing_jwk.reveal(), b.signing_jwk.reveal());
  }

  TempDir dir_;
  JwkMaker jwk_;
  MasterKey master_a_ = random_master_key();
  MasterKey master_b_ = random_master_key();
  std::unique_ptr<store::SqliteStore> db_;
};

TEST_F(SystemKeysTest, FreshStoreGetsFiveSealedRows) {
  auto keys = load(ring_of(master_a_));
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  EXPECT_EQ(jwk_.calls, 1);
  const auto rows = kv_rows(path());
  EXPECT_EQ(system_rows(rows), kRows);
  EXPECT_EQ(rows.count(kLegacyRow), 0u);

  const Key* all[] = {&keys->session_cookie, &keys->csrf, &keys->oidc_flow, &keys->oidc_tokens};
  std::set<std::string> distinct;
  for (const Key* k : all) {
    distinct.insert(std::string(k->bytes()));
    EXPECT_NE(k->bytes(), std::string(32, '\0'));
  }
  EXPECT_EQ(distinct.size(), 4u) << "each purpose has its own key";
  // Random, not the older derivation from the master key.
  EXPECT_FALSE(same(keys->session_cookie, master_a_.derive(KeyPurpose::session_cookie)));
  EXPECT_NE(keys->signing_jwk.reveal().find("PRIVATE-D-"), std::string::npos);

  const std::string jwk(keys->signing_jwk.reveal());
  const std::string d = jwk.substr(jwk.find("PRIVATE-D-"), 26);
  for (const auto& name : kRows) {
    const std::string& row = rows.at(name);
    EXPECT_EQ(crypto::blob_key_id(row), master_a_.id()) << name;
    for (const Key* k : all) {
      EXPECT_EQ(row.find(k->bytes()), std::string::npos) << name << " holds a raw key";
      EXPECT_EQ(row.find(hex(k->bytes())), std::string::npos) << name << " holds a key in hex";
      EXPECT_EQ(row.find(base64url_encode(k->bytes())), std::string::npos) << name << " holds a key in base64url";
      EXPECT_EQ(row.find(base64url_encode(k->bytes()).substr(0, 20)), std::string::npos) << name;
    }
    EXPECT_EQ(row.find("kty"), std::string::npos) << name << " holds the JWK";
    EXPECT_EQ(row.find(d), std::string::npos) << name << " holds the private key";
    EXPECT_EQ(row.find(base64url_encode(jwk).substr(0, 20)), std::string::npos) << name;
    EXPECT_EQ(row.find(master_a_.key().bytes()), std::string::npos) << name << " holds the master key";
  }
}

TEST_F(SystemKeysTest, SecondLoadGivesTheSameKeys) {
  auto first = load(ring_of(master_a_));
  ASSERT_TRUE(first.ok());
  const auto rows = kv_rows(path());
  auto second = load(ring_of(master_a_));
  ASSERT_TRUE(second.ok()) << second.error().message;
  expect_same_keys(*first, *second);
  EXPECT_EQ(jwk_.calls, 1) << "an installation makes its signing key once";
  EXPECT_EQ(kv_rows(path()), rows) << "loading again rewrites nothing";

  // Another process on the same file, after a restart.
  db_.reset();
  db_ = open(path());
  auto third = load(ring_of(master_a_));
  ASSERT_TRUE(third.ok());
  expect_same_keys(*first, *third);
}

TEST_F(SystemKeysTest, AnotherStoreGetsOtherKeys) {
  auto here = load(ring_of(master_a_));
  ASSERT_TRUE(here.ok());
  TempDir other_dir;
  auto other = open(other_dir.file("gatehouse.db"));
  auto there = load_system_keys(*other, ring_of(master_a_), jwk_.fn());
  ASSERT_TRUE(there.ok());
  EXPECT_FALSE(same(here->session_cookie, there->session_cookie)) << "the same master key, yet other keys";
  EXPECT_FALSE(same(here->csrf, there->csrf));
  EXPECT_FALSE(same(here->oidc_flow, there->oidc_flow));
  EXPECT_FALSE(same(here->oidc_tokens, there->oidc_tokens));
  EXPECT_NE(here->signing_jwk.reveal(), there->signing_jwk.reveal());
}

TEST_F(SystemKeysTest, AnotherMasterKeyIsAnError) {
  ASSERT_TRUE(load(ring_of(master_a_)).ok());
  const auto rows = kv_rows(path());
  std::vector<Keyring> rings;
  rings.push_back(ring_of(master_b_));
  rings.push_back(ring_of(master_b_, {&master_b_}));
  const MasterKey stranger = random_master_key();
  rings.push_back(ring_of(stranger, {&master_b_}));
  for (const Keyring& ring : rings) {
    auto keys = load(ring);
    ASSERT_FALSE(keys.ok());
    EXPECT_EQ(keys.error().code, "crypto.key");
    EXPECT_NE(keys.error().message.find(master_a_.id()), std::string::npos) << keys.error().message;
  }
  EXPECT_EQ(kv_rows(path()), rows) << "a failed load leaves the store alone";
  EXPECT_EQ(jwk_.calls, 1);
}

TEST_F(SystemKeysTest, TamperedRowsAreErrors) {
  auto original = load(ring_of(master_a_));
  ASSERT_TRUE(original.ok());
  const auto rows = kv_rows(path());
  for (const auto& name : kRows) {
    const std::string good = rows.at(name);
    const std::string other_row = rows.at(name == kRows[0] ? kRows[1] : kRows[0]);
    std::string flipped = good;
    flipped[flipped.size() / 2 + 10] = flipped[flipped.size() / 2 + 10] == 'A' ? 'B' : 'A';
    std::string last = good;
    last.back() = last.back() == 'A' ? 'Q' : 'A';
    const std::vector<std::string> tampered = {
        flipped, last, good.substr(0, good.size() - 4), good + "AAAA", other_row, "", "garbage",
        crypto::seal(master_a_.key(), crypto::Binding("system-key").add("other_slot"), std::string(32, 'k')),
        crypto::seal(random_master_key().key(), crypto::Binding("system-key").add(name.substr(11)),
                     std::string(32, 'k'))};
    for (const auto& bad : tampered) {
      std::string current = kv_rows(path()).at(name);
      ASSERT_TRUE(*db_->replace_value(name, current, bad)) << name;
      auto keys = load(ring_of(master_a_));
      ASSERT_FALSE(keys.ok()) << name << " tampered as '" << bad.substr(0, 30) << "'";
      EXPECT_EQ(keys.error().code.rfind("crypto.", 0), 0u) << keys.error().code;
      EXPECT_NE(keys.error().message.find(name.substr(11)), std::string::npos) << keys.error().message;
    }
    ASSERT_TRUE(*db_->replace_value(name, kv_rows(path()).at(name), good));
    auto restored = load(ring_of(master_a_));
    ASSERT_TRUE(restored.ok()) << name;
    expect_same_keys(*original, *restored);
  }
}

TEST_F(SystemKeysTest, ASealedKeyOfTheWrongLengthIsAnError) {
  ASSERT_TRUE(load(ring_of(master_a_)).ok());
  const std::string row = "system_key.csrf";
  for (std::size_t n : {0u, 16u, 31u, 33u, 64u}) {
    const std::string resealed =
        crypto::seal(master_a_.key(), crypto::Binding("system-key").add("csrf"), std::string(n, 'k'));
    ASSERT_TRUE(*db_->replace_value(row, kv_rows(path()).at(row), resealed));
    auto keys = load(ring_of(master_a_));
    ASSERT_FALSE(keys.ok()) << n;
    EXPECT_EQ(keys.error().code, "crypto.format") << n;
  }
}

TEST_F(SystemKeysTest, FailingToMakeASigningKeyIsAnErrorAndStoresNone) {
  auto keys = load_system_keys(*db_, ring_of(master_a_),
                               []() -> Result<Secret> { return make_error("jose.keygen", "no entropy today"); });
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.error().code, "jose.keygen");
  EXPECT_EQ(kv_rows(path()).count("system_key.assertion_signing_jwk"), 0u);
  auto retry = load(ring_of(master_a_));
  ASSERT_TRUE(retry.ok()) << retry.error().message;
  EXPECT_EQ(jwk_.calls, 1);
}

TEST_F(SystemKeysTest, LegacyStoreKeepsItsDerivedKeysAndSigningKey) {
  ASSERT_TRUE(db_->put_value_if_absent(kLegacyRow, legacy_signing_row(master_a_, kLegacyJwk)).ok());
  auto keys = load(ring_of(master_a_));
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  EXPECT_EQ(jwk_.calls, 0) << "the installation has a signing key already";
  EXPECT_TRUE(same(keys->session_cookie, master_a_.derive(KeyPurpose::session_cookie)));
  EXPECT_TRUE(same(keys->csrf, master_a_.derive(KeyPurpose::csrf)));
  EXPECT_TRUE(same(keys->oidc_flow, master_a_.derive(KeyPurpose::oidc_flow)));
  EXPECT_TRUE(same(keys->oidc_tokens, master_a_.derive(KeyPurpose::oidc_tokens)));
  EXPECT_EQ(keys->signing_jwk.reveal(), kLegacyJwk);

  const auto rows = kv_rows(path());
  EXPECT_EQ(rows.count(kLegacyRow), 0u) << "the legacy row is migrated, then removed";
  EXPECT_EQ(system_rows(rows), kRows);
  for (const auto& name : kRows) EXPECT_EQ(crypto::blob_key_id(rows.at(name)), master_a_.id()) << name;

  // From now on the stored keys are used, even with the master key changed.
  auto again = load(ring_of(master_b_, {&master_a_}));
  ASSERT_TRUE(again.ok()) << again.error().message;
  expect_same_keys(*keys, *again);
  EXPECT_EQ(jwk_.calls, 0);
}

TEST_F(SystemKeysTest, LegacyStoreWhoseMasterKeyIsAPreviousOne) {
  // The upgrade and a master key change at once: the keys are those derived from the key
  // that wrapped the legacy signing key, sealed under the current one.
  ASSERT_TRUE(db_->put_value_if_absent(kLegacyRow, legacy_signing_row(master_a_, kLegacyJwk)).ok());
  auto keys = load(ring_of(master_b_, {&master_a_}));
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  EXPECT_TRUE(same(keys->session_cookie, master_a_.derive(KeyPurpose::session_cookie)));
  EXPECT_TRUE(same(keys->oidc_tokens, master_a_.derive(KeyPurpose::oidc_tokens)));
  EXPECT_FALSE(same(keys->csrf, master_b_.derive(KeyPurpose::csrf)));
  EXPECT_EQ(keys->signing_jwk.reveal(), kLegacyJwk);
  const auto rows = kv_rows(path());
  EXPECT_EQ(rows.count(kLegacyRow), 0u);
  for (const auto& name : kRows) EXPECT_EQ(crypto::blob_key_id(rows.at(name)), master_b_.id()) << name;
  auto after = load(ring_of(master_b_));
  ASSERT_TRUE(after.ok()) << after.error().message;
  expect_same_keys(*keys, *after);
}

TEST_F(SystemKeysTest, LegacyRowThatNoKeyOpensIsAnErrorAndKept) {
  for (const std::string& legacy :
       {legacy_signing_row(master_b_, kLegacyJwk), std::string("not a sealed key"), std::string(),
        legacy_signing_row(master_a_, kLegacyJwk).substr(0, 40),
        legacy_signing_row(master_a_, kLegacyJwk, KeyPurpose::session_cookie),
        legacy_signing_row(master_a_, kLegacyJwk, KeyPurpose::signing_key_wrap, "gatehouse-signing-key-v2"),
        legacy_signing_row(master_a_, kLegacyJwk, KeyPurpose::signing_key_wrap, "")}) {
    TempDir dir;
    auto db = open(dir.file("gatehouse.db"));
    ASSERT_TRUE(db->put_value_if_absent(kLegacyRow, legacy).ok());
    auto keys = load_system_keys(*db, ring_of(master_a_), jwk_.fn());
    ASSERT_FALSE(keys.ok()) << legacy.size();
    EXPECT_EQ(keys.error().code, "crypto.key");
    const auto rows = kv_rows(dir.file("gatehouse.db"));
    EXPECT_EQ(rows.count(kLegacyRow), 1u) << "the only copy of the signing key is never removed";
    EXPECT_TRUE(system_rows(rows).empty()) << "no key is made in its place";
  }
  EXPECT_EQ(jwk_.calls, 0);
}

TEST_F(SystemKeysTest, RewrapMovesEveryRowToTheCurrentKey) {
  auto before = load(ring_of(master_a_));
  ASSERT_TRUE(before.ok());
  const auto old_rows = kv_rows(path());
  const Keyring during = ring_of(master_b_, {&master_a_});
  int current = 0;
  auto rewrapped = rewrap_system_keys(*db_, during, &current);
  ASSERT_TRUE(rewrapped.ok()) << rewrapped.error().message;
  EXPECT_EQ(*rewrapped, 5);
  EXPECT_EQ(current, 0);
  const auto rows = kv_rows(path());
  for (const auto& name : kRows) {
    EXPECT_EQ(crypto::blob_key_id(rows.at(name)), master_b_.id()) << name;
    EXPECT_NE(rows.at(name), old_rows.at(name)) << name;
  }
  current = 0;
  auto again = rewrap_system_keys(*db_, during, &current);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  EXPECT_EQ(current, 5);
  EXPECT_EQ(kv_rows(path()), rows);
  EXPECT_TRUE(rewrap_system_keys(*db_, during, nullptr).ok()) << "the count is optional";

  auto after = load(ring_of(master_b_));
  ASSERT_TRUE(after.ok()) << after.error().message;
  expect_same_keys(*before, *after);
  EXPECT_FALSE(load(ring_of(master_a_)).ok()) << "the old key alone no longer opens them";
}

TEST_F(SystemKeysTest, RewrapWithoutTheOldKeyIsAnErrorAndChangesNothing) {
  ASSERT_TRUE(load(ring_of(master_a_)).ok());
  const auto rows = kv_rows(path());
  int current = 0;
  auto rewrapped = rewrap_system_keys(*db_, ring_of(master_b_), &current);
  ASSERT_FALSE(rewrapped.ok());
  EXPECT_EQ(rewrapped.error().code, "crypto.key");
  EXPECT_EQ(kv_rows(path()), rows);
}

TEST_F(SystemKeysTest, RewrapOfAnEmptyStoreDoesNothing) {
  int current = 0;
  auto rewrapped = rewrap_system_keys(*db_, ring_of(master_a_), &current);
  ASSERT_TRUE(rewrapped.ok());
  EXPECT_EQ(*rewrapped, 0);
  EXPECT_EQ(current, 0);
  EXPECT_TRUE(kv_rows(path()).empty());
}

TEST_F(SystemKeysTest, CheckKeyringNeedsEveryKeyThatSealedARow) {
  ASSERT_TRUE(check_keyring(*db_, *db_, ring_of(master_b_)).ok()) << "nothing sealed yet";
  ASSERT_TRUE(load(ring_of(master_a_)).ok());
  EXPECT_TRUE(check_keyring(*db_, *db_, ring_of(master_a_)).ok());
  EXPECT_TRUE(check_keyring(*db_, *db_, ring_of(master_b_, {&master_a_})).ok());
  auto without = check_keyring(*db_, *db_, ring_of(master_b_));
  ASSERT_FALSE(without.ok());
  EXPECT_EQ(without.error().code, "crypto.key");

  // System keys moved to B; a tenant data key still wrapped by A.
  ASSERT_TRUE(db_->add_tenant({"acme", 0, "", ""}).ok());
  FakeClock clock;
  Vault vault(*db_, *db_, std::make_shared<const Keyring>(ring_of(master_a_)), clock);
  ASSERT_TRUE(vault.set("acme", "s", Secret::copy_of("v"), "cli:test").ok());
  ASSERT_TRUE(rewrap_system_keys(*db_, ring_of(master_b_, {&master_a_}), nullptr).ok());
  auto tenant_only = check_keyring(*db_, *db_, ring_of(master_b_));
  ASSERT_FALSE(tenant_only.ok());
  EXPECT_EQ(tenant_only.error().code, "crypto.key");
  EXPECT_NE(tenant_only.error().message.find("acme"), std::string::npos) << tenant_only.error().message;
  EXPECT_TRUE(check_keyring(*db_, *db_, ring_of(master_b_, {&master_a_})).ok());

  vault.set_keyring(std::make_shared<const Keyring>(ring_of(master_b_, {&master_a_})));
  ASSERT_TRUE(vault.rewrap_tenant_keys().ok());
  EXPECT_TRUE(check_keyring(*db_, *db_, ring_of(master_b_)).ok());
  EXPECT_FALSE(check_keyring(*db_, *db_, ring_of(master_a_)).ok());
}

TEST_F(SystemKeysTest, CheckKeyringFindsATamperedRow) {
  ASSERT_TRUE(load(ring_of(master_a_)).ok());
  const std::string row = "system_key.oidc_flow";
  const std::string good = kv_rows(path()).at(row);
  ASSERT_TRUE(*db_->replace_value(row, good, kv_rows(path()).at("system_key.csrf")));
  auto checked = check_keyring(*db_, *db_, ring_of(master_a_));
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.error().code, "crypto.open");
  EXPECT_NE(checked.error().message.find("oidc_flow"), std::string::npos) << checked.error().message;
}

}  // namespace
}  // namespace system_keys_cases
}  // namespace gatehouse::vault
