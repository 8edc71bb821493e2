#pragma once
// E-mail addresses as gatehouse accepts them from administrators, superusers, directories
// and providers: the common dot-atom form of RFC 5321/5322 (no quoted local parts, no
// comments, no address literals), at most 254 octets, a domain that is a DNS name. Anything
// else is refused with a reason rather than guessed at.
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

// The address in its compared form (ASCII letters lower-cased), or nullopt with `why` set.
std::optional<std::string> normal_email(std::string_view text, std::string* why = nullptr);

// ASCII case-insensitive equality (addresses are compared this way).
bool email_equal(std::string_view a, std::string_view b);

}  // namespace gatehouse
