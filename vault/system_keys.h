#pragma once
// The daemon's own keys: the session cookie, CSRF, OpenID flow cookie and provider token
// keys, and the assertion signing key (a private JWK). Each is random, made once per
// installation, and kept in the store sealed under the master key (kv rows named
// "system_key.*"), so a master key change re-wraps them (`gatehouse keys rewrap`)
// without ending a single session or changing the published JWKS.
//
// A database made by an older gatehouse, whose keys were derived from the master key,
// keeps those keys: they are derived once more, sealed and stored, and its signing key
// (kv "assertion_signing_key.v1") is moved to the new form.
#include <functional>
#include <string>

#include "common/result.h"
#include "common/secret.h"
#include "crypto/keys.h"
#include "store/store.h"
#include "store/vault_store.h"

namespace gatehouse::vault {

struct SystemKeys {
  crypto::Key session_cookie;
  crypto::Key csrf;
  crypto::Key oidc_flow;
  crypto::Key oidc_tokens;
  Secret signing_jwk;  // the private JWK (JSON) of X-Gatehouse-Assertion
};

// make_signing_jwk creates a new private JWK when the installation has none.
Result<SystemKeys> load_system_keys(store::KeyValueStore& kv, const crypto::Keyring& ring,
                                    const std::function<Result<Secret>()>& make_signing_jwk);

// Whether `ring` opens every sealed key in the store (system keys and tenant data keys):
// a reload with new key files is refused when it would leave one unopenable.
Status check_keyring(store::KeyValueStore& kv, store::VaultStore& vault, const crypto::Keyring& ring);

// Re-seals every system key sealed by a previous master key under the current one.
// Returns how many were re-sealed; *current counts those already under the current key.
Result<int> rewrap_system_keys(store::KeyValueStore& kv, const crypto::Keyring& ring, int* current);

}  // namespace gatehouse::vault
