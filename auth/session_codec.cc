#include "auth/session_codec.h"

#include <sodium.h>

#include "common/encoding.h"

namespace gatehouse::auth {
namespace {
constexpr std::string_view kAssociatedData = "gatehouse-session-v1";
constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kSealed = kNonce + kSessionIdBytes + kTag;
}  // namespace

std::string SessionCodec::seal(std::string_view session_id) const {
  std::string sealed(kNonce + session_id.size() + kTag, '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  randombytes_buf(out, kNonce);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out + kNonce, &clen, reinterpret_cast<const unsigned char*>(session_id.data()),
      session_id.size(), reinterpret_cast<const unsigned char*>(kAssociatedData.data()),
      kAssociatedData.size(), nullptr, out, key_.data());
  return base64url_encode(sealed);
}

std::optional<std::string> SessionCodec::open(std::string_view cookie_value) const {
  // Reject oversized input before decoding anything.
  if (cookie_value.size() > 2 * kSealed) return std::nullopt;
  auto raw = base64url_decode(cookie_value);
  if (!raw || raw->size() != kSealed) return std::nullopt;
  std::string id(kSessionIdBytes, '\0');
  unsigned long long mlen = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(raw->data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(id.data()), &mlen, nullptr, in + kNonce,
          raw->size() - kNonce, reinterpret_cast<const unsigned char*>(kAssociatedData.data()),
          kAssociatedData.size(), in, key_.data()) != 0 ||
      mlen != kSessionIdBytes)
    return std::nullopt;
  return id;
}

}  // namespace gatehouse::auth
