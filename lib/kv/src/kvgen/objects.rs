//! The objects kv-gen writes, one function per kind: protobuf in the `k8s\0` envelope for
//! built-in kinds, JSON for CRDs and custom resources, ciphertext for encrypted Secrets.

use super::{CUSTOM, EXTRA_CRDS, GenOptions, ObjectKind, Rng};
use reshifter_k8s::pb::{Msg, k8s_envelope};

pub(super) struct ObjCtx<'a> {
    pub(super) name: &'a str,
    pub(super) namespace: Option<&'a str>,
    pub(super) small: bool,
}

pub(super) fn time(secs: i64) -> Msg {
    let mut t = Msg::new();
    t.int(1, secs).int(2, 0);
    t
}

/// ObjectMeta (k8s.io/apimachinery meta/v1): name 1, generateName 2, namespace 3, uid 5,
/// resourceVersion 6, generation 7, creationTimestamp 8, labels 11, annotations 12,
/// ownerReferences 13, finalizers 14, managedFields 17.
pub(super) fn meta(
    c: &ObjCtx,
    rng: &mut Rng,
    api: &str,
    owner: Option<(&str, &str)>,
    managed: &[(&str, usize)],
) -> Msg {
    let created = 1_760_000_000 + rng.below(10_000_000) as i64;
    let app = c.name.split('-').take(2).collect::<Vec<_>>().join("-");
    let mut m = Msg::new();
    m.str(1, c.name).str(2, "");
    if let Some(ns) = c.namespace {
        m.str(3, ns);
    }
    m.str(4, "").str(5, &rng.uid()).str(6, "").int(7, 1 + rng.below(5) as i64).msg(8, &time(created));
    if c.small {
        return m;
    }
    let labels = [
        ("app.kubernetes.io/name".to_string(), app.clone()),
        ("app.kubernetes.io/part-of".to_string(), format!("{}-suite", app.split('-').next().unwrap_or("app"))),
        ("pod-template-hash".to_string(), rng.hex(10)),
    ];
    m.map(11, &labels[..1 + rng.below(3) as usize]);
    if rng.chance(0.4) {
        m.map(
            12,
            &[("kubectl.kubernetes.io/last-applied-configuration", {
                let n = rng.len(200, 600);
                rng.text(n)
            })],
        );
    }
    if let Some((kind, owner_name)) = owner {
        let mut or = Msg::new();
        or.str(1, kind).str(3, owner_name).str(4, &rng.uid()).str(5, api).bool(6, true).bool(7, true);
        m.msg(13, &or);
    }
    for (manager, size) in managed {
        let mut mf = Msg::new();
        let mut fields = Msg::new();
        fields.bytes(1, managed_fields_json(rng, *size).as_bytes());
        mf.str(1, manager)
            .str(2, "Update")
            .str(3, api)
            .msg(4, &time(created + rng.below(1000) as i64))
            .str(6, "FieldsV1")
            .msg(7, &fields);
        m.msg(17, &mf);
    }
    m
}

/// A FieldsV1 JSON blob of about `size` bytes, as server-side apply records them.
pub(super) fn managed_fields_json(rng: &mut Rng, size: usize) -> String {
    let mut s = String::from("{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":{}}},\"f:spec\":{");
    let mut i = 0;
    while s.len() + 40 < size {
        s.push_str(&format!(
            "\"f:{}{}\":{{\".\":{{}},\"f:{}\":{{}}}},",
            rng.pick(&["containers", "env", "ports", "resources", "volumeMounts", "image", "name", "value"]),
            i,
            rng.suffix(4)
        ));
        i += 1;
    }
    s.push_str("\"f:x\":{}}}");
    s
}

pub(super) fn container(rng: &mut Rng, name: &str, rich: bool) -> Msg {
    let mut c = Msg::new();
    c.str(1, name).str(2, &format!("registry.example.com/{name}:v1.{}.{}", rng.below(30), rng.below(10)));
    if rich {
        c.strs(4, &["--config=/etc/app/config.yaml", "--log-level=info"]);
        let mut port = Msg::new();
        port.str(1, "http").int(3, 8080).str(4, "TCP");
        c.msg(6, &port);
        for i in 0..(3 + rng.below(12)) {
            let mut env = Msg::new();
            env.str(1, &format!("APP_SETTING_{i}")).str(2, &{
                let n = rng.len(10, 50);
                rng.text(n)
            });
            c.msg(7, &env);
        }
        let q = |v: &str| {
            let mut m = Msg::new();
            m.str(1, v);
            m
        };
        let mut res = Msg::new();
        res.map_msg(1, &[("cpu", q("500m")), ("memory", q("512Mi"))]);
        res.map_msg(2, &[("cpu", q("100m")), ("memory", q("128Mi"))]);
        c.msg(8, &res);
        for (n, path) in [("config", "/etc/app"), ("kube-api-access", "/var/run/secrets/kubernetes.io/serviceaccount")]
        {
            let mut vm = Msg::new();
            vm.str(1, n).bool(2, true).str(3, path);
            c.msg(9, &vm);
        }
        c.str(13, "/dev/termination-log").str(14, "IfNotPresent").str(20, "File");
    }
    c
}

pub(super) fn pod_spec(rng: &mut Rng, c: &ObjCtx) -> Msg {
    let mut s = Msg::new();
    let mut vol = Msg::new();
    vol.str(1, "kube-api-access");
    s.msg(1, &vol);
    let n = 1 + rng.below(3);
    for i in 0..n {
        s.msg(2, &container(rng, &format!("app{i}"), !c.small));
    }
    s.str(3, "Always")
        .int(4, 30)
        .str(6, "ClusterFirst")
        .str(8, "default")
        .str(10, &format!("ip-10-0-0-{}.ec2.internal", rng.below(200)));
    s.str(19, "default-scheduler");
    s
}

pub(super) fn object(kind: ObjectKind, c: &ObjCtx, rng: &mut Rng, o: &GenOptions) -> Vec<u8> {
    match kind {
        ObjectKind::Pod => pod(c, rng),
        ObjectKind::ReplicaSet | ObjectKind::Deployment | ObjectKind::Job => replica_set(kind, c, rng),
        ObjectKind::Service => service(c, rng),
        ObjectKind::Endpoints => endpoints(c, rng),
        ObjectKind::EndpointSlice => endpoint_slice(c, rng),
        ObjectKind::ConfigMap => config_map(c, rng),
        ObjectKind::Secret => secret(c, rng, o),
        ObjectKind::Event => event(c, rng),
        ObjectKind::ServiceAccount => service_account(c, rng),
        ObjectKind::Role | ObjectKind::ClusterRole => role(kind, c, rng),
        ObjectKind::RoleBinding | ObjectKind::ClusterRoleBinding => role_binding(kind, c, rng),
        ObjectKind::ControllerRevision => controller_revision(c, rng),
        ObjectKind::Namespace => namespace(c, rng),
        ObjectKind::Node => node(c, rng),
        ObjectKind::NodeLease => node_lease(c, rng),
        ObjectKind::PriorityClass => priority_class(c, rng),
        ObjectKind::RangeAllocation => range_allocation(c, rng),
        ObjectKind::MasterLease => master_lease(c, rng),
        ObjectKind::Crd(i) => crd(i, c, rng),
        ObjectKind::CustomResource(i) => custom_resource(i, c, rng),
    }
}

pub(super) fn pod(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let small = c.small;
    let mut m = Msg::new();
    let mf = [("kube-controller-manager", rich(rng.len(2500, 3000))), ("kubelet", rich(rng.len(2500, 3000)))];
    m.msg(1, &meta(c, rng, "v1", Some(("ReplicaSet", c.name)), if small { &[] } else { &mf }));
    m.msg(2, &pod_spec(rng, c));
    let mut st = Msg::new();
    st.str(1, "Running");
    if !small {
        for t in ["Initialized", "Ready", "ContainersReady", "PodScheduled"] {
            let mut cond = Msg::new();
            cond.str(1, t).str(2, "True").msg(4, &time(1_760_000_000));
            st.msg(2, &cond);
        }
        st.str(5, "10.0.1.17").str(6, &format!("10.244.{}.{}", rng.below(255), rng.below(255)));
        let mut cs = Msg::new();
        cs.str(1, "app0")
            .bool(4, true)
            .int(5, rng.below(3) as i64)
            .str(6, "registry.example.com/app:v1")
            .str(8, &format!("containerd://{}", rng.hex(64)));
        st.msg(8, &cs).str(9, "Burstable");
    }
    m.msg(3, &st);
    k8s_envelope("v1", "Pod", &m.into_bytes())
}

pub(super) fn replica_set(kind: ObjectKind, c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let small = c.small;
    let (api, k) = match kind {
        ObjectKind::ReplicaSet => ("apps/v1", "ReplicaSet"),
        ObjectKind::Deployment => ("apps/v1", "Deployment"),
        _ => ("batch/v1", "Job"),
    };
    let mut m = Msg::new();
    let mf = [("kube-controller-manager", rich(rng.len(3000, 3000)))];
    m.msg(
        1,
        &meta(
            c,
            rng,
            api,
            (kind == ObjectKind::ReplicaSet).then_some(("Deployment", c.name)),
            if small { &[] } else { &mf },
        ),
    );
    let mut tmpl = Msg::new();
    tmpl.msg(1, &meta(c, rng, "v1", None, &[])).msg(2, &pod_spec(rng, c));
    let mut spec = Msg::new();
    // The pod template is field 3 of Deployment and ReplicaSet specs, field 6 of JobSpec.
    spec.int(1, 1 + rng.below(5) as i64).msg(if kind == ObjectKind::Job { 6 } else { 3 }, &tmpl);
    m.msg(2, &spec);
    let mut st = Msg::new();
    if kind == ObjectKind::Job {
        // JobStatus: succeeded (field 1 is its conditions).
        st.int(5, 1);
    } else {
        st.int(1, 3).int(2, 3);
    }
    m.msg(3, &st);
    k8s_envelope(api, k, &m.into_bytes())
}

pub(super) fn service(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[("kubectl", rich(400))]));
    let mut spec = Msg::new();
    let mut port = Msg::new();
    let mut target = Msg::new();
    target.int(1, 0).int(2, 8080);
    port.str(1, "http").str(2, "TCP").int(3, 80).msg(4, &target);
    spec.msg(1, &port)
        .map(2, &[("app", c.name)])
        .str(3, &format!("10.96.{}.{}", rng.below(255), rng.below(255)))
        .str(4, "ClusterIP");
    m.msg(2, &spec);
    k8s_envelope("v1", "Service", &m.into_bytes())
}

pub(super) fn endpoints(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    let mut subset = Msg::new();
    for _ in 0..rich(1 + rng.below(8) as usize).max(1) {
        let mut a = Msg::new();
        let mut tr = Msg::new();
        tr.str(1, "Pod")
            .str(2, c.namespace.unwrap_or(""))
            .str(3, &format!("{}-{}", c.name, rng.suffix(5)))
            .str(4, &rng.uid());
        a.str(1, &format!("10.244.{}.{}", rng.below(255), rng.below(255)))
            .msg(2, &tr)
            .str(4, "ip-10-0-0-1.ec2.internal");
        subset.msg(1, &a);
    }
    let mut p = Msg::new();
    p.str(1, "http").int(2, 8080).str(3, "TCP");
    subset.msg(3, &p);
    m.msg(2, &subset);
    k8s_envelope("v1", "Endpoints", &m.into_bytes())
}

pub(super) fn endpoint_slice(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(
        1,
        &meta(c, rng, "discovery.k8s.io/v1", Some(("Service", c.name)), &[("endpointslice-controller", rich(600))]),
    );
    for _ in 0..rich(1 + rng.below(8) as usize).max(1) {
        let mut e = Msg::new();
        let mut cond = Msg::new();
        cond.bool(1, true);
        e.str(1, &format!("10.244.{}.{}", rng.below(255), rng.below(255))).msg(2, &cond);
        m.msg(2, &e);
    }
    m.str(4, "IPv4");
    k8s_envelope("discovery.k8s.io/v1", "EndpointSlice", &m.into_bytes())
}

pub(super) fn config_map(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let small = c.small;
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[("kubectl", rich(300))]));
    // Mostly small, some large (dashboards, CA bundles), rarely near etcd's limit.
    let size = if small {
        64
    } else if rng.chance(0.01) {
        200_000 + rng.below(300_000) as usize
    } else if rng.chance(0.1) {
        10_000 + rng.below(40_000) as usize
    } else {
        200 + rng.below(3000) as usize
    };
    m.map(2, &[("config.yaml", rng.text(size))]);
    k8s_envelope("v1", "ConfigMap", &m.into_bytes())
}

pub(super) fn secret(c: &ObjCtx, rng: &mut Rng, o: &GenOptions) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    let token = {
        let n = rich(rng.len(900, 2000)).max(32);
        rng.bytes(n)
    };
    m.map(2, &[("token", token.as_slice()), ("ca.crt", &rng.bytes(rich(1100))[..])])
        .str(3, "kubernetes.io/service-account-token");
    let plain = k8s_envelope("v1", "Secret", &m.into_bytes());
    if rng.chance(o.encrypted_share) {
        let iv: [u8; 16] = rng.bytes(16).try_into().expect("16 bytes");
        reshifter_k8s::atrest::aescbc_with_iv("key1", &super::at_rest_key(o.seed), iv, &plain)
    } else {
        plain
    }
}

pub(super) fn event(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    let mut io = Msg::new();
    io.str(1, "Pod")
        .str(2, c.namespace.unwrap_or(""))
        .str(3, c.name.split('.').next().unwrap_or(""))
        .str(4, &rng.uid())
        .str(5, "v1");
    let mut src = Msg::new();
    src.str(1, "kubelet").str(2, "ip-10-0-0-1.ec2.internal");
    let reason = *rng.pick(&["Pulled", "Created", "Started", "Killing", "BackOff", "Scheduled", "Unhealthy"]);
    m.msg(2, &io)
        .str(3, reason)
        .str(4, &{
            let n = rich(rng.len(60, 200)).max(8);
            rng.text(n)
        })
        .msg(5, &src);
    m.msg(6, &time(1_760_000_000)).msg(7, &time(1_760_000_100)).int(8, 1 + rng.below(20) as i64).str(9, "Normal");
    k8s_envelope("v1", "Event", &m.into_bytes())
}

pub(super) fn service_account(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    k8s_envelope("v1", "ServiceAccount", &m.into_bytes())
}

pub(super) fn role(kind: ObjectKind, c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "rbac.authorization.k8s.io/v1", None, &[]));
    for _ in 0..rich(2 + rng.below(8) as usize).max(1) {
        let mut r = Msg::new();
        r.strs(1, &["get", "list", "watch"])
            .strs(2, &[""])
            .strs(3, &[*rng.pick(&["pods", "configmaps", "secrets", "services"])]);
        m.msg(2, &r);
    }
    let k = if kind == ObjectKind::Role { "Role" } else { "ClusterRole" };
    k8s_envelope("rbac.authorization.k8s.io/v1", k, &m.into_bytes())
}

pub(super) fn role_binding(kind: ObjectKind, c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "rbac.authorization.k8s.io/v1", None, &[]));
    let mut s = Msg::new();
    s.str(1, "ServiceAccount").str(2, "").str(3, c.name).str(4, c.namespace.unwrap_or("kube-system"));
    let mut rr = Msg::new();
    rr.str(1, "rbac.authorization.k8s.io").str(2, "ClusterRole").str(3, "view");
    m.msg(2, &s).msg(3, &rr);
    let k = if kind == ObjectKind::RoleBinding { "RoleBinding" } else { "ClusterRoleBinding" };
    k8s_envelope("rbac.authorization.k8s.io/v1", k, &m.into_bytes())
}

pub(super) fn controller_revision(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "apps/v1", None, &[]));
    let mut raw = Msg::new();
    // A patch as the StatefulSet controller writes it: JSON (the text escaped as JSON).
    let patch = serde_json::json!({"spec": {"template": {"data": rng.text(rich(1500))}}});
    raw.bytes(1, patch.to_string().as_bytes());
    m.msg(2, &raw).int(3, 1 + rng.below(10) as i64);
    k8s_envelope("apps/v1", "ControllerRevision", &m.into_bytes())
}

pub(super) fn namespace(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    let mut spec = Msg::new();
    spec.str(1, "kubernetes");
    let mut st = Msg::new();
    st.str(1, "Active");
    m.msg(2, &spec).msg(3, &st);
    k8s_envelope("v1", "Namespace", &m.into_bytes())
}

pub(super) fn node(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[("kubelet", rich(3000)), ("kube-controller-manager", rich(800))]));
    let mut spec = Msg::new();
    spec.str(1, &format!("10.244.{}.0/24", rng.below(255))).str(3, &format!("aws:///eu-west-1a/i-{}", rng.hex(17)));
    let mut st = Msg::new();
    for _ in 0..rich(40) {
        let mut img = Msg::new();
        img.str(1, &format!("registry.example.com/{}@sha256:{}", rng.suffix(8), rng.hex(64)))
            .int(2, rng.below(500_000_000) as i64);
        st.msg(8, &img);
    }
    m.msg(2, &spec).msg(3, &st);
    k8s_envelope("v1", "Node", &m.into_bytes())
}

pub(super) fn node_lease(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "coordination.k8s.io/v1", None, &[]));
    let mut spec = Msg::new();
    spec.str(1, c.name).int(2, 40);
    m.msg(2, &spec);
    k8s_envelope("coordination.k8s.io/v1", "Lease", &m.into_bytes())
}

pub(super) fn priority_class(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "scheduling.k8s.io/v1", None, &[]));
    m.int(2, 2_000_000_000).bool(3, false).str(4, "Used for system critical pods.");
    k8s_envelope("scheduling.k8s.io/v1", "PriorityClass", &m.into_bytes())
}

pub(super) fn range_allocation(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    m.str(2, "10.96.0.0/12").bytes(3, &rng.bytes(rich(4096).max(16)));
    k8s_envelope("v1", "RangeAllocation", &m.into_bytes())
}

pub(super) fn master_lease(c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let mut m = Msg::new();
    m.msg(1, &meta(c, rng, "v1", None, &[]));
    k8s_envelope("v1", "Endpoints", &m.into_bytes())
}

pub(super) fn crd(i: usize, c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let (group, plural, kind) =
        if i < CUSTOM.len() { (CUSTOM[i].0, CUSTOM[i].1, CUSTOM[i].2) } else { EXTRA_CRDS[i - CUSTOM.len()] };
    let n = rich(rng.len(8000, 40_000));
    let schema = rng.text(n);
    serde_json::to_vec(&serde_json::json!({
        "kind": "CustomResourceDefinition",
        "apiVersion": "apiextensions.k8s.io/v1",
        "metadata": {"name": c.name, "uid": rng.uid(), "generation": 1,
                     "creationTimestamp": "2025-10-09T12:00:00Z"},
        "spec": {"group": group, "names": {"plural": plural, "kind": kind, "listKind": format!("{kind}List")},
                 "scope": "Namespaced",
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "description": schema}}}]},
        "status": {"acceptedNames": {"plural": plural, "kind": kind}}
    }))
    .expect("JSON")
}

pub(super) fn custom_resource(i: usize, c: &ObjCtx, rng: &mut Rng) -> Vec<u8> {
    let rich = |n: usize| if c.small { 0 } else { n };
    let (group, _, kind, version) = CUSTOM[i];
    let n = rich(rng.len(400, 2500));
    let settings = rng.text(n);
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": format!("{group}/{version}"),
        "kind": kind,
        "metadata": {"name": c.name, "namespace": c.namespace, "uid": rng.uid(), "generation": 1 + rng.below(5),
                     "creationTimestamp": "2025-10-09T12:00:00Z",
                     "labels": {"app.kubernetes.io/name": c.name}},
        "spec": {"settings": settings},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled"}]}
    }))
    .expect("JSON")
}
