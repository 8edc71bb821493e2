#pragma once
// Structured log lines on stderr (the journal when run by systemd): one event per line,
// key=value pairs with values quoted when needed. Never pass a secret here.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace gatehouse::log {

enum class Level { debug = 0, info = 1, warning = 2, error = 3 };

void set_min_level(Level level);
using Field = std::pair<std::string_view, std::string_view>;
void event(Level level, std::string_view name, std::initializer_list<Field> fields = {});

inline void info(std::string_view name, std::initializer_list<Field> f = {}) { event(Level::info, name, f); }
inline void warning(std::string_view name, std::initializer_list<Field> f = {}) { event(Level::warning, name, f); }
inline void error(std::string_view name, std::initializer_list<Field> f = {}) { event(Level::error, name, f); }

// Quote a value for key=value output: control characters escaped so a crafted value
// can never forge a second log line.
std::string quote(std::string_view value);

}  // namespace gatehouse::log
