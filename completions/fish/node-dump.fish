complete -c node-dump -l root -d 'The node\'s filesystem root: layouts are looked for under it, and paths in the stream are relative to it (a mounted disk of a node works as well as /)' -r -F
complete -c node-dump -l layout -d 'Take this layout (repeatable; default: every one found by looking; `none` takes only --include)' -r -f -a "kubeadm\t'kubeadm: /etc/kubernetes/{pki/**, *.conf, manifests/*} and the files they name'
k3s\t'k3s: /var/lib/rancher/k3s/server/{token, tls, cred, manifests}, /etc/rancher/k3s/config.yaml*'
rke2\t'rke2: as k3s under rke2, and the static pods in /var/lib/rancher/rke2/agent/pod-manifests'
none\t'None: only what --include names'"
complete -c node-dump -l include -d 'Also take what matches GLOB, relative to the root (`etc/cni/**`, `etc/default/kubelet`); repeatable. `*` stays within a directory, `**` crosses them' -r
complete -c node-dump -l exclude -d 'Leave out what matches GLOB, relative to the root (repeatable)' -r
complete -c node-dump -s o -l output -d 'Write to FILE (mode 0600, renamed into place when complete) instead of stdout' -r -F
complete -c node-dump -s q -l quiet -d 'No summary on stderr'
complete -c node-dump -s h -l help -d 'Print help (see more with \'--help\')'
complete -c node-dump -s V -l version -d 'Print version'
