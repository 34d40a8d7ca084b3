/* SPDX-License-Identifier: MIT */
/*
 * demo_rows.c - the demo's row generators, one per table of the demo app:
 * each inserts one row whose values come from the caller's random stream
 * and fixed vocabularies (names, post texts, comments, user agents...), in
 * the formats the real platforms use for ids and tokens; media rows also
 * get their file under DIR/media/.  What each user owns is decided in
 * demo.c.
 */
#include "util/fmacros.h"

#include <errno.h>
#include <sys/stat.h>

#include "demo/demo_internal.h"
#include "util/mem.h"
#include "util/timeutil.h"

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

int64_t
demo_emit_user(struct gen *g, struct rng *r, const char *email, const char *name, const char *plan,
               int64_t created)
{
	enum tbl t = T_USERS;
	char pw[128];
	int64_t id;

	fake_argon2(r, pw, sizeof(pw));
	id = demo_row_begin(g, t);
	demo_bind_text(g, t, 2, email);
	demo_bind_text(g, t, 3, name);
	demo_bind_text(g, t, 4, pw);
	demo_bind_text(g, t, 5, plan);
	demo_bind_time(g, t, 6, created);
	demo_row_end(g, t);
	return id;
}

int64_t
demo_emit_project(struct gen *g, struct rng *r, int64_t uid, int64_t created)
{
	enum tbl t = T_PROJECTS;
	int64_t id;

	id = demo_row_begin(g, t);
	demo_bind_int(g, t, 2, uid);
	demo_bind_text(g, t, 3, PICK(r, project_names));
	demo_bind_time(g, t, 4, created);
	demo_row_end(g, t);
	return id;
}

/* Insert channel number @idx of user @uid (whose handle is @handle) into @ch. */
void
demo_emit_channel(struct gen *g, struct rng *r, int64_t uid, const char *handle, int64_t pid,
                  int idx, enum platform p, int64_t after, struct chan *ch)
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
	ch->id = demo_row_begin(g, t);
	ch->project_id = pid;
	ch->plat = p;
	ch->post_lo = 1;
	/* A Facebook channel is a Page: its webhooks subscribe the Page id. */
	if (p == P_FACEBOOK)
		snprintf(ch->account, sizeof(ch->account), "10400%07lld%02d", (long long)uid, idx);
	else
		snprintf(ch->account, sizeof(ch->account), "%s", puid);
	demo_bind_int(g, t, 2, pid);
	demo_bind_text(g, t, 3, platforms[p].name);
	demo_bind_text(g, t, 4, puid);
	demo_bind_text(g, t, 5, uname);
	demo_bind_text(g, t, 6, acc);
	demo_bind_text(g, t, 7, ref[0] != '\0' ? ref : NULL);
	demo_bind_time(g, t, 8, expires);
	demo_bind_text(g, t, 9, status);
	demo_bind_time(g, t, 10, connected);
	demo_row_end(g, t);
}

/* A post on @ch; extends the channel's post range (posts come in blocks). */
void
demo_emit_post(struct gen *g, struct rng *r, struct chan *ch)
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

	id = demo_row_begin(g, t);
	demo_bind_int(g, t, 2, ch->project_id);
	demo_bind_int(g, t, 3, ch->id);
	demo_bind_text(g, t, 4, body);
	demo_bind_text(g, t, 5, status);
	demo_bind_time(g, t, 6, scheduled);
	demo_bind_time(g, t, 7, published);
	demo_bind_time(g, t, 8, created);
	demo_row_end(g, t);
	if (ch->post_lo > ch->post_hi)
		ch->post_lo = id;
	ch->post_hi = id;
}

void
demo_emit_message(struct gen *g, struct rng *r, const struct chan *ch)
{
	enum tbl t = T_MESSAGES;
	char sender[32], name[64];

	fake_sender_id(r, ch->plat, sender, sizeof(sender));
	fake_person(r, name, sizeof(name));
	demo_row_begin(g, t);
	demo_bind_int(g, t, 2, ch->id);
	demo_bind_text(g, t, 3, sender);
	demo_bind_text(g, t, 4, name);
	demo_bind_text(g, t, 5, PICK(r, message_bodies));
	demo_bind_time(g, t, 6, rng_recent(r, RECENT_SPAN));
	demo_row_end(g, t);
}

void
demo_emit_comment(struct gen *g, struct rng *r, const struct chan *ch)
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
	demo_row_begin(g, t);
	demo_bind_int(g, t, 2, ch->id);
	demo_bind_ref(g, t, 3, chan_post(r, ch));
	demo_bind_text(g, t, 4, author);
	demo_bind_text(g, t, 5, name);
	demo_bind_text(g, t, 6, body);
	demo_bind_text(g, t, 7, sentiment);
	demo_bind_time(g, t, 8, rng_recent(r, RECENT_SPAN));
	demo_row_end(g, t);
}

/* The channel's next analytics day, walking back from the day before DEMO_BASE. */
void
demo_emit_analytics(struct gen *g, struct rng *r, struct chan *ch)
{
	enum tbl t = T_ANALYTICS;
	char day[32];

	ch->days++;
	time_format(DEMO_BASE - ch->days * DAY, day, sizeof(day));
	day[10] = '\0';
	demo_row_begin(g, t);
	demo_bind_int(g, t, 2, ch->id);
	demo_bind_text(g, t, 3, day);
	demo_bind_int(g, t, 4, rng_range(r, 120, 250000));
	demo_bind_int(g, t, 5, rng_range(r, 50, 900000));
	demo_bind_double(g, t, 6, (double)rng_range(r, 40, 1200) / 10000.0);
	demo_row_end(g, t);
}

void
demo_emit_rule(struct gen *g, struct rng *r, const struct chan *ch)
{
	static const char *const rules[][3] = {
	    {"Auto-reply to direct messages", "message.received", "reply:template:welcome"},
	    {"Tag price questions as leads", "comment.keyword:price", "tag:lead"},
	    {"Hide abusive comments", "comment.sentiment:negative", "hide"},
	    {"Notify me of mentions", "mention.created", "notify:email"},
	};
	enum tbl t = T_RULES;
	size_t k = (size_t)(rng_next(r) % NELEM(rules));

	demo_row_begin(g, t);
	demo_bind_int(g, t, 2, ch->id);
	demo_bind_text(g, t, 3, rules[k][0]);
	demo_bind_text(g, t, 4, rules[k][1]);
	demo_bind_text(g, t, 5, rules[k][2]);
	demo_bind_int(g, t, 6, rng_chance(r, 75) ? 1 : 0);
	demo_row_end(g, t);
}

void
demo_emit_webhook(struct gen *g, struct rng *r, const struct chan *ch, int64_t after)
{
	enum tbl t = T_WEBHOOKS;
	char url[128];

	snprintf(url, sizeof(url), "https://hooks.app.example.com/%s/%lld",
	         platforms[ch->plat].name, (long long)ch->id);
	demo_row_begin(g, t);
	demo_bind_int(g, t, 2, ch->id);
	demo_bind_text(g, t, 3, platforms[ch->plat].object);
	demo_bind_text(g, t, 4, ch->account);
	demo_bind_text(g, t, 5, url);
	demo_bind_text(g, t, 6, rng_chance(r, 90) ? "active" : "paused");
	demo_bind_time(g, t, 7, after + rng_range(r, MINUTE, HOUR));
	demo_row_end(g, t);
}

void
demo_emit_publog(struct gen *g, struct rng *r, const struct chan *ch)
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
	demo_row_begin(g, t);
	demo_bind_int(g, t, 2, ch->id);
	demo_bind_ref(g, t, 3, post);
	demo_bind_text(g, t, 4, ok ? "info" : "error");
	demo_bind_text(g, t, 5, ok ? "published" : "failed");
	demo_bind_text(g, t, 6, detail);
	demo_bind_time(g, t, 7, rng_recent(r, RECENT_SPAN));
	demo_row_end(g, t);
}

/*
 * A media row of project @pid (of user @uid), optionally attached to a post
 * in [@post_lo, @post_hi], and its file DIR/media/<storage_key>: a few
 * hundred deterministic bytes with the right magic number.  The directory
 * DIR/media/u<uid>/p<pid> must exist (demo_media_dir()).
 */
void
demo_emit_media(struct gen *g, struct rng *r, int64_t uid, int64_t pid, int64_t post_lo,
                int64_t post_hi)
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

	id = demo_row_begin(g, t);
	snprintf(key, sizeof(key), "u%lld/p%lld/%lld.%s", (long long)uid, (long long)pid,
	         (long long)id, kinds[kind].ext);
	n = snprintf(path, sizeof(path), "%s/%s", g->media_dir, key);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		g->rc = lethe_err_set(g->err, LETHE_E_IO, "%s: path too long", g->media_dir);
		return;
	}
	g->rc = demo_write_file(path, data, len, 0644, g->err);
	if (g->rc != LETHE_OK)
		return;
	g->files++;
	demo_bind_int(g, t, 2, pid);
	demo_bind_ref(g, t, 3, post);
	demo_bind_text(g, t, 4, key);
	demo_bind_text(g, t, 5, kinds[kind].mime);
	demo_bind_int(g, t, 6, (int64_t)len);
	demo_bind_int(g, t, 7, rng_chance(r, 50) ? 1 : 0);
	demo_bind_time(g, t, 8, rng_recent(r, RECENT_SPAN));
	demo_row_end(g, t);
}

/* Create DIR/media/u<uid>/p<pid>; sticky error on failure. */
void
demo_media_dir(struct gen *g, int64_t uid, int64_t pid)
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
	g->rc = demo_mkdir_p(path, g->err);
}

void
demo_emit_preview(struct gen *g, struct rng *r, int64_t pid)
{
	static const char *const decisions[] = {"pending", "pending", "approved", "rejected"};
	enum tbl t = T_PREVIEWS;
	char token[65], pw[128];
	int64_t created = rng_recent(r, PREVIEW_SPAN);
	bool with_pw = rng_chance(r, 50);

	rng_chars(r, token, 64, HEX);
	fake_argon2(r, pw, sizeof(pw));
	demo_row_begin(g, t);
	demo_bind_int(g, t, 2, pid);
	demo_bind_text(g, t, 3, token);
	demo_bind_text(g, t, 4, with_pw ? pw : NULL);
	demo_bind_time(g, t, 5, created);
	demo_bind_time(g, t, 6, created + 24 * HOUR);
	demo_bind_text(g, t, 7, PICK(r, decisions));
	demo_row_end(g, t);
}

void
demo_emit_contact(struct gen *g, struct rng *r, int64_t pid, int64_t after)
{
	enum tbl t = T_CONTACTS;
	const char *first = PICK(r, first_names), *last = PICK(r, last_names);
	char email[64], name[64], handle[64];
	int64_t no = ++g->contact_no;

	snprintf(email, sizeof(email), "contact%lld@example.net", (long long)no);
	snprintf(name, sizeof(name), "%s %s", first, last);
	snprintf(handle, sizeof(handle), "@%s.%s%lld", first, last, (long long)no);
	demo_row_begin(g, t);
	demo_bind_int(g, t, 2, pid);
	demo_bind_text(g, t, 3, email);
	demo_bind_text(g, t, 4, name);
	demo_bind_text(g, t, 5, handle);
	demo_bind_time(g, t, 6, after + rng_range(r, HOUR, 30 * DAY));
	demo_row_end(g, t);
}

void
demo_emit_campaign(struct gen *g, struct rng *r, int64_t pid)
{
	enum tbl t = T_CAMPAIGNS;
	const char *name = PICK(r, campaign_names);
	char subject[128], body[256];

	snprintf(subject, sizeof(subject), "%s: news from %s", name, PICK(r, project_names));
	snprintf(body, sizeof(body), "Hi {{first_name}}, %s. %s", PICK(r, post_topics),
	         PICK(r, hashtags));
	demo_row_begin(g, t);
	demo_bind_int(g, t, 2, pid);
	demo_bind_text(g, t, 3, name);
	demo_bind_text(g, t, 4, subject);
	demo_bind_text(g, t, 5, body);
	demo_bind_time(g, t, 6, rng_chance(r, 60) ? rng_recent(r, RECENT_SPAN) : NO_TIME);
	demo_row_end(g, t);
}

void
demo_emit_reqlog(struct gen *g, struct rng *r, int64_t uid, int64_t pid, int64_t chid)
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
	demo_row_begin(g, t);
	demo_bind_int(g, t, 2, uid);
	demo_bind_text(g, t, 3, ip);
	demo_bind_text(g, t, 4, PICK(r, user_agents));
	demo_bind_text(g, t, 5, path);
	demo_bind_time(g, t, 6, rng_recent(r, RECENT_SPAN));
	demo_row_end(g, t);
}

/* Invoice @k (0-based, newest first) of a user; amounts include 21% VAT. */
void
demo_emit_invoice(struct gen *g, struct rng *r, int64_t uid, const char *email, const char *name,
                  const char *plan, const char *tax_id, int64_t k)
{
	enum tbl t = T_INVOICES;
	int64_t amount = 1089;

	if (strcmp(plan, "pro") == 0)
		amount = 2299;
	else if (strcmp(plan, "agency") == 0)
		amount = 9559;
	demo_row_begin(g, t);
	demo_bind_int(g, t, 2, uid);
	demo_bind_text(g, t, 3, email);
	demo_bind_text(g, t, 4, name);
	demo_bind_text(g, t, 5, tax_id);
	demo_bind_int(g, t, 6, amount);
	demo_bind_time(g, t, 7, DEMO_BASE - (k + 1) * 30 * DAY + rng_range(r, 0, 3 * DAY));
	demo_row_end(g, t);
}

void
demo_fake_tax_id(struct rng *r, char *out, size_t n)
{
	snprintf(out, n, "ES%c%07lld%c", (char)('A' + rng_range(r, 0, 7)),
	         (long long)rng_range(r, 0, 9999999), (char)('A' + rng_range(r, 0, 25)));
}
