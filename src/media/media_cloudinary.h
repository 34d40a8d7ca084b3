/* SPDX-License-Identifier: MIT */
/*
 * media_cloudinary.h - the pure half of the Cloudinary kind
 * (media_cloudinary_key.c): reading the credentials URL, turning a media
 * column's value into (resource type, delivery type, public id), percent-
 * encoding, and classifying the Admin API's JSON answers.  No I/O, no
 * global state: media_cloudinary.c does the calls, the unit tests call
 * these directly.  Not for use outside src/media/.
 */
#ifndef LETHE_MEDIA_CLOUDINARY_H
#define LETHE_MEDIA_CLOUDINARY_H

#include "media/media_internal.h"
#include "util/buf.h"
#include "util/fmacros.h"
#include "util/rc.h"

/* Public ids one Delete resources or resources-by-public-ids call takes (the Admin API's cap). */
#define MEDIA_CLD_BATCH 100
/* Longest cloud name, resource type and delivery type we accept. */
#define MEDIA_CLD_NAME_MAX 64
/* Longest public id we send (Cloudinary's documented limit is 255 characters, in bytes less). */
#define MEDIA_CLD_ID_MAX 1024

/* The credentials of one call: parsed from cloudinary://API_KEY:API_SECRET@CLOUD. */
struct media_cld_cred {
	char *userpwd; /* "API_KEY:API_SECRET" for Basic auth; wiped on clear */
	char cloud[MEDIA_CLD_NAME_MAX + 1]; /* the cloud name the URL names */
};

/*
 * Parse @url (cloudinary://API_KEY:API_SECRET@CLOUD, an optional
 * "?options" tail ignored) into @c.  false if it is not of that form (the
 * caller names the variable or file; nothing of the value may be shown).
 * On success release @c with media_cld_cred_clear().
 */
bool media_cld_cred_parse(const char *url, struct media_cld_cred *c);
/* Wipe and free @c's secret; @c may be cleared twice. */
void media_cld_cred_clear(struct media_cld_cred *c);

/* Whether @s is a cloud name: [A-Za-z0-9_-]{1,64}. */
bool media_cld_cloud_ok(const char *s);
/* Whether @s is a delivery type: [a-z_]{1,64}. */
bool media_cld_type_ok(const char *s);
/* Whether @s is a resource type: image, video or raw. */
bool media_cld_rt_ok(const char *s);

/* One key resolved against a store. */
struct media_cld_key {
	char rt[MEDIA_CLD_NAME_MAX + 1];   /* resource type */
	char type[MEDIA_CLD_NAME_MAX + 1]; /* delivery type */
	char *public_id;                   /* owned; NULL when the key was refused */
};

/*
 * Resolve @key of store @c whose cloud is @cloud: a delivery URL under
 * @c->delivery_url (or the same host over http) naming @cloud is parsed
 * into its resource type, delivery type and public id (the version
 * segment v123 and what precedes it after the type dropped; the last
 * extension dropped for image and video, kept for raw; percent-decoded);
 * anything else is a public id, @c->prefix prepended, of the store's
 * resource and delivery types.  false (and @out->public_id NULL) if the key
 * is unsafe: empty, over MEDIA_CLD_ID_MAX, a control character, a URL of
 * another cloud or a malformed delivery URL.  Free with
 * media_cld_key_free().
 */
bool media_cld_key_parse(const struct media_cloudinary *c, const char *cloud, const char *key,
                         struct media_cld_key *out);
void media_cld_key_free(struct media_cld_key *k);

/*
 * Append @s to @b percent-encoded: RFC 3986's unreserved characters kept,
 * '/' kept too when @keep_slash (a path), every other byte as %XX.
 */
lethe_rc media_cld_escape(struct buf *b, const char *s, bool keep_slash);

/*
 * Classify Delete resources' answer @body (@len bytes) for the @n public ids
 * @ids: "deleted" -> MEDIA_REMOVED, "not_found" -> MEDIA_GONE, any other
 * value or an id the answer does not list -> MEDIA_FAILED.  LETHE_E_INVALID
 * (out all MEDIA_FAILED) if the body is not a JSON object with a "deleted"
 * object.
 */
lethe_rc media_cld_delete_answer(const char *body, size_t len, const char *const *ids, size_t n,
                                 enum media_outcome *out);
/*
 * Classify resources-by-public-ids' answer: an id listed in "resources"
 * (by its "public_id") is MEDIA_PRESENT, any other MEDIA_ABSENT, or
 * MEDIA_UNKNOWN when the answer has a (non-null) "next_cursor": the
 * listing goes on elsewhere.
 * LETHE_E_INVALID (out all MEDIA_UNKNOWN) if the body is not a JSON
 * object with a "resources" array.
 */
lethe_rc media_cld_probe_answer(const char *body, size_t len, const char *const *ids, size_t n,
                                enum media_presence *out);
/*
 * The "secure_url" of a resource's details (@body), a fresh string the
 * caller frees, if it lies under @delivery_url ("ORIGIN/..."); NULL
 * otherwise (absent, not a string, another origin, a control character).
 */
char *media_cld_secure_url(const char *body, size_t len, const char *delivery_url);

#endif /* LETHE_MEDIA_CLOUDINARY_H */
