#pragma once
// The SQL migrations in store/migrations/NNNN_name.sql, compiled into the binary by
// store/embed_migrations.cmake so that the daemon never depends on files beside it.
#include <span>
#include <string_view>

namespace gatehouse::store {

struct Migration {
  int version;            // NNNN; versions run 1, 2, 3… without gaps
  std::string_view name;  // the rest of the file name, e.g. "initial"
  std::string_view sql;   // one or more statements, no BEGIN/COMMIT of its own
};

// Ordered by version.
std::span<const Migration> migrations();

inline int latest_schema_version() {
  auto all = migrations();
  return all.empty() ? 0 : all.back().version;
}

}  // namespace gatehouse::store
