// CSRF tokens (auth/csrf.h): CsrfGuard::verify on a client's binding cookie and form token.
// Input: "BINDING\nTOKEN" (or just a token, with an empty binding).
// Properties: verify accepts exactly token_for(binding), and only for a binding of at least
// 16 bytes; a token is base64url; the token of a binding never verifies another binding or
// under another key.
#include <sodium.h>

#include "auth/csrf.h"
#include "fuzz.h"

namespace {

using gatehouse::auth::CsrfGuard;
using gatehouse::auth::Key;

Key fixed_key(std::uint8_t fill) {
  Key key;
  for (std::size_t i = 0; i < Key::size(); ++i) key.data()[i] = static_cast<std::uint8_t>(fill * 7 + i);
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return sodium_init() < 0 ? 1 : 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const CsrfGuard guard(fixed_key(1));
  static const CsrfGuard other(fixed_key(2));
  auto [binding, token] = gatehouse::fuzz::split_line(gatehouse::fuzz::as_text(data, size));

  const std::string expected = guard.token_for(binding);
  for (char c : expected)
    FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_',
               expected);
  FUZZ_CHECK(guard.verify(binding, token) == (binding.size() >= 16 && token == expected), token);
  FUZZ_CHECK(guard.verify(binding, expected) == (binding.size() >= 16), binding);
  FUZZ_CHECK(!other.verify(binding, expected), binding);
  if (!binding.empty()) {
    // The same token with the binding one byte shorter or changed in its last byte.
    FUZZ_CHECK(!guard.verify(binding.substr(0, binding.size() - 1), expected), binding);
    std::string changed(binding);
    changed.back() = static_cast<char>(changed.back() ^ 1);
    FUZZ_CHECK(!guard.verify(changed, expected), binding);
  }
  return 0;
}
