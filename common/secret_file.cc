#include "common/secret_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gatehouse {

Result<Secret> read_secret_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("config.secret_file", "cannot read \"" + path + "\": " + std::strerror(errno));
  std::string data;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
    if (data.size() > 65536) break;
  }
  ::close(fd);
  sodium_memzero(buffer, sizeof buffer);
  if (data.ends_with("\r\n")) {
    data.resize(data.size() - 2);
  } else if (data.ends_with('\n')) {
    data.pop_back();
  }
  Secret secret(std::move(data));
  if (secret.empty()) return make_error("config.secret_file", "\"" + path + "\" is empty");
  return secret;
}

}  // namespace gatehouse
