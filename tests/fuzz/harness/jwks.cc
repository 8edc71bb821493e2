// A provider's JWKS (oidc/jose.h): KeySet::parse.
// Properties: an error is "oidc.jwks"; an accepted document is a JSON object with a "keys"
// array and the set has at most that many keys; a fixed token (harness/jose_keys.h) either
// fails against the set with a documented code or verifies with the kid of a key in it.
#include "fuzz.h"
#include "jose_keys.h"
#include "oidc/jose.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gatehouse;
  static const std::vector<std::string> allowed = oidc::default_algorithms();
  auto text = fuzz::as_text(data, size);
  auto set = oidc::KeySet::parse(text);
  if (!set) {
    FUZZ_CHECK(set.error().code == "oidc.jwks", set.error().code);
    return 0;
  }
  auto doc = nlohmann::json::parse(text, nullptr, false);
  FUZZ_CHECK(!doc.is_discarded() && doc.is_object() && doc.contains("keys") && doc["keys"].is_array(), text);
  FUZZ_CHECK(set->size() <= doc["keys"].size(), text);

  auto result = oidc::verify_jws(fuzz::kValidToken, *set, allowed);
  if (result) {
    FUZZ_CHECK(set->has_kid(result->kid) && result->alg == "RS256", result->kid);
  } else {
    const auto& code = result.error().code;
    FUZZ_CHECK(code == "jwt.unknown_kid" || code == "jwt.bad_signature", code);
  }
  return 0;
}
