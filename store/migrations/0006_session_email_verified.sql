-- Whether the source vouched for the session's e-mail address (an OpenID provider's
-- email_verified claim; directories do). Delegations reach verified addresses only.
ALTER TABLE sessions ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 1 CHECK (email_verified IN (0, 1));
