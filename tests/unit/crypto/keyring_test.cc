// The keyring: the current master key seals, previous ones still open during a key
// change, and [keys] is loaded with the mistakes of a key change refused.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "crypto/envelope.h"
#include "crypto/keys.h"
#include "unit/auth/fakes.h"

namespace gatehouse::crypto {
// Named so that the unity build keeps these helpers apart from the other test files'.
namespace keyring_cases {
namespace {

using auth::testing_support::random_master_key;
using auth::testing_support::TempDir;

void write_key_file(const std::string& path, const MasterKey& key) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << key.key().bytes();
}

Binding some_binding() {
  Binding b("system-key");
  b.add("session_cookie");
  return b;
}

// Restores $CREDENTIALS_DIRECTORY when a test ends.
class CredentialsEnv {
 public:
  CredentialsEnv() {
    if (const char* v = std::getenv("CREDENTIALS_DIRECTORY")) saved_ = v;
  }
  ~CredentialsEnv() {
    if (saved_) ::setenv("CREDENTIALS_DIRECTORY", saved_->c_str(), 1);
    else ::unsetenv("CREDENTIALS_DIRECTORY");
  }

 private:
  std::optional<std::string> saved_;
};

TEST(Keyring, FindsCurrentAndPreviousKeysById) {
  MasterKey a = random_master_key();
  MasterKey b = random_master_key();
  MasterKey c = random_master_key();
  const std::string ida = a.id(), idb = b.id(), idc = c.id();
  Keyring ring(std::move(b));
  ring.add_previous(std::move(a));
  ring.add_previous(std::move(c));
  ASSERT_NE(ring.find(idb), nullptr);
  EXPECT_EQ(ring.find(idb), &ring.current());
  ASSERT_NE(ring.find(ida), nullptr);
  EXPECT_EQ(ring.find(ida)->id(), ida);
  ASSERT_NE(ring.find(idc), nullptr);
  EXPECT_EQ(ring.find(idc)->id(), idc);
  EXPECT_EQ(ring.find(random_master_key().id()), nullptr);
  EXPECT_EQ(ring.find(""), nullptr);
  EXPECT_EQ(ring.find(ida.substr(0, 15)), nullptr);
}

TEST(Keyring, SealsWithTheCurrentKeyAndOpensWithAPreviousOne) {
  MasterKey old_key = random_master_key();
  const std::string old_id = old_key.id();
  Keyring before(old_key.clone());
  const std::string old_blob = seal(before, some_binding(), "value");
  EXPECT_EQ(blob_key_id(old_blob), old_id);
  EXPECT_FALSE(needs_rewrap(before, old_blob));

  Keyring during(random_master_key());
  during.add_previous(std::move(old_key));
  auto opened = open(during, some_binding(), old_blob);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->reveal(), "value");
  EXPECT_TRUE(needs_rewrap(during, old_blob));

  const std::string new_blob = seal(during, some_binding(), "value");
  EXPECT_EQ(blob_key_id(new_blob), during.current().id());
  EXPECT_FALSE(needs_rewrap(during, new_blob));
  EXPECT_TRUE(needs_rewrap(before, new_blob));
  // The previous key still opens only with the binding it sealed for.
  EXPECT_EQ(open(during, Binding("system-key").add("csrf"), old_blob).error().code, "crypto.open");
}

TEST(Keyring, BlobOfAKeyNotInTheRingIsRefusedNamingIt) {
  MasterKey stranger = random_master_key();
  const std::string blob = seal(stranger.key(), some_binding(), "value");
  Keyring ring(random_master_key());
  ring.add_previous(random_master_key());
  auto opened = open(ring, some_binding(), blob);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, "crypto.key");
  EXPECT_NE(opened.error().message.find(stranger.id()), std::string::npos) << opened.error().message;
}

TEST(Keyring, NotABlobIsAFormatErrorAndNeedsRewrap) {
  Keyring ring(random_master_key());
  for (const std::string text : {"", "gh1.", "garbage", "gh2.0123456789abcdef.AAAA"}) {
    auto opened = open(ring, some_binding(), text);
    ASSERT_FALSE(opened.ok()) << text;
    EXPECT_EQ(opened.error().code, "crypto.format") << text;
    // Whatever it is, it is not sealed by the current key.
    EXPECT_TRUE(needs_rewrap(ring, text)) << text;
  }
}

TEST(LoadKeyring, CurrentOnlyCreatesTheKey) {
  TempDir dir;
  auto ring = load_keyring(dir.file("master.key"), {});
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  EXPECT_TRUE(ring->previous().empty());
  EXPECT_TRUE(std::filesystem::exists(dir.file("master.key")));
  auto again = load_keyring(dir.file("master.key"), {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->current().id(), ring->current().id());
}

TEST(LoadKeyring, LoadsPreviousKeysInOrder) {
  TempDir dir;
  MasterKey a = random_master_key();
  MasterKey b = random_master_key();
  write_key_file(dir.file("a.key"), a);
  write_key_file(dir.file("b.key"), b);
  auto ring = load_keyring(dir.file("master.key"), {dir.file("a.key"), dir.file("b.key")});
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  ASSERT_EQ(ring->previous().size(), 2u);
  EXPECT_EQ(ring->previous()[0].id(), a.id());
  EXPECT_EQ(ring->previous()[1].id(), b.id());
  EXPECT_NE(ring->find(a.id()), nullptr);
  EXPECT_NE(ring->find(b.id()), nullptr);
}

TEST(LoadKeyring, MissingPreviousFileIsAnErrorAndNotCreated) {
  TempDir dir;
  for (const std::string name : {"missing.key", "no/such/dir/old.key"}) {
    auto ring = load_keyring(dir.file("master.key"), {dir.file(name)});
    ASSERT_FALSE(ring.ok()) << name;
    EXPECT_EQ(ring.error().code, "keys.read") << name;
    EXPECT_NE(ring.error().message.find(dir.file(name)), std::string::npos) << ring.error().message;
    EXPECT_FALSE(std::filesystem::exists(dir.file(name))) << "a previous key is never created";
  }
}

TEST(LoadKeyring, MalformedPreviousFileIsAnError) {
  TempDir dir;
  for (const std::string& content : {std::string(), std::string(31, 'k'), std::string(33, 'k'), std::string(64, 'z')}) {
    std::ofstream(dir.file("old.key"), std::ios::binary | std::ios::trunc) << content;
    auto ring = load_keyring(dir.file("master.key"), {dir.file("old.key")});
    ASSERT_FALSE(ring.ok()) << content.size();
    EXPECT_EQ(ring.error().code, "keys.format");
  }
}

TEST(LoadKeyring, PreviousEqualToCurrentIsAnError) {
  TempDir dir;
  auto first = load_keyring(dir.file("master.key"), {});
  ASSERT_TRUE(first.ok());
  // The same key under another file name, and in its hex spelling: still the same key.
  write_key_file(dir.file("copy.key"), first->current());
  {
    std::ofstream hex(dir.file("hex.key"));
    for (unsigned char c : first->current().key().bytes()) {
      static constexpr char digits[] = "0123456789abcdef";
      hex << digits[c >> 4] << digits[c & 15];
    }
    hex << "\n";
  }
  for (const std::string name : {"master.key", "copy.key", "hex.key"}) {
    MasterKey other = random_master_key();
    write_key_file(dir.file("other.key"), other);
    auto ring = load_keyring(dir.file("master.key"), {dir.file("other.key"), dir.file(name)});
    ASSERT_FALSE(ring.ok()) << name;
    EXPECT_EQ(ring.error().code, "keys.previous") << name;
    EXPECT_NE(ring.error().message.find(dir.file(name)), std::string::npos) << ring.error().message;
  }
}

TEST(LoadKeyring, PreviousKeyNameIsLookedUpAmongCredentials) {
  CredentialsEnv guard;
  TempDir creds;
  TempDir dir;
  MasterKey old_key = random_master_key();
  write_key_file(creds.file("old-master.key"), old_key);
  ::setenv("CREDENTIALS_DIRECTORY", creds.path().c_str(), 1);
  auto ring = load_keyring(dir.file("master.key"), {"old-master.key"});
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  ASSERT_EQ(ring->previous().size(), 1u);
  EXPECT_EQ(ring->previous()[0].id(), old_key.id());

  // A name the credentials do not have is an error naming where it was looked for.
  auto missing = load_keyring(dir.file("master.key"), {"absent.key"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find(creds.file("absent.key")), std::string::npos) << missing.error().message;

  // A path (with a slash) is a path, whatever the credentials directory holds.
  write_key_file(dir.file("old-master.key"), random_master_key());
  auto by_path = load_keyring(dir.file("master.key"), {dir.file("old-master.key")});
  ASSERT_TRUE(by_path.ok());
  EXPECT_NE(by_path->previous()[0].id(), old_key.id());
}

TEST(LoadKeyring, CurrentKeyFromTheCredentialWithPreviousKeysBeside) {
  CredentialsEnv guard;
  TempDir creds;
  MasterKey current = random_master_key();
  MasterKey old_key = random_master_key();
  write_key_file(creds.file("master.key"), current);
  write_key_file(creds.file("previous.key"), old_key);
  ::setenv("CREDENTIALS_DIRECTORY", creds.path().c_str(), 1);
  auto ring = load_keyring("", {"previous.key"});
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  EXPECT_EQ(ring->current().id(), current.id());
  EXPECT_EQ(ring->previous()[0].id(), old_key.id());
  // The credential itself named as a previous key is the current key.
  auto same = load_keyring("", {"master.key"});
  ASSERT_FALSE(same.ok());
  EXPECT_EQ(same.error().code, "keys.previous");
}

TEST(LoadKeyring, WithoutCredentialsDirectoryANameIsRelative) {
  CredentialsEnv guard;
  ::unsetenv("CREDENTIALS_DIRECTORY");
  TempDir dir;
  // Not found in the working directory (the test's is not the temp dir): an error, not
  // a silent lookup somewhere else.
  auto ring = load_keyring(dir.file("master.key"), {"gatehouse-no-such-previous.key"});
  ASSERT_FALSE(ring.ok());
  EXPECT_EQ(ring.error().code, "keys.read");
}

}  // namespace
}  // namespace keyring_cases
}  // namespace gatehouse::crypto
