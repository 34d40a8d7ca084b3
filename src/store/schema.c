/* SPDX-License-Identifier: MIT */
/*
 * schema.c - the state store's schema, one migration per version, and the
 * migration that store_open() runs (see store_internal.h).
 *
 * Schema versions are tracked with PRAGMA user_version; migrations[i]
 * brings a file from version i to i + 1.  The version is read and the
 * missing migrations run inside one BEGIN IMMEDIATE transaction, so two
 * processes opening a new store at once do not both migrate it; a file of a
 * newer version than SCHEMA_VERSION is refused.  A PostgreSQL store gets
 * the schema these migrations make, derived from it (schema_pg.c).
 */
#include "util/fmacros.h"

#include "store/schema_pg.h"
#include "store/store_internal.h"
#include "util/buf.h"
#include "util/mem.h"

#define SCHEMA_VERSION 18

static const char schema_v1[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL," /* erase */
    "  scope TEXT NOT NULL,"
    "  subject TEXT NOT NULL," /* keyed hash of the identities */
    "  state TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  finished_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS jobs_subject ON jobs(subject, scope, kind);"
    "CREATE TABLE IF NOT EXISTS job_steps ("
    "  job_id INTEGER NOT NULL REFERENCES jobs(id),"
    "  table_name TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  done INTEGER NOT NULL DEFAULT 0,"
    "  media INTEGER NOT NULL DEFAULT 0,"
    "  cursor TEXT,"
    "  pending_rows INTEGER NOT NULL DEFAULT 0,"
    "  pending_key TEXT,"
    "  pending_cursor TEXT,"
    "  pending_media INTEGER NOT NULL DEFAULT 0,"
    "  finished INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (job_id, table_name));"
    "CREATE TABLE IF NOT EXISTS holds ("
    "  table_name TEXT NOT NULL,"
    "  row_key TEXT NOT NULL,"
    "  job_id INTEGER NOT NULL,"
    "  until INTEGER NOT NULL,"
    "  PRIMARY KEY (table_name, row_key));"
    "CREATE INDEX IF NOT EXISTS holds_until ON holds(until);"
    "CREATE INDEX IF NOT EXISTS holds_job ON holds(job_id);";

/* Version 2: media files to remove once their rows' deletion has committed. */
static const char schema_v2[] = "CREATE TABLE IF NOT EXISTS media_pending ("
                                "  job_id INTEGER NOT NULL,"
                                "  table_name TEXT NOT NULL,"
                                "  object_key TEXT NOT NULL,"
                                "  PRIMARY KEY (job_id, table_name, object_key));";

/*
 * Version 3: Meta data-deletion requests and deauthorizations.  The
 * person's app-scoped id is kept only encrypted (identity_box, for the job
 * runner) and only until the request completes; subject is a keyed hash.
 */
static const char schema_v3[] =
    "CREATE TABLE IF NOT EXISTS meta_requests ("
    "  id INTEGER PRIMARY KEY,"
    "  code TEXT NOT NULL UNIQUE,"
    "  app TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  identity_box BLOB NOT NULL,"
    "  state TEXT NOT NULL,"
    "  job_id INTEGER,"
    "  no_data INTEGER NOT NULL DEFAULT 0,"
    "  received_at INTEGER NOT NULL,"
    "  completed_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS meta_requests_subject ON meta_requests(app, subject);"
    "CREATE INDEX IF NOT EXISTS meta_requests_state ON meta_requests(state);"
    "CREATE TABLE IF NOT EXISTS deauthorizations ("
    "  id INTEGER PRIMARY KEY,"
    "  app TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  rows_revoked INTEGER NOT NULL,"
    "  received_at INTEGER NOT NULL);";

/* Version 4: a job is run by one process at a time, which holds its lease. */
static const char schema_v4[] = "ALTER TABLE jobs ADD COLUMN lease_owner TEXT;"
                                "ALTER TABLE jobs ADD COLUMN lease_until INTEGER;";

/*
 * Version 5: channel disconnects and the outbox of their upstream work
 * (docs/internals/outbox.md).  A disconnect names its channel by a keyed
 * hash; the channel id (while staged) and each job's token and account id
 * are kept only sealed (XChaCha20-Poly1305 under the outbox key) and the
 * boxes are wiped (NULL) as soon as they are no longer needed.  Times of
 * the outbox are epoch milliseconds, so backoffs can be short in tests.
 */
static const char schema_v5[] =
    "CREATE TABLE IF NOT EXISTS channel_disconnects ("
    "  id INTEGER PRIMARY KEY,"
    "  subject TEXT NOT NULL," /* keyed hash of the channel id */
    "  state TEXT NOT NULL,"   /* staged, disconnected, aborted */
    "  source TEXT NOT NULL,"  /* api, cli, deauthorize, erase, request */
    "  platform TEXT,"         /* canonical platform name, or as stored */
    "  requested_at INTEGER NOT NULL,"
    "  disconnected_at INTEGER,"
    "  effects TEXT NOT NULL," /* JSON: tokens wiped, rows per effect */
    "  token_mac TEXT,"        /* staged only: keyed hash of the token read */
    "  box BLOB);"             /* staged only: the sealed channel id */
    "CREATE INDEX IF NOT EXISTS channel_disconnects_subject ON channel_disconnects(subject);"
    "CREATE INDEX IF NOT EXISTS channel_disconnects_state ON channel_disconnects(state);"
    "CREATE TABLE IF NOT EXISTS outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  disconnect_id INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"  /* revoke, unsubscribe, purge */
    "  platform TEXT,"       /* canonical platform name */
    "  state TEXT NOT NULL," /* staged, pending, running, done, dead */
    "  outcome TEXT,"        /* ok, already_revoked, unsupported, failed, expired... */
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL,"    /* ms */
    "  created_at INTEGER NOT NULL," /* ms */
    "  updated_at INTEGER NOT NULL," /* ms */
    "  finished_at INTEGER,"         /* ms */
    "  http_status INTEGER,"
    "  reason TEXT,"       /* last failure, never a secret */
    "  erase_job INTEGER," /* purge: the erase job */
    "  lease_owner TEXT,"
    "  lease_until INTEGER," /* ms */
    "  box BLOB);"           /* sealed payload; NULL once the job ends */
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_at);"
    "CREATE INDEX IF NOT EXISTS outbox_disconnect ON outbox(disconnect_id);"
    "CREATE TABLE IF NOT EXISTS outbox_key ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  fingerprint TEXT NOT NULL);"; /* keyed hash of a constant: which key seals */

/*
 * Version 6: meta_requests loses its (app, subject) index.  The subject is a
 * keyed hash, so every insert into that index dirtied a random page: about
 * 6 KB of WAL per request under load.  Repeats are found through an
 * in-memory map of the repeat window's requests (meta/seen.h), loaded
 * through received_at, which grows with the rowid.
 */
static const char schema_v6[] =
    "DROP INDEX IF EXISTS meta_requests_subject;"
    "CREATE INDEX IF NOT EXISTS meta_requests_received ON meta_requests(received_at);";

/*
 * Version 7: a Meta request may be run more than once.  A repeat of a
 * request already in the store asks for one more run (store_meta_rerun):
 * runs counts the runs asked for, job_run is the run job_id belongs to (0:
 * none started), run_at the receipt time of the latest repeat (NULL: none;
 * received_at stays the first request's, which the repeat window counts
 * from).
 */
static const char schema_v7[] =
    "ALTER TABLE meta_requests ADD COLUMN runs INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE meta_requests ADD COLUMN job_run INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE meta_requests ADD COLUMN run_at INTEGER;"
    "UPDATE meta_requests SET job_run = 1 WHERE job_id IS NOT NULL;";

/*
 * Version 8: the fingerprint of every key whose hashes or boxes the store
 * holds (the outbox key's, until now in outbox_key, and the anonymize
 * key's), so another key is refused instead of orphaning them.
 */
static const char schema_v8[] =
    "CREATE TABLE IF NOT EXISTS key_fingerprints ("
    "  name TEXT PRIMARY KEY,"      /* anonymize, outbox */
    "  fingerprint TEXT NOT NULL);" /* keyed hash of a constant under the key */
    "INSERT OR IGNORE INTO key_fingerprints (name, fingerprint) "
    "  SELECT 'outbox', fingerprint FROM outbox_key;"
    "DROP TABLE IF EXISTS outbox_key;";

/*
 * Version 9: media files already gone when their rows were deleted are
 * counted apart from those removed (media_missing), with the pending
 * batch's own count folded in when it commits (pending_missing).
 */
static const char schema_v9[] =
    "ALTER TABLE job_steps ADD COLUMN media_missing INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE job_steps ADD COLUMN pending_missing INTEGER NOT NULL DEFAULT 0;";

/*
 * Version 10: one request model (docs/requests.md).  meta_requests becomes
 * requests, the table of every privacy request whatever its source: Meta's
 * callbacks and imports as before (app names the Meta app; scope NULL: the
 * app's), and requests of the app, an operator, the person (app ''; scope,
 * kind, source, policy set).  due_at is the deadline, not_before the end
 * of a grace period (scheduled), expires_at the end of an unconfirmed
 * request's life (awaiting_verification), reason the latest refusal,
 * cancellation or failure, effects where the policy's effects stand (0
 * none, 1 to apply, 2 applied, 3 to undo), warned whether the deadline
 * warning was logged.  request_events records every transition after
 * receipt (the receipt itself is received_at).  The partial indexes keep
 * the Meta hot path's inserts cheap: a Meta request enters only those of
 * open requests, whose keys (state, due_at) grow with receipt.
 */
static const char schema_v10[] =
    "ALTER TABLE meta_requests RENAME TO requests;"
    "ALTER TABLE requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'erasure';"
    "ALTER TABLE requests ADD COLUMN scope TEXT;"
    "ALTER TABLE requests ADD COLUMN source TEXT NOT NULL DEFAULT 'meta';"
    "ALTER TABLE requests ADD COLUMN policy TEXT;"
    "ALTER TABLE requests ADD COLUMN due_at INTEGER;"
    "ALTER TABLE requests ADD COLUMN not_before INTEGER;"
    "ALTER TABLE requests ADD COLUMN expires_at INTEGER;"
    "ALTER TABLE requests ADD COLUMN reason TEXT;"
    "ALTER TABLE requests ADD COLUMN effects INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN warned INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN notify_box BLOB;"
    "UPDATE requests SET due_at = received_at + 2592000;"
    "DROP INDEX IF EXISTS meta_requests_state;"
    "DROP INDEX IF EXISTS meta_requests_received;"
    "CREATE INDEX IF NOT EXISTS requests_state ON requests(state);"
    "CREATE INDEX IF NOT EXISTS requests_received ON requests(received_at);"
    "CREATE INDEX IF NOT EXISTS requests_state_due ON requests(state, due_at);"
    "CREATE INDEX IF NOT EXISTS requests_due ON requests(due_at);"
    "CREATE INDEX IF NOT EXISTS requests_open_due ON requests(due_at) WHERE state NOT IN "
    "  ('completed', 'completed_with_retention', 'refused', 'cancelled', 'expired');"
    "CREATE INDEX IF NOT EXISTS requests_grace ON requests(not_before) "
    "  WHERE state = 'scheduled';"
    "CREATE INDEX IF NOT EXISTS requests_unverified ON requests(expires_at) "
    "  WHERE state = 'awaiting_verification';"
    "CREATE INDEX IF NOT EXISTS requests_effects ON requests(effects) WHERE effects IN (1, 3);"
    "CREATE INDEX IF NOT EXISTS requests_person ON requests(subject, kind, scope) "
    "  WHERE app = '';"
    "CREATE TABLE IF NOT EXISTS request_events ("
    "  request_id INTEGER NOT NULL,"
    "  at INTEGER NOT NULL," /* epoch s */
    "  state TEXT NOT NULL," /* the state entered, or 'extended' */
    "  actor TEXT NOT NULL," /* app:KEY, admin:KEY, cli, person, lethe */
    "  reason TEXT);"        /* the reason given, never personal data */
    "CREATE INDEX IF NOT EXISTS request_events_request ON request_events(request_id);";

/*
 * Version 11: the channels each Meta deauthorize disconnected, named by the
 * person's keyed hash (the subject of a data-deletion request of the same
 * app and user) with the channel key sealed under the anonymize key (and
 * its keyed hash, one row per channel), so that a later deletion request
 * finds them even if the disconnect cleared the identity column.
 */
static const char schema_v11[] = "CREATE TABLE IF NOT EXISTS deauth_channels ("
                                 "  app TEXT NOT NULL,"
                                 "  subject TEXT NOT NULL,"
                                 "  channel TEXT NOT NULL," /* keyed hash of the channel key */
                                 "  box BLOB NOT NULL,"     /* the channel key, sealed */
                                 "  received_at INTEGER NOT NULL,"
                                 "  PRIMARY KEY (app, subject, channel));";

/*
 * v12: mail (docs/internals/mail.md).  A request's notification address
 * (notify_box) is either its email identity (notify_kind 1) or an address
 * given with it (2); notify_ok says mail may go there (verified, or the
 * address confirmed by its link).  mail: the durable mail outbox, one row
 * per notice, its recipient sealed until it is sent or given up.  links:
 * the mailed links, by keyed hash of their token only.  rate_hits: the
 * self-service page's rate limits, by keyed hash of the address or client.
 */
static const char schema_v12[] =
    "ALTER TABLE requests ADD COLUMN notify_kind INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN notify_ok INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE IF NOT EXISTS mail ("
    "  id INTEGER PRIMARY KEY,"
    "  request_id INTEGER NOT NULL,"
    "  notice TEXT NOT NULL,"                  /* mail/templates.h MAIL_NOTICES */
    "  state TEXT NOT NULL DEFAULT 'pending'," /* pending, sending, sent, dead, skipped */
    "  to_box BLOB,"                           /* the recipient, sealed; NULL once done */
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL," /* epoch ms: due (pending), lease end (sending) */
    "  owner TEXT,"               /* the lease holder while sending */
    "  last_error TEXT,"
    "  created_at INTEGER NOT NULL," /* epoch s */
    "  done_at INTEGER);"            /* epoch s: sent, dead or skipped */
    "CREATE INDEX IF NOT EXISTS mail_due ON mail(next_at) WHERE state IN ('pending','sending');"
    "CREATE INDEX IF NOT EXISTS mail_request ON mail(request_id);"
    "CREATE TABLE IF NOT EXISTS links ("
    "  hash TEXT PRIMARY KEY," /* keyed hash of the token */
    "  request_id INTEGER NOT NULL,"
    "  purpose TEXT NOT NULL," /* verify, cancel, address */
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  used_at INTEGER) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS links_request ON links(request_id);"
    "CREATE TABLE IF NOT EXISTS rate_hits ("
    "  key TEXT PRIMARY KEY,"          /* keyed hash of what is limited */
    "  window_start INTEGER NOT NULL," /* epoch s */
    "  n INTEGER NOT NULL) WITHOUT ROWID;";

/*
 * v13: proof (docs/internals/proof.md).  audit: the hash chain, one row
 * per entry, body the exact bytes hashed (canonical JSON, no personal
 * data), hash = BLAKE2b-256(previous hash || body); request_id, type and
 * state copy the body's for lookups.  audit_checkpoints: signed heads.
 * scans: each request's latest residual scan and what became of the app
 * database's files.  ledger: erased people as keyed hashes of their rows'
 * keys and identity values, to find them again after a restore;
 * restore_epoch: the counter the app database's restore marker follows.
 */
static const char schema_v13[] =
    "CREATE TABLE IF NOT EXISTS audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL," /* epoch s */
    "  request_id INTEGER,"  /* the request the entry is about, or NULL */
    "  type TEXT NOT NULL,"  /* request, erase_step, scan, reapply */
    "  state TEXT,"          /* request entries: the state entered */
    "  body TEXT NOT NULL,"  /* canonical JSON: the bytes hashed */
    "  hash BLOB NOT NULL);" /* BLAKE2b-256(previous hash || body) */
    "CREATE INDEX IF NOT EXISTS audit_request ON audit(request_id) "
    "  WHERE request_id IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS audit_checkpoints ("
    "  seq INTEGER PRIMARY KEY," /* the entry whose hash is signed */
    "  hash BLOB NOT NULL,"
    "  at INTEGER NOT NULL,"  /* epoch s */
    "  key_id TEXT NOT NULL," /* audit/keys.h key id */
    "  sig BLOB NOT NULL);"   /* Ed25519 over the canonical head */
    "CREATE TABLE IF NOT EXISTS scans ("
    "  request_id INTEGER PRIMARY KEY,"
    "  job_id INTEGER NOT NULL DEFAULT 0,"
    "  at INTEGER NOT NULL,"
    "  result TEXT NOT NULL,"    /* clean, residual */
    "  rows INTEGER NOT NULL,"   /* residual rows */
    "  kept INTEGER NOT NULL,"   /* rows kept by retain parts */
    "  tables INTEGER NOT NULL," /* tables checked */
    "  detail TEXT NOT NULL,"    /* JSON, no personal data */
    "  wal TEXT NOT NULL,"       /* truncated, busy, not_wal, not_needed, not_sqlite */
    "  secure_delete INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS ledger ("
    "  tbl TEXT NOT NULL,"
    "  key_hash TEXT NOT NULL," /* keyed hash of the row's key */
    "  ids TEXT NOT NULL,"      /* JSON array of \"kind:anon:...\" identity hashes */
    "  scope TEXT NOT NULL,"
    "  request_id INTEGER NOT NULL,"
    "  state TEXT NOT NULL," /* pending, erased */
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY (tbl, key_hash, request_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS ledger_request ON ledger(request_id);"
    /* Bumped by every completion that erased rows; the app database's marker follows it. */
    "CREATE TABLE IF NOT EXISTS restore_epoch ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  epoch INTEGER NOT NULL);";

/*
 * Version 14: exports (docs/export.md) and restrictions.  An export's
 * archive lives in a file under export.dir, encrypted with a key of its
 * own that only key_box holds (sealed under the anonymize key): deleting
 * the archive wipes the box too.  detail is JSON without personal data
 * (tables, rows, media counts).  A lifted restriction is finished: the
 * index of open requests leaves it out.
 */
static const char schema_v14[] =
    "CREATE TABLE IF NOT EXISTS exports ("
    "  request_id INTEGER PRIMARY KEY,"
    "  file TEXT NOT NULL,"          /* the archive's name under export.dir */
    "  key_box BLOB,"                /* the archive's key, sealed; NULL once deleted */
    "  bytes INTEGER NOT NULL,"      /* the archive's size (the zip, decrypted) */
    "  sha256 TEXT NOT NULL,"        /* of the zip, hex */
    "  rows INTEGER NOT NULL,"       /* rows exported */
    "  media INTEGER NOT NULL,"      /* media files exported */
    "  detail TEXT NOT NULL,"        /* JSON: per table rows and file; no personal data */
    "  created_at INTEGER NOT NULL," /* epoch s */
    "  expires_at INTEGER NOT NULL," /* the archive and its links expire (epoch s) */
    "  downloads INTEGER NOT NULL DEFAULT 0,"
    "  deleted_at INTEGER,"              /* the archive was deleted (epoch s), NULL: it exists */
    "  why INTEGER NOT NULL DEFAULT 0);" /* why, besides expiry/cancel: 1 lost, 2 erased */
    "CREATE INDEX IF NOT EXISTS exports_live ON exports(expires_at) WHERE deleted_at IS NULL;"
    /* The exporter's queue (store_export_next()): exports only, by state and grace. */
    "CREATE INDEX IF NOT EXISTS requests_exports ON requests(state, not_before) "
    "  WHERE kind = 'export';"
    "DROP INDEX IF EXISTS requests_open_due;"
    "CREATE INDEX IF NOT EXISTS requests_open_due ON requests(due_at) WHERE state NOT IN "
    "  ('completed', 'completed_with_retention', 'refused', 'cancelled', 'expired', 'lifted');";

/*
 * Version 15: requests by email (docs/mail-intake.md).  mail_in: one row
 * per incoming mail, found again by the keyed hash of its bytes (a
 * redelivery after a crash makes nothing new); its raw message and the
 * reply's headers are sealed, and wiped once nothing needs them (the
 * request is finished, an operator closed it, mailbox.keep passed).
 * mail.mail_in_id: a reply to an incoming mail (request_id 0 when it is
 * about no request).
 */
static const char schema_v15[] =
    "CREATE TABLE IF NOT EXISTS mail_in ("
    "  id INTEGER PRIMARY KEY,"
    "  hash TEXT NOT NULL UNIQUE,"          /* keyed hash of "mail-in:" + the raw bytes */
    "  via TEXT NOT NULL,"                  /* lmtp, maildir */
    "  received_at INTEGER NOT NULL,"       /* epoch s */
    "  bytes INTEGER NOT NULL,"             /* size of the raw message */
    "  outcome TEXT NOT NULL,"              /* request, review, status, unmatched, robot, refused */
    "  rule TEXT,"                          /* the rule that matched, NULL if none */
    "  reason TEXT,"                        /* why (refused, unmatched, robot): no personal data */
    "  request_id INTEGER,"                 /* the request made or resolved to */
    "  replied INTEGER NOT NULL DEFAULT 0," /* a reply was queued */
    "  state TEXT NOT NULL,"                /* open, closed */
    "  raw_box BLOB,"      /* the raw message, sealed ("mail-in"); NULL once wiped */
    "  reply_box BLOB,"    /* sealed JSON {message_id, subject} ("mail-reply") */
    "  closed_at INTEGER," /* epoch s */
    "  closed_by TEXT);"   /* who or what closed it: an actor, "request", "keep" */
    "CREATE INDEX IF NOT EXISTS mail_in_request ON mail_in(request_id);"
    "CREATE INDEX IF NOT EXISTS mail_in_open ON mail_in(state, received_at);"
    "ALTER TABLE mail ADD COLUMN mail_in_id INTEGER;";

/*
 * Version 16: work one worker of a store does at a time (a sweep, the
 * audit chain's checkpoints, the reapply look), under a lease that lapses
 * when its worker dies (singletons.c, store_singleton_take()).
 */
static const char schema_v16[] = "CREATE TABLE IF NOT EXISTS singletons ("
                                 "  name TEXT PRIMARY KEY," /* sweep, proof, reapply */
                                 "  owner TEXT NOT NULL,"   /* util/lease.h owner text */
                                 "  until_ms INTEGER NOT NULL) WITHOUT ROWID;";

/*
 * Version 17: a media key belongs to a media store (issue 19), and a key a
 * request's erasure removed is kept (removed = 1) until the request's
 * residual scan has looked for it, then forgotten with the request's other
 * records.  The primary key gains the store, so SQLite's table is rebuilt;
 * a version-16 key is the store "local"'s (app.media_root).
 */
static const char schema_v17[] =
    /* v2's table, should a store lack it (a hand-made old store): the copy needs it. */
    "CREATE TABLE IF NOT EXISTS media_pending ("
    "  job_id INTEGER NOT NULL,"
    "  table_name TEXT NOT NULL,"
    "  object_key TEXT NOT NULL,"
    "  PRIMARY KEY (job_id, table_name, object_key));"
    "CREATE TABLE media_pending_v17 ("
    "  job_id INTEGER NOT NULL,"
    "  table_name TEXT NOT NULL,"
    "  store TEXT NOT NULL DEFAULT 'local'," /* the media store's name */
    "  object_key TEXT NOT NULL,"            /* the app's key in that store */
    "  removed INTEGER NOT NULL DEFAULT 0,"  /* removed; kept for the residual scan */
    "  PRIMARY KEY (job_id, table_name, store, object_key));"
    "INSERT INTO media_pending_v17 (job_id, table_name, store, object_key, removed) "
    "  SELECT job_id, table_name, 'local', object_key, 0 FROM media_pending;"
    "DROP TABLE media_pending;"
    "ALTER TABLE media_pending_v17 RENAME TO media_pending;";

/*
 * Version 18: who staged a disconnect (util/lease.h owner text, staged
 * only): recovery redoes or releases a staged record whose owner is dead at
 * once, instead of waiting for its age (a crash between the staging and the
 * app commit blocked the channel until then; under a test clock, for good).
 * SQLite has no ADD COLUMN IF NOT EXISTS: store__migrate() skips it where
 * the column is there already or the table is not (a hand-made store).
 */
static const char schema_v18[] = "ALTER TABLE channel_disconnects ADD COLUMN owner TEXT;";

/* migrations[i] brings a store from version i to i + 1. */
static const char *const migrations[SCHEMA_VERSION] = {
    schema_v1,  schema_v2,  schema_v3,  schema_v4,  schema_v5,  schema_v6,
    schema_v7,  schema_v8,  schema_v9,  schema_v10, schema_v11, schema_v12,
    schema_v13, schema_v14, schema_v15, schema_v16, schema_v17, schema_v18};

/* Every migration's text, in order: a new SQLite store's schema (a new string). */
static char *
all_migrations(void)
{
	struct buf b;
	char *sql;
	int v;

	buf_init(&b, 1u << 20);
	for (v = 0; v < SCHEMA_VERSION; v++)
		buf_adds(&b, migrations[v]);
	sql = xstrdup(buf_str(&b));
	buf_free(&b);
	return sql;
}

/*
 * Does a SQLite store at @version need v18's ALTER: a store before v5 gets
 * the table from v5 without the column; otherwise only if the table is there
 * and lacks the column.
 */
static bool
v18_needed(struct sq *c, int version)
{
	struct sq_stmt *q = NULL;
	bool needed = false;

	if (version < 5)
		return true;
	if (sq_prepare(c,
	               "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = "
	               "'channel_disconnects') = 1 AND (SELECT count(*) FROM "
	               "pragma_table_info('channel_disconnects') WHERE name = 'owner') = 0",
	               &q, NULL) == LETHE_OK &&
	    sq_step(q) == SQ_ROW)
		needed = sq_col_int(q, 0) != 0;
	sq_finalize(q);
	return needed;
}

lethe_rc
store__migrate(struct store *st, const char *path, struct lethe_err *err)
{
	struct sq_stmt *q = NULL;
	int version = 0;

	/* PostgreSQL: the same schema, derived from SQLite's (schema_pg.c). */
	if (sq_kind(st->c) == SQ_PG) {
		char *sql = all_migrations();
		lethe_rc rc = store__pg_migrate(st->c, sql, SCHEMA_VERSION, err);

		free(sql);
		return rc;
	}

	/*
	 * Read the version and migrate inside one write transaction: two
	 * processes opening a new store at once must not both migrate it.
	 */
	if (sq_begin_write(st->c, NULL) != LETHE_OK)
		return store__fail(st, err, "begin");
	if (sq_prepare(st->c, "PRAGMA user_version", &q, NULL) == LETHE_OK && sq_step(q) == SQ_ROW)
		version = (int)sq_col_int(q, 0);
	sq_finalize(q);
	if (version > SCHEMA_VERSION) {
		sq_rollback(st->c);
		return lethe_err_set(err, LETHE_E_STATE,
		                     "state store %s has schema version %d; this lethe knows %d "
		                     "(upgrade lethe)",
		                     path, version, SCHEMA_VERSION);
	}
	if (version < SCHEMA_VERSION) {
		struct buf b;
		char *sql;
		int v;

		buf_init(&b, 1u << 20);
		for (v = version; v < SCHEMA_VERSION; v++)
			if (v != 17 || v18_needed(st->c, version))
				buf_adds(&b, migrations[v]);
		buf_addf(&b, "PRAGMA user_version=%d;", SCHEMA_VERSION);
		sql = xstrdup(buf_str(&b));
		buf_free(&b);
		lethe_rc r = sq_exec(st->c, sql, NULL);

		free(sql);
		if (r != LETHE_OK) {
			lethe_rc rc = store__fail(st, err, "creating schema");

			sq_rollback(st->c);
			return rc;
		}
	}
	if (sq_commit(st->c, NULL) != LETHE_OK) {
		lethe_rc rc = store__fail(st, err, "creating schema");

		sq_rollback(st->c);
		return rc;
	}
	return LETHE_OK;
}
