# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_rcli_global_optspecs
    string join \n h/help V/version
end

function __fish_rcli_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_rcli_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rcli_using_subcommand
    set -l cmd (__fish_rcli_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c rcli -n "__fish_rcli_needs_command" -s h -l help -d 'Print help'
complete -c rcli -n "__fish_rcli_needs_command" -s V -l version -d 'Print version'
complete -c rcli -n "__fish_rcli_needs_command" -f -a "backup" -d 'Manages backups of a Kubernetes cluster'
complete -c rcli -n "__fish_rcli_needs_command" -f -a "restore" -d 'Performs a restore of a Kubernetes cluster from a backup, local or in S3'
complete -c rcli -n "__fish_rcli_needs_command" -f -a "explore" -d 'Probes an etcd endpoint: version, API, TLS, Kubernetes distribution'
complete -c rcli -n "__fish_rcli_needs_command" -f -a "stats" -d 'Counts the Kubernetes keys of an etcd endpoint and their size'
complete -c rcli -n "__fish_rcli_needs_command" -f -a "version" -d 'Prints the version'
complete -c rcli -n "__fish_rcli_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rcli -n "__fish_rcli_using_subcommand backup; and not __fish_seen_subcommand_from create list help" -s h -l help -d 'Print help'
complete -c rcli -n "__fish_rcli_using_subcommand backup; and not __fish_seen_subcommand_from create list help" -f -a "create" -d 'Creates a backup: <target>/<backup id>.zip (and in S3 with --remote); prints the id'
complete -c rcli -n "__fish_rcli_using_subcommand backup; and not __fish_seen_subcommand_from create list help" -f -a "list" -d 'Lists the backup ids, local or in S3'
complete -c rcli -n "__fish_rcli_using_subcommand backup; and not __fish_seen_subcommand_from create list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from create" -s e -l endpoint -d 'The URL of the etcd to use (TLS client files from RS_ETCD_CLIENT_CERT, RS_ETCD_CLIENT_KEY, RS_ETCD_CA_CERT; credentials from ETCDCTL_USER and ETCDCTL_PASSWORD)' -r
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from create" -l api -d 'The etcd API: v2, v3, or auto (v2 when the endpoint holds v2 keys under the Kubernetes roots and no v3 keys there, as ReShifter chose)' -r
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from create" -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from create" -s t -l target -d 'The target directory for the resulting ZIP file of the backup' -r -F
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from create" -s r -l remote -d 'The S3-compatible storage endpoint, host:port (HTTPS) or a URL' -r
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from create" -s b -l bucket -d 'The bucket (default with --remote: reshifter-<today>, as ReShifter chose)' -r
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from create" -l strategy -d 'ReShifter\'s strategy: raw (every key), filter:a,b (keys whose path contains a or b), or render (the keys and values on stdout, as the stream, and no archive)' -r
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from create" -l layout -d 'Archive layout: native (verified, with revisions and digests; rcli restore reads both) or reshifter (ReShifter\'s own, for ReShifter to restore)' -r
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from create" -l node-root -d 'Also back up this control-plane node\'s files (CAs, keys, kubeconfigs, static pods, the EncryptionConfiguration: node-dump\'s layouts, found under DIR, `/` for this node) in the same archive, and check that the captured EncryptionConfiguration opens every Secret' -r -F
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from list" -s t -l target -d 'The directory the backups are in' -r -F
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from list" -s r -l remote -d 'The S3-compatible storage endpoint, host:port (HTTPS) or a URL' -r
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from list" -s b -l bucket -d 'The bucket (default with --remote: reshifter-<today>, as ReShifter chose)' -r
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "create" -d 'Creates a backup: <target>/<backup id>.zip (and in S3 with --remote); prints the id'
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "list" -d 'Lists the backup ids, local or in S3'
complete -c rcli -n "__fish_rcli_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rcli -n "__fish_rcli_using_subcommand restore" -s e -l endpoint -d 'The URL of the etcd to use (TLS client files from RS_ETCD_CLIENT_CERT, RS_ETCD_CLIENT_KEY, RS_ETCD_CA_CERT; credentials from ETCDCTL_USER and ETCDCTL_PASSWORD)' -r
complete -c rcli -n "__fish_rcli_using_subcommand restore" -l api -d 'The etcd API: v2, v3, or auto (v2 when the endpoint holds v2 keys under the Kubernetes roots and no v3 keys there, as ReShifter chose)' -r
complete -c rcli -n "__fish_rcli_using_subcommand restore" -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c rcli -n "__fish_rcli_using_subcommand restore" -s i -l backupid -d 'The ID of the backup to restore (its Unix seconds)' -r
complete -c rcli -n "__fish_rcli_using_subcommand restore" -s t -l target -d 'The directory the backup is in (or is pulled into, with --remote)' -r -F
complete -c rcli -n "__fish_rcli_using_subcommand restore" -s r -l remote -d 'The S3-compatible storage endpoint, host:port (HTTPS) or a URL' -r
complete -c rcli -n "__fish_rcli_using_subcommand restore" -s b -l bucket -d 'The bucket (default with --remote: reshifter-<today>, as ReShifter chose)' -r
complete -c rcli -n "__fish_rcli_using_subcommand restore" -l json -d 'Print the outcome as JSON ({"keysrestored","elapsedtimeinsec"}, ReShifter\'s API names)'
complete -c rcli -n "__fish_rcli_using_subcommand restore" -s h -l help -d 'Print help'
complete -c rcli -n "__fish_rcli_using_subcommand explore" -s e -l endpoint -d 'The URL of the etcd to use (TLS client files from RS_ETCD_CLIENT_CERT, RS_ETCD_CLIENT_KEY, RS_ETCD_CA_CERT; credentials from ETCDCTL_USER and ETCDCTL_PASSWORD)' -r
complete -c rcli -n "__fish_rcli_using_subcommand explore" -l api -d 'The etcd API: v2, v3, or auto (v2 when the endpoint holds v2 keys under the Kubernetes roots and no v3 keys there, as ReShifter chose)' -r
complete -c rcli -n "__fish_rcli_using_subcommand explore" -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c rcli -n "__fish_rcli_using_subcommand explore" -s h -l help -d 'Print help'
complete -c rcli -n "__fish_rcli_using_subcommand stats" -s e -l endpoint -d 'The URL of the etcd to use (TLS client files from RS_ETCD_CLIENT_CERT, RS_ETCD_CLIENT_KEY, RS_ETCD_CA_CERT; credentials from ETCDCTL_USER and ETCDCTL_PASSWORD)' -r
complete -c rcli -n "__fish_rcli_using_subcommand stats" -l api -d 'The etcd API: v2, v3, or auto (v2 when the endpoint holds v2 keys under the Kubernetes roots and no v3 keys there, as ReShifter chose)' -r
complete -c rcli -n "__fish_rcli_using_subcommand stats" -l etcd-prefix -d 'The kube-apiserver\'s --etcd-prefix, when it is not /registry (OpenShift\'s /kubernetes.io and /openshift.io are known too): keys under PREFIX are read as that API server stores them, and matched against an EncryptionConfiguration\'s resources' -r
complete -c rcli -n "__fish_rcli_using_subcommand stats" -s h -l help -d 'Print help'
complete -c rcli -n "__fish_rcli_using_subcommand version" -s h -l help -d 'Print help'
complete -c rcli -n "__fish_rcli_using_subcommand help; and not __fish_seen_subcommand_from backup restore explore stats version help" -f -a "backup" -d 'Manages backups of a Kubernetes cluster'
complete -c rcli -n "__fish_rcli_using_subcommand help; and not __fish_seen_subcommand_from backup restore explore stats version help" -f -a "restore" -d 'Performs a restore of a Kubernetes cluster from a backup, local or in S3'
complete -c rcli -n "__fish_rcli_using_subcommand help; and not __fish_seen_subcommand_from backup restore explore stats version help" -f -a "explore" -d 'Probes an etcd endpoint: version, API, TLS, Kubernetes distribution'
complete -c rcli -n "__fish_rcli_using_subcommand help; and not __fish_seen_subcommand_from backup restore explore stats version help" -f -a "stats" -d 'Counts the Kubernetes keys of an etcd endpoint and their size'
complete -c rcli -n "__fish_rcli_using_subcommand help; and not __fish_seen_subcommand_from backup restore explore stats version help" -f -a "version" -d 'Prints the version'
complete -c rcli -n "__fish_rcli_using_subcommand help; and not __fish_seen_subcommand_from backup restore explore stats version help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rcli -n "__fish_rcli_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "create" -d 'Creates a backup: <target>/<backup id>.zip (and in S3 with --remote); prints the id'
complete -c rcli -n "__fish_rcli_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "list" -d 'Lists the backup ids, local or in S3'
