/* SPDX-License-Identifier: MIT */
/*
 * commands.c - the command table of lethe's command line: for every command
 * its name, the one-line summary `lethe help` lists, the usage text
 * `lethe COMMAND --help` prints, its options (cli_option rows: which take a
 * value, which are required, integer ranges and their error messages) and
 * the function that runs it.  A new command is one row here plus its
 * function in cmd_<name>.c (docs/internals/cli.md); args.c parses every
 * command line against its row.  Also the two commands that are nothing but
 * text: help and version.
 */
#include "util/fmacros.h"

#include "cli/cli.h"

#ifndef LETHE_VERSION
#define LETHE_VERSION "0.1.0"
#endif

/* `lethe help`, before and after the list of commands. */
static const char help_head[] =
    "usage: lethe COMMAND [OPTIONS]\n"
    "\n"
    "lethe erases, anonymizes and expires personal data in an app's database as\n"
    "its data map says: short resumable transactions, every step recorded.  It\n"
    "also exports a person's data as an archive (lethe export).\n"
    "\n"
    "Commands:\n";

static const char help_tail[] =
    "\n"
    "Example:\n"
    "  lethe demo --dir demo\n"
    "  lethe plan  -c demo/lethe.yaml --scope account --id email=user1@example.com\n"
    "  lethe erase -c demo/lethe.yaml --scope account --id email=user1@example.com\n";

/* `lethe COMMAND --help`: the synopsis (up to the first blank line), then the rest. */

static const char usage_demo[] =
    "usage: lethe demo --dir DIR [--users N] [--seed S] [--heavy ROWS] [--quiet]\n"
    "                  [--database postgresql://...] [--state postgresql://...] [--force]\n"
    "\n"
    "Write the demo social-media app into DIR: app.db (SQLite), media/ (files the\n"
    "media table points to), datamap.yaml and lethe.yaml.  The data is synthetic\n"
    "and deterministic: the same options give the same rows.\n"
    "\n"
    "  -d, --dir DIR       output directory (must not already hold app.db)\n"
    "  -u, --users N       ordinary users, user1@example.com ... (default 50)\n"
    "  -s, --seed S        random seed (default 1)\n"
    "  -H, --heavy ROWS    add heavy@example.com owning about ROWS rows\n"
    "  -q, --quiet         print nothing\n"
    "      --database URL  the app's tables into this PostgreSQL database (schema\n"
    "                      public, one transaction) instead of DIR/app.db; lethe.yaml\n"
    "                      names it without its password (PGPASSWORD or ~/.pgpass)\n"
    "      --state URL     lethe's state store on this PostgreSQL database\n"
    "      --force         replace the demo's tables if the database has them\n"
    "  -h, --help          this text\n";

static const char usage_plan[] =
    "usage: lethe plan -c CONFIG --scope SCOPE --id KIND=VALUE [--id ...] [--json]\n"
    "\n"
    "Print the steps an erasure of one person would take: each table in the\n"
    "order it is processed (children before parents), its category, the action\n"
    "(delete, anonymize, retain) and how many rows it matches now.  Changes nothing.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml (app database, data map, state store)\n"
    "  -s, --scope SCOPE   a scope of the data map (e.g. account, meta, channel)\n"
    "  -i, --id KIND=VALUE an identity of the person, e.g. email=alice@example.com;\n"
    "                      repeat for several identities of the same person (ids\n"
    "                      that lead to different people are refused, exit 2)\n"
    "      --json          machine-readable output\n"
    "  -h, --help          this text\n";

static const char usage_erase[] =
    "usage: lethe erase -c CONFIG --scope SCOPE --id KIND=VALUE [--id ...]\n"
    "                   [--batch N] [--json] [--quiet] [--no-progress]\n"
    "\n"
    "Erase one person's data in SCOPE as the data map says: delete, anonymize,\n"
    "or retain under a legal hold, table by table, in short transactions.\n"
    "Progress is recorded in the state store: if the command is interrupted\n"
    "(even killed), running the same command again finishes the job.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -s, --scope SCOPE   a scope of the data map (account, meta, channel, ...)\n"
    "  -i, --id KIND=VALUE an identity of the person; repeat for several of the\n"
    "                      same person (ids that lead to different people are\n"
    "                      refused, exit 2)\n"
    "  -b, --batch N       rows per transaction (default: adaptive, aiming at\n"
    "                      erase.max_transaction_ms)\n"
    "      --json          print the summary as JSON\n"
    "  -q, --quiet         no summary, only the exit status\n"
    "      --no-progress   no progress bar (it is shown only on a terminal)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 erased (possibly with rows retained under a legal hold),\n"
    "1 failed (run again to resume), 2 usage error, 3 configuration or data map\n"
    "invalid.\n";

static const char usage_export[] =
    "usage: lethe export -c CONFIG --id KIND=VALUE [--id ...] [--scope SCOPE]\n"
    "                    [--out FILE] [--json]\n"
    "\n"
    "Write the archive of one person's data in SCOPE (docs/export.md): every\n"
    "row the data map links to them, found as an erasure finds them, one JSON\n"
    "file per table, their media files, index.html and manifest.json with\n"
    "SHA-256 checksums, in one zip.  Token and secret columns never go in;\n"
    "rows a legal hold keeps are marked with their reason.  The zip is not\n"
    "encrypted: keep it as safe as the database.  Reads the app database only.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -s, --scope SCOPE   a scope of the data map (default: account, if the map\n"
    "                      has that scope; else required)\n"
    "  -i, --id KIND=VALUE an identity of the person; repeat for several of the\n"
    "                      same person (ids that lead to different people are\n"
    "                      refused, exit 2)\n"
    "  -o, --out FILE      where the zip goes, written atomically (mode 0600);\n"
    "                      - for stdout (the summary then goes to stderr); default\n"
    "                      lethe-export-YYYYMMDD-HHMMSS.zip in this directory\n"
    "      --json          print the summary as JSON\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 written (a person with no rows gets an archive with none),\n"
    "1 failed (no file is left), 2 usage error, 3 configuration or data map\n"
    "invalid.\n";

static const char usage_scan[] =
    "usage: lethe scan -c CONFIG --id KIND=VALUE [--id ...] [--scope SCOPE] [--json]\n"
    "\n"
    "The residual scan of one person, on demand: the check `lethe serve` makes\n"
    "after each request's erasure.  Every step of the scope's plan is counted\n"
    "again: rows a delete part still matches are residual, rows an anonymize\n"
    "part matches are anonymized when already as the part leaves them (every\n"
    "column it rewrites holds its anonymized value) and residual otherwise,\n"
    "rows a retain part matches are kept.  Tables outside the scope that hang\n"
    "off a table the scope erases, or that an identity the scope takes names\n"
    "directly, are counted too (residual, outside the scope).  Prints per table\n"
    "what remains (counts and table names, never a value).  Reads the app\n"
    "database only: changes nothing, writes nothing.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -s, --scope SCOPE   a scope of the data map (default: account, if the map\n"
    "                      has that scope; else required)\n"
    "  -i, --id KIND=VALUE an identity of the person; repeat for several of the\n"
    "                      same person\n"
    "      --json          machine-readable output\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 clean (kept and anonymized rows included), 1 residual rows\n"
    "found (or a failure), 2 usage error, 3 configuration or data map invalid.\n";

static const char usage_serve[] =
    "usage: lethe serve -c CONFIG [--listen ADDR:PORT] [--public-url URL]\n"
    "\n"
    "Serve Meta's data-deletion and deauthorize callbacks, the public status\n"
    "page, /healthz, /readyz and /metrics, and run erasures in the background.\n"
    "SIGINT or SIGTERM stop it gracefully; unfinished work resumes at the next\n"
    "start.  SIGHUP reloads api.keys and api.admin_keys from CONFIG without\n"
    "stopping anything (a file that does not load is refused with a log line,\n"
    "the keys in force stay; other settings change at the next start); SIGUSR1\n"
    "is ignored.  App secrets come from the environment variables or files\n"
    "named under meta.apps in CONFIG.  With a mailbox: section it also takes\n"
    "mail over LMTP (mailbox.lmtp) and reads mailbox.maildir: see\n"
    "docs/mail-intake.md.\n"
    "\n"
    "  -c, --config FILE     lethe.yaml\n"
    "  -l, --listen ADDR:PORT  override server.listen (e.g. 127.0.0.1:8080, [::1]:0);\n"
    "                        without server.public_url, status URLs follow it\n"
    "  -u, --public-url URL  override server.public_url, the base of status URLs\n"
    "                        (http:// or https://)\n"
    "  -h, --help            this text\n";

static const char usage_sweep[] =
    "usage: lethe sweep -c CONFIG [--once] [--dry-run] [--json]\n"
    "\n"
    "Apply the data map's TTLs: delete (or anonymize) every row whose time is\n"
    "up, with its media files, and delete rows whose legal hold has ended.\n"
    "Work runs in short transactions, table by table in turn.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml (sweep settings: section 'sweep')\n"
    "      --once          sweep everything expired now, print a summary, exit\n"
    "                      (for cron); without it, sweep until SIGINT/SIGTERM\n"
    "      --dry-run       count what a sweep now would remove; change nothing\n"
    "                      (implies --once)\n"
    "      --json          print the summary as JSON (with backlog and lag per\n"
    "                      table as found before the sweep)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 done, 1 failed (run again), 2 usage error, 3 configuration\n"
    "or data map invalid.\n";

static const char usage_mail_intake[] =
    "usage: lethe mail-intake -c CONFIG --maildir DIR [--once] [--json]\n"
    "\n"
    "Read a Maildir into the privacy mailbox (section 'mailbox' of CONFIG): the\n"
    "files of DIR/new then DIR/cur, oldest first, each recorded as `lethe serve`\n"
    "records a mail it gets over LMTP, then removed.  A message that fails\n"
    "temporarily (the state store busy) stays for the next pass.  One reader\n"
    "per Maildir (a lock on DIR/.lethe-intake.lock).  For a mailbox fetched by\n"
    "fetchmail, getmail or mbsync: docs/mail-intake.md.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml (with a mailbox: section)\n"
    "      --maildir DIR   the Maildir (a directory with new/ and cur/)\n"
    "      --once          read what is there, print counts per outcome, exit\n"
    "                      (for cron); without it, read every mailbox.poll\n"
    "                      until SIGINT/SIGTERM\n"
    "      --json          print the counts as JSON (with --once)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 done, 1 failed (or a message failed temporarily: run\n"
    "again), 2 usage error, 3 configuration or data map invalid.\n";

static const char usage_reapply[] =
    "usage: lethe reapply -c CONFIG [--dry-run] [--json]\n"
    "\n"
    "After the app database was restored from a backup: find the people lethe\n"
    "erased before whose rows are back (the ledger of erased people, keyed\n"
    "hashes only) and erase them again, one request of source 'restore' per\n"
    "person, in the scope of the request that erased them.  An open request of\n"
    "the same person is not duplicated.  Prints counts per table and scope and\n"
    "the request numbers, never a value.  `lethe serve` does the same at start\n"
    "(proof.reapply_at_start).  Keep the state store when you restore the app\n"
    "database: see docs/proof.md.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "      --dry-run       find and count; make no request\n"
    "      --json          print what was found as JSON\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 done, 1 failed (or some could not be erased again), 2 usage\n"
    "error, 3 configuration or data map invalid.\n";

static const char usage_import[] =
    "usage: lethe import-meta-ids -c CONFIG --app NAME [--out CSV] [--json] FILE\n"
    "\n"
    "Run the data deletion of app NAME (a key of meta.apps) for every id in\n"
    "FILE, as if Meta had called the data-deletion callback for each: one id\n"
    "per line, or Meta's CSV (the first all-digit field of each line is the\n"
    "id; other lines, such as a header, are skipped).  An id already requested\n"
    "within meta.repeat_window keeps its request and code, and its erasure runs\n"
    "again (data may have come back since).  Ids that match nobody are\n"
    "recorded as such, and counted.  Prints a summary.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -a, --app NAME      the Meta app family the ids belong to\n"
    "  -o, --out CSV       write \"id,confirmation_code,status_url\" for every id\n"
    "                      to CSV, a new file created with mode 0600: it holds\n"
    "                      the ids, which are personal data; delete it once the\n"
    "                      codes are sent on\n"
    "      --json          the summary as JSON (errors as {\"error\": ...})\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 done, 1 failed (run again: it is idempotent), 2 usage error\n"
    "(also: CSV exists already), 3 configuration or data map invalid.\n";

static const char usage_sign[] =
    "usage: lethe sign-request (--secret-env VAR | --secret-file PATH) --user-id ID\n"
    "                          [--issued-at T] [--algorithm A]\n"
    "\n"
    "Print a Meta signed_request for a payload {\"user_id\", \"algorithm\",\n"
    "\"issued_at\"}, signed with HMAC-SHA256 under the app secret, the way Meta\n"
    "signs its data-deletion and deauthorize callbacks.  Base64url only, so it\n"
    "can go into a form body as is: curl -d \"signed_request=$(lethe sign-request ...)\".\n"
    "\n"
    "  -e, --secret-env VAR    read the app secret from environment variable VAR\n"
    "  -f, --secret-file PATH  read the app secret from a file (one trailing\n"
    "                          newline is dropped)\n"
    "  -u, --user-id ID        the user id to put in the payload (a string)\n"
    "  -t, --issued-at T       issued_at, Unix seconds (default: now)\n"
    "  -a, --algorithm A       the payload's algorithm (default HMAC-SHA256; other\n"
    "                          values only test that receivers refuse them)\n"
    "  -h, --help              this text\n"
    "\n"
    "Example:\n"
    "  export LETHE_FACEBOOK_APP_SECRET=demo-secret\n"
    "  lethe sign-request --secret-env LETHE_FACEBOOK_APP_SECRET --user-id 10229000000102\n";

static const char usage_disconnect[] =
    "usage: lethe disconnect -c CONFIG --channel ID [--json] [--no-wait] [--timeout S]\n"
    "\n"
    "Disconnect channel ID (a row of the data map's channel table): in one short\n"
    "transaction its tokens are wiped and every 'disconnect' effect of the data\n"
    "map is applied (status revoked, scheduled posts cancelled, automation rules\n"
    "disabled...); the upstream token revocation, the webhook unsubscriptions and\n"
    "the purge of the channel's data are queued durably, then run here until they\n"
    "are done or given up (`lethe serve` runs whatever is left).  Running it again\n"
    "on a disconnected channel changes nothing and prints the same state.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "      --channel ID    the channel's key (a positive integer)\n"
    "      --json          print the channel's state as JSON\n"
    "      --no-wait       queue the upstream work and return at once\n"
    "      --timeout S     wait at most S seconds for the upstream work (default 60)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 disconnected and every upstream job done (with --no-wait:\n"
    "queued), 1 failure (nothing changed, or the channel does not exist), 2 usage\n"
    "error, 3 configuration or data map invalid, 4 disconnected but an upstream\n"
    "job is a dead letter, or (without --no-wait) still retrying at the timeout\n"
    "(see `lethe jobs`).\n";

static const char usage_jobs[] =
    "usage: lethe jobs -c CONFIG [--state STATE | --dead] [--json]\n"
    "\n"
    "List the outbox's jobs: upstream token revocations, webhook unsubscriptions\n"
    "and purges queued by channel disconnects, and notices to proof.recipients\n"
    "(kind notify: PLATFORM is the recipient, DISC is -), with their state as the\n"
    "API and `lethe disconnect --json` show it (staged, pending, running, retrying,\n"
    "dead, done, or how else it ended: already_revoked, already_unsubscribed,\n"
    "unsupported, no_token), attempts, next try (ISO 8601, UTC) and, for dead\n"
    "letters, why they were given up.  Jobs hold no token in the clear, and\n"
    "none at all once ended.  Then the mail outbox's mails (notices about\n"
    "privacy requests), when there are any: mail and request number, notice,\n"
    "state (pending, sending, sent, dead, skipped), tries, next try, last error;\n"
    "never an address.\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "      --state STATE   only jobs and mails in STATE (one of the states above)\n"
    "      --dead          only dead letters, jobs and mails (same as --state dead)\n"
    "      --json          JSON lines, one job per line; a value that does not\n"
    "                      apply (no next try, no HTTP status...) is null\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 listed, 1 failure, 2 usage error, 3 configuration invalid.\n";

static const char usage_apikey[] =
    "usage: lethe api-key [--name NAME] [--admin]\n"
    "\n"
    "Print a fresh random API key for the app API (/v1/...) on the first line;\n"
    "give it to the app (it sends \"Authorization: Bearer KEY\"): lethe keeps\n"
    "only its SHA-256 and cannot show it again.  The lines after it are YAML\n"
    "for lethe.yaml: an api: section admitting the key, to replace the api:\n"
    "section there (the demo's \"keys: []\"), and, as comments, how to add the\n"
    "key to a list that has keys already.  A running `lethe serve` takes the\n"
    "new keys on SIGHUP.\n"
    "\n"
    "With --admin the key is one of the operator API (/v1/admin/...), and the\n"
    "lines after it are its entry for api.admin_keys.  An app key never opens\n"
    "the operator API, nor an admin key the app API.\n"
    "\n"
    "  -n, --name NAME  who holds the key (default: app, with --admin: admin);\n"
    "                   letters, digits, - and _\n"
    "      --admin      a key of the operator API\n"
    "  -h, --help       this text\n";

static const char usage_requests[] =
    "usage: lethe requests SUBCOMMAND -c CONFIG [OPTIONS] [--json]\n"
    "\n"
    "Privacy requests (erasures and the like, from Meta, the app API, the\n"
    "operator...): list them by state, source and due date, show one, record\n"
    "one for a person, and act on one as an operator.  `lethe requests\n"
    "SUBCOMMAND --help` for each:\n"
    "\n"
    "  list    -c CONFIG [--state S] [--source S] [--kind K] [--due-within DUR]\n"
    "          [--limit N] [--cursor C]\n"
    "  show    -c CONFIG CODE\n"
    "  create  -c CONFIG --scope SCOPE --id KIND=VALUE [--id ...] [--kind K]\n"
    "          [--verified] [--notify ADDR]\n"
    "  approve -c CONFIG CODE [--reason TEXT]\n"
    "  refuse  -c CONFIG CODE --reason TEXT\n"
    "  cancel  -c CONFIG CODE [--reason TEXT]\n"
    "  retry   -c CONFIG CODE [--reason TEXT]\n"
    "  extend  -c CONFIG CODE (--by DUR | --due DATE) --reason TEXT\n"
    "  lift    -c CONFIG CODE [--reason TEXT]\n"
    "\n"
    "Every subcommand takes --json: the service's JSON on stdout (errors as\n"
    "{\"error\": {\"code\", \"message\"}}).\n"
    "\n"
    "Exit status: 0 done, 1 failure (also: no such request, or its state does\n"
    "not allow the action), 2 usage error, 3 configuration or data map invalid.\n";

static const char usage_mailbox[] =
    "usage: lethe mailbox list|show|close -c CONFIG [OPTIONS]\n"
    "\n"
    "The operator's queue of the mails the privacy mailbox took (requests by\n"
    "email, docs/mail-intake.md).  `lethe mailbox SUBCOMMAND --help` for each:\n"
    "\n"
    "  list    -c CONFIG [--state open|closed|all] [--outcome O] [--limit N]\n"
    "          [--cursor C]\n"
    "  show    -c CONFIG N\n"
    "  close   -c CONFIG N [--reason TEXT]\n"
    "\n"
    "Every subcommand takes --json: the service's JSON on stdout (errors as\n"
    "{\"error\": {\"code\", \"message\"}}).  `show` prints what the mail says:\n"
    "personal data, for you only.\n"
    "\n"
    "Exit status: 0 done, 1 failure (also: no such mail, or closed already),\n"
    "2 usage error, 3 configuration invalid.\n";

static const char usage_receipt[] =
    "usage: lethe receipt SUBCOMMAND [OPTIONS]\n"
    "\n"
    "Signed receipts of finished requests (docs/proof.md): what was deleted,\n"
    "anonymized and kept, the residual scan, the audit chain entry, signed with\n"
    "the server's Ed25519 key.  `lethe receipt SUBCOMMAND --help` for each:\n"
    "\n"
    "  verify  FILE [--keys KEYS.json | -c CONFIG] [--json]   check one offline\n"
    "  show    ID -c CONFIG [--out FILE]                      print a request's\n"
    "\n"
    "Exit status: 0 done (a valid signature), 1 failure (a signature that does\n"
    "not verify, an unknown key, no such request or not finished), 2 usage error\n"
    "or not a receipt, 3 configuration invalid.\n";

static const char usage_help[] = "usage: lethe help [COMMAND]\n"
                                 "\n"
                                 "Print the commands with a line on each, or with COMMAND what\n"
                                 "`lethe COMMAND --help` prints.\n"
                                 "\n"
                                 "  -h, --help          this text\n";

static const char usage_version[] = "usage: lethe version\n"
                                    "\n"
                                    "Print lethe's version.\n"
                                    "\n"
                                    "  -h, --help          this text\n";

/* The options of each command, besides -c, --json and --help (struct cli_command.common). */

static const struct cli_option opts_demo[] = {
    {.name = "dir", .short_name = 'd', .kind = CLI_VALUE, .required = "--dir is required"},
    {.name = "users",
     .short_name = 'u',
     .kind = CLI_INT,
     .min = 1,
     .max = 10000000,
     .bad = "--users must be 1..10000000"},
    {.name = "seed",
     .short_name = 's',
     .kind = CLI_INT,
     .min = 0,
     .max = INT64_MAX,
     .bad = "--seed must be a non-negative integer"},
    {.name = "heavy",
     .short_name = 'H',
     .kind = CLI_INT,
     .min = 1,
     .max = 100000000,
     .bad = "--heavy must be 1..100000000"},
    {.name = "quiet", .short_name = 'q', .kind = CLI_FLAG},
    {.name = "database", .kind = CLI_VALUE},
    {.name = "state", .kind = CLI_VALUE},
    {.name = "force", .kind = CLI_FLAG},
    {.name = NULL},
};

static const struct cli_option opts_plan[] = {
    /* Whom the erasure is about (cli_target_get()). */
    {.name = "scope", .short_name = 's', .kind = CLI_VALUE, .required = "--scope is required"},
    {.name = "id",
     .short_name = 'i',
     .kind = CLI_LIST,
     .required = "at least one --id KIND=VALUE is required"},
    {.name = NULL},
};

static const struct cli_option opts_erase[] = {
    /* Whom the erasure is about (cli_target_get()). */
    {.name = "scope", .short_name = 's', .kind = CLI_VALUE, .required = "--scope is required"},
    {.name = "id",
     .short_name = 'i',
     .kind = CLI_LIST,
     .required = "at least one --id KIND=VALUE is required"},
    {.name = "batch",
     .short_name = 'b',
     .kind = CLI_INT,
     .min = 1,
     .max = 1000000,
     .bad = "--batch must be a number from 1 to 1000000"},
    {.name = "quiet", .short_name = 'q', .kind = CLI_FLAG},
    {.name = "no-progress", .kind = CLI_FLAG},
    {.name = NULL},
};

static const struct cli_option opts_export[] = {
    /* Whom the archive is about (cli_target_get()); the scope defaults to account. */
    {.name = "scope", .short_name = 's', .kind = CLI_VALUE},
    {.name = "id",
     .short_name = 'i',
     .kind = CLI_LIST,
     .required = "at least one --id KIND=VALUE is required"},
    {.name = "out", .short_name = 'o', .kind = CLI_VALUE},
    {.name = NULL},
};

static const struct cli_option opts_scan[] = {
    /* Whom the scan is about (cli_target_get()). */
    {.name = "scope", .short_name = 's', .kind = CLI_VALUE},
    {.name = "id",
     .short_name = 'i',
     .kind = CLI_LIST,
     .required = "at least one --id KIND=VALUE is required"},
    {.name = NULL},
};

static const struct cli_option opts_serve[] = {
    {.name = "listen", .short_name = 'l', .kind = CLI_VALUE},
    {.name = "public-url", .short_name = 'u', .kind = CLI_VALUE},
    {.name = NULL},
};

static const struct cli_option opts_sweep[] = {
    {.name = "once", .kind = CLI_FLAG},
    {.name = "dry-run", .kind = CLI_FLAG},
    {.name = NULL},
};

static const struct cli_option opts_mail_intake[] = {
    {.name = "maildir", .kind = CLI_VALUE, .required = "--maildir DIR is required"},
    {.name = "once", .kind = CLI_FLAG},
    {.name = NULL},
};

static const struct cli_option opts_reapply[] = {
    {.name = "dry-run", .kind = CLI_FLAG},
    {.name = NULL},
};

static const struct cli_option opts_import[] = {
    {.name = "app", .short_name = 'a', .kind = CLI_VALUE, .required = "--app is required"},
    {.name = "out", .short_name = 'o', .kind = CLI_VALUE},
    {.name = NULL},
};

static const struct cli_option opts_sign[] = {
    {.name = "secret-env", .short_name = 'e', .kind = CLI_VALUE},
    {.name = "secret-file", .short_name = 'f', .kind = CLI_VALUE},
    {.name = "user-id", .short_name = 'u', .kind = CLI_VALUE},
    {.name = "issued-at",
     .short_name = 't',
     .kind = CLI_INT,
     .min = INT64_MIN,
     .max = INT64_MAX,
     .bad = "--issued-at needs Unix seconds"},
    {.name = "algorithm", .short_name = 'a', .kind = CLI_VALUE},
    {.name = NULL},
};

static const struct cli_option opts_disconnect[] = {
    {.name = "channel", .kind = CLI_VALUE, .required = "--channel ID is required"},
    {.name = "no-wait", .kind = CLI_FLAG},
    {.name = "timeout",
     .kind = CLI_INT,
     .min = 1,
     .max = 86400,
     .bad = "--timeout must be a number of seconds from 1 to 86400"},
    {.name = NULL},
};

static const struct cli_option opts_jobs[] = {
    {.name = "state", .short_name = 's', .kind = CLI_VALUE},
    {.name = "dead", .kind = CLI_FLAG, .alias_of = "state", .alias_value = "dead"},
    {.name = NULL},
};

static const char usage_audit[] =
    "usage: lethe audit verify|checkpoint|head -c CONFIG [OPTIONS]\n"
    "\n"
    "The audit chain: every request transition, erasure step and residual scan,\n"
    "hash-chained, with signed checkpoints of its head (docs/proof.md).\n"
    "\n"
    "  verify       check every entry and checkpoint; say where the chain breaks\n"
    "  checkpoint   sign a checkpoint of the head now\n"
    "  head         print the latest signed head\n"
    "\n"
    "Run 'lethe audit SUBCOMMAND --help' for its options.\n";

static const char usage_keys[] =
    "usage: lethe keys (-c CONFIG | generate FILE)\n"
    "\n"
    "Print the published keys document of CONFIG's signing keys (as\n"
    "/.well-known/lethe/keys.json serves it): the current key and the previous\n"
    "ones, so that receipts and checkpoints they signed stay verifiable.  With\n"
    "generate, write a new signing key to FILE (see 'lethe keys generate --help').\n"
    "\n"
    "  -c, --config FILE   lethe.yaml\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 printed, 1 failure, 2 usage error, 3 configuration invalid or\n"
    "signing key missing.\n";

static const struct cli_option opts_apikey[] = {
    {.name = "name", .short_name = 'n', .kind = CLI_VALUE},
    {.name = "admin", .kind = CLI_FLAG},
    {.name = NULL},
};

/* The command table, in the order `lethe help` lists it. */
const struct cli_command cli_commands[] = {
    {
        .name = "demo",
        .summary = "write the demo app (database, media, data map, configuration)",
        .usage = usage_demo,
        .options = opts_demo,
        .fn = cmd_demo,
    },
    {
        .name = "plan",
        .summary = "show what erasing a person would do, touching nothing",
        .usage = usage_plan,
        .common = CLI_CONFIG | CLI_JSON,
        .options = opts_plan,
        .fn = cmd_plan,
    },
    {
        .name = "erase",
        .summary = "erase a person's data (resumable; run again after a crash)",
        .usage = usage_erase,
        .common = CLI_CONFIG | CLI_JSON,
        .options = opts_erase,
        .fn = cmd_erase,
    },
    {
        .name = "export",
        .summary = "write the archive of a person's data (zip: JSON, media, index.html)",
        .usage = usage_export,
        .common = CLI_CONFIG | CLI_JSON,
        .options = opts_export,
        .fn = cmd_export,
    },
    {
        .name = "scan",
        .summary = "the residual scan: what of a person remains, touching nothing",
        .usage = usage_scan,
        .common = CLI_CONFIG | CLI_JSON,
        .options = opts_scan,
        .fn = cmd_scan,
    },
    {
        .name = "serve",
        .summary = "the HTTP server: Meta callbacks, status page, metrics, TTL sweeps",
        .usage = usage_serve,
        .common = CLI_CONFIG,
        .options = opts_serve,
        .fn = cmd_serve,
    },
    {
        .name = "sweep",
        .summary = "apply the data map's TTLs and end legal holds (--once for cron)",
        .usage = usage_sweep,
        .common = CLI_CONFIG | CLI_JSON,
        .options = opts_sweep,
        .fn = cmd_sweep,
    },
    {
        .name = "mail-intake",
        .summary = "read a Maildir into the privacy mailbox (--once for cron)",
        .usage = usage_mail_intake,
        .common = CLI_CONFIG | CLI_JSON,
        .options = opts_mail_intake,
        .fn = cmd_mail_intake,
    },
    {
        .name = "import-meta-ids",
        .summary = "run Meta data deletions for a list of ids from the App Dashboard",
        .usage = usage_import,
        .common = CLI_CONFIG | CLI_JSON,
        .options = opts_import,
        .operand = "FILE",
        .fn = cmd_import,
    },
    {
        .name = "sign-request",
        .summary = "print a Meta signed_request, to test the Meta callbacks",
        .usage = usage_sign,
        .options = opts_sign,
        .fn = cmd_sign,
    },
    {
        .name = "disconnect",
        .summary = "disconnect a channel: wipe tokens, revoke upstream, purge its data",
        .usage = usage_disconnect,
        .common = CLI_CONFIG | CLI_JSON,
        .options = opts_disconnect,
        .fn = cmd_disconnect,
    },
    {
        .name = "jobs",
        .summary = "list the outbox's upstream jobs and dead letters",
        .usage = usage_jobs,
        .common = CLI_CONFIG | CLI_JSON,
        .options = opts_jobs,
        .fn = cmd_jobs,
    },
    {
        .name = "requests",
        .summary = "privacy requests: list, show, create, approve, refuse, cancel, lift, ...",
        .usage = usage_requests,
        .subs = cli_requests_subs,
    },
    {
        .name = "mailbox",
        .summary = "the privacy mailbox's queue of mails: list, show, close",
        .usage = usage_mailbox,
        .subs = cli_mailbox_subs,
    },
    {
        .name = "audit",
        .summary = "the audit chain: verify it, sign a checkpoint, print the signed head",
        .usage = usage_audit,
        .subs = cli_audit_subs,
    },
    {
        .name = "keys",
        .summary = "print the signing keys document; generate a new signing key",
        .usage = usage_keys,
        .common = CLI_CONFIG,
        .fn = cmd_keys,
        .subs = cli_keys_subs,
    },
    {
        .name = "receipt",
        .summary = "verify a request's signed receipt offline, or print one",
        .usage = usage_receipt,
        .subs = cli_receipt_subs,
    },
    {
        .name = "reapply",
        .summary = "erase again the people a restored backup brought back",
        .usage = usage_reapply,
        .common = CLI_CONFIG | CLI_JSON,
        .options = opts_reapply,
        .fn = cmd_reapply,
    },
    {
        .name = "api-key",
        .summary = "print a new app API key and the api: section that admits it",
        .usage = usage_apikey,
        .options = opts_apikey,
        .fn = cmd_apikey,
    },
    {
        .name = "help",
        .summary = "this text; `lethe COMMAND --help` for a command",
        .usage = usage_help,
        .operand = "COMMAND",
        .operand_optional = true,
        .fn = cmd_help,
    },
    {
        .name = "version",
        .summary = "print the version",
        .usage = usage_version,
        .fn = cmd_version,
    },
};

const size_t cli_ncommands = sizeof(cli_commands) / sizeof(cli_commands[0]);

const struct cli_command *
cli_command_find(const char *name)
{
	size_t i;

	for (i = 0; i < cli_ncommands; i++)
		if (strcmp(cli_commands[i].name, name) == 0)
			return &cli_commands[i];
	return NULL;
}

void
cli_help_print(FILE *f)
{
	size_t i;

	fputs(help_head, f);
	/* A name longer than the column puts its summary on the next line. */
	for (i = 0; i < cli_ncommands; i++) {
		const struct cli_command *c = &cli_commands[i];

		if (strlen(c->name) <= 7)
			fprintf(f, "  %-7s %s\n", c->name, c->summary);
		else
			fprintf(f, "  %s\n          %s\n", c->name, c->summary);
	}
	fputs(help_tail, f);
}

int
cmd_help(const struct cli_args *a)
{
	const struct cli_command *c;

	if (a->operand == NULL) {
		cli_help_print(stdout);
		return 0;
	}
	c = cli_command_find(a->operand);
	if (c == NULL)
		return cli_usage_fail(a, "unknown command '%s'", a->operand);
	fputs(c->usage, stdout);
	return 0;
}

int
cmd_version(const struct cli_args *a)
{
	printf("lethe %s\n", LETHE_VERSION);
	return 0;
}
