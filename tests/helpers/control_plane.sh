#!/bin/sh
# A control-plane node's files, made with openssl, under ROOT (tests of node-dump, node-load,
# node-stats). Usage:
#   control_plane.sh kubeadm ROOT ENC_SECRET_B64 [--expired]
#   control_plane.sh k3s|rke2 ROOT ENC_SECRET_B64
# kubeadm: cluster, etcd and front-proxy CAs, the API server's, kubelet-client, etcd and
# front-proxy certificates, sa.key/sa.pub, admin/controller-manager/scheduler/kubelet
# kubeconfigs (the kubelet's naming its certificate through a symlink), static pods whose
# kube-apiserver flags name an aescbc EncryptionConfiguration and an audit policy.
# k3s: server token (and node-token, a link to it), tls, cred (encryption config), manifests,
# config.yaml naming an audit policy, and a datastore that node-dump must leave out. rke2: the
# same under rke2, and the API server's static pod in agent/pod-manifests naming an audit policy
# and the encryption config.
set -eu
layout=$1 root=$2 secret=$3 expired=${4:-}
umask 022
q() { "$@" >/dev/null 2>&1; }

# ca NAME CN: a self-signed CA (10 years) at NAME.crt/NAME.key.
ca() {
  q openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -subj "/CN=$2" -days 3650 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
  chmod 600 "$1.key"
}
# leaf NAME CA SUBJECT DAYS [SAN]: a certificate signed by CA.crt/CA.key.
leaf() {
  q openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$3"
  if [ -n "${5:-}" ]; then printf 'subjectAltName=%s\n' "$5" >"$1.ext"; else : >"$1.ext"; fi
  q openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" -days "$4" -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext" "$2.srl"
  chmod 600 "$1.key"
}
b64() { base64 -w0 "$1"; }
# kubeconfig FILE USER CERT KEY: a kubeconfig with the certificate and key embedded.
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    certificate-authority-data: $(b64 "$pki/ca.crt")
    server: https://10.0.0.10:6443
contexts:
- name: $2@kubernetes
  context: {cluster: kubernetes, user: $2}
current-context: $2@kubernetes
users:
- name: $2
  user:
    client-certificate-data: $(b64 "$3")
    client-key-data: $(b64 "$4")
EOF
  chmod 600 "$1"
}
# audit_policy FILE LEVEL: an audit policy of one rule.
audit_policy() {
  printf 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: %s\n' "$2" >"$1"
}
encryption_config() {
  cat >"$1" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aescbc:
      keys:
      - name: key1
        secret: $secret
  - identity: {}
EOF
  chmod 600 "$1"
}

case $layout in
kubeadm)
  k=$root/etc/kubernetes pki=$root/etc/kubernetes/pki
  mkdir -p "$pki/etcd" "$k/manifests" "$k/enc" "$k/audit" "$root/var/lib/kubelet/pki" "$root/var/lib/etcd/member"
  chmod 700 "$k/enc"
  ca "$pki/ca" kubernetes
  ca "$pki/etcd/ca" etcd-ca
  ca "$pki/front-proxy-ca" front-proxy-ca
  leaf "$pki/apiserver" "$pki/ca" /CN=kube-apiserver 365 \
    DNS:cp1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1,IP:10.0.0.10
  leaf "$pki/apiserver-kubelet-client" "$pki/ca" "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client" 365
  leaf "$pki/apiserver-etcd-client" "$pki/etcd/ca" /CN=kube-apiserver-etcd-client 365
  leaf "$pki/etcd/server" "$pki/etcd/ca" /CN=cp1 365 DNS:cp1,DNS:localhost,IP:10.0.0.10,IP:127.0.0.1
  leaf "$pki/front-proxy-client" "$pki/front-proxy-ca" /CN=front-proxy-client 365
  q openssl genrsa -out "$pki/sa.key" 2048
  q openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
  chmod 600 "$pki/sa.key"
  if [ "$expired" = --expired ]; then
    leaf "$pki/old-client" "$pki/ca" /CN=old-client -1
  fi
  for who in admin:kubernetes-admin:/O=kubeadm:cluster-admins/CN=kubernetes-admin \
    controller-manager:system:kube-controller-manager:/CN=system:kube-controller-manager \
    scheduler:system:kube-scheduler:/CN=system:kube-scheduler; do
    file=${who%%:*} rest=${who#*:}
    user=${rest%%:/*} subject=/${rest#*:/}
    leaf "$k/$file-client" "$pki/ca" "$subject" 365
    kubeconfig "$k/$file.conf" "$user" "$k/$file-client.crt" "$k/$file-client.key"
    rm -f "$k/$file-client.crt" "$k/$file-client.key"
  done
  # The kubelet's client certificate lives beside the kubelet and is named through a link.
  kp=$root/var/lib/kubelet/pki
  leaf "$kp/client" "$pki/ca" "/O=system:nodes/CN=system:node:cp1" 365
  cat "$kp/client.crt" "$kp/client.key" >"$kp/kubelet-client-2026-12-06-08-00-00.pem"
  rm -f "$kp/client.crt" "$kp/client.key"
  chmod 600 "$kp/kubelet-client-2026-12-06-08-00-00.pem"
  ln -s /var/lib/kubelet/pki/kubelet-client-2026-12-06-08-00-00.pem "$kp/kubelet-client-current.pem"
  cat >"$k/kubelet.conf" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: default-cluster
  cluster:
    certificate-authority-data: $(b64 "$pki/ca.crt")
    server: https://10.0.0.10:6443
users:
- name: default-auth
  user:
    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem
    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem
EOF
  chmod 600 "$k/kubelet.conf"
  encryption_config "$k/enc/enc.yaml"
  audit_policy "$k/audit/policy.yaml" Metadata
  cat >"$k/manifests/kube-apiserver.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: kube-apiserver, namespace: kube-system}
spec:
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.36.0
    command:
    - kube-apiserver
    - --advertise-address=10.0.0.10
    - --client-ca-file=/etc/kubernetes/pki/ca.crt
    - --encryption-provider-config=/etc/kubernetes/enc/enc.yaml
    - --audit-policy-file=/etc/kubernetes/audit/policy.yaml
    - --etcd-servers=https://127.0.0.1:2379
    - --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt
    - --service-account-key-file=/etc/kubernetes/pki/sa.pub
    - --tls-cert-file=/etc/kubernetes/pki/apiserver.crt
    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key
EOF
  for c in etcd kube-controller-manager kube-scheduler; do
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: kube-system}\nspec:\n  containers:\n  - name: %s\n    command: [%s, --data-dir=/var/lib/etcd]\n' \
      "$c" "$c" "$c" >"$k/manifests/$c.yaml"
  done
  echo data >"$root/var/lib/etcd/member/db"
  ;;
k3s | rke2)
  d=$layout
  s=$root/var/lib/rancher/$d/server
  mkdir -p "$s/tls/etcd" "$s/cred" "$s/manifests" "$s/db" "$root/etc/rancher/$d"
  chmod 700 "$s/cred" "$s/tls"
  ca "$s/tls/server-ca" k3s-server-ca@1733472000
  ca "$s/tls/client-ca" k3s-client-ca@1733472000
  ca "$s/tls/request-header-ca" k3s-request-header-ca@1733472000
  ca "$s/tls/etcd/server-ca" etcd-server-ca@1733472000
  leaf "$s/tls/serving-kube-apiserver" "$s/tls/server-ca" /CN=kube-apiserver 365 DNS:kubernetes,IP:10.43.0.1
  leaf "$s/tls/client-admin" "$s/tls/client-ca" "/O=system:masters/CN=system:admin" 365
  q openssl genrsa -out "$s/tls/service.key" 2048
  chmod 600 "$s/tls/service.key"
  printf 'K10%s::server:0123456789abcdef\n' "$(printf '%064d' 7)" >"$s/token"
  chmod 600 "$s/token"
  ln -s "/var/lib/rancher/$d/server/token" "$s/node-token"
  cat >"$s/cred/encryption-config.json" <<EOF
{"kind":"EncryptionConfiguration","apiVersion":"apiserver.config.k8s.io/v1","resources":[{"resources":["secrets"],"providers":[{"aescbc":{"keys":[{"name":"aescbckey","secret":"$secret"}]}},{"identity":{}}]}]}
EOF
  chmod 600 "$s/cred/encryption-config.json"
  printf 'server,server,server\n' >"$s/cred/passwd"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: coredns, namespace: kube-system}\n' >"$s/manifests/coredns.yaml"
  echo sqlite >"$s/db/state.db"
  audit_policy "$root/etc/rancher/$d/audit.yaml" Metadata
  cat >"$root/etc/rancher/$d/config.yaml" <<EOF
write-kubeconfig-mode: "0644"
secrets-encryption: true
kube-apiserver-arg:
- "audit-policy-file=/etc/rancher/$d/audit.yaml"
- "audit-log-path=/var/log/$d-audit.log"
EOF
  if [ "$d" = rke2 ]; then
    pm=$root/var/lib/rancher/rke2/agent/pod-manifests
    mkdir -p "$pm" "$root/etc/rancher/rke2/policy"
    audit_policy "$root/etc/rancher/rke2/policy/static.yaml" None
    cat >"$pm/kube-apiserver.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: kube-apiserver, namespace: kube-system}
spec:
  containers:
  - name: kube-apiserver
    command: [kube-apiserver]
    args:
    - --encryption-provider-config=/var/lib/rancher/rke2/server/cred/encryption-config.json
    - --audit-policy-file=/etc/rancher/rke2/policy/static.yaml
    - --client-ca-file=/var/lib/rancher/rke2/server/tls/client-ca.crt
EOF
  fi
  ;;
*)
  echo "usage: $0 kubeadm|k3s|rke2 ROOT SECRET [--expired]" >&2
  exit 2
  ;;
esac
