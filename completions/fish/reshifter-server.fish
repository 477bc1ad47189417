complete -c reshifter-server -l listen -d 'Address to listen on (a non-loopback address exposes etcd\'s data: use a token and TLS)' -r
complete -c reshifter-server -l store -d 'Directory of the local backups (<backup id>.zip); default: $XDG_DATA_HOME/reshifter/backups or ~/.local/share/reshifter/backups' -r -F
complete -c reshifter-server -l etcd -d 'The etcd the schedule backs up, and the default of every request (TLS from RS_ETCD_CLIENT_CERT, RS_ETCD_CLIENT_KEY, RS_ETCD_CA_CERT; credentials from ETCDCTL_USER and ETCDCTL_PASSWORD)' -r
complete -c reshifter-server -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c reshifter-server -l node-root -d 'Every backup (scheduled or requested) also carries this control-plane node\'s files (CAs, keys, kubeconfigs, static pods, EncryptionConfiguration: node-dump\'s layouts under DIR, `/` when the server runs on the node), and fails (keeping the backup) when the captured EncryptionConfiguration does not open every Secret. Only the server\'s own configuration names it: no request can' -r -F
complete -c reshifter-server -l allow-endpoint -d 'Another etcd a request may name (a restore target; repeatable). No request makes the server connect, or send its credentials, anywhere else: others get 403' -r
complete -c reshifter-server -l schedule -d 'Scheduled backups, cron syntax (5 fields, or 6 with seconds first): "0 * * * *" hourly' -r
complete -c reshifter-server -l remote -d 'Scheduled backups also go to this S3-compatible endpoint (host:port for HTTPS, or a URL)' -r
complete -c reshifter-server -l bucket -d 'The bucket of --remote' -r
complete -c reshifter-server -l allow-remote -d 'Another S3 endpoint a request may name (repeatable); requests may name --remote too, and nothing else: the server\'s S3 credentials are never sent elsewhere' -r
complete -c reshifter-server -l strategy -d 'ReShifter\'s strategy for scheduled backups: raw or filter:a,b' -r
complete -c reshifter-server -l keep-last -d 'After each successful scheduled backup, keep the newest N (local store, and the bucket)' -r
complete -c reshifter-server -l keep-within -d 'After each successful scheduled backup, keep those younger than this (e.g. 7d)' -r
complete -c reshifter-server -l token-file -d 'File holding the bearer token every route but /healthz and the UI\'s files needs (or set RESHIFTER_TOKEN)' -r -F
complete -c reshifter-server -l server-name -d 'A host name clients reach the server by (repeatable): requests whose Host header names anything but these, localhost or an IP address are refused (DNS rebinding)' -r
complete -c reshifter-server -l max-connections -d 'Connections served at once; more are answered 503 and closed' -r
complete -c reshifter-server -l client-timeout -d 'How long a client may take to send a request\'s headers or finish a TLS handshake, and pause while sending a body, before its connection is closed' -r
complete -c reshifter-server -l tls-cert -d 'Serve HTTPS with this certificate chain (PEM) ...' -r -F
complete -c reshifter-server -l tls-key -d '... and this private key (PEM)' -r -F
complete -c reshifter-server -l max-upload -d 'Largest upload accepted by /v1/restore/upload (KiB/MiB/GiB = 1024-based)' -r
complete -c reshifter-server -l passphrase-file -d 'Encrypt backups with the passphrase in FILE, first line (also opens them)' -r -F
complete -c reshifter-server -l recipient -d 'Encrypt backups to this age public key (repeatable)' -r
complete -c reshifter-server -l recipients-file -d 'Encrypt backups to the age public keys in FILE (repeatable)' -r -F
complete -c reshifter-server -l identity-file -d 'age identity (private key) file that opens backups for restores and verification (repeatable; or set RESHIFTER_IDENTITY_FILE)' -r -F
complete -c reshifter-server -l insecure-no-auth -d 'Serve without a token (only on a loopback address)'
complete -c reshifter-server -l public-metrics -d 'Serve /metrics without the token (for a Prometheus that cannot send one)'
complete -c reshifter-server -l read-only -d 'Refuse restores and uploads: backups only'
complete -c reshifter-server -l encrypt -d 'Encrypt backups with the passphrase in RESHIFTER_PASSPHRASE (also opens them)'
complete -c reshifter-server -s q -l quiet -d 'No log lines on stderr'
complete -c reshifter-server -s h -l help -d 'Print help'
complete -c reshifter-server -s V -l version -d 'Print version'
