//! rcli: ReShifter's command line, on this toolkit.

use std::process::ExitCode;

use clap::Parser;
use reshifter_cli as cli;
use reshifter_rcli::{self as rcli, Command};

const EXAMPLES: &str = "\
Examples:
  rcli backup create -e http://127.0.0.1:2379 -t /backups          # prints the backup id
  rcli backup create -e https://10.0.0.1:2379 -r s3.example.com:9000 -b mybackups
  RS_BACKUP_STRATEGY=filter:deployment,service rcli backup create -e http://127.0.0.1:2379
  rcli backup list -t /backups
  rcli backup list -r s3.example.com:9000 -b mybackups
  rcli restore -e http://new:2379 -i 1499588813 -t /backups
  rcli restore -e http://new:2379 -i 1499588813 -r s3.example.com:9000 -b mybackups
  rcli explore -e http://127.0.0.1:2379
  rcli stats -e http://127.0.0.1:2379

Environment, as ReShifter's: RS_ETCD_CLIENT_CERT, RS_ETCD_CLIENT_KEY, RS_ETCD_CA_CERT (TLS),
RS_BACKUP_STRATEGY (raw, render: keys and values on stdout as a stream, no archive;
filter:a,b: keys whose path holds a or b), RS_ETCD_API_VERSION (v2, v3; default: auto),
ACCESS_KEY_ID and SECRET_ACCESS_KEY (S3; or the AWS chain). Backups are <backup id>.zip with
the id the backup's Unix seconds, in this toolkit's archive layout (verified, with revisions:
--layout reshifter writes ReShifter's own); in S3 they lie at the bucket's root as ReShifter
put them. rcli restore reads both layouts, and ReShifter's own backups.";

/// ReShifter's command line: back up and restore the etcd of a Kubernetes cluster.
#[derive(Parser, Debug)]
#[command(name = "rcli", version, after_help = EXAMPLES)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The tool's `main`, given its command line (argument 0 is the tool's name).
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    cli::main("rcli", args, |a: Args| rcli::run(a.command))
}
