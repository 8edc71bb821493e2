#include "crypto/envelope.h"

#include <sodium.h>

#include "common/encoding.h"

namespace gatehouse::crypto {
namespace {

constexpr std::string_view kPrefix = "gh1.";
constexpr std::size_t kIdChars = 16;
constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;

bool is_key_id(std::string_view id) {
  if (id.size() != kIdChars) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string associated(const Binding& binding, std::string_view key_id) {
  std::string ad = binding.bytes();
  ad += "|key=";
  ad += key_id;
  return ad;
}

}  // namespace

Binding& Binding::add(std::string_view part) {
  bytes_ += std::to_string(part.size());
  bytes_ += ':';
  bytes_ += part;
  return *this;
}

std::string seal(const Key& key, const Binding& binding, std::string_view plaintext) {
  const std::string id = key.id();
  const std::string ad = associated(binding, id);
  std::string raw(kNonce + plaintext.size() + kTag, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  randombytes_buf(out, kNonce);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + kNonce, &clen,
                                             reinterpret_cast<const unsigned char*>(plaintext.data()),
                                             plaintext.size(), reinterpret_cast<const unsigned char*>(ad.data()),
                                             ad.size(), nullptr, out, key.data());
  std::string blob(kPrefix);
  blob += id;
  blob += '.';
  blob += base64url_encode(raw);
  return blob;
}

std::optional<std::string> blob_key_id(std::string_view blob) {
  if (blob.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  blob.remove_prefix(kPrefix.size());
  if (blob.size() <= kIdChars || blob[kIdChars] != '.') return std::nullopt;
  std::string_view id = blob.substr(0, kIdChars);
  if (!is_key_id(id)) return std::nullopt;
  return std::string(id);
}

Result<Secret> open(const Key& key, const Binding& binding, std::string_view blob) {
  auto id = blob_key_id(blob);
  if (!id) return make_error("crypto.format", "not a sealed value");
  const std::string own = key.id();
  if (*id != own) return make_error("crypto.key", "sealed by key " + *id + ", not by key " + own);
  std::string_view body = blob.substr(kPrefix.size() + kIdChars + 1);
  if (body.size() > (kNonce + kTag + kMaxSealedValue) * 4 / 3 + 4)
    return make_error("crypto.format", "sealed value too long");
  auto raw = base64url_decode(body);
  if (!raw || raw->size() < kNonce + kTag) return make_error("crypto.format", "not a sealed value");
  // The text length above is checked before decoding, with base64's rounding to spare;
  // the limit itself is on the value.
  if (raw->size() - kNonce - kTag > kMaxSealedValue) return make_error("crypto.format", "sealed value too long");
  const std::string ad = associated(binding, own);
  Secret plain = Secret::with_size(raw->size() - kNonce - kTag);
  unsigned long long mlen = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(raw->data());
  // An empty value opens into a Secret without storage; give libsodium a byte to write to.
  unsigned char none = 0;
  unsigned char* dest = plain.empty() ? &none : plain.data();
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(dest, &mlen, nullptr, in + kNonce, raw->size() - kNonce,
                                                 reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
                                                 in, key.data()) != 0)
    return make_error("crypto.open", "the sealed value was altered or belongs to another record");
  return plain;
}

std::string seal(const Keyring& ring, const Binding& binding, std::string_view plaintext) {
  return seal(ring.current().key(), binding, plaintext);
}

Result<Secret> open(const Keyring& ring, const Binding& binding, std::string_view blob) {
  auto id = blob_key_id(blob);
  if (!id) return make_error("crypto.format", "not a sealed value");
  const MasterKey* key = ring.find(*id);
  if (key == nullptr)
    return make_error("crypto.key", "sealed by master key " + *id +
                                        ", which is neither [keys] master_key_file nor one of "
                                        "previous_master_key_files");
  return open(key->key(), binding, blob);
}

bool needs_rewrap(const Keyring& ring, std::string_view blob) {
  auto id = blob_key_id(blob);
  return !id || *id != ring.current().id();
}

}  // namespace gatehouse::crypto
