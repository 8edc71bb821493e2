-- Sessions opened through an OpenID provider keep what they need later: the provider's
-- tokens (sealed by gatehouse before they reach the store: the refresh token is a
-- credential) and when the claims must be refreshed (0: never).
ALTER TABLE sessions ADD COLUMN provider_state BLOB NOT NULL DEFAULT x'';
ALTER TABLE sessions ADD COLUMN refresh_at INTEGER NOT NULL DEFAULT 0;
