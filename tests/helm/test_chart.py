"""test_chart.py - the Helm chart deploy/helm/sluice, rendered with build/helm-render (a
`helm template` stand-in: there is no helm in Debian) for the default values and for
tests/helm/values-all.yaml (every option on), then checked: valid YAML, standard fields and
labels, one replica that never overlaps, probes on the served routes and port, the
security context, optional objects only when enabled, the pipeline specs passing
`sluice validate`, values that must fail, and a real `sluice serve` started exactly as the
rendered pod would start it."""

import base64
import json
import os
import re
import subprocess

import deploytest as dt
from deploytest import check, eq

LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
          "app.kubernetes.io/managed-by", "helm.sh/chart")
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# What the test pretends the Secrets and ConfigMaps the chart does not create hold.
EXTERNAL_ENV = {"KAFKA_BROKERS": "kafka-0.kafka:9092"}


def chart_meta():
    """Top-level scalar keys of Chart.yaml (no YAML library needed for these)."""
    meta = {}
    with open(os.path.join(dt.CHART, "Chart.yaml")) as f:
        for line in f:
            m = re.match(r'^([A-Za-z]+):\s*"?([^"#\n]*?)"?\s*$', line)
            if m and m.group(2):
                meta[m.group(1)] = m.group(2)
    return meta


def args_value(args, flag):
    check(flag in args, "%s in the container args %r" % (flag, args))
    i = args.index(flag)
    check(i + 1 < len(args), "%s has a value" % flag)
    return args[i + 1]


def pod_spec(r):
    return r.workload()["spec"]["template"]["spec"]


def volume(r, name):
    for v in pod_spec(r).get("volumes", []):
        if v["name"] == name:
            return v
    return None


def mount_for(r, path):
    for m in r.container().get("volumeMounts", []):
        if m["mountPath"] == path:
            return m
    raise dt.TestFailure("no volumeMount at %s: %r" % (path, r.container().get("volumeMounts")))


def pipelines_configmap(r):
    name = volume(r, "pipelines")["configMap"]["name"]
    return r.named("ConfigMap", name)


def pod_env(r):
    """The environment the container would get: env values, the chart's Secrets and
    ConfigMaps referenced by envFrom, and EXTERNAL_ENV for the ones the chart does not
    create (existingSecret, extraEnvFrom)."""
    c = r.container()
    env = {}
    for e in c.get("envFrom", []):
        ref = e.get("secretRef") or e.get("configMapRef")
        kind = "Secret" if "secretRef" in e else "ConfigMap"
        docs = [d for d in r.of_kind(kind) if d["metadata"]["name"] == ref["name"]]
        if not docs:
            env.update(EXTERNAL_ENV)
            continue
        for k, v in docs[0].get("data", {}).items():
            env[k] = base64.b64decode(v).decode() if kind == "Secret" else v
        env.update(docs[0].get("stringData", {}))
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
    return env


def extract_specs(r, d):
    cm = pipelines_configmap(r)
    paths = []
    for k, v in sorted((cm.get("data") or {}).items()):
        p = os.path.join(d, k)
        with open(p, "w") as f:
            f.write(v)
        paths.append(p)
    return paths


# ---- tests ---------------------------------------------------------------------------------

def test_renderer_semantics():
    """build/helm-render behaves like helm on a fixture chart (tests/helm/testchart): the
    built-in objects, include/tpl/lookup/fromYaml/toYaml, missing keys, values merging
    (null deletes, --set typing), Helm's float64 numbers, dropped empty documents."""
    fixture = os.path.join(dt.ROOT, "tests", "helm", "testchart")
    d = dt.tmpdir("fixture")
    args = [dt.RENDER, "--name", "r1", "--namespace", "ns1", "--json",
            os.path.join(d, "o.json"), "--notes", os.path.join(d, "n.txt"),
            "--set", "nested.drop=null", "--set", "nested.inner.y=07", fixture]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, p.stderr)
    with open(os.path.join(d, "o.json")) as f:
        docs = json.load(f)
    eq(len(docs), 1, "empty and comment-only documents are dropped")
    eq(docs[0]["source"], "probe/templates/all.yaml")
    data = docs[0]["manifest"]["data"]
    want = {"chart": "probe-1.2.3-4.5.6", "release": "Helm/r1/true/false/1",
            "template": "probe/templates/all.yaml|probe/templates", "kube": "v1.28.0",
            "hasApps": "true", "hasMonitoring": "false", "missing": "[]",
            "big": "1.048576e+06",  # helm prints big values.yaml integers so, too
            "included": "yes", "tpl": "hello r1", "lookup": "0", "fromYaml": "3",
            "toYaml": "big: 1048576\nlist:\n  - 1\n  - 2\nnested:\n  inner:\n    x: 1\n"
                      "    \"y\": \"07\"\n  keep: a\nratio: 0.5\ntext: \"5000\"\n"}
    for k, v in want.items():
        eq(data.get(k), v, "data.%s" % k)
    with open(os.path.join(d, "n.txt")) as f:
        eq(f.read(), "notes for r1 rev 1\n", "NOTES.txt")
    check(p.stdout.startswith("---\n# Source: probe/templates/all.yaml\napiVersion: v1\n"),
          p.stdout[:120])
    p = subprocess.run([dt.RENDER, "--upgrade", "--api-versions", "monitoring.coreos.com/v1",
                        "--set", "big=2", fixture], capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, p.stderr)
    for line in ('release: "Helm/release-name/false/true/2"', 'hasMonitoring: "true"',
                 'big: "2"'):
        check(line in p.stdout, "%s in:\n%s" % (line, p.stdout))
    p = subprocess.run([dt.RENDER, "--set", "never=true", fixture], capture_output=True,
                       text=True, timeout=60)
    eq(p.returncode, 0, p.stderr)
    check("kind: Secret" in p.stdout, "the conditional document appears: %s" % p.stdout)
    p = subprocess.run([dt.RENDER, "--set", 'greeting={{ fail "boom" }}', fixture],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 1 and "boom" in p.stderr and not p.stdout,
          "fail inside tpl fails the render: %s %s" % (p.stderr, p.stdout[:200]))


def test_chart_metadata():
    meta = chart_meta()
    eq(meta.get("apiVersion"), "v2", "Chart.yaml apiVersion")
    eq(meta.get("name"), "sluice", "Chart.yaml name")
    check(re.match(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$", meta.get("version", "")),
          "Chart.yaml version is SemVer: %r" % meta.get("version"))
    out = subprocess.run([dt.SLUICE, "--version"], capture_output=True, text=True).stdout
    eq(meta.get("appVersion"), out.split()[-1] if out else None,
       "Chart.yaml appVersion vs `sluice --version`")


def test_render_default_values():
    r = dt.default_render()
    eq(r.kinds(), ["ConfigMap", "Deployment", "Service", "ServiceAccount"], "kinds rendered")
    check(r.out.startswith("---\n# Source: sluice/templates/"), r.out[:200])


def test_render_all_options():
    r = dt.all_render()
    eq(r.kinds(), ["ConfigMap", "ConfigMap", "PodDisruptionBudget", "Secret", "Secret",
                   "Service", "ServiceAccount", "ServiceMonitor", "StatefulSet"],
       "kinds rendered")


def test_yamllint():
    conf = "{extends: relaxed, rules: {line-length: {max: 120}}}"
    files = [r.yaml_path for _, r in dt.both()] + [
        os.path.join(dt.CHART, "Chart.yaml"), os.path.join(dt.CHART, "values.yaml"),
        dt.VALUES_ALL]
    p = subprocess.run(["yamllint", "-f", "parsable", "-d", conf] + files,
                       capture_output=True, text=True)
    errors = [l for l in p.stdout.splitlines() if "[error]" in l]
    check(p.returncode == 0 and not errors, "yamllint:\n%s%s" % (p.stdout, p.stderr))


def test_required_fields_and_labels():
    meta = chart_meta()
    for what, r in dt.both():
        for d in r.docs:
            where = "%s: %s %s" % (what, d.get("kind"), d.get("metadata", {}).get("name"))
            for k in ("apiVersion", "kind", "metadata"):
                check(k in d, "%s: no %s" % (where, k))
            name = d["metadata"].get("name", "")
            check(len(name) <= 63 and DNS1123.match(name), "%s: bad name %r" % (where, name))
            labels = d["metadata"].get("labels", {})
            for l in LABELS:
                check(l in labels, "%s: no label %s (%r)" % (where, l, labels))
            eq(labels["app.kubernetes.io/instance"], "sluice-test", where)
            eq(labels["app.kubernetes.io/managed-by"], "Helm", where)
            eq(labels["app.kubernetes.io/name"], "sluice", where)
            eq(labels["helm.sh/chart"], "sluice-" + meta["version"], where)
            eq(labels["app.kubernetes.io/version"], meta["appVersion"], where)
        w = r.workload()
        sel = w["spec"]["selector"]["matchLabels"]
        pod_labels = w["spec"]["template"]["metadata"]["labels"]
        eq(sorted(sel), ["app.kubernetes.io/instance", "app.kubernetes.io/name"],
           "%s: selector labels" % what)
        for k, v in sel.items():
            eq(pod_labels.get(k), v, "%s: pod label %s matches the selector" % (what, k))
        svc = r.one("Service")
        eq(svc["spec"]["selector"], sel, "%s: Service selector" % what)
        sa = pod_spec(r)["serviceAccountName"]
        eq(r.one("ServiceAccount")["metadata"]["name"], sa, "%s: ServiceAccount" % what)
        eq(pod_spec(r).get("automountServiceAccountToken"), False, what)


def test_single_replica_never_overlapping():
    d = dt.default_render()
    eq(d.of_kind("StatefulSet"), [], "no StatefulSet without persistence")
    dep = d.one("Deployment")
    eq(dep["spec"]["replicas"], 1, "Deployment replicas")
    eq(dep["spec"]["strategy"], {"type": "Recreate"}, "Deployment strategy")
    a = dt.all_render()
    eq(a.of_kind("Deployment"), [], "no Deployment with persistence")
    sts = a.one("StatefulSet")
    eq(sts["spec"]["replicas"], 1, "StatefulSet replicas")
    eq(sts["spec"]["updateStrategy"], {"type": "RollingUpdate"}, "StatefulSet updateStrategy")
    eq(sts["spec"]["podManagementPolicy"], "OrderedReady", "podManagementPolicy")
    eq(a.named("Service", sts["spec"]["serviceName"])["kind"], "Service",
       "serviceName names a rendered Service")
    ok = dt.render(sets=["replicaCount=1"])
    eq(ok.workload()["spec"]["replicas"], 1)


def test_replicas_above_one_fail():
    for n in ("2", "3"):
        for extra in ([], [dt.VALUES_ALL]):
            r = dt.render(values=extra, sets=["replicaCount=" + n], must_pass=False)
            check(r.rc != 0, "replicaCount=%s rendered:\n%s" % (n, r.out[:300]))
            check("replicaCount must be 1" in r.err, r.err)
            eq(r.out, "", "no output when rendering fails")


def test_probes_and_ports():
    for what, r in dt.both():
        c = r.container()
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        check("http" in ports, "%s: a port named http: %r" % (what, c["ports"]))
        port = ports["http"]
        listen = args_value(c["args"], "--listen")
        eq(listen, "0.0.0.0:%d" % port, "%s: --listen matches the container port" % what)
        want = {"livenessProbe": "/healthz", "readinessProbe": "/readyz",
                "startupProbe": "/healthz"}
        for probe, path in want.items():
            check(probe in c, "%s: %s" % (what, probe))
            g = c[probe].get("httpGet")
            check(g, "%s: %s is an httpGet" % (what, probe))
            eq(g["path"], path, "%s: %s path" % (what, probe))
            p = g["port"]
            eq(ports.get(p, p), port, "%s: %s port" % (what, probe))
            check(g.get("scheme", "HTTP") == "HTTP", what)
            for k in ("periodSeconds", "timeoutSeconds", "failureThreshold"):
                check(isinstance(c[probe].get(k), int) and c[probe][k] > 0,
                      "%s: %s.%s" % (what, probe, k))
        svc = r.one("Service")
        sp = svc["spec"]["ports"]
        eq(len(sp), 1, "%s: Service ports" % what)
        tp = sp[0]["targetPort"]
        eq(ports.get(tp, tp), port, "%s: Service targetPort reaches the container" % what)
        eq(sp[0]["name"], "http", what)
        check(c.get("resources", {}).get("requests"), "%s: resource requests" % what)
        check(c["resources"].get("limits", {}).get("memory"), "%s: a memory limit" % what)
    a = dt.all_render()
    eq(a.container()["ports"][0]["containerPort"], 9090, "containerPort value honoured")
    eq(a.one("Service")["spec"]["ports"][0]["port"], 80, "service.port value honoured")
    eq(a.container()["startupProbe"]["failureThreshold"], 40, "probe values honoured")


def test_security_context():
    for what, r in dt.both():
        ps = pod_spec(r)["securityContext"]
        eq(ps.get("runAsNonRoot"), True, "%s: pod runAsNonRoot" % what)
        check(ps.get("runAsUser", 0) > 0, "%s: pod runAsUser non-zero" % what)
        check(ps.get("fsGroup", 0) > 0, "%s: fsGroup (a writable /data)" % what)
        eq(ps.get("seccompProfile"), {"type": "RuntimeDefault"}, "%s: pod seccomp" % what)
        cs = r.container()["securityContext"]
        eq(cs.get("runAsNonRoot"), True, "%s: runAsNonRoot" % what)
        eq(cs.get("allowPrivilegeEscalation"), False, "%s: allowPrivilegeEscalation" % what)
        eq(cs.get("readOnlyRootFilesystem"), True, "%s: readOnlyRootFilesystem" % what)
        eq(cs.get("privileged", False), False, "%s: privileged" % what)
        eq(cs.get("capabilities", {}).get("drop"), ["ALL"], "%s: capabilities" % what)
        check(not cs.get("capabilities", {}).get("add"), "%s: no added caps" % what)
        eq(cs.get("seccompProfile"), {"type": "RuntimeDefault"}, "%s: seccomp" % what)
        # A read-only root needs writable mounts where sluice writes: /data and /tmp.
        for path in ("/data", "/tmp"):
            m = mount_for(r, path)
            check(not m.get("readOnly"), "%s: %s writable" % (what, path))
        eq(args_value(r.container()["args"], "--data-dir"), "/data", what)


def test_pipelines_configmap_mounted_at_pipelines_dir():
    for what, r in dt.both():
        c = r.container()
        pdir = args_value(c["args"], "--pipelines")
        m = mount_for(r, pdir)
        v = volume(r, m["name"])
        check(v and "configMap" in v, "%s: %s is mounted from a ConfigMap: %r" % (what, pdir, v))
        cm = r.named("ConfigMap", v["configMap"]["name"])
        check(not v["configMap"].get("items"), "%s: every key is mounted" % what)
        for k in (cm.get("data") or {}):
            check(re.match(r"^[a-z0-9_.-]+\.yaml$", k), "%s: key %s is a *.yaml file" % (what, k))
        ann = r.workload()["spec"]["template"]["metadata"]["annotations"]
        check(re.match(r"^[0-9a-f]{64}$", ann.get("checksum/pipelines", "")),
              "%s: checksum/pipelines annotation: %r" % (what, ann))
    a = dt.all_render()
    eq(sorted(pipelines_configmap(a)["data"]),
       ["orders-to-redis.yaml", "payments-to-kafka.yaml"], "pipelines in values-all")
    eq(pipelines_configmap(dt.default_render()).get("data"), {}, "no pipelines by default")
    # The server config file is a separate ConfigMap (not in the pipelines dir).
    cfg = args_value(a.container()["args"], "--config")
    m = mount_for(a, os.path.dirname(cfg))
    cm = a.named("ConfigMap", volume(a, m["name"])["configMap"]["name"])
    eq(cm["data"], {os.path.basename(cfg): "http_threads: 8\nmax_body_bytes: 4194304\n"})
    check("--config" not in dt.default_render().container()["args"], "no --config by default")


def test_checksum_rolls_pod_on_changes():
    base = dt.all_render()

    def ann(r):
        return r.workload()["spec"]["template"]["metadata"]["annotations"]

    again = dt.render(values=[dt.VALUES_ALL])
    eq(ann(again), ann(base), "rendering is deterministic")
    spec = dt.render(values=[dt.VALUES_ALL],
                     sets=["pipelines.orders-to-redis.spec.batch.max_events=500"])
    check(ann(spec)["checksum/pipelines"] != ann(base)["checksum/pipelines"],
          "a changed spec changes checksum/pipelines")
    eq(ann(spec)["checksum/secret"], ann(base)["checksum/secret"], "secret checksum kept")
    eq(spec.named("ConfigMap", "cdc-pipelines")["data"]["orders-to-redis.yaml"].count(
        "max_events: 500"), 1, "the new value is in the ConfigMap")
    sec = dt.render(values=[dt.VALUES_ALL], sets=["secretEnv.PG_DSN=host=elsewhere"])
    check(ann(sec)["checksum/secret"] != ann(base)["checksum/secret"],
          "a changed secretEnv changes checksum/secret")
    eq(ann(sec)["checksum/pipelines"], ann(base)["checksum/pipelines"])
    tok = dt.render(values=[dt.VALUES_ALL], sets=["auth.token=another-token"])
    check(ann(tok)["checksum/secret"] != ann(base)["checksum/secret"],
          "a changed auth.token changes checksum/secret")
    up = dt.render(values=[dt.VALUES_ALL], sets=["config.http_threads=4"])
    check(ann(up)["checksum/pipelines"] != ann(base)["checksum/pipelines"],
          "a changed config changes the checksum")


def test_persistence_only_when_enabled():
    d = dt.default_render()
    eq(volume(d, "data"), {"name": "data", "emptyDir": {}}, "default: /data is an emptyDir")
    check("volumeClaimTemplates" not in d.workload()["spec"], "default: no claim templates")
    eq(d.of_kind("PersistentVolumeClaim"), [], "default: no PVC")
    a = dt.all_render()
    sts = a.one("StatefulSet")
    eq(volume(a, "data"), None, "persistence: no pod volume named data (claim template)")
    vct = sts["spec"]["volumeClaimTemplates"]
    eq(len(vct), 1)
    eq(vct[0]["metadata"]["name"], "data")
    eq(vct[0]["spec"]["resources"]["requests"]["storage"], "5Gi")
    eq(vct[0]["spec"]["storageClassName"], "fast-ssd")
    eq(vct[0]["spec"]["accessModes"], ["ReadWriteOnce"])
    eq(mount_for(a, "/data")["name"], "data")
    ex = dt.render(sets=["persistence.enabled=true", "persistence.existingClaim=my-claim"])
    s = ex.one("StatefulSet")
    check("volumeClaimTemplates" not in s["spec"], "existingClaim: no claim templates")
    eq(volume(ex, "data"), {"name": "data", "persistentVolumeClaim": {"claimName": "my-claim"}})
    nc = dt.render(sets=["persistence.enabled=true", "persistence.storageClass=-"])
    eq(nc.one("StatefulSet")["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"], "",
       "storageClass '-' means no class")
    dc = dt.render(sets=["persistence.enabled=true"])
    check("storageClassName" not in
          dc.one("StatefulSet")["spec"]["volumeClaimTemplates"][0]["spec"],
          "storageClass '' leaves the cluster default")


def test_service_monitor_and_pdb_only_when_enabled():
    d = dt.default_render()
    eq(d.of_kind("ServiceMonitor"), [], "no ServiceMonitor by default")
    eq(d.of_kind("PodDisruptionBudget"), [], "no PDB by default")
    a = dt.all_render()
    sm = a.one("ServiceMonitor")
    eq(sm["apiVersion"], "monitoring.coreos.com/v1")
    svc = a.one("Service")
    for k, v in sm["spec"]["selector"]["matchLabels"].items():
        eq(svc["metadata"]["labels"].get(k), v, "ServiceMonitor selects the Service")
    eq(sm["spec"]["namespaceSelector"], {"matchNames": ["cdc"]})
    eq(sm["metadata"]["labels"].get("release"), "kube-prometheus-stack", "extra labels")
    ep = sm["spec"]["endpoints"]
    eq(len(ep), 1)
    eq((ep[0]["port"], ep[0]["path"], ep[0]["interval"]), ("http", "/metrics", "15s"))
    eq(ep[0]["authorization"], {"type": "Bearer",
                                "credentials": {"name": "cdc-auth", "key": "token"}},
       "scrapes with the API token (/metrics needs it)")
    pdb = a.one("PodDisruptionBudget")
    eq(pdb["apiVersion"], "policy/v1")
    eq(pdb["spec"].get("minAvailable"), 1)
    check("maxUnavailable" not in pdb["spec"], "one of min/max")
    pod_labels = a.workload()["spec"]["template"]["metadata"]["labels"]
    for k, v in pdb["spec"]["selector"]["matchLabels"].items():
        eq(pod_labels.get(k), v, "PDB selects the pod")
    mx = dt.render(sets=["podDisruptionBudget.enabled=true",
                         "podDisruptionBudget.maxUnavailable=1"])
    eq(mx.one("PodDisruptionBudget")["spec"], {
        "maxUnavailable": 1, "selector": {
            "matchLabels": {"app.kubernetes.io/name": "sluice",
                            "app.kubernetes.io/instance": "sluice-test"}}})
    sm2 = dt.render(sets=["serviceMonitor.enabled=true"]).one("ServiceMonitor")
    check("authorization" not in sm2["spec"]["endpoints"][0], "no token without auth")


def test_env_secrets_and_auth():
    a = dt.all_render()
    c = a.container()
    env_from = c["envFrom"]
    eq(env_from, [{"secretRef": {"name": "cdc-env"}},
                  {"secretRef": {"name": "kafka-credentials"}},
                  {"configMapRef": {"name": "cdc-extra-env"}}], "envFrom")
    sec = a.named("Secret", "cdc-env")
    eq(base64.b64decode(sec["data"]["PG_DSN"]).decode(),
       "host=pg.data.svc dbname=app user=replicator password=s3cr3t:#x", "secretEnv value")
    check("s3cr3t" not in json.dumps(a.workload()), "secret values stay out of the workload")
    env = {e["name"]: e for e in c["env"]}
    eq(env["SLUICE_STOP_TIMEOUT"], {"name": "SLUICE_STOP_TIMEOUT", "value": "45"})
    eq(env["REDIS_URI"]["value"], "redis://redis.data.svc:6379/0")
    eq(env["POD_NAME"]["valueFrom"], {"fieldRef": {"fieldPath": "metadata.name"}}, "extraEnv")
    check(pod_spec(a)["terminationGracePeriodSeconds"] > int(env["SLUICE_STOP_TIMEOUT"]["value"]),
          "grace period exceeds the stop timeout")
    eq(pod_spec(a)["enableServiceLinks"], False)
    # Auth: the token file the args name is the Secret's key, mounted read-only.
    tf = args_value(c["args"], "--auth-token-file")
    m = mount_for(a, os.path.dirname(tf))
    eq(m.get("readOnly"), True)
    v = volume(a, m["name"])
    eq(v["secret"]["secretName"], "cdc-auth")
    eq(v["secret"]["items"], [{"key": "token", "path": os.path.basename(tf)}])
    eq(base64.b64decode(a.named("Secret", "cdc-auth")["data"]["token"]).decode(),
       "not-a-real-token-but-long-enough")
    # An existing Secret for the token: the chart creates none and mounts the given key.
    ex = dt.render(sets=["auth.enabled=true", "auth.existingSecret=api-token",
                         "auth.existingSecretKey=bearer"])
    eq(ex.of_kind("Secret"), [], "no Secret rendered with auth.existingSecret")
    eq(volume(ex, "auth")["secret"]["secretName"], "api-token")
    eq(volume(ex, "auth")["secret"]["items"][0]["key"], "bearer")
    # Numbers in values files are float64 in Helm: env values still print as integers.
    nums = os.path.join(dt.tmpdir("nums"), "v.yaml")
    with open(nums, "w") as f:
        f.write("env: {BIG: 1048576, HALF: 0.5, YES: true}\nsecretEnv: {PORT: 5432000}\n")
    n = dt.render(values=[nums])
    env = {e["name"]: e.get("value") for e in n.container()["env"]}
    eq((env["BIG"], env["HALF"], env["YES"]), ("1048576", "0.5", "true"), "env values")
    eq(base64.b64decode(n.one("Secret")["data"]["PORT"]).decode(), "5432000")
    d = dt.default_render()
    check("--auth-token-file" not in d.container()["args"], "no auth by default")
    check("envFrom" not in d.container(), "no envFrom by default")
    eq(d.of_kind("Secret"), [], "no Secret by default")


def test_pipeline_specs_pass_sluice_validate():
    a = dt.all_render()
    d = dt.tmpdir("specs")
    paths = extract_specs(a, d)
    eq(len(paths), 2)
    env = pod_env(a)
    for p in paths:
        with open(p) as f:
            missing = dt.spec_vars(f.read()) - set(env)
        check(not missing, "%s uses ${%s} that the pod's environment lacks" % (
            os.path.basename(p), ", ".join(sorted(missing))))
    r = subprocess.run([dt.SLUICE, "validate"] + paths, env=dt.base_env(env),
                       capture_output=True, text=True, timeout=30)
    eq(r.returncode, 0, "sluice validate:\n%s%s" % (r.stdout, r.stderr))
    # Without the environment the specs do not validate: the test really needs it.
    r = subprocess.run([dt.SLUICE, "validate"] + paths, env=dt.base_env({}),
                       capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "PG_DSN" in r.stdout + r.stderr, r.stdout + r.stderr)


def test_example_pipelines_through_set_file():
    """Every spec in pipelines/ shipped with --set-file, as README suggests."""
    set_files, names = [], []
    pdir = os.path.join(dt.ROOT, "pipelines")
    for f in sorted(os.listdir(pdir)):
        if not f.endswith((".yaml", ".yml")):
            continue
        with open(os.path.join(pdir, f)) as fh:
            m = re.search(r"^metadata:\s*\n(?:\s+.*\n)*?\s+name:\s*(\S+)", fh.read(), re.M)
        check(m, "metadata.name in pipelines/%s" % f)
        names.append(m.group(1))
        set_files.append("pipelines.%s=%s" % (m.group(1), os.path.join(pdir, f)))
    check(names, "example specs in pipelines/")
    r = dt.render(set_files=set_files)
    d = dt.tmpdir("examples")
    paths = extract_specs(r, d)
    eq(sorted(os.path.basename(p) for p in paths), sorted(n + ".yaml" for n in names))
    env = {}
    for p in paths:
        with open(p) as fh:
            for v in dt.spec_vars(fh.read()):
                env[v] = {"PG_DSN": "host=pg dbname=app user=replicator",
                          "REDIS_URI": "redis://redis:6379/0",
                          "MY_DSN": "mysql://replicator@mariadb:3306/"}.get(v, "placeholder:9092")
    r = subprocess.run([dt.SLUICE, "validate"] + paths, env=dt.base_env(env),
                       capture_output=True, text=True, timeout=30)
    eq(r.returncode, 0, "sluice validate:\n%s%s" % (r.stdout, r.stderr))


def test_bad_values_fail_rendering():
    cases = [
        (["pipelines.foo.metadata.name=bar",
          "pipelines.foo.spec.source.type=postgres"], "metadata.name must be"),
        (["pipelines.Bad_Name.spec.x=1"], "a pipeline name is"),
        (["pipelines.foo=not a mapping"], "pipelines.foo"),
        (["auth.enabled=true"], "auth.token"),
        (["config.listen=0.0.0.0:1"], "config.listen is set by the chart"),
        (["config.data_dir=/x"], "config.data_dir is set by the chart"),
        (["terminationGracePeriodSeconds=30"], "must exceed stopTimeoutSeconds"),
        (["secretEnv.bad-name=x"], "not a valid environment variable name"),
        (["env.1X=x"], "not a valid environment variable name"),
        (["containerPort=0"], "containerPort"),
    ]
    for sets, want in cases:
        r = dt.render(sets=sets, must_pass=False)
        check(r.rc != 0, "%r rendered" % sets)
        check(want in r.err, "%r: want %r in the error: %s" % (sets, want, r.err))
    # A string spec must name itself after its key.
    d = dt.tmpdir("bad")
    p = os.path.join(d, "spec.yaml")
    with open(p, "w") as f:
        f.write("metadata:\n  name: other\nspec: {}\n")
    r = dt.render(set_files=["pipelines.mine=" + p], must_pass=False)
    check(r.rc != 0 and 'must be "mine"' in r.err, r.err)


def test_names_and_overrides():
    r = dt.render(name="sluice")
    eq(r.workload()["metadata"]["name"], "sluice", "release named like the chart")
    r = dt.render(name="prod", sets=["nameOverride=cdc"])
    eq(r.workload()["metadata"]["name"], "prod-cdc")
    eq(r.workload()["metadata"]["labels"]["app.kubernetes.io/name"], "cdc")
    r = dt.render(name="x" * 60)
    check(len(r.workload()["metadata"]["name"]) <= 63, "names are truncated to 63")
    r = dt.render(sets=["serviceAccount.create=false"])
    eq(r.of_kind("ServiceAccount"), [])
    eq(pod_spec(r)["serviceAccountName"], "default")
    r = dt.render(sets=["image.digest=sha256:" + "a" * 64])
    eq(r.container()["image"], "sluice@sha256:" + "a" * 64)
    eq(dt.default_render().container()["image"], "sluice:" + chart_meta()["appVersion"],
       "the image tag defaults to appVersion")


def test_notes():
    d = dt.default_render()
    for want in ("port-forward svc/sluice-test 8080:8080", "/pipelines", "/readyz",
                 "WARNING: auth.enabled is false", "WARNING: persistence.enabled is false",
                 "Pipelines from values (0)"):
        check(want in d.notes, "default NOTES.txt lacks %r:\n%s" % (want, d.notes))
    a = dt.all_render()
    for want in ("Authorization: Bearer", "cdc-auth", "orders-to-redis, payments-to-kafka",
                 "StatefulSet"):
        check(want in a.notes, "NOTES.txt lacks %r:\n%s" % (want, a.notes))
    check("WARNING" not in a.notes, a.notes)
    check("<no value>" not in d.notes + a.notes, "no <no value> in NOTES")


def _materialize(r, root):
    """Lay out the rendered pod's volumes under root: mountPath -> directory with the
    ConfigMap/Secret keys as files (emptyDir and claims empty). Returns a function mapping a
    container path to the host path."""
    spec = pod_spec(r)
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    for t in r.workload()["spec"].get("volumeClaimTemplates", []):
        vols[t["metadata"]["name"]] = {"name": t["metadata"]["name"], "emptyDir": {}}
    mounts = {}
    for m in r.container().get("volumeMounts", []):
        v = vols.get(m["name"])
        check(v is not None, "mount %s has a volume" % m["name"])
        host = os.path.join(root, m["name"])
        os.makedirs(host, exist_ok=True)
        if "configMap" in v:
            cm = r.named("ConfigMap", v["configMap"]["name"])
            for k, text in (cm.get("data") or {}).items():
                with open(os.path.join(host, k), "w") as f:
                    f.write(text)
        elif "secret" in v:
            docs = [s for s in r.of_kind("Secret") if s["metadata"]["name"] == v["secret"]["secretName"]]
            data = docs[0]["data"] if docs else {}
            items = v["secret"].get("items") or [{"key": k, "path": k} for k in data]
            for it in items:
                with open(os.path.join(host, it["path"]), "wb") as f:
                    f.write(base64.b64decode(data.get(it["key"], "")))
        mounts[m["mountPath"]] = host

    def host_path(p):
        for mp in sorted(mounts, key=len, reverse=True):
            if p == mp or p.startswith(mp + "/"):
                return mounts[mp] + p[len(mp):]
        return p
    return host_path


def test_serve_starts_like_the_rendered_pod():
    """Run `sluice serve` with the command, args, env, ConfigMaps and Secrets of the
    values-all pod (paths mapped to temp dirs, listening on a loopback port): the
    pipelines of the ConfigMap are created at startup, /healthz and /readyz answer without
    the token, the API needs it; after a spec change and a restart the pipeline carries the
    new spec (restarted from its checkpoint)."""
    root = dt.tmpdir("pod")
    # Sources and sinks that refuse at once. The Kafka pipeline is swapped for a file-sink
    # one: a Kafka sink that cannot reach its brokers holds a stop for ~10 s.
    other = os.path.join(root, "other.yaml")
    with open(other, "w") as f:
        f.write("metadata: {name: other}\nspec:\n  source:\n    type: postgres\n"
                "    config: {id: pg, dsn: '${PG_DSN}', slot: other, publication: other,"
                " tables: [public.t]}\n  sinks:\n    - type: file\n"
                "      config: {id: f, path: %s/other.jsonl}\n" % root)
    unreachable = ["secretEnv.PG_DSN=host=127.0.0.1 port=1 dbname=app user=x connect_timeout=2",
                   "env.REDIS_URI=redis://127.0.0.1:1/0", "env.SLUICE_OUT=" + root,
                   "pipelines.payments-to-kafka=null"]
    data_root = os.path.join(root, "persist")

    def start(sets):
        r = dt.render(values=[dt.VALUES_ALL], sets=unreachable + sets,
                      set_files=["pipelines.other=" + other])
        run_root = os.path.join(root, "run%d" % len(os.listdir(root)))
        host_path = _materialize(r, run_root)
        c = r.container()
        # The claim outlives the pod: /data always maps to the same directory.
        os.makedirs(data_root, exist_ok=True)
        argv = [host_path(a) for a in c["command"] + c["args"]]
        argv = [data_root if a == host_path("/data") else a for a in argv]
        check(argv[0] == host_path("/usr/local/bin/sluice"), argv)
        argv[0] = dt.SLUICE
        port = dt.free_port()
        i = argv.index("--listen")
        argv[i + 1] = "127.0.0.1:%d" % port
        p = dt.Proc(argv, dt.base_env(pod_env(r)))
        base = "http://127.0.0.1:%d" % port
        return r, p, base

    token = "not-a-real-token-but-long-enough"
    r, p, base = start([])
    try:
        st, body = dt.wait_http(base + "/healthz", p)
        eq(st, 200, "/healthz without a token")
        st, body = dt.http("GET", base + "/readyz")
        check(st in (200, 503), "/readyz answers without a token: %s %s" % (st, body))
        st, _ = dt.http("GET", base + "/pipelines")
        eq(st, 401, "the API needs the token")
        st, body = dt.http("GET", base + "/pipelines", token=token)
        eq(st, 200, body)
        names = sorted(x["name"] for x in json.loads(body))
        eq(names, ["orders-to-redis", "other"], "pipelines created at startup")
        st, body = dt.http("GET", base + "/pipelines/orders-to-redis", token=token)
        eq(json.loads(body)["spec"]["spec"]["batch"]["max_events"], 1000)
        check("s3cr3t" not in body, "secrets masked")
        log = p.log()
        check("created" in log, log)
    finally:
        eq(p.stop(), 0, "SIGTERM stops cleanly:\n%s" % p.log())
    r, p, base = start(["pipelines.orders-to-redis.spec.batch.max_events=250"])
    try:
        dt.wait_http(base + "/healthz", p)
        st, body = dt.http("GET", base + "/pipelines/orders-to-redis", token=token)
        eq(st, 200, body)
        eq(json.loads(body)["spec"]["spec"]["batch"]["max_events"], 250,
           "the changed spec is applied at startup")
        log = p.log()
        check("pipeline orders-to-redis changed" in log, log)
        check("pipeline other unchanged" in log, log)
    finally:
        eq(p.stop(), 0, "SIGTERM stops cleanly:\n%s" % p.log())


if __name__ == "__main__":
    dt.main()
