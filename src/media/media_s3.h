/* SPDX-License-Identifier: MIT */
/*
 * media_s3.h - the parts of the s3 kind that tests reach without a server:
 * the reader of S3's XML answers (media_s3_xml.c) and the URL of a request
 * (media_s3.c).  Not for use outside src/media/ and its tests.
 */
#ifndef LETHE_MEDIA_S3_H
#define LETHE_MEDIA_S3_H

#include "media/media_internal.h"
#include "util/buf.h"
#include "util/fmacros.h"
#include "util/rc.h"

/* S3's longest key (bytes of UTF-8), prefix included. */
#define MEDIA_S3_KEY_MAX 1024
/* Room for an error code of S3's ("AccessDenied", "SlowDown"...) and its NUL. */
#define MEDIA_S3_CODE_MAX 48

/*
 * Called at the end of every element of an XML document: @path is the
 * element's names from the root joined by '/' ("DeleteResult/Error/Key");
 * @text its decoded text (@len bytes, NUL-terminated) when it has no child
 * element, NULL when it has.  A result other than LETHE_OK stops the read.
 */
typedef lethe_rc (*media_s3_xml_fn)(void *ctx, const char *path, const char *text, size_t len);

/*
 * Read the XML document of @len bytes at @xml (not NUL-terminated), calling
 * @fn for each element.  Only what S3 sends is accepted: an optional
 * <?xml ...?> declaration, elements with attributes, text with the entities
 * &amp; &lt; &gt; &quot; &apos; &#N; &#xN;, and white space between
 * elements.  Anything else -- a comment, a DOCTYPE, CDATA, another entity,
 * mixed content, more than 16 levels, a name over 64 bytes, text over
 * 8 KiB -- is LETHE_E_INVALID.  No allocation grows with the input beyond
 * those caps; safe on any bytes (tests/fuzz/fuzz_s3_xml.c).
 */
lethe_rc media_s3_xml_read(const char *xml, size_t len, media_s3_xml_fn fn, void *ctx,
                           struct lethe_err *err);

/*
 * Read a DeleteObjects answer (<DeleteResult>) for the @n keys sent
 * (@keys: as sent, prefix included): @codes[i] is "" for a key the answer
 * does not list as an <Error> (deleted: Quiet mode lists only failures),
 * else its <Code> (letters and digits only, "Unknown" when missing or odd).
 * LETHE_E_INVALID if the document is not a DeleteResult or names an
 * <Error> for a key not sent.
 */
lethe_rc media_s3_delete_result(const char *xml, size_t len, const char *const *keys, size_t n,
                                char (*codes)[MEDIA_S3_CODE_MAX], struct lethe_err *err);

/*
 * The <Code> of an S3 <Error> document into @code ("" if the body is not
 * one; letters and digits only).
 */
void media_s3_error_code(const char *xml, size_t len, char code[MEDIA_S3_CODE_MAX]);

/*
 * Append to @out the XML escape of @s: & < > " ' as entities.  The caller
 * has refused control characters (XML 1.0 cannot carry them).
 */
lethe_rc media_s3_xml_escape(struct buf *out, const char *s);

/*
 * The request target of store @m for the object @key (prefix and all, or
 * NULL for the bucket itself): @url (reset) the full URL with @query
 * appended after '?' unless it is "", @uri (reset) the canonical URI SigV4
 * signs, @host the Host header's value.  Path style:
 * ENDPOINT/BUCKET/KEY; virtual-host style: SCHEME://BUCKET.HOST/KEY.  The
 * key is URI-encoded per segment, '/' kept.
 */
lethe_rc media_s3_target(const struct media_store *m, const char *key, const char *query,
                         struct buf *url, struct buf *uri, struct buf *host);

#endif /* LETHE_MEDIA_S3_H */
