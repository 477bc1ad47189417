complete -c node-stats -l warn-days -d 'Warn about certificates that expire within N days' -r
complete -c node-stats -l at -d 'Judge expiry at TIME (RFC 3339, e.g. 2027-06-01T00:00:00Z) instead of now' -r
complete -c node-stats -l json -d 'One JSON object instead of text'
complete -c node-stats -s h -l help -d 'Print help'
complete -c node-stats -s V -l version -d 'Print version'
