complete -c s3-push -s i -l input -d 'Read this file instead of stdin' -r -F
complete -c s3-push -l endpoint -d 'S3-compatible endpoint, e.g. http://127.0.0.1:9000 (MinIO, Ceph); default: AWS' -r
complete -c s3-push -l region -d 'Region (default: from the AWS configuration, or us-east-1)' -r
complete -c s3-push -l profile -d 'AWS profile to take credentials from' -r
complete -c s3-push -l path-style -d 'Address buckets by path (default with --endpoint, needed for localhost and IPs)' -r -f -a "true\t''
false\t''"
complete -c s3-push -l part-size -d 'Size of each part of a multipart upload, at least 5MiB (memory: part size × (concurrency + 1); KiB/MiB = 1024-based, kB/MB = 1000-based)' -r
complete -c s3-push -l concurrency -d 'Parts uploaded at once' -r
complete -c s3-push -l sse -d 'Server-side encryption: AES256 or aws:kms' -r
complete -c s3-push -l sse-kms-key-id -d 'KMS key for --sse aws:kms' -r
complete -c s3-push -l layout -d 'native: write the checksum object beside it; reshifter: ReShifter\'s layout, the key must be <prefix>/<backup id>.zip and no checksum object is written (ReShifter would list it as a backup)' -r -f -a "native\t's3-push\'s: any object whose checksum object (<key>.sha256) names it'
reshifter\t'ReShifter\'s: <backup id>.zip (the backup\'s Unix seconds) directly under the prefix, no checksum objects (ReShifter lists every object as a backup); archive-unpack verifies them'"
complete -c s3-push -l create-bucket -d 'Create the bucket if it does not exist'
complete -c s3-push -l allow-incomplete -d 'Upload a stream or archive even if it looks cut short'
complete -c s3-push -l json -d 'Print the result as JSON on stdout'
complete -c s3-push -s q -l quiet -d 'No summary on stderr'
complete -c s3-push -s h -l help -d 'Print help (see more with \'--help\')'
complete -c s3-push -s V -l version -d 'Print version'
