complete -c kv-decode -s o -l output -d 'Write to FILE (renamed into place when complete) instead of stdout' -r -F
complete -c kv-decode -l encryption-config -d 'The API server\'s EncryptionConfiguration: values encrypted at rest are decrypted and decoded (the output then holds them in plaintext: keep it as secret as the file)' -r -F
complete -c kv-decode -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c kv-decode -l strict -d 'Fail (exit 3) on the first value that looks like an object and cannot be decoded, is encrypted with no --encryption-config that opens it, or holds fields newer than the schema'
complete -c kv-decode -s q -l quiet -d 'No summary on stderr'
complete -c kv-decode -s h -l help -d 'Print help'
complete -c kv-decode -s V -l version -d 'Print version'
