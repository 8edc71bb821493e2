#include "auth/keys.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace gatehouse::auth {
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

}  // namespace

Key::~Key() { sodium_memzero(bytes_.data(), bytes_.size()); }

MasterKey MasterKey::from_bytes(const Key& key) {
  MasterKey m;
  m.key_ = key;
  return m;
}

Result<MasterKey> MasterKey::load_or_create(const std::string& configured_path) {
  if (sodium_init() < 0) return make_error("keys.sodium", "libsodium failed to initialise");
  std::string path = configured_path;
  if (path.empty()) {
    const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
    if (creds == nullptr || *creds == '\0')
      return make_error("keys.missing",
                        "[keys] master_key_file is not set and $CREDENTIALS_DIRECTORY is not "
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
  auto data = read_small_file(path);
  if (!data) return data.error();
  std::string& raw = data.value();
  MasterKey m;
  bool ok = false;
  if (raw.size() == kKeyBytes) {
    std::memcpy(m.key_.data(), raw.data(), kKeyBytes);
    ok = true;
  } else {
    std::string_view hex = raw;
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.remove_suffix(1);
    std::size_t out_len = 0;
    ok = hex.size() == 2 * kKeyBytes &&
         sodium_hex2bin(m.key_.data(), kKeyBytes, hex.data(), hex.size(), nullptr, &out_len,
                        nullptr) == 0 &&
         out_len == kKeyBytes;
  }
  sodium_memzero(raw.data(), raw.size());
  if (!ok)
    return make_error("keys.format",
                      path + ": a master key is 32 raw bytes or 64 hexadecimal digits");
  return m;
}

Key MasterKey::derive(KeyPurpose purpose) const {
  Key out;
  crypto_kdf_derive_from_key(out.data(), out.size(), static_cast<std::uint64_t>(purpose),
                             kKdfContext, key_.data());
  return out;
}

}  // namespace gatehouse::auth
