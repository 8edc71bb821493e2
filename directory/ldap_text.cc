#include "directory/ldap_text.h"

#include <ldap.h>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <new>

namespace gatehouse::directory::ldap {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

berval as_berval(std::string_view s) {
  berval bv;
  bv.bv_len = s.size();
  bv.bv_val = const_cast<char*>(s.data());  // libldap does not write through it
  return bv;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string escape_filter_value(std::string_view value) {
  // libldap answers an empty value with success and no buffer.
  if (value.empty()) return {};
  berval in = as_berval(value);
  berval out{0, nullptr};
  if (ldap_bv2escaped_filter_value(&in, &out) != 0 || out.bv_val == nullptr)
    throw std::bad_alloc();
  std::string escaped(out.bv_val, out.bv_len);
  ber_memfree(out.bv_val);
  return escaped;
}

namespace {

// Well-formed UTF-8 (RFC 3629): no overlong forms, surrogates or values past U+10FFFF.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
    else return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

std::optional<std::string> escape_dn_value(std::string_view value) {
  // libldap reads a multi-byte character whole, past the end of a value that stops in
  // the middle of one: only well-formed UTF-8 goes in (a DN is UTF-8, RFC 4514).
  if (!valid_utf8(value)) return std::nullopt;
  // libldap formats a one-AVA RDN "x=<value>" with the value escaped for a v3 DN.
  static char attribute[] = "x";
  LDAPAVA ava{};
  ava.la_attr.bv_val = attribute;
  ava.la_attr.bv_len = 1;
  ava.la_value = as_berval(value);
  ava.la_flags = LDAP_AVA_STRING;
  LDAPAVA* rdn[] = {&ava, nullptr};
  berval out{0, nullptr};
  if (ldap_rdn2bv(rdn, &out, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || out.bv_val == nullptr)
    return std::nullopt;
  std::string rdn_text(out.bv_val, out.bv_len);
  ber_memfree(out.bv_val);
  return rdn_text.substr(2);  // without "x="
}

std::string substitute(std::string_view text,
                       const std::vector<std::pair<std::string_view, std::string>>& values) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    bool replaced = false;
    if (text[i] == '{') {
      for (const auto& [placeholder, value] : values) {
        if (text.substr(i, placeholder.size()) == placeholder) {
          out += value;
          i += placeholder.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += text[i++];
  }
  return out;
}

std::optional<std::string> first_rdn_value(std::string_view dn) {
  std::string text(dn);
  LDAPDN parsed = nullptr;
  if (ldap_str2dn(text.c_str(), &parsed, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS) return std::nullopt;
  std::optional<std::string> value;
  if (parsed != nullptr && parsed[0] != nullptr && parsed[0][0] != nullptr) {
    const berval& v = parsed[0][0]->la_value;
    value = std::string(v.bv_val, v.bv_len);
  }
  ldap_dnfree(parsed);
  return value;
}

std::string dns_domain_of(std::string_view base_dn) {
  std::string text(base_dn);
  LDAPDN parsed = nullptr;
  if (ldap_str2dn(text.c_str(), &parsed, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS) return "";
  std::string domain;
  for (int i = 0; parsed != nullptr && parsed[i] != nullptr; ++i) {
    const LDAPAVA* ava = parsed[i][0];
    if (ava == nullptr || !iequals(std::string_view(ava->la_attr.bv_val, ava->la_attr.bv_len), "dc"))
      continue;
    if (!domain.empty()) domain += '.';
    for (std::size_t k = 0; k < ava->la_value.bv_len; ++k) domain += lower(ava->la_value.bv_val[k]);
  }
  ldap_dnfree(parsed);
  return domain;
}

std::optional<unsigned> ad_bind_subcode(std::string_view diagnostic) {
  auto at = diagnostic.find("data ");
  if (at == std::string_view::npos) return std::nullopt;
  auto digits = diagnostic.substr(at + 5);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, 16);
  if (ec != std::errc() || end == digits.data()) return std::nullopt;
  if (end != digits.data() + digits.size() && *end != ',' && *end != ' ') return std::nullopt;
  return value;
}

}  // namespace gatehouse::directory::ldap
