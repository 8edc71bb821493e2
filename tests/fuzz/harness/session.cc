// The session cookie (auth/session_codec.h): SessionCodec::open on any cookie value, and
// seal/open of a session id.
// Input: any bytes, opened as a cookie value; its first 32 bytes (if there are 32) are also
// a session id to seal. Properties: open accepts only a 32-byte id; open(seal(id)) == id;
// a sealed value is base64url; changing any one character of it, cutting it short or opening
// it under another key fails.
#include <sodium.h>

#include "auth/session_codec.h"
#include "fuzz.h"

namespace {

using gatehouse::crypto::Key;
using gatehouse::auth::SessionCodec;

Key fixed_key(std::uint8_t fill) {
  Key key;
  for (std::size_t i = 0; i < Key::size(); ++i) key.data()[i] = static_cast<std::uint8_t>(fill + i);
  return key;
}

bool base64url(std::string_view s) {
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return sodium_init() < 0 ? 1 : 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const SessionCodec codec(fixed_key(1));
  static const SessionCodec other(fixed_key(2));
  auto input = gatehouse::fuzz::as_text(data, size);

  if (auto id = codec.open(input)) FUZZ_CHECK(id->size() == gatehouse::auth::kSessionIdBytes, input);
  FUZZ_CHECK(!other.open(input) || codec.open(input) == std::nullopt, input);

  if (size < gatehouse::auth::kSessionIdBytes) return 0;
  std::string id(input.substr(0, gatehouse::auth::kSessionIdBytes));
  std::string sealed = codec.seal(id);
  FUZZ_CHECK(base64url(sealed) && !sealed.empty(), sealed);
  auto opened = codec.open(sealed);
  FUZZ_CHECK(opened && *opened == id, sealed);
  FUZZ_CHECK(!other.open(sealed), sealed);
  FUZZ_CHECK(!codec.open(std::string_view(sealed).substr(0, sealed.size() - 1)), sealed);

  // Change one character, chosen by the input, to another base64url character.
  std::size_t pos = size > id.size() ? data[id.size()] % sealed.size() : 0;
  std::size_t shift = size > id.size() + 1 ? 1 + data[id.size() + 1] % (kAlphabet.size() - 1) : 1;
  std::string tampered = sealed;
  tampered[pos] = kAlphabet[(kAlphabet.find(sealed[pos]) + shift) % kAlphabet.size()];
  FUZZ_CHECK(!codec.open(tampered), tampered);
  return 0;
}
