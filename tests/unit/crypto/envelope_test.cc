#include "crypto/envelope.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "unit/auth/fakes.h"

namespace gatehouse::crypto {
// Named so that the unity build keeps these helpers apart from the other test files'.
namespace envelope_cases {
namespace {

using auth::testing_support::random_key;

constexpr std::string_view kPrefix = "gh1.";
constexpr std::size_t kIdChars = 16;
constexpr std::size_t kNonceBytes = 24;
constexpr std::size_t kTagBytes = 16;

Binding secret_binding(std::string_view tenant = "acme", std::string_view name = "api-token",
                       std::int64_t version = 1) {
  Binding b("tenant-secret");
  b.add(tenant).add(name).add(version);
  return b;
}

bool is_lower_hex_id(const std::string& id) {
  if (id.size() != kIdChars) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The base64url body of a blob, decoded.
std::string body_of(const std::string& blob) {
  auto raw = base64url_decode(blob.substr(kPrefix.size() + kIdChars + 1));
  return raw ? *raw : std::string("<not base64url>");
}

std::string with_body(const Key& key, const std::string& raw) {
  return std::string(kPrefix) + key.id() + "." + base64url_encode(raw);
}

TEST(Envelope, BlobNamesItsKeyAndOpensWithIt) {
  const Key key = random_key();
  const std::string blob = seal(key, secret_binding(), "s3cret value");
  ASSERT_EQ(blob.substr(0, kPrefix.size()), kPrefix);
  EXPECT_EQ(blob.substr(kPrefix.size(), kIdChars), key.id());
  EXPECT_EQ(blob[kPrefix.size() + kIdChars], '.');
  EXPECT_EQ(blob_key_id(blob), key.id());
  EXPECT_EQ(body_of(blob).size(), kNonceBytes + 12 + kTagBytes);
  EXPECT_EQ(blob.find("s3cret"), std::string::npos);
  auto opened = open(key, secret_binding(), blob);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->reveal(), "s3cret value");
}

TEST(Envelope, RoundTripsEverySizeUpToTheLimit) {
  const Key key = random_key();
  std::string binary;
  for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
  for (const std::string& value :
       {std::string(), std::string("x"), std::string("\0", 1), binary, std::string(1000, 'a'),
        std::string(kMaxSealedValue - 1, 'm'), std::string(kMaxSealedValue, 'M')}) {
    const std::string blob = seal(key, secret_binding(), value);
    auto opened = open(key, secret_binding(), blob);
    ASSERT_TRUE(opened.ok()) << value.size() << " bytes: " << opened.error().message;
    EXPECT_EQ(opened->size(), value.size());
    EXPECT_TRUE(opened->reveal() == value) << value.size() << " bytes";
  }
}

TEST(Envelope, ValuesLongerThanTheLimitDoNotOpen) {
  // A blob's length is checked before it is decoded, and the opened value must not
  // exceed kMaxSealedValue either: base64's rounding must not let a few more bytes in.
  const Key key = random_key();
  for (std::size_t extra : {1u, 2u, 3u, 4u, 100u, 4096u}) {
    const std::string blob = seal(key, secret_binding(), std::string(kMaxSealedValue + extra, 'o'));
    auto opened = open(key, secret_binding(), blob);
    ASSERT_FALSE(opened.ok()) << kMaxSealedValue << " + " << extra << " bytes opened";
    EXPECT_EQ(opened.error().code, "crypto.format") << extra;
  }
  auto huge = open(key, secret_binding(), std::string(kPrefix) + key.id() + "." + std::string(1 << 20, 'A'));
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code, "crypto.format");
}

TEST(Envelope, EverySealDiffers) {
  const Key key = random_key();
  std::set<std::string> blobs;
  std::set<std::string> nonces;
  for (int i = 0; i < 50; ++i) {
    const std::string blob = seal(key, secret_binding(), "same value");
    blobs.insert(blob);
    nonces.insert(body_of(blob).substr(0, kNonceBytes));
  }
  EXPECT_EQ(blobs.size(), 50u);
  EXPECT_EQ(nonces.size(), 50u);
}

TEST(Envelope, AnotherBindingDoesNotOpen) {
  const Key key = random_key();
  const std::string blob = seal(key, secret_binding("acme", "api-token", 3), "Zq9-plain");
  ASSERT_TRUE(open(key, secret_binding("acme", "api-token", 3), blob).ok());

  struct Other {
    const char* what;
    Binding binding;
  };
  const std::vector<Other> others = {
      {"another purpose", Binding("tenant-key").add("acme").add("api-token").add(std::int64_t{3})},
      {"purpose only", Binding("tenant-secret")},
      {"another tenant", secret_binding("globex", "api-token", 3)},
      {"tenant differs in case", secret_binding("Acme", "api-token", 3)},
      {"empty tenant", secret_binding("", "api-token", 3)},
      {"another name", secret_binding("acme", "api-token2", 3)},
      {"name prefix", secret_binding("acme", "api", 3)},
      {"older version", secret_binding("acme", "api-token", 2)},
      {"newer version", secret_binding("acme", "api-token", 4)},
      {"version 0", secret_binding("acme", "api-token", 0)},
      {"negative version", secret_binding("acme", "api-token", -3)},
      {"version 30", secret_binding("acme", "api-token", 30)},
      {"a part more", secret_binding("acme", "api-token", 3).add("")},
      {"parts shifted", Binding("tenant-secret").add("acmeapi-token").add("").add(std::int64_t{3})},
      {"joined", Binding("tenant-secret").add("acme").add("api-token3")},
  };
  for (const auto& o : others) {
    auto opened = open(key, o.binding, blob);
    ASSERT_FALSE(opened.ok()) << o.what;
    EXPECT_EQ(opened.error().code, "crypto.open") << o.what;
    EXPECT_EQ(opened.error().message.find("Zq9"), std::string::npos) << o.what;
  }
}

TEST(Envelope, PartsThatConcatenateEquallyAreDifferentBindings) {
  const Key key = random_key();
  const std::vector<std::pair<Binding, Binding>> pairs = {
      {Binding("p").add("ab").add("c"), Binding("p").add("a").add("bc")},
      {Binding("p").add("abc").add(""), Binding("p").add("").add("abc")},
      {Binding("p").add("abc"), Binding("p").add("ab").add("c")},
      {Binding("pa").add("b"), Binding("p").add("ab")},
      {Binding("p").add("1:a"), Binding("p").add("1").add("a")},
      {Binding("p").add(std::int64_t{12}), Binding("p").add("1").add("2")},
  };
  for (const auto& [a, b] : pairs) {
    EXPECT_NE(a.bytes(), b.bytes());
    auto opened = open(key, b, seal(key, a, "v"));
    ASSERT_FALSE(opened.ok()) << a.bytes() << " opened as " << b.bytes();
    EXPECT_EQ(opened.error().code, "crypto.open");
    EXPECT_FALSE(open(key, a, seal(key, b, "v")).ok());
  }
}

TEST(Envelope, AnotherKeyIsRefusedNamingBothKeys) {
  const Key sealer = random_key();
  const std::string blob = seal(sealer, secret_binding(), "Zq9-plain");
  for (int i = 0; i < 5; ++i) {
    const Key other = random_key();
    auto opened = open(other, secret_binding(), blob);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code, "crypto.key");
    EXPECT_NE(opened.error().message.find(sealer.id()), std::string::npos) << opened.error().message;
    EXPECT_NE(opened.error().message.find(other.id()), std::string::npos) << opened.error().message;
    EXPECT_EQ(opened.error().message.find("Zq9"), std::string::npos) << opened.error().message;
  }
}

TEST(Envelope, AnotherKeyUnderTheSameIdTextDoesNotOpen) {
  // The id in the text is only a label: a blob whose body was made by another key but
  // that names this key must fail the authentication, not open into garbage.
  const Key key = random_key();
  const Key other = random_key();
  const std::string forged = with_body(key, body_of(seal(other, secret_binding(), "value")));
  auto opened = open(key, secret_binding(), forged);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, "crypto.open");
}

TEST(Envelope, EveryFlippedBitOfTheBodyIsRefused) {
  const Key key = random_key();
  const std::string blob = seal(key, secret_binding(), "a value of some length");
  const std::string raw = body_of(blob);
  ASSERT_GT(raw.size(), kNonceBytes + kTagBytes);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    for (int bit : {0, 3, 7}) {
      std::string flipped = raw;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      auto opened = open(key, secret_binding(), with_body(key, flipped));
      ASSERT_FALSE(opened.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(opened.error().code, "crypto.open") << "byte " << i << " bit " << bit;
    }
  }
}

TEST(Envelope, TruncatedOrExtendedBodiesAreRefused) {
  const Key key = random_key();
  const std::string blob = seal(key, secret_binding(), "value");
  const std::string raw = body_of(blob);
  for (std::size_t keep = 0; keep < raw.size(); ++keep) {
    auto opened = open(key, secret_binding(), with_body(key, raw.substr(0, keep)));
    EXPECT_FALSE(opened.ok()) << "first " << keep << " bytes";
  }
  for (const std::string& tail : {std::string("\0", 1), std::string("x"), std::string(16, '\0'), raw}) {
    EXPECT_FALSE(open(key, secret_binding(), with_body(key, raw + tail)).ok()) << tail.size();
  }
  // The text itself, cut or extended anywhere after the id.
  for (std::size_t cut = kPrefix.size() + kIdChars + 1; cut < blob.size(); ++cut)
    EXPECT_FALSE(open(key, secret_binding(), blob.substr(0, cut)).ok()) << cut;
  for (const char* tail : {"A", "AA", "AAA", "AAAA", "=", "==", ".", " ", "\n"})
    EXPECT_FALSE(open(key, secret_binding(), blob + tail).ok()) << tail;
}

TEST(Envelope, EditedKeyIdIsRefused) {
  const Key key = random_key();
  const std::string blob = seal(key, secret_binding(), "value");
  const std::size_t id_at = kPrefix.size();
  for (std::size_t i = 0; i < kIdChars; ++i) {
    std::string edited = blob;
    edited[id_at + i] = edited[id_at + i] == '0' ? '1' : '0';  // another valid id
    auto opened = open(key, secret_binding(), edited);
    ASSERT_FALSE(opened.ok()) << i;
    EXPECT_EQ(opened.error().code, "crypto.key") << i;

    std::string upper = blob;
    upper[id_at + i] = upper[id_at + i] >= 'a' ? static_cast<char>(upper[id_at + i] - 'a' + 'A') : 'G';
    auto not_an_id = open(key, secret_binding(), upper);
    ASSERT_FALSE(not_an_id.ok()) << i;
    EXPECT_EQ(not_an_id.error().code, "crypto.format") << i;
  }
}

TEST(Envelope, TextThatIsNotABlobIsRefusedAsFormat) {
  const Key key = random_key();
  const std::string blob = seal(key, secret_binding(), "value");
  const std::string id = key.id();
  const std::string body = blob.substr(kPrefix.size() + kIdChars + 1);
  const std::vector<std::string> bad = {
      "",
      "gh1",
      "gh1.",
      "gh1..",
      "gh1." + id,
      "gh1." + id + ".",
      "gh2." + id + "." + body,
      "GH1." + id + "." + body,
      "gh1:" + id + "." + body,
      "gh1." + id + ":" + body,
      "gh1." + id.substr(1) + "." + body,
      "gh1." + id + "0." + body,
      "gh1." + id + "." + body + "!",
      "gh1." + id + ".not base64url",
      "gh1." + id + "." + body.substr(0, 10) + "+" + body.substr(11),
      "gh1." + id + "." + body.substr(0, 10) + "/" + body.substr(11),
      "gh1." + id + "." + body + "==",
      " " + blob,
      blob.substr(kPrefix.size()),
      base64url_encode(body_of(blob)),
      std::string("gh1.\0", 5) + id + "." + body,
      std::string(100, '.'),
  };
  for (const auto& text : bad) {
    auto opened = open(key, secret_binding(), text);
    ASSERT_FALSE(opened.ok()) << text;
    EXPECT_TRUE(opened.error().code == "crypto.format" || opened.error().code == "crypto.open")
        << text << ": " << opened.error().code;
  }
  for (const auto& text : {std::string(""), std::string("gh1."), "gh2." + id + "." + body, "gh1." + id})
    EXPECT_FALSE(blob_key_id(text).has_value()) << text;
}

TEST(Envelope, KeyIdIsSixteenLowerHexDigitsStablePerKey) {
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    const Key key = random_key();
    const std::string id = key.id();
    EXPECT_TRUE(is_lower_hex_id(id)) << id;
    EXPECT_EQ(key.id(), id);
    EXPECT_EQ(key.clone().id(), id);
    auto copy = Key::from_bytes(key.bytes());
    ASSERT_TRUE(copy.ok());
    EXPECT_EQ(copy->id(), id);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 200u);
}

TEST(Envelope, KeyIdIsNotThePrefixOfTheKey) {
  // The id is a fingerprint, not a piece of the key: it must reveal nothing of its bytes.
  std::string raw(kKeyBytes, '\0');
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(0x11 * (i % 16));
  auto key = Key::from_bytes(raw);
  ASSERT_TRUE(key.ok());
  EXPECT_NE(key->id(), "0011223344556677");
  EXPECT_TRUE(is_lower_hex_id(key->id()));
  auto zero = Key::from_bytes(std::string(kKeyBytes, '\0'));
  ASSERT_TRUE(zero.ok());
  EXPECT_NE(zero->id(), std::string(16, '0'));
  EXPECT_NE(zero->id(), key->id());
}

TEST(Envelope, KeysDifferingInOneBitHaveUnrelatedIds) {
  std::string raw(kKeyBytes, 'k');
  auto base = Key::from_bytes(raw);
  ASSERT_TRUE(base.ok());
  for (std::size_t i = 0; i < kKeyBytes; ++i) {
    std::string flipped = raw;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x80);
    auto k = Key::from_bytes(flipped);
    ASSERT_TRUE(k.ok());
    EXPECT_NE(k->id(), base->id()) << i;
  }
}

TEST(Envelope, FromBytesWantsExactly32Bytes) {
  for (std::size_t n : {0u, 1u, 16u, 31u, 33u, 64u}) {
    auto k = Key::from_bytes(std::string(n, 'k'));
    ASSERT_FALSE(k.ok()) << n;
    EXPECT_EQ(k.error().code, "keys.format");
  }
}

}  // namespace
}  // namespace envelope_cases
}  // namespace gatehouse::crypto
