#include "crypto/sealed_box.h"

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "unit/auth/fakes.h"

namespace gatehouse::crypto {
namespace {

using auth::testing_support::random_key;

TEST(SealedBox, OpensWhatItSealed) {
  SealedBox box(random_key(), "ctx-a");
  for (std::string text : {std::string(), std::string("state"), std::string(5000, 'x'), std::string("\0\1\2", 3)}) {
    auto sealed = box.seal(text);
    auto opened = box.open(sealed, 8192);
    ASSERT_TRUE(opened.has_value());
    EXPECT_EQ(*opened, text);
  }
}

TEST(SealedBox, EverySealIsDifferent) {
  SealedBox box(random_key(), "ctx");
  EXPECT_NE(box.seal("same"), box.seal("same"));
}

TEST(SealedBox, AnotherKeyOrContextCannotOpenIt) {
  const Key key = random_key();
  SealedBox box(key, "gatehouse-oidc-flow-v1");
  auto sealed = box.seal("secret");
  EXPECT_FALSE(SealedBox(random_key(), "gatehouse-oidc-flow-v1").open(sealed, 100));
  EXPECT_FALSE(SealedBox(key, "gatehouse-oidc-tokens-v1").open(sealed, 100));
}

TEST(SealedBox, TamperedTruncatedOrOversizedInputIsRefused) {
  SealedBox box(random_key(), "ctx");
  auto sealed = box.seal("hello world");
  auto raw = *base64url_decode(sealed);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    auto flipped = raw;
    flipped[i] = static_cast<char>(flipped[i] ^ 1);
    EXPECT_FALSE(box.open(base64url_encode(flipped), 100)) << i;
  }
  EXPECT_FALSE(box.open(sealed.substr(0, sealed.size() - 4), 100));
  EXPECT_FALSE(box.open("", 100));
  EXPECT_FALSE(box.open("not base64url!", 100));
  EXPECT_FALSE(box.open(sealed, 5));  // longer than allowed once opened
  EXPECT_FALSE(box.open(std::string(100000, 'A'), 100));
}

}  // namespace
}  // namespace gatehouse::crypto
