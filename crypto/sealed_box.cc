#include "crypto/sealed_box.h"

#include <sodium.h>

#include "common/encoding.h"

namespace gatehouse::crypto {

namespace {
constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
}  // namespace

std::string SealedBox::seal(std::string_view plaintext) const {
  std::string sealed(kNonce + plaintext.size() + kTag, '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  randombytes_buf(out, kNonce);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out + kNonce, &clen, reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
      reinterpret_cast<const unsigned char*>(context_.data()), context_.size(), nullptr, out, key_.data());
  return base64url_encode(sealed);
}

std::optional<std::string> SealedBox::open(std::string_view sealed, std::size_t max_bytes) const {
  // base64url: 4 characters per 3 bytes.
  if (sealed.size() > (kNonce + kTag + max_bytes) * 4 / 3 + 4) return std::nullopt;
  auto raw = base64url_decode(sealed);
  if (!raw || raw->size() < kNonce + kTag) return std::nullopt;
  std::string plain(raw->size() - kNonce - kTag, '\0');
  unsigned long long mlen = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(raw->data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &mlen, nullptr, in + kNonce, raw->size() - kNonce,
          reinterpret_cast<const unsigned char*>(context_.data()), context_.size(), in, key_.data()) != 0)
    return std::nullopt;
  plain.resize(mlen);
  if (plain.size() > max_bytes) return std::nullopt;
  return plain;
}

}  // namespace gatehouse::crypto
