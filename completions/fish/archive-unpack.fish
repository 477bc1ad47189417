complete -c archive-unpack -s o -l output -d 'Write to FILE (renamed into place when complete) instead of stdout' -r -F
complete -c archive-unpack -l prefix -d 'Only keys starting with PREFIX (repeatable); the whole archive is still verified' -r
complete -c archive-unpack -l passphrase-file -d 'Passphrase of an encrypted archive, in FILE (or set RESHIFTER_PASSPHRASE)' -r -F
complete -c archive-unpack -l identity-file -d 'age identity (private key) file for an encrypted archive (or set RESHIFTER_IDENTITY_FILE)' -r -F
complete -c archive-unpack -l encryption-config -d 'With --verify: the API server\'s EncryptionConfiguration; every value encrypted at rest is decrypted, the count per key is reported, and any that does not decrypt fails (exit 5)' -r -F
complete -c archive-unpack -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c archive-unpack -l list -d 'List keys, paths, sizes, checksums and revisions as NDJSON, without values'
complete -c archive-unpack -l verify -d 'Check everything and output nothing'
complete -c archive-unpack -l node-files -d 'Write the node\'s files the archive carries (archive-pack --node-files) as a files stream for node-load, instead of the keyspace (which is verified all the same)'
complete -c archive-unpack -s q -l quiet -d 'No summary on stderr'
complete -c archive-unpack -s h -l help -d 'Print help'
complete -c archive-unpack -s V -l version -d 'Print version'
