#include "crypto/keys.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <ostream>
#include <string>

#include "unit/auth/fakes.h"

namespace gatehouse::crypto {
using auth::testing_support::TempDir;
namespace {


std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

bool same(const Key& a, const Key& b) { return std::memcmp(a.data(), b.data(), Key::size()) == 0; }

bool same_derived_keys(const MasterKey& a, const MasterKey& b) {
  return same(a.derive(KeyPurpose::session_cookie), b.derive(KeyPurpose::session_cookie)) &&
         same(a.derive(KeyPurpose::csrf), b.derive(KeyPurpose::csrf)) &&
         same(a.derive(KeyPurpose::signing_key_wrap), b.derive(KeyPurpose::signing_key_wrap));
}

std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string fixed_key_bytes() {
  std::string raw(kKeyBytes, '\0');
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(i * 7 + 3);
  return raw;
}

// Restores $CREDENTIALS_DIRECTORY when a test ends.
class CredentialsDirectoryGuard {
 public:
  CredentialsDirectoryGuard() {
    if (const char* v = std::getenv("CREDENTIALS_DIRECTORY")) saved_ = v;
  }
  ~CredentialsDirectoryGuard() {
    if (saved_) ::setenv("CREDENTIALS_DIRECTORY", saved_->c_str(), 1);
    else ::unsetenv("CREDENTIALS_DIRECTORY");
  }

 private:
  std::optional<std::string> saved_;
};

TEST(MasterKeyTest, CreatesAMissingFileWithMode0600And32Bytes) {
  TempDir dir;
  const std::string path = dir.file("master.key");
  auto m = MasterKey::load_or_create(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_NE(read_all(path), std::string(32, '\0')) << "the new key is not random";
}

TEST(MasterKeyTest, ReadingTheCreatedFileAgainGivesTheSameDerivedKeys) {
  TempDir dir;
  const std::string path = dir.file("master.key");
  auto first = MasterKey::load_or_create(path);
  ASSERT_TRUE(first.ok());
  const std::string content = read_all(path);
  auto second = MasterKey::load_or_create(path);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(same_derived_keys(*first, *second));
  EXPECT_EQ(read_all(path), content) << "an existing key file must not be rewritten";
}

TEST(MasterKeyTest, DifferentFilesGiveDifferentKeys) {
  TempDir dir;
  auto a = MasterKey::load_or_create(dir.file("a.key"));
  auto b = MasterKey::load_or_create(dir.file("b.key"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(same(a->derive(KeyPurpose::session_cookie), b->derive(KeyPurpose::session_cookie)));
}

TEST(MasterKeyTest, PurposesDeriveDifferentKeys) {
  TempDir dir;
  auto m = MasterKey::load_or_create(dir.file("master.key"));
  ASSERT_TRUE(m.ok());
  const Key cookie = m->derive(KeyPurpose::session_cookie);
  const Key csrf = m->derive(KeyPurpose::csrf);
  const Key wrap = m->derive(KeyPurpose::signing_key_wrap);
  EXPECT_FALSE(same(cookie, csrf));
  EXPECT_FALSE(same(cookie, wrap));
  EXPECT_FALSE(same(csrf, wrap));
}

TEST(MasterKeyTest, RawAndHexSpellingsOfOneKeyAreEquivalent) {
  TempDir dir;
  const std::string raw = fixed_key_bytes();
  write_file(dir.file("raw.key"), raw);
  write_file(dir.file("hex.key"), hex(raw));
  write_file(dir.file("hex-newline.key"), hex(raw) + "\n");
  write_file(dir.file("hex-crlf.key"), hex(raw) + "\r\n");
  std::string upper = hex(raw);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  write_file(dir.file("hex-upper.key"), upper + "\n");

  auto reference = MasterKey::load_or_create(dir.file("raw.key"));
  ASSERT_TRUE(reference.ok()) << reference.error().message;
  EXPECT_TRUE(same_derived_keys(*reference, MasterKey::from_key([&] {
    Key k;
    std::memcpy(k.data(), raw.data(), raw.size());
    return k;
  }())));
  for (const char* name : {"hex.key", "hex-newline.key", "hex-crlf.key", "hex-upper.key"}) {
    auto m = MasterKey::load_or_create(dir.file(name));
    ASSERT_TRUE(m.ok()) << name << ": " << m.error().message;
    EXPECT_TRUE(same_derived_keys(*reference, *m)) << name;
  }
}

struct BadKeyFile {
  const char* what;
  std::string content;
};

void PrintTo(const BadKeyFile& c, std::ostream* os) { *os << c.what; }

class MasterKeyRejects : public ::testing::TestWithParam<BadKeyFile> {};

TEST_P(MasterKeyRejects, MalformedFileWithAnError) {
  TempDir dir;
  const std::string path = dir.file("master.key");
  write_file(path, GetParam().content);
  auto m = MasterKey::load_or_create(path);
  ASSERT_FALSE(m.ok()) << GetParam().what;
  EXPECT_EQ(m.error().code, "keys.format") << GetParam().what;
  EXPECT_NE(m.error().message.find(path), std::string::npos) << "the error names the file";
  EXPECT_EQ(read_all(path), GetParam().content) << "a bad key file must be left alone";
}

INSTANTIATE_TEST_SUITE_P(
    Table, MasterKeyRejects,
    ::testing::Values(BadKeyFile{"31 bytes", std::string(31, 'k')},
                      BadKeyFile{"33 bytes", std::string(33, 'k')},
                      BadKeyFile{"empty", ""},
                      BadKeyFile{"64 non-hex characters", std::string(64, 'g')},
                      BadKeyFile{"63 hex digits", std::string(63, 'a') + "\n"},
                      BadKeyFile{"65 hex digits", std::string(65, 'a')},
                      BadKeyFile{"hex with a space", std::string(32, 'a') + " " + std::string(31, 'a')},
                      BadKeyFile{"2 KiB", std::string(2048, 'a')}),
    [](const auto& info) {
      std::string n;
      for (char c : std::string(info.param.what)) n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return n;
    });

TEST(MasterKeyTest, MissingDirectoryIsAnError) {
  TempDir dir;
  auto m = MasterKey::load_or_create(dir.file("no/such/dir/master.key"));
  EXPECT_FALSE(m.ok());
}

TEST(MasterKeyTest, EmptyPathReadsTheSystemdCredential) {
  CredentialsDirectoryGuard guard;
  TempDir dir;
  write_file(dir.file("master.key"), fixed_key_bytes());
  ::setenv("CREDENTIALS_DIRECTORY", dir.path().c_str(), 1);
  auto from_credential = MasterKey::load_or_create("");
  ASSERT_TRUE(from_credential.ok()) << from_credential.error().message;
  auto from_path = MasterKey::load_or_create(dir.file("master.key"));
  ASSERT_TRUE(from_path.ok());
  EXPECT_TRUE(same_derived_keys(*from_credential, *from_path));
}

TEST(MasterKeyTest, EmptyPathWithoutCredentialsDirectoryIsAnError) {
  CredentialsDirectoryGuard guard;
  ::unsetenv("CREDENTIALS_DIRECTORY");
  auto m = MasterKey::load_or_create("");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, "keys.missing");
  ::setenv("CREDENTIALS_DIRECTORY", "", 1);
  EXPECT_FALSE(MasterKey::load_or_create("").ok());
}

TEST(MasterKeyTest, CredentialIsNeverCreated) {
  CredentialsDirectoryGuard guard;
  TempDir dir;
  ::setenv("CREDENTIALS_DIRECTORY", dir.path().c_str(), 1);
  EXPECT_FALSE(MasterKey::load_or_create("").ok());
  EXPECT_FALSE(std::filesystem::exists(dir.file("master.key")));
}

}  // namespace
}  // namespace gatehouse::crypto
