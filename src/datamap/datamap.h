/* SPDX-License-Identifier: MIT */
/*
 * datamap.h - the data map: which tables of the app's database hold whose
 * personal data, and what erasure does to each.
 *
 * The format is specified in docs/datamap.md.  datamap_load() parses and
 * checks the file on its own; datamap_validate() then checks it against the
 * live database (every table and column must exist).  Only a validated map
 * may be handed to the planner: every identifier in it is then known to name
 * a real table or column and to be a plain identifier, and the planner still
 * quotes each one.  A loaded map is read-only and may be shared by threads.
 */
#ifndef LETHE_DATAMAP_H
#define LETHE_DATAMAP_H

#include "db/appdb.h"
#include "util/fmacros.h"
#include "util/rc.h"

enum dm_action { DM_DELETE, DM_ANONYMIZE, DM_RETAIN };
enum dm_anon { DM_ANON_NULL, DM_ANON_SET, DM_ANON_HASH };
enum dm_link_kind { DM_LINK_IDENTITY, DM_LINK_PARENT };
/* How a ttl's time column stores time: detected from its declared type unless given. */
enum dm_time_format { DM_TIME_AUTO, DM_TIME_DATETIME, DM_TIME_UNIX };

/* A literal from the map: YAML plain integers become INT, everything else TEXT. */
struct dm_value {
	bool is_int; /* integer literal */
	int64_t i;   /* value if is_int */
	char *s;     /* text form, always set */
};

/* "column = value" or "column IN (values)"; conditions of a list are ANDed. */
struct dm_cond {
	char *column;            /* column of the same table */
	struct dm_value *values; /* one or more accepted values */
	size_t nvalues;          /* number of values */
	int line;                /* line in the map file */
};

/* How rows of a table link to a person. */
struct dm_link {
	enum dm_link_kind kind;  /* identity column or foreign key to a parent */
	char *identity;          /* DM_LINK_IDENTITY: the identity kind */
	char *column;            /* the column in this table */
	char *parent_name;       /* DM_LINK_PARENT: the parent table's name */
	struct dm_table *parent; /* resolved parent (set by datamap_load) */
	char *references;        /* parent column referenced (default: parent key) */
	struct dm_cond *when;    /* extra conditions on this table's row */
	size_t nwhen;            /* number of conditions */
	int line;                /* line in the map file */
	bool int_column;         /* the column holds integers (catalogue; set by validation) */
};

/* What anonymizing does to one column. */
struct dm_anon_col {
	char *column;        /* the column */
	enum dm_anon how;    /* null, fixed value, keyed hash */
	struct dm_value set; /* DM_ANON_SET: the value written */
	int line;            /* line in the map file */
};

/*
 * What erasure does to some rows of a table: the rows a keep rule's @when
 * matches, or the rest (when == NULL).  See dm_erase_set.
 */
struct dm_erase {
	enum dm_action action;    /* what erasure does */
	struct dm_anon_col *anon; /* anonymize/retain: columns changed */
	size_t nanon;             /* number of such columns */
	char *reason;             /* retain: reason shown to the person */
	int64_t retain_for;       /* retain: seconds */
	char *retain_from;        /* retain: time column the period starts at, or NULL */
	struct dm_cond *when;     /* keep rule: the rows it keeps; NULL: the rest */
	size_t nwhen;             /* number of conditions */
	int line;                 /* line in the map file */
};

/*
 * What erasure does to a table in one scope ('erase_in') or by default
 * ('erase'): its keep rules in file order (the first whose conditions
 * match a row wins), then the action for the rest, always last.
 */
struct dm_erase_set {
	char *scope;            /* erase_in: the scope's name; NULL: the default */
	struct dm_erase *parts; /* keep rules, then the rest */
	size_t nparts;          /* number of parts (at least 1) */
	int line;               /* line in the map file */
};

/* Automatic expiry of rows, applied by the sweeper (engine/sweep.h). */
struct dm_ttl {
	bool present;               /* the table has a ttl */
	char *column;               /* time column */
	int64_t after;              /* seconds */
	struct dm_cond *when;       /* only rows matching these */
	size_t nwhen;               /* number of conditions */
	enum dm_action action;      /* DM_DELETE or DM_ANONYMIZE */
	enum dm_time_format format; /* datetime text or unix seconds (resolved by validation) */
	struct dm_anon_col *anon;   /* anonymize: own columns, or NULL for the table's */
	size_t nanon;               /* number of own columns */
	int line;                   /* line in the map file */
};

/* connection: which columns of the channel table describe the connection. */
struct dm_connection {
	bool present;       /* this is the channel table */
	char *platform;     /* column holding the platform name */
	char *account;      /* column holding the platform's account/user id */
	char *revoke_token; /* token column sent upstream to revoke the grant */
	int line;           /* line in the map file */
};

/* unsubscribe: rows of a webhook table whose subscription is removed upstream. */
struct dm_unsubscribe {
	bool present;         /* the table lists webhook subscriptions */
	char *account;        /* column holding the subscribed page/account id */
	char *token;          /* column of the Page token for the call, NULL: revoke token */
	struct dm_cond *when; /* only rows matching these */
	size_t nwhen;         /* number of conditions */
	int line;             /* line in the map file */
};

/* The media store of a media column the data map names none for (media.h's MEDIA_DEFAULT). */
#define DM_MEDIA_DEFAULT "local"

struct dm_table {
	char *name;                  /* table name */
	char *key;                   /* key column (unique per row) */
	char *category;              /* account, content, messages, ... */
	struct dm_link *links;       /* ways rows link to a person */
	size_t nlinks;               /* number of links */
	char **tokens;               /* OAuth token columns */
	size_t ntokens;              /* number of token columns */
	char **media;                /* media object key columns */
	char **media_store;          /* per media column: its media store's name ("local") */
	size_t nmedia;               /* number of media columns */
	char **secrets;              /* columns never exported (password hashes...) */
	size_t nsecrets;             /* number of them (tokens are never exported either) */
	enum dm_action action;       /* what erasure does to the rest by default */
	struct dm_anon_col *anon;    /* anonymize/retain: columns changed */
	size_t nanon;                /* number of such columns */
	char *reason;                /* retain: reason shown to the person */
	int64_t retain_for;          /* retain: seconds */
	char *retain_from;           /* retain: time column the period starts at, or NULL */
	struct dm_erase_set *erase;  /* [0] 'erase' (its rest: the fields above), then 'erase_in' */
	size_t nerase;               /* number of sets (at least 1) */
	struct dm_ttl ttl;           /* optional expiry */
	struct dm_anon_col *disc;    /* disconnect: columns set (tokens are wiped besides) */
	size_t ndisc;                /* number of such columns */
	char *disc_column;           /* disconnect: column holding the channel key, or NULL */
	struct dm_link *disc_link;   /* disconnect/unsubscribe: parent link to the channel table */
	struct dm_cond *disc_when;   /* disconnect: only rows matching these */
	size_t ndisc_when;           /* number of conditions */
	int disc_line;               /* line of 'disconnect', 0 if absent */
	struct dm_connection conn;   /* the channel table: what a connection is */
	struct dm_unsubscribe unsub; /* webhook table: what to unsubscribe */
	int line;                    /* line in the map file */
	size_t index;                /* position in datamap.tables */
};

/* One table's part of an effect: columns set on the person's rows, and put back on undo. */
struct dm_effect_set {
	char *table_name;         /* the table */
	struct dm_table *table;   /* resolved (set by datamap_load) */
	struct dm_anon_col *set;  /* columns written when the effect is applied */
	size_t nset;              /* number of such columns */
	struct dm_anon_col *undo; /* columns written when it is undone (cancel), or none */
	size_t nundo;             /* number of such columns */
	int line;                 /* line in the map file */
};

/* An effect a request applies when accepted (effects: in the map; engine/effects.h). */
struct dm_effect {
	char *name;                 /* effect name, named by policies in lethe.yaml */
	char *description;          /* what it does, shown to operators and on pages */
	struct dm_effect_set *sets; /* per-table column changes */
	size_t nsets;               /* number of tables changed */
	bool revoke;                /* revoke: disconnect every channel of the person */
	int line;                   /* line in the map file */
};

struct dm_identity {
	char *name;        /* identity kind */
	char *description; /* what it means */
};

struct dm_scope {
	char *name;         /* account, meta, channel, ... */
	char *description;  /* shown in plans */
	char **identities;  /* identity kinds a request in this scope may use */
	size_t nidentities; /* number of identity kinds */
	bool all;           /* tables: all */
	char **tables;      /* the tables acted on, if !all */
	size_t ntables;     /* number of tables */
	int line;           /* line in the map file */
};

struct datamap {
	char *path;                     /* file it was read from */
	struct dm_identity *identities; /* declared identity kinds */
	size_t nidentities;             /* number of identity kinds */
	struct dm_table *tables;        /* mapped tables, file order */
	size_t ntables;                 /* number of tables */
	struct dm_scope *scopes;        /* declared scopes */
	size_t nscopes;                 /* number of scopes */
	char **categories;              /* allowed categories */
	size_t ncategories;             /* number of categories */
	struct dm_table *channel;       /* the table with 'connection', or NULL */
	struct dm_effect *effects;      /* declared effects (effects:), file order */
	size_t neffects;                /* number of effects */
};

/*
 * Parse the map at @path (or @text if not NULL; @path then names it in
 * messages) and check it on its own: keys, references between tables,
 * cycles, identities, durations.  Returns NULL with "path:line: what is
 * wrong" in @err.  Free with datamap_free().
 */
struct datamap *datamap_load(const char *path, const char *text, struct lethe_err *err);
void datamap_free(struct datamap *dm);

/* Check the map against the live database @db (tables, columns, keys). */
/*
 * Check the map against the live database @db: every table and column named
 * (the effects' included) must exist, and no effect sets a key column; a
 * table without "key" gets its single-column primary key.
 * Link columns without an index are reported with log_warnx (slow, not wrong).
 */
lethe_rc datamap_validate(struct datamap *dm, struct appdb *db, struct lethe_err *err);

const struct dm_table *datamap_table(const struct datamap *dm, const char *name);
const struct dm_scope *datamap_scope(const struct datamap *dm, const char *name);
/* The effect named @name, or NULL. */
const struct dm_effect *datamap_effect(const struct datamap *dm, const char *name);
bool datamap_has_identity(const struct datamap *dm, const char *kind);
/*
 * True if column @col of @t may go into an export: not one of its
 * 'tokens' nor of its 'secrets'.
 */
bool dm_column_exportable(const struct dm_table *t, const char *col);
/* True if @scope acts on @t. */
bool dm_scope_has_table(const struct dm_scope *scope, const struct dm_table *t);
/* True if requests in @scope may name a person by identity kind @kind. */
bool dm_scope_has_identity(const struct dm_scope *scope, const char *kind);

/*
 * What erasure does to @t in scope @scope: the scope's 'erase_in' set if
 * the map gives one, else the table's default set.
 */
const struct dm_erase_set *dm_erase_in(const struct dm_table *t, const struct dm_scope *scope);
/* True if some erase action of @t, in any scope or keep rule, retains rows. */
bool dm_table_retains(const struct dm_table *t);
/*
 * The media store of @t's media column @i (i < nmedia): the name the data
 * map gives it, or DM_MEDIA_DEFAULT ("local", app.media_root).
 */
const char *dm_media_store(const struct dm_table *t, size_t i);
/*
 * The name of part @i of @set in a job's progress: the table's name for
 * the rest (the last part), "TABLE#N" for keep rule N (1-based).  Caller
 * frees.
 */
char *dm_part_name(const struct dm_table *t, const struct dm_erase_set *set, size_t i);
/*
 * The erase part a job's step named @name (see dm_part_name) ran in scope
 * @scope (NULL: the default), or NULL if the map has no such part now.
 * *@table (if not NULL) gets the step's table.
 */
const struct dm_erase *dm_part_find(const struct datamap *dm, const char *scope, const char *name,
                                    const struct dm_table **table);

const char *dm_action_str(enum dm_action a);
/* @v as a value to bind: an integer literal binds as an integer, anything else as text. */
struct appdb_val dm_value_val(const struct dm_value *v);
/*
 * The columns a ttl anonymize rewrites: the ttl's own 'columns', else the
 * table's erase columns.  *@n gets their number.
 */
const struct dm_anon_col *dm_ttl_columns(const struct dm_table *t, size_t *n);
/*
 * The label a person reads for category @category ("meta-sourced" ->
 * "Data received from Meta"), on the status page and in mails; an unknown
 * category is returned as it is, NULL as "".
 */
const char *datamap_category_label(const char *category);

#endif /* LETHE_DATAMAP_H */
