complete -c kv-seal -s o -l output -d 'Write to FILE (renamed into place when complete) instead of stdout' -r -F
complete -c kv-seal -s q -l quiet -d 'No summary on stderr'
complete -c kv-seal -s h -l help -d 'Print help'
complete -c kv-seal -s V -l version -d 'Print version'
