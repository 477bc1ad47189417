complete -c etcd-explore -l endpoints -d 'gRPC endpoints, comma-separated or repeated (https:// or --cacert for TLS)' -r
complete -c etcd-explore -l cacert -d 'CA bundle to verify the server\'s certificate [env: also RS_ETCD_CA_CERT]' -r -F
complete -c etcd-explore -l cert -d 'Client certificate for TLS client authentication [env: also RS_ETCD_CLIENT_CERT]' -r -F
complete -c etcd-explore -l key -d 'Client private key for TLS client authentication [env: also RS_ETCD_CLIENT_KEY]' -r -F
complete -c etcd-explore -l user -d 'User for etcd authentication; the password is read from ETCDCTL_PASSWORD or --password-file' -r
complete -c etcd-explore -l password-file -d 'File holding the password of --user (first line)' -r -F
complete -c etcd-explore -l dial-timeout -d 'Timeout for establishing a connection' -r
complete -c etcd-explore -l command-timeout -d 'Timeout for each request to etcd' -r
complete -c etcd-explore -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c etcd-explore -l json -d 'JSON instead of a table'
complete -c etcd-explore -s h -l help -d 'Print help'
complete -c etcd-explore -s V -l version -d 'Print version'
