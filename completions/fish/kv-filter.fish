complete -c kv-filter -s o -l output -d 'Write to FILE (renamed into place when complete) instead of stdout' -r -F
complete -c kv-filter -l prefix -d 'Keep keys starting with PREFIX (repeatable)' -r
complete -c kv-filter -l exclude-prefix -d 'Drop keys starting with PREFIX (repeatable)' -r
complete -c kv-filter -l glob -d 'Keep keys matching the glob (repeatable)' -r
complete -c kv-filter -l exclude-glob -d 'Drop keys matching the glob (repeatable)' -r
complete -c kv-filter -l regex -d 'Keep keys matching the regex (repeatable)' -r
complete -c kv-filter -l exclude-regex -d 'Drop keys matching the regex (repeatable)' -r
complete -c kv-filter -l strategy -d 'ReShifter\'s backup strategy: raw, or filter:a,b (keys containing a or b)' -r
complete -c kv-filter -l resource -d 'Keep these resources (repeatable, comma-separated)' -r
complete -c kv-filter -l exclude-resource -d 'Drop these resources (repeatable, comma-separated)' -r
complete -c kv-filter -s n -l namespace -d 'Keep objects in these namespaces (repeatable, comma-separated)' -r
complete -c kv-filter -l exclude-namespace -d 'Drop objects in these namespaces (repeatable, comma-separated)' -r
complete -c kv-filter -l name -d 'Keep objects whose name matches the regex' -r
complete -c kv-filter -s l -l selector -d 'Keep objects whose labels match, as kubectl\'s -l: `app=web,tier!=db`, `env in (a,b)`, `env notin (a)`, `app`, `!app` (values are decoded; other records are dropped)' -r
complete -c kv-filter -l field-selector -d 'Keep objects whose fields match: `status.phase=Running,spec.nodeName!=`, any dotted path (`metadata.ownerReferences.kind=ReplicaSet`); a missing field is ""' -r
complete -c kv-filter -l rewrite-prefix -d 'Rewrite keys starting with OLD to start with NEW instead (repeatable; first match wins)' -r
complete -c kv-filter -l encryption-config -d 'The API server\'s EncryptionConfiguration: values encrypted with aesgcm (bound to their key) are re-encrypted under their rewritten key (without it such values are refused), and encrypted values are decrypted to apply -l and --field-selector' -r -F
complete -c kv-filter -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c kv-filter -s q -l quiet -d 'No summary on stderr'
complete -c kv-filter -s h -l help -d 'Print help'
complete -c kv-filter -s V -l version -d 'Print version'
