//! reshifter-server: ReShifter's HTTP API and web UI, with scheduled backups.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_http::{self as server, ServerOptions};

const EXAMPLES: &str = "\
Examples:
  RESHIFTER_TOKEN=$(cat /run/secrets/token) reshifter-server --etcd https://10.0.0.1:2379
  reshifter-server --insecure-no-auth --store /var/lib/reshifter      # loopback only
  reshifter-server --token-file /run/secrets/token --schedule '0 * * * *' --keep-last 48 \\
      --remote s3.example.com:9000 --bucket backups --allow-endpoint https://new:2379
  curl -H \"Authorization: Bearer $TOKEN\" -d '{}' localhost:8080/v1/backup
  curl -H \"Authorization: Bearer $TOKEN\" localhost:8080/v1/backup/all
  curl -H \"Authorization: Bearer $TOKEN\" -o b.zip localhost:8080/v1/backup/1499588813

ReShifter's routes (/v1/version, /v1/explorer, /v1/epstats, POST /v1/backup, /v1/backup/all,
/v1/backup/{id}, POST /v1/restore, POST /v1/restore/upload) answer as ReShifter's did; beside
them /healthz, /metrics (Prometheus), /v1/jobs, /v1/backups, /v1/keyspace, and the web UI at /.
Every route but /healthz and the UI's files needs Authorization: Bearer <token> (from
--token-file or RESHIFTER_TOKEN). The server connects only to --etcd, --allow-endpoint,
--remote and --allow-remote: a request naming another endpoint or remote gets 403. Requests
from other sites (a foreign Origin) and under other host names (Host not an IP address,
localhost or --server-name) are refused; JSON bodies are read whatever their content type.
Restores take dry_run and mode (overwrite, create-only, sync). SIGTERM stops it.";

/// Serve ReShifter's HTTP API and a web UI; back up on a schedule.
#[derive(Parser, Debug)]
#[command(name = "reshifter-server", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    opts: ServerOptions,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("reshifter-server", args, |a: Args| server::run(a.opts))
}
