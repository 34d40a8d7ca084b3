-- Socio Linki: what its page needs that the reference demo lacks (applied after `lethe
-- demo`, by `make run EXAMPLE=socio-linki` and by tests/e2e/test_example_socio_linki.py).
--
-- "Uploaded videos and images are transmitted to the target platform (or to a CDN like
-- Cloudinary for hosting during scheduling) and are not retained ... beyond what's needed
-- to publish": a ttl can only read its own row, and the demo's media rows do not say
-- when their post was published.  Socio Linki's publisher stamps media.published_at when
-- it publishes the post; the example fills it from the demo's published posts.
ALTER TABLE media ADD COLUMN published_at TEXT;
UPDATE media SET published_at = (SELECT p.published_at FROM posts p
                                  WHERE p.id = media.post_id AND p.status = 'published');
CREATE INDEX media_published_at_idx ON media (published_at);
