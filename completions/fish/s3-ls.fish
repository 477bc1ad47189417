complete -c s3-ls -l layout -d 'native: every object, checksums checked; reshifter: ReShifter\'s <backup id>.zip objects (with their backup_id), as ReShifter lists them' -r -f -a "native\t's3-push\'s: any object whose checksum object (<key>.sha256) names it'
reshifter\t'ReShifter\'s: <backup id>.zip (the backup\'s Unix seconds) directly under the prefix, no checksum objects (ReShifter lists every object as a backup); archive-unpack verifies them'"
complete -c s3-ls -l endpoint -d 'S3-compatible endpoint, e.g. http://127.0.0.1:9000 (MinIO, Ceph); default: AWS' -r
complete -c s3-ls -l region -d 'Region (default: from the AWS configuration, or us-east-1)' -r
complete -c s3-ls -l profile -d 'AWS profile to take credentials from' -r
complete -c s3-ls -l path-style -d 'Address buckets by path (default with --endpoint, needed for localhost and IPs)' -r -f -a "true\t''
false\t''"
complete -c s3-ls -l no-checksums -d 'Do not read each object\'s stored checksum'
complete -c s3-ls -l table -d 'A table even when stdout is not a terminal'
complete -c s3-ls -l json -d 'NDJSON even on a terminal'
complete -c s3-ls -s h -l help -d 'Print help (see more with \'--help\')'
complete -c s3-ls -s V -l version -d 'Print version'
