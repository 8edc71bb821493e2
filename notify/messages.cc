#include "notify/messages.h"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

namespace gatehouse::notify {
namespace {

using json = nlohmann::json;

constexpr const char* kBadPayload = "notify.bad_payload";
// 9999-12-31T23:59:59Z: later times are not dates a message can show.
constexpr std::int64_t kMaxTime = 253402300799;

Error bad_payload(const std::string& kind, const std::string& why) {
  return make_error(kBadPayload, kind + " payload: " + why);
}

// Field readers: false when missing or of another type.
bool get(const json& j, const char* key, std::string* out) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}
bool get(const json& j, const char* key, bool* out) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_boolean()) return false;
  *out = it->get<bool>();
  return true;
}
bool get(const json& j, const char* key, std::int64_t* out) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return false;
  if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return false;
    *out = static_cast<std::int64_t>(u);
  } else {
    *out = it->get<std::int64_t>();
  }
  return true;
}

// A payload value inside a line of the body: one line, bounded.
std::string inline_text(std::string_view value) { return sanitise_header_text(value, 300); }

// Replaces {name} in `pattern` by vars[name]; inserted values are not scanned again.
std::string fill(std::string_view pattern, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern[i] == '{') {
      const auto close = pattern.find('}', i);
      if (close != std::string_view::npos) {
        const auto it = vars.find(std::string(pattern.substr(i + 1, close - i - 1)));
        if (it != vars.end()) {
          out += it->second;
          i = close + 1;
          continue;
        }
      }
    }
    out += pattern[i++];
  }
  return out;
}

struct SwitchTexts {
  const char* subject_in;
  const char* subject_out;
  const char* subject_org;  // "{who} ({org})" or "{who}" when the organisation is unknown
  const char* greeting;
  const char* line_in;
  const char* line_out;
  const char* of_org;       // " of {org}"
  const char* label_who;
  const char* label_org;
  const char* label_for;
  const char* label_when;
  const char* label_delegation;
  const char* label_how;
  const char* how_self;
  const char* how_automatic;
  const char* how_expired;
  const char* how_revoked;
  const char* footer;
};

struct GrantTexts {
  const char* subject;
  const char* greeting;
  const char* line_until;
  const char* line_open;
  const char* steps;
  const char* footer;
};

const SwitchTexts& switch_texts(std::string_view lang) {
  static const SwitchTexts en{
      "{who_org} is now acting for {tenant_name}",
      "{who_org} stopped acting for {tenant_name}",
      "{who} ({org})",
      "Hello,",
      "{who_full}{of_org} has switched in to act for your organisation {tenant_name} through a delegation.",
      "{who_full}{of_org} has switched out and no longer acts for your organisation {tenant_name} through a "
      "delegation.",
      " of {org}",
      "Who",
      "Organisation",
      "Acting for",
      "When",
      "Delegation",
      "How",
      "chosen by {who}",
      "automatically",
      "automatically, because the delegation expired",
      "automatically, because the delegation was revoked",
      "You receive this e-mail because you are a superuser of {tenant_name}. On the delegations page of "
      "gatehouse you can review your organisation's delegations and revoke them.",
  };
  static const SwitchTexts nl{
      "{who_org} handelt nu namens {tenant_name}",
      "{who_org} handelt niet langer namens {tenant_name}",
      "{who} ({org})",
      "Hallo,",
      "{who_full}{of_org} is via een delegatie gaan handelen namens uw organisatie {tenant_name}.",
      "{who_full}{of_org} handelt niet langer via een delegatie namens uw organisatie {tenant_name}.",
      " van {org}",
      "Wie",
      "Organisatie",
      "Handelt namens",
      "Wanneer",
      "Delegatie",
      "Hoe",
      "zelf gekozen door {who}",
      "automatisch",
      "automatisch, omdat de delegatie is verlopen",
      "automatisch, omdat de delegatie is ingetrokken",
      "U ontvangt deze e-mail omdat u superuser bent van {tenant_name}. Op de pagina met delegaties in "
      "gatehouse kunt u de delegaties van uw organisatie bekijken en intrekken.",
  };
  static const SwitchTexts de{
      "{who_org} handelt jetzt für {tenant_name}",
      "{who_org} handelt nicht mehr für {tenant_name}",
      "{who} ({org})",
      "Guten Tag,",
      "{who_full}{of_org} handelt jetzt über eine Delegation für Ihre Organisation {tenant_name}.",
      "{who_full}{of_org} handelt nicht mehr über eine Delegation für Ihre Organisation {tenant_name}.",
      " von {org}",
      "Wer",
      "Organisation",
      "Handelt für",
      "Zeitpunkt",
      "Delegation",
      "Art",
      "selbst gewählt von {who}",
      "automatisch",
      "automatisch, weil die Delegation abgelaufen ist",
      "automatisch, weil die Delegation widerrufen wurde",
      "Sie erhalten diese E-Mail, weil Sie Superuser von {tenant_name} sind. Auf der Seite mit den "
      "Delegationen in gatehouse können Sie die Delegationen Ihrer Organisation einsehen und widerrufen.",
  };
  static const SwitchTexts it{
      "{who_org} ora agisce per conto di {tenant_name}",
      "{who_org} non agisce più per conto di {tenant_name}",
      "{who} ({org})",
      "Buongiorno,",
      "{who_full}{of_org} ha iniziato ad agire per conto della Sua organizzazione {tenant_name} tramite una "
      "delega.",
      "{who_full}{of_org} ha smesso di agire per conto della Sua organizzazione {tenant_name} tramite una "
      "delega.",
      " di {org}",
      "Chi",
      "Organizzazione",
      "Per conto di",
      "Quando",
      "Delega",
      "Modalità",
      "scelta di {who}",
      "automaticamente",
      "automaticamente, perché la delega è scaduta",
      "automaticamente, perché la delega è stata revocata",
      "Riceve questa e-mail perché è superuser di {tenant_name}. Nella pagina delle deleghe di gatehouse può "
      "consultare e revocare le deleghe della Sua organizzazione.",
  };
  if (lang == "nl") return nl;
  if (lang == "de") return de;
  if (lang == "it") return it;
  return en;
}

const GrantTexts& grant_texts(std::string_view lang) {
  static const GrantTexts en{
      "{tenant_name} has given you delegated access",
      "Hello,",
      "{tenant_name} has given you ({email}) delegated access: you can act on behalf of {tenant_name} until "
      "{until_human} ({until_rfc3339}).",
      "{tenant_name} has given you ({email}) delegated access: you can act on behalf of {tenant_name}, without "
      "an end date.",
      "To use it:\n"
      "  1. Sign in (or register) at {public_url}\n"
      "  2. Choose {tenant_name} in the organisation switcher.",
      "If you did not expect this invitation, you can ignore this e-mail.",
  };
  static const GrantTexts nl{
      "{tenant_name} heeft u gedelegeerde toegang gegeven",
      "Hallo,",
      "{tenant_name} heeft u ({email}) gedelegeerde toegang gegeven: u kunt tot {until_human} "
      "({until_rfc3339}) namens {tenant_name} handelen.",
      "{tenant_name} heeft u ({email}) gedelegeerde toegang gegeven: u kunt zonder einddatum namens "
      "{tenant_name} handelen.",
      "Zo gebruikt u de delegatie:\n"
      "  1. Meld u aan (of registreer u) op {public_url}\n"
      "  2. Kies {tenant_name} in de organisatiekiezer.",
      "Had u deze uitnodiging niet verwacht? Dan kunt u deze e-mail negeren.",
  };
  static const GrantTexts de{
      "{tenant_name} hat Ihnen delegierten Zugriff gewährt",
      "Guten Tag,",
      "{tenant_name} hat Ihnen ({email}) delegierten Zugriff gewährt: Sie können bis zum {until_human} "
      "({until_rfc3339}) im Namen von {tenant_name} handeln.",
      "{tenant_name} hat Ihnen ({email}) delegierten Zugriff gewährt: Sie können ohne Enddatum im Namen von "
      "{tenant_name} handeln.",
      "So nutzen Sie den Zugriff:\n"
      "  1. Melden Sie sich unter {public_url} an (oder registrieren Sie sich dort).\n"
      "  2. Wählen Sie im Organisationswechsler {tenant_name} aus.",
      "Falls Sie diese Einladung nicht erwartet haben, können Sie diese E-Mail ignorieren.",
  };
  static const GrantTexts it{
      "{tenant_name} Le ha concesso un accesso delegato",
      "Buongiorno,",
      "{tenant_name} Le ha concesso un accesso delegato (per l'indirizzo {email}): può agire per conto di "
      "{tenant_name} fino al {until_human} ({until_rfc3339}).",
      "{tenant_name} Le ha concesso un accesso delegato (per l'indirizzo {email}): può agire per conto di "
      "{tenant_name}, senza data di scadenza.",
      "Per utilizzarlo:\n"
      "  1. Acceda (o si registri) su {public_url}\n"
      "  2. Scelga {tenant_name} nel selettore dell'organizzazione.",
      "Se non si aspettava questo invito, può ignorare questa e-mail.",
  };
  if (lang == "nl") return nl;
  if (lang == "de") return de;
  if (lang == "it") return it;
  return en;
}

std::optional<json> parse_object(const std::string& payload) {
  json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

Result<Mail> render_switch(const store::OutboxMessage& m, std::string_view lang) {
  const std::string kind = m.kind;
  auto j = parse_object(m.payload);
  if (!j) return bad_payload(kind, "not a JSON object");
  std::string direction, user, display_name, email, real_party, real_party_name, tenant, tenant_name, reason;
  bool automatic = false;
  std::int64_t delegation_id = 0, at = 0;
  struct S {
    const char* key;
    std::string* out;
  };
  for (const S& s : {S{"direction", &direction}, S{"user", &user}, S{"display_name", &display_name},
                     S{"email", &email}, S{"real_party", &real_party}, S{"real_party_name", &real_party_name},
                     S{"tenant", &tenant}, S{"tenant_name", &tenant_name}, S{"reason", &reason}})
    if (!get(*j, s.key, s.out)) return bad_payload(kind, std::string("\"") + s.key + "\" missing or not a string");
  if (!get(*j, "automatic", &automatic)) return bad_payload(kind, "\"automatic\" missing or not a boolean");
  if (!get(*j, "delegation_id", &delegation_id) || delegation_id <= 0)
    return bad_payload(kind, "\"delegation_id\" missing or not a positive integer");
  if (!get(*j, "at", &at) || at < 0 || at > kMaxTime)
    return bad_payload(kind, "\"at\" missing or not a time in unix seconds");
  if (direction != "in" && direction != "out") return bad_payload(kind, "\"direction\" is neither \"in\" nor \"out\"");
  if (reason != "" && reason != "expired" && reason != "revoked")
    return bad_payload(kind, "\"reason\" is not \"\", \"expired\" or \"revoked\"");
  if (tenant.empty() && tenant_name.empty()) return bad_payload(kind, "\"tenant\" is empty");
  if (user.empty() && display_name.empty()) return bad_payload(kind, "\"user\" is empty");

  const SwitchTexts& t = switch_texts(lang);
  std::map<std::string, std::string> v;
  v["who"] = inline_text(display_name.empty() ? user : display_name);
  v["user"] = inline_text(user);
  v["email"] = inline_text(email);
  v["org"] = inline_text(real_party_name.empty() ? real_party : real_party_name);
  v["tenant_name"] = inline_text(tenant_name.empty() ? tenant : tenant_name);
  v["who_full"] = v["email"].empty() ? v["who"] : v["who"] + " <" + v["email"] + ">";
  v["of_org"] = v["org"].empty() ? "" : fill(t.of_org, v);
  v["who_org"] = v["org"].empty() ? v["who"] : fill(t.subject_org, v);

  Mail mail;
  mail.to = m.recipient;
  mail.subject = sanitise_header_text(fill(direction == "in" ? t.subject_in : t.subject_out, v));

  const char* how = !automatic                ? t.how_self
                    : reason == "expired"     ? t.how_expired
                    : reason == "revoked"     ? t.how_revoked
                                              : t.how_automatic;
  auto row = [](const char* label, const std::string& value) {
    std::string line = std::string("  ") + label + ":";
    // Labels differ in length per language: pad to one column, counting characters.
    std::size_t width = 0;
    for (char c : line) width += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    for (; width < 20; ++width) line += ' ';
    return line + " " + value + "\n";
  };
  std::string who_row = v["who"];
  if (!user.empty() && v["user"] != v["who"]) who_row += " (" + v["user"] + ")";
  if (!v["email"].empty()) who_row += ", " + v["email"];
  std::string org_row = v["org"];
  if (!real_party.empty() && inline_text(real_party) != v["org"]) org_row += " (" + inline_text(real_party) + ")";
  std::string for_row = v["tenant_name"];
  if (!tenant.empty() && inline_text(tenant) != v["tenant_name"]) for_row += " (" + inline_text(tenant) + ")";

  std::string& b = mail.text;
  b += std::string(t.greeting) + "\n\n";
  b += fill(direction == "in" ? t.line_in : t.line_out, v) + "\n\n";
  b += row(t.label_who, who_row);
  if (!org_row.empty()) b += row(t.label_org, org_row);
  b += row(t.label_for, for_row);
  b += row(t.label_when, human_utc(at, lang) + " (" + rfc3339_utc(at) + ")");
  b += row(t.label_delegation, "#" + std::to_string(delegation_id));
  b += row(t.label_how, fill(how, v));
  b += "\n" + fill(t.footer, v) + "\n\n-- \ngatehouse\n";
  return mail;
}

Result<Mail> render_grant(const store::OutboxMessage& m, std::string_view lang) {
  const std::string kind = m.kind;
  auto j = parse_object(m.payload);
  if (!j) return bad_payload(kind, "not a JSON object");
  std::string tenant, tenant_name, email, public_url, granted_by;
  std::int64_t until = 0;
  struct S {
    const char* key;
    std::string* out;
  };
  for (const S& s : {S{"tenant", &tenant}, S{"tenant_name", &tenant_name}, S{"email", &email},
                     S{"public_url", &public_url}, S{"granted_by", &granted_by}})
    if (!get(*j, s.key, s.out)) return bad_payload(kind, std::string("\"") + s.key + "\" missing or not a string");
  if (!get(*j, "until", &until) || until < 0 || until > kMaxTime)
    return bad_payload(kind, "\"until\" missing or not a time in unix seconds (or 0)");
  if (tenant.empty() && tenant_name.empty()) return bad_payload(kind, "\"tenant\" is empty");
  if (email.empty()) return bad_payload(kind, "\"email\" is empty");
  if (!public_url.starts_with("https://") && !public_url.starts_with("http://"))
    return bad_payload(kind, "\"public_url\" is not an http(s) URL");
  if (inline_text(public_url) != public_url || public_url.find(' ') != std::string::npos)
    return bad_payload(kind, "\"public_url\" contains spaces or control characters");

  const GrantTexts& t = grant_texts(lang);
  std::map<std::string, std::string> v;
  v["tenant_name"] = inline_text(tenant_name.empty() ? tenant : tenant_name);
  v["email"] = inline_text(email);
  v["public_url"] = public_url;
  if (until != 0) {
    v["until_human"] = human_utc(until, lang);
    v["until_rfc3339"] = rfc3339_utc(until);
  }

  Mail mail;
  mail.to = m.recipient;
  mail.subject = sanitise_header_text(fill(t.subject, v));
  std::string& b = mail.text;
  b += std::string(t.greeting) + "\n\n";
  b += fill(until != 0 ? t.line_until : t.line_open, v) + "\n\n";
  b += fill(t.steps, v) + "\n\n";
  b += std::string(t.footer) + "\n\n-- \ngatehouse\n";
  return mail;
}

}  // namespace

std::string_view message_language(std::string_view language) {
  std::string primary;
  for (char c : language) {
    if (c == '-' || c == '_') break;
    primary += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  for (std::string_view known : {"en", "nl", "de", "it"})
    if (primary == known) return known;
  return "en";
}

std::string rfc3339_utc(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string human_utc(std::int64_t t, std::string_view language) {
  static constexpr const char* kEn[] = {"January", "February", "March",     "April",   "May",      "June",
                                        "July",    "August",   "September", "October", "November", "December"};
  static constexpr const char* kNl[] = {"januari", "februari", "maart",     "april",   "mei",      "juni",
                                        "juli",    "augustus", "september", "oktober", "november", "december"};
  static constexpr const char* kDe[] = {"Januar", "Februar", "März",      "April",   "Mai",      "Juni",
                                        "Juli",   "August",  "September", "Oktober", "November", "Dezember"};
  static constexpr const char* kIt[] = {"gennaio", "febbraio", "marzo",     "aprile",  "maggio",   "giugno",
                                        "luglio",  "agosto",   "settembre", "ottobre", "novembre", "dicembre"};
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  const std::string_view lang = message_language(language);
  const int mon = tm.tm_mon % 12;
  char hm[16];
  std::snprintf(hm, sizeof hm, "%02d:%02d", tm.tm_hour, tm.tm_min);
  const std::string day = std::to_string(tm.tm_mday);
  const std::string year = std::to_string(tm.tm_year + 1900);
  if (lang == "nl") return day + " " + kNl[mon] + " " + year + " om " + hm + " UTC";
  if (lang == "de") return day + ". " + kDe[mon] + " " + year + " um " + hm + " UTC";
  if (lang == "it") return day + " " + kIt[mon] + " " + year + " alle " + hm + " UTC";
  return day + " " + kEn[mon] + " " + year + " at " + hm + " UTC";
}

Result<Mail> render(const store::OutboxMessage& message) {
  if (auto ok = validate_address(message.recipient); !ok) return ok.error();
  const std::string_view lang = message_language(message.language);
  if (message.kind == "party.switched") return render_switch(message, lang);
  if (message.kind == "delegation.granted") return render_grant(message, lang);
  return make_error("notify.unknown_kind", "unknown message kind (" + std::to_string(message.kind.size()) +
                                               " bytes): " + sanitise_header_text(message.kind, 64));
}

}  // namespace gatehouse::notify
