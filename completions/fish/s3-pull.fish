complete -c s3-pull -s o -l output -d 'Write to FILE (renamed into place when complete and verified) instead of stdout' -r -F
complete -c s3-pull -l layout -d 'native: backups are objects with a checksum object naming them; reshifter: ReShifter\'s <backup id>.zip objects (--latest: the highest id; no checksum to check: archive-unpack verifies the archive)' -r -f -a "native\t's3-push\'s: any object whose checksum object (<key>.sha256) names it'
reshifter\t'ReShifter\'s: <backup id>.zip (the backup\'s Unix seconds) directly under the prefix, no checksum objects (ReShifter lists every object as a backup); archive-unpack verifies them'"
complete -c s3-pull -l endpoint -d 'S3-compatible endpoint, e.g. http://127.0.0.1:9000 (MinIO, Ceph); default: AWS' -r
complete -c s3-pull -l region -d 'Region (default: from the AWS configuration, or us-east-1)' -r
complete -c s3-pull -l profile -d 'AWS profile to take credentials from' -r
complete -c s3-pull -l path-style -d 'Address buckets by path (default with --endpoint, needed for localhost and IPs)' -r -f -a "true\t''
false\t''"
complete -c s3-pull -l latest -d 'Pull the newest object under the prefix'
complete -c s3-pull -l no-verify -d 'Do not require and check the stored SHA-256'
complete -c s3-pull -s q -l quiet -d 'No summary on stderr'
complete -c s3-pull -s h -l help -d 'Print help (see more with \'--help\')'
complete -c s3-pull -s V -l version -d 'Print version'
