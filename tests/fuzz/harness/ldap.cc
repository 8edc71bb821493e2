// LDAP text (directory/ldap_text.h): escape_filter_value (RFC 4515) and escape_dn_value
// (RFC 4514) on user input, and the DN reader first_rdn_value, dns_domain_of and
// ad_bind_subcode on what a directory sends back.
// Properties: an escaped filter value has no '*', '(', ')', NUL or non-ASCII byte, every
// '\' starts a \XX escape, and unescaping gives the input back; substitute puts it into a
// filter template verbatim. An escaped DN value has none of , + " \ < > ; = unescaped, no
// unescaped leading '#' or space or trailing space, unescapes to the input, and as the
// first RDN of a DN reads back as the input. Valid UTF-8 is always escapable as a DN value.
#include "common/text.h"
#include "directory/ldap_text.h"
#include "fuzz.h"

namespace {

using namespace gatehouse::directory::ldap;

bool hex(char c) { return gatehouse::hex_value(c) >= 0; }

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

void check_filter(std::string_view value) {
  // Found by this harness (corpus/ldap/empty-filter-value): for "" libldap returns success
  // with no buffer, and escape_filter_value threw std::bad_alloc.
  std::string escaped = escape_filter_value(value);
  std::string unescaped;
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    auto c = static_cast<unsigned char>(escaped[i]);
    FUZZ_CHECK(c != '*' && c != '(' && c != ')' && c != 0 && c < 0x80, escaped);
    if (c == '\\') {
      FUZZ_CHECK(i + 2 < escaped.size() && hex(escaped[i + 1]) && hex(escaped[i + 2]), escaped);
      unescaped += static_cast<char>(gatehouse::hex_value(escaped[i + 1]) * 16 + gatehouse::hex_value(escaped[i + 2]));
      i += 2;
    } else {
      unescaped += static_cast<char>(c);
    }
  }
  FUZZ_CHECK(unescaped == value, escaped);
  std::string filter = substitute("(&(uid={username})(objectClass=person))", {{"{username}", escaped}});
  FUZZ_CHECK(filter == "(&(uid=" + escaped + ")(objectClass=person))", filter);
}

void check_dn(std::string_view value) {
  // Found by this harness (corpus/ldap/dn-value-read-past-end): for a value that ends
  // inside a UTF-8 sequence ("…\xD3"), libldap's ldap_rdn2bv read the bytes after the end
  // of the view; escape_dn_value now refuses malformed UTF-8. libFuzzer's exact-size
  // buffer is passed as is, so ASan sees any read past it.
  auto escaped = escape_dn_value(value);
  if (!escaped) {
    FUZZ_CHECK(!valid_utf8(value), value);
    return;
  }
  const std::string& e = *escaped;
  static constexpr std::string_view special = ",+\"\\<>;=";
  std::string unescaped;
  for (std::size_t i = 0; i < e.size(); ++i) {
    char c = e[i];
    if (c != '\\') {
      FUZZ_CHECK(special.find(c) == std::string_view::npos, e);
      FUZZ_CHECK(!(i == 0 && (c == '#' || c == ' ')), e);
      FUZZ_CHECK(!(i + 1 == e.size() && c == ' '), e);
      unescaped += c;
      continue;
    }
    FUZZ_CHECK(i + 1 < e.size(), e);
    if (i + 2 < e.size() && hex(e[i + 1]) && hex(e[i + 2])) {
      unescaped += static_cast<char>(gatehouse::hex_value(e[i + 1]) * 16 + gatehouse::hex_value(e[i + 2]));
      i += 2;
    } else {
      FUZZ_CHECK(std::string_view(",+\"\\<>;=# ").find(e[i + 1]) != std::string_view::npos, e);
      unescaped += e[i + 1];
      i += 1;
    }
  }
  FUZZ_CHECK(unescaped == value, e);
  auto first = first_rdn_value("cn=" + e + ",ou=people,dc=example,dc=org");
  FUZZ_CHECK(first && *first == value, e);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = gatehouse::fuzz::as_text(data, size);
  check_filter(text);
  check_dn(text);
  (void)first_rdn_value(text);
  (void)dns_domain_of(text);
  (void)ad_bind_subcode(text);
  return 0;
}
