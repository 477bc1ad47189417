complete -c kv-diff -s o -l output -d 'Write to FILE (renamed into place when complete) instead of stdout' -r -F
complete -c kv-diff -l identity-file -d 'age identity (private key) file for encrypted archives (or set RESHIFTER_IDENTITY_FILE)' -r -F
complete -c kv-diff -l passphrase-file -d 'Passphrase of encrypted archives, in FILE (or set RESHIFTER_PASSPHRASE)' -r -F
complete -c kv-diff -l meta -d 'Compare revisions, versions and leases too: a key rewritten with the same value counts as changed (by default only keys and values are compared, as the trailer\'s sha256 does)'
complete -c kv-diff -l values -d 'Put the values of the keys that differ into the output (`value`, or `value_b64`)'
complete -c kv-diff -l stat -d 'One line per resource (added, removed, changed) instead of one per key'
complete -c kv-diff -l node-files -d 'Compare the node\'s files two backups carry (archive-pack --node-files) instead of their keyspaces'
complete -c kv-diff -s q -l quiet -d 'No summary on stderr'
complete -c kv-diff -s h -l help -d 'Print help'
complete -c kv-diff -s V -l version -d 'Print version'
