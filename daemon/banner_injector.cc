#include "daemon/banner_injector.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include <boost/beast/core/string.hpp>

#include "daemon/pages.h"

namespace gatehouse::daemon {

// The HTML tokenizer states (WHATWG HTML, 13.2.5) that matter for finding the first
// <body> start tag; everything is bytes (the markup characters are all ASCII, so UTF-8
// or any ASCII-compatible charset reads the same).
enum class BannerInjector::State : std::uint8_t {
  data,
  tag_open,
  end_tag_open,
  tag_name,
  before_attr_name,
  attr_name,
  after_attr_name,
  before_attr_value,
  attr_value_dq,
  attr_value_sq,
  attr_value_unquoted,
  after_attr_value_quoted,
  self_closing,
  markup_declaration,     // "<!"
  markup_declaration_dash,  // "<!-"
  bogus_comment,
  comment_start,
  comment_start_dash,
  comment,
  comment_end_dash,
  comment_end,
  comment_end_bang,
  text,       // RAWTEXT / RCDATA: until "</" + text_end_
  text_lt,
  script,     // script data
  script_lt,
  script_escape_start,
  script_escape_start_dash,
  script_escaped,
  script_escaped_dash,
  script_escaped_dash_dash,
  script_escaped_lt,
  script_double_escaped,
  script_double_escaped_dash,
  script_double_escaped_dash_dash,
  script_double_escaped_lt,
  match_end_tag,              // "</" + word_ in text or script: an end tag if it matches
  match_double_escape_start,  // "<" + "script" in escaped script data
  match_double_escape_end,    // "</" + "script" in double-escaped script data
};

namespace {

constexpr bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }
constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr bool ends_tag_name(char c) { return is_space(c) || c == '/' || c == '>'; }

// Elements whose content is not markup (with scripting enabled, as in a browser).
constexpr std::string_view kTextElements[] = {"style", "xmp", "iframe", "noembed", "noframes",
                                              "noscript", "title", "textarea"};

// Media type of a Content-Type value, without parameters and surrounding spaces.
std::string_view media_type(std::string_view value) {
  value = value.substr(0, value.find(';'));
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return value;
}

// Whether every token of the comma-separated lists in the `field` headers is one of
// `allowed` (case-insensitive); empty elements are ignored.
bool only_tokens(const http::fields& fields, http::field field, std::string_view a, std::string_view b) {
  auto [first, last] = fields.equal_range(field);
  for (auto it = first; it != last; ++it) {
    std::string_view list = it->value();
    while (!list.empty()) {
      const auto comma = list.find(',');
      std::string_view token = media_type(list.substr(0, comma));
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      if (token.empty()) continue;
      if (!boost::beast::iequals(token, a) && !boost::beast::iequals(token, b)) return false;
    }
  }
  return true;
}

void append_escaped(std::string& out, std::string_view text) { out += html_escape(text); }

// `tmpl` escaped, with "{effective}" and "{real}" replaced by the names in <strong>.
void append_template(std::string& out, std::string_view tmpl, const BannerModel& m) {
  static constexpr std::string_view kEffective = "{effective}";
  static constexpr std::string_view kReal = "{real}";
  while (!tmpl.empty()) {
    const auto brace = tmpl.find('{');
    append_escaped(out, tmpl.substr(0, brace));
    if (brace == std::string_view::npos) break;
    tmpl.remove_prefix(brace);
    const std::string* name = nullptr;
    std::size_t skip = 0;
    if (tmpl.starts_with(kEffective)) {
      name = &m.effective_party;
      skip = kEffective.size();
    } else if (tmpl.starts_with(kReal)) {
      name = &m.real_party;
      skip = kReal.size();
    }
    if (name == nullptr) {  // a brace of the text itself
      out += '{';
      tmpl.remove_prefix(1);
      continue;
    }
    out += "<strong class=\"gatehouse-banner-party\">";
    append_escaped(out, *name);
    out += "</strong>";
    tmpl.remove_prefix(skip);
  }
}

constexpr std::string_view kBannerCss = R"css(/* gatehouse delegation banner */
.gatehouse-banner,.gatehouse-banner *{all:initial!important;box-sizing:border-box!important}
.gatehouse-banner *{font:inherit!important;color:inherit!important}
.gatehouse-banner{display:flex!important;flex-wrap:wrap!important;align-items:center!important;gap:.25rem 1rem!important;position:relative!important;z-index:2147483647!important;margin:0!important;padding:.5rem 1rem!important;background:#7c2d12!important;color:#fff!important;border-bottom:3px solid #fbbf24!important;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif!important;text-align:start!important}
.gatehouse-banner .gatehouse-banner-text{display:block!important;margin:0!important}
.gatehouse-banner .gatehouse-banner-party{font-weight:700!important}
.gatehouse-banner .gatehouse-banner-switch{display:inline-block!important;color:#fff!important;font-weight:600!important;text-decoration:underline!important;cursor:pointer!important}
.gatehouse-banner .gatehouse-banner-switch:hover{color:#fde68a!important}
.gatehouse-banner .gatehouse-banner-switch:focus-visible{outline:2px solid #fbbf24!important;outline-offset:2px!important}
.gatehouse-banner .gatehouse-banner-notice{display:block!important;flex-basis:100%!important;margin:0!important;padding:.25rem .5rem!important;background:#fef3c7!important;color:#78350f!important;border-radius:.25rem!important}
@media (forced-colors:active){.gatehouse-banner{border-bottom-color:CanvasText!important}}
)css";

}  // namespace

bool banner_eligible(const http::fields& response, unsigned status, http::verb request_method) {
  if (request_method == http::verb::head || request_method == http::verb::connect) return false;
  if (status < 200 || status == 204 || status == 205 || status == 206 || status == 304) return false;
  if (response.count(http::field::content_range) != 0) return false;
  if (response.count(http::field::content_type) != 1) return false;
  if (!boost::beast::iequals(media_type(response[http::field::content_type]), "text/html")) return false;
  if (!only_tokens(response, http::field::content_encoding, "identity", "identity")) return false;
  if (!only_tokens(response, http::field::transfer_encoding, "chunked", "identity")) return false;
  const auto disposition = media_type(response[http::field::content_disposition]);
  if (boost::beast::iequals(disposition, "attachment")) return false;
  return true;
}

std::string banner_html(const BannerModel& m) {
  std::string out;
  out.reserve(512 + m.effective_party.size() + m.real_party.size() + m.switcher_url.size() + m.notice.size());
  out += "<link rel=\"stylesheet\" href=\"";
  append_escaped(out, m.stylesheet_url);
  out += "\"><div class=\"gatehouse-banner\" role=\"region\" aria-label=\"";
  append_escaped(out, m.text.region_label);
  out += "\" lang=\"";
  append_escaped(out, m.text.lang);
  out += "\">";
  // Without an effective party (back at the own organisation) only the notice is shown.
  if (!m.effective_party.empty()) {
    out += "<p class=\"gatehouse-banner-text\">";
    append_template(out, m.text.acting_for, m);
    out += "</p>";
  }
  out += "<a class=\"gatehouse-banner-switch\" href=\"";
  append_escaped(out, m.switcher_url);
  out += "\">";
  append_escaped(out, m.text.switch_link);
  out += "</a>";
  if (!m.notice.empty()) {
    out += "<p class=\"gatehouse-banner-notice\" role=\"status\">";
    append_escaped(out, m.notice);
    out += "</p>";
  }
  out += "</div>";
  return out;
}

std::string_view banner_css() { return kBannerCss; }

std::size_t BannerInjector::Pieces::bytes() const {
  std::size_t n = 0;
  for (auto piece : *this) n += piece.size();
  return n;
}

BannerInjector::BannerInjector(std::string snippet)
    : snippet_(std::move(snippet)), state_(State::data), word_fail_(State::data) {}

BannerInjector::Pieces BannerInjector::feed(std::string_view chunk) {
  Pieces out;
  if (mode_ != Mode::scanning || finished_) {
    out.add(chunk);
    return out;
  }
  const std::size_t look = std::min(chunk.size(), kScanLimit - scanned_);
  const std::size_t at = scan(chunk.data(), look);
  scanned_ += at;
  if (mode_ == Mode::injected) {
    out.add(chunk.substr(0, at));
    out.add(snippet_);
    out.add(chunk.substr(at));
    return out;
  }
  if (mode_ == Mode::scanning && scanned_ >= kScanLimit) mode_ = Mode::gave_up;
  out.add(chunk);
  return out;
}

BannerInjector::Pieces BannerInjector::finish() {
  finished_ = true;
  if (mode_ == Mode::scanning) mode_ = Mode::gave_up;
  return {};
}

std::string_view BannerInjector::name() const {
  return name_len_ <= sizeof name_ ? std::string_view(name_, name_len_) : std::string_view{};
}

void BannerInjector::match(std::string_view word, State on_mismatch) {
  word_ = word;
  word_pos_ = 0;
  word_ok_ = true;
  word_fail_ = on_mismatch;
}

void BannerInjector::tag_complete() {
  const std::string_view tag = name();
  state_ = State::data;
  if (end_tag_) {
    if (tag == "template" && template_depth_ > 0) --template_depth_;
    return;
  }
  if (tag == "plaintext") {
    mode_ = Mode::gave_up;  // the rest of the body is text
  } else if (tag == "template") {
    ++template_depth_;
  } else if (tag == "body" && template_depth_ == 0) {
    mode_ = Mode::injected;
  } else if (tag == "frameset" && template_depth_ == 0) {
    mode_ = Mode::gave_up;  // a frameset page has no body element
  } else if (tag == "script") {
    state_ = State::script;
  } else {
    // In a template's contents too: a body tag there is ignored by the tree builder, but
    // the tokenizer treats script and raw text elements as anywhere else.
    for (std::string_view element : kTextElements) {
      if (tag == element) {
        text_end_ = element;
        state_ = State::text;
        break;
      }
    }
  }
}

std::size_t BannerInjector::scan(const char* p, std::size_t n) {
  // In each state: `break` consumes the character, `continue` processes it again in the
  // new state.
  std::size_t i = 0;
  while (i < n) {
    const char c = p[i];
    switch (state_) {
      case State::data: {
        const void* lt = std::memchr(p + i, '<', n - i);
        if (lt == nullptr) return n;
        i = static_cast<std::size_t>(static_cast<const char*>(lt) - p);
        state_ = State::tag_open;
        break;
      }
      case State::tag_open:
        if (c == '!') {
          state_ = State::markup_declaration;
        } else if (c == '/') {
          state_ = State::end_tag_open;
        } else if (c == '?') {
          state_ = State::bogus_comment;
        } else if (is_alpha(c)) {
          end_tag_ = false;
          name_len_ = 0;
          state_ = State::tag_name;
          continue;
        } else {
          state_ = State::data;
          continue;
        }
        break;
      case State::end_tag_open:
        if (is_alpha(c)) {
          end_tag_ = true;
          name_len_ = 0;
          state_ = State::tag_name;
          continue;
        }
        if (c == '>') {
          state_ = State::data;
          break;
        }
        state_ = State::bogus_comment;
        continue;
      case State::tag_name:
        if (is_space(c)) {
          state_ = State::before_attr_name;
        } else if (c == '/') {
          state_ = State::self_closing;
        } else if (c == '>') {
          tag_complete();
          if (mode_ != Mode::scanning) return i + 1;
        } else if (name_len_ < sizeof name_) {
          name_[name_len_++] = to_lower(c);
        } else {
          name_len_ = sizeof name_ + 1;
        }
        break;
      case State::before_attr_name:
        if (is_space(c)) break;
        state_ = c == '/' || c == '>' ? State::after_attr_name : State::attr_name;
        if (c == '=') break;  // starts the attribute's name
        continue;
      case State::attr_name:
        if (ends_tag_name(c)) {
          state_ = State::after_attr_name;
          continue;
        }
        if (c == '=') state_ = State::before_attr_value;
        break;
      case State::after_attr_name:
        if (is_space(c)) break;
        if (c == '/') {
          state_ = State::self_closing;
        } else if (c == '=') {
          state_ = State::before_attr_value;
        } else if (c == '>') {
          tag_complete();
          if (mode_ != Mode::scanning) return i + 1;
        } else {
          state_ = State::attr_name;
          continue;
        }
        break;
      case State::before_attr_value:
        if (is_space(c)) break;
        if (c == '"') {
          state_ = State::attr_value_dq;
        } else if (c == '\'') {
          state_ = State::attr_value_sq;
        } else if (c == '>') {
          tag_complete();
          if (mode_ != Mode::scanning) return i + 1;
        } else {
          state_ = State::attr_value_unquoted;
          continue;
        }
        break;
      case State::attr_value_dq:
      case State::attr_value_sq: {
        const void* q = std::memchr(p + i, state_ == State::attr_value_dq ? '"' : '\'', n - i);
        if (q == nullptr) return n;
        i = static_cast<std::size_t>(static_cast<const char*>(q) - p);
        state_ = State::after_attr_value_quoted;
        break;
      }
      case State::attr_value_unquoted:
        if (is_space(c)) {
          state_ = State::before_attr_name;
        } else if (c == '>') {
          tag_complete();
          if (mode_ != Mode::scanning) return i + 1;
        }
        break;
      case State::after_attr_value_quoted:
        if (is_space(c)) {
          state_ = State::before_attr_name;
        } else if (c == '/') {
          state_ = State::self_closing;
        } else if (c == '>') {
          tag_complete();
          if (mode_ != Mode::scanning) return i + 1;
        } else {
          state_ = State::before_attr_name;
          continue;
        }
        break;
      case State::self_closing:
        if (c == '>') {
          tag_complete();  // <body/> is a body start tag too
          if (mode_ != Mode::scanning) return i + 1;
          break;
        }
        state_ = State::before_attr_name;
        continue;
      case State::markup_declaration:
        if (c == '-') {
          state_ = State::markup_declaration_dash;
          break;
        }
        state_ = State::bogus_comment;  // <!DOCTYPE …>, <![CDATA[…>, <!x>
        continue;
      case State::markup_declaration_dash:
        if (c == '-') {
          state_ = State::comment_start;
          break;
        }
        state_ = State::bogus_comment;
        continue;
      case State::bogus_comment: {
        const void* gt = std::memchr(p + i, '>', n - i);
        if (gt == nullptr) return n;
        i = static_cast<std::size_t>(static_cast<const char*>(gt) - p);
        state_ = State::data;
        break;
      }
      case State::comment_start:
        if (c == '-') {
          state_ = State::comment_start_dash;
        } else if (c == '>') {
          state_ = State::data;  // <!--> is a whole comment
        } else {
          state_ = State::comment;
          continue;
        }
        break;
      case State::comment_start_dash:
        if (c == '-') {
          state_ = State::comment_end;
        } else if (c == '>') {
          state_ = State::data;  // <!---> too
        } else {
          state_ = State::comment;
          continue;
        }
        break;
      case State::comment: {
        const void* dash = std::memchr(p + i, '-', n - i);
        if (dash == nullptr) return n;
        i = static_cast<std::size_t>(static_cast<const char*>(dash) - p);
        state_ = State::comment_end_dash;
        break;
      }
      case State::comment_end_dash:
        state_ = c == '-' ? State::comment_end : State::comment;
        if (c == '-') break;
        continue;
      case State::comment_end:
        if (c == '>') {
          state_ = State::data;
        } else if (c == '!') {
          state_ = State::comment_end_bang;
        } else if (c != '-') {
          state_ = State::comment;
          continue;
        }
        break;
      case State::comment_end_bang:
        if (c == '-') {
          state_ = State::comment_end_dash;
        } else if (c == '>') {
          state_ = State::data;  // --!>
        } else {
          state_ = State::comment;
          continue;
        }
        break;
      case State::text: {
        const void* lt = std::memchr(p + i, '<', n - i);
        if (lt == nullptr) return n;
        i = static_cast<std::size_t>(static_cast<const char*>(lt) - p);
        state_ = State::text_lt;
        break;
      }
      case State::text_lt:
        if (c == '/') {
          match(text_end_, State::text);
          state_ = State::match_end_tag;
          break;
        }
        state_ = State::text;
        continue;
      case State::script: {
        const void* lt = std::memchr(p + i, '<', n - i);
        if (lt == nullptr) return n;
        i = static_cast<std::size_t>(static_cast<const char*>(lt) - p);
        state_ = State::script_lt;
        break;
      }
      case State::script_lt:
        if (c == '/') {
          match("script", State::script);
          state_ = State::match_end_tag;
        } else if (c == '!') {
          state_ = State::script_escape_start;
        } else {
          state_ = State::script;
          continue;
        }
        break;
      case State::script_escape_start:
        if (c == '-') {
          state_ = State::script_escape_start_dash;
          break;
        }
        state_ = State::script;
        continue;
      case State::script_escape_start_dash:
        if (c == '-') {
          state_ = State::script_escaped_dash_dash;
          break;
        }
        state_ = State::script;
        continue;
      case State::script_escaped:
        if (c == '-') {
          state_ = State::script_escaped_dash;
        } else if (c == '<') {
          state_ = State::script_escaped_lt;
        }
        break;
      case State::script_escaped_dash:
        state_ = c == '-'   ? State::script_escaped_dash_dash
                 : c == '<' ? State::script_escaped_lt
                            : State::script_escaped;
        break;
      case State::script_escaped_dash_dash:
        if (c == '<') {
          state_ = State::script_escaped_lt;
        } else if (c == '>') {
          state_ = State::script;
        } else if (c != '-') {
          state_ = State::script_escaped;
        }
        break;
      case State::script_escaped_lt:
        if (c == '/') {
          match("script", State::script_escaped);
          state_ = State::match_end_tag;
          break;
        }
        if (is_alpha(c)) {
          match("script", State::script_escaped);
          state_ = State::match_double_escape_start;
          continue;
        }
        state_ = State::script_escaped;
        continue;
      case State::script_double_escaped:
        if (c == '-') {
          state_ = State::script_double_escaped_dash;
        } else if (c == '<') {
          state_ = State::script_double_escaped_lt;
        }
        break;
      case State::script_double_escaped_dash:
        state_ = c == '-'   ? State::script_double_escaped_dash_dash
                 : c == '<' ? State::script_double_escaped_lt
                            : State::script_double_escaped;
        break;
      case State::script_double_escaped_dash_dash:
        if (c == '<') {
          state_ = State::script_double_escaped_lt;
        } else if (c == '>') {
          state_ = State::script;
        } else if (c != '-') {
          state_ = State::script_double_escaped;
        }
        break;
      case State::script_double_escaped_lt:
        if (c == '/') {
          match("script", State::script_double_escaped);
          state_ = State::match_double_escape_end;
          break;
        }
        state_ = State::script_double_escaped;
        continue;
      case State::match_end_tag:
      case State::match_double_escape_start:
      case State::match_double_escape_end:
        if (is_alpha(c)) {
          if (word_ok_ && word_pos_ < word_.size() && to_lower(c) == word_[word_pos_]) {
            ++word_pos_;
          } else {
            word_ok_ = false;  // letters go on being part of the (non-matching) name
          }
          break;
        }
        if (ends_tag_name(c) && word_ok_ && word_pos_ == word_.size()) {
          if (state_ == State::match_end_tag) {
            // The element's end tag: read it as a tag (its attributes, if any, included).
            end_tag_ = true;
            std::memcpy(name_, word_.data(), word_.size());
            name_len_ = static_cast<std::uint8_t>(word_.size());
            state_ = State::tag_name;
            continue;
          }
          state_ = state_ == State::match_double_escape_start ? State::script_double_escaped
                                                              : State::script_escaped;
          break;
        }
        // Not the word: text of the element after all, this character included.
        state_ = word_fail_;
        if (ends_tag_name(c)) break;  // '/', '>' or a space: plain text there
        continue;
    }
    ++i;
  }
  return n;
}

}  // namespace gatehouse::daemon
