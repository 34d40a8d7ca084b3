/* SPDX-License-Identifier: MIT */
/*
 * demo.c - the reference social-media app database (`lethe demo`).
 *
 * Builds a small but realistic app to erase data from: a scheduler for
 * social-media posts whose users connect Facebook, Instagram, YouTube,
 * LinkedIn, X and TikTok accounts ("channels").  The output is DIR/app.db
 * (SQLite, WAL) or, with a postgresql:// database, the same tables and
 * rows in that database's schema public (demo_pg.c), one real file under
 * DIR/media/ per media row, the embedded data map and configuration, and
 * DIR/var/anonymize.key.  The schema is the one src/demo/datamap.yaml
 * describes; docs/demo.md lists it.
 *
 * Everything is a pure function of (users, seed, heavy): rows come from a
 * private splitmix64 generator, one independent stream per user, and every
 * timestamp is an offset from the fixed instant DEMO_BASE, never the clock.
 * Ordinary users are generated first and the heavy user last, so the heavy
 * option never changes an ordinary user's rows or ids.  Ids are assigned
 * here (counters per table), not by SQLite, so children can name parents
 * without a round trip.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

#include "demo/demo_internal.h"
#include "util/mem.h"
#include "util/rc.h"
#include "util/timeutil.h"

/* The rotation extra channels take: non-Meta platforms first. */
static const enum platform rotation[P_COUNT] = {
    P_YOUTUBE, P_LINKEDIN, P_X, P_TIKTOK, P_INSTAGRAM, P_FACEBOOK,
};

/*
 * File system helpers.
 */

/* mkdir -p @path (mode 0755).  LETHE_E_IO on failure. */
lethe_rc
demo_mkdir_p(const char *path, struct lethe_err *err)
{
	char *p = xstrdup(path), *s;
	struct stat sb;
	lethe_rc rc = LETHE_OK;

	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			rc = lethe_err_set(err, LETHE_E_IO, "%s: %s", p, strerror(errno));
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, 0755) != 0 && errno != EEXIST) {
		rc = lethe_err_set(err, LETHE_E_IO, "%s: %s", p, strerror(errno));
		goto out;
	}
	if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
		rc = lethe_err_set(err, LETHE_E_IO, "%s: not a directory", p);
out:
	free(p);
	return rc;
}

/* Write @len bytes of @data to @path (created or truncated) with @mode. */
lethe_rc
demo_write_file(const char *path, const void *data, size_t len, mode_t mode, struct lethe_err *err)
{
	const char *p = data;
	lethe_rc rc = LETHE_OK;
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return lethe_err_set(err, LETHE_E_IO, "%s: %s", path, strerror(errno));
	if (fchmod(fd, mode) != 0) {
		rc = lethe_err_set(err, LETHE_E_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = lethe_err_set(err, LETHE_E_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
out:
	if (close(fd) != 0 && rc == LETHE_OK)
		rc = lethe_err_set(err, LETHE_E_IO, "%s: %s", path, strerror(errno));
	return rc;
}

/* The platform of the next extra channel; skips Facebook/Instagram if @no_meta. */
static enum platform
next_platform(struct gen *g, bool no_meta)
{
	enum platform p;

	for (;;) {
		p = rotation[g->cycle++ % P_COUNT];
		if (!no_meta || (p != P_FACEBOOK && p != P_INSTAGRAM))
			return p;
	}
}

/*
 * Ordinary user @i: 1-2 projects; the first has an Instagram and a Facebook
 * channel (and maybe one more), the second 1-3 channels from the rotation.
 */
static void
gen_user(struct gen *g, int i)
{
	static const char *const plans[] = {"free", "free", "free", "pro", "pro", "agency"};
	struct rng r;
	struct chan ch;
	char email[64], name[64], handle[32], tax[16];
	const char *plan;
	int64_t uid, pid, created, pcreated, post_first, last_pid = 0, last_chan = 0;
	int nproj, nch, p, c, k, n, idx = 0;
	enum platform plat;

	rng_init(&r, g->seed, (uint64_t)i);
	demo_user_email(i, email, sizeof(email));
	snprintf(name, sizeof(name), "Demo User %d", i);
	snprintf(handle, sizeof(handle), "demouser%d", i);
	plan = PICK(&r, plans);
	created = DEMO_BASE - 90 * DAY - rng_range(&r, 0, 630 * DAY);
	uid = demo_emit_user(g, &r, email, name, plan, created);

	nproj = (int)rng_range(&r, 1, 2);
	for (p = 0; p < nproj && g->rc == LETHE_OK; p++) {
		pcreated = created + rng_range(&r, HOUR, 7 * DAY);
		pid = demo_emit_project(g, &r, uid, pcreated);
		post_first = g->rows[T_POSTS] + 1;
		nch = p == 0 ? (int)rng_range(&r, 2, 3) : (int)rng_range(&r, 1, 3);
		for (c = 0; c < nch; c++) {
			if (p == 0 && c == 0)
				plat = P_INSTAGRAM;
			else if (p == 0 && c == 1)
				plat = P_FACEBOOK;
			else
				plat = next_platform(g, p == 0);
			demo_emit_channel(g, &r, uid, handle, pid, ++idx, plat, pcreated, &ch);
			n = (int)rng_range(&r, 2, 5);
			for (k = 0; k < n; k++)
				demo_emit_post(g, &r, &ch);
			n = (int)rng_range(&r, 2, 5);
			for (k = 0; k < n; k++)
				demo_emit_message(g, &r, &ch);
			n = (int)rng_range(&r, 2, 5);
			for (k = 0; k < n; k++)
				demo_emit_comment(g, &r, &ch);
			n = (int)rng_range(&r, 3, 7);
			for (k = 0; k < n; k++)
				demo_emit_analytics(g, &r, &ch);
			demo_emit_rule(g, &r, &ch);
			demo_emit_webhook(g, &r, &ch, pcreated + 14 * DAY);
			n = (int)rng_range(&r, 1, 2);
			for (k = 0; k < n; k++)
				demo_emit_publog(g, &r, &ch);
			last_chan = ch.id;
		}
		demo_media_dir(g, uid, pid);
		n = (int)rng_range(&r, 1, 3);
		for (k = 0; k < n; k++)
			demo_emit_media(g, &r, uid, pid, post_first, g->rows[T_POSTS]);
		demo_emit_preview(g, &r, pid);
		n = (int)rng_range(&r, 1, 3);
		for (k = 0; k < n; k++)
			demo_emit_contact(g, &r, pid, pcreated);
		demo_emit_campaign(g, &r, pid);
		last_pid = pid;
	}

	n = (int)rng_range(&r, 3, 6);
	for (k = 0; k < n; k++)
		demo_emit_reqlog(g, &r, uid, last_pid, last_chan);
	demo_fake_tax_id(&r, tax, sizeof(tax));
	n = (int)rng_range(&r, 1, 2);
	for (k = 0; k < n; k++)
		demo_emit_invoice(g, &r, uid, email, name, plan, tax, k);
}

/* @total * @permille / 1000, at least @min. */
static int64_t
share(int64_t total, int permille, int64_t min)
{
	int64_t n = total / 1000 * permille + total % 1000 * permille / 1000;

	return n < min ? min : n;
}

/*
 * The heavy user: heavy@example.com with 2 projects and one channel per
 * platform, owning about @total rows spread over its tables (messages take
 * whatever the fixed shares leave).
 */
static void
gen_heavy(struct gen *g, int64_t total)
{
	static const char email[] = "heavy@example.com", name[] = "Heavy User";
	struct rng r;
	struct chan ch[P_COUNT];
	int64_t n[T_COUNT], pid[2], post_first[2], uid, created, i, sum;
	char tax[16];
	int c, t;

	memset(n, 0, sizeof(n));
	n[T_USERS] = 1;
	n[T_PROJECTS] = 2;
	n[T_CHANNELS] = P_COUNT;
	n[T_WEBHOOKS] = P_COUNT;
	n[T_COMMENTS] = share(total, 250, 0);
	n[T_ANALYTICS] = share(total, 100, 0);
	n[T_PUBLOGS] = share(total, 100, 0);
	n[T_REQLOGS] = share(total, 80, 0);
	n[T_POSTS] = share(total, 60, P_COUNT);
	n[T_CONTACTS] = share(total, 30, 0);
	n[T_MEDIA] = share(total, 10, 0);
	if (n[T_MEDIA] > HEAVY_MEDIA_MAX)
		n[T_MEDIA] = HEAVY_MEDIA_MAX;
	n[T_INVOICES] = share(total, 1, 1);
	n[T_RULES] = share(total, 2, 1);
	n[T_PREVIEWS] = share(total, 3, 1);
	n[T_CAMPAIGNS] = share(total, 1, 1);
	sum = 0;
	for (t = 0; t < T_COUNT; t++)
		sum += n[t];
	n[T_MESSAGES] = total > sum ? total - sum : 0;

	rng_init(&r, g->seed, STREAM_HEAVY);
	created = DEMO_BASE - 400 * DAY;
	uid = demo_emit_user(g, &r, email, name, "agency", created);
	for (i = 0; i < 2; i++)
		pid[i] = demo_emit_project(g, &r, uid, created + (i + 1) * DAY);
	for (c = 0; c < P_COUNT; c++)
		demo_emit_channel(g, &r, uid, "heavyuser", pid[c / 3], c + 1, (enum platform)c,
		                  created + 3 * DAY, &ch[c]);

	/* Posts in one block per channel, so each channel's ids are a range. */
	for (c = 0; c < P_COUNT; c++) {
		int64_t k = n[T_POSTS] / P_COUNT + (c < n[T_POSTS] % P_COUNT ? 1 : 0);

		if (c % 3 == 0)
			post_first[c / 3] = g->rows[T_POSTS] + 1;
		for (i = 0; i < k && g->rc == LETHE_OK; i++)
			demo_emit_post(g, &r, &ch[c]);
	}
	for (i = 0; i < n[T_MESSAGES] && g->rc == LETHE_OK; i++)
		demo_emit_message(g, &r, &ch[i % P_COUNT]);
	for (i = 0; i < n[T_COMMENTS] && g->rc == LETHE_OK; i++)
		demo_emit_comment(g, &r, &ch[i % P_COUNT]);
	for (i = 0; i < n[T_ANALYTICS] && g->rc == LETHE_OK; i++)
		demo_emit_analytics(g, &r, &ch[i % P_COUNT]);
	for (i = 0; i < n[T_RULES] && g->rc == LETHE_OK; i++)
		demo_emit_rule(g, &r, &ch[i % P_COUNT]);
	for (c = 0; c < P_COUNT; c++)
		demo_emit_webhook(g, &r, &ch[c], created + 20 * DAY);
	for (i = 0; i < n[T_PUBLOGS] && g->rc == LETHE_OK; i++)
		demo_emit_publog(g, &r, &ch[i % P_COUNT]);

	demo_media_dir(g, uid, pid[0]);
	demo_media_dir(g, uid, pid[1]);
	for (i = 0; i < n[T_MEDIA] && g->rc == LETHE_OK; i++) {
		int64_t pp = i % 2;
		int64_t hi = pp == 0 ? post_first[1] - 1 : g->rows[T_POSTS];

		demo_emit_media(g, &r, uid, pid[pp], post_first[pp], hi);
	}
	for (i = 0; i < n[T_PREVIEWS] && g->rc == LETHE_OK; i++)
		demo_emit_preview(g, &r, pid[i % 2]);
	for (i = 0; i < n[T_CONTACTS] && g->rc == LETHE_OK; i++)
		demo_emit_contact(g, &r, pid[i % 2], created);
	for (i = 0; i < n[T_CAMPAIGNS] && g->rc == LETHE_OK; i++)
		demo_emit_campaign(g, &r, pid[i % 2]);
	for (i = 0; i < n[T_REQLOGS] && g->rc == LETHE_OK; i++)
		demo_emit_reqlog(g, &r, uid, pid[i % 2], ch[i % P_COUNT].id);
	demo_fake_tax_id(&r, tax, sizeof(tax));
	for (i = 0; i < n[T_INVOICES] && g->rc == LETHE_OK; i++)
		demo_emit_invoice(g, &r, uid, email, name, "agency", tax, i % 12);
}

/* DIR/var/anonymize.key: 32 bytes from the seed, as 64 hex digits and "\n". */
static lethe_rc
write_key(const char *path, uint64_t seed, struct lethe_err *err)
{
	struct rng r;
	char hex[66];
	uint64_t v;
	int i, b;

	rng_init(&r, seed, STREAM_KEY);
	for (i = 0; i < 4; i++) {
		v = rng_next(&r);
		for (b = 0; b < 16; b++)
			hex[i * 16 + b] = HEX[(v >> (60 - 4 * b)) & 0xf];
	}
	hex[64] = '\n';
	hex[65] = '\0';
	return demo_write_file(path, hex, 65, 0600, err);
}

/*
 * DIR/secrets/ (0700) with the demo's platform client secrets (0600 each),
 * which DIR/lethe.yaml names as client_secret_file: demo values for the
 * local platform simulator, never a real platform's.
 */
static lethe_rc
write_secrets(const char *dir, struct lethe_err *err)
{
	static const char *const names[] = {"linkedin", "x", "tiktok"};
	char *sdir = xasprintf("%s/secrets", dir), *path = NULL, *text = NULL;
	lethe_rc rc = LETHE_OK;
	size_t i;

	if (mkdir(sdir, 0700) != 0 && errno != EEXIST)
		rc = lethe_err_set(err, LETHE_E_IO, "%s: %s", sdir, strerror(errno));
	for (i = 0; rc == LETHE_OK && i < sizeof(names) / sizeof(names[0]); i++) {
		path = xasprintf("%s/%s.secret", sdir, names[i]);
		text = xasprintf("demo-%s-secret\n", names[i]);
		rc = demo_write_file(path, text, strlen(text), 0600, err);
		free(path);
		free(text);
	}
	free(sdir);
	return rc;
}

/* Remove a half-written app database and its WAL files. */
static void
remove_db(const char *db_path)
{
	char *p;

	unlink(db_path);
	p = xasprintf("%s-wal", db_path);
	unlink(p);
	free(p);
	p = xasprintf("%s-shm", db_path);
	unlink(p);
	free(p);
}

/* The demo's tables, for DROP TABLE (--force): "public.users, public.projects, ...". */
static char *
pg_table_list(void)
{
	struct buf b;
	char *out;
	int t;

	buf_init(&b, 64 * 1024);
	for (t = 0; t < T_COUNT; t++)
		buf_addf(&b, "%spublic.%s", t > 0 ? ", " : "", demo_table_name((enum tbl)t));
	out = xstrdup(buf_str(&b));
	buf_free(&b);
	return out;
}

/*
 * Fill the open database (g->db, or g->pg): schema, one transaction of
 * inserts, then the indexes.  On PostgreSQL the whole of it is one
 * transaction, --force's DROP TABLE included.  On return g->rc says how it
 * went.
 */
static lethe_rc
fill_db(struct gen *g, const struct demo_opts *opts)
{
	int64_t before;
	char *sql, *list;
	int i;

	if (g->pg != NULL) {
		if (demo_exec(g, "BEGIN") != LETHE_OK)
			return g->rc;
		if (opts->force) {
			list = pg_table_list();
			sql = xasprintf("DROP TABLE IF EXISTS %s", list);
			free(list);
			demo_exec(g, sql);
			free(sql);
			if (g->rc != LETHE_OK)
				return g->rc;
		}
	} else if (demo_exec(g, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; "
	                        "PRAGMA cache_size=-131072; PRAGMA temp_store=MEMORY; "
	                        "PRAGMA user_version=1") != LETHE_OK ||
	           demo_exec(g, "BEGIN") != LETHE_OK) {
		return g->rc;
	}
	if (demo_schema_create(g) != LETHE_OK)
		return g->rc;
	for (i = 1; i <= opts->users && g->rc == LETHE_OK; i++)
		gen_user(g, i);
	if (opts->heavy > 0 && g->rc == LETHE_OK) {
		before = demo_rows_total(g);
		gen_heavy(g, opts->heavy);
		g->heavy_rows = demo_rows_total(g) - before;
	}
	if (g->pg != NULL)
		demo_pg_flush(g);
	if (g->rc != LETHE_OK)
		return g->rc;
	if (demo_indexes_create(g) != LETHE_OK)
		return g->rc;
	if (g->pg != NULL && demo_pg_finish_load(g) != LETHE_OK)
		return g->rc;
	if (demo_exec(g, "COMMIT") != LETHE_OK)
		return g->rc;
	if (g->pg != NULL)
		return g->rc;
	return demo_exec(g, "PRAGMA synchronous=NORMAL; PRAGMA wal_checkpoint(TRUNCATE)");
}

/*
 * @url without its password (userinfo's ":secret" and a "password="
 * parameter): a new string; *@had says whether there was one.  What goes
 * into lethe.yaml, which must never hold a password (PGPASSWORD or
 * ~/.pgpass give it to libpq).
 */
static char *
url_without_password(const char *url, bool *had)
{
	const char *start = strstr(url, "://"), *at, *colon, *slash, *q, *pw, *end;
	char *out, *tmp;

	*had = false;
	if (start == NULL)
		return xstrdup(url);
	start += 3;
	slash = start + strcspn(start, "/?#");
	at = memchr(start, '@', (size_t)(slash - start));
	colon = at != NULL ? memchr(start, ':', (size_t)(at - start)) : NULL;
	if (colon != NULL) {
		out = xasprintf("%.*s%s", (int)(colon - url), url, at);
		*had = true;
	} else {
		out = xstrdup(url);
	}
	/* password=... in the query, with the '&' that joins it to the rest */
	q = strchr(out, '?');
	while (q != NULL) {
		pw = q + 1;
		if (strncmp(pw, "password=", 9) == 0) {
			end = strchr(pw, '&');
			/* the last parameter: its '?' or '&' goes with it */
			if (end != NULL)
				tmp = xasprintf("%.*s%s", (int)(pw - out), out, end + 1);
			else
				tmp = xasprintf("%.*s", (int)(q - out), out);
			free(out);
			out = tmp;
			*had = true;
			q = strchr(out, '?');
			continue;
		}
		q = strchr(pw, '&');
	}
	return out;
}

/* @url as a YAML double-quoted scalar; NULL if it holds a control character. */
static char *
yaml_quoted(const char *url)
{
	struct buf b;
	const char *s;
	char *out;

	for (s = url; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return NULL;
	buf_init(&b, 64 * 1024);
	buf_add(&b, "\"", 1);
	for (s = url; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf_add(&b, "\\", 1);
		buf_add(&b, s, 1);
	}
	buf_add(&b, "\"", 1);
	out = xstrdup(buf_str(&b));
	buf_free(&b);
	return out;
}

/*
 * @text with the line that starts with @prefix (after a newline) replaced by
 * "@key: @value  # @comment": a new string, or NULL if there is no such line.
 */
static char *
replace_line(const char *text, const char *prefix, const char *key, const char *value,
             const char *comment)
{
	const char *at = strstr(text, prefix), *eol;

	if (at == NULL)
		return NULL;
	at++; /* keep the newline */
	eol = strchr(at, '\n');
	if (eol == NULL)
		eol = at + strlen(at);
	return xasprintf("%.*s%s: %s   # %s%s", (int)(at - text), text, key, value, comment, eol);
}

/*
 * The demo's lethe.yaml: the embedded one, with app.database (and
 * state.database) naming the PostgreSQL URLs, passwords left out.
 */
static lethe_rc
config_text(const struct demo_opts *opts, char **out, bool *had_password, struct lethe_err *err)
{
	char *text = xstrdup(demo_lethe_yaml), *url, *quoted, *next;
	const char *urls[2] = {opts->database, opts->state};
	static const char *const prefixes[2] = {"\n  database: app.db",
	                                        "\n  database: var/state.db"};
	static const char *const comments[2] = {
	    "the app's PostgreSQL database; password: PGPASSWORD or ~/.pgpass",
	    "lethe's state store on PostgreSQL; password: PGPASSWORD or ~/.pgpass"};
	bool had;
	int i;

	*had_password = false;
	for (i = 0; i < 2; i++) {
		if (urls[i] == NULL)
			continue;
		url = url_without_password(urls[i], &had);
		*had_password = *had_password || had;
		quoted = yaml_quoted(url);
		free(url);
		next = quoted != NULL
		           ? replace_line(text, prefixes[i], "  database", quoted, comments[i])
		           : NULL;
		free(quoted);
		free(text);
		if (next == NULL) {
			*out = NULL;
			return lethe_err_set(err, LETHE_E_INTERNAL,
			                     "demo: the embedded lethe.yaml has no line \"%s\"",
			                     prefixes[i] + 1);
		}
		text = next;
	}
	*out = text;
	return LETHE_OK;
}

/*
 * Check the PostgreSQL URLs before anything is written: each one reached,
 * and opts->database without the demo's tables (unless --force).  On
 * success g->pg is the app database's connection (or NULL without one).
 */
static lethe_rc
pg_open(struct gen *g, const struct demo_opts *opts, struct lethe_err *err)
{
	struct gen probe;
	char why[LETHE_ERR_MAX];
	const char *s;

	s = opts->database != NULL ? opts->database : opts->state;
	if ((opts->database != NULL && !pq_is_url(opts->database)) ||
	    (opts->state != NULL && !pq_is_url(opts->state)))
		return lethe_err_set(err, LETHE_E_USAGE,
		                     "demo: --database and --state take a postgresql:// URL");
	for (; s != NULL; s = s == opts->database ? opts->state : NULL)
		if (strpbrk(s, "\n\r\t") != NULL)
			return lethe_err_set(
			    err, LETHE_E_USAGE,
			    "demo: a database URL must not contain control characters");
	if (opts->state != NULL) {
		memset(&probe, 0, sizeof(probe));
		probe.err = err;
		if (demo_pg_connect(&probe, opts->state) != LETHE_OK) {
			/* "demo database: URL: why" is about the state store's URL here */
			snprintf(why, sizeof(why), "%s", err->msg);
			return lethe_err_set(err, probe.rc, "demo: state store (--state): %s",
			                     strncmp(why, "demo database: ", 15) == 0 ? why + 15
			                                                              : why);
		}
		demo_pg_close(&probe);
	}
	if (opts->database == NULL)
		return LETHE_OK;
	if (demo_pg_connect(g, opts->database) != LETHE_OK)
		return g->rc;
	return demo_pg_check_tables(g, opts->force);
}

void
demo_user_email(int i, char *out, size_t n)
{
	if (n == 0)
		return;
	if (i >= 1)
		snprintf(out, n, "user%d@example.com", i);
	else
		snprintf(out, n, "heavy@example.com");
}

lethe_rc
demo_build(const struct demo_opts *opts, struct lethe_err *err)
{
	struct gen g;
	struct stat sb;
	char *dir = NULL, *media = NULL, *var = NULL, *db_path = NULL, *p = NULL, *conf = NULL;
	char *red = NULL;
	size_t len;
	bool created = false, had_password = false;
	lethe_rc rc = LETHE_OK;

	memset(&g, 0, sizeof(g));
	g.err = err;
	if (opts->dir == NULL || opts->dir[0] == '\0')
		return lethe_err_set(err, LETHE_E_USAGE, "demo: no directory given");
	if (opts->users < 0 || opts->users > USERS_MAX)
		return lethe_err_set(err, LETHE_E_USAGE, "demo: users must be 0..%d", USERS_MAX);
	if (opts->heavy < 0 || opts->heavy > HEAVY_MAX)
		return lethe_err_set(err, LETHE_E_USAGE, "demo: heavy must be 0..%lld",
		                     (long long)HEAVY_MAX);

	/* The directory without trailing slashes ("/" stays "/"). */
	dir = xstrdup(opts->dir);
	len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = '\0';
	media = xasprintf("%s/media", dir);
	var = xasprintf("%s/var", dir);
	db_path = xasprintf("%s/app.db", dir);

	if (opts->database != NULL || opts->state != NULL) {
		/* Nothing is written before the databases answer and the directory is free. */
		if (lstat(db_path, &sb) == 0) {
			rc = lethe_err_set(err, LETHE_E_USAGE,
			                   "%s already exists; choose an empty directory", db_path);
			goto out;
		}
		p = xasprintf("%s/lethe.yaml", dir);
		if (!opts->force && lstat(p, &sb) == 0) {
			rc = lethe_err_set(
			    err, LETHE_E_USAGE,
			    "%s already exists; choose an empty directory (or --force)", p);
			goto out;
		}
		free(p);
		p = NULL;
		rc = config_text(opts, &conf, &had_password, err);
		if (rc != LETHE_OK)
			goto out;
		rc = pg_open(&g, opts, err);
		if (rc != LETHE_OK)
			goto out;
	}
	rc = demo_mkdir_p(dir, err);
	if (rc != LETHE_OK)
		goto out;
	if (lstat(db_path, &sb) == 0) {
		rc = lethe_err_set(err, LETHE_E_USAGE,
		                   "%s already exists; choose an empty directory", db_path);
		goto out;
	}
	rc = demo_mkdir_p(media, err);
	if (rc != LETHE_OK)
		goto out;
	rc = demo_mkdir_p(var, err);
	if (rc != LETHE_OK)
		goto out;

	p = xasprintf("%s/datamap.yaml", dir);
	rc = demo_write_file(p, demo_datamap_yaml, strlen(demo_datamap_yaml), 0644, err);
	if (rc != LETHE_OK)
		goto out;
	free(p);
	if (conf == NULL)
		conf = xstrdup(demo_lethe_yaml);
	if (opts->database == NULL) {
		/* (on PostgreSQL once the rows are committed: no lethe.yaml naming an
		 * empty database, and --force keeps the old one if the new load fails) */
		p = xasprintf("%s/lethe.yaml", dir);
		rc = demo_write_file(p, conf, strlen(conf), 0644, err);
		if (rc != LETHE_OK)
			goto out;
		free(p);
	}
	p = xasprintf("%s/anonymize.key", var);
	rc = write_key(p, opts->seed, err);
	if (rc != LETHE_OK)
		goto out;
	rc = write_secrets(dir, err);
	if (rc != LETHE_OK)
		goto out;

	g.seed = opts->seed;
	g.media_dir = media;
	created = g.pg == NULL;
	if (g.pg == NULL &&
	    sqlite3_open_v2(db_path, &g.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	        SQLITE_OK) {
		rc = lethe_err_set(err, LETHE_E_DB, "%s: %s", db_path,
		                   g.db != NULL ? sqlite3_errmsg(g.db) : "out of memory");
		goto out;
	}
	rc = fill_db(&g, opts);
	if (rc != LETHE_OK)
		goto out;
	rc = demo_db_close(&g);
	if (rc != LETHE_OK)
		goto out;
	if (opts->database != NULL) {
		free(p);
		p = xasprintf("%s/lethe.yaml", dir);
		rc = demo_write_file(p, conf, strlen(conf), 0644, err);
		if (rc != LETHE_OK)
			goto out;
	}
	if (!opts->quiet) {
		red = opts->database != NULL ? pq_url_redacted(opts->database) : NULL;
		printf("demo written to %s\n", dir);
		printf("  app database   %s  (%lld users, %lld rows)\n",
		       red != NULL ? red : db_path, (long long)g.rows[T_USERS],
		       (long long)demo_rows_total(&g));
		printf("  media files    %s   (%lld files)\n", media, (long long)g.files);
		printf("  data map       %s/datamap.yaml\n", dir);
		printf("  configuration  %s/lethe.yaml\n", dir);
		if (opts->heavy > 0)
			printf("  heavy user     heavy@example.com (%lld rows)\n",
			       (long long)g.heavy_rows);
		free(red);
		red = NULL;
		if (opts->state != NULL) {
			red = pq_url_redacted(opts->state);
			printf("  state store    %s\n", red);
		}
	}
	if (had_password)
		fprintf(stderr,
		        "note: %s/lethe.yaml names the database without its password: "
		        "lethe takes it from PGPASSWORD or ~/.pgpass (libpq's own)\n",
		        dir);
out:
	demo_db_close(&g);
	if (rc != LETHE_OK && created)
		remove_db(db_path);
	free(red);
	free(conf);
	free(p);
	free(db_path);
	free(var);
	free(media);
	free(dir);
	return rc;
}
