#pragma once
// Small pieces of HTTP shared by gatehouse's own endpoints: page headers, cookies, what the
// client accepts.
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/asio.h"
#include "daemon/runtime.h"

namespace gatehouse::daemon {

// no-store, HTML, and a strict policy: no script at all, styles inline or from
// /.gatehouse/ itself (the banner's stylesheet), forms only to gatehouse.
void set_page_headers(http::response<http::string_body>& res);

std::string cookie_header(std::string_view name, std::string_view value, std::string_view path,
                          std::string_view same_site, bool secure, bool expire);

// The CSRF binding's cookie: the sign-in form's pages only, unless its __Host- name
// requires Path=/ (the application never sees it either way: it is one of own_cookies).
std::string csrf_cookie(const Runtime& rt, std::string_view binding);

std::string rfc3339(std::int64_t unix_seconds);

bool accepts_html(const http::fields& f);
// The client asks for JSON rather than a page (Accept names application/json before, or
// without, text/html).
bool prefers_json(const http::fields& f);

// The value of gatehouse's cookie `name`, across every Cookie header. Two different
// values (a cookie tossed in by a sibling subdomain or a more specific path beside ours)
// count as none: neither is trusted to say who the user is.
std::string request_cookie(const http::fields& f, std::string_view name);

}  // namespace gatehouse::daemon
