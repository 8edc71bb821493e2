#pragma once
// A secret kept in a file of its own (an LDAP service password, an OpenID client
// secret): the whole file, without one trailing newline. Empty or unreadable files are
// errors with code "config.secret_file"; the message names the file, never the secret.
#include <string>

#include "common/result.h"
#include "common/secret.h"

namespace gatehouse {

Result<Secret> read_secret_file(const std::string& path);

}  // namespace gatehouse
