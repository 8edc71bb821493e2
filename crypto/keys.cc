#include "crypto/keys.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace gatehouse::crypto {
namespace {

constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "gatehous";

Result<std::string> read_small_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("keys.read", path + ": " + std::strerror(errno));
  std::string data;
  char buf[256];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return make_error("keys.read", path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > 1024) break;
  }
  sodium_memzero(buf, sizeof buf);
  ::close(fd);
  return data;
}


constexpr unsigned char kIdContext[] = "gatehouse key id v1";

Result<MasterKey> parse_key_file(const std::string& path) {
  auto data = read_small_file(path);
  if (!data) return data.error();
  std::string& raw = data.value();
  Key key;
  bool ok = false;
  if (raw.size() == kKeyBytes) {
    std::memcpy(key.data(), raw.data(), kKeyBytes);
    ok = true;
  } else {
    std::string_view hex = raw;
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.remove_suffix(1);
    std::size_t out_len = 0;
    ok = hex.size() == 2 * kKeyBytes &&
         sodium_hex2bin(key.data(), kKeyBytes, hex.data(), hex.size(), nullptr, &out_len, nullptr) == 0 &&
         out_len == kKeyBytes;
  }
  sodium_memzero(raw.data(), raw.size());
  if (!ok) return make_error("keys.format", path + ": a master key is 32 raw bytes or 64 hexadecimal digits");
  return MasterKey::from_key(std::move(key));
}

}  // namespace

Key::Key() : bytes_(Secret::with_size(kKeyBytes)) {}

Key Key::random() {
  Key k;
  randombytes_buf(k.data(), kKeyBytes);
  return k;
}

Result<Key> Key::from_bytes(std::string_view raw) {
  if (raw.size() != kKeyBytes) return make_error("keys.format", "a key is 32 bytes");
  Key k;
  std::memcpy(k.data(), raw.data(), kKeyBytes);
  return k;
}

Key Key::clone() const { return Key(bytes_.clone()); }

std::string Key::id() const {
  unsigned char digest[8];
  crypto_generichash(digest, sizeof digest, kIdContext, sizeof kIdContext - 1, data(), kKeyBytes);
  char hex[2 * sizeof digest + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex, 2 * sizeof digest);
}

MasterKey MasterKey::from_key(Key key) {
  MasterKey m;
  m.key_ = std::move(key);
  return m;
}

const MasterKey* Keyring::find(std::string_view id) const {
  if (current_.id() == id) return &current_;
  for (const auto& k : previous_)
    if (k.id() == id) return &k;
  return nullptr;
}

Result<MasterKey> MasterKey::load_existing(const std::string& configured) {
  if (sodium_init() < 0) return make_error("keys.sodium", "libsodium failed to initialise");
  std::string path = configured;
  const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
  if (path.find('/') == std::string::npos && creds != nullptr && *creds != '\0')
    path = std::string(creds) + "/" + path;
  return parse_key_file(path);
}

Result<Keyring> load_keyring(const std::string& master_key_file,
                             const std::vector<std::string>& previous_master_key_files) {
  auto current = MasterKey::load_or_create(master_key_file);
  if (!current) return current.error();
  Keyring ring(std::move(current.value()));
  for (const auto& path : previous_master_key_files) {
    auto previous = MasterKey::load_existing(path);
    if (!previous) return previous.error();
    if (previous->id() == ring.current().id())
      return make_error("keys.previous", path + ": this previous master key is the current master key");
    ring.add_previous(std::move(previous.value()));
  }
  return ring;
}

Result<MasterKey> MasterKey::load_or_create(const std::string& configured_path) {
  if (sodium_init() < 0) return make_error("keys.sodium", "libsodium failed to initialise");
  std::string path = configured_path;
  if (path.empty()) {
    const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
    if (creds == nullptr || *creds == '\0')
      return make_error("keys.missing",
                        "master_key_file is not set and $CREDENTIALS_DIRECTORY is not "
                        "defined (set LoadCredential=master.key:… in the unit)");
    path = std::string(creds) + "/master.key";
  } else {
    // Write the new key to a private temporary file, then link() it into place: the
    // key file appears complete or not at all, and of two processes starting at once
    // exactly one wins while the other reads the winner's key.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno != ENOENT) return make_error("keys.create", path + ": " + std::strerror(errno));
      const std::string tmp = path + ".tmp." + std::to_string(::getpid());
      int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) return make_error("keys.create", tmp + ": " + std::strerror(errno));
      Key fresh;
      randombytes_buf(fresh.data(), fresh.size());
      ssize_t n = ::write(fd, fresh.data(), fresh.size());
      bool ok = n == static_cast<ssize_t>(fresh.size()) && ::fsync(fd) == 0;
      ::close(fd);
      int link_errno = 0;
      if (ok && ::link(tmp.c_str(), path.c_str()) != 0) link_errno = errno;
      ::unlink(tmp.c_str());
      if (!ok) return make_error("keys.create", path + ": cannot write new master key");
      if (link_errno != 0 && link_errno != EEXIST)
        return make_error("keys.create", path + ": " + std::strerror(link_errno));
    }
  }
  return parse_key_file(path);
}

Key MasterKey::derive(KeyPurpose purpose) const {
  Key out;
  crypto_kdf_derive_from_key(out.data(), out.size(), static_cast<std::uint64_t>(purpose),
                             kKdfContext, key_.data());
  return out;
}

}  // namespace gatehouse::crypto
