-- Lockout state (failed logins per account and per client address, locks, the
-- whitelist) and the append-only audit log. Accounts are the normalised keys of
-- auth::account_key ("alice" for "CORP\Alice"); timestamps are Unix seconds.

CREATE TABLE lockout_account_failures (
  account TEXT NOT NULL,
  at      INTEGER NOT NULL
);
CREATE INDEX lockout_account_failures_account ON lockout_account_failures(account, at);
CREATE INDEX lockout_account_failures_at ON lockout_account_failures(at);

CREATE TABLE lockout_address_failures (
  address TEXT NOT NULL,
  at      INTEGER NOT NULL
);
CREATE INDEX lockout_address_failures_address ON lockout_address_failures(address, at);
CREATE INDEX lockout_address_failures_at ON lockout_address_failures(at);

CREATE TABLE lockout_locks (
  account     TEXT PRIMARY KEY NOT NULL,
  since       INTEGER NOT NULL,
  until       INTEGER NOT NULL,  -- 0: until an admin unlocks
  reason      TEXT NOT NULL DEFAULT '',
  last_client TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE lockout_whitelist (
  kind     TEXT NOT NULL CHECK (kind IN ('user', 'network')),
  value    TEXT NOT NULL,  -- account key, or canonical CIDR
  added_at INTEGER NOT NULL,
  added_by TEXT NOT NULL DEFAULT '',
  comment  TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (kind, value)
) WITHOUT ROWID;

-- AUTOINCREMENT: ids are never reused after pruning, so a paging cursor stays valid.
CREATE TABLE audit_log (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  at      INTEGER NOT NULL,
  event   TEXT NOT NULL,
  user    TEXT NOT NULL DEFAULT '',
  account TEXT NOT NULL DEFAULT '',
  client  TEXT NOT NULL DEFAULT '',
  source  TEXT NOT NULL DEFAULT '',
  route   TEXT NOT NULL DEFAULT '',
  detail  TEXT NOT NULL DEFAULT ''
);
-- Retention deletes and --since by time; a user's history and last login by account
-- (the rowid that every index carries keeps each account's rows in id order).
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_account ON audit_log(account, event);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit records are append-only');
END;
