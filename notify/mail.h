#pragma once
// One e-mail and the ways to send it. SmtpMailer speaks SMTP through libcurl (never by
// hand): smtp:// with STARTTLS required (or, when [smtp] starttls = false, in the
// clear), or smtps:// (TLS from the first byte). The message it writes is a single
// text/plain part in UTF-8, base64 encoded, with an RFC 2047 encoded Subject when the
// subject is not plain ASCII.
//
// Errors (Status) carry curl's message, the last SMTP response code and the server's
// last 4xx/5xx reply line, never the password:
//   notify.bad_address  the recipient (or the configured sender) is not a usable address
//   notify.not_configured  [smtp] url is empty, or the password file cannot be read
//   notify.smtp         the delivery failed (connection, TLS, authentication, a 4xx/5xx)
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/secret.h"
#include "config/config.h"

namespace gatehouse::notify {

struct Mail {
  std::string to;       // one address: "user@example.org"
  std::string subject;  // UTF-8, one line; sanitised again when sent
  std::string text;     // UTF-8 body, lines separated by '\n'
};

class Mailer {
 public:
  virtual ~Mailer() = default;
  // Delivers one message; may block up to the mailer's timeout. Safe to call from one
  // thread at a time per Mailer (SmtpMailer: from any number of threads).
  virtual Status send(const Mail& mail) = 0;
};

// An address gatehouse sends to: at most 254 characters, one '@' with something on both
// sides, no CR, LF, NUL or other control character, no space, '<' or '>' (the envelope
// brackets it). Error "notify.bad_address"; the message quotes no more than the length.
Status validate_address(std::string_view address);

// Text for a header value such as the subject: invalid UTF-8 becomes U+FFFD, control
// characters (CR and LF included) and Unicode line/paragraph separators become spaces,
// runs of spaces one space, no leading or trailing space, at most `max_bytes` bytes
// (cut at a character boundary, "…" appended when cut).
std::string sanitise_header_text(std::string_view text, std::size_t max_bytes = 200);

// The header value as written: plain when printable ASCII without "=?", else RFC 2047
// encoded-words (=?UTF-8?B?...?=, each at most 75 characters, never splitting a
// character), folded onto continuation lines ("\r\n ").
std::string encode_header_text(std::string_view sanitised);

// The whole message as SmtpMailer uploads it (CRLF line ends): From, To, Subject, Date
// (RFC 5322, UTC), Message-ID, MIME-Version, Content-Type text/plain; charset=utf-8,
// Content-Transfer-Encoding base64, then the body. `from_header` is written as given
// (see SmtpMailer); `message_id_domain` is the part after '@' in the Message-ID.
std::string compose_message(const Mail& mail, std::string_view from_header, std::string_view message_id_domain,
                            std::int64_t date);

class SmtpMailer final : public Mailer {
 public:
  // Reads [smtp] password_file once, here (kept in a Secret). A configuration that
  // cannot work (empty url, unusable `from`, unreadable password file) does not throw:
  // status() says why and every send() returns that error.
  explicit SmtpMailer(const config::SmtpConfig& config);
  ~SmtpMailer() override;

  Status status() const;
  Status send(const Mail& mail) override;

  // The sender as parsed from [smtp] from: the envelope address and the From header.
  const std::string& envelope_from() const { return envelope_from_; }
  const std::string& from_header() const { return from_header_; }

 private:
  Error setup();  // code "" when usable

  config::SmtpConfig config_;
  Secret password_;
  std::string envelope_from_;
  std::string from_header_;
  std::string message_id_domain_;
  std::unique_ptr<Error> setup_error_;
};

}  // namespace gatehouse::notify
