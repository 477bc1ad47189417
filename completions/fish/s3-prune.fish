complete -c s3-prune -l keep-last -d 'Keep the newest N backups' -r
complete -c s3-prune -l keep-within -d 'Keep backups younger than this (e.g. 7d, 36h)' -r
complete -c s3-prune -l endpoint -d 'S3-compatible endpoint, e.g. http://127.0.0.1:9000 (MinIO, Ceph); default: AWS' -r
complete -c s3-prune -l region -d 'Region (default: from the AWS configuration, or us-east-1)' -r
complete -c s3-prune -l profile -d 'AWS profile to take credentials from' -r
complete -c s3-prune -l path-style -d 'Address buckets by path (default with --endpoint, needed for localhost and IPs)' -r -f -a "true\t''
false\t''"
complete -c s3-prune -l dry-run -d 'Report what would be deleted; delete nothing'
complete -c s3-prune -s h -l help -d 'Print help'
complete -c s3-prune -s V -l version -d 'Print version'
