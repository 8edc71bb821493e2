#pragma once
// The HTML people see: the login form and error pages. Self-contained (no external
// assets), accessible (labels, lang, focus order), escaped everywhere.
#include <cstdint>
#include <string>
#include <vector>
#include <string_view>

namespace gatehouse::daemon {

std::string html_escape(std::string_view text);
// <input type="hidden"> with both attributes escaped.
std::string hidden_input(std::string_view name, std::string_view value);
// "2026-12-03 15:00:00" (UTC; pages say so in their text); "—" for 0.
std::string utc_time_text(std::int64_t unix_seconds);

// A complete page in gatehouse's style: `body` inside <main>, `banner` (already HTML:
// the delegation bar) above it.
// `wide`: room for tables.
std::string html_page(std::string_view title, std::string_view body, std::string_view banner = {},
                      bool wide = false);

struct LoginPageModel {
  std::string csrf_token;
  std::string rd;          // already validated
  std::string username;    // echoed back after a failure
  std::string error;       // one generic message, or empty
  std::string notice;      // e.g. "You have been signed out."
  bool password_form = true;  // some [[directory]] is configured
  struct Provider {
    std::string name;          // [[oidc]] name, for the start URL
    std::string display_name;  // the button's text: "Sign in with …"
  };
  std::vector<Provider> providers;
};

std::string login_page(const LoginPageModel& model);
std::string error_page(int status, std::string_view title, std::string_view message);

}  // namespace gatehouse::daemon
