#pragma once
// base64url (no padding) and small helpers shared by cookie, CSRF and JOSE code.
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

std::string base64url_encode(std::string_view bytes);
// Standard base64 with padding (RFC 4648 §4), e.g. for HTTP Basic credentials.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);
std::string random_bytes(std::size_t n);
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace gatehouse
