#include "daemon/request_head.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace gatehouse::daemon {
namespace {

// A request head as the parser hands it over: version, target and fields in order.
http::request_header<> head(unsigned version, std::string target,
                            std::vector<std::pair<std::string, std::string>> fields) {
  http::request_header<> h;
  h.method(http::verb::post);
  h.version(version);
  h.target(target);
  for (auto& [n, v] : fields) h.insert(n, v);
  return h;
}

struct RefusedCase {
  const char* what;
  unsigned version;
  std::string target;
  std::vector<std::pair<std::string, std::string>> fields;
  http::status status;
};

void PrintTo(const RefusedCase& c, std::ostream* os) { *os << c.what; }

class RequestHeadRefused : public ::testing::TestWithParam<RefusedCase> {};

TEST_P(RequestHeadRefused, WithItsStatus) {
  const auto& c = GetParam();
  auto result = check_request_head(head(c.version, c.target, c.fields));
  ASSERT_TRUE(std::holds_alternative<HeadRefusal>(result)) << c.what;
  EXPECT_EQ(std::get<HeadRefusal>(result).status, c.status) << c.what;
  EXPECT_FALSE(std::get<HeadRefusal>(result).reason.empty());
}

const auto bad = http::status::bad_request;
const auto unimplemented = http::status::not_implemented;
using F = std::vector<std::pair<std::string, std::string>>;

INSTANTIATE_TEST_SUITE_P(
    Table, RequestHeadRefused,
    ::testing::Values(
        // Transfer-Encoding whose final coding is not chunked: the body's end is unknown.
        RefusedCase{"TE identity", 11, "/x", F{{"Host", "h"}, {"Transfer-Encoding", "identity"}}, bad},
        RefusedCase{"TE chunked, identity", 11, "/x", F{{"Host", "h"}, {"Transfer-Encoding", "chunked, identity"}}, bad},
        RefusedCase{"TE gzip", 11, "/x", F{{"Host", "h"}, {"Transfer-Encoding", "gzip"}}, bad},
        RefusedCase{"TE chunked then identity field", 11, "/x",
                    F{{"Host", "h"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "identity"}}, bad},
        RefusedCase{"TE empty", 11, "/x", F{{"Host", "h"}, {"Transfer-Encoding", ""}}, bad},
        RefusedCase{"TE trailing comma", 11, "/x", F{{"Host", "h"}, {"Transfer-Encoding", "chunked,"}}, bad},
        RefusedCase{"TE chunkedx", 11, "/x", F{{"Host", "h"}, {"Transfer-Encoding", "chunkedx"}}, bad},
        RefusedCase{"TE in HTTP/1.0", 10, "/x", F{{"Host", "h"}, {"Transfer-Encoding", "chunked"}}, bad},
        RefusedCase{"TE and CL", 11, "/x", F{{"Host", "h"}, {"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}, bad},
        // Codings gatehouse does not implement, before a final chunked.
        RefusedCase{"TE gzip, chunked", 11, "/x", F{{"Host", "h"}, {"Transfer-Encoding", "gzip, chunked"}}, unimplemented},
        RefusedCase{"TE chunked, chunked", 11, "/x", F{{"Host", "h"}, {"Transfer-Encoding", "chunked, chunked"}},
                    unimplemented},
        // Host.
        RefusedCase{"two Host headers", 11, "/x", F{{"Host", "a"}, {"Host", "b"}}, bad},
        RefusedCase{"two equal Host headers", 11, "/x", F{{"Host", "a"}, {"host", "a"}}, bad},
        RefusedCase{"no Host in 1.1", 11, "/x", F{}, bad},
        RefusedCase{"Host with two ports", 11, "/x", F{{"Host", "secure.example.org:80:80"}}, bad},
        RefusedCase{"Host with userinfo", 11, "/x", F{{"Host", "u@secure.example.org"}}, bad},
        RefusedCase{"empty Host", 11, "/x", F{{"Host", ""}}, bad},
        RefusedCase{"malformed Host in 1.0", 10, "/x", F{{"Host", "a b"}}, bad},
        // absolute-form held to the same rule.
        RefusedCase{"absolute-form two ports", 11, "http://secure.example.org:80:80/x", F{{"Host", "h"}}, bad},
        RefusedCase{"absolute-form userinfo", 11, "http://u:p@secure.example.org/x", F{{"Host", "h"}}, bad},
        RefusedCase{"absolute-form empty authority", 11, "http:///x", F{{"Host", "h"}}, bad},
        RefusedCase{"absolute-form bad port", 11, "http://h:0/x", F{{"Host", "h"}}, bad},
        // The target.
        RefusedCase{"encoded slash", 11, "/a%2fb", F{{"Host", "h"}}, bad},
        RefusedCase{"authority-form", 11, "h:443", F{{"Host", "h"}}, bad}));

TEST(RequestHeadTest, RoutesByTheHostWithoutPortAndSendsTheHeaderAsWritten) {
  auto r = check_request_head(head(11, "/a/../b", F{{"Host", "App.Example.ORG:8080"}}));
  ASSERT_TRUE(std::holds_alternative<RequestHead>(r));
  const auto& h = std::get<RequestHead>(r);
  EXPECT_EQ(h.host, "app.example.org");
  EXPECT_EQ(h.host_header, "App.Example.ORG:8080");
  EXPECT_EQ(h.target.path, "/b");
}

TEST(RequestHeadTest, AbsoluteFormRoutesByItsOwnAuthority) {
  // RFC 9112 3.2.2: the target's authority replaces Host.
  auto r = check_request_head(head(11, "http://Secure.Example.org:8080/admin?x=1", F{{"Host", "public.example.org"}}));
  ASSERT_TRUE(std::holds_alternative<RequestHead>(r));
  const auto& h = std::get<RequestHead>(r);
  EXPECT_EQ(h.host, "secure.example.org");
  EXPECT_EQ(h.host_header, "Secure.Example.org:8080");
  EXPECT_EQ(h.target.path, "/admin");
  EXPECT_EQ(h.target.query, "x=1");
}

TEST(RequestHeadTest, Http10WithoutHostIsAcceptedWithNoHost) {
  auto r = check_request_head(head(10, "/x", F{}));
  ASSERT_TRUE(std::holds_alternative<RequestHead>(r));
  EXPECT_EQ(std::get<RequestHead>(r).host, "");
  EXPECT_EQ(std::get<RequestHead>(r).host_header, "");
}

TEST(RequestHeadTest, PlainChunkedInAnyCaseIsAccepted) {
  for (const char* te : {"chunked", "Chunked", "CHUNKED", " chunked "}) {
    auto r = check_request_head(head(11, "/x", F{{"Host", "h"}, {"Transfer-Encoding", te}}));
    EXPECT_TRUE(std::holds_alternative<RequestHead>(r)) << te;
  }
}

}  // namespace
}  // namespace gatehouse::daemon
