complete -c kv-stats -l top -d 'How many of the largest values to list' -r
complete -c kv-stats -l encryption-config -d 'The API server\'s EncryptionConfiguration: decrypt every value encrypted at rest, report how many each key opens, and fail if any cannot be (a backup whose key is lost is useless)' -r -F
complete -c kv-stats -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c kv-stats -l json -d 'JSON instead of a table'
complete -c kv-stats -l verify -d 'Also decode and hash every value to check the trailer\'s digests'
complete -c kv-stats -s h -l help -d 'Print help'
complete -c kv-stats -s V -l version -d 'Print version'
