complete -c archive-pack -s o -l output -d 'Write to FILE (mode 0600, renamed into place when complete) instead of stdout' -r -F
complete -c archive-pack -l compression -d 'Compression of each entry' -r -f -a "deflate\t'Deflate: any unzip opens it'
zstd\t'Zstandard (ZIP method 93): faster and smaller, needs a recent unzip/7z'
store\t'No compression'"
complete -c archive-pack -l level -d 'Compression level (deflate 0-9, default 1; zstd 1-22, default 3)' -r
complete -c archive-pack -l layout -d 'Entry layout: native (with metadata and manifest: restores exactly) or reshifter (the layout of ReShifter, the Go tool: keys and values only)' -r -f -a "native\t'This toolkit\'s layout: header, one entry per key with metadata, manifest (docs/FORMAT.md)'
reshifter\t'ReShifter\'s (the Go tool\'s) layout: `<backup id>/<key path>/content`, no metadata'"
complete -c archive-pack -l threads -d 'Compression threads (default: the number of cores)' -r
complete -c archive-pack -l node-files -d 'Also carry the node\'s files: a files stream (node-dump) written into the archive after the keyspace, so that one backup of a cluster holds both (archive-unpack --node-files gives it back)' -r -F
complete -c archive-pack -l passphrase-file -d 'Encrypt with the passphrase in FILE (first line)' -r -F
complete -c archive-pack -l recipient -d 'Encrypt to this age public key (repeatable)' -r
complete -c archive-pack -l recipients-file -d 'Encrypt to the age public keys in FILE (repeatable)' -r -F
complete -c archive-pack -l encrypt -d 'Encrypt with the passphrase in RESHIFTER_PASSPHRASE'
complete -c archive-pack -s q -l quiet -d 'No summary on stderr'
complete -c archive-pack -s h -l help -d 'Print help (see more with \'--help\')'
complete -c archive-pack -s V -l version -d 'Print version'
