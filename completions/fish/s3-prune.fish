complete -c s3-prune -l keep-last -d 'Keep the newest N backups' -r
complete -c s3-prune -l keep-within -d 'Keep backups younger than this (e.g. 7d, 36h)' -r
complete -c s3-prune -l endpoint -d 'S3-compatible endpoint, e.g. http://127.0.0.1:9000 (MinIO, Ceph); default: AWS' -r
complete -c s3-prune -l region -d 'Region (default: from the AWS configuration, or us-east-1)' -r
complete -c s3-prune -l profile -d 'AWS profile to take credentials from' -r
complete -c s3-prune -l path-style -d 'Address buckets by path (default with --endpoint, needed for localhost and IPs)' -r -f -a "true\t''
false\t''"
complete -c s3-prune -l layout -d 'native: backups are objects with a checksum object naming them; reshifter: ReShifter\'s <backup id>.zip objects, their age from their id' -r -f -a "native\t's3-push\'s: any object whose checksum object (<key>.sha256) names it'
reshifter\t'ReShifter\'s: <backup id>.zip (the backup\'s Unix seconds) directly under the prefix, no checksum objects (ReShifter lists every object as a backup); archive-unpack verifies them'"
complete -c s3-prune -l dry-run -d 'Report what would be deleted; delete nothing'
complete -c s3-prune -s h -l help -d 'Print help (see more with \'--help\')'
complete -c s3-prune -s V -l version -d 'Print version'
