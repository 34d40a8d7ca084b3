/* SPDX-License-Identifier: MIT */
/*
 * demo.c - the reference social-media app database (`lethe demo`).
 *
 * Builds a small but realistic app to erase data from: a scheduler for
 * social-media posts whose users connect Facebook, Instagram, YouTube,
 * LinkedIn, X and TikTok accounts ("channels").  The output is DIR/app.db
 * (SQLite, WAL), one real file under DIR/media/ per media row, the embedded
 * data map and configuration, and DIR/var/anonymize.key.  The schema is the
 * one src/demo/datamap.yaml describes; docs/demo.md lists it.
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

#include "demo/demo.h"
#include "util/mem.h"
#include "util/rc.h"
#include "util/timeutil.h"

#define DEMO_BASE INT64_C(1792627200) /* "now" of the demo: 2026-10-22 00:00:00 UTC */
#define MINUTE INT64_C(60)
#define HOUR INT64_C(3600)
#define DAY INT64_C(86400)
#define NO_TIME INT64_MIN      /* binds as NULL */
#define RECENT_SPAN (60 * DAY) /* messages, comments, logs: last 60 days */
#define PREVIEW_SPAN (3 * DAY) /* preview links: last 3 days */

#define USERS_MAX 1000000 /* ids are padded to 7 digits */
#define HEAVY_MAX INT64_C(100000000)
#define HEAVY_MEDIA_MAX 2000 /* media rows (= files) of the heavy user */

#define STREAM_KEY UINT64_C(0xffffffffffffffff)
#define STREAM_HEAVY UINT64_C(0xfffffffffffffffe)

#define HEX "0123456789abcdef"
#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define B64URL ALNUM "-_"
#define B64 ALNUM "+/"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The private generator: splitmix64.  Small, fast, and good enough for fake
 * data; its only job is to be the same everywhere.
 */
struct rng {
	uint64_t s;
};

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Seed @r for stream @stream of @seed; distinct streams are independent. */
static void
rng_init(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->s = mix64(seed ^ mix64(stream + UINT64_C(0x6a09e667f3bcc909)));
}

static uint64_t
rng_next(struct rng *r)
{
	r->s += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(r->s);
}

/* Uniform in [@lo, @hi] (@lo <= @hi); modulo bias does not matter here. */
static int64_t
rng_range(struct rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* True with probability @percent / 100. */
static bool
rng_chance(struct rng *r, int percent)
{
	return rng_next(r) % 100 < (uint64_t)percent;
}

static const char *
rng_pick(struct rng *r, const char *const *v, size_t n)
{
	return v[rng_next(r) % n];
}

#define PICK(r, a) rng_pick((r), (a), NELEM(a))

/* Fill @out (which holds @n + 1 bytes) with @n characters of @alphabet. */
static void
rng_chars(struct rng *r, char *out, size_t n, const char *alphabet)
{
	size_t k = strlen(alphabet), i;

	for (i = 0; i < n; i++)
		out[i] = alphabet[rng_next(r) % k];
	out[n] = '\0';
}

/* A moment in the @span seconds before DEMO_BASE. */
static int64_t
rng_recent(struct rng *r, int64_t span)
{
	return DEMO_BASE - rng_range(r, MINUTE, span - 1);
}

/*
 * Fixed vocabularies.  Third parties (senders, commenters, contacts) get
 * names from here; nothing resembles a real person on purpose.
 */
static const char *const first_names[] = {
    "Ana",     "Ben",   "Chiara", "Dmitri", "Elif",  "Farid", "Greta", "Hugo",
    "Ines",    "Jonas", "Keiko",  "Lars",   "Marta", "Nadia", "Oscar", "Priya",
    "Quentin", "Rosa",  "Sami",   "Tomas",  "Uma",   "Vera",  "Wen",   "Yusuf",
};

static const char *const last_names[] = {
    "Abara",   "Bianchi", "Castro",   "Dubois", "Eriksen",  "Fischer", "Garcia", "Haddad",
    "Ivanova", "Jensen",  "Kowalski", "Lopez",  "Moreau",   "Novak",   "Okafor", "Pereira",
    "Quinn",   "Rossi",   "Silva",    "Tanaka", "Urquhart", "Varga",   "Weber",  "Yilmaz",
};

static const char *const post_openers[] = {
    "New in store:",  "Behind the scenes:", "Weekend special:", "Just landed:", "Tip of the day:",
    "Meet the team:", "Last chance:",       "Throwback:",       "Coming soon:", "Thank you!",
};

static const char *const post_topics[] = {
    "our autumn collection is here",       "how we roast our coffee beans",
    "two-for-one on all workshops",        "the new studio is open",
    "five ways to plan a week of content", "say hi to our new designer",
    "the summer sale ends tonight",        "our very first market stall",
    "a sneak peek at the spring menu",     "10,000 followers, you are amazing",
};

static const char *const hashtags[] = {
    "#smallbusiness",   "#handmade",    "#coffee",    "#design",    "#localshop",
    "#behindthescenes", "#newarrivals", "#community", "#marketing", "#sale",
};

static const char *const message_bodies[] = {
    "Hi! Is this still available?",
    "Do you ship to Portugal?",
    "What are your opening hours on Sunday?",
    "Can I change my order?",
    "Loved the last post, where was it taken?",
    "Is there a student discount?",
    "My parcel has not arrived yet, can you check?",
    "Do you do gift cards?",
    "Can we collaborate on a giveaway?",
    "Thanks for the quick reply!",
};

static const char *const comments_positive[] = {
    "Love this!",  "So beautiful",     "Best coffee in town",
    "Can't wait!", "Great work, team", "This made my day",
};

static const char *const comments_neutral[] = {
    "What size is the model wearing?",
    "Is this in the shop too?",
    "When does it open?",
    "Tagging my sister",
    "How much is it?",
};

static const char *const comments_negative[] = {
    "Still waiting for my refund",    "Too expensive", "The link is broken", "Not what I ordered",
    "Customer service never answers",
};

static const char *const user_agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Mobile Safari/537.36",
};

static const char *const project_names[] = {
    "Coffee Corner",      "Studio North", "Green Thumb Shop", "Bakery Lux",
    "Trail Runners Club", "Atelier Nine", "Bike Repair Co",   "Yoga Loft",
};

static const char *const campaign_names[] = {
    "Autumn newsletter", "Black Friday", "Welcome series", "Spring launch", "Customer survey",
};

static const char *const error_details[] = {
    "Error 190: Error validating access token: session has expired",
    "Error 368: the action attempted has been deemed abusive",
    "HTTP 429: rate limit reached, retry scheduled",
    "Error 100: media could not be fetched from the storage URL",
    "HTTP 503: platform unavailable, retry scheduled",
};

enum platform { P_FACEBOOK, P_INSTAGRAM, P_YOUTUBE, P_LINKEDIN, P_X, P_TIKTOK, P_COUNT };

static const struct {
	const char *name;   /* channels.platform */
	const char *abbr;   /* username suffix */
	const char *object; /* webhook_subscriptions.object */
} platforms[P_COUNT] = {
    [P_FACEBOOK] = {"facebook", "fb", "page"},
    [P_INSTAGRAM] = {"instagram", "ig", "instagram"},
    [P_YOUTUBE] = {"youtube", "yt", "channel"},
    [P_LINKEDIN] = {"linkedin", "li", "organizationSocialAction"},
    [P_X] = {"x", "x", "account_activity"},
    [P_TIKTOK] = {"tiktok", "tt", "video"},
};

/* The rotation extra channels take: non-Meta platforms first. */
static const enum platform rotation[P_COUNT] = {
    P_YOUTUBE, P_LINKEDIN, P_X, P_TIKTOK, P_INSTAGRAM, P_FACEBOOK,
};

/*
 * The schema.  Every table has an INTEGER PRIMARY KEY id (bound by us as
 * parameter 1); the insert statement is built from @cols.  Foreign keys are
 * plain INTEGER columns without REFERENCES so no delete is ever blocked.
 */
enum tbl {
	T_USERS,
	T_PROJECTS,
	T_CHANNELS,
	T_POSTS,
	T_MEDIA,
	T_MESSAGES,
	T_COMMENTS,
	T_ANALYTICS,
	T_RULES,
	T_WEBHOOKS,
	T_PREVIEWS,
	T_REQLOGS,
	T_PUBLOGS,
	T_CONTACTS,
	T_CAMPAIGNS,
	T_INVOICES,
	T_COUNT
};

static const struct {
	const char *name;
	const char *defs; /* column definitions after id */
	const char *cols; /* the same columns, for INSERT */
} tables[T_COUNT] = {
    [T_USERS] =
        {"users",
         "email TEXT UNIQUE NOT NULL, name TEXT, password_hash TEXT, plan TEXT, created_at TEXT",
         "email, name, password_hash, plan, created_at"},
    [T_PROJECTS] = {"projects", "user_id INTEGER, name TEXT, created_at TEXT",
                    "user_id, name, created_at"},
    [T_CHANNELS] =
        {"channels",
         "project_id INTEGER, platform TEXT, platform_user_id TEXT, username TEXT, "
         "access_token TEXT, refresh_token TEXT, token_expires_at TEXT, status TEXT, "
         "connected_at TEXT",
         "project_id, platform, platform_user_id, username, access_token, refresh_token, "
         "token_expires_at, status, connected_at"},
    [T_POSTS] =
        {"posts",
         "project_id INTEGER, channel_id INTEGER, body TEXT, status TEXT, scheduled_at TEXT, "
         "published_at TEXT, created_at TEXT",
         "project_id, channel_id, body, status, scheduled_at, published_at, created_at"},
    [T_MEDIA] = {"media",
                 "project_id INTEGER, post_id INTEGER, storage_key TEXT, mime TEXT, bytes INTEGER, "
                 "cached INTEGER, created_at TEXT",
                 "project_id, post_id, storage_key, mime, bytes, cached, created_at"},
    [T_MESSAGES] = {"messages",
                    "channel_id INTEGER, sender_platform_id TEXT, sender_name TEXT, body TEXT, "
                    "received_at TEXT",
                    "channel_id, sender_platform_id, sender_name, body, received_at"},
    [T_COMMENTS] =
        {"comments",
         "channel_id INTEGER, post_id INTEGER, author_platform_id TEXT, author_name TEXT, "
         "body TEXT, sentiment TEXT, created_at TEXT",
         "channel_id, post_id, author_platform_id, author_name, body, sentiment, created_at"},
    [T_ANALYTICS] =
        {"analytics",
         "channel_id INTEGER, day TEXT, followers INTEGER, impressions INTEGER, engagement REAL",
         "channel_id, day, followers, impressions, engagement"},
    [T_RULES] =
        {"automation_rules",
         "channel_id INTEGER, name TEXT, \"trigger\" TEXT, \"action\" TEXT, enabled INTEGER",
         "channel_id, name, \"trigger\", \"action\", enabled"},
    [T_WEBHOOKS] =
        {"webhook_subscriptions",
         "channel_id INTEGER, object TEXT, account_id TEXT, callback_url TEXT, status TEXT, "
         "created_at TEXT",
         "channel_id, object, account_id, callback_url, status, created_at"},
    [T_PREVIEWS] = {"preview_links",
                    "project_id INTEGER, token_hash TEXT, password_hash TEXT, created_at TEXT, "
                    "expires_at TEXT, decision TEXT",
                    "project_id, token_hash, password_hash, created_at, expires_at, decision"},
    [T_REQLOGS] = {"request_logs",
                   "user_id INTEGER, ip TEXT, user_agent TEXT, path TEXT, created_at TEXT",
                   "user_id, ip, user_agent, path, created_at"},
    [T_PUBLOGS] = {"publishing_logs",
                   "channel_id INTEGER, post_id INTEGER, level TEXT, status TEXT, detail TEXT, "
                   "created_at TEXT",
                   "channel_id, post_id, level, status, detail, created_at"},
    [T_CONTACTS] =
        {"contacts",
         "project_id INTEGER, email TEXT, name TEXT, platform_handle TEXT, created_at TEXT",
         "project_id, email, name, platform_handle, created_at"},
    [T_CAMPAIGNS] = {"campaigns",
                     "project_id INTEGER, name TEXT, subject TEXT, body TEXT, sent_at TEXT",
                     "project_id, name, subject, body, sent_at"},
    [T_INVOICES] =
        {"invoices",
         "user_id INTEGER, email TEXT, name TEXT, tax_id TEXT, amount INTEGER, issued_at TEXT",
         "user_id, email, name, tax_id, amount, issued_at"},
};

/* Indexes, created after the bulk load: every foreign key, platform_user_id. */
static const char *const indexes[][2] = {
    {"projects", "user_id"},
    {"channels", "project_id"},
    {"channels", "platform_user_id"},
    {"posts", "project_id"},
    {"posts", "channel_id"},
    {"media", "project_id"},
    {"media", "post_id"},
    {"messages", "channel_id"},
    {"comments", "channel_id"},
    {"comments", "post_id"},
    {"analytics", "channel_id"},
    {"automation_rules", "channel_id"},
    {"webhook_subscriptions", "channel_id"},
    {"preview_links", "project_id"},
    {"request_logs", "user_id"},
    {"publishing_logs", "channel_id"},
    {"publishing_logs", "post_id"},
    {"contacts", "project_id"},
    {"campaigns", "project_id"},
    {"invoices", "user_id"},
    /* the ttl time columns of the data map: sweeps walk these (media: below) */
    {"messages", "received_at"},
    {"comments", "created_at"},
    {"publishing_logs", "created_at"},
    {"preview_links", "created_at"},
    {"request_logs", "created_at"},
};

/*
 * Indexes of the ttl tables with `when`: the when columns, then the time
 * column, so a sweep reads only matching expired rows (the index
 * `lethe sweep` recommends).  {name, table, columns}
 */
static const char *const ttl_indexes[][3] = {
    {"media_cached_created_at_idx", "media", "cached, created_at"},
};

/* The generator's state. */
struct gen {
	sqlite3 *db;
	sqlite3_stmt *st[T_COUNT];
	int64_t rows[T_COUNT]; /* rows inserted so far; also the last id */
	uint64_t seed;
	const char *media_dir; /* DIR/media */
	int64_t files;         /* media files written */
	unsigned cycle;        /* position in rotation[] */
	int64_t contact_no;    /* numbers contact<n>@example.net */
	int64_t heavy_rows;    /* rows owned by the heavy user */
	lethe_rc rc;           /* first failure; once set, inserts stop */
	struct lethe_err *err;
};

/* One connected channel while its rows are generated. */
struct chan {
	int64_t id;
	int64_t project_id;
	enum platform plat;
	char account[48];         /* the subscribed account: Facebook page id, else the user id */
	int64_t post_lo, post_hi; /* its posts' ids; none if post_lo > post_hi */
	int64_t days;             /* analytics days written so far */
};

/*
 * File system helpers.
 */

/* mkdir -p @path (mode 0755).  LETHE_E_IO on failure. */
static lethe_rc
mkdir_p(const char *path, struct lethe_err *err)
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
static lethe_rc
write_file(const char *path, const void *data, size_t len, mode_t mode, struct lethe_err *err)
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

/*
 * Row helpers.  A row is begun (its id bound as parameter 1), its other
 * columns bound by position, and ended (stepped and reset).  Failures are
 * sticky in g->rc: after the first one nothing more is inserted, and the
 * loops check g->rc to stop early.
 */

static void
fail_db(struct gen *g, const char *what)
{
	if (g->rc == LETHE_OK)
		g->rc = lethe_err_set(g->err, LETHE_E_DB, "demo database: %s: %s", what,
		                      sqlite3_errmsg(g->db));
}

static int64_t
row_begin(struct gen *g, enum tbl t)
{
	int64_t id = g->rows[t] + 1;

	sqlite3_bind_int64(g->st[t], 1, id);
	return id;
}

static void
row_end(struct gen *g, enum tbl t)
{
	sqlite3_stmt *st = g->st[t];

	if (g->rc == LETHE_OK) {
		if (sqlite3_step(st) == SQLITE_DONE)
			g->rows[t]++;
		else
			fail_db(g, tables[t].name);
	}
	sqlite3_reset(st);
}

static void
b_int(struct gen *g, enum tbl t, int col, int64_t v)
{
	sqlite3_bind_int64(g->st[t], col, v);
}

/* Bind @v, or NULL if @v is 0 (no row has id 0). */
static void
b_ref(struct gen *g, enum tbl t, int col, int64_t v)
{
	if (v == 0)
		sqlite3_bind_null(g->st[t], col);
	else
		sqlite3_bind_int64(g->st[t], col, v);
}

static void
b_text(struct gen *g, enum tbl t, int col, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(g->st[t], col);
	else
		sqlite3_bind_text(g->st[t], col, s, -1, SQLITE_TRANSIENT);
}

/* Bind @v as "YYYY-MM-DD HH:MM:SS" UTC, or NULL for NO_TIME. */
static void
b_time(struct gen *g, enum tbl t, int col, int64_t v)
{
	char ts[32];

	if (v == NO_TIME) {
		sqlite3_bind_null(g->st[t], col);
		return;
	}
	time_format(v, ts, sizeof(ts));
	sqlite3_bind_text(g->st[t], col, ts, -1, SQLITE_TRANSIENT);
}

/* A random post of @ch, or 0 (NULL) if it has none. */
static int64_t
chan_post(struct rng *r, const struct chan *ch)
{
	if (ch->post_lo > ch->post_hi)
		return 0;
	return rng_range(r, ch->post_lo, ch->post_hi);
}

/* An argon2id PHC string with random salt and hash. */
static void
fake_argon2(struct rng *r, char *out, size_t n)
{
	char salt[23], hash[44];

	rng_chars(r, salt, 22, B64);
	rng_chars(r, hash, 43, B64);
	snprintf(out, n, "$argon2id$v=19$m=65536,t=3,p=4$%s$%s", salt, hash);
}

static void
fake_person(struct rng *r, char *out, size_t n)
{
	snprintf(out, n, "%s %s", PICK(r, first_names), PICK(r, last_names));
}

/* A third party's id on @p: 16 digits, never equal to a channel's id. */
static void
fake_sender_id(struct rng *r, enum platform p, char *out, size_t n)
{
	snprintf(out, n, "%d%015lld", 1 + (int)p,
	         (long long)rng_range(r, 0, INT64_C(999999999999999)));
}

/*
 * The id a platform gives account @idx (1-based, per user) of user @uid.
 * Unique by construction: a per-platform prefix and fixed-width numbers.
 * Instagram: "17841" + uid (7 digits) + idx (2 digits), e.g. 17841000000101.
 */
static void
fake_platform_user_id(struct rng *r, enum platform p, int64_t uid, int idx, char *out, size_t n)
{
	char tail[24];
	long long u = (long long)uid;

	switch (p) {
	case P_FACEBOOK:
		snprintf(out, n, "10229%07lld%02d", u, idx);
		break;
	case P_INSTAGRAM:
		snprintf(out, n, "17841%07lld%02d", u, idx);
		break;
	case P_YOUTUBE:
		rng_chars(r, tail, 13, B64URL);
		snprintf(out, n, "UC%07lld%02d%s", u, idx, tail);
		break;
	case P_LINKEDIN:
		rng_chars(r, tail, 6, ALNUM);
		snprintf(out, n, "li%07lld%02d%s", u, idx, tail);
		break;
	case P_X:
		snprintf(out, n, "14500%07lld%02d", u, idx);
		break;
	case P_TIKTOK:
	default:
		rng_chars(r, tail, 16, HEX);
		snprintf(out, n, "-000%07lld%02d%s", u, idx, tail);
		break;
	}
}

/* Access and refresh tokens shaped like each platform's; refresh may be "". */
static void
fake_tokens(struct rng *r, enum platform p, char *acc, char *ref, size_t n)
{
	char a[72], b[72];

	ref[0] = '\0';
	switch (p) {
	case P_FACEBOOK:
		rng_chars(r, a, 40, HEX);
		snprintf(acc, n, "EAAB%s", a);
		break;
	case P_INSTAGRAM:
		rng_chars(r, a, 60, B64URL);
		snprintf(acc, n, "IGQVJ%s", a);
		break;
	case P_YOUTUBE:
		rng_chars(r, a, 60, B64URL);
		rng_chars(r, b, 40, B64URL);
		snprintf(acc, n, "ya29.a0%s", a);
		snprintf(ref, n, "1//0%s", b);
		break;
	case P_LINKEDIN:
		rng_chars(r, a, 60, B64URL);
		rng_chars(r, b, 60, B64URL);
		snprintf(acc, n, "AQV%s", a);
		snprintf(ref, n, "AQX%s", b);
		break;
	case P_X:
		rng_chars(r, a, 56, B64URL);
		rng_chars(r, b, 56, B64URL);
		snprintf(acc, n, "%s", a);
		snprintf(ref, n, "%s", b);
		break;
	case P_TIKTOK:
	default:
		rng_chars(r, a, 60, ALNUM);
		rng_chars(r, b, 60, ALNUM);
		snprintf(acc, n, "act.%s", a);
		snprintf(ref, n, "rft.%s", b);
		break;
	}
}

/*
 * Row generators, one per table.  Each inserts one row drawn from @r and
 * returns its id (or nothing where no caller needs it).
 */

static int64_t
emit_user(struct gen *g, struct rng *r, const char *email, const char *name, const char *plan,
          int64_t created)
{
	enum tbl t = T_USERS;
	char pw[128];
	int64_t id;

	fake_argon2(r, pw, sizeof(pw));
	id = row_begin(g, t);
	b_text(g, t, 2, email);
	b_text(g, t, 3, name);
	b_text(g, t, 4, pw);
	b_text(g, t, 5, plan);
	b_time(g, t, 6, created);
	row_end(g, t);
	return id;
}

static int64_t
emit_project(struct gen *g, struct rng *r, int64_t uid, int64_t created)
{
	enum tbl t = T_PROJECTS;
	int64_t id;

	id = row_begin(g, t);
	b_int(g, t, 2, uid);
	b_text(g, t, 3, PICK(r, project_names));
	b_time(g, t, 4, created);
	row_end(g, t);
	return id;
}

/* Insert channel number @idx of user @uid (whose handle is @handle) into @ch. */
static void
emit_channel(struct gen *g, struct rng *r, int64_t uid, const char *handle, int64_t pid, int idx,
             enum platform p, int64_t after, struct chan *ch)
{
	enum tbl t = T_CHANNELS;
	char puid[48], uname[64], acc[96], ref[96];
	const char *status = "active";
	int64_t connected, expires;
	int roll;

	fake_platform_user_id(r, p, uid, idx, puid, sizeof(puid));
	snprintf(uname, sizeof(uname), "%s.%s", handle, platforms[p].abbr);
	fake_tokens(r, p, acc, ref, sizeof(acc));
	connected = after + rng_range(r, HOUR, 14 * DAY);
	expires = DEMO_BASE + rng_range(r, DAY, 60 * DAY);
	roll = (int)rng_range(r, 0, 99);
	if (roll >= 90) {
		status = "revoked";
	} else if (roll >= 80) {
		status = "expired";
		expires = DEMO_BASE - rng_range(r, DAY, 30 * DAY);
	}

	memset(ch, 0, sizeof(*ch));
	ch->id = row_begin(g, t);
	ch->project_id = pid;
	ch->plat = p;
	ch->post_lo = 1;
	/* A Facebook channel is a Page: its webhooks subscribe the Page id. */
	if (p == P_FACEBOOK)
		snprintf(ch->account, sizeof(ch->account), "10400%07lld%02d", (long long)uid, idx);
	else
		snprintf(ch->account, sizeof(ch->account), "%s", puid);
	b_int(g, t, 2, pid);
	b_text(g, t, 3, platforms[p].name);
	b_text(g, t, 4, puid);
	b_text(g, t, 5, uname);
	b_text(g, t, 6, acc);
	b_text(g, t, 7, ref[0] != '\0' ? ref : NULL);
	b_time(g, t, 8, expires);
	b_text(g, t, 9, status);
	b_time(g, t, 10, connected);
	row_end(g, t);
}

/* A post on @ch; extends the channel's post range (posts come in blocks). */
static void
emit_post(struct gen *g, struct rng *r, struct chan *ch)
{
	enum tbl t = T_POSTS;
	char body[256];
	const char *status;
	int64_t created, scheduled = NO_TIME, published = NO_TIME, id;
	int roll = (int)rng_range(r, 0, 99);

	snprintf(body, sizeof(body), "%s %s %s %s", PICK(r, post_openers), PICK(r, post_topics),
	         PICK(r, hashtags), PICK(r, hashtags));
	created = rng_recent(r, RECENT_SPAN);
	if (roll < 50) {
		status = "published";
		scheduled = created + rng_range(r, HOUR, 2 * DAY);
		if (scheduled >= DEMO_BASE)
			scheduled = DEMO_BASE - MINUTE;
		published = scheduled + rng_range(r, 0, 5);
	} else if (roll < 70) {
		status = "scheduled";
		scheduled = DEMO_BASE + rng_range(r, HOUR, 14 * DAY);
	} else if (roll < 90) {
		status = "draft";
	} else {
		status = "cancelled";
		scheduled = created + rng_range(r, HOUR, 3 * DAY);
	}

	id = row_begin(g, t);
	b_int(g, t, 2, ch->project_id);
	b_int(g, t, 3, ch->id);
	b_text(g, t, 4, body);
	b_text(g, t, 5, status);
	b_time(g, t, 6, scheduled);
	b_time(g, t, 7, published);
	b_time(g, t, 8, created);
	row_end(g, t);
	if (ch->post_lo > ch->post_hi)
		ch->post_lo = id;
	ch->post_hi = id;
}

static void
emit_message(struct gen *g, struct rng *r, const struct chan *ch)
{
	enum tbl t = T_MESSAGES;
	char sender[32], name[64];

	fake_sender_id(r, ch->plat, sender, sizeof(sender));
	fake_person(r, name, sizeof(name));
	row_begin(g, t);
	b_int(g, t, 2, ch->id);
	b_text(g, t, 3, sender);
	b_text(g, t, 4, name);
	b_text(g, t, 5, PICK(r, message_bodies));
	b_time(g, t, 6, rng_recent(r, RECENT_SPAN));
	row_end(g, t);
}

static void
emit_comment(struct gen *g, struct rng *r, const struct chan *ch)
{
	enum tbl t = T_COMMENTS;
	char author[32], name[64];
	const char *sentiment, *body;
	int roll = (int)rng_range(r, 0, 99);

	fake_sender_id(r, ch->plat, author, sizeof(author));
	fake_person(r, name, sizeof(name));
	if (roll < 55) {
		sentiment = "positive";
		body = PICK(r, comments_positive);
	} else if (roll < 85) {
		sentiment = "neutral";
		body = PICK(r, comments_neutral);
	} else {
		sentiment = "negative";
		body = PICK(r, comments_negative);
	}
	row_begin(g, t);
	b_int(g, t, 2, ch->id);
	b_ref(g, t, 3, chan_post(r, ch));
	b_text(g, t, 4, author);
	b_text(g, t, 5, name);
	b_text(g, t, 6, body);
	b_text(g, t, 7, sentiment);
	b_time(g, t, 8, rng_recent(r, RECENT_SPAN));
	row_end(g, t);
}

/* The channel's next analytics day, walking back from the day before DEMO_BASE. */
static void
emit_analytics(struct gen *g, struct rng *r, struct chan *ch)
{
	enum tbl t = T_ANALYTICS;
	char day[32];

	ch->days++;
	time_format(DEMO_BASE - ch->days * DAY, day, sizeof(day));
	day[10] = '\0';
	row_begin(g, t);
	b_int(g, t, 2, ch->id);
	b_text(g, t, 3, day);
	b_int(g, t, 4, rng_range(r, 120, 250000));
	b_int(g, t, 5, rng_range(r, 50, 900000));
	sqlite3_bind_double(g->st[t], 6, (double)rng_range(r, 40, 1200) / 10000.0);
	row_end(g, t);
}

static void
emit_rule(struct gen *g, struct rng *r, const struct chan *ch)
{
	static const char *const rules[][3] = {
	    {"Auto-reply to direct messages", "message.received", "reply:template:welcome"},
	    {"Tag price questions as leads", "comment.keyword:price", "tag:lead"},
	    {"Hide abusive comments", "comment.sentiment:negative", "hide"},
	    {"Notify me of mentions", "mention.created", "notify:email"},
	};
	enum tbl t = T_RULES;
	size_t k = (size_t)(rng_next(r) % NELEM(rules));

	row_begin(g, t);
	b_int(g, t, 2, ch->id);
	b_text(g, t, 3, rules[k][0]);
	b_text(g, t, 4, rules[k][1]);
	b_text(g, t, 5, rules[k][2]);
	b_int(g, t, 6, rng_chance(r, 75) ? 1 : 0);
	row_end(g, t);
}

static void
emit_webhook(struct gen *g, struct rng *r, const struct chan *ch, int64_t after)
{
	enum tbl t = T_WEBHOOKS;
	char url[128];

	snprintf(url, sizeof(url), "https://hooks.app.example.com/%s/%lld",
	         platforms[ch->plat].name, (long long)ch->id);
	row_begin(g, t);
	b_int(g, t, 2, ch->id);
	b_text(g, t, 3, platforms[ch->plat].object);
	b_text(g, t, 4, ch->account);
	b_text(g, t, 5, url);
	b_text(g, t, 6, rng_chance(r, 90) ? "active" : "paused");
	b_time(g, t, 7, after + rng_range(r, MINUTE, HOUR));
	row_end(g, t);
}

static void
emit_publog(struct gen *g, struct rng *r, const struct chan *ch)
{
	enum tbl t = T_PUBLOGS;
	char detail[160];
	int64_t post = chan_post(r, ch);
	bool ok = rng_chance(r, 80);

	if (ok)
		snprintf(detail, sizeof(detail), "published post %lld to %s as remote id %lld",
		         (long long)post, platforms[ch->plat].name,
		         (long long)rng_range(r, INT64_C(1000000000000), INT64_C(9999999999999)));
	else
		snprintf(detail, sizeof(detail), "%s", PICK(r, error_details));
	row_begin(g, t);
	b_int(g, t, 2, ch->id);
	b_ref(g, t, 3, post);
	b_text(g, t, 4, ok ? "info" : "error");
	b_text(g, t, 5, ok ? "published" : "failed");
	b_text(g, t, 6, detail);
	b_time(g, t, 7, rng_recent(r, RECENT_SPAN));
	row_end(g, t);
}

/*
 * A media row of project @pid (of user @uid), optionally attached to a post
 * in [@post_lo, @post_hi], and its file DIR/media/<storage_key>: a few
 * hundred deterministic bytes with the right magic number.  The directory
 * DIR/media/u<uid>/p<pid> must exist (media_dir()).
 */
static void
emit_media(struct gen *g, struct rng *r, int64_t uid, int64_t pid, int64_t post_lo, int64_t post_hi)
{
	static const unsigned char jpg[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10,
	                                    'J',  'F',  'I',  'F',  0};
	static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	static const unsigned char mp4[] = {0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm'};
	static const struct {
		const char *mime, *ext;
		const unsigned char *magic;
		size_t len;
	} kinds[] = {
	    {"image/jpeg", "jpg", jpg, sizeof(jpg)},
	    {"image/png", "png", png, sizeof(png)},
	    {"video/mp4", "mp4", mp4, sizeof(mp4)},
	};
	enum tbl t = T_MEDIA;
	unsigned char data[1024];
	char key[96], path[4096];
	size_t kind, len, i;
	int64_t id, post = 0;
	int roll = (int)rng_range(r, 0, 99), n;

	if (g->rc != LETHE_OK)
		return;
	kind = roll < 60 ? 0 : roll < 90 ? 1 : 2; /* 60% jpeg, 30% png, 10% mp4 */
	len = (size_t)rng_range(r, 200, 900);
	memcpy(data, kinds[kind].magic, kinds[kind].len);
	for (i = kinds[kind].len; i < len; i++)
		data[i] = (unsigned char)(rng_next(r) >> 56);
	if (post_lo <= post_hi && rng_chance(r, 60))
		post = rng_range(r, post_lo, post_hi);

	id = row_begin(g, t);
	snprintf(key, sizeof(key), "u%lld/p%lld/%lld.%s", (long long)uid, (long long)pid,
	         (long long)id, kinds[kind].ext);
	n = snprintf(path, sizeof(path), "%s/%s", g->media_dir, key);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		g->rc = lethe_err_set(g->err, LETHE_E_IO, "%s: path too long", g->media_dir);
		return;
	}
	g->rc = write_file(path, data, len, 0644, g->err);
	if (g->rc != LETHE_OK)
		return;
	g->files++;
	b_int(g, t, 2, pid);
	b_ref(g, t, 3, post);
	b_text(g, t, 4, key);
	b_text(g, t, 5, kinds[kind].mime);
	b_int(g, t, 6, (int64_t)len);
	b_int(g, t, 7, rng_chance(r, 50) ? 1 : 0);
	b_time(g, t, 8, rng_recent(r, RECENT_SPAN));
	row_end(g, t);
}

/* Create DIR/media/u<uid>/p<pid>; sticky error on failure. */
static void
media_dir(struct gen *g, int64_t uid, int64_t pid)
{
	char path[4096];
	int n;

	if (g->rc != LETHE_OK)
		return;
	n = snprintf(path, sizeof(path), "%s/u%lld/p%lld", g->media_dir, (long long)uid,
	             (long long)pid);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		g->rc = lethe_err_set(g->err, LETHE_E_IO, "%s: path too long", g->media_dir);
		return;
	}
	g->rc = mkdir_p(path, g->err);
}

static void
emit_preview(struct gen *g, struct rng *r, int64_t pid)
{
	static const char *const decisions[] = {"pending", "pending", "approved", "rejected"};
	enum tbl t = T_PREVIEWS;
	char token[65], pw[128];
	int64_t created = rng_recent(r, PREVIEW_SPAN);
	bool with_pw = rng_chance(r, 50);

	rng_chars(r, token, 64, HEX);
	fake_argon2(r, pw, sizeof(pw));
	row_begin(g, t);
	b_int(g, t, 2, pid);
	b_text(g, t, 3, token);
	b_text(g, t, 4, with_pw ? pw : NULL);
	b_time(g, t, 5, created);
	b_time(g, t, 6, created + 24 * HOUR);
	b_text(g, t, 7, PICK(r, decisions));
	row_end(g, t);
}

static void
emit_contact(struct gen *g, struct rng *r, int64_t pid, int64_t after)
{
	enum tbl t = T_CONTACTS;
	const char *first = PICK(r, first_names), *last = PICK(r, last_names);
	char email[64], name[64], handle[64];
	int64_t no = ++g->contact_no;

	snprintf(email, sizeof(email), "contact%lld@example.net", (long long)no);
	snprintf(name, sizeof(name), "%s %s", first, last);
	snprintf(handle, sizeof(handle), "@%s.%s%lld", first, last, (long long)no);
	row_begin(g, t);
	b_int(g, t, 2, pid);
	b_text(g, t, 3, email);
	b_text(g, t, 4, name);
	b_text(g, t, 5, handle);
	b_time(g, t, 6, after + rng_range(r, HOUR, 30 * DAY));
	row_end(g, t);
}

static void
emit_campaign(struct gen *g, struct rng *r, int64_t pid)
{
	enum tbl t = T_CAMPAIGNS;
	const char *name = PICK(r, campaign_names);
	char subject[128], body[256];

	snprintf(subject, sizeof(subject), "%s: news from %s", name, PICK(r, project_names));
	snprintf(body, sizeof(body), "Hi {{first_name}}, %s. %s", PICK(r, post_topics),
	         PICK(r, hashtags));
	row_begin(g, t);
	b_int(g, t, 2, pid);
	b_text(g, t, 3, name);
	b_text(g, t, 4, subject);
	b_text(g, t, 5, body);
	b_time(g, t, 6, rng_chance(r, 60) ? rng_recent(r, RECENT_SPAN) : NO_TIME);
	row_end(g, t);
}

static void
emit_reqlog(struct gen *g, struct rng *r, int64_t uid, int64_t pid, int64_t chid)
{
	enum tbl t = T_REQLOGS;
	char ip[32], path[96];

	snprintf(ip, sizeof(ip), "203.0.113.%d", (int)rng_range(r, 1, 254));
	switch (rng_next(r) % 6) {
	case 0:
		snprintf(path, sizeof(path), "/login");
		break;
	case 1:
		snprintf(path, sizeof(path), "/dashboard");
		break;
	case 2:
		snprintf(path, sizeof(path), "/api/projects/%lld/posts", (long long)pid);
		break;
	case 3:
		snprintf(path, sizeof(path), "/api/channels/%lld/inbox", (long long)chid);
		break;
	case 4:
		snprintf(path, sizeof(path), "/api/projects/%lld/media", (long long)pid);
		break;
	default:
		snprintf(path, sizeof(path), "/settings/billing");
		break;
	}
	row_begin(g, t);
	b_int(g, t, 2, uid);
	b_text(g, t, 3, ip);
	b_text(g, t, 4, PICK(r, user_agents));
	b_text(g, t, 5, path);
	b_time(g, t, 6, rng_recent(r, RECENT_SPAN));
	row_end(g, t);
}

/* Invoice @k (0-based, newest first) of a user; amounts include 21% VAT. */
static void
emit_invoice(struct gen *g, struct rng *r, int64_t uid, const char *email, const char *name,
             const char *plan, const char *tax_id, int64_t k)
{
	enum tbl t = T_INVOICES;
	int64_t amount = 1089;

	if (strcmp(plan, "pro") == 0)
		amount = 2299;
	else if (strcmp(plan, "agency") == 0)
		amount = 9559;
	row_begin(g, t);
	b_int(g, t, 2, uid);
	b_text(g, t, 3, email);
	b_text(g, t, 4, name);
	b_text(g, t, 5, tax_id);
	b_int(g, t, 6, amount);
	b_time(g, t, 7, DEMO_BASE - (k + 1) * 30 * DAY + rng_range(r, 0, 3 * DAY));
	row_end(g, t);
}

static void
fake_tax_id(struct rng *r, char *out, size_t n)
{
	snprintf(out, n, "ES%c%07lld%c", (char)('A' + rng_range(r, 0, 7)),
	         (long long)rng_range(r, 0, 9999999), (char)('A' + rng_range(r, 0, 25)));
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
	uid = emit_user(g, &r, email, name, plan, created);

	nproj = (int)rng_range(&r, 1, 2);
	for (p = 0; p < nproj && g->rc == LETHE_OK; p++) {
		pcreated = created + rng_range(&r, HOUR, 7 * DAY);
		pid = emit_project(g, &r, uid, pcreated);
		post_first = g->rows[T_POSTS] + 1;
		nch = p == 0 ? (int)rng_range(&r, 2, 3) : (int)rng_range(&r, 1, 3);
		for (c = 0; c < nch; c++) {
			if (p == 0 && c == 0)
				plat = P_INSTAGRAM;
			else if (p == 0 && c == 1)
				plat = P_FACEBOOK;
			else
				plat = next_platform(g, p == 0);
			emit_channel(g, &r, uid, handle, pid, ++idx, plat, pcreated, &ch);
			n = (int)rng_range(&r, 2, 5);
			for (k = 0; k < n; k++)
				emit_post(g, &r, &ch);
			n = (int)rng_range(&r, 2, 5);
			for (k = 0; k < n; k++)
				emit_message(g, &r, &ch);
			n = (int)rng_range(&r, 2, 5);
			for (k = 0; k < n; k++)
				emit_comment(g, &r, &ch);
			n = (int)rng_range(&r, 3, 7);
			for (k = 0; k < n; k++)
				emit_analytics(g, &r, &ch);
			emit_rule(g, &r, &ch);
			emit_webhook(g, &r, &ch, pcreated + 14 * DAY);
			n = (int)rng_range(&r, 1, 2);
			for (k = 0; k < n; k++)
				emit_publog(g, &r, &ch);
			last_chan = ch.id;
		}
		media_dir(g, uid, pid);
		n = (int)rng_range(&r, 1, 3);
		for (k = 0; k < n; k++)
			emit_media(g, &r, uid, pid, post_first, g->rows[T_POSTS]);
		emit_preview(g, &r, pid);
		n = (int)rng_range(&r, 1, 3);
		for (k = 0; k < n; k++)
			emit_contact(g, &r, pid, pcreated);
		emit_campaign(g, &r, pid);
		last_pid = pid;
	}

	n = (int)rng_range(&r, 3, 6);
	for (k = 0; k < n; k++)
		emit_reqlog(g, &r, uid, last_pid, last_chan);
	fake_tax_id(&r, tax, sizeof(tax));
	n = (int)rng_range(&r, 1, 2);
	for (k = 0; k < n; k++)
		emit_invoice(g, &r, uid, email, name, plan, tax, k);
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
	uid = emit_user(g, &r, email, name, "agency", created);
	for (i = 0; i < 2; i++)
		pid[i] = emit_project(g, &r, uid, created + (i + 1) * DAY);
	for (c = 0; c < P_COUNT; c++)
		emit_channel(g, &r, uid, "heavyuser", pid[c / 3], c + 1, (enum platform)c,
		             created + 3 * DAY, &ch[c]);

	/* Posts in one block per channel, so each channel's ids are a range. */
	for (c = 0; c < P_COUNT; c++) {
		int64_t k = n[T_POSTS] / P_COUNT + (c < n[T_POSTS] % P_COUNT ? 1 : 0);

		if (c % 3 == 0)
			post_first[c / 3] = g->rows[T_POSTS] + 1;
		for (i = 0; i < k && g->rc == LETHE_OK; i++)
			emit_post(g, &r, &ch[c]);
	}
	for (i = 0; i < n[T_MESSAGES] && g->rc == LETHE_OK; i++)
		emit_message(g, &r, &ch[i % P_COUNT]);
	for (i = 0; i < n[T_COMMENTS] && g->rc == LETHE_OK; i++)
		emit_comment(g, &r, &ch[i % P_COUNT]);
	for (i = 0; i < n[T_ANALYTICS] && g->rc == LETHE_OK; i++)
		emit_analytics(g, &r, &ch[i % P_COUNT]);
	for (i = 0; i < n[T_RULES] && g->rc == LETHE_OK; i++)
		emit_rule(g, &r, &ch[i % P_COUNT]);
	for (c = 0; c < P_COUNT; c++)
		emit_webhook(g, &r, &ch[c], created + 20 * DAY);
	for (i = 0; i < n[T_PUBLOGS] && g->rc == LETHE_OK; i++)
		emit_publog(g, &r, &ch[i % P_COUNT]);

	media_dir(g, uid, pid[0]);
	media_dir(g, uid, pid[1]);
	for (i = 0; i < n[T_MEDIA] && g->rc == LETHE_OK; i++) {
		int64_t pp = i % 2;
		int64_t hi = pp == 0 ? post_first[1] - 1 : g->rows[T_POSTS];

		emit_media(g, &r, uid, pid[pp], post_first[pp], hi);
	}
	for (i = 0; i < n[T_PREVIEWS] && g->rc == LETHE_OK; i++)
		emit_preview(g, &r, pid[i % 2]);
	for (i = 0; i < n[T_CONTACTS] && g->rc == LETHE_OK; i++)
		emit_contact(g, &r, pid[i % 2], created);
	for (i = 0; i < n[T_CAMPAIGNS] && g->rc == LETHE_OK; i++)
		emit_campaign(g, &r, pid[i % 2]);
	for (i = 0; i < n[T_REQLOGS] && g->rc == LETHE_OK; i++)
		emit_reqlog(g, &r, uid, pid[i % 2], ch[i % P_COUNT].id);
	fake_tax_id(&r, tax, sizeof(tax));
	for (i = 0; i < n[T_INVOICES] && g->rc == LETHE_OK; i++)
		emit_invoice(g, &r, uid, email, name, "agency", tax, i % 12);
}

static lethe_rc
exec_sql(struct gen *g, const char *sql)
{
	if (sqlite3_exec(g->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_db(g, sql);
	return g->rc;
}

/* Create the tables and prepare one insert statement per table. */
static lethe_rc
prepare_schema(struct gen *g)
{
	char *sql = NULL, *ph;
	size_t len;
	int t, ncol, k;
	const char *s;

	for (t = 0; t < T_COUNT && g->rc == LETHE_OK; t++) {
		sql = xasprintf("CREATE TABLE %s (id INTEGER PRIMARY KEY, %s)", tables[t].name,
		                tables[t].defs);
		exec_sql(g, sql);
		free(sql);

		ncol = 2; /* id and the first column */
		for (s = tables[t].cols; *s != '\0'; s++)
			if (*s == ',')
				ncol++;
		len = (size_t)ncol * 5 + 1;
		ph = xmalloc(len);
		ph[0] = '\0';
		for (k = 1; k <= ncol; k++)
			snprintf(ph + strlen(ph), len - strlen(ph), "%s?%d", k > 1 ? ", " : "", k);
		sql = xasprintf("INSERT INTO %s (id, %s) VALUES (%s)", tables[t].name,
		                tables[t].cols, ph);
		free(ph);
		if (g->rc == LETHE_OK &&
		    sqlite3_prepare_v3(g->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &g->st[t],
		                       NULL) != SQLITE_OK)
			fail_db(g, tables[t].name);
		free(sql);
	}
	return g->rc;
}

static lethe_rc
create_indexes(struct gen *g)
{
	char *sql;
	size_t i;

	for (i = 0; i < NELEM(indexes) && g->rc == LETHE_OK; i++) {
		sql = xasprintf("CREATE INDEX %s_%s_idx ON %s (%s)", indexes[i][0], indexes[i][1],
		                indexes[i][0], indexes[i][1]);
		exec_sql(g, sql);
		free(sql);
	}
	for (i = 0; i < NELEM(ttl_indexes) && g->rc == LETHE_OK; i++) {
		sql = xasprintf("CREATE INDEX %s ON %s (%s)", ttl_indexes[i][0], ttl_indexes[i][1],
		                ttl_indexes[i][2]);
		exec_sql(g, sql);
		free(sql);
	}
	return g->rc;
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
	return write_file(path, hex, 65, 0600, err);
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
		rc = write_file(path, text, strlen(text), 0600, err);
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

static int64_t
total_rows(const struct gen *g)
{
	int64_t n = 0;
	int t;

	for (t = 0; t < T_COUNT; t++)
		n += g->rows[t];
	return n;
}

/* Finalize the statements and close g->db (if open); LETHE_E_DB if that fails. */
static lethe_rc
close_db(struct gen *g)
{
	int t;

	for (t = 0; t < T_COUNT; t++) {
		sqlite3_finalize(g->st[t]);
		g->st[t] = NULL;
	}
	if (g->db != NULL && sqlite3_close(g->db) != SQLITE_OK) {
		fail_db(g, "close");
		sqlite3_close_v2(g->db);
		g->db = NULL;
		return LETHE_E_DB;
	}
	g->db = NULL;
	return LETHE_OK;
}

/*
 * Fill the open database g->db: schema, one transaction of inserts, then
 * the indexes.  On return g->rc says how it went.
 */
static lethe_rc
fill_db(struct gen *g, const struct demo_opts *opts)
{
	int64_t before;
	int i;

	if (exec_sql(g, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; "
	                "PRAGMA cache_size=-131072; PRAGMA temp_store=MEMORY; "
	                "PRAGMA user_version=1") != LETHE_OK)
		return g->rc;
	if (exec_sql(g, "BEGIN") != LETHE_OK)
		return g->rc;
	if (prepare_schema(g) != LETHE_OK)
		return g->rc;
	for (i = 1; i <= opts->users && g->rc == LETHE_OK; i++)
		gen_user(g, i);
	if (opts->heavy > 0 && g->rc == LETHE_OK) {
		before = total_rows(g);
		gen_heavy(g, opts->heavy);
		g->heavy_rows = total_rows(g) - before;
	}
	if (g->rc != LETHE_OK)
		return g->rc;
	if (create_indexes(g) != LETHE_OK)
		return g->rc;
	if (exec_sql(g, "COMMIT") != LETHE_OK)
		return g->rc;
	return exec_sql(g, "PRAGMA synchronous=NORMAL; PRAGMA wal_checkpoint(TRUNCATE)");
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
	char *dir = NULL, *media = NULL, *var = NULL, *db_path = NULL, *p = NULL;
	size_t len;
	bool created = false;
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

	rc = mkdir_p(dir, err);
	if (rc != LETHE_OK)
		goto out;
	if (lstat(db_path, &sb) == 0) {
		rc = lethe_err_set(err, LETHE_E_USAGE,
		                   "%s already exists; choose an empty directory", db_path);
		goto out;
	}
	rc = mkdir_p(media, err);
	if (rc != LETHE_OK)
		goto out;
	rc = mkdir_p(var, err);
	if (rc != LETHE_OK)
		goto out;

	p = xasprintf("%s/datamap.yaml", dir);
	rc = write_file(p, demo_datamap_yaml, strlen(demo_datamap_yaml), 0644, err);
	if (rc != LETHE_OK)
		goto out;
	free(p);
	p = xasprintf("%s/lethe.yaml", dir);
	rc = write_file(p, demo_lethe_yaml, strlen(demo_lethe_yaml), 0644, err);
	if (rc != LETHE_OK)
		goto out;
	free(p);
	p = xasprintf("%s/anonymize.key", var);
	rc = write_key(p, opts->seed, err);
	if (rc != LETHE_OK)
		goto out;
	rc = write_secrets(dir, err);
	if (rc != LETHE_OK)
		goto out;

	g.seed = opts->seed;
	g.media_dir = media;
	created = true;
	if (sqlite3_open_v2(db_path, &g.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = lethe_err_set(err, LETHE_E_DB, "%s: %s", db_path,
		                   g.db != NULL ? sqlite3_errmsg(g.db) : "out of memory");
		goto out;
	}
	rc = fill_db(&g, opts);
	if (rc != LETHE_OK)
		goto out;
	rc = close_db(&g);
	if (rc != LETHE_OK)
		goto out;
	if (!opts->quiet) {
		printf("demo written to %s\n", dir);
		printf("  app database   %s  (%lld users, %lld rows)\n", db_path,
		       (long long)g.rows[T_USERS], (long long)total_rows(&g));
		printf("  media files    %s   (%lld files)\n", media, (long long)g.files);
		printf("  data map       %s/datamap.yaml\n", dir);
		printf("  configuration  %s/lethe.yaml\n", dir);
		if (opts->heavy > 0)
			printf("  heavy user     heavy@example.com (%lld rows)\n",
			       (long long)g.heavy_rows);
	}
out:
	close_db(&g);
	if (rc != LETHE_OK && created)
		remove_db(db_path);
	free(p);
	free(db_path);
	free(var);
	free(media);
	free(dir);
	return rc;
}
