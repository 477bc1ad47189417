complete -c node-load -l root -d 'Write under DIR (created when missing). `--root /` restores a node in place' -r -F
complete -c node-load -l plan -l dry-run -d 'Print what would be done (create, change, meta, same: one line per path) and write nothing'
complete -c node-load -l force -d 'Overwrite files whose content differs from the stream\'s (default: refuse, before writing anything)'
complete -c node-load -l no-owners -d 'Leave owners as the writing user\'s (default when not run as root)'
complete -c node-load -s q -l quiet -d 'No summary on stderr'
complete -c node-load -s h -l help -d 'Print help'
complete -c node-load -s V -l version -d 'Print version'
