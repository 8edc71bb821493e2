#include "daemon/banner_injector.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::daemon::banner_injector_test {
namespace {

constexpr std::string_view kSnippet = "[[BANNER]]";

// Feeds `chunks` one by one, then finish(); the concatenation of everything handed back.
std::string inject_chunks(const std::vector<std::string_view>& chunks, bool* injected = nullptr) {
  BannerInjector injector{std::string(kSnippet)};
  std::string out;
  for (auto chunk : chunks) {
    const auto pieces = injector.feed(chunk);
    std::size_t total = 0;
    for (auto piece : pieces) {
      EXPECT_FALSE(piece.empty()) << "an empty piece would end a chunked body";
      out += piece;
      total += piece.size();
    }
    EXPECT_EQ(total, pieces.bytes());
  }
  for (auto piece : injector.finish()) out += piece;
  if (injected != nullptr) *injected = injector.injected();
  return out;
}

std::string inject_whole(std::string_view page, bool* injected = nullptr) { return inject_chunks({page}, injected); }

// The page with the snippet after its first `marker` (which must be there).
std::string expected_after(std::string_view page, std::string_view marker) {
  const auto at = page.find(marker);
  EXPECT_NE(at, std::string_view::npos) << marker;
  std::string out(page.substr(0, at + marker.size()));
  out += kSnippet;
  out += page.substr(at + marker.size());
  return out;
}

// Every way of cutting `page` in two chunks, and one byte at a time.
void expect_everywhere(std::string_view page, const std::string& expected) {
  EXPECT_EQ(inject_whole(page), expected);
  for (std::size_t cut = 0; cut <= page.size(); ++cut) {
    EXPECT_EQ(inject_chunks({page.substr(0, cut), page.substr(cut)}), expected) << "cut at " << cut;
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < page.size(); ++i) bytes.push_back(page.substr(i, 1));
  EXPECT_EQ(inject_chunks(bytes), expected) << "one byte at a time";
}

constexpr std::string_view kTrickyPage =
    "<!DOCTYPE html SYSTEM \"about:legacy-compat\">\n"
    "<html lang=\"de\"><head><meta charset=\"utf-8\">\n"
    "<title>Gr\xc3\xbc\xc3\x9f" "e <body> &amp; \xe6\x97\xa5\xe6\x9c\xac</title>\n"
    "<!-- <body class=\"in-comment\"> -- > still a comment <body> -->\n"
    "<meta name=\"x\" content=\"<body>\" data-y='<body>'>\n"
    "<script>var s = \"<body>\"; if (a < b && c > d) document.write(\"</scr\" + \"ipt><body>\");</script>\n"
    "<style>/* <body> */ p > a { color: red }</style>\n"
    "<noscript><body></noscript><template><body></template>\n"
    "<bodyx><bodyguard class=\"a\"></head>\n"
    "<BODY class=\"a>b\" data-q='c>d' data-u=e\xc3\xa9 onload=\"x()\">"
    "<p>Stra\xc3\x9f" "e \xe2\x80\x94 <body> again</p></body></html>\n";

TEST(BannerInjectorTest, InsertsAfterTheBodyTagInOneChunk) {
  constexpr std::string_view page = "<html><head><title>t</title></head><body><p>hi</p></body></html>";
  bool injected = false;
  EXPECT_EQ(inject_whole(page, &injected), expected_after(page, "<body>"));
  EXPECT_TRUE(injected);
}

TEST(BannerInjectorTest, TrickyPageCutAnywhere) {
  expect_everywhere(kTrickyPage, expected_after(kTrickyPage, "onload=\"x()\">"));
}

TEST(BannerInjectorTest, EveryCutIntoThreeChunks) {
  constexpr std::string_view page = "<!--<body>--><script><body></script><body a='>'>x";
  const std::string expected = expected_after(page, "<body a='>'>");
  for (std::size_t i = 0; i <= page.size(); ++i) {
    for (std::size_t j = i; j <= page.size(); ++j) {
      ASSERT_EQ(inject_chunks({page.substr(0, i), page.substr(i, j - i), page.substr(j)}), expected)
          << "cuts at " << i << " and " << j;
    }
  }
}

TEST(BannerInjectorTest, BodyTagSpellings) {
  for (std::string_view tag : {"<body>", "<BODY>", "<BoDy>", "<body class=x>", "<body\tclass=\"x\">", "<body\n>",
                               "<body/>", "<body />", "<body\r\nonload='f()'>", "<body a=\"1\"b=2>",
                               "<body a = \"x\" >", "<body =x>", "<body a=x/>", "<body a>", "<body a=>"}) {
    const std::string page = "<head></head>" + std::string(tag) + "<p>x</p>";
    EXPECT_EQ(inject_whole(page), expected_after(page, tag)) << tag;
  }
}

TEST(BannerInjectorTest, QuotedAttributeValuesMayHoldGreaterThan) {
  constexpr std::string_view page = "<body title=\"a > b\" data-x='>' data-y=\"'>'\">content";
  expect_everywhere(page, expected_after(page, "\"'>'\">"));
}

TEST(BannerInjectorTest, UnquotedValueWithQuoteCharactersEndsAtGreaterThan) {
  // A quote inside an unquoted value is an ordinary character (HTML tokenizer rules).
  constexpr std::string_view page = "<body data-x=a\"b>content \" more";
  EXPECT_EQ(inject_whole(page), expected_after(page, "a\"b>"));
}

TEST(BannerInjectorTest, OtherTagsStartingWithBodyAreNotIt) {
  bool injected = true;
  constexpr std::string_view only_lookalikes = "<bodyx><body-part><body_><body1>text</body>";
  EXPECT_EQ(inject_whole(only_lookalikes, &injected), only_lookalikes);
  EXPECT_FALSE(injected);
  constexpr std::string_view then_body = "<bodyx><body>";
  EXPECT_EQ(inject_whole(then_body), expected_after(then_body, "<body>"));
}

TEST(BannerInjectorTest, EndTagsAreNotIt) {
  constexpr std::string_view page = "</body></body foo=\"<body>\"></ body><body>x";
  expect_everywhere(page, std::string("</body></body foo=\"<body>\"></ body><body>") + std::string(kSnippet) + "x");
}

TEST(BannerInjectorTest, Comments) {
  struct Case {
    std::string_view page;
    std::string_view marker;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"<!-- <body> --><body>a", "--><body>"},
           {"<!--><body>a", "<!--><body>"},          // <!--> is a whole (empty) comment
           {"<!---><body>a", "<!---><body>"},        // so is <!--->
           {"<!-- a -- > <body> --!><body>a", "--!><body>"},
           {"<!-- a --- <body> ---><body>a", "---><body>"},
           {"<!DOCTYPE html><body>a", "<body>"},
           {"<? xml <body ?><body>a", "?><body>"},   // bogus comment up to the first '>'
           {"<![CDATA[ x ]]><body>a", "]]><body>"},
           {"<!x <body><body>a", "<!x <body><body>"},  // bogus comment up to the first '>'
       }) {
    EXPECT_EQ(inject_whole(c.page), expected_after(c.page, c.marker)) << c.page;
  }
  bool injected = true;
  constexpr std::string_view unterminated = "<!-- <body> <body class=x>";
  EXPECT_EQ(inject_whole(unterminated, &injected), unterminated);
  EXPECT_FALSE(injected);
}

TEST(BannerInjectorTest, ScriptAndRawTextContents) {
  struct Case {
    std::string_view page;
    std::string_view marker;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"<script>x = '<body>'</script><body>", "</script><body>"},
           {"<SCRIPT type=module>x='<body>'</Script ><body>", "</Script ><body>"},
           {"<script>a='</scripts><body>'</script><body>", "</script><body>"},
           {"<script>a='</scr'+'ipt><body>'</script><body>", "'</script><body>"},
           {"<script>a='</scrip><body>'</script><body>", "'</script><body>"},  // a prefix is not the name
           {"<title></tit><body></title><body>", "</title><body>"},
           {"<script><!-- <script></script><body> --></script><body>", "--></script><body>"},
           {"<script><!-- a --></script><body>", "--></script><body>"},
           {"<script><!--<script>x</script>--><body></script><body>", "--><body></script><body>"},
           {"<style>body:after{content:'<body>'}</style><body>", "</style><body>"},
           {"<title><body></title><body>", "</title><body>"},
           {"<textarea><body></textarea><body>", "</textarea><body>"},
           {"<noscript><body></noscript><body>", "</noscript><body>"},
           {"<iframe><body></iframe><body>", "</iframe><body>"},
           {"<xmp><body></xmp><body>", "</xmp><body>"},
           {"<noembed><body></noembed><noframes><body></noframes><body>", "</noframes><body>"},
           {"<template><body><template></template><body></template><body>", "</template><body></template><body>"},
           {"<script/><body></script><body>", "</script><body>"},  // <script/> still opens a script
       }) {
    const std::string expected = expected_after(c.page, c.marker);
    EXPECT_EQ(inject_whole(c.page), expected) << c.page;
  }
  constexpr std::string_view split = "<script>x = '<body>'</script><body>";
  expect_everywhere(split, expected_after(split, "</script><body>"));
}

TEST(BannerInjectorTest, UnclosedScriptHidesEverything) {
  bool injected = true;
  constexpr std::string_view page = "<script>a<body>";
  EXPECT_EQ(inject_whole(page, &injected), page);
  EXPECT_FALSE(injected);
}

TEST(BannerInjectorTest, PlaintextAndFramesetGiveUp) {
  for (std::string_view page : {"<plaintext><body>", "<frameset><body>"}) {
    BannerInjector injector{std::string(kSnippet)};
    std::string out;
    for (auto piece : injector.feed(page)) out += piece;
    EXPECT_EQ(out, page);
    EXPECT_TRUE(injector.decided());
    EXPECT_FALSE(injector.injected());
  }
}

TEST(BannerInjectorTest, OnlyTheFirstBodyTag) {
  constexpr std::string_view page = "<body><body><p><body>";
  BannerInjector injector{std::string(kSnippet)};
  std::string out;
  for (auto piece : injector.feed(page.substr(0, 3))) out += piece;
  for (auto piece : injector.feed(page.substr(3, 5))) out += piece;
  EXPECT_TRUE(injector.injected());
  for (auto piece : injector.feed(page.substr(8))) out += piece;
  EXPECT_EQ(out, expected_after(page, "<body>"));
}

TEST(BannerInjectorTest, EmptyBody) {
  bool injected = true;
  EXPECT_EQ(inject_chunks({}, &injected), "");
  EXPECT_FALSE(injected);
  EXPECT_EQ(inject_chunks({"", "", ""}), "");
  BannerInjector injector{std::string(kSnippet)};
  EXPECT_TRUE(injector.feed("").empty());
  EXPECT_TRUE(injector.finish().empty());
  EXPECT_TRUE(injector.decided());
}

TEST(BannerInjectorTest, PageThatIsOnlyTheBodyTag) {
  expect_everywhere("<body>", "<body>" + std::string(kSnippet));
  bool injected = false;
  EXPECT_EQ(inject_chunks({"<body", ">"}, &injected), "<body>" + std::string(kSnippet));
  EXPECT_TRUE(injected);
}

TEST(BannerInjectorTest, IncompleteBodyTagAtTheEndPassesThrough) {
  for (std::string_view page : {"<body", "<body class=\"x>", "<bo", "<", "<body a='>"}) {
    bool injected = true;
    EXPECT_EQ(inject_chunks({page.substr(0, 1), page.substr(1)}, &injected), page);
    EXPECT_FALSE(injected);
  }
}

TEST(BannerInjectorTest, Utf8ContentKeptByteForByte) {
  const std::string page =
      "<html><head><title>\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80</title></head>"
      "<body data-name=\"M\xc3\xbcller \xe2\x80\x9e>\xe2\x80\x9c\">\xc3\x84\xc3\x96\xc3\x9c \xf0\x9f\x8e\x89";
  expect_everywhere(page, expected_after(page, "\xe2\x80\x9c\">"));
}

TEST(BannerInjectorTest, PiecesAreViewsNotCopies) {
  const std::string head = "<html><head></head><bo";
  const std::string rest = "dy class=\"x\">page";
  BannerInjector injector{std::string(kSnippet)};
  auto first = injector.feed(head);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].data(), head.data()) << "passed through, not copied";
  EXPECT_EQ(first[0].size(), head.size()) << "nothing held back";
  auto second = injector.feed(rest);
  ASSERT_EQ(second.size(), 3u);
  EXPECT_EQ(second[0].data(), rest.data());
  EXPECT_EQ(second[0], "dy class=\"x\">");
  EXPECT_EQ(second[1], kSnippet);
  EXPECT_EQ(second[2].data(), rest.data() + second[0].size());
  EXPECT_EQ(second[2], "page");
  const std::string after = "more";
  auto third = injector.feed(after);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].data(), after.data());
  EXPECT_EQ(third[0].size(), after.size());
  EXPECT_TRUE(injector.finish().empty());
}

TEST(BannerInjectorTest, SnippetAtTheEndOfAChunkMakesTwoPieces) {
  BannerInjector injector{std::string(kSnippet)};
  auto pieces = injector.feed("<p><body>");
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0], "<p><body>");
  EXPECT_EQ(pieces[1], kSnippet);
}

// --- The 64 KiB limit -------------------------------------------------------------------

// A page whose opening body tag ends (its '>') at byte offset `gt_at`.
std::string page_with_body_ending_at(std::size_t gt_at) {
  std::string page = "<!DOCTYPE html><html><head>";
  constexpr std::string_view tag = "<body class=\"x\">";
  EXPECT_LT(page.size() + tag.size(), gt_at);
  page += "<!--";
  page.append(gt_at + 1 - tag.size() - page.size() - 3, 'x');
  page += "-->";
  page += tag;
  EXPECT_EQ(page.size(), gt_at + 1);
  EXPECT_EQ(page[gt_at], '>');
  page += "<p>content</p>";
  return page;
}

// `page` in chunks of `size` bytes.
std::vector<std::string_view> chunked(std::string_view page, std::size_t size) {
  std::vector<std::string_view> chunks;
  for (std::size_t at = 0; at < page.size(); at += size) chunks.push_back(page.substr(at, size));
  return chunks;
}

TEST(BannerInjectorTest, NoBodyTagWithinTheLimitPassesThroughByteForByte) {
  std::string page = "<!DOCTYPE html><html><head><title>x</title></head><div>";
  while (page.size() < 200 * 1024) page += "<p class=\"c\">lorem ipsum \xc3\xa9 &amp; <b>dolor</b></p>\n";
  page += "</div></html>";
  for (std::size_t size : {std::size_t{64 * 1024}, std::size_t{1000}, std::size_t{1}, page.size()}) {
    bool injected = true;
    const std::string out = inject_chunks(chunked(page, size), &injected);
    EXPECT_FALSE(injected) << size;
    EXPECT_TRUE(out == page) << "chunk size " << size;
  }
}

TEST(BannerInjectorTest, BodyTagLaterThanTheLimitIsLeftAlone) {
  std::string page(100 * 1024, 'x');
  page += "<body>y";
  bool injected = true;
  EXPECT_TRUE(inject_chunks(chunked(page, 64 * 1024), &injected) == page);
  EXPECT_FALSE(injected);
}

TEST(BannerInjectorTest, BodyTagEndingOnTheLastByteOfTheLimit) {
  const std::string page = page_with_body_ending_at(BannerInjector::kScanLimit - 1);
  const std::string expected = expected_after(page, "<body class=\"x\">");
  for (std::size_t size : {std::size_t{64 * 1024}, std::size_t{4096}, std::size_t{7}, page.size()}) {
    bool injected = false;
    EXPECT_TRUE(inject_chunks(chunked(page, size), &injected) == expected) << size;
    EXPECT_TRUE(injected) << size;
  }
}

TEST(BannerInjectorTest, BodyTagEndingJustPastTheLimit) {
  // The tag starts within the first 64 KiB but its '>' is the first byte after them.
  const std::string page = page_with_body_ending_at(BannerInjector::kScanLimit);
  for (std::size_t size : {std::size_t{64 * 1024}, std::size_t{4096}, std::size_t{7}, page.size()}) {
    bool injected = true;
    EXPECT_TRUE(inject_chunks(chunked(page, size), &injected) == page) << size;
    EXPECT_FALSE(injected) << size;
  }
}

TEST(BannerInjectorTest, DecidedOnceTheLimitIsReached) {
  const std::string head(BannerInjector::kScanLimit, ' ');
  BannerInjector injector{std::string(kSnippet)};
  EXPECT_EQ(injector.feed(std::string_view(head).substr(0, 100)).bytes(), 100u);
  EXPECT_FALSE(injector.decided());
  EXPECT_EQ(injector.feed(std::string_view(head).substr(100)).bytes(), head.size() - 100);
  EXPECT_TRUE(injector.decided());
  EXPECT_FALSE(injector.injected());
  const auto pieces = injector.feed("<body>");
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0], "<body>");
}

// --- banner_html / banner_css -------------------------------------------------------------

BannerModel sample_banner() {
  BannerModel m;
  m.effective_party = "Customer Ltd";
  m.real_party = "Acme & Sons";
  m.switcher_url = "/.gatehouse/parties?rd=%2Fapp%3Fa%3D1&x=2";
  return m;
}

bool has(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

TEST(BannerHtmlTest, ShowsBothPartiesAndTheSwitcher) {
  const std::string html = banner_html(sample_banner());
  EXPECT_TRUE(html.starts_with("<link rel=\"stylesheet\" href=\"/.gatehouse/banner.css\">")) << html;
  EXPECT_TRUE(has(html, "<div class=\"gatehouse-banner\" role=\"region\" aria-label=\"Delegation\" lang=\"en\">"))
      << html;
  EXPECT_TRUE(has(html, "<strong class=\"gatehouse-banner-party\">Customer Ltd</strong>")) << html;
  EXPECT_TRUE(has(html, "<strong class=\"gatehouse-banner-party\">Acme &amp; Sons</strong>")) << html;
  EXPECT_TRUE(has(html, "You are acting for ")) << html;
  EXPECT_TRUE(has(html, "href=\"/.gatehouse/parties?rd=%2Fapp%3Fa%3D1&amp;x=2\">Switch organisation</a>")) << html;
  EXPECT_FALSE(has(html, "gatehouse-banner-notice")) << "no notice given";
  EXPECT_TRUE(html.ends_with("</div>"));
}

TEST(BannerHtmlTest, CspSafe) {
  BannerModel m = sample_banner();
  m.notice = "You now act for Customer Ltd.";
  const std::string html = banner_html(m);
  EXPECT_FALSE(has(html, "style=")) << "no inline style: a page CSP without 'unsafe-inline' refuses it";
  EXPECT_FALSE(has(html, "<style")) << html;
  EXPECT_FALSE(has(html, "<script")) << html;
  EXPECT_FALSE(has(html, " on")) << "no event handler attribute";
  EXPECT_FALSE(has(html, "javascript:")) << html;
  // Every class is gatehouse's own.
  for (std::size_t at = html.find("class=\""); at != std::string::npos; at = html.find("class=\"", at + 1)) {
    EXPECT_EQ(html.compare(at + 7, 16, "gatehouse-banner"), 0) << html.substr(at);
  }
}

TEST(BannerHtmlTest, OneTimeNotice) {
  BannerModel m = sample_banner();
  m.notice = "You now act for <Customer> Ltd.";
  const std::string html = banner_html(m);
  EXPECT_TRUE(has(html, "<p class=\"gatehouse-banner-notice\" role=\"status\">You now act for &lt;Customer&gt; Ltd.</p>"))
      << html;
}

TEST(BannerHtmlTest, EverythingEscaped) {
  BannerModel m;
  m.effective_party = "<script>alert('effective')</script>";
  m.real_party = "\"><img src=x onerror=alert(1)>";
  m.switcher_url = "/.gatehouse/parties?rd=\"><script>alert('url')</script>";
  m.notice = "<script>alert('notice')</script>";
  m.stylesheet_url = "/x.css\"><script>alert('css')</script>";
  const std::string html = banner_html(m);
  EXPECT_FALSE(has(html, "<script")) << html;
  EXPECT_FALSE(has(html, "<img")) << html;
  EXPECT_TRUE(has(html, "&lt;script&gt;alert(&#39;effective&#39;)&lt;/script&gt;")) << html;
  EXPECT_TRUE(has(html, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;")) << html;
  EXPECT_TRUE(has(html, "&lt;script&gt;alert(&#39;notice&#39;)&lt;/script&gt;")) << html;
  // Attribute values stay within their quotes.
  EXPECT_TRUE(has(html, "href=\"/.gatehouse/parties?rd=&quot;&gt;&lt;script&gt;alert(&#39;url&#39;)&lt;/script&gt;\""))
      << html;
}

TEST(BannerHtmlTest, TranslatedText) {
  BannerModel m = sample_banner();
  m.text.lang = "de";
  m.text.region_label = "Vertretung";
  m.text.acting_for = "Sie handeln f\xc3\xbcr {effective} <im Auftrag> von {real} {unknown} {";
  m.text.switch_link = "Organisation wechseln";
  const std::string html = banner_html(m);
  EXPECT_TRUE(has(html, "aria-label=\"Vertretung\" lang=\"de\"")) << html;
  EXPECT_TRUE(has(html,
                  "Sie handeln f\xc3\xbcr <strong class=\"gatehouse-banner-party\">Customer Ltd</strong> "
                  "&lt;im Auftrag&gt; von <strong class=\"gatehouse-banner-party\">Acme &amp; Sons</strong> "
                  "{unknown} {</p>"))
      << html;
  EXPECT_TRUE(has(html, ">Organisation wechseln</a>")) << html;
}

TEST(BannerHtmlTest, InjectedIntoAPage) {
  const std::string snippet = banner_html(sample_banner());
  BannerInjector injector{snippet};
  std::string out;
  for (auto piece : injector.feed("<html><body class=\"app\"><h1>App</h1>")) out += piece;
  for (auto piece : injector.finish()) out += piece;
  EXPECT_EQ(out, "<html><body class=\"app\">" + snippet + "<h1>App</h1>");
}

TEST(BannerCssTest, StylesOnlyItsOwnClasses) {
  const std::string_view css = banner_css();
  EXPECT_TRUE(has(css, ".gatehouse-banner{")) << css;
  EXPECT_TRUE(has(css, "all:initial")) << css;
  EXPECT_FALSE(has(css, "position:fixed")) << "in the normal flow: it must not cover the page";
  EXPECT_FALSE(has(css, "<")) << "nothing that could close a <style> or look like markup";
  EXPECT_FALSE(has(css, "@import")) << css;
  EXPECT_FALSE(has(css, "url(")) << "no further requests";
  // Every selector is scoped to the banner.
  std::size_t rules = 0;
  std::string_view rest = css;
  while (!rest.empty()) {
    const auto open = rest.find('{');
    if (open == std::string_view::npos) break;
    std::string_view selectors = rest.substr(0, open);
    const auto comment_end = selectors.rfind("*/");
    if (comment_end != std::string_view::npos) selectors.remove_prefix(comment_end + 2);
    while (!selectors.empty() && (selectors.front() == '\n' || selectors.front() == '}')) selectors.remove_prefix(1);
    if (!selectors.starts_with("@media")) {
      ++rules;
      std::string_view list = selectors;
      while (!list.empty()) {
        const auto comma = list.find(',');
        EXPECT_TRUE(list.starts_with(".gatehouse-banner")) << "unscoped selector: " << list;
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      }
    }
    rest.remove_prefix(open + 1);
    rest.remove_prefix(std::min(rest.size(), rest.find('}') + 1));
  }
  EXPECT_GE(rules, 5u);
}

// --- banner_eligible ----------------------------------------------------------------------

http::fields header_with(std::initializer_list<std::pair<http::field, std::string_view>> values) {
  http::fields f;
  for (const auto& [name, value] : values) f.insert(name, value);
  return f;
}

TEST(BannerEligibleTest, ContentTypes) {
  struct Case {
    std::string_view content_type;
    bool eligible;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"text/html", true},
           {"text/html; charset=utf-8", true},
           {"TEXT/HTML", true},
           {"Text/Html;charset=\"UTF-8\"", true},
           {" text/html ; charset=iso-8859-1", true},
           {"application/json", false},
           {"image/png", false},
           {"text/plain", false},
           {"text/htmlx", false},
           {"application/xhtml+xml", false},
           {"text/html-sandboxed", false},
           {"", false},
       }) {
    EXPECT_EQ(banner_eligible(header_with({{http::field::content_type, c.content_type}}), 200, http::verb::get),
              c.eligible)
        << c.content_type;
  }
  EXPECT_FALSE(banner_eligible(http::fields{}, 200, http::verb::get)) << "no Content-Type";
  EXPECT_FALSE(banner_eligible(header_with({{http::field::content_type, "text/html"},
                                            {http::field::content_type, "application/json"}}),
                               200, http::verb::get))
      << "two Content-Types";
}

TEST(BannerEligibleTest, Encodings) {
  struct Case {
    http::field field;
    std::string_view value;
    bool eligible;
  };
  for (const Case& c : std::initializer_list<Case>{
           {http::field::content_encoding, "gzip", false},
           {http::field::content_encoding, "br", false},
           {http::field::content_encoding, "identity", true},
           {http::field::content_encoding, "Identity", true},
           {http::field::content_encoding, "identity, gzip", false},
           {http::field::content_encoding, "", true},
           {http::field::transfer_encoding, "chunked", true},
           {http::field::transfer_encoding, "gzip, chunked", false},
           {http::field::content_disposition, "attachment; filename=\"page.html\"", false},
           {http::field::content_disposition, "inline", true},
           {http::field::content_range, "bytes 0-99/1000", false},
       }) {
    auto f = header_with({{http::field::content_type, "text/html; charset=utf-8"}, {c.field, c.value}});
    EXPECT_EQ(banner_eligible(f, 200, http::verb::get), c.eligible) << c.field << ": " << c.value;
  }
}

TEST(BannerEligibleTest, MethodsAndStatuses) {
  const auto html = header_with({{http::field::content_type, "text/html"}});
  EXPECT_TRUE(banner_eligible(html, 200, http::verb::get));
  EXPECT_TRUE(banner_eligible(html, 200, http::verb::post));
  EXPECT_TRUE(banner_eligible(html, 201, http::verb::put));
  EXPECT_TRUE(banner_eligible(html, 302, http::verb::get)) << "a redirect's body is a page too";
  EXPECT_TRUE(banner_eligible(html, 404, http::verb::get));
  EXPECT_TRUE(banner_eligible(html, 500, http::verb::get));
  EXPECT_FALSE(banner_eligible(html, 200, http::verb::head));
  EXPECT_FALSE(banner_eligible(html, 404, http::verb::head));
  EXPECT_FALSE(banner_eligible(html, 200, http::verb::connect));
  EXPECT_FALSE(banner_eligible(html, 204, http::verb::get));
  EXPECT_FALSE(banner_eligible(html, 205, http::verb::get));
  EXPECT_FALSE(banner_eligible(html, 206, http::verb::get));
  EXPECT_FALSE(banner_eligible(html, 304, http::verb::get));
  EXPECT_FALSE(banner_eligible(html, 100, http::verb::get));
  EXPECT_FALSE(banner_eligible(html, 101, http::verb::get));
}

}  // namespace
}  // namespace gatehouse::daemon::banner_injector_test
