#include "daemon/tenancy_pages.h"

#include <map>

#include "config/config.h"
#include "daemon/form.h"
#include "daemon/pages.h"

namespace gatehouse::daemon {
namespace {

std::string when(std::int64_t t) { return utc_time_text(t); }
std::string hidden(std::string_view name, std::string_view value) { return hidden_input(name, value); }

std::string state_text(const store::Delegation& d, std::int64_t now) {
  switch (store::delegation_state(d, now)) {
    case store::DelegationState::active: return "active";
    case store::DelegationState::expired: return "ended";
    case store::DelegationState::revoked: return "revoked";
  }
  return "";
}

}  // namespace

std::string parties_page(const PartiesPageModel& m) {
  std::string body = "<h1>Organisation</h1>";
  if (!m.error.empty()) body += "<p class=\"error\" role=\"alert\">" + html_escape(m.error) + "</p>";
  body += "<p class=\"muted\">Choose the organisation you work for. The choice holds in every application, "
          "on all your devices, until you change it or the delegation ends.</p>";
  body += "<ul class=\"parties\">";
  for (const auto& p : m.parties) {
    const bool current = p.party == m.effective_party;
    body += "<li><span><strong>" + html_escape(p.display_name) + "</strong>";
    if (p.delegation_id == 0)
      body += " <span class=\"muted\">(your own organisation)</span>";
    else
      body += " <span class=\"muted\">(delegation " + std::to_string(p.delegation_id) +
              (p.until == 0 ? std::string(", no end date") : ", until " + html_escape(when(p.until)) + " UTC") +
              ")</span>";
    body += "</span>";
    if (current) {
      body += "<span class=\"current\" aria-current=\"true\">Current</span>";
    } else {
      body += "<form method=\"post\" action=\"/.gatehouse/parties/switch\">" + hidden("csrf", m.csrf_token) +
              hidden("party", p.party) + hidden("rd", m.rd) + "<button type=\"submit\">Act for " +
              html_escape(p.display_name) + "</button></form>";
    }
    body += "</li>";
  }
  body += "</ul>";
  if (m.parties.size() <= 1)
    body += "<p class=\"muted\">You hold no delegation from another organisation.</p>";
  body += "<p><a href=\"" + html_escape(m.rd) + "\">Back</a></p>";
  return html_page("Organisation", body, m.banner, true);
}

std::string delegations_page(const DelegationsPageModel& m) {
  std::string body = "<h1>Delegations</h1>";
  if (!m.error.empty()) body += "<p class=\"error\" role=\"alert\">" + html_escape(m.error) + "</p>";
  if (!m.notice.empty()) body += "<p class=\"notice\" role=\"status\">" + html_escape(m.notice) + "</p>";
  body += "<p class=\"muted\">A delegation lets someone from another organisation work for yours with their own "
          "account. Every superuser of your organisation is e-mailed each time a delegate starts or stops "
          "acting for it. Times are UTC.</p>";
  for (const auto& t : m.tenants) {
    const std::string id = "t-" + t.tenant.name;
    body += "<section aria-labelledby=\"" + html_escape(id) + "\"><h2 id=\"" + html_escape(id) + "\">" +
            html_escape(t.tenant.display_name) + "</h2>";
    body += "<form method=\"post\" action=\"/.gatehouse/delegations\">" + hidden("csrf", m.csrf_token) +
            hidden("tenant", t.tenant.name);
    body += "<label for=\"email-" + html_escape(t.tenant.name) + "\">E-mail address of the delegate</label>";
    body += "<input type=\"email\" id=\"email-" + html_escape(t.tenant.name) +
            "\" name=\"email\" required autocomplete=\"off\">";
    body += "<label for=\"until-" + html_escape(t.tenant.name) + "\">Last day (default: " +
            html_escape(m.default_length) + " from now)</label>";
    body += "<input type=\"date\" id=\"until-" + html_escape(t.tenant.name) + "\" name=\"until\">";
    body += "<label class=\"check\"><input type=\"checkbox\" name=\"no_end\" value=\"1\"> No end date</label>";
    body += "<button type=\"submit\">Grant delegation</button></form>";

    body += "<h3>Granted</h3>";
    if (t.delegations.empty()) {
      body += "<p class=\"muted\">None yet.</p>";
    } else {
      body += "<table><thead><tr><th>Id</th><th>E-mail</th><th>Granted by</th><th>Granted</th><th>Until</th>"
              "<th>State</th><th></th></tr></thead><tbody>";
      for (const auto& d : t.delegations) {
        const auto state = store::delegation_state(d, m.now);
        body += "<tr><td>" + std::to_string(d.id) + "</td><td>" + html_escape(d.email) + "</td><td>" +
                html_escape(d.granted_by) + "</td><td>" + html_escape(when(d.created_at)) + "</td><td>" +
                (d.until == 0 ? std::string("no end") : html_escape(when(d.until))) + "</td><td>" +
                state_text(d, m.now) + "</td><td>";
        if (state == store::DelegationState::active)
          body += "<form method=\"post\" action=\"/.gatehouse/delegations/" + std::to_string(d.id) + "/revoke\">" +
                  hidden("csrf", m.csrf_token) + "<button type=\"submit\">Revoke</button></form>";
        body += "</td></tr>";
      }
      body += "</tbody></table>";
    }

    body += "<h3>Who acted for " + html_escape(t.tenant.display_name) + "</h3>";
    if (t.activity.empty()) {
      body += "<p class=\"muted\">Nobody has acted through a delegation yet.</p>";
    } else {
      std::map<std::int64_t, std::string> per_delegation;
      for (const auto& u : t.usage) {
        auto& text = per_delegation[u.delegation_id];
        if (!text.empty()) text += ", ";
        text += u.route + ": " + std::to_string(u.requests);
      }
      body += "<table><thead><tr><th>Delegation</th><th>User</th><th>Own organisation</th><th>Last switched in</th>"
              "<th>Last switched out</th><th>Requests per application</th></tr></thead><tbody>";
      for (const auto& a : t.activity) {
        auto it = per_delegation.find(a.delegation_id);
        body += "<tr><td>" + std::to_string(a.delegation_id) + "</td><td>" + html_escape(a.user.name) +
                (a.email.empty() ? std::string() : " &lt;" + html_escape(a.email) + "&gt;") + "</td><td>" +
                html_escape(a.real_party) + "</td><td>" + html_escape(when(a.last_switch_in)) + "</td><td>" +
                html_escape(when(a.last_switch_out)) + "</td><td>" +
                html_escape(it == per_delegation.end() ? std::string("—") : it->second) + "</td></tr>";
      }
      body += "</tbody></table>";
    }
    body += "</section>";
  }
  return html_page("Delegations", body, m.banner, true);
}

}  // namespace gatehouse::daemon
