/* SPDX-License-Identifier: MIT */
/*
 * smtp.c - sending one message to the SMTP server through libcurl (see
 * mail.h).
 *
 * One curl easy handle per sender, kept between messages so libcurl reuses
 * its connection (no new TCP, TLS and EHLO per message).  smtp:// asks for
 * STARTTLS as mail.starttls says (CURLUSESSL_ALL / _TRY / none); smtps:// is
 * TLS from the start.  A result is mapped from the SMTP reply code
 * (CURLINFO_RESPONSE_CODE) and curl's error: a 5xx about this message is
 * permanent (LETHE_E_INVALID, a dead letter); a 4xx, no connection, a
 * timeout, no TLS where it is required, or a refused login are for later
 * (LETHE_E_UNAVAILABLE).  Messages name the code and curl's generic text
 * (curl_easy_strerror), never curl's error buffer or the server's words:
 * those may quote the recipient.
 */
#include "util/fmacros.h"

#include <curl/curl.h>
#include <sys/socket.h>
#include <string.h>

#include "mail/mail.h"
#include "util/curlinit.h"
#include "util/mem.h"

struct mail_smtp {
	const struct mail_config *mc; /* borrowed */
	CURL *h;                      /* kept: its connection is reused */
};

/* The message being uploaded. */
struct upload {
	const char *data; /* the message */
	size_t len;       /* its length */
	size_t pos;       /* bytes handed to curl so far */
};

static size_t
upload_read(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct upload *u = userdata;
	size_t n = size * nmemb;

	if (n > u->len - u->pos)
		n = u->len - u->pos;
	memcpy(ptr, u->data + u->pos, n);
	u->pos += n;
	return n;
}

struct mail_smtp *
mail_smtp_new(const struct mail_config *mc)
{
	struct mail_smtp *s = xcalloc(1, sizeof(*s));

	s->mc = mc;
	return s;
}

/* The handle with every per-sender option set, made on first use. */
static CURL *
handle(struct mail_smtp *s)
{
	const struct mail_config *mc = s->mc;
	bool smtps = strncmp(mc->url, "smtps://", 8) == 0;
	char *from;
	CURL *h;

	if (s->h != NULL)
		return s->h;
	if (curlinit_once() != CURLE_OK)
		return NULL;
	h = curl_easy_init();
	if (h == NULL)
		return NULL;
	from = xasprintf("<%s>", mc->from);
	curl_easy_setopt(h, CURLOPT_URL, mc->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from); /* copied by curl */
	if (smtps || mc->starttls == MAIL_TLS_REQUIRED)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	else if (mc->starttls == MAIL_TLS_OPTIONAL)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	else
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_NONE);
	if (mc->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, mc->ca_file);
	if (mc->user != NULL)
		curl_easy_setopt(h, CURLOPT_USERNAME, mc->user);
	if (mc->password != NULL)
		curl_easy_setopt(h, CURLOPT_PASSWORD, mc->password);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)mc->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)mc->timeout_ms);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, upload_read);
	free(from);
	s->h = h;
	return h;
}

/* Close the connection without a dialogue and forget the handle. */
static void
drop(struct mail_smtp *s)
{
	curl_socket_t fd = CURL_SOCKET_BAD;

	if (s->h == NULL)
		return;
	if (curl_easy_getinfo(s->h, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK &&
	    fd != CURL_SOCKET_BAD)
		shutdown(fd, SHUT_RDWR);
	curl_easy_cleanup(s->h);
	s->h = NULL;
}

/* True for a 5xx that is about the server or our login, not this message. */
static bool
code_not_message(long code)
{
	/* 530 authentication / STARTTLS required, 534/535/538 login refused. */
	return code == 530 || code == 534 || code == 535 || code == 538;
}

lethe_rc
mail_smtp_send(struct mail_smtp *s, const char *to, const char *data, size_t len,
               struct lethe_err *err)
{
	struct upload u = {data, len, 0};
	struct curl_slist *rcpt = NULL;
	char *addr;
	long code = 0;
	CURLcode cc;
	CURL *h = handle(s);

	if (h == NULL)
		return lethe_err_set(err, LETHE_E_UNAVAILABLE, "SMTP: libcurl could not start");
	if (!mail_address_ok(to))
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "SMTP: the recipient is not an address lethe sends to");
	addr = xasprintf("<%s>", to);
	rcpt = curl_slist_append(NULL, addr);
	free(addr);
	if (rcpt == NULL)
		return lethe_err_set(err, LETHE_E_UNAVAILABLE, "SMTP: out of memory");
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_READDATA, &u);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	/* The list is freed: do not leave curl pointing at it. */
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, NULL);
	curl_easy_setopt(h, CURLOPT_READDATA, NULL);
	curl_slist_free_all(rcpt);
	if (cc == CURLE_OK && (code == 0 || (code >= 200 && code < 300)))
		return LETHE_OK;
	/*
	 * After a failure the connection may be anywhere in the dialogue (a
	 * timeout while the server still owes DATA's answer): never reuse it,
	 * or that late answer would be read as the next message's.  The socket
	 * is shut first: curl's goodbye (QUIT) then fails at once instead of
	 * waiting for that answer.
	 */
	drop(s);
	if (cc == CURLE_OK)
		cc = CURLE_WEIRD_SERVER_REPLY;
	if (code >= 500 && code < 600 && !code_not_message(code) &&
	    cc != CURLE_OPERATION_TIMEDOUT && cc != CURLE_LOGIN_DENIED)
		return lethe_err_set(err, LETHE_E_INVALID,
		                     "SMTP: the server refused the message (%ld): %s", code,
		                     curl_easy_strerror(cc));
	if (code >= 400 && code < 600)
		return lethe_err_set(err, LETHE_E_UNAVAILABLE,
		                     "SMTP: the server answered %ld, try again later: %s", code,
		                     curl_easy_strerror(cc));
	if (cc == CURLE_USE_SSL_FAILED)
		return lethe_err_set(
		    err, LETHE_E_UNAVAILABLE,
		    "SMTP: the server does not offer STARTTLS and mail.starttls is "
		    "required");
	return lethe_err_set(err, LETHE_E_UNAVAILABLE, "SMTP: %s (%s)", curl_easy_strerror(cc),
	                     s->mc->url);
}

void
mail_smtp_free(struct mail_smtp *s)
{
	if (s == NULL)
		return;
	drop(s); /* no QUIT: a server that stopped answering must not hold up a stop */
	free(s);
}
