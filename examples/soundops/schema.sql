-- SoundOps: what its page needs that the reference demo lacks (applied after `lethe demo`,
-- by `make run EXAMPLE=soundops` and by tests/e2e/test_example_soundops.py).
--
-- "Include your account name or tenant/site name for identification": a SoundOps
-- account runs one site, whose name is not the account's name.  The demo has no such
-- column (projects.name is not unique: several users have a "Coffee Corner"), so the
-- example gives every account its site name, unique like users.name, which the data
-- map declares as the identity kind `site_name`.
ALTER TABLE users ADD COLUMN site_name TEXT;
UPDATE users SET site_name = 'site-' || id || '.soundops.io';
CREATE UNIQUE INDEX users_site_name ON users (site_name);
