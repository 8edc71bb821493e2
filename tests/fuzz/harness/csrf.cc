// CSRF tokens (auth/csrf.h): CsrfGuard::issued and verify on a client's binding cookie and
// form token. Input: "BINDING\nTOKEN" (or just a token, with an empty binding).
// Properties: a binding gatehouse did not issue is never accepted and gets no token;
// verify accepts exactly token_for(binding) of an issued binding at the same time; a token
// is base64url; an issued binding's token never verifies another binding, under another
// key, or after its lifetime.
#include <sodium.h>

#include "auth/csrf.h"
#include "common/clock.h"
#include "fuzz.h"

namespace {

using gatehouse::auth::CsrfGuard;
using gatehouse::crypto::Key;

Key fixed_key(std::uint8_t fill) {
  Key key;
  for (std::size_t i = 0; i < Key::size(); ++i) key.data()[i] = static_cast<std::uint8_t>(fill * 7 + i);
  return key;
}

bool base64url(const std::string& s) {
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return sodium_init() < 0 ? 1 : 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static gatehouse::FakeClock clock(1'700'000'000);
  static const CsrfGuard guard(fixed_key(1), clock);
  static const CsrfGuard other(fixed_key(2), clock);
  clock.set(1'700'000'000);
  auto [binding, token] = gatehouse::fuzz::split_line(gatehouse::fuzz::as_text(data, size));

  // The fuzzer's own bindings: never issued (that would be a forged MAC).
  const bool issued = guard.issued(binding);
  const std::string expected = guard.token_for(binding);
  FUZZ_CHECK(issued == !expected.empty(), binding);
  FUZZ_CHECK(base64url(expected), expected);
  FUZZ_CHECK(guard.verify(binding, token) == (issued && token == expected), token);
  FUZZ_CHECK(!other.verify(binding, expected), binding);

  // An issued binding, with the fuzzer's token and with its own.
  const std::string fresh = guard.new_binding();
  FUZZ_CHECK(guard.issued(fresh) && !other.issued(fresh), fresh);
  const std::string own = guard.token_for(fresh);
  FUZZ_CHECK(guard.verify(fresh, own), fresh);
  FUZZ_CHECK(guard.verify(fresh, token) == (token == own), token);
  if (!binding.empty()) FUZZ_CHECK(!guard.verify(binding, own) || binding == fresh, binding);
  clock.set(1'700'000'000 + gatehouse::auth::kCsrfTokenLifetime);
  FUZZ_CHECK(!guard.verify(fresh, own), own);
  return 0;
}
