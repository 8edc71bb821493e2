#pragma once
// The name of a tenant vault secret, shared by the configuration (a route's
// inject_secret) and the vault: 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or
// digit.
#include <cstddef>
#include <string_view>

namespace gatehouse {

inline constexpr std::size_t kMaxSecretNameBytes = 64;

inline bool valid_secret_name(std::string_view name) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > kMaxSecretNameBytes || !alnum(name.front())) return false;
  for (char c : name)
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

}  // namespace gatehouse
