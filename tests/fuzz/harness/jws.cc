// Compact JWS (oidc/jose.h): verify_jws against a fixed JWKS (RSA, RSA limited to PS256,
// EC P-256, Ed25519; harness/jose_keys.h) with the default algorithms.
// Input: a compact token, or (starting with '{') "HEADER\nPAYLOAD\nSIGNATURE" whose parts
// are base64url-encoded here, so that the fuzzer works on the header's JSON directly.
// Properties: an error has one of the four documented codes; a verified token has an
// allowed alg (never "none" or HS*), object header and claims, and the kid of a key in
// the set; it verifies again the same way, and with its payload changed it does not.
#include <algorithm>

#include "common/encoding.h"
#include "fuzz.h"
#include "jose_keys.h"
#include "oidc/jose.h"

namespace {

using namespace gatehouse;

const oidc::KeySet& keys() {
  static const oidc::KeySet set = [] {
    auto parsed = oidc::KeySet::parse(fuzz::kJwks);
    if (!parsed || parsed->size() != 4) __builtin_trap();
    return *parsed;
  }();
  return set;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::string> allowed = oidc::default_algorithms();
  auto input = fuzz::as_text(data, size);
  std::string compact;
  if (!input.empty() && input[0] == '{') {
    auto [header, rest] = fuzz::split_line(input);
    auto [payload, signature] = fuzz::split_line(rest);
    compact = base64url_encode(header) + "." + base64url_encode(payload) + "." + base64url_encode(signature);
  } else {
    compact = std::string(input);
  }

  auto result = oidc::verify_jws(compact, keys(), allowed);
  if (!result) {
    const auto& code = result.error().code;
    FUZZ_CHECK(code == "jwt.malformed" || code == "jwt.alg_refused" || code == "jwt.unknown_kid" ||
                   code == "jwt.bad_signature",
               code);
    return 0;
  }
  const auto& jwt = *result;
  FUZZ_CHECK(std::find(allowed.begin(), allowed.end(), jwt.alg) != allowed.end(), jwt.alg);
  FUZZ_CHECK(jwt.header.is_object() && jwt.claims.is_object(), compact);
  FUZZ_CHECK(jwt.header.value("alg", std::string()) == jwt.alg, compact);
  FUZZ_CHECK(keys().has_kid(jwt.kid), jwt.kid);

  auto again = oidc::verify_jws(compact, keys(), allowed);
  FUZZ_CHECK(again && again->kid == jwt.kid && again->claims == jwt.claims, compact);

  // Another first character of the payload: other bytes, so the signature must fail.
  auto d1 = compact.find('.');
  std::string tampered = compact;
  tampered[d1 + 1] = tampered[d1 + 1] == 'e' ? 'f' : 'e';
  FUZZ_CHECK(!oidc::verify_jws(tampered, keys(), allowed), tampered);
  return 0;
}
