#include "vault/system_keys.h"

#include <sodium.h>

#include <array>
#include <optional>
#include <string_view>

#include "crypto/envelope.h"
#include "vault/vault.h"

namespace gatehouse::vault {
namespace {

constexpr std::string_view kLegacySigningKey = "assertion_signing_key.v1";
constexpr std::string_view kLegacySigningAd = "gatehouse-signing-key-v1";

struct Slot {
  std::string_view name;
  crypto::KeyPurpose legacy_purpose;
};
constexpr std::array<Slot, 4> kKeySlots{{{"session_cookie", crypto::KeyPurpose::session_cookie},
                                         {"csrf", crypto::KeyPurpose::csrf},
                                         {"oidc_flow", crypto::KeyPurpose::oidc_flow},
                                         {"oidc_tokens", crypto::KeyPurpose::oidc_tokens}}};
constexpr std::string_view kSigningSlot = "assertion_signing_jwk";

std::string row_name(std::string_view slot) { return "system_key." + std::string(slot); }

crypto::Binding binding(std::string_view slot) {
  crypto::Binding b("system-key");
  b.add(slot);
  return b;
}

// The older form of the signing key: nonce || ciphertext || tag under a key derived from
// the master key, with a fixed associated data string.
std::optional<Secret> open_legacy_signing_key(const crypto::Key& wrap, const std::string& sealed) {
  constexpr std::size_t n = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr std::size_t a = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (sealed.size() <= n + a) return std::nullopt;
  Secret plain = Secret::with_size(sealed.size() - n - a);
  unsigned long long mlen = 0;
  const auto* s = reinterpret_cast<const unsigned char*>(sealed.data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          plain.data(), &mlen, nullptr, s + n, sealed.size() - n,
          reinterpret_cast<const unsigned char*>(kLegacySigningAd.data()), kLegacySigningAd.size(), s,
          wrap.data()) != 0)
    return std::nullopt;
  return plain;
}

// Reads the stored slot, or stores `make()`'s value sealed (the first process to store
// wins; every process then uses the stored value).
Result<Secret> load_slot(store::KeyValueStore& kv, const crypto::Keyring& ring, std::string_view slot,
                         const std::function<Result<Secret>()>& make) {
  const std::string row = row_name(slot);
  auto existing = kv.get_value(row);
  if (!existing) return existing.error();
  std::string sealed;
  if (existing->has_value()) {
    sealed = std::move(**existing);
  } else {
    auto fresh = make();
    if (!fresh) return fresh.error();
    auto stored = kv.put_value_if_absent(row, crypto::seal(ring, binding(slot), fresh->reveal()));
    if (!stored) return stored.error();
    sealed = std::move(stored.value());
  }
  auto plain = crypto::open(ring, binding(slot), sealed);
  if (!plain) return make_error(plain.error().code, "system key " + std::string(slot) + ": " + plain.error().message);
  return plain;
}

}  // namespace

Result<SystemKeys> load_system_keys(store::KeyValueStore& kv, const crypto::Keyring& ring,
                                    const std::function<Result<Secret>()>& make_signing_jwk) {
  // An older installation: find the master key its signing key was wrapped under; the
  // keys it derived from that master key are the ones its cookies were made with.
  auto legacy = kv.get_value(std::string(kLegacySigningKey));
  if (!legacy) return legacy.error();
  const crypto::MasterKey* legacy_master = nullptr;
  std::optional<Secret> legacy_jwk;
  if (legacy->has_value()) {
    auto try_key = [&](const crypto::MasterKey& m) {
      if (legacy_jwk) return;
      auto opened = open_legacy_signing_key(m.derive(crypto::KeyPurpose::signing_key_wrap), **legacy);
      if (opened) {
        legacy_jwk = std::move(opened);
        legacy_master = &m;
      }
    };
    try_key(ring.current());
    for (const auto& m : ring.previous()) try_key(m);
    if (!legacy_jwk)
      return make_error("crypto.key",
                        "the stored signing key cannot be opened with [keys] master_key_file or any of "
                        "previous_master_key_files (was the master key replaced?)");
  }

  SystemKeys keys;
  crypto::Key* targets[] = {&keys.session_cookie, &keys.csrf, &keys.oidc_flow, &keys.oidc_tokens};
  for (std::size_t i = 0; i < kKeySlots.size(); ++i) {
    const auto& slot = kKeySlots[i];
    auto raw = load_slot(kv, ring, slot.name, [&]() -> Result<Secret> {
      const crypto::Key k = legacy_master != nullptr ? legacy_master->derive(slot.legacy_purpose) : crypto::Key::random();
      return Secret::copy_of(k.bytes());
    });
    if (!raw) return raw.error();
    auto key = crypto::Key::from_bytes(raw->reveal());
    if (!key) return make_error("crypto.format", "system key " + std::string(slot.name) + " is not 32 bytes");
    *targets[i] = std::move(key.value());
  }
  auto jwk = load_slot(kv, ring, kSigningSlot, [&]() -> Result<Secret> {
    if (legacy_jwk) return legacy_jwk->clone();
    return make_signing_jwk();
  });
  if (!jwk) return jwk.error();
  keys.signing_jwk = std::move(jwk.value());
  if (legacy_jwk) {
    // The new row is stored: the one sealed under the older scheme can go.
    if (auto removed = kv.remove_value(std::string(kLegacySigningKey)); !removed) return removed.error();
  }
  return keys;
}

Status check_keyring(store::KeyValueStore& kv, store::VaultStore& vault, const crypto::Keyring& ring) {
  auto check = [&](std::string_view slot) -> Status {
    auto sealed = kv.get_value(row_name(slot));
    if (!sealed) return sealed.error();
    if (!sealed->has_value()) return Ok{};
    if (auto plain = crypto::open(ring, binding(slot), **sealed); !plain)
      return make_error(plain.error().code, "system key " + std::string(slot) + ": " + plain.error().message);
    return Ok{};
  };
  for (const auto& slot : kKeySlots)
    if (auto s = check(slot.name); !s) return s;
  if (auto s = check(kSigningSlot); !s) return s;
  auto keys = vault.list_tenant_keys();
  if (!keys) return keys.error();
  for (const auto& k : *keys) {
    if (auto plain = crypto::open(ring, tenant_key_binding(k.tenant), k.wrapped); !plain)
      return make_error(plain.error().code, "tenant " + k.tenant + ": data key: " + plain.error().message);
  }
  return Ok{};
}

Result<int> rewrap_system_keys(store::KeyValueStore& kv, const crypto::Keyring& ring, int* current) {
  int rewrapped = 0;
  auto one = [&](std::string_view slot) -> Status {
    const std::string row = row_name(slot);
    auto sealed = kv.get_value(row);
    if (!sealed) return sealed.error();
    if (!sealed->has_value()) return Ok{};
    if (!crypto::needs_rewrap(ring, **sealed)) {
      if (current) ++*current;
      return Ok{};
    }
    auto plain = crypto::open(ring, binding(slot), **sealed);
    if (!plain) return make_error(plain.error().code, "system key " + std::string(slot) + ": " + plain.error().message);
    auto done = kv.replace_value(row, **sealed, crypto::seal(ring, binding(slot), plain->reveal()));
    if (!done) return done.error();
    if (*done) ++rewrapped;
    return Ok{};
  };
  for (const auto& slot : kKeySlots)
    if (auto s = one(slot.name); !s) return s.error();
  if (auto s = one(kSigningSlot); !s) return s.error();
  return rewrapped;
}

}  // namespace gatehouse::vault
