#include "daemon/vault_pages.h"

#include "daemon/pages.h"

namespace gatehouse::daemon {

std::string secrets_page(const SecretsPageModel& m) {
  std::string body = "<h1>Secrets</h1>";
  if (!m.error.empty()) body += "<p class=\"error\" role=\"alert\">" + html_escape(m.error) + "</p>";
  if (!m.notice.empty()) body += "<p class=\"notice\" role=\"status\">" + html_escape(m.notice) + "</p>";
  body += "<p class=\"muted\">Secrets your organisation's applications receive from gatehouse, such as API tokens. "
          "Anyone acting for the organisation, delegates included, uses them without seeing them. A value can be "
          "replaced or removed here, never shown. Times are UTC.</p>";
  for (const auto& t : m.tenants) {
    const std::string& name = t.tenant.name;
    const std::string id = "t-" + name;
    body += "<section aria-labelledby=\"" + html_escape(id) + "\"><h2 id=\"" + html_escape(id) + "\">" +
            html_escape(t.tenant.display_name) + "</h2>";
    if (t.secrets.empty()) {
      body += "<p class=\"muted\">No secrets yet.</p>";
    } else {
      body += "<table><thead><tr><th>Name</th><th>Version</th><th>Changed</th><th>By</th><th></th></tr></thead><tbody>";
      for (const auto& s : t.secrets) {
        body += "<tr><td>" + html_escape(s.name) + "</td><td>" + std::to_string(s.version) + "</td><td>" +
                html_escape(utc_time_text(s.updated_at)) + "</td><td>" + html_escape(s.updated_by) + "</td><td>";
        body += "<form method=\"post\" action=\"/.gatehouse/secrets/remove\">" + hidden_input("csrf", m.csrf_token) +
                hidden_input("tenant", name) + hidden_input("name", s.name) +
                "<button type=\"submit\" aria-label=\"Remove " + html_escape(s.name) + "\">Remove</button></form>";
        body += "</td></tr>";
      }
      body += "</tbody></table>";
    }
    body += "<h3>Store a secret</h3>";
    body += "<form method=\"post\" action=\"/.gatehouse/secrets\" autocomplete=\"off\">" +
            hidden_input("csrf", m.csrf_token) + hidden_input("tenant", name);
    body += "<label for=\"name-" + html_escape(name) + "\">Name (letters, digits, '.', '_', '-')</label>";
    body += "<input type=\"text\" id=\"name-" + html_escape(name) +
            "\" name=\"name\" required maxlength=\"64\" pattern=\"[A-Za-z0-9][A-Za-z0-9._\\-]*\" spellcheck=\"false\">";
    body += "<label for=\"value-" + html_escape(name) + "\">Value (replaces the current one)</label>";
    body += "<input type=\"password\" id=\"value-" + html_escape(name) +
            "\" name=\"value\" required maxlength=\"8192\" autocomplete=\"new-password\">";
    body += "<button type=\"submit\">Store secret</button></form>";
    body += "</section>";
  }
  return html_page("Secrets", body, m.banner, true);
}

}  // namespace gatehouse::daemon
