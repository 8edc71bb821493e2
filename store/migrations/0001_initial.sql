-- Tenants, local users and their groups, server-side sessions, small named values.
-- Timestamps are seconds since the Unix epoch.

CREATE TABLE tenants (
  name       TEXT PRIMARY KEY NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE users (
  name          TEXT PRIMARY KEY NOT NULL,
  tenant        TEXT NOT NULL REFERENCES tenants(name),
  email         TEXT NOT NULL DEFAULT '',
  display_name  TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL DEFAULT '',  -- argon2id string; '' = no password set
  disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  created_at    INTEGER NOT NULL
);
-- Foreign-key children need an index, or every check scans the table.
CREATE INDEX users_tenant ON users(tenant);

CREATE TABLE user_groups (
  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  grp  TEXT NOT NULL,
  PRIMARY KEY (user, grp)
) WITHOUT ROWID;

-- The key is BLAKE2b-256 of the raw session id, so a copy of this file (or a
-- backup) yields no usable cookie. No foreign key on user: sessions also belong to
-- LDAP, AD and OIDC users who have no row in users.
CREATE TABLE sessions (
  id_hash         BLOB PRIMARY KEY NOT NULL CHECK (length(id_hash) = 32),
  user            TEXT NOT NULL,
  email           TEXT NOT NULL DEFAULT '',
  display_name    TEXT NOT NULL DEFAULT '',
  group_list      TEXT NOT NULL DEFAULT '',  -- each group followed by U+001F
  real_party      TEXT NOT NULL DEFAULT '',
  effective_party TEXT NOT NULL DEFAULT '',
  source          TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  last_seen       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user);
CREATE INDEX sessions_last_seen ON sessions(last_seen);
-- Expiry deletes by either timestamp; with both indexed it is an OR of two lookups.
CREATE INDEX sessions_created_at ON sessions(created_at);

CREATE TABLE kv (
  key   TEXT PRIMARY KEY NOT NULL,
  value BLOB NOT NULL
);
