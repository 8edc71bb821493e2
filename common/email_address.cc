#include "common/email_address.h"

#include "common/host_name.h"

namespace gatehouse {
namespace {

bool atext(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}': case '~':
      return true;
    default:
      return false;
  }
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::optional<std::string> refuse(std::string* why, const char* reason) {
  if (why != nullptr) *why = reason;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> normal_email(std::string_view text, std::string* why) {
  if (text.empty()) return refuse(why, "the e-mail address is empty");
  if (text.size() > 254) return refuse(why, "the e-mail address is longer than 254 characters");
  const auto at = text.rfind('@');
  if (at == std::string_view::npos) return refuse(why, "the e-mail address has no '@'");
  const auto local = text.substr(0, at);
  const auto domain = text.substr(at + 1);
  if (local.empty() || local.size() > 64) return refuse(why, "the part before '@' must be 1 to 64 characters");
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return refuse(why, "the part before '@' has a misplaced '.'");
  for (unsigned char c : local)
    if (c != '.' && !atext(c)) return refuse(why, "the part before '@' holds a character addresses cannot have");
  if (domain.find('.') == std::string_view::npos || !is_dns_name(domain))
    return refuse(why, "the part after '@' is not a domain name");
  std::string out;
  out.reserve(text.size());
  for (char c : text) out += lower(c);
  return out;
}

bool email_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

}  // namespace gatehouse
