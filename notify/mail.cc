#include "notify/mail.h"

#include <curl/curl.h>
#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include "common/encoding.h"
#include "common/secret_file.h"

namespace gatehouse::notify {
namespace {

constexpr const char* kBadAddress = "notify.bad_address";
constexpr const char* kNotConfigured = "notify.not_configured";
constexpr const char* kSmtp = "notify.smtp";

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Decodes one UTF-8 character at s[i]; returns its length, or 0 when invalid (overlong
// forms, surrogates and values above U+10FFFF are invalid).
std::size_t utf8_char(std::string_view s, std::size_t i, char32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  std::size_t len = 0;
  char32_t v = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, v = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, v = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, v = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

bool is_printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7F; });
}

// RFC 5322 date in UTC, with English names whatever the locale.
std::string rfc5322_date(std::int64_t t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday % 7], tm.tm_mday,
                kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// A display name as a header phrase: plain atoms as they are, other ASCII quoted,
// anything else encoded.
std::string display_name_phrase(std::string_view name) {
  if (!is_printable_ascii(name) || name.find("=?") != std::string_view::npos) return encode_header_text(name);
  const bool atoms = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr(" !#$%&'*+-/=?^_`{|}~", c) != nullptr;
  });
  if (atoms) return std::string(name);
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

struct Upload {
  std::string_view data;
  std::size_t offset = 0;
};

std::size_t read_upload(char* buffer, std::size_t size, std::size_t nitems, void* userdata) {
  auto* up = static_cast<Upload*>(userdata);
  const std::size_t n = std::min(size * nitems, up->data.size() - up->offset);
  std::memcpy(buffer, up->data.data() + up->offset, n);
  up->offset += n;
  return n;
}

// The server's last 4xx/5xx reply line (e.g. "451 4.3.0 Try again later"), for the
// error. Only what the server sends is looked at, never what curl sends (AUTH).
int keep_server_reply(CURL*, curl_infotype type, char* data, std::size_t size, void* userdata) {
  if (type != CURLINFO_HEADER_IN || size < 3) return 0;
  if (data[0] != '4' && data[0] != '5') return 0;
  std::string_view line(data, std::min<std::size_t>(size, 200));
  *static_cast<std::string*>(userdata) = sanitise_header_text(line, 200);
  return 0;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

Status validate_address(std::string_view address) {
  auto bad = [&](const std::string& why) {
    return make_error(kBadAddress, "unusable e-mail address (" + std::to_string(address.size()) + " bytes): " + why);
  };
  if (address.empty()) return bad("empty");
  if (address.size() > 254) return bad("longer than 254 characters");
  for (char c : address) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r' || c == '\n') return bad("contains a line break");
    if (c == '\0') return bad("contains NUL");
    if (u < 0x20 || u == 0x7F) return bad("contains a control character");
    if (c == ' ' || c == '<' || c == '>') return bad("contains a space or angle bracket");
  }
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return bad("no '@'");
  if (at == 0 || at + 1 == address.size()) return bad("nothing before or after '@'");
  return Ok{};
}

std::string sanitise_header_text(std::string_view text, std::size_t max_bytes) {
  std::string out;
  bool pending_space = false;
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    std::size_t len = utf8_char(text, i, &cp);
    std::string_view piece = text.substr(i, len);
    if (len == 0) {
      len = 1;
      piece = "\xEF\xBF\xBD";  // U+FFFD
      cp = 0xFFFD;
    }
    i += len;
    const bool space = cp < 0x20 || cp == ' ' || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 ||
                       cp == 0x2029 || cp == 0x85;
    if (space) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += piece;
  }
  if (out.size() <= max_bytes) return out;
  static constexpr std::string_view kEllipsis = "\xE2\x80\xA6";
  std::size_t cut = max_bytes > kEllipsis.size() ? max_bytes - kEllipsis.size() : 0;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // a character's start
  out.resize(cut);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + std::string(kEllipsis);
}

std::string encode_header_text(std::string_view text) {
  if (is_printable_ascii(text) && text.find("=?") == std::string_view::npos) return std::string(text);
  // "=?UTF-8?B?" + base64 + "?=" <= 75: 12 characters of frame leave 63, so at most
  // 45 bytes (60 base64 characters) per word.
  constexpr std::size_t kMaxBytes = 45;
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = i;
    while (end < text.size()) {
      char32_t cp = 0;
      std::size_t len = utf8_char(text, end, &cp);
      if (len == 0) len = 1;
      if (end + len - i > kMaxBytes) break;
      end += len;
    }
    if (end == i) end = i + 1;  // cannot happen with kMaxBytes >= 4; never loop forever
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64_encode(text.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string compose_message(const Mail& mail, std::string_view from_header, std::string_view message_id_domain,
                            std::int64_t date) {
  std::string m;
  m += "From: " + std::string(from_header) + "\r\n";
  m += "To: " + mail.to + "\r\n";
  m += "Subject: " + encode_header_text(sanitise_header_text(mail.subject)) + "\r\n";
  m += "Date: " + rfc5322_date(date) + "\r\n";
  m += "Message-ID: <" + hex(random_bytes(16)) + "@" + std::string(message_id_domain) + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Transfer-Encoding: base64\r\n";
  m += "\r\n";
  // The body as CRLF lines, then base64 in lines of 76 characters (RFC 2045).
  std::string body;
  for (std::size_t i = 0; i < mail.text.size(); ++i) {
    const char c = mail.text[i];
    if (c == '\r') {
      if (i + 1 < mail.text.size() && mail.text[i + 1] == '\n') ++i;
      body += "\r\n";
    } else if (c == '\n') {
      body += "\r\n";
    } else {
      body += c;
    }
  }
  if (!body.ends_with("\r\n")) body += "\r\n";
  const std::string encoded = base64_encode(body);
  for (std::size_t i = 0; i < encoded.size(); i += 76) m += encoded.substr(i, 76) + "\r\n";
  return m;
}

SmtpMailer::SmtpMailer(const config::SmtpConfig& config) : config_(config) {
  global_init();
  if (auto error = setup(); !error.code.empty()) setup_error_ = std::make_unique<Error>(std::move(error));
}

Error SmtpMailer::setup() {
  if (config_.url.empty()) return make_error(kNotConfigured, "[smtp] url is not set");
  if (!config_.url.starts_with("smtp://") && !config_.url.starts_with("smtps://"))
    return make_error(kNotConfigured, "[smtp] url must start with smtp:// or smtps://");
  // [smtp] from: "Name <addr>" or "addr".
  std::string_view from = config_.from;
  std::string_view name;
  std::string_view address = from;
  if (const auto open = from.rfind('<'); open != std::string_view::npos) {
    const auto close = from.find('>', open);
    if (close == std::string_view::npos || close + 1 != from.size())
      return make_error(kBadAddress, "[smtp] from: expected \"Name <address>\" or \"address\"");
    address = from.substr(open + 1, close - open - 1);
    name = from.substr(0, open);
  }
  if (auto ok = validate_address(address); !ok) return make_error(kBadAddress, "[smtp] from: " + ok.error().message);
  envelope_from_ = std::string(address);
  message_id_domain_ = envelope_from_.substr(envelope_from_.rfind('@') + 1);
  const std::string clean_name = sanitise_header_text(name, 120);
  from_header_ = clean_name.empty() ? envelope_from_ : display_name_phrase(clean_name) + " <" + envelope_from_ + ">";
  if (!config_.username.empty()) {
    if (config_.password_file.empty()) return make_error(kNotConfigured, "[smtp] username needs password_file");
    auto secret = read_secret_file(config_.password_file);
    if (!secret) return make_error(kNotConfigured, "[smtp] password_file: " + secret.error().message);
    password_ = std::move(secret.value());
  }
  return Error{};
}

SmtpMailer::~SmtpMailer() = default;

Status SmtpMailer::status() const {
  if (setup_error_) return *setup_error_;
  return Ok{};
}

Status SmtpMailer::send(const Mail& mail) {
  if (setup_error_) return *setup_error_;
  if (auto ok = validate_address(mail.to); !ok) return ok;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string message = compose_message(mail, from_header_, message_id_domain_, now);

  std::unique_ptr<CURL, CurlDeleter> handle(curl_easy_init());
  if (!handle) return make_error(kSmtp, "smtp: cannot create a curl handle");
  CURL* c = handle.get();
  std::unique_ptr<curl_slist, ListDeleter> rcpt(curl_slist_append(nullptr, ("<" + mail.to + ">").c_str()));
  if (!rcpt) return make_error(kSmtp, "smtp: out of memory");
  Upload upload{message};
  char error[CURL_ERROR_SIZE] = {0};
  const long timeout_ms = static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(config_.timeout).count());
  const std::string from = "<" + envelope_from_ + ">";
  std::string password(password_.reveal());  // curl copies it; wiped below

  curl_easy_setopt(c, CURLOPT_URL, config_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
  // smtp://: STARTTLS, and nothing sent when the server does not offer it (or, with
  // starttls = false, in the clear); smtps://: TLS from the start either way.
  const bool implicit_tls = config_.url.starts_with("smtps://");
  curl_easy_setopt(c, CURLOPT_USE_SSL, (implicit_tls || config_.starttls) ? static_cast<long>(CURLUSESSL_ALL)
                                                                          : static_cast<long>(CURLUSESSL_NONE));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, config_.tls_verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, config_.tls_verify ? 2L : 0L);
  if (!config_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, config_.ca_file.c_str());
  if (!config_.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, config_.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  std::string server_reply;
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, keep_server_reply);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, &server_reply);
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);  // feeds keep_server_reply; prints nothing

  const CURLcode rc = curl_easy_perform(c);
  long response = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response);
  curl_easy_setopt(c, CURLOPT_PASSWORD, "");
  if (!password.empty()) sodium_memzero(password.data(), password.size());
  if (rc != CURLE_OK) {
    std::string what = error[0] ? std::string(error) : std::string(curl_easy_strerror(rc));
    while (!what.empty() && (what.back() == '\n' || what.back() == '\r')) what.pop_back();
    std::string text = "smtp: " + what;
    if (response != 0) text += " (SMTP response " + std::to_string(response) + ")";
    if (!server_reply.empty()) text += ": " + server_reply;
    return make_error(kSmtp, text);
  }
  return Ok{};
}

}  // namespace gatehouse::notify
