#include "daemon/pages.h"

#include "config/config.h"
#include "daemon/form.h"

namespace gatehouse::daemon {
namespace {

constexpr std::string_view kStyle = R"css(
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;color:#111827}
main{max-width:24rem;margin:10vh auto;padding:2rem;background:#fff;border-radius:.75rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:0 0 1.25rem}
label{display:block;font-weight:600;margin:.9rem 0 .3rem}
input[type=text],input[type=password]{width:100%;padding:.6rem .7rem;border:1px solid #9ca3af;border-radius:.4rem;font:inherit}
input:focus,button:focus{outline:3px solid #2563eb;outline-offset:1px}
button{margin-top:1.4rem;width:100%;padding:.7rem;border:0;border-radius:.4rem;background:#1d4ed8;color:#fff;font:inherit;font-weight:600;cursor:pointer}
button:hover{background:#1e40af}
a.sso{display:block;margin-top:.8rem;padding:.7rem;border:1px solid #1d4ed8;border-radius:.4rem;color:#1d4ed8;text-align:center;font-weight:600;text-decoration:none}
a.sso:hover,a.sso:focus{background:#eff6ff;outline:3px solid #2563eb;outline-offset:1px}
.or{margin:1.4rem 0 0;text-align:center;color:#6b7280;font-size:.9rem}
.error{background:#fef2f2;border:1px solid #fca5a5;color:#991b1b;padding:.6rem .8rem;border-radius:.4rem}
.notice{background:#eff6ff;border:1px solid #93c5fd;color:#1e3a8a;padding:.6rem .8rem;border-radius:.4rem}
footer{margin-top:1.5rem;font-size:.8rem;color:#6b7280;text-align:center}
main.wide{max-width:64rem;margin-top:4vh}
h2{font-size:1.15rem;margin:1.6rem 0 .6rem}
table{width:100%;border-collapse:collapse;font-size:.92rem}
th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{font-weight:600;color:#374151}
td form{margin:0}
td button,.inline button{width:auto;margin:0;padding:.35rem .8rem}
.muted{color:#6b7280}
input[type=email],input[type=date]{width:100%;padding:.6rem .7rem;border:1px solid #9ca3af;border-radius:.4rem;font:inherit}
.check{display:flex;gap:.5rem;align-items:center;font-weight:400}
.check input{width:auto}
ul.parties{list-style:none;padding:0;margin:0}
ul.parties li{display:flex;justify-content:space-between;align-items:center;gap:1rem;padding:.6rem 0;border-bottom:1px solid #e5e7eb}
ul.parties li button{width:auto;margin:0;padding:.4rem .9rem}
.current{font-weight:600;color:#065f46}
)css";

}  // namespace

std::string html_page(std::string_view title, std::string_view body, std::string_view banner, bool wide) {
  std::string out;
  out.reserve(2048 + body.size());
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<meta name=\"robots\" content=\"noindex\"><title>";
  out += html_escape(title);
  out += "</title><style>";
  out += kStyle;
  out += "</style></head><body>";
  out += banner;
  out += wide ? "<main class=\"wide\">" : "<main>";
  out += body;
  out += "<footer>gatehouse</footer></main></body></html>\n";
  return out;
}

namespace {

std::string page(std::string_view title, std::string_view body) { return html_page(title, body, {}, false); }

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string login_page(const LoginPageModel& m) {
  std::string body = "<h1>Sign in</h1>";
  if (!m.error.empty())
    body += "<p class=\"error\" role=\"alert\" id=\"login-error\">" + html_escape(m.error) + "</p>";
  if (!m.notice.empty())
    body += "<p class=\"notice\" role=\"status\">" + html_escape(m.notice) + "</p>";
  // Single sign-on first: with a provider configured, most users have an account there.
  for (const auto& p : m.providers) {
    body += "<a class=\"sso\" href=\"/.gatehouse/oidc/" + html_escape(url_encode(p.name)) + "/start?rd=" +
            html_escape(url_encode(m.rd)) + "\">Sign in with " + html_escape(p.display_name) + "</a>";
  }
  if (!m.password_form) return page("Sign in", body);
  if (!m.providers.empty()) body += "<p class=\"or\">or with a user name and password</p>";
  body += "<form method=\"post\" action=\"/.gatehouse/login\">";
  body += "<input type=\"hidden\" name=\"csrf\" value=\"" + html_escape(m.csrf_token) + "\">";
  body += "<input type=\"hidden\" name=\"rd\" value=\"" + html_escape(m.rd) + "\">";
  body += "<label for=\"username\">User name</label>";
  body += "<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" "
          "autocapitalize=\"none\" spellcheck=\"false\" required autofocus value=\"" +
          html_escape(m.username) + "\"";
  if (!m.error.empty()) body += " aria-describedby=\"login-error\"";
  body += ">";
  body += "<label for=\"password\">Password</label>";
  body += "<input type=\"password\" id=\"password\" name=\"password\" "
          "autocomplete=\"current-password\" required>";
  body += "<button type=\"submit\">Sign in</button></form>";
  return page("Sign in", body);
}

std::string hidden_input(std::string_view name, std::string_view value) {
  return "<input type=\"hidden\" name=\"" + html_escape(name) + "\" value=\"" + html_escape(value) + "\">";
}

std::string utc_time_text(std::int64_t t) {
  if (t == 0) return "—";
  std::string s = config::format_rfc3339(t);
  s[10] = ' ';
  s.pop_back();
  return s;
}

std::string error_page(int status, std::string_view title, std::string_view message) {
  std::string body = "<h1>" + html_escape(title) + "</h1><p>" + html_escape(message) + "</p>";
  body += "<p><small>HTTP " + std::to_string(status) + "</small></p>";
  return page(title, body);
}

}  // namespace gatehouse::daemon
