/* SPDX-License-Identifier: MIT */
/*
 * mail_probe.c - a test driver for the mail library: builds one message
 * (mail_build) and sends it COUNT times through one sender
 * (mail_smtp_send, so the second send may reuse the connection), each
 * result printed as one JSON line: {"rc", "message", "ms"}.
 * tests/e2e/test_mail_smtp.py runs it against scripts/smtp_sink.py over
 * loopback.
 *
 *   mail_probe FILE TO [COUNT]
 *
 * FILE holds a mapping with a `mail:` key (the lethe.yaml syntax); its
 * user and password are loaded as lethe loads them.  Exit 0 when the
 * sends ran (whatever their outcome), 2 on bad arguments, a bad FILE or a
 * message mail_build() refuses (the error on stderr).
 */
#include "util/fmacros.h"

#include <jansson.h>
#include <libgen.h>

#include "mail/mail.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/yamlutil.h"

#define PROBE_TEXT                                                                                 \
	"Hello,\n\nYour request is scheduled. Cancel it here until 1 December:\n"                  \
	"https://privacy.example.com/privacy/l/abcdefghijklmnopqrstuvwxyz234567\n\n"               \
	"Grüße, and a line long enough to need a soft break in quoted-printable: "               \
	"0123456789012345678901234567890123456789 = the end.\n"
#define PROBE_HTML                                                                                 \
	"<!DOCTYPE html>\n<html lang=\"en\"><body><p>Your request is scheduled.</p>"               \
	"<p><a href=\"https://privacy.example.com/privacy/l/abcdefghijklmnopqrstuvwxyz234567\">"   \
	"Cancel it</a></p></body></html>\n"

int
main(int argc, char **argv)
{
	struct mail_config mc;
	struct mail_msg m;
	struct lethe_err err = {0};
	struct mail_smtp *s = NULL;
	struct ydoc y;
	struct buf b;
	char *tmp = NULL, *dir = NULL;
	long count = 1, i;
	int status = 2;

	memset(&mc, 0, sizeof(mc));
	memset(&m, 0, sizeof(m));
	memset(&y, 0, sizeof(y));
	buf_init(&b, 4u << 20);
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: mail_probe FILE TO [COUNT]\n");
		return 2;
	}
	if (argc == 4)
		count = strtol(argv[3], NULL, 10);
	if (count < 1 || count > 100) {
		fprintf(stderr, "mail_probe: COUNT must be from 1 to 100\n");
		return 2;
	}
	tmp = xstrdup(argv[1]);
	dir = xstrdup(dirname(tmp));
	if (ydoc_load(&y, argv[1], NULL, LETHE_E_CONFIG, &err) != LETHE_OK ||
	    mail_config_parse(&mc, dir, &y, ydoc_root(&y), &err) != LETHE_OK ||
	    mail_config_load_secrets(&mc, &err) != LETHE_OK) {
		fprintf(stderr, "mail_probe: %s\n", err.msg);
		goto out;
	}
	if (!mc.enabled) {
		fprintf(stderr, "mail_probe: %s has no mail: section\n", argv[1]);
		goto out;
	}
	m.to = xstrdup(argv[2]);
	m.subject = xstrdup("Your request to Exämple is scheduled");
	m.text = xstrdup(PROBE_TEXT);
	m.html = xstrdup(PROBE_HTML);
	if (mail_build(&mc, &m, time_now(), &b, &err) != LETHE_OK) {
		fprintf(stderr, "mail_probe: %s\n", err.msg);
		goto out;
	}
	s = mail_smtp_new(&mc);
	for (i = 0; i < count; i++) {
		double t0 = time_mono_ms();
		lethe_rc rc = mail_smtp_send(s, m.to, b.data, b.len, &err);
		json_t *j = json_pack("{s:s, s:s, s:f}", "rc", lethe_rc_str(rc), "message",
		                      rc == LETHE_OK ? "" : err.msg, "ms", time_mono_ms() - t0);
		char *line = json_dumps(j, JSON_COMPACT);

		printf("%s\n", line);
		fflush(stdout);
		free(line);
		json_decref(j);
	}
	status = 0;
out:
	mail_smtp_free(s);
	mail_msg_free(&m);
	mail_config_free(&mc);
	buf_free(&b);
	ydoc_free(&y);
	free(tmp);
	free(dir);
	return status;
}
