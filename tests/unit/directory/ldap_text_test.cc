#include "directory/ldap_text.h"

#include <gtest/gtest.h>

#include "directory/ldap_directory.h"

namespace gatehouse::directory::ldap {
namespace {

struct FilterCase {
  std::string input;
  std::string escaped;
};

class FilterEscaping : public testing::TestWithParam<FilterCase> {};

TEST_P(FilterEscaping, LeavesNothingAFilterCouldInterpret) {
  EXPECT_EQ(escape_filter_value(GetParam().input), GetParam().escaped);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc4515, FilterEscaping,
    testing::Values(FilterCase{"alice", "alice"}, FilterCase{"*", "\\2A"}, FilterCase{"a*", "a\\2A"},
                    FilterCase{"*)(uid=*", "\\2A\\29\\28uid=\\2A"},
                    FilterCase{"admin)(|(uid=*", "admin\\29\\28|\\28uid=\\2A"},
                    FilterCase{"\\", "\\5C"}, FilterCase{std::string("a\0b", 3), "a\\00b"},
                    FilterCase{"j\xc3\xbcrgen", "j\\C3\\BCrgen"}));

TEST(DnEscaping, EscapesSpecialCharactersOfRfc4514) {
  EXPECT_EQ(escape_dn_value("alice"), "alice");
  EXPECT_EQ(escape_dn_value("a,ou=admins"), "a\\2Cou\\3Dadmins");
  EXPECT_EQ(escape_dn_value("x+cn=y"), "x\\2Bcn\\3Dy");
  EXPECT_EQ(escape_dn_value("#start"), "\\23start");
  EXPECT_EQ(escape_dn_value(" padded "), "\\20padded\\20");
  EXPECT_EQ(escape_dn_value("back\\slash\"quote<>;"), "back\\5Cslash\\22quote\\3C\\3E\\3B");
  auto unicode = escape_dn_value("j\xc3\xbcrgen");
  ASSERT_TRUE(unicode);
  // Whatever form libldap picks, it must read back as the same name.
  EXPECT_EQ(first_rdn_value("uid=" + *unicode + ",dc=example"), "j\xc3\xbcrgen");
}

TEST(FilterEscaping, AnEmptyValueIsAnEmptyString) {
  // Found by the ldap fuzzer: libldap answers "" with success and no buffer (was bad_alloc).
  EXPECT_EQ(escape_filter_value(""), "");
}

TEST(DnEscaping, MalformedUtf8IsRefusedNeverReadPast) {
  // Found by the ldap fuzzer: a value ending inside a UTF-8 sequence made libldap read the
  // bytes after it. The values below are views into a larger buffer whose next byte would
  // complete the sequence.
  const std::string buffer = "ab\xd3\x8a";
  EXPECT_EQ(escape_dn_value(std::string_view(buffer).substr(0, 3)), std::nullopt);
  for (std::string bad : {"\xd3", "a\xe2\x82", "\xf0\x9f\x98", "\x80", "\xc0\xaf", "\xed\xa0\x80",
                          "\xf5\x80\x80\x80", "\xff", "x\xc3"})
    EXPECT_EQ(escape_dn_value(bad), std::nullopt) << bad;
  for (std::string good : {"\xd3\x8a", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "plain"})
    EXPECT_TRUE(escape_dn_value(good).has_value()) << good;
}

TEST(DnEscaping, EscapedValueReadsBackUnchanged) {
  for (std::string v : {"a,ou=admins", "x+cn=y", "#start", " padded ", "back\\slash\"quote<>;", "=,+"}) {
    auto escaped = escape_dn_value(v);
    ASSERT_TRUE(escaped) << v;
    EXPECT_EQ(first_rdn_value("uid=" + *escaped + ",dc=example,dc=org"), v);
  }
}

TEST(Substitute, ReplacesEachPlaceholderOnceWithoutRescanning) {
  EXPECT_EQ(substitute("(member={dn})", {{"{dn}", "uid=a,dc=x"}}), "(member=uid=a,dc=x)");
  EXPECT_EQ(substitute("(&(a={username})(b={username}))", {{"{username}", "u"}}), "(&(a=u)(b=u))");
  // A value that looks like a placeholder stays as it is.
  EXPECT_EQ(substitute("({username}|{dn})", {{"{username}", "{dn}"}, {"{dn}", "D"}}), "({dn}|D)");
  EXPECT_EQ(substitute("{unknown}", {{"{dn}", "D"}}), "{unknown}");
}

TEST(Dn, FirstRdnValueAndDnsDomain) {
  EXPECT_EQ(first_rdn_value("CN=Engineers,OU=Groups,DC=corp,DC=example"), "Engineers");
  EXPECT_EQ(first_rdn_value("cn=a\\2cb,dc=x"), "a,b");
  EXPECT_FALSE(first_rdn_value("not a dn"));
  EXPECT_EQ(dns_domain_of("DC=Corp,DC=Example,DC=com"), "corp.example.com");
  EXPECT_EQ(dns_domain_of("OU=People,DC=gatehouse,DC=test"), "gatehouse.test");
  EXPECT_EQ(dns_domain_of("o=example"), "");
}

TEST(ActiveDirectory, BindSubcodeIsTheHexAfterData) {
  EXPECT_EQ(ad_bind_subcode("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
                            "data 52e, v4563"),
            0x52eu);
  EXPECT_EQ(ad_bind_subcode("... data 773, v1db1"), 0x773u);
  EXPECT_EQ(ad_bind_subcode("data 775"), 0x775u);
  EXPECT_FALSE(ad_bind_subcode("Invalid credentials"));
  EXPECT_FALSE(ad_bind_subcode("data zz"));
}

struct RefusalCase {
  std::string diagnostic;
  AuthStatus status;
};

class AdRefusals : public testing::TestWithParam<RefusalCase> {};

TEST_P(AdRefusals, MapToOutcomes) {
  const std::string diag = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, " +
                           GetParam().diagnostic + ", v4563";
  EXPECT_EQ(active_directory_refusal(BindRefusal{49, diag}).status, GetParam().status) << diag;
}

INSTANTIATE_TEST_SUITE_P(
    SubCodes, AdRefusals,
    testing::Values(RefusalCase{"data 52e", AuthStatus::bad_credentials},
                    RefusalCase{"data 525", AuthStatus::bad_credentials},
                    RefusalCase{"data 530", AuthStatus::disabled}, RefusalCase{"data 531", AuthStatus::disabled},
                    RefusalCase{"data 532", AuthStatus::password_expired},
                    RefusalCase{"data 533", AuthStatus::disabled}, RefusalCase{"data 701", AuthStatus::expired},
                    RefusalCase{"data 773", AuthStatus::must_change_password},
                    RefusalCase{"data 775", AuthStatus::locked},
                    RefusalCase{"data 999", AuthStatus::bad_credentials},
                    RefusalCase{"no sub-code", AuthStatus::bad_credentials}));

TEST(AdRefusals, OnlyInvalidCredentialsCarriesSubCodes) {
  // A sub-code in another result code's message is not trusted to mean anything.
  EXPECT_EQ(active_directory_refusal(BindRefusal{53, "data 773"}).status, AuthStatus::bad_credentials);
}

TEST(AdAccountState, UserAccountControlBits) {
  auto with_uac = [](std::string value) {
    Entry e;
    e.dn = "CN=x,DC=example";
    e.attributes.push_back({"userAccountControl", {std::move(value)}});
    return e;
  };
  EXPECT_FALSE(active_directory_account_state(with_uac("512")));  // normal account
  EXPECT_EQ(active_directory_account_state(with_uac("514"))->status, AuthStatus::disabled);
  EXPECT_EQ(active_directory_account_state(with_uac("528"))->status, AuthStatus::locked);  // 0x200 | 0x10
  EXPECT_FALSE(active_directory_account_state(with_uac("garbage")));
  EXPECT_FALSE(active_directory_account_state(with_uac("514x")));
  EXPECT_FALSE(active_directory_account_state(Entry{}));
}

}  // namespace
}  // namespace gatehouse::directory::ldap
