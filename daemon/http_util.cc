#include "daemon/http_util.h"

#include <ctime>
#include <vector>

#include "auth/identity_headers.h"
#include "common/log.h"

namespace gatehouse::daemon {

void set_page_headers(http::response<http::string_body>& res) {
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set("X-Frame-Options", "DENY");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Content-Security-Policy",
          "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; "
          "frame-ancestors 'none'; base-uri 'none'");
}

std::string cookie_header(std::string_view name, std::string_view value, std::string_view path,
                          std::string_view same_site, bool secure, bool expire) {
  std::string c(name);
  c += '=';
  c += value;
  c += "; Path=";
  c += path;
  c += "; HttpOnly; SameSite=";
  c += same_site;
  if (secure) c += "; Secure";
  if (expire) c += "; Max-Age=0";
  return c;
}

std::string csrf_cookie(const Runtime& rt, std::string_view binding) {
  const bool host_prefixed = rt.csrf_cookie.starts_with("__Host-");
  return cookie_header(rt.csrf_cookie, binding, host_prefixed ? "/" : "/.gatehouse/", "Strict", rt.secure_cookies,
                       false);
}

std::string rfc3339(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool accepts_html(const http::fields& f) {
  auto it = f.find(http::field::accept);
  return it != f.end() && it->value().find("text/html") != std::string_view::npos;
}

bool prefers_json(const http::fields& f) {
  auto it = f.find(http::field::accept);
  if (it == f.end()) return false;
  const auto json = it->value().find("application/json");
  if (json == std::string_view::npos) return false;
  const auto html = it->value().find("text/html");
  return html == std::string_view::npos || json < html;
}

std::string request_cookie(const http::fields& f, std::string_view name) {
  std::vector<std::string> values;
  for (auto it = f.find(http::field::cookie); it != f.end() && it->name() == http::field::cookie; ++it)
    auth::find_cookie_values(it->value(), name, values);
  std::erase(values, std::string());
  if (values.empty()) return {};
  for (const auto& v : values)
    if (v != values.front()) {
      log::info("http.ambiguous_cookie", {{"cookie", name}, {"values", std::to_string(values.size())}});
      return {};
    }
  return values.front();
}

}  // namespace gatehouse::daemon
