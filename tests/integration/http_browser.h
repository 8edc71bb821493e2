#pragma once
// A minimal browser over plain HTTP for driving login flows in the integration tests:
// a cookie jar, redirects followed across ports with every hop recorded, and a small
// HTML form parser so a test can fill in and submit the forms it is shown. No
// JavaScript, no https, no caching; one new connection per request.
#include <httplib.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gatehouse::testing {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// An absolute http:// URL taken apart. Hosts are kept as written (lower-cased);
// IPv6 literals keep their brackets.
struct ParsedUrl {
  std::string host;       // "127.0.0.1", "gatehouse.test", "[::1]"
  int port = 80;
  std::string target;     // path and query, "/" at least; never the fragment
  std::string host_port() const { return host + ":" + std::to_string(port); }
  std::string path() const { return target.substr(0, target.find('?')); }
  std::string origin() const;  // "http://host" or "http://host:port"
};
std::optional<ParsedUrl> parse_url(const std::string& url);

// `ref` (absolute, "//host/x", "/x", "x", "../x", "?q", "#f" or "") resolved against the
// absolute URL `base` (RFC 3986 §5.2, dot segments removed).
std::string resolve_url(const std::string& base, const std::string& ref);

// The query of a URL (everything between '?' and '#'), or a bare "a=1&b=2", as a map
// of percent-decoded names to values ('+' is a space). A repeated name keeps its first
// value.
std::map<std::string, std::string> query_params(const std::string& url_or_query);

std::string percent_decode(const std::string& text, bool plus_as_space = true);
// application/x-www-form-urlencoded, as browsers send forms and query strings.
std::string form_encode(const FormFields& fields);

// One <form> of a page.
struct HtmlForm {
  std::string action;   // resolved against the page's URL (no action: the page's URL)
  std::string method;   // "GET" or "POST"
  std::string id;
  // Named controls that are sent, in document order: every <input> (hidden included;
  // checkboxes and radios only when checked, "on" by default) but submit, image, reset,
  // button and file ones; <textarea>; <select> (its selected or first option).
  // Disabled controls are left out.
  FormFields fields;
  // Named submit buttons (<button> without a type or type=submit, <input
  // type=submit>) in document order.
  FormFields buttons;

  std::optional<std::string> get(const std::string& name) const;
  // Replaces the value of the first field called `name`, or adds the field.
  void set(const std::string& name, const std::string& value);
  // What pressing a button sends: the fields, then the button named `button`, or
  // with "" the first named button if any (what pressing Enter does).
  FormFields submission(const std::string& button = "") const;
};

// Every form in `html`, in document order.
std::vector<HtmlForm> parse_forms(const std::string& html, const std::string& page_url);
// The first form whose resolved action contains `action_substring` ("" = the first
// form), or nullopt.
std::optional<HtmlForm> find_form(const std::string& html, const std::string& page_url,
                                  const std::string& action_substring = "");

// One request and its answer.
struct HttpHop {
  std::string method;
  std::string url;
  std::string request_cookies;  // the Cookie header sent ("" for none)
  int status = 0;
  httplib::Headers headers;     // response headers
  std::string body;

  std::string header(const std::string& name) const;  // first value, "" if absent
  std::string location() const;  // Location resolved against url, "" if absent
};

// What one navigation did: each request, redirects included.
struct Navigation {
  std::vector<HttpHop> hops;
  // Non-empty when the navigation failed: connection refused, timeout, too many
  // redirects, a URL this browser cannot fetch. `hops` has what happened before.
  std::string error;

  bool ok() const { return error.empty() && !hops.empty(); }
  // The last answer (an empty hop when there is none).
  const HttpHop& last() const;
  int status() const { return last().status; }
  const std::string& body() const { return last().body; }
  const std::string& url() const { return last().url; }
  // The first hop whose URL starts with `prefix`, or nullptr.
  const HttpHop* find(const std::string& url_prefix) const;
  // find_form() on the last page.
  std::optional<HtmlForm> form(const std::string& action_substring = "") const;
  // The chain as text ("GET URL -> 302 Location: …", one hop a line), the error and
  // the start of the last body: for failure messages.
  std::string describe() const;
};

class HttpBrowser {
 public:
  HttpBrowser() = default;

  Navigation get(const std::string& url, const httplib::Headers& headers = {});
  Navigation post_form(const std::string& url, const FormFields& fields, const httplib::Headers& headers = {});
  // Submits `form` with `button` as in HtmlForm::submission(): a GET form's fields
  // become the query of its action.
  Navigation submit(const HtmlForm& form, const std::string& button = "");

  // Redirects (301, 302, 303, 307, 308) are followed by default, at most 20 in a row:
  // 301/302/303 turn a POST into a GET without a body, 307/308 repeat it.
  void set_follow_redirects(bool on) { follow_redirects_ = on; }
  // A redirect to a URL starting with `url_prefix` is not followed (the navigation
  // ends with the redirect, its Location readable with last().location()); e.g. to
  // read the code sent to a client's redirect_uri without running that client.
  void stop_before(const std::string& url_prefix) { stop_before_.push_back(url_prefix); }
  void clear_stop_before() { stop_before_.clear(); }
  // Requests for http://HOST:PORT go to 127.0.0.1:target_port instead (the Host
  // header and the cookie jar still say HOST:PORT), like curl --resolve: for a
  // gatehouse whose public_url names a host that does not resolve.
  void resolve(const std::string& host, int port, int target_port);
  void set_timeout_ms(int ms) { timeout_ms_ = ms; }

  // The cookie jar is keyed by host:port, so gatehouse and the provider on two ports
  // of 127.0.0.1 never see each other's cookies. Set-Cookie's name, value, Path,
  // Max-Age and Expires are honoured (Max-Age<=0 or a past Expires deletes);
  // Domain, Secure, HttpOnly and SameSite are ignored.
  std::optional<std::string> cookie(const std::string& host_port, const std::string& name) const;
  // "name=value; …" as it would be sent to `url`.
  std::string cookie_header(const std::string& url) const;
  void set_cookie(const std::string& host_port, const std::string& name, const std::string& value,
                  const std::string& path = "/");
  void delete_cookie(const std::string& host_port, const std::string& name);
  void clear_cookies() { jar_.clear(); }

 private:
  struct Cookie {
    std::string name;
    std::string value;
    std::string path;
    long long expires = 0;  // unix seconds; 0: a session cookie
  };
  Navigation navigate(std::string method, std::string url, std::string body, std::string content_type,
                      const httplib::Headers& headers);
  void store_cookies(const ParsedUrl& url, const httplib::Headers& headers);

  std::map<std::string, std::vector<Cookie>> jar_;  // host:port -> cookies
  std::map<std::string, int> resolve_;              // host:port -> 127.0.0.1 port
  std::vector<std::string> stop_before_;
  bool follow_redirects_ = true;
  int timeout_ms_ = 15000;
};

}  // namespace gatehouse::testing
