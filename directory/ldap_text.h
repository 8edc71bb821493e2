#pragma once
// Text rules of LDAP that a directory must get exactly right: escaping user input into
// filters (RFC 4515) and DNs (RFC 4514), reading names out of DNs, and Active
// Directory's bind sub-codes. Escaping is done by libldap, not by hand.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::directory::ldap {

// A value for an assertion inside a search filter: `*`, `(`, `)`, `\`, NUL and
// non-ASCII bytes become \XX, so "*)(uid=*" matches only itself.
std::string escape_filter_value(std::string_view value);

// A value for an attribute inside a DN: `,`, `+`, `"`, `\`, `<`, `>`, `;`, `=`, a
// leading `#` or space and a trailing space are escaped. nullopt when libldap cannot
// write it (e.g. not UTF-8).
std::optional<std::string> escape_dn_value(std::string_view value);

// Replaces each placeholder ("{username}", "{dn}", …) in one left-to-right pass; text
// that a replacement brings in is never scanned again.
std::string substitute(std::string_view text,
                       const std::vector<std::pair<std::string_view, std::string>>& values);

// The value of the first RDN ("CN=Engineers,OU=Groups,…" -> "Engineers"); nullopt when
// `dn` is not a DN.
std::optional<std::string> first_rdn_value(std::string_view dn);

// The DNS domain a base DN names: "DC=corp,DC=example,DC=com" -> "corp.example.com";
// "" when it has no DC components.
std::string dns_domain_of(std::string_view base_dn);

// Active Directory explains a refused bind in the diagnostic message:
// "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563".
// Returns the hexadecimal code after "data " (0x52e), or nullopt.
std::optional<unsigned> ad_bind_subcode(std::string_view diagnostic);

bool iequals(std::string_view a, std::string_view b);

}  // namespace gatehouse::directory::ldap
