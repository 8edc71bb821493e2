#pragma once
// Structured log lines on stderr (the journal when run by systemd): one event per line,
// written with a single write so lines of different threads never interleave. Never pass
// a secret here: no password, token, cookie, key or request query string.
//
// Two formats, chosen once for the whole process ([log] format):
//   kv:   level=info event=listening address=127.0.0.1:8080 routes=2
//         Values are quoted when needed (see quote()); no timestamp, the journal adds one.
//   json: {"ts":"2026-11-24T10:00:00.123Z","level":"info","event":"listening",
//          "address":"127.0.0.1:8080","routes":"2"}
//         One object per line: "ts" (UTC, RFC 3339 with milliseconds), "level", "event",
//         then every field as a string member in the order given. Invalid UTF-8 is
//         replaced by U+FFFD; control characters are escaped, so a line stays one line.
//   Both: bidirectional-control characters (U+061C, U+200E, U+200F, U+202A-U+202E,
//         U+2066-U+2069) are written as \uXXXX, so a value cannot reorder how the rest
//         of its line is displayed.
//         A field named ts, level or event is written as field_ts, field_level or
//         field_event so it cannot overwrite them; when a name repeats, the last value is
//         kept at the place of the first.
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace gatehouse::log {

enum class Level { debug = 0, info = 1, warning = 2, error = 3 };
enum class Format { kv, json };

// Both are process-wide and may be changed while other threads log (reload).
void set_min_level(Level level);
void set_format(Format format);

// "debug", "info", "warning", "error"; parse_level accepts exactly these.
std::string_view level_name(Level level);
std::optional<Level> parse_level(std::string_view text);
// "kv", "json"; parse_format accepts exactly these.
std::string_view format_name(Format format);
std::optional<Format> parse_format(std::string_view text);

using Field = std::pair<std::string_view, std::string_view>;
void event(Level level, std::string_view name, std::initializer_list<Field> fields = {});

inline void debug(std::string_view name, std::initializer_list<Field> f = {}) { event(Level::debug, name, f); }
inline void info(std::string_view name, std::initializer_list<Field> f = {}) { event(Level::info, name, f); }
inline void warning(std::string_view name, std::initializer_list<Field> f = {}) { event(Level::warning, name, f); }
inline void error(std::string_view name, std::initializer_list<Field> f = {}) { event(Level::error, name, f); }

// Where lines go instead of stderr, for tests: called once per line, the line with its
// trailing '\n', never concurrently. An empty function restores stderr.
using Sink = std::function<void(std::string_view line)>;
void set_sink(Sink sink);

// Quote a value for key=value output: control characters escaped (\xNN) so a crafted
// value can never forge a second log line, bidirectional controls as \uXXXX.
std::string quote(std::string_view value);

}  // namespace gatehouse::log
