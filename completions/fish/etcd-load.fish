complete -c etcd-load -l endpoints -d 'gRPC endpoints, comma-separated or repeated (https:// or --cacert for TLS)' -r
complete -c etcd-load -l cacert -d 'CA bundle to verify the server\'s certificate [env: also RS_ETCD_CA_CERT]' -r -F
complete -c etcd-load -l cert -d 'Client certificate for TLS client authentication [env: also RS_ETCD_CLIENT_CERT]' -r -F
complete -c etcd-load -l key -d 'Client private key for TLS client authentication [env: also RS_ETCD_CLIENT_KEY]' -r -F
complete -c etcd-load -l user -d 'User for etcd authentication; the password is read from ETCDCTL_PASSWORD or --password-file' -r
complete -c etcd-load -l password-file -d 'File holding the password of --user (first line)' -r -F
complete -c etcd-load -l dial-timeout -d 'Timeout for establishing a connection' -r
complete -c etcd-load -l command-timeout -d 'Timeout for each request to etcd' -r
complete -c etcd-load -l mode -d 'What to do with keys that already exist' -r -f -a "overwrite\t'Write every key of the stream; keys already equal are left as they are'
create-only\t'Write only keys that do not exist; existing keys are left alone and counted'
sync\t'Like overwrite, then delete keys under the stream\'s prefixes that the stream does not hold'"
complete -c etcd-load -l leases -d 'Keys that had a lease: regrant a lease with the TTL left at dump time, or drop the lease' -r -f -a "drop\t'Write the keys without a lease: they never expire'
regrant\t'Grant a fresh lease per original lease with the TTL left at dump time and attach its keys'"
complete -c etcd-load -l max-txn-ops -d 'Most operations per transaction (etcd\'s --max-txn-ops)' -r
complete -c etcd-load -l max-request-bytes -d 'Largest transaction request (etcd\'s --max-request-bytes; KiB/MiB = 1024-based, kB/MB = 1000-based)' -r
complete -c etcd-load -l concurrency -d 'Transactions in flight at once' -r
complete -c etcd-load -l api -d 'The etcd API to write with: auto (the stream\'s: v2 for a stream of etcd-dump --api v2), v3, or v2. `--api v3` on a v2 stream migrates it: directories are dropped (v3 has none), TTLs become leases' -r -f -a "auto\t'The stream\'s own (its header\'s `api`)'
v3\t'etcd\'s v3 API (gRPC)'
v2\t'etcd\'s v2 API (HTTP /v2/keys; etcd started with --enable-v2)'"
complete -c etcd-load -l bump-revision -d 'Before writing any key, raise the target\'s revision to the stream\'s revision + MARGIN (default 1000000, ~40 s) with filler writes, so that no resourceVersion goes backwards. Use it to restore a cluster\'s own state (its clients have seen its revisions); not to copy keys into a new cluster' -r
complete -c etcd-load -l plan -d 'A dry run summed up per resource and namespace on stdout (NDJSON, or a table): the restore plan to read before writing' -r -f -a "json\t'One NDJSON line per resource and namespace, then a total line'
table\t'An aligned table'"
complete -c etcd-load -l dry-run -d 'Report what would change (NDJSON on stdout) and write nothing'
complete -c etcd-load -l assume-complete -d 'With --mode sync on a format-1 stream (no digest covers its header) or a v2 dump (etcd\'s v2 API hides nodes whose names start with _): take its prefixes as complete'
complete -c etcd-load -l mark-compacted -d 'After the load, compact at the raised revision: a watch from an older revision is told "compacted" and relists (needs --bump-revision)'
complete -c etcd-load -s q -l quiet -d 'No summary on stderr'
complete -c etcd-load -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-load -s V -l version -d 'Print version'
