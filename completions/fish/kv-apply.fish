complete -c kv-apply -l to-rev -d 'Bring the keyspace to this revision (default: as far as the deltas reach without a gap)' -r
complete -c kv-apply -s o -l output -d 'Write to FILE (mode 0600, renamed into place when complete) instead of stdout' -r -F
complete -c kv-apply -s q -l quiet -d 'No summary on stderr'
complete -c kv-apply -s h -l help -d 'Print help'
complete -c kv-apply -s V -l version -d 'Print version'
