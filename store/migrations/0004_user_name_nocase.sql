-- Local user names are case-insensitive (ASCII), like the lockout's account key: "Alice"
-- signs in as "alice", and no two users may differ only in case. A store that already
-- holds such a pair fails this migration with its names; rename one, then start again.
CREATE UNIQUE INDEX users_name_nocase ON users(name COLLATE NOCASE);
