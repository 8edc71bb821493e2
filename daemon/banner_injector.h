#pragma once
// The delegation banner: while a user acts for another organisation, every text/html page
// that passes through gatehouse shows a bar at the top of its <body>.
//
//   banner_eligible()  whether a response may be rewritten at all (from its header);
//   banner_html()      the snippet, escaped, CSP-safe (no inline style, no script);
//   banner_css()       its stylesheet, served same-origin at /.gatehouse/banner.css;
//   BannerInjector     inserts the snippet right after the opening <body …> tag while the
//                      body streams through, chunk by chunk.
//
// Wiring into the relay loop of Gateway::proxy (a sketch):
//
//   std::optional<BannerInjector> banner;
//   if (banner_applies && banner_eligible(ures, ures.result_int(), creq.method()))
//     banner.emplace(banner_html(model));
//   // When injecting the body length changes: do not copy Content-Length to the client
//   // but send the body chunked (HTTP/1.1 client) or close-delimited (HTTP/1.0 client:
//   // close the connection after the body). Also drop the upstream's ETag, Content-MD5,
//   // Content-Digest/Repr-Digest (they describe other bytes) and keep the answer out of
//   // shared caches (it is personal: Cache-Control private, unless no-store already).
//   …
//   // each time n bytes of upstream body were read into buf:
//   for (std::string_view piece : banner->feed({buf, n}))
//     write piece as body data, more = true;   // never an empty piece
//   // at the end of the upstream body:
//   for (std::string_view piece : banner->finish()) write piece, more = true;
//   then the last (empty) write with more = false.
//
// Without the banner the loop stays as it is.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>

namespace gatehouse::daemon {

namespace http = boost::beast::http;

// Whether the banner may be put into this response: a body is sent (not a HEAD request,
// not CONNECT, not 1xx/204/205/304, not a 206 part or anything with Content-Range),
// exactly one Content-Type whose media type is text/html (any case, any parameters),
// no Content-Encoding other than identity, no Transfer-Encoding other than chunked or
// identity, and not a download (Content-Disposition: attachment). Any other status with a
// body qualifies (a 404 or 500 page shows the banner too). `response` is the upstream
// answer's header as received, before build_downstream_fields() removes hop-by-hop
// fields. Whether the user acts for another party and the route's `banner` setting are
// the caller's to check.
bool banner_eligible(const http::fields& response, unsigned status, http::verb request_method);

// The banner's wording, one value per language (English by default). Translations fill
// another BannerText; the strings are plain text (escaped when rendered). In
// `acting_for`, "{effective}" and "{real}" stand for the two parties' display names.
struct BannerText {
  std::string_view lang = "en";  // the banner's lang attribute
  std::string_view region_label = "Delegation";  // accessible name of the bar
  std::string_view acting_for = "You are acting for {effective} (your own organisation: {real}).";
  std::string_view switch_link = "Switch organisation";
};

struct BannerModel {
  std::string effective_party;  // display name of the party the user acts for; "": notice only
  std::string real_party;       // display name of the user's own party
  std::string switcher_url;     // "/.gatehouse/parties?rd=…", built and validated by the caller
  std::string notice;           // one-time notice (e.g. "You now act for Customer Ltd."); "" = none
  // Same-origin stylesheet: allowed by a page CSP with style-src 'self'. Under a stricter
  // page CSP it is refused and the bar is still there, unstyled, in the normal flow. A
  // page's <base href> changes what relative URLs resolve to: the caller may pass both
  // URLs absolute (https://host/.gatehouse/…) to be immune to it.
  std::string stylesheet_url = "/.gatehouse/banner.css";
  BannerText text;
};

// The snippet inserted after <body …>: a <link rel="stylesheet"> and one block element in
// the normal flow (it pushes the page down rather than covering it), classes prefixed
// "gatehouse-banner", no style attribute, no script. Every value is HTML-escaped.
std::string banner_html(const BannerModel& model);

// The stylesheet for banner_html() (to be served as text/css). It resets its own
// elements (all: initial, !important) so that the page's CSS does not restyle the bar.
std::string_view banner_css();

// Streams an HTML body through, inserting `snippet` right after the first opening body
// tag: "<body" in any case followed by whitespace, '/' or '>', up to its closing '>'
// (quoted attribute values may contain '>'). A tokenizer following the HTML parsing rules
// keeps its state from one chunk to the next, so a tag split anywhere across chunks is
// found, and "<body>" in a comment, a <script>, <style>, <title>, <textarea>, … or in an
// attribute value, or a <bodyx> tag, is not taken for it; nor is a body tag inside a
// <template>.
//
// Nothing is held back: every byte fed is handed back in the same call (the tag's bytes
// too, as the snippet goes after it), so there is no buffer and no copy; the pieces
// returned are views into the chunk fed and into the snippet. Only the first
// kScanLimit bytes of the body are looked at: when no opening body tag ends within them
// (or <plaintext> or <frameset> comes first), the rest passes through untouched, without
// any scanning. After the snippet has been inserted it is a pass-through as well.
class BannerInjector {
 public:
  static constexpr std::size_t kScanLimit = 64 * 1024;

  // What to send, in order: at most three non-empty pieces (before the snippet, the
  // snippet, after it). Valid until the next feed()/finish() call, as long as the chunk
  // fed and the injector live.
  class Pieces {
   public:
    const std::string_view* begin() const { return pieces_.data(); }
    const std::string_view* end() const { return pieces_.data() + count_; }
    std::size_t size() const { return count_; }
    bool empty() const { return count_ == 0; }
    const std::string_view& operator[](std::size_t i) const { return pieces_[i]; }
    std::size_t bytes() const;  // total size

   private:
    friend class BannerInjector;
    void add(std::string_view piece) {
      if (!piece.empty()) pieces_[count_++] = piece;
    }
    std::array<std::string_view, 3> pieces_{};
    std::size_t count_ = 0;
  };

  explicit BannerInjector(std::string snippet);
  BannerInjector(const BannerInjector&) = delete;
  BannerInjector& operator=(const BannerInjector&) = delete;

  // The next chunk of the body (may be empty). Not after finish().
  Pieces feed(std::string_view chunk);
  // The end of the body. Returns what is still to be sent: always empty today, as nothing
  // is held back, but call it and send what it returns, so that this may change.
  Pieces finish();

  bool injected() const { return mode_ == Mode::injected; }
  // The snippet was inserted, or will not be: everything else passes through.
  bool decided() const { return mode_ != Mode::scanning; }

 private:
  enum class Mode : std::uint8_t { scanning, injected, gave_up };
  enum class State : std::uint8_t;

  // Tokenizes p[0, n): the offset just after the body tag's '>' when it ends there
  // (mode_ is then injected), else n (mode_ may have become gave_up on the way).
  std::size_t scan(const char* p, std::size_t n);
  // A start or end tag's '>' was reached (the tag name is in name_).
  void tag_complete();
  std::string_view name() const;
  void match(std::string_view word, State on_mismatch);

  std::string snippet_;
  std::size_t scanned_ = 0;
  Mode mode_ = Mode::scanning;
  bool finished_ = false;

  // Tokenizer state.
  State state_;
  bool end_tag_ = false;        // the tag being read is an end tag
  std::uint8_t name_len_ = 0;   // > sizeof name_: a longer name, none of interest
  char name_[10] = {};          // the tag name, lower-cased
  std::uint32_t template_depth_ = 0;
  std::string_view text_end_;   // raw text / RCDATA: the element name that ends it
  // Matching a word (an end tag's name, "script" for the script escape states).
  std::string_view word_;
  std::uint8_t word_pos_ = 0;
  bool word_ok_ = true;
  State word_fail_;             // where a mismatch goes back to (that character reprocessed)
};

}  // namespace gatehouse::daemon
