complete -c kv-rekey -s o -l output -d 'Write to FILE (renamed into place when complete) instead of stdout' -r -F
complete -c kv-rekey -l from -d 'The EncryptionConfiguration the values were written with' -r -F
complete -c kv-rekey -l to -d 'The EncryptionConfiguration to write them for (its first provider per resource)' -r -F
complete -c kv-rekey -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c kv-rekey -l encrypt-identity -d 'Also encrypt plaintext values of the resources --to encrypts'
complete -c kv-rekey -s q -l quiet -d 'No summary on stderr'
complete -c kv-rekey -s h -l help -d 'Print help'
complete -c kv-rekey -s V -l version -d 'Print version'
