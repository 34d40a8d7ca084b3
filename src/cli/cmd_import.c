/* SPDX-License-Identifier: MIT */
/*
 * cmd_import.c - `lethe import-meta-ids`: run Meta data deletions for every
 * id of a list downloaded from the App Dashboard, and, with --out, write
 * each id's confirmation code and status URL to a file the operator sends
 * on (it holds the ids: personal data, so it is created 0600).
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "meta/requests.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define LINE_MAX_LEN 4096
#define ID_MAX_LEN 64

/* The --out file and the codes of the ids read, for counting those that matched nobody. */
struct import_out {
	const char *path;                 /* --out, or NULL */
	FILE *f;                          /* open while ids are read */
	const char *public_url;           /* base of status URLs */
	char (*codes)[META_CODE_LEN + 1]; /* code of every id read, in order */
	size_t n, cap;                    /* codes used and allocated */
};

/* Create @o->path (must not exist) with mode 0600 and write the CSV header. */
static lethe_rc
out_open(struct import_out *o, struct lethe_err *err)
{
	int fd;

	if (o->path == NULL)
		return LETHE_OK;
	fd = open(o->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return lethe_err_set(err, LETHE_E_USAGE, "cannot create %s: %s%s", o->path,
		                     strerror(errno),
		                     errno == EEXIST ? " (--out never overwrites a file)" : "");
	o->f = fdopen(fd, "w");
	if (o->f == NULL) {
		close(fd);
		return lethe_err_set(err, LETHE_E_INTERNAL, "cannot write %s", o->path);
	}
	fputs("id,confirmation_code,status_url\n", o->f);
	return LETHE_OK;
}

/* Note that @id got @code; one line of the CSV. */
static void
out_add(struct import_out *o, const char *id, const char *code)
{
	o->codes = xgrow(o->codes, &o->cap, o->n + 1, sizeof(*o->codes));
	snprintf(o->codes[o->n++], sizeof(o->codes[0]), "%s", code);
	if (o->f != NULL)
		fprintf(o->f, "%s,%s,%s/data-deletion/status?id=%s\n", id, code, o->public_url,
		        code);
}

/* Make the CSV durable (@ok) or remove it: it is incomplete. */
static lethe_rc
out_close(struct import_out *o, bool ok, struct lethe_err *err)
{
	lethe_rc rc = LETHE_OK;

	if (o->f != NULL) {
		if (ok && (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0 || ferror(o->f)))
			rc = lethe_err_set(err, LETHE_E_INTERNAL, "cannot write %s: %s", o->path,
			                   strerror(errno));
		if (fclose(o->f) != 0 && ok && rc == LETHE_OK)
			rc = lethe_err_set(err, LETHE_E_INTERNAL, "cannot write %s", o->path);
		o->f = NULL;
		if (!ok || rc != LETHE_OK)
			(void)unlink(o->path);
	}
	free(o->codes);
	o->codes = NULL;
	return rc;
}

/* The first all-digit field of @line (comma, semicolon or tab separated) into @out. */
static bool
line_id(const char *line, char out[ID_MAX_LEN + 1])
{
	const char *p = line;

	while (*p != '\0') {
		const char *end;
		size_t n;

		while (*p == ' ' || *p == '"' || *p == '\'')
			p++;
		end = p;
		while (isdigit((unsigned char)*end))
			end++;
		n = (size_t)(end - p);
		while (*end == ' ' || *end == '"' || *end == '\'' || *end == '\r' || *end == '\n')
			end++;
		if (n > 0 && n <= ID_MAX_LEN && (*end == '\0' || strchr(",;\t", *end) != NULL)) {
			memcpy(out, p, n);
			out[n] = '\0';
			return true;
		}
		p += strcspn(p, ",;\t");
		if (*p != '\0')
			p++;
	}
	return false;
}

int
cmd_import(const struct cli_args *a)
{
	const char *config = NULL, *appname = NULL;
	const struct meta_app *app = NULL;
	struct cli_env env;
	struct lethe_err err = {0};
	char line[LINE_MAX_LEN], id[ID_MAX_LEN + 1];
	int64_t ids = 0, created = 0, repeats = 0, skipped = 0, done = 0, elsewhere = 0, nobody = 0;
	struct import_out out;
	bool json = false;
	FILE *f = NULL;
	int status = 0;
	lethe_rc rc = LETHE_OK;

	memset(&env, 0, sizeof(env));
	memset(&out, 0, sizeof(out));
	config = a->config;
	appname = cli_arg_str(a, "app", NULL);
	out.path = cli_arg_str(a, "out", NULL);
	json = a->json;
	rc = cli_env_open(&env, config, &err);
	if (rc == LETHE_OK)
		rc = service_media_check(env.svc, &err);
	if (rc == LETHE_OK) {
		app = config_meta_app(&env.cfg, appname);
		if (app == NULL)
			rc = lethe_err_set(&err, LETHE_E_USAGE, "no app '%s' under meta.apps in %s",
			                   appname, env.cfg.path);
	}
	if (rc == LETHE_OK) {
		struct stat sb;

		f = fopen(a->operand, "r");
		if (f == NULL)
			rc = lethe_err_set(&err, LETHE_E_USAGE, "cannot read %s", a->operand);
		else if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode))
			rc = lethe_err_set(&err, LETHE_E_USAGE,
			                   "%s is a directory: give a file with one id a line",
			                   a->operand);
	}
	if (rc == LETHE_OK) {
		out.public_url = env.cfg.public_url;
		rc = out_open(&out, &err);
	}
	/* After the usage checks: it opens (and may create) the state store. */
	if (rc == LETHE_OK)
		rc = cli_load_key(&env.cfg, &err);
	/*
	 * The channels it erases are disconnected and the requests it completes
	 * notify proof.recipients: both jobs are sealed with the outbox key, and
	 * a notice carries a signed receipt.
	 */
	if (rc == LETHE_OK && (env.dm->channel != NULL || env.cfg.proof.nrecipients > 0))
		rc = service_load_outbox_key(&env.cfg, &err);
	if (rc == LETHE_OK && env.cfg.proof.nrecipients > 0)
		rc = config_load_signing_keys(&env.cfg, true, &err);
	if (rc == LETHE_OK)
		rc = service_import_begin(env.svc, &err);
	while (rc == LETHE_OK && fgets(line, sizeof(line), f) != NULL) {
		char code[META_CODE_LEN + 1];
		bool repeat = false;

		if (!line_id(line, id)) {
			skipped++;
			continue;
		}
		ids++;
		rc = service_import_add(env.svc, app, id, code, &repeat, &err);
		if (rc == LETHE_OK) {
			if (repeat)
				repeats++;
			else
				created++;
			out_add(&out, id, code);
		}
	}
	if (rc == LETHE_OK)
		rc = service_import_end(env.svc, true, &err);
	else if (env.svc != NULL)
		service_import_end(env.svc, false, NULL);
	if (rc == LETHE_OK)
		rc = service_import_drain(env.svc, &done, &elsewhere, &err);
	if (rc == LETHE_OK)
		rc = service_import_nobody(env.svc, out.codes, out.n, &nobody, &err);
	if (out_close(&out, rc == LETHE_OK, &err) != LETHE_OK && rc == LETHE_OK)
		rc = err.rc;
	if (rc != LETHE_OK) {
		status = cli_fail(&err, json);
		goto out;
	}
	if (json) {
		json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ids", (json_int_t)ids,
		                      "lines_skipped", (json_int_t)skipped, "new_requests",
		                      (json_int_t)created, "already_requested", (json_int_t)repeats,
		                      "processed_here", (json_int_t)done, "processed_by_server",
		                      (json_int_t)elsewhere, "matched_nobody", (json_int_t)nobody);
		json_t *path = out.path != NULL ? json_string(out.path) : json_null();

		if (path != NULL) /* NULL: an --out path that is not UTF-8, left out */
			json_object_set_new(o, "out", path);
		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(o);
		goto out;
	}
	printf("%lld ids read (%lld lines skipped): %lld new requests, %lld already requested; "
	       "%lld requests processed here, %lld by a running server; %lld matched nobody\n",
	       (long long)ids, (long long)skipped, (long long)created, (long long)repeats,
	       (long long)done, (long long)elsewhere, (long long)nobody);
	if (out.path != NULL)
		printf("codes and status URLs of the %lld ids in %s (it holds the ids: delete it "
		       "once sent on)\n",
		       (long long)ids, out.path);
out:
	out_close(&out, false, NULL);
	if (f != NULL)
		fclose(f);
	cli_env_close(&env);
	return status;
}
