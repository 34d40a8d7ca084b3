-- SocioGenie (seed 001): the Instagram connection's fields of the user's profile, which
-- the demo's schema lacks.  Applied to the demo's app.db after `lethe demo`
-- (scripts/examples.py, one transaction).  The page: "remove related fields from your
-- user profile (including Instagram connection status, selected account settings, and
-- Instagram analytics)".
--
-- SocioGenie keeps them in its user document; here they are a one-to-one table beside
-- users, linked to the user and to the Instagram connection.  Not columns of users
-- itself: an Instagram user ID on the users row would make, in lethe's `meta` scope,
-- every row below the user (all their channels, not only Instagram's) the person's
-- (README.md, "What lethe cannot keep yet").  The demo's own rows are not changed.

CREATE TABLE instagram_profiles (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL,             -- users.id
  channel_id INTEGER,                   -- the connection document (channels.id)
  instagram_user_id TEXT,               -- Instagram user ID
  instagram_username TEXT,              -- Instagram username
  connected INTEGER NOT NULL DEFAULT 0, -- Instagram connection status
  account_settings TEXT,                -- selected account settings
  insights TEXT                         -- Instagram analytics summary
);

INSERT INTO instagram_profiles (user_id, channel_id, instagram_user_id, instagram_username,
                                connected, account_settings, insights)
SELECT u.id, c.id, c.platform_user_id, c.username, 1,
       json_object('account_type', 'business', 'auto_publish', 1, 'insights_refresh', 'daily'),
       (SELECT json_object('followers', a.followers, 'impressions', a.impressions, 'day', a.day)
          FROM analytics a WHERE a.channel_id = c.id ORDER BY a.day DESC LIMIT 1)
  FROM users u
  JOIN channels c ON c.id = (SELECT c2.id FROM channels c2 JOIN projects p ON p.id = c2.project_id
                              WHERE p.user_id = u.id AND c2.platform = 'instagram'
                              ORDER BY c2.id LIMIT 1)
 ORDER BY u.id;

CREATE INDEX instagram_profiles_user_id_idx ON instagram_profiles (user_id);
CREATE INDEX instagram_profiles_channel_id_idx ON instagram_profiles (channel_id);
