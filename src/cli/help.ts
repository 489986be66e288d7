/** The help of every command: printed by --help on stdout, and on a usage error on stderr. */

const COMMON = `Connection and output:
  --url <url>           Redis URL (default $REDIS_URL, else redis://127.0.0.1:6379);
                        rediss:// for TLS, user and password in the URL
  --cluster <nodes>     a Redis Cluster instead: host:port,host:port (entries may be
                        URLs carrying user, password and rediss://)
  --prefix <prefix>     the store's keyPrefix (default "saga-bus:")
  --registry <module>   a JS or TS module exporting the application's SagaRegistry
                        (as \`registry\` or default); TS needs tsx installed
  --encryption <module> a JS or TS module exporting the store's encryption option
                        (as \`encryption\` or default): the key ring to read with
  --json                one JSON document on stdout instead of tables
  -h, --help            this help
`;

export const COMMAND_HELP = {
  stats: `Usage: saga-store stats [sagaName...] [options]

Count each saga type's stored values: schema versions, codecs, forms, sizes,
TTLs, completed, undecodable values and broken id indexes. Without saga names:
every saga type under the prefix. Exit 1 when a value is undecodable or an
index is broken.

${COMMON}`,
  inspect: `Usage: saga-store inspect <sagaName> <correlationId> [options]
       saga-store inspect <sagaName> --id <sagaId> [options]

Show one stored saga: its key, TTL, envelope header, index, the decoded state
(Dates, Maps, Sets, BigInts and binary as they are) and, with --registry, the
state as reads return it. Exit 1 when it is missing or cannot be read.

  --id <sagaId>         look the saga up by its saga id (through its id index)
  --raw                 add a hex dump of the stored bytes

${COMMON}`,
  verify: `Usage: saga-store verify [sagaName...] [--fix-orphans] [options]

Read every value as the store's reads do (with --registry: upgraded and
validated) and every id index, and list each key that fails and why. Without
saga names: every saga type under the prefix. Exit 1 when anything fails or an
orphan index is left.

  --fix-orphans         delete the id indexes that lead to no value (never a value)

${COMMON}`,
  migrate: `Usage: saga-store migrate <sagaName> [options]

Rewrite every value not yet at the target schema version, codec, form or key, each
only while it is unchanged since it was read (never over a live write).
Ctrl-C stops between batches and reports what was done (exit 130).

  --to-schema <latest|N>   target schema version (default latest when neither
                           --codec nor --format is given); needs --registry
  --codec <name>           rewrite in json, msgpack or superjson
  --format <form>          rewrite as envelope, or 0.2.2 (plain JSON, for a rollback)
  --reencrypt              also rewrite every value not encrypted under the current
                           key of --encryption (a key rotation's last step); alone,
                           each value keeps its schema version
  --dry-run                count what would be rewritten, write nothing
  --rate <N>               at most N values per second
  --concurrency <N>        rewrites in flight at once (default 256)

${COMMON}`,
  "delete-completed": `Usage: saga-store delete-completed <sagaName> --before <ISO date> [--yes] [options]

Delete the completed sagas last saved before the date, each only while it is
unchanged since it was read. Without --yes: a dry run that only counts them.

  --before <date>       an ISO 8601 date, e.g. 2026-01-01 or 2026-01-01T00:00:00Z
  --yes                 really delete

${COMMON}`,
} as const;

export type CommandName = keyof typeof COMMAND_HELP;

export const TOP_HELP = `Usage: saga-store <command> [options]

Operate a @saga-bus/store-redis store: count, check, migrate and clean up
stored sagas, or look at one of them.

Commands:
  stats [sagaName...]                     counts per saga type
  inspect <sagaName> <correlationId>      one stored saga (or --id <sagaId>)
  verify [sagaName...]                    read everything, list what fails
  migrate <sagaName>                      rewrite values at a schema version, codec or form
  delete-completed <sagaName> --before    delete completed sagas saved before a date

Run "saga-store <command> --help" for a command's options.

Exit codes: 0 nothing wrong, 1 something wrong found (or a store error),
2 usage error, 130 stopped by Ctrl-C.
`;
