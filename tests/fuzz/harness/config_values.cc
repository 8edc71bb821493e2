// Values in the configuration file (config/config.h): parse_duration, Url::parse,
// LdapUri::parse, ListenAddress::parse and parse_rfc3339, all on the same input.
// Properties: a duration is not negative and format_duration of it parses back to it
// (and formats the same again); a URL, LDAP URI or listen address written back from its
// parts (origin() + path; scheme://[host]:port; [host]:port) parses to the same parts;
// format_rfc3339 of a time parses back to the same second (for the years 0000..9999 that
// RFC 3339 can write at all).
#include "config/config.h"
#include "fuzz.h"

namespace {

using namespace gatehouse::config;

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = gatehouse::fuzz::as_text(data, size);

  if (auto d = parse_duration(text)) {
    FUZZ_CHECK(d->count() >= 0, text);
    std::string formatted = format_duration(*d);
    auto again = parse_duration(formatted);
    FUZZ_CHECK(again && *again == *d, formatted);
    FUZZ_CHECK(format_duration(*again) == formatted, formatted);
  }

  if (auto url = Url::parse(text)) {
    FUZZ_CHECK(url->scheme == "http" || url->scheme == "https", text);
    FUZZ_CHECK(!url->host.empty() && url->port != 0, text);
    FUZZ_CHECK(url->path.empty() || url->path[0] == '/', url->path);
    for (char c : url->host) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), url->host);
    std::string written = url->origin() + url->path;
    auto again = Url::parse(written);
    FUZZ_CHECK(again && again->scheme == url->scheme && again->host == url->host && again->port == url->port &&
                   again->path == url->path && again->origin() == url->origin(),
               written);
  }

  if (auto uri = LdapUri::parse(text)) {
    FUZZ_CHECK(!uri->host.empty() && uri->port != 0 && uri->text == text, text);
    std::string written =
        std::string(uri->tls ? "ldaps://" : "ldap://") + bracketed(uri->host) + ":" + std::to_string(uri->port);
    auto again = LdapUri::parse(written);
    FUZZ_CHECK(again && again->tls == uri->tls && again->host == uri->host && again->port == uri->port, written);
  }

  if (auto listen = ListenAddress::parse(text)) {
    std::string written = bracketed(listen->host) + ":" + std::to_string(listen->port);
    auto again = ListenAddress::parse(written);
    FUZZ_CHECK(again && again->host == listen->host && again->port == listen->port, written);
  }

  if (auto t = parse_rfc3339(text)) {
    std::string formatted = format_rfc3339(*t);
    bool four_digit_year = formatted.size() > 4 && formatted[4] == '-' && formatted[0] != '-';
    if (four_digit_year) {
      auto again = parse_rfc3339(formatted);
      FUZZ_CHECK(again && *again == *t, formatted);
    }
  }
  return 0;
}
