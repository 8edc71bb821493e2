#include "integration/http_browser.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace gatehouse::testing {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool starts_with_ci(const std::string& s, size_t pos, const std::string& prefix) {
  return s.size() >= pos + prefix.size() && strncasecmp(s.c_str() + pos, prefix.c_str(), prefix.size()) == 0;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "scheme:" at the start of a reference (RFC 3986 §3.1).
bool has_scheme(const std::string& ref) {
  if (ref.empty() || !std::isalpha(static_cast<unsigned char>(ref[0]))) return false;
  for (char c : ref) {
    if (c == ':') return true;
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.')) return false;
  }
  return false;
}

// RFC 3986 §5.2.4.
std::string remove_dot_segments(std::string in) {
  std::string out;
  while (!in.empty()) {
    if (in.rfind("../", 0) == 0) {
      in.erase(0, 3);
    } else if (in.rfind("./", 0) == 0) {
      in.erase(0, 2);
    } else if (in.rfind("/./", 0) == 0) {
      in.erase(0, 2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.rfind("/../", 0) == 0 || in == "/..") {
      in = in == "/.." ? "/" : in.substr(3);
      auto slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (in == "." || in == "..") {
      in.clear();
    } else {
      size_t next = in.find('/', 1);
      out += in.substr(0, next);
      in.erase(0, next == std::string::npos ? in.size() : next);
    }
  }
  return out;
}

// "http://authority" and the rest ("/path?query") of an absolute URL, fragment dropped.
std::pair<std::string, std::string> split_origin(const std::string& url) {
  std::string u = url.substr(0, url.find('#'));
  size_t start = u.find("://");
  if (start == std::string::npos) return {u, "/"};
  size_t slash = u.find_first_of("/?", start + 3);
  if (slash == std::string::npos) return {u, "/"};
  std::string rest = u.substr(slash);
  if (rest[0] == '?') rest = "/" + rest;
  return {u.substr(0, slash), rest};
}

void append_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x110000) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The character references a test page uses: the five XML ones, &nbsp; and numeric
// ones. Anything else is left as written.
std::string decode_entities(const std::string& s) {
  static const std::map<std::string, std::string> named = {
      {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", "\xC2\xA0"}};
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    size_t semi = s[i] == '&' ? s.find(';', i) : std::string::npos;
    if (semi == std::string::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    std::string name = s.substr(i + 1, semi - i - 1);
    if (auto it = named.find(name); it != named.end()) {
      out += it->second;
      i = semi;
    } else if (name.size() > 1 && name[0] == '#') {
      bool hex = name[1] == 'x' || name[1] == 'X';
      char* end = nullptr;
      unsigned long cp = std::strtoul(name.c_str() + (hex ? 2 : 1), &end, hex ? 16 : 10);
      if (end == nullptr || *end != '\0') {
        out += s[i];
        continue;
      }
      append_utf8(out, cp);
      i = semi;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Tag {
  std::string name;  // lower case
  bool closing = false;
  std::map<std::string, std::string> attrs;  // names lower case, values decoded
  bool has(const std::string& a) const { return attrs.count(a) != 0; }
  std::string attr(const std::string& a) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? std::string() : it->second;
  }
};

// Parses the tag starting at html[pos] == '<'; returns the position after it.
size_t parse_tag(const std::string& html, size_t pos, Tag* tag) {
  size_t i = pos + 1;
  if (i < html.size() && html[i] == '/') {
    tag->closing = true;
    ++i;
  }
  size_t name_start = i;
  while (i < html.size() && std::isalnum(static_cast<unsigned char>(html[i]))) ++i;
  tag->name = lower(html.substr(name_start, i - name_start));
  for (;;) {
    while (i < html.size() && (std::isspace(static_cast<unsigned char>(html[i])) || html[i] == '/')) ++i;
    if (i >= html.size()) return i;
    if (html[i] == '>') return i + 1;
    size_t a = i;
    while (i < html.size() && !std::isspace(static_cast<unsigned char>(html[i])) && html[i] != '=' &&
           html[i] != '>' && html[i] != '/')
      ++i;
    std::string name = lower(html.substr(a, i - a));
    while (i < html.size() && std::isspace(static_cast<unsigned char>(html[i]))) ++i;
    std::string value;
    if (i < html.size() && html[i] == '=') {
      ++i;
      while (i < html.size() && std::isspace(static_cast<unsigned char>(html[i]))) ++i;
      if (i < html.size() && (html[i] == '"' || html[i] == '\'')) {
        char q = html[i++];
        size_t end = html.find(q, i);
        if (end == std::string::npos) end = html.size();
        value = html.substr(i, end - i);
        i = end + 1;
      } else {
        size_t v = i;
        while (i < html.size() && !std::isspace(static_cast<unsigned char>(html[i])) && html[i] != '>') ++i;
        value = html.substr(v, i - v);
      }
    }
    if (!name.empty() && !tag->attrs.count(name)) tag->attrs[name] = decode_entities(value);
  }
}

// Position of the "</name" that ends a raw text element's content, or html.size().
size_t raw_text_end(const std::string& html, size_t from, const std::string& name) {
  for (size_t i = html.find("</", from); i != std::string::npos; i = html.find("</", i + 2))
    if (starts_with_ci(html, i + 2, name)) return i;
  return html.size();
}

long long parse_http_date(const std::string& text) {
  for (const char* fmt : {"%a, %d %b %Y %H:%M:%S", "%a, %d-%b-%Y %H:%M:%S", "%a, %d-%b-%y %H:%M:%S"}) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), fmt, &tm);
    if (end != nullptr) return static_cast<long long>(timegm(&tm));
  }
  return -1;
}

bool path_matches(const std::string& cookie_path, const std::string& request_path) {
  if (request_path == cookie_path) return true;
  if (request_path.rfind(cookie_path, 0) != 0) return false;
  return cookie_path.back() == '/' || request_path[cookie_path.size()] == '/';
}

std::string default_cookie_path(const std::string& request_path) {
  if (request_path.empty() || request_path[0] != '/') return "/";
  size_t last = request_path.rfind('/');
  return last == 0 ? "/" : request_path.substr(0, last);
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string shorten(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n) + "…"; }

}  // namespace

// ---------------------------------------------------------------------------------------
// URLs

std::string ParsedUrl::origin() const { return "http://" + (port == 80 ? host : host_port()); }

std::optional<ParsedUrl> parse_url(const std::string& url) {
  if (!starts_with_ci(url, 0, "http://")) return std::nullopt;
  std::string rest = url.substr(7);
  rest = rest.substr(0, rest.find('#'));
  size_t end = rest.find_first_of("/?");
  std::string authority = rest.substr(0, end);
  std::string target = end == std::string::npos ? "/" : rest.substr(end);
  if (target[0] == '?') target = "/" + target;
  if (auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  ParsedUrl u;
  u.target = target;
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    u.host = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  u.host = lower(u.host);
  if (u.host.empty()) return std::nullopt;
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    u.port = std::stoi(port);
    if (u.port < 1 || u.port > 65535) return std::nullopt;
  }
  return u;
}

std::string resolve_url(const std::string& base, const std::string& reference) {
  std::string ref = reference;
  std::string fragment;
  if (auto hash = ref.find('#'); hash != std::string::npos) {
    fragment = ref.substr(hash);
    ref.erase(hash);
  }
  if (has_scheme(ref)) return ref + fragment;
  auto [origin, base_target] = split_origin(base);
  if (ref.rfind("//", 0) == 0) return base.substr(0, base.find(':') + 1) + ref + fragment;
  std::string base_path = base_target.substr(0, base_target.find('?'));
  std::string base_query = base_target.size() > base_path.size() ? base_target.substr(base_path.size()) : "";
  if (ref.empty()) return origin + base_path + base_query + fragment;
  if (ref[0] == '?') return origin + base_path + ref + fragment;
  std::string ref_path = ref.substr(0, ref.find('?'));
  std::string ref_query = ref.substr(ref_path.size());
  std::string merged = ref_path[0] == '/' ? ref_path : base_path.substr(0, base_path.rfind('/') + 1) + ref_path;
  return origin + remove_dot_segments(merged) + ref_query + fragment;
}

std::string percent_decode(const std::string& text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+' && plus_as_space) {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::map<std::string, std::string> query_params(const std::string& url_or_query) {
  std::string q = url_or_query.substr(0, url_or_query.find('#'));
  if (auto mark = q.find('?'); mark != std::string::npos) {
    q.erase(0, mark + 1);
  } else if (q.find("://") != std::string::npos || (!q.empty() && q[0] == '/')) {
    q.clear();
  }
  std::map<std::string, std::string> out;
  std::stringstream ss(q);
  std::string pair;
  while (std::getline(ss, pair, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string name = percent_decode(pair.substr(0, eq));
    std::string value = eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1));
    out.emplace(std::move(name), std::move(value));
  }
  return out;
}

std::string form_encode(const FormFields& fields) {
  auto encode = [](const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '*' || c == '-' || c == '.' || c == '_') {
        out += static_cast<char>(c);
      } else if (c == ' ') {
        out += '+';
      } else {
        char hex[4];
        snprintf(hex, sizeof hex, "%%%02X", c);
        out += hex;
      }
    }
    return out;
  };
  std::string body;
  for (const auto& [name, value] : fields) body += (body.empty() ? "" : "&") + encode(name) + "=" + encode(value);
  return body;
}

// ---------------------------------------------------------------------------------------
// Forms

std::optional<std::string> HtmlForm::get(const std::string& name) const {
  for (const auto& [n, v] : fields)
    if (n == name) return v;
  return std::nullopt;
}

void HtmlForm::set(const std::string& name, const std::string& value) {
  for (auto& [n, v] : fields) {
    if (n == name) {
      v = value;
      return;
    }
  }
  fields.emplace_back(name, value);
}

FormFields HtmlForm::submission(const std::string& button) const {
  FormFields out = fields;
  for (const auto& b : buttons) {
    if (button.empty() || b.first == button) {
      out.push_back(b);
      break;
    }
  }
  return out;
}

std::vector<HtmlForm> parse_forms(const std::string& html, const std::string& page_url) {
  std::vector<HtmlForm> forms;
  HtmlForm* form = nullptr;
  struct Select {
    std::string name;
    std::optional<std::string> first, selected;
  };
  std::optional<Select> select;
  for (size_t pos = html.find('<'); pos != std::string::npos; pos = html.find('<', pos)) {
    if (html.compare(pos, 4, "<!--") == 0) {
      size_t end = html.find("-->", pos + 4);
      pos = end == std::string::npos ? html.size() : end + 3;
      continue;
    }
    if (pos + 1 < html.size() && (html[pos + 1] == '!' || html[pos + 1] == '?')) {
      size_t end = html.find('>', pos);
      pos = end == std::string::npos ? html.size() : end + 1;
      continue;
    }
    Tag tag;
    pos = parse_tag(html, pos, &tag);
    if (tag.name.empty()) continue;
    if (!tag.closing && (tag.name == "script" || tag.name == "style" || tag.name == "title" ||
                         tag.name == "textarea")) {
      size_t end = raw_text_end(html, pos, tag.name);
      if (tag.name == "textarea" && form != nullptr && tag.has("name") && !tag.has("disabled"))
        form->fields.emplace_back(tag.attr("name"), decode_entities(html.substr(pos, end - pos)));
      pos = end;
      continue;
    }
    if (tag.name == "form") {
      if (tag.closing) {
        form = nullptr;
      } else if (form == nullptr) {  // a form inside a form is ignored, as browsers do
        HtmlForm f;
        f.action = resolve_url(page_url, trim(tag.attr("action")));
        f.method = lower(tag.attr("method")) == "post" ? "POST" : "GET";
        f.id = tag.attr("id");
        forms.push_back(std::move(f));
        form = &forms.back();
      }
      continue;
    }
    if (form == nullptr) continue;
    if (tag.name == "input" && !tag.closing) {
      std::string type = lower(tag.attr("type"));
      if (!tag.has("name") || tag.has("disabled")) continue;
      if (type == "submit") {
        form->buttons.emplace_back(tag.attr("name"), tag.has("value") ? tag.attr("value") : "Submit");
      } else if (type == "checkbox" || type == "radio") {
        if (tag.has("checked")) form->fields.emplace_back(tag.attr("name"), tag.has("value") ? tag.attr("value") : "on");
      } else if (type != "image" && type != "reset" && type != "button" && type != "file") {
        form->fields.emplace_back(tag.attr("name"), tag.attr("value"));
      }
    } else if (tag.name == "button" && !tag.closing) {
      std::string type = lower(tag.attr("type"));
      if ((type.empty() || type == "submit") && tag.has("name") && !tag.has("disabled"))
        form->buttons.emplace_back(tag.attr("name"), tag.attr("value"));
    } else if (tag.name == "select") {
      if (!tag.closing) {
        select = Select{};
        if (tag.has("name") && !tag.has("disabled")) select->name = tag.attr("name");
      } else if (select) {
        auto value = select->selected ? select->selected : select->first;
        if (!select->name.empty() && value) form->fields.emplace_back(select->name, *value);
        select.reset();
      }
    } else if (tag.name == "option" && !tag.closing && select) {
      std::string value = tag.has("value") ? tag.attr("value")
                                           : trim(decode_entities(html.substr(pos, html.find('<', pos) - pos)));
      if (!select->first) select->first = value;
      if (tag.has("selected") && !select->selected) select->selected = value;
    }
  }
  return forms;
}

std::optional<HtmlForm> find_form(const std::string& html, const std::string& page_url,
                                  const std::string& action_substring) {
  for (auto& f : parse_forms(html, page_url))
    if (f.action.find(action_substring) != std::string::npos) return f;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Hops and navigations

std::string HttpHop::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpHop::location() const {
  std::string loc = header("Location");
  return loc.empty() ? loc : resolve_url(url, loc);
}

const HttpHop& Navigation::last() const {
  static const HttpHop empty;
  return hops.empty() ? empty : hops.back();
}

const HttpHop* Navigation::find(const std::string& url_prefix) const {
  for (const auto& h : hops)
    if (h.url.rfind(url_prefix, 0) == 0) return &h;
  return nullptr;
}

std::optional<HtmlForm> Navigation::form(const std::string& action_substring) const {
  return find_form(last().body, last().url, action_substring);
}

std::string Navigation::describe() const {
  std::string out;
  for (const auto& h : hops) {
    out += h.method + " " + h.url + " -> " + std::to_string(h.status);
    if (!h.header("Location").empty()) out += " Location: " + h.header("Location");
    out += "\n";
  }
  if (!error.empty()) out += "error: " + error + "\n";
  if (!hops.empty()) out += "last body: " + shorten(last().body, 2000) + "\n";
  return out;
}

// ---------------------------------------------------------------------------------------
// HttpBrowser

void HttpBrowser::resolve(const std::string& host, int port, int target_port) {
  resolve_[lower(host) + ":" + std::to_string(port)] = target_port;
}

Navigation HttpBrowser::get(const std::string& url, const httplib::Headers& headers) {
  return navigate("GET", url, "", "", headers);
}

Navigation HttpBrowser::post_form(const std::string& url, const FormFields& fields, const httplib::Headers& headers) {
  return navigate("POST", url, form_encode(fields), "application/x-www-form-urlencoded", headers);
}

Navigation HttpBrowser::submit(const HtmlForm& form, const std::string& button) {
  FormFields fields = form.submission(button);
  if (form.method == "POST") return post_form(form.action, fields);
  std::string url = form.action.substr(0, form.action.find_first_of("?#"));
  return get(fields.empty() ? url : url + "?" + form_encode(fields));
}

Navigation HttpBrowser::navigate(std::string method, std::string url, std::string body, std::string content_type,
                                 const httplib::Headers& headers) {
  Navigation nav;
  for (int redirects = 0;; ++redirects) {
    auto parsed = parse_url(url);
    if (!parsed) {
      nav.error = "cannot fetch " + url + ": only absolute http:// URLs";
      return nav;
    }
    std::string connect_host = parsed->host;
    int connect_port = parsed->port;
    if (auto it = resolve_.find(parsed->host_port()); it != resolve_.end()) {
      connect_host = "127.0.0.1";
      connect_port = it->second;
    } else if (connect_host.front() == '[') {
      connect_host = connect_host.substr(1, connect_host.size() - 2);
    }
    httplib::Client client(connect_host, connect_port);
    const time_t secs = timeout_ms_ / 1000;
    const time_t usecs = (timeout_ms_ % 1000) * 1000;
    client.set_connection_timeout(secs, usecs);
    client.set_read_timeout(secs, usecs);
    client.set_write_timeout(secs, usecs);
    client.set_tcp_nodelay(true);  // else each POST waits out a delayed ACK
    client.set_keep_alive(false);
    client.set_follow_location(false);
    client.set_url_encode(false);  // the target is sent as written

    // Extra headers go with the first request only, never to where it redirects.
    httplib::Headers h = redirects == 0 ? headers : httplib::Headers{};
    h.emplace("Host", parsed->port == 80 ? parsed->host : parsed->host_port());
    if (h.find("User-Agent") == h.end()) h.emplace("User-Agent", "gatehouse-tests HttpBrowser");
    if (h.find("Accept") == h.end()) h.emplace("Accept", "text/html,application/json;q=0.9,*/*;q=0.8");
    HttpHop hop;
    hop.method = method;
    hop.url = url;
    hop.request_cookies = cookie_header(url);
    if (!hop.request_cookies.empty()) h.emplace("Cookie", hop.request_cookies);

    httplib::Result res = method == "GET" ? client.Get(parsed->target, h)
                                          : client.Post(parsed->target, h, body, content_type.c_str());
    if (!res) {
      nav.error = method + " " + url + ": " + httplib::to_string(res.error());
      return nav;
    }
    hop.status = res->status;
    hop.headers = res->headers;
    hop.body = res->body;
    store_cookies(*parsed, res->headers);
    nav.hops.push_back(std::move(hop));

    const HttpHop& last = nav.hops.back();
    std::string next = last.location();
    if (!follow_redirects_ || !is_redirect(last.status) || next.empty()) return nav;
    for (const auto& prefix : stop_before_)
      if (next.rfind(prefix, 0) == 0) return nav;
    if (redirects == 20) {
      nav.error = "more than 20 redirects in a row";
      return nav;
    }
    if (last.status != 307 && last.status != 308 && method != "GET") {
      method = "GET";
      body.clear();
      content_type.clear();
    }
    url = next.substr(0, next.find('#'));
  }
}

void HttpBrowser::store_cookies(const ParsedUrl& url, const httplib::Headers& headers) {
  auto range = headers.equal_range("Set-Cookie");
  const long long now = static_cast<long long>(std::time(nullptr));
  for (auto it = range.first; it != range.second; ++it) {
    std::stringstream ss(it->second);
    std::string pair;
    std::getline(ss, pair, ';');
    size_t eq = pair.find('=');
    if (eq == std::string::npos) continue;
    Cookie c;
    c.name = trim(pair.substr(0, eq));
    c.value = trim(pair.substr(eq + 1));
    if (c.name.empty()) continue;
    c.path = default_cookie_path(url.path());
    // 0: a session cookie; -1: expired, so the cookie is deleted.
    std::optional<long long> max_age;
    long long expires = 0;
    std::string attr;
    while (std::getline(ss, attr, ';')) {
      size_t aeq = attr.find('=');
      std::string name = lower(trim(attr.substr(0, aeq)));
      std::string value = aeq == std::string::npos ? "" : trim(attr.substr(aeq + 1));
      if (name == "path" && !value.empty() && value[0] == '/') {
        c.path = value;
      } else if (name == "max-age" && !value.empty()) {
        try {
          max_age = std::stoll(value);
        } catch (const std::exception&) {
        }
      } else if (name == "expires") {
        if (long long t = parse_http_date(value); t >= 0) expires = t <= now ? -1 : t;
      }
    }
    if (max_age) expires = *max_age <= 0 ? -1 : now + *max_age;  // Max-Age wins over Expires
    auto& cookies = jar_[url.host_port()];
    std::erase_if(cookies, [&](const Cookie& o) { return o.name == c.name && o.path == c.path; });
    if (expires < 0) continue;
    c.expires = expires;
    cookies.push_back(std::move(c));
  }
}

std::string HttpBrowser::cookie_header(const std::string& url) const {
  auto parsed = parse_url(url);
  if (!parsed) return {};
  auto it = jar_.find(parsed->host_port());
  if (it == jar_.end()) return {};
  const long long now = static_cast<long long>(std::time(nullptr));
  std::vector<const Cookie*> matching;
  for (const auto& c : it->second)
    if ((c.expires == 0 || c.expires > now) && path_matches(c.path, parsed->path())) matching.push_back(&c);
  std::stable_sort(matching.begin(), matching.end(),
                   [](const Cookie* a, const Cookie* b) { return a->path.size() > b->path.size(); });
  std::string out;
  for (const Cookie* c : matching) out += (out.empty() ? "" : "; ") + c->name + "=" + c->value;
  return out;
}

std::optional<std::string> HttpBrowser::cookie(const std::string& host_port, const std::string& name) const {
  auto it = jar_.find(lower(host_port));
  if (it == jar_.end()) return std::nullopt;
  const long long now = static_cast<long long>(std::time(nullptr));
  for (const auto& c : it->second)
    if (c.name == name && (c.expires == 0 || c.expires > now)) return c.value;
  return std::nullopt;
}

void HttpBrowser::set_cookie(const std::string& host_port, const std::string& name, const std::string& value,
                             const std::string& path) {
  auto& cookies = jar_[lower(host_port)];
  std::erase_if(cookies, [&](const Cookie& c) { return c.name == name && c.path == path; });
  cookies.push_back(Cookie{name, value, path, 0});
}

void HttpBrowser::delete_cookie(const std::string& host_port, const std::string& name) {
  auto it = jar_.find(lower(host_port));
  if (it != jar_.end()) std::erase_if(it->second, [&](const Cookie& c) { return c.name == name; });
}

}  // namespace gatehouse::testing
