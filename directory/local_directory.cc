#include "directory/local_directory.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <semaphore>
#include <thread>
#include <stdexcept>
#include <utility>

namespace gatehouse::directory {
namespace {

bool sodium_ready() {
  // sodium_init() is idempotent and thread-safe; the static only saves the calls.
  static const bool ready = sodium_init() >= 0;
  return ready;
}

AuthOutcome bad_credentials(std::string detail) {
  return AuthOutcome{AuthStatus::bad_credentials, {}, std::move(detail)};
}

}  // namespace

Result<std::string> hash_password(const Secret& password) {
  if (!sodium_ready()) return make_error("directory.hash", "libsodium failed to initialise");
  std::array<char, crypto_pwhash_STRBYTES> out{};
  const auto pw = password.reveal();
  if (crypto_pwhash_str(out.data(), pw.data(), pw.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return make_error("directory.hash", "argon2id hashing failed (out of memory?)");
  }
  return std::string(out.data());
}

namespace {
std::atomic<std::uint64_t> verifications{0};
}  // namespace

std::uint64_t password_verifications() { return verifications.load(); }

bool verify_password(const std::string& hash, const Secret& password) {
  if (!sodium_ready()) return false;
  ++verifications;
  // argon2id takes a core and 64 MiB for each check: more at once than there are cores
  // only adds memory (the blocking pool has at least two threads, also on one core).
  static std::counting_semaphore<256> slots(
      static_cast<std::ptrdiff_t>(std::clamp(std::thread::hardware_concurrency(), 1u, 256u)));
  slots.acquire();
  const auto pw = password.reveal();
  const bool ok = crypto_pwhash_str_verify(hash.c_str(), pw.data(), pw.size()) == 0;
  slots.release();
  return ok;
}

LocalDirectory::LocalDirectory(std::string name, store::UserStore& users)
    : name_(std::move(name)), users_(users) {
  // Unknown users and users without a password are checked against this hash, so
  // the answer takes as long as for a real account. It is made with the same limits
  // as real hashes, from a random password nobody knows.
  std::array<unsigned char, 32> random{};
  if (sodium_ready()) randombytes_buf(random.data(), random.size());
  auto dummy = hash_password(Secret(std::string(random.begin(), random.end())));
  sodium_memzero(random.data(), random.size());
  if (!dummy) throw std::runtime_error("local directory '" + name_ + "': " + dummy.error().message);
  dummy_hash_ = std::move(dummy).value();
}

Result<AuthOutcome> LocalDirectory::authenticate(std::string_view username,
                                                 const Secret& password) {
  // Refused before any lookup: the answer is the same for every name, so its speed
  // reveals nothing.
  if (password.empty()) return bad_credentials("empty password");

  auto found = users_.find_user(std::string(username));
  if (!found) return found.error();
  if (!found->has_value()) {
    (void)verify_password(dummy_hash_, password);
    return bad_credentials("unknown user");
  }
  const store::User& user = **found;
  if (user.password_hash.empty()) {
    (void)verify_password(dummy_hash_, password);
    return bad_credentials("no password set");
  }
  if (!verify_password(user.password_hash, password)) return bad_credentials("wrong password");
  // Only someone who knows the password learns that the account is disabled.
  if (user.disabled) return AuthOutcome{AuthStatus::disabled, {}, "account disabled"};

  return AuthOutcome{
      AuthStatus::ok,
      Identity{user.name, user.email, user.display_name, user.groups, user.tenant},
      "",
  };
}

}  // namespace gatehouse::directory
