complete -c kv-encode -s o -l output -d 'Write to FILE (renamed into place when complete) instead of stdout' -r -F
complete -c kv-encode -l encryption-config -d 'The EncryptionConfiguration kv-decode was given: edited objects of encrypted values are encrypted again with the key they were encrypted with' -r -F
complete -c kv-encode -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c kv-encode -s q -l quiet -d 'No summary on stderr'
complete -c kv-encode -s h -l help -d 'Print help'
complete -c kv-encode -s V -l version -d 'Print version'
