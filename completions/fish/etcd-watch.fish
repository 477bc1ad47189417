complete -c etcd-watch -l endpoints -d 'gRPC endpoints, comma-separated or repeated (https:// or --cacert for TLS)' -r
complete -c etcd-watch -l cacert -d 'CA bundle to verify the server\'s certificate [env: also RS_ETCD_CA_CERT]' -r -F
complete -c etcd-watch -l cert -d 'Client certificate for TLS client authentication [env: also RS_ETCD_CLIENT_CERT]' -r -F
complete -c etcd-watch -l key -d 'Client private key for TLS client authentication [env: also RS_ETCD_CLIENT_KEY]' -r -F
complete -c etcd-watch -l user -d 'User for etcd authentication; the password is read from ETCDCTL_PASSWORD or --password-file' -r
complete -c etcd-watch -l password-file -d 'File holding the password of --user (first line)' -r -F
complete -c etcd-watch -l dial-timeout -d 'Timeout for establishing a connection' -r
complete -c etcd-watch -l command-timeout -d 'Timeout for each request to etcd' -r
complete -c etcd-watch -l from-rev -d 'Stream the changes after this revision: typically the `revision` of a full dump\'s header' -r
complete -c etcd-watch -l prefix -d 'Watch only keys starting with PREFIX (repeatable; default: the whole keyspace)' -r
complete -c etcd-watch -l segment-seconds -d 'Close a segment and start the next once it is this old (needs -o or --filter)' -r
complete -c etcd-watch -l segment-bytes -d 'Close a segment and start the next once it holds this many bytes of keys and values (KiB/MiB = 1024-based, kB/MB = 1000-based; needs -o or --filter)' -r
complete -c etcd-watch -s o -l output -d 'Write each segment into DIR, as delta-<first>-<last>.ndjson (mode 0600, renamed into place when complete)' -r -F
complete -c etcd-watch -l filter -d 'Hand each complete segment to COMMAND (run by sh, the segment on its stdin, its name delta-<first>-<last> in $FILE), as `split --filter` does; a failing filter stops the watch with its exit code' -r
complete -c etcd-watch -l spool -d 'Where --filter\'s segments are written before the filter reads them (default: $TMPDIR); a segment whose filter failed is kept there' -r -F
complete -c etcd-watch -l resume -d 'Continue after the newest complete segment in DIR or under an S3 prefix (s3://bucket/prefix/); --from-rev counts only while there is none yet' -r
complete -c etcd-watch -l until-rev -d 'Stop after revision R: the last segment ends exactly there' -r
complete -c etcd-watch -l for -d 'Stop after this long (e.g. 10m), closing the last segment at the newest confirmed revision' -r
complete -c etcd-watch -l progress-interval -d 'How often to ask etcd how far the watch has been delivered' -r
complete -c etcd-watch -l reconnect-for -d 'Give up when etcd cannot be reached again for this long' -r
complete -c etcd-watch -l endpoint -d 'S3-compatible endpoint, e.g. http://127.0.0.1:9000 (MinIO, Ceph); default: AWS' -r
complete -c etcd-watch -l region -d 'Region (default: from the AWS configuration, or us-east-1)' -r
complete -c etcd-watch -l profile -d 'AWS profile to take credentials from' -r
complete -c etcd-watch -l path-style -d 'Address buckets by path (default with --endpoint, needed for localhost and IPs)' -r -f -a "true\t''
false\t''"
complete -c etcd-watch -l passphrase-file -d 'With --resume s3://...: the passphrase of encrypted segments, in FILE (or set RESHIFTER_PASSPHRASE)' -r -F
complete -c etcd-watch -l identity-file -d 'With --resume s3://...: age identity file that opens encrypted segments (or set RESHIFTER_IDENTITY_FILE)' -r -F
complete -c etcd-watch -s q -l quiet -d 'No summary on stderr'
complete -c etcd-watch -s h -l help -d 'Print help'
complete -c etcd-watch -s V -l version -d 'Print version'
