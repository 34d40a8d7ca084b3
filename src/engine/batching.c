/* SPDX-License-Identifier: MIT */
/*
 * batching.c - short write transactions, shared by erase.c and sweep.c
 * (see batching.h and docs/internals/executor.md, "Short transactions").
 */
#include "util/fmacros.h"

#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/batching.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define BUSY_RETRIES 6
#define POLITE_MS 2000.0      /* stay polite this long after seeing another writer */
#define FORCED_PAUSE_MS 500.0 /* even alone, pause this often so a writer can get in */

void
batching_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void
batching_init(struct batching *b, int64_t fixed, int max_txn_ms, int yield_ms)
{
	memset(b, 0, sizeof(*b));
	b->fixed = fixed;
	b->batch = fixed > 0 ? fixed : BATCHING_START;
	b->max_txn_ms = max_txn_ms;
	b->yield_ms = yield_ms;
	b->last_dv = INT64_MIN;
	b->last_pause = time_mono_ms();
	b->max_growth = 2.0;
}

lethe_rc
batching_begin(struct appdb *db, struct lethe_err *err)
{
	int i;
	lethe_rc rc = LETHE_E_BUSY;

	for (i = 0; i < BUSY_RETRIES; i++) {
		rc = appdb_begin_write(db, err);
		if (rc != LETHE_E_BUSY)
			return rc;
		log_warnx("app database busy (%s); retrying (%d/%d)",
		          err != NULL ? err->msg : "locked", i + 1, BUSY_RETRIES);
		batching_sleep_ms(100 << i);
	}
	return rc;
}

void
batching_after(struct batching *b, struct appdb *db, double ms, int64_t rows, bool full)
{
	double now;
	int64_t dv;

	b->txns++;
	if (ms > b->max_ms)
		b->max_ms = ms;
	if (b->fixed == 0 && full && rows > 0 && ms > 0.0) {
		double want = (double)rows * (0.6 * b->max_txn_ms) / ms;
		int64_t next = (int64_t)want;

		/* Grow at most max_growth-fold; shrink as far as the measurement says. */
		if ((double)next > b->max_growth * (double)b->batch)
			next = (int64_t)(b->max_growth * (double)b->batch);
		if (next < BATCHING_MIN)
			next = BATCHING_MIN;
		if (next > BATCHING_MAX)
			next = BATCHING_MAX;
		b->batch = next;
	}
	if (db->ops->maintain != NULL)
		db->ops->maintain(db);
	/* Yield the write lock to the app: always while it writes, now and then anyway. */
	now = time_mono_ms();
	dv = db->ops->data_version(db);
	if (b->last_dv != INT64_MIN && dv != b->last_dv)
		b->polite_until = now + POLITE_MS;
	b->last_dv = dv;
	if (b->yield_ms > 0 && (now < b->polite_until || now - b->last_pause >= FORCED_PAUSE_MS)) {
		int pause = b->yield_ms;

		if (b->pause_as_long && now < b->polite_until && ms > pause)
			pause = (int)ms + 1;
		batching_sleep_ms(pause);
		b->last_pause = time_mono_ms();
		b->last_dv = db->ops->data_version(db);
		if (b->last_dv != dv)
			b->polite_until = b->last_pause + POLITE_MS;
	}
}

void
batching_tag_val(const char *tag, struct appdb_val *v)
{
	memset(v, 0, sizeof(*v));
	if (tag == NULL || strlen(tag) < 2) {
		v->type = APPDB_NULL;
		return;
	}
	switch (tag[0]) {
	case 'i':
		v->type = APPDB_INT;
		v->i = strtoll(tag + 2, NULL, 10);
		break;
	case 'r':
		v->type = APPDB_REAL;
		v->r = strtod(tag + 2, NULL);
		break;
	case 't':
		v->type = APPDB_TEXT;
		v->s = tag + 2;
		break;
	default:
		v->type = APPDB_NULL;
	}
}

/* Text form of a value for hashing and comparing; caller frees. */
static char *
val_text(const struct appdb_val *v)
{
	switch (v->type) {
	case APPDB_INT:
		return xasprintf("%lld", (long long)v->i);
	case APPDB_REAL:
		return xasprintf("%.17g", v->r);
	case APPDB_TEXT:
		return xstrdup(v->s);
	default:
		return NULL;
	}
}

void
batching_val_set(struct batching_val *o, const struct appdb_val *v)
{
	o->v = *v;
	o->buf = NULL;
	if (v->type == APPDB_TEXT) {
		o->buf = xstrdup(v->s);
		o->v.s = o->buf;
	}
}

bool
batching_val_equal(const struct appdb_val *a, const struct appdb_val *b)
{
	char *x, *y;
	bool eq;

	if (a->type == APPDB_NULL || b->type == APPDB_NULL)
		return a->type == b->type;
	if (a->type == APPDB_INT && b->type == APPDB_INT)
		return a->i == b->i;
	x = val_text(a);
	y = val_text(b);
	eq = strcmp(x, y) == 0;
	free(x);
	free(y);
	return eq;
}

void
batching_anon_target(const uint8_t key[HASH_KEY_LEN], enum dm_anon how, const struct dm_value *set,
                     const struct appdb_val *cur, struct batching_val *out)
{
	struct appdb_val v = {.type = APPDB_NULL};
	char hashed[HASH_TEXT_LEN + 1];
	char *text;

	switch (how) {
	case DM_ANON_NULL:
		break;
	case DM_ANON_SET:
		v = dm_value_val(set);
		break;
	case DM_ANON_HASH:
		if (cur->type == APPDB_NULL)
			break;
		if (cur->type == APPDB_TEXT && hash_is_keyed(cur->s)) {
			v = *cur;
			break;
		}
		text = val_text(cur);
		hash_keyed(key, text, strlen(text), hashed);
		free(text);
		v.type = APPDB_TEXT;
		v.s = hashed;
		break;
	}
	batching_val_set(out, &v);
}
