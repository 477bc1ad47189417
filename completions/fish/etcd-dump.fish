complete -c etcd-dump -l endpoints -d 'gRPC endpoints, comma-separated or repeated (https:// or --cacert for TLS)' -r
complete -c etcd-dump -l cacert -d 'CA bundle to verify the server\'s certificate [env: also RS_ETCD_CA_CERT]' -r -F
complete -c etcd-dump -l cert -d 'Client certificate for TLS client authentication [env: also RS_ETCD_CLIENT_CERT]' -r -F
complete -c etcd-dump -l key -d 'Client private key for TLS client authentication [env: also RS_ETCD_CLIENT_KEY]' -r -F
complete -c etcd-dump -l user -d 'User for etcd authentication; the password is read from ETCDCTL_PASSWORD or --password-file' -r
complete -c etcd-dump -l password-file -d 'File holding the password of --user (first line)' -r -F
complete -c etcd-dump -l dial-timeout -d 'Timeout for establishing a connection' -r
complete -c etcd-dump -l command-timeout -d 'Timeout for each request to etcd' -r
complete -c etcd-dump -l prefix -d 'Dump only keys starting with PREFIX (repeatable; default: the whole keyspace)' -r
complete -c etcd-dump -l rev -d 'Read at this revision instead of the current one (must not be compacted)' -r
complete -c etcd-dump -l page-keys -d 'Most keys per range request (etcd 3.4 walks its index from a page\'s first key to the end of the range on every request, so fewer, larger pages are much faster on big keyspaces)' -r
complete -c etcd-dump -l page-bytes -d 'Target size of a range response; pages shrink or grow to it (KiB/MiB = 1024-based, kB/MB = 1000-based)' -r
complete -c etcd-dump -s o -l output -d 'Write to FILE (mode 0600, renamed into place when complete) instead of stdout' -r -F
complete -c etcd-dump -l api -d 'The etcd API to read: v3, v2 (HTTP /v2/keys: directories, TTLs; etcd with --enable-v2), or auto: v2 when the endpoint holds v2 keys under the prefixes and no v3 keys, as ReShifter chose' -r -f -a "v3\t''
v2\t''
auto\t''"
complete -c etcd-dump -l v2-hidden -d 'With --api v2: a hidden node (a name starting with _) to dump too (repeatable). etcd\'s v2 API never lists hidden nodes, so a v2 dump cannot claim to be complete; name the ones you know' -r
complete -c etcd-dump -s q -l quiet -d 'No summary on stderr'
complete -c etcd-dump -s h -l help -d 'Print help'
complete -c etcd-dump -s V -l version -d 'Print version'
