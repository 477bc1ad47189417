complete -c kv-gen -l objects -d 'Number of objects (keys) to generate' -r
complete -c kv-gen -l seed -d 'Seed: the same seed gives the same keyspace' -r
complete -c kv-gen -l encrypted-share -d 'Share of Secrets encrypted at rest, 0..1' -r
complete -c kv-gen -s o -l output -d 'Write to FILE (renamed into place when complete) instead of stdout' -r -F
complete -c kv-gen -l encryption-config-out -d 'Also write the EncryptionConfiguration that opens the encrypted Secrets (aescbc key1, a key derived from the seed: a test key, not a secret)' -r -F
complete -c kv-gen -l small -d 'Minimal objects (metadata only, a few hundred bytes) for scale runs'
complete -c kv-gen -s h -l help -d 'Print help'
complete -c kv-gen -s V -l version -d 'Print version'
