/* SPDX-License-Identifier: MIT */
/*
 * download.c - an export archive as an HTTP body (see server_internal.h,
 * http_reply_download()): the app API's GET /v1/requests/{id}/export and
 * the download links' POST stream the same way.
 *
 * The handler (on a worker thread) opens the archive through the service
 * and sets the reply; the server queues it like any other (reply.c), as a
 * libmicrohttpd callback response whose reader decrypts one chunk at a
 * time on the connection's event thread: memory is one chunk whatever the
 * archive's size, and nothing of the archive is ever in the clear on
 * disk.  A chunk that does not verify ends the response with an error, so
 * libmicrohttpd closes the connection before the announced length: a
 * client never receives a complete body that is not the archive.  The
 * download is closed (file, key) when libmicrohttpd frees the response.
 */
#include "util/fmacros.h"

#include <microhttpd.h>

#include "http/server_internal.h"
#include "util/log.h"

#define DOWNLOAD_BLOCK 65536 /* bytes libmicrohttpd asks for at most per call */

/* MHD_ContentReaderCallback: the next decrypted bytes of the archive @cls. */
static ssize_t
download_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct service_download *d = cls;
	struct lethe_err err = {0};
	size_t n = 0;

	(void)pos; /* read in order: libmicrohttpd never seeks a callback response */
	if (service_download_read(d, buf, max, &n, &err) != LETHE_OK) {
		static struct log_limit lim = LOG_LIMIT_INIT(10, 60000.);

		log_warnx_limited(&lim, "download: %s; the connection is aborted", err.msg);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return (ssize_t)n;
}

/* MHD_ContentReaderFreeCallback: the response is done with archive @cls. */
static void
download_free(void *cls)
{
	service_download_close(cls);
}

void
http_reply_download(struct request *r, struct service_download *d,
                    const struct service_export_view *v)
{
	if (r->dl != NULL)
		service_download_close(r->dl);
	free(r->rbody);
	r->rbody = NULL;
	r->rlen = 0;
	r->dl = d;
	r->dl_len = v->bytes;
	r->status = MHD_HTTP_OK;
	r->type = "application/zip";
	snprintf(r->disposition, sizeof(r->disposition), "attachment; filename=\"%.72s\"",
	         v->filename);
}

struct MHD_Response *
http__download_response(struct request *r)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_callback((uint64_t)r->dl_len, DOWNLOAD_BLOCK, download_read,
	                                         r->dl, download_free);
	if (resp != NULL)
		r->dl = NULL; /* the response owns it now */
	return resp;
}
