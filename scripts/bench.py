#!/usr/bin/env python3
"""Benchmarks: reshifter beside its peers, on one machine, in one run.

Seeds a realistic Kubernetes keyspace with kv-gen into a throwaway etcd on loopback, then runs
each comparison REPEAT times, interleaving ours and the peer's, and prints medians of wall time,
peak RSS (from /usr/bin/time) and the ratio. Writes docs/BENCHMARKS.md.

    scripts/bench.py                  # 100k objects, 3 repeats (~10 minutes here)
    scripts/bench.py --objects 20000 --repeat 1 --only dump
    scripts/bench.py --scale          # also the 1M-small-keys memory run

Needs: release binaries (cargo build --release), etcd/etcdctl (Debian etcd-server, etcd-client),
GNU time, jq, zip; awscli and s3s-fs for the S3 section (skipped when missing).
"""

import argparse
import datetime
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The multi-call executable and a link per tool to it (made by `reshifter --install-links`).
MULTI = os.path.join(ROOT, "target", "release", "reshifter")
BIN = os.path.join(ROOT, "target", "release", "bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    """A throwaway etcd on loopback, stopped by its PID."""

    def __init__(self, work, name):
        self.dir = os.path.join(work, f"etcd-{name}")
        os.makedirs(self.dir, exist_ok=True)
        cp, pp = free_port(), free_port()
        self.endpoint = f"127.0.0.1:{cp}"
        peer = f"http://127.0.0.1:{pp}"
        log = open(os.path.join(self.dir, "etcd.log"), "w")
        self.proc = subprocess.Popen(
            ["etcd", "--name", name, "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", f"http://{self.endpoint}", "--advertise-client-urls", f"http://{self.endpoint}",
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"{name}={peer}", "--quota-backend-bytes", str(8 << 30)],
            stdout=subprocess.DEVNULL, stderr=log)
        for _ in range(100):
            if subprocess.run(["etcdctl", "--endpoints", self.endpoint, "endpoint", "health"],
                              capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise SystemExit(f"etcd {name} did not start")

    def count(self):
        out = subprocess.run(["etcdctl", "--endpoints", self.endpoint, "get", "", "--prefix", "--keys-only", "--limit", "1", "-w", "json"],
                             capture_output=True, text=True).stdout
        import json
        return json.loads(out).get("count", 0) if out else 0

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


S3_ENV = {"AWS_ACCESS_KEY_ID": "benchkey", "AWS_SECRET_ACCESS_KEY": "benchsecret0123456789", "AWS_REGION": "us-east-1",
          "AWS_EC2_METADATA_DISABLED": "true"}


class S3Server:
    """A throwaway s3s-fs on loopback serving `root` (with a bucket `bench`), stopped by its PID."""

    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "bench"))
        port = free_port()
        self.proc = subprocess.Popen(["s3s-fs", "--host", "127.0.0.1", "--port", str(port), "--access-key",
                                      S3_ENV["AWS_ACCESS_KEY_ID"], "--secret-key", S3_ENV["AWS_SECRET_ACCESS_KEY"], root],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        self.endpoint = f"http://127.0.0.1:{port}"

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def run_timed(cmd, env=None, stage=None):
    """Run a bash pipeline; every stage wrapped in GNU time. Returns (wall seconds, peak RSS KiB,
    stderr): the RSS of stage number `stage`, or the largest over the stages."""
    stages = cmd.split(" | ")
    tfiles = []
    wrapped = []
    for i, st in enumerate(stages):
        tf = tempfile.mktemp(prefix="bench-time-")
        tfiles.append(tf)
        wrapped.append(f"/usr/bin/time -f '%M' -o {tf} {st}")
    full = " | ".join(wrapped)
    e = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    if env:
        e.update(env)
    t0 = time.monotonic()
    p = subprocess.run(["bash", "-o", "pipefail", "-c", full], env=e, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {cmd}\n{p.stderr}")
    rss = []
    for tf in tfiles:
        with open(tf) as f:
            lines = [l for l in f.read().split() if l.isdigit()]
            rss.append(int(lines[-1]) if lines else 0)
        os.unlink(tf)
    return wall, (rss[stage] if stage is not None else max(rss)), p.stderr


# (comparison, ours label, ours (wall, rss), peer label, peer (wall, rss), goal, runs, section)
RESULTS = []
CURRENT = {"section": ""}
SIZES = []  # (what, bytes)
# make-mirror is stopped here; its time is then a lower bound (the ratio an upper bound).
MIRROR_CAP = 240


def med(xs):
    return statistics.median(xs)


def compare(section, ours_label, ours, peer_label, peer, repeat, goal, setup=None, spread=False):
    """Run ours and the peer `repeat` times, interleaved. `ours`/`peer` are commands or callables
    returning (wall, rss). `setup` runs before each single run (untimed)."""
    ow, orss, pw, prss = [], [], [], []
    for i in range(repeat):
        for which in (0, 1):
            cmd = ours if which == 0 else peer
            # The previous run's output is on disk before this one starts: a writeback of it
            # during the next run made single runs twice as slow.
            os.sync()
            if setup:
                setup(which)
            w, r = cmd() if callable(cmd) else run_timed(cmd)[:2]
            (ow if which == 0 else pw).append(w)
            (orss if which == 0 else prss).append(r)
            print(f"  {section}: {'ours' if which == 0 else 'peer'} run {i + 1}: {w:.2f} s, {r / 1024:.0f} MiB", flush=True)
    if spread:
        section = f"{section} (spread: ours {min(ow):.2f}–{max(ow):.2f} s, peer {min(pw):.2f}–{max(pw):.2f} s)"
    row = (section, ours_label, (med(ow), max(orss)), peer_label, (med(pw), max(prss)), goal, repeat, CURRENT["section"])
    RESULTS.append(row)
    print_row(row)
    return row


def print_row(row):
    section, ol, (ow, orss), pl, (pw, prss), goal, n, _ = row
    ratio = ow / pw if pw else float("nan")
    print(f"{section}: ours {ow:.2f} s / {orss / 1024:.0f} MiB  peer {pw:.2f} s / {prss / 1024:.0f} MiB  "
          f"ratio {ratio:.2f}x  (goal: {goal})", flush=True)


def table(rows=None):
    lines = ["| comparison | ours | wall (median) | peak RSS | peer | wall (median) | peak RSS | ours/peer | goal | runs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for section, ol, (ow, orss), pl, (pw, prss), goal, n, *_ in (rows if rows is not None else RESULTS):
        ratio = ow / pw if pw else float("nan")
        cell = lambda s: s.replace("|", "\\|")
        prss_text = f"{prss / 1024:.0f} MiB" if prss else "n/a"
        lines.append(f"| {cell(section)} | `{cell(ol)}` | {ow:.2f} s | {orss / 1024:.0f} MiB | `{cell(pl)}` | {pw:.2f} s | "
                     f"{prss_text} | {ratio:.2f}× | {goal} | {n} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", action="append", default=[], help="sections: dump, load, mirror, archive, filter, s3, watch, server, kubernetes, restore, node")
    ap.add_argument("--scale", action="store_true", help="also run the 1M-small-keys memory run")
    ap.add_argument("--no-write", action="store_true", help="do not write docs/BENCHMARKS.md")
    args = ap.parse_args()
    def want(sec):
        ok = not args.only or sec in args.only
        if ok:
            CURRENT["section"] = sec
        return ok

    if not os.path.exists(MULTI):
        raise SystemExit("target/release/reshifter is not built: run cargo build --release --locked --workspace")
    os.makedirs(BIN, exist_ok=True)
    subprocess.run([MULTI, "--install-links", BIN], check=True)
    work = tempfile.mkdtemp(prefix="reshifter-bench-", dir=os.environ.get("BENCH_DIR"))
    started = time.monotonic()
    servers = []
    try:
        gen = os.path.join(work, "gen.ndjson")
        w, r, _ = run_timed(f"kv-gen --objects {args.objects} --seed 1 -o {gen} --encryption-config-out {work}/enc.yaml")
        size = os.path.getsize(gen)
        print(f"kv-gen: {args.objects} objects, {size / 1e6:.0f} MB stream in {w:.1f} s", flush=True)
        src = Etcd(work, "src")
        servers.append(src)
        w, r, err = run_timed(f"etcd-load --endpoints {src.endpoint} {gen}")
        print(f"seeded: {err.strip()}", flush=True)
        ep = src.endpoint
        dumpf = os.path.join(work, "dump.ndjson")

        if want("dump"):
            compare("dump vs etcdctl get -w json", "etcd-dump > f", f"etcd-dump -q --endpoints {ep} > {dumpf}",
                    "etcdctl get '' --prefix -w json > f",
                    f"etcdctl --endpoints {ep} get '' --prefix -w json > {work}/get.json", args.repeat, "≤ 0.6× wall, ≤ 64 MiB")
            compare("dump vs etcdctl snapshot save", "etcd-dump -o f", f"etcd-dump -q --endpoints {ep} -o {dumpf}",
                    "etcdctl snapshot save f", f"etcdctl --endpoints {ep} snapshot save {work}/snap.db > /dev/null 2>&1",
                    args.repeat, "≤ 1.5× wall")
            os.unlink(os.path.join(work, "get.json"))

        if want("load") or want("mirror") or want("archive"):
            if not os.path.exists(dumpf):
                run_timed(f"etcd-dump -q --endpoints {ep} -o {dumpf}")
            if not os.path.exists(os.path.join(work, "snap.db")):
                run_timed(f"etcdctl --endpoints {ep} snapshot save {work}/snap.db > /dev/null 2>&1")

        targets = {}

        def fresh(which):
            old = targets.pop(which, None)
            if old:
                old.stop()
            targets[which] = Etcd(work, f"dst{which}")

        if want("load"):
            def load_ours():
                w, r, _ = run_timed(f"etcd-load -q --endpoints {targets[0].endpoint} {dumpf}")
                return w, r

            def restore_peer():
                d = os.path.join(work, "restored")
                shutil.rmtree(d, ignore_errors=True)
                w, r, _ = run_timed(f"etcdctl snapshot restore {work}/snap.db --data-dir {d} > /dev/null 2>&1")
                shutil.rmtree(d, ignore_errors=True)
                return w, r

            compare("load vs etcdctl snapshot restore (offline floor)", "etcd-load f", load_ours,
                    "etcdctl snapshot restore", restore_peer, args.repeat, "none (the offline floor)",
                    setup=lambda which: fresh(0) if which == 0 else None)

        if want("mirror"):
            def dump_load():
                w, r, _ = run_timed(f"etcd-dump -q --endpoints {ep} | etcd-load -q --endpoints {targets[0].endpoint}")
                return w, r

            want_keys = src.count()  # leases (e.g. the 15 s master lease) may have expired since seeding

            def mirror():
                dst = targets[1]
                t0 = time.monotonic()
                tf = tempfile.mktemp(prefix="bench-time-")
                p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", tf, "etcdctl", "--endpoints", ep, "make-mirror",
                                      dst.endpoint], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                while dst.count() < want_keys:
                    time.sleep(0.5)
                    if p.poll() is not None:
                        raise SystemExit("make-mirror exited")
                    if time.monotonic() - t0 > MIRROR_CAP:
                        print(f"  make-mirror: stopped at the {MIRROR_CAP} s cap with {dst.count()} of {want_keys} keys", flush=True)
                        break
                wall = time.monotonic() - t0
                # Stop etcdctl (not GNU time), so that time reports its peak RSS.
                subprocess.run(["pkill", "-TERM", "-P", str(p.pid)])
                p.wait()
                with open(tf) as f:
                    nums = [l for l in f.read().split() if l.isdigit()]
                os.unlink(tf)
                return wall, int(nums[-1]) if nums else 0

            compare("dump | load vs etcdctl make-mirror (empty target)", "etcd-dump | etcd-load", dump_load,
                    "etcdctl make-mirror", mirror, 1, "≥ 10× faster (ratio ≤ 0.1×)",
                    setup=lambda which: fresh(which))
        if want("archive"):
            zipf = os.path.join(work, "b.zip")
            # The RSS reported for a pipeline of ours is that of the stage the comparison is about.
            compare("dump | pack vs dump alone", "etcd-dump | archive-pack > b.zip (RSS: archive-pack)",
                    lambda: run_timed(f"etcd-dump -q --endpoints {ep} | archive-pack -q > {zipf}", stage=1)[:2],
                    "etcd-dump > f", f"etcd-dump -q --endpoints {ep} > {dumpf}", args.repeat,
                    "≤ 1.3× wall; pack ≤ 64 MiB")
            # What compression costs on 2 cores shared with etcd: the same without it.
            compare("dump | pack --level 0 (stored) vs dump alone", "etcd-dump | archive-pack --level 0 (RSS: archive-pack)",
                    lambda: run_timed(f"etcd-dump -q --endpoints {ep} | archive-pack -q --level 0 > {zipf}.0", stage=1)[:2],
                    "etcd-dump > f", f"etcd-dump -q --endpoints {ep} > {dumpf}", args.repeat,
                    "(informative: the CPU cost of deflate)")
            os.unlink(f"{zipf}.0")

            def unpack_load():
                w, r, _ = run_timed(f"archive-unpack -q < {zipf} | etcd-load -q --endpoints {targets[0].endpoint}", stage=0)
                return w, r

            def plain_load():
                w, r, _ = run_timed(f"etcd-load -q --endpoints {targets[1].endpoint} {dumpf}")
                return w, r

            compare("unpack | load vs load from a plain stream", "archive-unpack < b.zip | etcd-load (RSS: archive-unpack)", unpack_load,
                    "etcd-load f", plain_load, args.repeat, "≤ 1.2× wall; unpack ≤ 64 MiB",
                    setup=lambda which: fresh(which))
            # Archive size beside Info-ZIP over the same keys (one file per key).
            tree = os.path.join(work, "tree")
            run_timed(f"bash -c 'mkdir -p {tree} && cd {tree} && unzip -q {zipf}'")
            izip = os.path.join(work, "infozip.zip")
            w_iz, _, _ = run_timed(f"bash -c 'cd {tree} && zip -q -r {izip} .'")
            SIZES.append(("archive-pack (deflate, default level 1)", os.path.getsize(zipf)))
            zl6 = os.path.join(work, "b6.zip")
            run_timed(f"archive-pack -q --level 6 {dumpf} -o {zl6}")
            SIZES.append(("archive-pack --level 6", os.path.getsize(zl6)))
            zz = os.path.join(work, "bz.zip")
            run_timed(f"archive-pack -q --compression zstd {dumpf} -o {zz}")
            SIZES.append(("archive-pack --compression zstd (level 3)", os.path.getsize(zz)))
            SIZES.append((f"zip -r (Info-ZIP, level 6) of the extracted keys, {w_iz:.1f} s", os.path.getsize(izip)))
            SIZES.append(("the stream itself (NDJSON)", os.path.getsize(dumpf)))
            shutil.rmtree(tree, ignore_errors=True)
            for f in (izip, zl6, zz):
                os.unlink(f)

        for t in targets.values():
            t.stop()
        targets.clear()

        if want("filter"):
            ns = "default"
            jqf = os.path.join(ROOT, "scripts", "bench-namespace.jq")
            compare("kv-filter vs jq", f"kv-filter --namespace {ns} --exclude-resource events",
                    f"kv-filter -q --namespace {ns} --exclude-resource events {gen} > {work}/f1.ndjson",
                    "jq -c -f bench-namespace.jq", f"jq -c --arg ns {ns} -f {jqf} {gen} > {work}/f2.ndjson",
                    args.repeat, "≥ 10× faster (ratio ≤ 0.1×), constant memory")
            same = subprocess.run(["bash", "-c", f"diff <(grep -v '\"type\"' {work}/f1.ndjson) <(grep -v '\"type\"' {work}/f2.ndjson) >/dev/null"]).returncode == 0
            print(f"kv-filter and jq select the same records: {same}", flush=True)
            if not same:
                raise SystemExit("kv-filter and jq disagree")
            compare("kv-stats vs wc -l", "kv-stats f", f"kv-stats {gen} > /dev/null", "wc -l f", f"wc -l {gen} > /dev/null",
                    args.repeat, "≥ 0.5× the throughput of wc -l (ratio ≤ 2×)")

        if want("s3"):
            s3_section(work, args)

        if want("watch"):
            watch_section(work, args, gen)

        if want("server"):
            server_section(work, args, gen)

        if want("kubernetes"):
            kubernetes_section(work, args, gen, ep)

        if want("node"):
            node_section(work, args)

        if want("restore"):
            restore_section(work, args, gen)

        if args.scale:
            scale(work, args)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    total = time.monotonic() - started
    print("\n" + table())
    print(f"\ntotal {total / 60:.1f} min")
    if not args.no_write:
        write_doc(args, total)


SCALE = []


def drop_caches():
    """A cold start: what was read before is read from disk again (when allowed)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass


def restore_section(work, args, gen):
    """Issue 27: a restore beside etcd's own write ceiling (a minimal writer: puts only, the keys
    already in memory; lib/etcd/examples/write_ceiling.rs), the offline floor (etcdctl snapshot
    restore of a snapshot of a fresh etcd holding exactly the keyspace), and the README's restore
    paths. Every run starts cold: a fresh etcd, caches dropped. At least 5 runs, alternating."""
    runs = max(args.repeat, 5)
    subprocess.run(["cargo", "build", "--release", "--locked", "-q", "-p", "reshifter-etcd", "--example", "write_ceiling"],
                   cwd=ROOT, check=True)
    writer = os.path.join(ROOT, "target", "release", "examples", "write_ceiling")
    f, snap, zipf = (os.path.join(work, n) for n in ("restore.ndjson", "restore-snap.db", "restore.zip"))
    src = Etcd(work, "restore-src")
    try:
        run_timed(f"etcd-load -q --endpoints {src.endpoint} {gen}")
        run_timed(f"etcd-dump -q --endpoints {src.endpoint} -o {f}")
        run_timed(f"etcdctl --endpoints {src.endpoint} snapshot save {snap} > /dev/null 2>&1")
        run_timed(f"archive-pack -q {f} -o {zipf}")
    finally:
        src.stop()
    target = {}

    def fresh(which, preload=False, cold=True):
        old = target.pop(0, None)
        if old:
            old.stop()
        target[0] = Etcd(work, f"restore{which}")
        if preload:
            run_timed(f"etcd-load -q --endpoints {target[0].endpoint} {f}")
        if cold:
            drop_caches()
        else:
            os.sync()

    def load(extra=""):
        return lambda: run_timed(f"etcd-load -q {extra} --endpoints {target[0].endpoint} {f}")[:2]

    def ceiling(mode="memory"):
        def run():
            out = subprocess.run([writer, target[0].endpoint, f, "128", "32", "1", mode], capture_output=True, text=True,
                                 check=True)
            return float(out.stdout.split()[0]), 0
        return run

    def floor():
        d = os.path.join(work, "restored")
        shutil.rmtree(d, ignore_errors=True)
        w, r, _ = run_timed(f"etcdctl snapshot restore {snap} --data-dir {d} > /dev/null 2>&1")
        shutil.rmtree(d, ignore_errors=True)
        return w, r

    ceiling_label = "write_ceiling: puts only, 128 per txn, 32 in flight, keys in memory"
    compare("restore into an empty etcd vs etcd's write ceiling", "etcd-load f", load(), ceiling_label, ceiling(), runs,
            "≤ 1.1×", setup=lambda w: fresh(w), spread=True)
    compare("restore into an empty etcd vs the write ceiling of a client restoring from the file",
            "etcd-load f", load(), "write_ceiling stream: puts only, the stream read and its digests checked as it writes",
            ceiling("stream"), runs, "≤ 1.1×", setup=lambda w: fresh(w), spread=True)
    compare("restore into an empty etcd vs etcdctl snapshot restore (offline floor)", "etcd-load f", load(),
            "etcdctl snapshot restore (snapshot of exactly the keyspace)", floor, runs, "≤ 1.2×",
            setup=lambda w: fresh(w) if w == 0 else drop_caches(), spread=True)
    # Over a live keyspace the target's caches are warm, as a running etcd's are.
    compare("restore over the same keyspace (--mode sync, keys unchanged; etcd warm) vs etcd's write ceiling into an empty etcd",
            "etcd-load --mode sync f", load("--mode sync"), ceiling_label, ceiling(), runs, "≤ 1.1×",
            setup=lambda w: fresh(w, preload=(w == 0), cold=(w == 1)), spread=True)
    compare("archive-unpack | etcd-load vs etcd-load f", "archive-unpack < b.zip | etcd-load",
            lambda: run_timed(f"archive-unpack -q < {zipf} | etcd-load -q --endpoints {target[0].endpoint}")[:2],
            "etcd-load f", load(), runs, "≤ 1.2×", setup=lambda w: fresh(w), spread=True)
    if shutil.which("s3s-fs"):
        server = S3Server(os.path.join(work, "restore-s3"))
        env, ep = S3_ENV, server.endpoint
        try:
            run_timed(f"s3-push -q --endpoint {ep} s3://bench/b.zip < {zipf}", env=env)
            compare("s3-pull | archive-unpack | etcd-load vs etcd-load f", "s3-pull s3://… | archive-unpack | etcd-load",
                    lambda: run_timed(f"s3-pull -q --endpoint {ep} s3://bench/b.zip | archive-unpack -q | etcd-load -q --endpoints {target[0].endpoint}", env=env)[:2],
                    "etcd-load f", load(), runs, "≤ 1.2×", setup=lambda w: fresh(w), spread=True)
        finally:
            server.stop()
    else:
        print("restore: the S3 path skipped (needs s3s-fs: scripts/install-s3s-fs.sh)", flush=True)
    for t in target.values():
        t.stop()
    for p in (f, snap, zipf):
        os.unlink(p)


def s3_section(work, args):
    """Push and pull of a ≥1 GB stream through a pipe, ours beside awscli, same s3s-fs server."""
    if not shutil.which("s3s-fs") or not shutil.which("aws"):
        print("s3: skipped (needs s3s-fs: scripts/install-s3s-fs.sh, and awscli: pip install awscli)", flush=True)
        return
    server = S3Server(os.path.join(work, "s3root"))
    root, ep, env = server.root, server.endpoint, S3_ENV
    os.environ.update(env)
    try:
        data = os.path.join(work, "s3-input")
        # ≥ 1 GB of archive-like (incompressible) bytes.
        run_timed(f"head -c 1100000000 /dev/urandom > {data}")
        n = [0]

        def rm_objects():
            for f in os.listdir(os.path.join(root, "bench")):
                os.unlink(os.path.join(root, "bench", f))

        def push_ours():
            n[0] += 1
            w, r, _ = run_timed(f"cat {data} | s3-push -q --endpoint {ep} s3://bench/ours")
            return w, r

        def push_aws():
            w, r, _ = run_timed(f"cat {data} | aws --endpoint-url {ep} s3 cp - s3://bench/aws")
            return w, r

        compare("s3-push vs aws s3 cp - (1.1 GB, pipe)", "cat f | s3-push s3://…", push_ours, "cat f | aws s3 cp - s3://…", push_aws,
                args.repeat, "≥ 1× awscli throughput (ratio ≤ 1×), ≤ 128 MiB", setup=lambda which: rm_objects() if which == 0 else None)
        # A reshifter stream: s3-push reads it through to its digests as it uploads (issue 22).
        gen = os.path.join(work, "gen.ndjson")

        def push_stream_ours():
            w, r, _ = run_timed(f"cat {gen} | s3-push -q --endpoint {ep} s3://bench/stream-ours")
            return w, r

        def push_stream_aws():
            w, r, _ = run_timed(f"cat {gen} | aws --endpoint-url {ep} s3 cp - s3://bench/stream-aws")
            return w, r

        compare("s3-push of a stream, digests checked as it streams, vs aws s3 cp -", "cat stream | s3-push s3://…",
                push_stream_ours, "cat stream | aws s3 cp - s3://…", push_stream_aws, args.repeat,
                "≥ 1× awscli throughput (ratio ≤ 1×), ≤ 160 MiB")
        compare("s3-pull vs aws s3 cp … - (1.1 GB, pipe)", "s3-pull s3://… | cat", f"s3-pull -q --endpoint {ep} s3://bench/ours | cat > /dev/null",
                "aws s3 cp s3://… - | cat", f"aws --endpoint-url {ep} s3 cp s3://bench/aws - | cat > /dev/null", args.repeat,
                "≥ 1× awscli throughput (ratio ≤ 1×), ≤ 128 MiB")
        os.unlink(data)
    finally:
        server.stop()
        for k in env:
            os.environ.pop(k, None)


def scale(work, args):
    """Memory stays flat as the keyspace grows 10×: dump and load of 100k and 1M small keys."""
    for n in (100_000, 1_000_000):
        gen = os.path.join(work, f"small-{n}.ndjson")
        run_timed(f"kv-gen --small --objects {n} -o {gen}")
        e = Etcd(work, f"scale{n}")
        try:
            lw, lr, _ = run_timed(f"etcd-load -q --endpoints {e.endpoint} {gen}")
            dw, dr, _ = run_timed(f"etcd-dump -q --endpoints {e.endpoint} -o {work}/scale-dump.ndjson")
            SCALE.append((n, os.path.getsize(gen), lw, lr, dw, dr))
            print(f"scale {n}: load {lw:.1f} s {lr / 1024:.0f} MiB, dump {dw:.1f} s {dr / 1024:.0f} MiB", flush=True)
        finally:
            e.stop()
            os.unlink(gen)


WATCH = []  # (label, events, write seconds, events/s, watch lag at the end of the writes)


def header_revision(path):
    import json
    with open(path, "rb") as f:
        return json.loads(f.readline())["revision"]


def current_revision(ep):
    import json
    out = subprocess.run(["etcdctl", "--endpoints", ep, "get", "x", "-w", "json"], capture_output=True, text=True).stdout
    return json.loads(out)["header"]["revision"]


class Watcher:
    """etcd-watch running live; its progress line (RESHIFTER_PROGRESS=1) tells, with a time, the
    revision up to which it has received every change."""

    def __init__(self, args_):
        import re
        import threading
        env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", RESHIFTER_PROGRESS="1")
        self.tf = tempfile.mktemp(prefix="bench-time-")
        self.p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", self.tf, "etcd-watch"] + args_, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.seen = []
        pat = re.compile(rb"revision (\d+)")

        def read():
            buf = b""
            while True:
                c = self.p.stderr.read(1)
                if not c:
                    return
                if c in (b"\r", b"\n"):
                    m = pat.search(buf)
                    if m:
                        self.seen.append((time.monotonic(), int(m.group(1))))
                    buf = b""
                else:
                    buf += c
        self.t = threading.Thread(target=read, daemon=True)
        self.t.start()

    def reached(self, rev, timeout=120):
        """When the watcher first reported `rev` or more (waits for it)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            for t, r in list(self.seen):
                if r >= rev:
                    return t
            time.sleep(0.05)
        raise SystemExit(f"etcd-watch did not reach revision {rev}")

    def stop(self):
        """SIGTERM: etcd-watch closes its open segment at the newest confirmed revision."""
        subprocess.run(["pkill", "-TERM", "-P", str(self.p.pid)])
        self.p.wait()
        with open(self.tf) as f:
            nums = [l for l in f.read().split() if l.isdigit()]
        os.unlink(self.tf)
        return int(nums[-1]) if nums else 0


def watch_section(work, args, gen):
    """Continuous backup: etcd-watch live while etcd takes writes as fast as it can (its own
    ceiling, batched and one key per revision), then point in time (kv-apply beside etcd-dump
    --rev) and drift (kv-diff beside diff)."""
    e = Etcd(work, "watch")
    try:
        ep = e.endpoint
        run_timed(f"etcd-load -q --endpoints {ep} {gen}")
        base = os.path.join(work, "w-base.ndjson")
        run_timed(f"etcd-dump -q --endpoints {ep} -o {base}")
        b = header_revision(base)
        segs = os.path.join(work, "segs")
        os.makedirs(segs)
        # Progress asked for every 100 ms: the lag below is measured to within its 200 ms redraw.
        w = Watcher(["--endpoints", ep, "--from-rev", str(b), "-o", segs, "--segment-bytes", "64MB", "--progress-interval", "100ms"])
        # A small change set, for kv-diff.
        run_timed(f"kv-gen --objects 1000 --seed 3 | etcd-load -q --endpoints {ep}")
        changed = os.path.join(work, "w-changed.ndjson")
        run_timed(f"etcd-dump -q --endpoints {ep} -o {changed}")
        for label, n, flags in (("batched transactions (etcd-load, 128 keys each)", 1_000_000, ""),
                                ("one key per revision (etcd-load --max-txn-ops 1)", 20_000, "--max-txn-ops 1")):
            src = os.path.join(work, "w-writes.ndjson")
            run_timed(f"kv-gen --small --objects {n} --seed {n} -o {src}")
            t0 = time.monotonic()
            run_timed(f"etcd-load -q {flags} --endpoints {ep} {src}")
            t1 = time.monotonic()
            f = current_revision(ep)
            lag = w.reached(f) - t1
            WATCH.append((label, n, t1 - t0, n / (t1 - t0), max(lag, 0.0)))
            print(f"watch: {label}: {n} keys in {t1 - t0:.1f} s ({n / (t1 - t0):.0f}/s); etcd-watch lag at the end "
                  f"{lag:.2f} s", flush=True)
            os.unlink(src)
        final = current_revision(ep)
        w.reached(final)
        rss = w.stop()
        WATCH.append(("etcd-watch peak RSS, the whole run", 0, 0.0, 0.0, float(rss)))
        print(f"watch: etcd-watch peak RSS {rss / 1024:.0f} MiB", flush=True)
        applied, dumped = os.path.join(work, "applied.ndjson"), os.path.join(work, "dumped.ndjson")
        compare("kv-apply (base 100k objects + 1M events) vs etcd-dump --rev", "kv-apply --to-rev R base segments",
                f"kv-apply -q --to-rev {final} {base} {segs}/delta-*.ndjson > {applied}",
                "etcd-dump --rev R", f"etcd-dump -q --endpoints {ep} --rev {final} > {dumped}", args.repeat,
                "bounded memory; same records as etcd-dump --rev")
        same = subprocess.run(["bash", "-c", f"diff <(tail -1 {applied} | jq -c '[.count,.sha256,.meta_sha256]') "
                                             f"<(tail -1 {dumped} | jq -c '[.count,.sha256,.meta_sha256]')"]).returncode == 0
        print(f"kv-apply and etcd-dump --rev give the same records: {same}", flush=True)
        if not same:
            raise SystemExit("kv-apply and etcd-dump --rev disagree")
        compare("kv-diff vs diff (two 100k-object dumps, 1000 objects apart)", "kv-diff a b",
                f"kv-diff -q {base} {changed} > /dev/null; test $? -le 1", "diff a b",
                f"diff {base} {changed} > /dev/null; test $? -le 1", args.repeat, "≤ 1× diff's wall, constant memory")
        for f in (applied, dumped, base, changed):
            os.unlink(f)
        shutil.rmtree(segs, ignore_errors=True)
    finally:
        e.stop()


SERVER = []  # (what, KiB)


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def server_section(work, args, gen):
    """A backup through reshifter-server (POST /v1/backup: dump | pack in-process) beside the same
    pipeline in a shell, and the server's memory at idle and over the backups."""
    import json
    import urllib.request
    e = Etcd(work, "server")
    store = os.path.join(work, "server-store")
    port = free_port()
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    p = subprocess.Popen([os.path.join(BIN, "reshifter-server"), "--insecure-no-auth", "--quiet", "--listen", f"127.0.0.1:{port}",
                          "--store", store, "--etcd", f"http://{e.endpoint}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run_timed(f"etcd-load -q --endpoints {e.endpoint} {gen}")
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        idle = proc_kib(p.pid, "VmRSS")

        def via_server():
            t0 = time.monotonic()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/backup", data=b"{}", headers={"Content-Type": "application/json"})
            answer = json.loads(urllib.request.urlopen(req, timeout=600).read())
            if answer.get("outcome") != "success":
                raise SystemExit(f"server backup failed: {answer}")
            return time.monotonic() - t0, proc_kib(p.pid, "VmHWM")

        compare("backup through reshifter-server vs the same pipeline in a shell", "POST /v1/backup (RSS: the server)", via_server,
                "etcd-dump --prefix /registry/ | archive-pack -o f",
                f"etcd-dump -q --endpoints {e.endpoint} --prefix /registry/ | archive-pack -q -o {work}/shell.zip",
                args.repeat, "≤ 1.1× wall; server memory bounded")
        SERVER.append(("idle, after start", idle))
        SERVER.append(("peak over the backups (VmHWM)", proc_kib(p.pid, "VmHWM")))
        SERVER.append(("idle, after the backups", proc_kib(p.pid, "VmRSS")))
        print(f"server RSS: idle {idle / 1024:.0f} MiB, peak {SERVER[-2][1] / 1024:.0f} MiB, after {SERVER[-1][1] / 1024:.0f} MiB", flush=True)
    finally:
        p.kill()
        p.wait()
        e.stop()
        shutil.rmtree(store, ignore_errors=True)


BUMP = []  # (margin, wall, revisions/s, peak RSS KiB)


def kubernetes_section(work, args, gen, ep):
    """Issue 13: how fast etcd-load --bump-revision raises a fresh etcd's revision (filler writes),
    beside writing as many revisions as single-key transactions; and the default margin."""
    tiny = os.path.join(work, "tiny.ndjson")
    run_timed(f"etcd-dump -q --endpoints {ep} --prefix /registry/namespaces/ -o {tiny}")  # a few keys, with a revision
    n = 200_000
    many = os.path.join(work, "small-200k.ndjson")
    run_timed(f"kv-gen --small --objects {n} -o {many}")
    fresh = {}

    def setup(which):
        if "e" in fresh:
            fresh["e"].stop()
        fresh["e"] = Etcd(work, f"bump{which}")

    def bump():
        e = fresh["e"]
        w, r, _ = run_timed(f"etcd-load -q --endpoints {e.endpoint} --bump-revision={n} --mark-compacted {tiny}")
        return w, r

    def singles():
        e = fresh["e"]
        w, r, _ = run_timed(f"etcd-load -q --endpoints {e.endpoint} --max-txn-ops 1 --concurrency 64 {many}")
        return w, r

    rot = os.path.join(work, "rotated.yaml")
    with open(rot, "w") as f:
        f.write("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n"
                "  providers:\n  - secretbox:\n      keys:\n      - name: box2\n        secret: " + "A" * 43 + "=\n")
    compare("kv-rekey of every encrypted Secret (aescbc → secretbox) vs copying the stream", f"kv-rekey --from enc --to rotated < f",
            f"kv-rekey -q --from {work}/enc.yaml --to {rot} {gen} -o {work}/rekeyed.ndjson",
            "kv-filter < f (a copy)", f"kv-filter -q {gen} -o {work}/copied.ndjson", args.repeat, "≤ 1.5× a copy, flat memory")
    dec = os.path.join(work, "decoded.ndjson")
    compare("kv-decode (every object as JSON, Secrets decrypted) vs jq -c . (parse and print every line)",
            "kv-decode --encryption-config enc < f", f"kv-decode -q --encryption-config {work}/enc.yaml {gen} -o {dec}",
            "jq -c . < f", f"jq -c . {gen} > {work}/jq.ndjson", args.repeat, "≤ 1× jq's wall, flat memory")
    compare("kv-encode of the decoded stream (every object checked, none changed) vs a copy", "kv-encode < decoded",
            f"kv-encode -q --encryption-config {work}/enc.yaml {dec} -o {work}/encoded.ndjson",
            "kv-filter < f (a copy)", f"kv-filter -q {gen} -o {work}/copied.ndjson", args.repeat,
            "≤ 2× a copy, flat memory; the input again")
    same = subprocess.run(["cmp", "-s", gen, os.path.join(work, "encoded.ndjson")]).returncode == 0
    print(f"kv-decode | kv-encode gives the input back byte for byte: {same}", flush=True)
    if not same:
        raise SystemExit("kv-encode did not give the input back")
    # Every object edited (a finalizer added to each object's metadata, the first `"metadata":{` of
    # each line): every object is parsed, compared with its value and encoded again.
    edited = os.path.join(work, "edited.ndjson")
    subprocess.run(["bash", "-c", f"sed 's/\"metadata\":{{/\"metadata\":{{\"finalizers\":[\"bench\"],/' {dec} > {edited}"], check=True)
    compare("kv-encode with every object edited vs kv-decode", "kv-encode < edited",
            f"kv-encode -q --encryption-config {work}/enc.yaml {edited} -o {work}/encoded.ndjson",
            "kv-decode < f", f"kv-decode -q --encryption-config {work}/enc.yaml {gen} -o {dec}", args.repeat,
            "≤ 1× kv-decode's wall, flat memory")
    os.unlink(edited)
    kms_v2_section(work, args, gen)
    sel = "app.kubernetes.io/name=web-0"
    compare("kv-filter -l (label selector on decoded objects) vs kv-decode | jq select", f"kv-filter -l {sel} < f",
            f"kv-filter -q --encryption-config {work}/enc.yaml -l {sel} {gen} -o {work}/sel.ndjson",
            "kv-decode < f | jq -c select(.object.metadata.labels[...] == ...)",
            f"kv-decode -q --encryption-config {work}/enc.yaml {gen} | jq -c 'select(.object.metadata.labels[\"app.kubernetes.io/name\"] == \"web-0\")' > {work}/sel-jq.ndjson",
            args.repeat, "≤ 0.5× the jq pipeline")
    for f in (dec, os.path.join(work, "jq.ndjson"), os.path.join(work, "encoded.ndjson"), os.path.join(work, "sel.ndjson"),
              os.path.join(work, "sel-jq.ndjson")):
        if os.path.exists(f):
            os.unlink(f)
    try:
        compare(f"raise the revision by {n} (--bump-revision, --mark-compacted) vs {n} one-key txns",
                f"etcd-load --bump-revision={n} --mark-compacted", bump,
                f"etcd-load --max-txn-ops 1 --concurrency 64 ({n} keys)", singles, args.repeat,
                "as fast as etcd takes single writes", setup=setup)
        for margin in (1_000_000,):
            setup("default")
            e = fresh["e"]
            w, r, err = run_timed(f"etcd-load --endpoints {e.endpoint} --bump-revision --mark-compacted {tiny}")
            BUMP.append((margin, w, margin / w, r))
            print(f"bump by the default margin {margin}: {w:.1f} s, {margin / w:.0f} revisions/s, {r / 1024:.0f} MiB; {err.strip()}", flush=True)
    finally:
        if "e" in fresh:
            fresh["e"].stop()
        os.unlink(many)


SECTION_ORDER = ["dump", "load", "mirror", "archive", "filter", "s3", "watch", "server", "kubernetes", "restore", "node"]


def node_section(work, args):
    """A control-plane node's files: a kubeadm tree made with openssl (tests/helpers/
    control_plane.sh, 41 paths), and 20,000 files of 2 KiB under it for the per-file cost.
    node-dump and node-load against tar (which checks nothing and writes no digests), node-stats
    against openssl run once per certificate (how it is done by hand)."""
    root = os.path.join(work, "node")
    subprocess.run(["sh", os.path.join(ROOT, "tests", "helpers", "control_plane.sh"), "kubeadm", root,
                    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "--expired"], check=True)
    bulk = os.path.join(root, "srv", "bulk")
    for d in range(100):
        os.makedirs(os.path.join(bulk, f"d{d:02}"))
        for f in range(200):
            with open(os.path.join(bulk, f"d{d:02}", f"f{f:03}.pem"), "wb") as out:
                out.write(os.urandom(1536).hex().encode()[:2048])
    out, tarf, dst = os.path.join(work, "node.ndjson"), os.path.join(work, "node.tar"), os.path.join(work, "node-dst")
    compare("node-dump of a kubeadm control plane (41 paths) vs tar -c", "node-dump --root R -o f",
            f"node-dump -q --root {root} -o {out}", "tar -C R -cf f etc/kubernetes var/lib/kubelet/pki",
            f"tar -C {root} -cf {tarf} etc/kubernetes var/lib/kubelet/pki", max(args.repeat, 5), "≤ 2× tar")
    compare("node-dump of 20,000 files of 2 KiB (41 MB) vs tar -c", "node-dump --include 'srv/bulk/**' -o f",
            f"node-dump -q --root {root} --layout none --include 'srv/bulk/**' -o {out}", "tar -C R -cf f srv/bulk",
            f"tar -C {root} -cf {tarf} srv/bulk", args.repeat, "≤ 2× tar")
    clean = lambda which: subprocess.run(["rm", "-rf", dst], check=True)
    compare("node-load of those 20,000 files into an empty directory vs tar -x", "node-load --root D f",
            f"node-load -q --root {dst} {out}", "tar -C D -xpf f", f"mkdir -p {dst} && tar -C {dst} -xpf {tarf}",
            args.repeat, "≤ 2× tar", setup=clean)
    run_timed(f"node-dump -q --root {root} -o {out}")
    certs = subprocess.run(["find", root, "-name", "*.crt", "-not", "-path", "*/bulk/*"], capture_output=True, text=True).stdout.split()
    loop = " ".join(certs)
    compare(f"node-stats of the kubeadm tree vs openssl x509 once per certificate ({len(certs)} certificates)",
            "node-stats f", f"node-stats {out} > /dev/null",
            "for c in *.crt; do openssl x509 -noout -subject -issuer -enddate -ext subjectAltName -in $c; done",
            f"bash -c 'for c in {loop}; do openssl x509 -noout -subject -issuer -enddate -ext subjectAltName -in $c; done > /dev/null'",
            max(args.repeat, 5), "≤ 1× the openssl loop")
    subprocess.run(["rm", "-rf", root, dst, out, tarf], check=True)


def kms_v2_section(work, args, gen):
    """KMS v2 through a local plugin (tests/helpers/kms_plugin.py): the generated Secrets moved to
    KMS v2 (one seed the plugin wraps for the run), then read back to aescbc: every value opened
    through the plugin, each distinct wrapped seed asked once."""
    sock = os.path.join(work, "kms.sock")
    kek = "S01TLXYyLWJlbmNoLWtleS0zMi1ieXRlcy1sb25nLiE="
    plugin = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests", "helpers", "kms_plugin.py"), sock, kek],
                              stdout=subprocess.PIPE, text=True)
    try:
        if plugin.stdout.readline() != "ready\n":
            raise SystemExit("the KMS plugin did not start")
        v2 = os.path.join(work, "kmsv2.yaml")
        with open(v2, "w") as f:
            f.write("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n"
                    f"  providers:\n  - kms:\n      apiVersion: v2\n      name: bench\n      endpoint: unix://{sock}\n"
                    "  - identity: {}\n")
        sealed = os.path.join(work, "kmsv2.ndjson")
        run_timed(f"kv-rekey -q --encrypt-identity --from {work}/enc.yaml --to {v2} {gen} -o {sealed}")
        out = subprocess.run(["bash", "-c", f"PATH={BIN}:$PATH kv-stats --json {sealed}"], capture_output=True, text=True, check=True).stdout
        import json
        secrets = json.loads(out)["encodings"]["encrypted_keys"]["kms/bench"]["keys"]
        row = compare("kv-rekey from KMS v2 (every Secret opened through a local plugin) vs a copy",
                      "kv-rekey --from kmsv2.yaml --to enc.yaml < f", f"kv-rekey -q --from {v2} --to {work}/enc.yaml {sealed} -o {work}/back.ndjson",
                      "kv-filter < f (a copy)", f"kv-filter -q {sealed} -o {work}/copied.ndjson", args.repeat, "≤ 1.5× a copy")
        rate = f"{secrets} Secrets, {secrets / row[2][0]:.0f} Secrets/s"
        RESULTS[RESULTS.index(row)] = (f"{row[0]} ({rate})",) + row[1:]
        print(f"KMS v2: {rate}", flush=True)
        os.unlink(sealed)
    finally:
        plugin.kill()
        plugin.wait()


def write_doc(args, total):
    """Merge this run's rows into docs/benchmarks.json (rows of sections not run are kept) and
    render docs/BENCHMARKS.md from it."""
    import json
    store_path = os.path.join(ROOT, "docs", "benchmarks.json")
    store = {"rows": [], "sizes": None, "scale": None, "runs": {}}
    if os.path.exists(store_path):
        with open(store_path) as f:
            store = json.load(f)
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except Exception:
        pass
    etcd_v = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    ran = sorted({r[7] for r in RESULTS}, key=lambda x: SECTION_ORDER.index(x) if x in SECTION_ORDER else 99)
    cmd = f"scripts/bench.py --objects {args.objects} --repeat {args.repeat}" + "".join(f" --only {x}" for x in args.only)
    for sec in ran:
        store["runs"][sec] = {"command": cmd, "date": datetime.date.today().isoformat(), "objects": args.objects}
    store["rows"] = [r for r in store["rows"] if r[7] not in ran] + [list(r) for r in RESULTS]
    store["rows"].sort(key=lambda r: SECTION_ORDER.index(r[7]) if r[7] in SECTION_ORDER else 99)
    if SIZES:
        store["sizes"] = SIZES
    if SCALE:
        store["scale"] = SCALE
    if WATCH:
        store["watch"] = WATCH
    if SERVER:
        store["server"] = SERVER
    if BUMP:
        store["bump"] = BUMP
    store["machine"] = f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; {etcd_v}"
    with open(store_path, "w") as f:
        json.dump(store, f, indent=1)
    rows = [(r[0], r[1], tuple(r[2]), r[3], tuple(r[4]), r[5], r[6], r[7]) for r in store["rows"]]
    body = [
        "# Benchmarks",
        "",
        "Produced by `scripts/bench.py`, which rewrites this file (and docs/benchmarks.json, which",
        "keeps the rows of sections that a partial run did not touch). Reproduce everything with:",
        "",
        "```sh",
        "cargo build --release --locked --workspace",
        "scripts/bench.py --objects 100000 --repeat 3 --scale      # about 15 minutes here",
        "```",
        "",
        f"Machine: {store['machine']}.",
        "Keyspace: `kv-gen --objects N --seed 1` (realistic Kubernetes objects: ~760 MB of stream for",
        "100k). Wall times are medians over the runs; ours and the peer's runs are interleaved. Peak RSS",
        "is the largest over the runs, from GNU time; for a pipeline it is the largest over its stages,",
        "or that of the stage named in the label (e.g. `RSS: archive-pack`). The machine is",
        "small and noisy: read ratios, not absolute figures. make-mirror is stopped after "
        f"{MIRROR_CAP} s (its time is then a lower bound).",
        "",
        "Runs recorded here:",
        "",
    ]
    for sec in SECTION_ORDER:
        if sec in store["runs"]:
            r = store["runs"][sec]
            body.append(f"- {sec}: `{r['command']}` on {r['date']}")
    body += ["", table(rows), ""]
    if store.get("sizes"):
        body += ["## Archive size", "", "The same keyspace, one ZIP entry per key:", "", "| archive | size |", "|---|---|"]
        for what, size in store["sizes"]:
            body.append(f"| {what} | {size / 1e6:.1f} MB |")
        body.append("")
    if store.get("scale"):
        body += ["## Memory as the keyspace grows 10×", "",
                 "`kv-gen --small` keys (a few hundred bytes each), loaded into and dumped from a fresh etcd:", "",
                 "| keys | stream | etcd-load wall | etcd-load peak RSS | etcd-dump wall | etcd-dump peak RSS |",
                 "|---|---|---|---|---|---|"]
        for n, size, lw, lr, dw, dr in store["scale"]:
            body.append(f"| {n} | {size / 1e6:.0f} MB | {lw:.1f} s | {lr / 1024:.0f} MiB | {dw:.1f} s | {dr / 1024:.0f} MiB |")
        body.append("")
    if store.get("watch"):
        body += ["## Continuous backup: etcd-watch under etcd's own write ceiling", "",
                 "etcd takes writes as fast as it can (etcd-load, as many transactions in flight as it uses); etcd-watch",
                 "records them live into segments. The lag is the time from the last write's answer until etcd-watch",
                 "had received every change up to that revision (its progress line, at most 5 updates a second):", "",
                 "| writes | keys | wall | keys/s | etcd-watch lag at the end |", "|---|---|---|---|---|"]
        for label, n, wall, rate, lag in store["watch"]:
            if n == 0:
                body.append(f"| {label} | | | | {lag / 1024:.0f} MiB |")
            else:
                body.append(f"| {label} | {n} | {wall:.1f} s | {rate:.0f} | {lag:.2f} s |")
        body.append("")
    if store.get("server"):
        body += ["## reshifter-server's memory", "", "The server's resident memory (/proc/<pid>/status) around 3 backups of the 100k-object keyspace:", "",
                 "| when | RSS |", "|---|---|"]
        for what, kib in store["server"]:
            body.append(f"| {what} | {kib / 1024:.0f} MiB |")
        body.append("")
    if store.get("bump"):
        body += ["## Raising the revision (etcd-load --bump-revision)", "",
                 "A fresh etcd raised by the default margin with `--mark-compacted` (the whole command, compaction included):", "",
                 "| margin | wall | revisions/s | peak RSS |", "|---|---|---|---|"]
        for margin, w, rate, r in store["bump"]:
            body.append(f"| {margin} | {w:.1f} s | {rate:.0f} | {r / 1024:.0f} MiB |")
        body.append("")
    extra = os.path.join(ROOT, "docs", "BENCHMARKS.notes.md")
    if os.path.exists(extra):
        body += [open(extra).read()]
    with open(os.path.join(ROOT, "docs", "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(body))
    print(f"wrote docs/BENCHMARKS.md and docs/benchmarks.json")


if __name__ == "__main__":
    main()
