#include "auth/session_codec.h"

#include <gtest/gtest.h>

#include <string>

#include "common/encoding.h"
#include "unit/auth/fakes.h"

namespace gatehouse::auth {
namespace {

using testing_support::random_key;

std::string some_session_id() { return random_bytes(kSessionIdBytes); }

TEST(SessionCodecTest, OpensWhatItSealed) {
  SessionCodec codec(random_key());
  const std::string id = some_session_id();
  auto opened = codec.open(codec.seal(id));
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(*opened, id);
}

TEST(SessionCodecTest, SealedValueIsCookieSafeAndDoesNotContainTheId) {
  SessionCodec codec(random_key());
  const std::string id(kSessionIdBytes, 'A');
  const std::string cookie = codec.seal(id);
  for (char c : cookie) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    EXPECT_TRUE(ok) << "character '" << c << "' in " << cookie;
  }
  auto raw = base64url_decode(cookie);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->find(id), std::string::npos) << "the id is readable in the cookie";
}

TEST(SessionCodecTest, TwoSealsOfTheSameIdDiffer) {
  SessionCodec codec(random_key());
  const std::string id = some_session_id();
  const std::string a = codec.seal(id);
  const std::string b = codec.seal(id);
  EXPECT_NE(a, b);
  EXPECT_EQ(codec.open(a), id);
  EXPECT_EQ(codec.open(b), id);
}

TEST(SessionCodecTest, EverySingleByteFlipOfTheSealedValueFailsToOpen) {
  SessionCodec codec(random_key());
  const std::string id = some_session_id();
  auto raw = base64url_decode(codec.seal(id));
  ASSERT_TRUE(raw.has_value());
  ASSERT_FALSE(raw->empty());
  for (unsigned char mask : {0x01, 0x80, 0xff}) {
    for (std::size_t i = 0; i < raw->size(); ++i) {
      std::string tampered = *raw;
      tampered[i] = static_cast<char>(static_cast<unsigned char>(tampered[i]) ^ mask);
      EXPECT_FALSE(codec.open(base64url_encode(tampered)).has_value())
          << "byte " << i << " xor " << static_cast<int>(mask) << " still opened";
    }
  }
}

TEST(SessionCodecTest, CookieFromAnotherKeyFailsToOpen) {
  SessionCodec ours(random_key());
  SessionCodec theirs(random_key());
  EXPECT_FALSE(ours.open(theirs.seal(some_session_id())).has_value());
}

TEST(SessionCodecTest, SealedIdOfTheWrongLengthFailsToOpen) {
  SessionCodec codec(random_key());
  EXPECT_FALSE(codec.open(codec.seal(std::string(kSessionIdBytes - 1, 'x'))).has_value());
  EXPECT_FALSE(codec.open(codec.seal(std::string(kSessionIdBytes + 1, 'x'))).has_value());
  EXPECT_FALSE(codec.open(codec.seal("")).has_value());
}

class SessionCodecMalformed : public ::testing::TestWithParam<std::string> {};

TEST_P(SessionCodecMalformed, FailsToOpen) {
  SessionCodec codec(random_key());
  EXPECT_FALSE(codec.open(GetParam()).has_value()) << "input: " << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    Garbage, SessionCodecMalformed,
    ::testing::Values(std::string(), std::string("garbage"), std::string("not base64 at all!"),
                      std::string(96, 'A'), std::string(10 * 1024, 'A'),
                      std::string(10 * 1024, '\0'), std::string("====")));

// Variations of a valid cookie: each must fail.
TEST(SessionCodecTest, TruncatedOrReencodedCookieFailsToOpen) {
  SessionCodec codec(random_key());
  const std::string cookie = codec.seal(some_session_id());
  ASSERT_GT(cookie.size(), 8u);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"last character dropped", cookie.substr(0, cookie.size() - 1)},
      {"last four characters dropped", cookie.substr(0, cookie.size() - 4)},
      {"first half only", cookie.substr(0, cookie.size() / 2)},
      {"first character dropped", cookie.substr(1)},
      {"padding appended", cookie + "="},
      {"character appended", cookie + "A"},
      {"cookie twice", cookie + cookie},
      {"standard alphabet '+'", "+" + cookie.substr(1)},
      {"standard alphabet '/'", "/" + cookie.substr(1)},
      {"embedded space", cookie.substr(0, 10) + " " + cookie.substr(11)},
      {"embedded NUL", cookie.substr(0, 10) + std::string(1, '\0') + cookie.substr(11)},
      {"leading space", " " + cookie},
      {"quoted", "\"" + cookie + "\""},
  };
  for (const auto& [what, value] : cases)
    EXPECT_FALSE(codec.open(value).has_value()) << what;
}

}  // namespace
}  // namespace gatehouse::auth
