// render(): both kinds in all four languages, the payload checks and header safety.
#include "notify/messages.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gatehouse::notify {
namespace {

using nlohmann::json;

// 1700000000 = 2023-11-14T22:13:20Z
constexpr std::int64_t kMsgAt = 1700000000;

json msg_switch_payload() {
  return {{"direction", "in"},
          {"automatic", false},
          {"user", "corp-ldap:alice"},
          {"display_name", "Alice Example"},
          {"email", "alice@acme.example"},
          {"real_party", "acme"},
          {"real_party_name", "Acme Ltd"},
          {"tenant", "globex"},
          {"tenant_name", "Globex Corporation"},
          {"delegation_id", 42},
          {"at", kMsgAt},
          {"reason", ""}};
}

json msg_grant_payload() {
  return {{"tenant", "globex"},
          {"tenant_name", "Globex Corporation"},
          {"email", "bob@consult.example"},
          {"until", kMsgAt},
          {"public_url", "https://gate.example.org"},
          {"granted_by", "corp-ldap:carol"}};
}

store::OutboxMessage msg_make(const std::string& kind, const std::string& language, const std::string& payload) {
  store::OutboxMessage m;
  m.id = 7;
  m.recipient = "superuser@globex.example";
  m.kind = kind;
  m.language = language;
  m.payload = payload;
  return m;
}

Mail msg_render_ok(const std::string& kind, const std::string& language, const json& payload) {
  auto r = render(msg_make(kind, language, payload.dump()));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().code + ": " + r.error().message);
  return r.ok() ? r.value() : Mail{};
}

void msg_expect_contains(const std::string& text, const std::vector<std::string>& needles) {
  for (const auto& n : needles) EXPECT_NE(text.find(n), std::string::npos) << "missing \"" << n << "\" in:\n" << text;
}

TEST(NotifyRender, SwitchedInEnglish) {
  Mail m = msg_render_ok("party.switched", "en", msg_switch_payload());
  EXPECT_EQ(m.to, "superuser@globex.example");
  EXPECT_EQ(m.subject, "Alice Example (Acme Ltd) is now acting for Globex Corporation");
  msg_expect_contains(m.text, {"Alice Example <alice@acme.example> of Acme Ltd", "switched in",
                               "your organisation Globex Corporation", "corp-ldap:alice", "#42",
                               "14 November 2023 at 22:13 UTC", "2023-11-14T22:13:20Z", "chosen by Alice Example",
                               "superuser of Globex Corporation"});
}

TEST(NotifyRender, SwitchedOutEnglishAutomaticBecauseExpiredOrRevoked) {
  json p = msg_switch_payload();
  p["direction"] = "out";
  p["automatic"] = true;
  p["reason"] = "expired";
  Mail m = msg_render_ok("party.switched", "en", p);
  EXPECT_EQ(m.subject, "Alice Example (Acme Ltd) stopped acting for Globex Corporation");
  msg_expect_contains(m.text, {"switched out", "automatically, because the delegation expired"});
  p["reason"] = "revoked";
  m = msg_render_ok("party.switched", "en", p);
  msg_expect_contains(m.text, {"automatically, because the delegation was revoked"});
  p["reason"] = "";
  m = msg_render_ok("party.switched", "en", p);
  msg_expect_contains(m.text, {"How:"});
  EXPECT_EQ(m.text.find("because the delegation"), std::string::npos);
  EXPECT_EQ(m.text.find("chosen by"), std::string::npos);
}

TEST(NotifyRender, SwitchedDutch) {
  Mail in = msg_render_ok("party.switched", "nl", msg_switch_payload());
  EXPECT_EQ(in.subject, "Alice Example (Acme Ltd) handelt nu namens Globex Corporation");
  msg_expect_contains(in.text, {"delegatie", "uw organisatie Globex Corporation", "Acme Ltd", "#42",
                                "14 november 2023 om 22:13 UTC", "2023-11-14T22:13:20Z", "zelf gekozen door",
                                "superuser bent van Globex Corporation"});
  json p = msg_switch_payload();
  p["direction"] = "out";
  p["automatic"] = true;
  p["reason"] = "revoked";
  Mail out = msg_render_ok("party.switched", "nl", p);
  EXPECT_EQ(out.subject, "Alice Example (Acme Ltd) handelt niet langer namens Globex Corporation");
  msg_expect_contains(out.text, {"niet langer", "delegatie is ingetrokken"});
}

TEST(NotifyRender, SwitchedGerman) {
  Mail in = msg_render_ok("party.switched", "de", msg_switch_payload());
  EXPECT_EQ(in.subject, "Alice Example (Acme Ltd) handelt jetzt f\xC3\xBCr Globex Corporation");
  msg_expect_contains(in.text, {"Delegation", "Ihre Organisation Globex Corporation", "von Acme Ltd",
                                "14. November 2023 um 22:13 UTC", "#42", "selbst gew\xC3\xA4hlt"});
  json p = msg_switch_payload();
  p["direction"] = "out";
  p["automatic"] = true;
  p["reason"] = "expired";
  Mail out = msg_render_ok("party.switched", "de", p);
  msg_expect_contains(out.subject, {"nicht mehr"});
  msg_expect_contains(out.text, {"weil die Delegation abgelaufen ist"});
}

TEST(NotifyRender, SwitchedItalian) {
  Mail in = msg_render_ok("party.switched", "it", msg_switch_payload());
  EXPECT_EQ(in.subject, "Alice Example (Acme Ltd) ora agisce per conto di Globex Corporation");
  msg_expect_contains(in.text, {"delega", "Sua organizzazione Globex Corporation", "di Acme Ltd",
                                "14 novembre 2023 alle 22:13 UTC", "#42"});
  json p = msg_switch_payload();
  p["direction"] = "out";
  p["automatic"] = true;
  p["reason"] = "revoked";
  Mail out = msg_render_ok("party.switched", "it", p);
  msg_expect_contains(out.subject, {"non agisce pi\xC3\xB9"});
  msg_expect_contains(out.text, {"la delega \xC3\xA8 stata revocata"});
}

TEST(NotifyRender, SwitchedFallsBackToIdentifiersWhenNamesAreEmpty) {
  json p = msg_switch_payload();
  p["display_name"] = "";
  p["real_party_name"] = "";
  p["tenant_name"] = "";
  p["email"] = "";
  Mail m = msg_render_ok("party.switched", "en", p);
  EXPECT_EQ(m.subject, "corp-ldap:alice (acme) is now acting for globex");
  EXPECT_EQ(m.text.find("<>"), std::string::npos);
  p["real_party"] = "";
  m = msg_render_ok("party.switched", "en", p);
  EXPECT_EQ(m.subject, "corp-ldap:alice is now acting for globex");
  EXPECT_EQ(m.text.find(" of ,"), std::string::npos);
}

TEST(NotifyRender, GrantedInAllLanguages) {
  Mail en = msg_render_ok("delegation.granted", "en", msg_grant_payload());
  EXPECT_EQ(en.subject, "Globex Corporation has given you delegated access");
  msg_expect_contains(en.text, {"bob@consult.example", "until 14 November 2023 at 22:13 UTC",
                                "2023-11-14T22:13:20Z", "Sign in (or register) at https://gate.example.org",
                                "Choose Globex Corporation in the organisation switcher"});
  Mail nl = msg_render_ok("delegation.granted", "nl", msg_grant_payload());
  EXPECT_EQ(nl.subject, "Globex Corporation heeft u gedelegeerde toegang gegeven");
  msg_expect_contains(nl.text, {"delegatie", "tot 14 november 2023 om 22:13 UTC", "https://gate.example.org",
                                "Kies Globex Corporation in de organisatiekiezer"});
  Mail de = msg_render_ok("delegation.granted", "de", msg_grant_payload());
  EXPECT_EQ(de.subject, "Globex Corporation hat Ihnen delegierten Zugriff gew\xC3\xA4hrt");
  msg_expect_contains(de.text, {"bis zum 14. November 2023 um 22:13 UTC", "https://gate.example.org",
                                "Organisationswechsler Globex Corporation"});
  Mail it = msg_render_ok("delegation.granted", "it", msg_grant_payload());
  EXPECT_EQ(it.subject, "Globex Corporation Le ha concesso un accesso delegato");
  msg_expect_contains(it.text, {"fino al 14 novembre 2023 alle 22:13 UTC", "https://gate.example.org",
                                "Scelga Globex Corporation nel selettore"});
}

TEST(NotifyRender, GrantedWithoutEndDate) {
  json p = msg_grant_payload();
  p["until"] = 0;
  msg_expect_contains(msg_render_ok("delegation.granted", "en", p).text, {"without an end date"});
  msg_expect_contains(msg_render_ok("delegation.granted", "nl", p).text, {"zonder einddatum"});
  msg_expect_contains(msg_render_ok("delegation.granted", "de", p).text, {"ohne Enddatum"});
  msg_expect_contains(msg_render_ok("delegation.granted", "it", p).text, {"senza data di scadenza"});
  for (const char* lang : {"en", "nl", "de", "it"})
    EXPECT_EQ(msg_render_ok("delegation.granted", lang, p).text.find("1970"), std::string::npos) << lang;
}

TEST(NotifyRender, LanguageFallsBackToEnglish) {
  EXPECT_EQ(message_language("fr"), "en");
  EXPECT_EQ(message_language(""), "en");
  EXPECT_EQ(message_language("nl-BE"), "nl");
  EXPECT_EQ(message_language("DE"), "de");
  EXPECT_EQ(message_language("it_IT"), "it");
  EXPECT_EQ(message_language("english"), "en");
  EXPECT_EQ(msg_render_ok("party.switched", "fr", msg_switch_payload()).subject,
            msg_render_ok("party.switched", "en", msg_switch_payload()).subject);
}

TEST(NotifyRender, DatesInEachLanguage) {
  EXPECT_EQ(rfc3339_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(human_utc(kMsgAt, "en"), "14 November 2023 at 22:13 UTC");
  EXPECT_EQ(human_utc(1709287200, "nl"), "1 maart 2024 om 10:00 UTC");
  EXPECT_EQ(human_utc(1709287200, "de"), "1. M\xC3\xA4rz 2024 um 10:00 UTC");
  EXPECT_EQ(human_utc(1709287200, "it"), "1 marzo 2024 alle 10:00 UTC");
}

void msg_expect_bad(const std::string& kind, const std::string& payload, const std::string& what) {
  auto r = render(msg_make(kind, "en", payload));
  ASSERT_FALSE(r.ok()) << what << ": " << payload;
  EXPECT_EQ(r.error().code, "notify.bad_payload") << what << ": " << r.error().message;
}

TEST(NotifyRender, PayloadThatIsNotAnObjectIsRefused) {
  for (const std::string kind : {"party.switched", "delegation.granted"}) {
    for (const std::string& p : std::vector<std::string>{"", " ", "not json", "{", "{\"direction\":", "[]", "null", "42", "\"text\"", "true",
                                "{}", "{\"a\":1}{", std::string("{\"x\":\"\xFF\"}"), std::string("\0{}", 3)})
      msg_expect_bad(kind, p, "not an object");
  }
}

TEST(NotifyRender, MissingOrMistypedFieldsAreRefused) {
  struct Case {
    std::string kind;
    json payload;
  };
  for (const Case& c : {Case{"party.switched", msg_switch_payload()}, Case{"delegation.granted", msg_grant_payload()}}) {
    for (const auto& [key, value] : c.payload.items()) {
      json missing = c.payload;
      missing.erase(key);
      msg_expect_bad(c.kind, missing.dump(), "without " + key);
      for (const json& wrong : {json(nullptr), json::array(), json::object(), json(1.5), json("x"), json(true), json(7)}) {
        if (wrong.type() == value.type()) continue;
        if (wrong.is_number() && value.is_number() && !wrong.is_number_float()) continue;
        json changed = c.payload;
        changed[key] = wrong;
        msg_expect_bad(c.kind, changed.dump(), key + " = " + wrong.dump());
      }
    }
  }
}

TEST(NotifyRender, ValuesOutOfRangeAreRefused) {
  auto with = [](json p, const std::string& key, const json& v) {
    p[key] = v;
    return p.dump();
  };
  const json s = msg_switch_payload();
  msg_expect_bad("party.switched", with(s, "direction", "sideways"), "direction");
  msg_expect_bad("party.switched", with(s, "direction", "IN"), "direction");
  msg_expect_bad("party.switched", with(s, "reason", "bored"), "reason");
  msg_expect_bad("party.switched", with(s, "delegation_id", 0), "delegation_id 0");
  msg_expect_bad("party.switched", with(s, "delegation_id", -3), "delegation_id < 0");
  msg_expect_bad("party.switched", with(s, "delegation_id", 18446744073709551615ULL), "delegation_id too big");
  msg_expect_bad("party.switched", with(s, "delegation_id", "42"), "delegation_id as string");
  msg_expect_bad("party.switched", with(s, "at", -1), "at < 0");
  msg_expect_bad("party.switched", with(s, "at", 9223372036854775807LL), "at too late");
  msg_expect_bad("party.switched", with(s, "at", 1e20), "at as float");
  json none = s;
  none["tenant"] = "";
  none["tenant_name"] = "";
  msg_expect_bad("party.switched", none.dump(), "no tenant");
  none = s;
  none["user"] = "";
  none["display_name"] = "";
  msg_expect_bad("party.switched", none.dump(), "no user");

  const json g = msg_grant_payload();
  msg_expect_bad("delegation.granted", with(g, "until", -5), "until < 0");
  msg_expect_bad("delegation.granted", with(g, "email", ""), "no email");
  msg_expect_bad("delegation.granted", with(g, "public_url", ""), "no url");
  msg_expect_bad("delegation.granted", with(g, "public_url", "javascript:alert(1)"), "script url");
  msg_expect_bad("delegation.granted", with(g, "public_url", "https://a.example/\r\nBcc: x@y"), "url with CRLF");
  msg_expect_bad("delegation.granted", with(g, "public_url", "https://a.example/ x"), "url with space");
}

TEST(NotifyRender, DeeplyNestedOrHugePayloadDoesNotCrash) {
  std::string deep = "{\"x\":" + std::string(20000, '[') + std::string(20000, ']') + "}";
  msg_expect_bad("party.switched", deep, "deep nesting");
  msg_expect_bad("party.switched", std::string(50000, '['), "unterminated nesting");
  json p = msg_switch_payload();
  p["display_name"] = std::string(100000, 'A');
  auto r = render(msg_make("party.switched", "en", p.dump()));
  ASSERT_TRUE(r.ok());
  EXPECT_LE(r->subject.size(), 200u);
}

TEST(NotifyRender, UnknownKindAndBadRecipient) {
  auto r = render(msg_make("party.exploded", "en", msg_switch_payload().dump()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "notify.unknown_kind");
  auto m = msg_make("party.switched", "en", msg_switch_payload().dump());
  m.recipient = "victim@example.org\r\nBcc: all@example.org";
  r = render(m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "notify.bad_address");
  m.recipient = "";
  EXPECT_FALSE(render(m).ok());
}

TEST(NotifyRender, NamesWithLineBreaksEndUpInTheBodyOnly) {
  json p = msg_switch_payload();
  p["display_name"] = "Eve\r\nBcc: everyone@example.org";
  p["tenant_name"] = "Globex\nX-Injected: yes";
  p["real_party_name"] = "Evil\x01\x7F Corp";
  Mail m = msg_render_ok("party.switched", "en", p);
  EXPECT_EQ(m.subject.find('\r'), std::string::npos);
  EXPECT_EQ(m.subject.find('\n'), std::string::npos);
  EXPECT_EQ(m.subject, "Eve Bcc: everyone@example.org (Evil Corp) is now acting for Globex X-Injected: yes");
  // In the body, on one line each: no line of the body begins with the injected names.
  msg_expect_contains(m.text, {"Eve Bcc: everyone@example.org", "Globex X-Injected: yes"});
  EXPECT_EQ(m.text.find("\nBcc:"), std::string::npos);
  EXPECT_EQ(m.text.find("\nX-Injected"), std::string::npos);
  EXPECT_EQ(m.text.find('\r'), std::string::npos);

  // And in the composed message the header block has exactly the headers gatehouse writes.
  const std::string raw = compose_message(m, "gatehouse <noreply@gate.example>", "gate.example", kMsgAt);
  const std::string head = raw.substr(0, raw.find("\r\n\r\n") + 2);
  EXPECT_EQ(head.find("\r\nBcc:"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\nX-Injected"), std::string::npos) << head;
}

}  // namespace
}  // namespace gatehouse::notify
