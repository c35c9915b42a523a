#![allow(clippy::unwrap_used)]
//! The Helm chart renders what operators rely on: an `autoscaling/v2` HPA on CPU (2..20 at
//! 70%), probes on `/healthz` and `/readyz`, a `PodDisruptionBudget`, a locked-down security
//! context, a termination grace period above the shutdown budget, topology spread across
//! nodes, and the migration Job as a pre-install/pre-upgrade hook that does not depend on
//! resources the release has not created yet.
//!
//! Renders with the real `helm` binary that `scripts/check-chart.sh` installs
//! (`.cache/tools/helm`; or `GATEHOUSE_HELM`, or `helm` on `PATH`). Without one the tests
//! skip, unless `GATEHOUSE_REQUIRE_SERVICES=1`, which makes a missing helm a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

const CHART: &str = "helm/gatehouse";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn require_services() -> bool {
    std::env::var("GATEHOUSE_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v == "true")
}

/// The helm binary, or `None` (after saying why) when the tests should skip.
fn helm() -> Option<PathBuf> {
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("helm")).collect())
        .unwrap_or_default();
    let candidates = std::env::var_os("GATEHOUSE_HELM")
        .map(PathBuf::from)
        .into_iter()
        .chain([root().join(".cache/tools/helm")])
        .chain(on_path);
    for candidate in candidates {
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let message = "no helm binary (run scripts/check-chart.sh to install .cache/tools/helm)";
    assert!(
        !require_services(),
        "GATEHOUSE_REQUIRE_SERVICES=1 but {message}"
    );
    eprintln!("skipping the chart tests: {message}");
    None
}

/// The rendered manifests of one `helm template` run.
struct Rendered(Vec<Value>);

impl Rendered {
    /// Renders the chart with extra `helm template` arguments (values files, `--set`).
    fn new(args: &[&str]) -> Option<Self> {
        let helm = helm()?;
        let scratch = tempfile::tempdir().unwrap();
        let output = Command::new(helm)
            .current_dir(root())
            .env("HELM_CACHE_HOME", scratch.path().join("cache"))
            .env("HELM_CONFIG_HOME", scratch.path().join("config"))
            .env("HELM_DATA_HOME", scratch.path().join("data"))
            .env("KUBECONFIG", "/dev/null")
            .args(["template", "gatehouse", CHART, "--namespace", "gatehouse"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "helm template {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap();
        let docs = serde_yaml::Deserializer::from_str(&text)
            .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
            .filter(|doc: &Value| !doc.is_null())
            .collect();
        Some(Self(docs))
    }

    fn all(&self, kind: &str) -> Vec<&Value> {
        self.0.iter().filter(|d| d["kind"] == kind).collect()
    }

    fn find(&self, kind: &str) -> Option<&Value> {
        let mut found = self.all(kind);
        assert!(found.len() <= 1, "more than one {kind}");
        found.pop()
    }

    fn one(&self, kind: &str) -> &Value {
        self.find(kind)
            .unwrap_or_else(|| panic!("no {kind} rendered"))
    }

    fn named(&self, kind: &str, name: &str) -> Option<&Value> {
        self.all(kind)
            .into_iter()
            .find(|d| d["metadata"]["name"] == name)
    }

    /// The release's own Secret (not the migration hook's), named like the Deployment.
    fn chart_secret(&self) -> &Value {
        let name = self.one("Deployment")["metadata"]["name"].as_str().unwrap();
        self.named("Secret", name)
            .unwrap_or_else(|| panic!("no Secret {name}"))
    }

    /// The non-secret environment of the server (its `ConfigMap`).
    fn config(&self, name: &str) -> String {
        self.one("ConfigMap")["data"][name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} not in the ConfigMap"))
            .to_owned()
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("not an integer: {v:?}"))
}

fn container<'a>(workload: &'a Value, name: &str) -> &'a Value {
    workload["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"] == name)
}

fn hook_annotation<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc["metadata"]["annotations"][key].as_str()
}

/// The restricted security context the image and the issue ask for.
fn assert_locked_down(pod_spec: &Value, container: &Value) {
    let pod = &pod_spec["securityContext"];
    assert_eq!(pod["runAsNonRoot"], true);
    assert_eq!(int(&pod["runAsUser"]), 10001);
    assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault");
    let sc = &container["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(int(&sc["runAsUser"]), 10001);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod_spec["automountServiceAccountToken"], false);
}

#[test]
fn hpa_scales_the_deployment_on_cpu_from_2_to_20_at_70_percent() {
    let Some(r) = Rendered::new(&[]) else { return };
    let hpa = r.one("HorizontalPodAutoscaler");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    let spec = &hpa["spec"];
    assert_eq!(spec["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(
        spec["scaleTargetRef"]["name"],
        r.one("Deployment")["metadata"]["name"]
    );
    assert_eq!(int(&spec["minReplicas"]), 2);
    assert_eq!(int(&spec["maxReplicas"]), 20);
    let metrics = spec["metrics"].as_sequence().unwrap();
    assert_eq!(metrics.len(), 1, "CPU only by default");
    assert_eq!(metrics[0]["type"], "Resource");
    assert_eq!(metrics[0]["resource"]["name"], "cpu");
    assert_eq!(metrics[0]["resource"]["target"]["type"], "Utilization");
    assert_eq!(
        int(&metrics[0]["resource"]["target"]["averageUtilization"]),
        70
    );
    assert!(int(&spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"]) >= 60);
    // The HPA owns the replica count: the Deployment must not reset it on every upgrade.
    assert!(r.one("Deployment")["spec"]["replicas"].is_null());
}

#[test]
fn deployment_probes_resources_and_security_context() {
    let Some(r) = Rendered::new(&[]) else { return };
    let deployment = r.one("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let server = container(deployment, "gatehouse");

    assert_eq!(server["args"][0], "serve");
    assert_eq!(server["ports"][0]["name"], "http");
    assert_eq!(int(&server["ports"][0]["containerPort"]), 8000);
    assert_eq!(r.config("GATEHOUSE_ADDR"), "0.0.0.0:8000");
    assert_eq!(r.config("GATEHOUSE_ENV"), "production");
    assert_eq!(r.config("GATEHOUSE_SEED_DEMO"), "false");

    assert_eq!(server["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(server["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(server["startupProbe"]["httpGet"]["path"].is_string());
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        assert_eq!(server[probe]["httpGet"]["port"], "http", "{probe}");
    }

    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                !server["resources"][kind][resource].is_null(),
                "resources.{kind}.{resource} is missing"
            );
        }
    }

    assert_locked_down(pod, server);
    let volume_mounts = server["volumeMounts"].as_sequence().unwrap();
    assert!(
        volume_mounts.iter().any(|m| m["mountPath"] == "/tmp"),
        "a writable /tmp under a read-only root filesystem"
    );

    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert!(annotations["checksum/config"].is_string());
    assert!(annotations["checksum/secret"].is_string());

    // Config from the ConfigMap, credentials from the Secret.
    assert_eq!(
        server["envFrom"][0]["configMapRef"]["name"],
        r.one("ConfigMap")["metadata"]["name"]
    );
    let database_url = env(server, "DATABASE_URL").unwrap();
    assert_eq!(
        database_url["valueFrom"]["secretKeyRef"]["name"],
        r.chart_secret()["metadata"]["name"]
    );
    assert!(database_url["valueFrom"]["secretKeyRef"]["optional"].is_null());
    assert_eq!(
        r.one("ServiceAccount")["automountServiceAccountToken"],
        false
    );
}

#[test]
fn the_chart_generates_one_jwt_secret_for_all_replicas() {
    let Some(r) = Rendered::new(&[]) else { return };
    let secret = r.chart_secret();
    let jwt = secret["data"]["JWT_SECRET"].as_str().unwrap();
    assert!(jwt.len() >= 64, "a long random secret, base64-encoded");
    let Some(r) = Rendered::new(&["--set", "config.jwt.jwksUrl=https://idp.example.com/jwks"])
    else {
        return;
    };
    assert!(r.chart_secret()["data"]["JWT_SECRET"].is_null());
}

#[test]
fn shutdown_fits_in_the_termination_grace_period() {
    let Some(r) = Rendered::new(&[]) else { return };
    let deployment = r.one("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let drain: i64 = r.config("GATEHOUSE_DRAIN_DELAY_SECS").parse().unwrap();
    let grace: i64 = r.config("GATEHOUSE_SHUTDOWN_GRACE_SECS").parse().unwrap();
    assert_eq!((drain, grace), (5, 20));
    let pre_stop = &container(deployment, "gatehouse")["lifecycle"]["preStop"];
    let sleep = int(&pre_stop["sleep"]["seconds"]);
    assert!(sleep > 0);
    assert!(
        pre_stop["exec"].is_null(),
        "the image has no shell to exec a sleep"
    );
    let termination = int(&pod["terminationGracePeriodSeconds"]);
    assert!(
        termination > sleep + drain + grace,
        "terminationGracePeriodSeconds {termination} must exceed preStop {sleep} + drain {drain} + grace {grace}"
    );

    // An explicit value too small for the budget is refused at render time.
    if let Some(helm) = helm() {
        let status = Command::new(helm)
            .current_dir(root())
            .args(["template", "gatehouse", CHART])
            .args(["--set", "shutdown.terminationGracePeriodSeconds=25"])
            .output()
            .unwrap()
            .status;
        assert!(!status.success());
    }
}

#[test]
fn replicas_spread_across_nodes_and_a_pdb_guards_them() {
    let Some(r) = Rendered::new(&[]) else { return };
    let deployment = r.one("Deployment");
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    let spread = &deployment["spec"]["template"]["spec"]["topologySpreadConstraints"];
    let by_node = spread
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["topologyKey"] == "kubernetes.io/hostname")
        .expect("a spread constraint across nodes");
    assert_eq!(int(&by_node["maxSkew"]), 1);
    assert_eq!(&by_node["labelSelector"]["matchLabels"], selector);
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in selector.as_mapping().unwrap() {
        assert_eq!(&pod_labels[key], value, "pod labels match the selector");
    }

    let pdb = r.one("PodDisruptionBudget");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);
    assert_eq!(int(&pdb["spec"]["minAvailable"]), 1);

    let service = r.one("Service");
    assert_eq!(&service["spec"]["selector"], selector);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");

    // A single replica gets no PDB (it would block every node drain).
    let Some(single) = Rendered::new(&[
        "--set",
        "autoscaling.enabled=false",
        "--set",
        "replicaCount=1",
    ]) else {
        return;
    };
    assert!(single.find("PodDisruptionBudget").is_none());
    assert!(single.find("HorizontalPodAutoscaler").is_none());
    assert_eq!(int(&single.one("Deployment")["spec"]["replicas"]), 1);
}

#[test]
fn migrations_run_once_in_a_pre_install_pre_upgrade_hook_job() {
    let Some(r) = Rendered::new(&[]) else { return };
    let job = r.one("Job");
    assert_eq!(
        hook_annotation(job, "helm.sh/hook"),
        Some("pre-install,pre-upgrade")
    );
    let policy = hook_annotation(job, "helm.sh/hook-delete-policy").unwrap();
    assert!(policy.contains("before-hook-creation") && policy.contains("hook-succeeded"));
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let migrate = container(job, "migrate");
    assert_eq!(migrate["args"][0], "migrate");
    assert_eq!(
        migrate["image"],
        container(r.one("Deployment"), "gatehouse")["image"]
    );
    assert_locked_down(pod, migrate);

    // Pre-install hooks run before the release's own Secret, ConfigMap and ServiceAccount
    // exist: the Job uses none of them.
    assert!(migrate["envFrom"].is_null());
    assert!(pod["serviceAccountName"].is_null());
    assert_eq!(
        env(migrate, "GATEHOUSE_ENV").unwrap()["value"],
        "production"
    );
    let secret_name = env(migrate, "DATABASE_URL").unwrap()["valueFrom"]["secretKeyRef"]["name"]
        .as_str()
        .unwrap();
    assert_ne!(
        Some(secret_name),
        r.one("Deployment")["metadata"]["name"].as_str()
    );
    let hook_secret = r
        .named("Secret", secret_name)
        .expect("the Job's DATABASE_URL comes from a hook Secret");
    assert_eq!(
        hook_annotation(hook_secret, "helm.sh/hook"),
        Some("pre-install,pre-upgrade")
    );
    let weight = |doc: &Value| -> i64 {
        hook_annotation(doc, "helm.sh/hook-weight")
            .unwrap_or("0")
            .parse()
            .unwrap()
    };
    assert!(
        weight(hook_secret) < weight(job),
        "the hook Secret is created before the Job"
    );
}

#[test]
fn an_existing_secret_replaces_the_chart_secrets() {
    let Some(r) = Rendered::new(&["-f", "helm/gatehouse/ci/existing-secret-values.yaml"]) else {
        return;
    };
    assert!(
        r.find("Secret").is_none(),
        "no chart Secret, no hook Secret"
    );
    let server = container(r.one("Deployment"), "gatehouse");
    let migrate = container(r.one("Job"), "migrate");
    for c in [server, migrate] {
        let reference = &env(c, "DATABASE_URL").unwrap()["valueFrom"]["secretKeyRef"];
        assert_eq!(reference["name"], "gatehouse-credentials");
        assert_eq!(reference["key"], "database-url");
    }
    assert_eq!(
        r.config("JWT_PUBLIC_KEY_FILE"),
        "/etc/gatehouse/jwt/public.pem"
    );
    // The Job may use an operator-provided ServiceAccount, which exists before the install.
    assert_eq!(
        r.one("Job")["spec"]["template"]["spec"]["serviceAccountName"],
        "gatehouse-migrator"
    );
    assert_eq!(int(&r.one("Deployment")["spec"]["replicas"]), 3);
    assert_eq!(
        int(&r.one("PodDisruptionBudget")["spec"]["maxUnavailable"]),
        1
    );
}

#[test]
fn optional_ingress_and_service_monitor() {
    let Some(defaults) = Rendered::new(&[]) else {
        return;
    };
    assert!(defaults.find("Ingress").is_none());
    assert!(defaults.find("ServiceMonitor").is_none());

    let Some(r) = Rendered::new(&["-f", "helm/gatehouse/ci/all-features-values.yaml"]) else {
        return;
    };
    let ingress = r.one("Ingress");
    assert_eq!(ingress["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "api.example.com");
    assert_eq!(
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        r.one("Service")["metadata"]["name"]
    );
    let monitor = r.one("ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(
        int(&r.one("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]),
        60
    );
    assert_eq!(
        r.one("HorizontalPodAutoscaler")["spec"]["metrics"]
            .as_sequence()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(r.config("GATEHOUSE_TRUSTED_PROXIES"), "10.0.0.10,10.0.0.11");
}

#[test]
fn cache_settings_reach_the_config_map() {
    let Some(r) = Rendered::new(&[]) else {
        return;
    };
    for (name, value) in [
        ("GATEHOUSE_ENTITY_CACHE", "true"),
        ("GATEHOUSE_RESPONSE_CACHE", "true"),
        ("GATEHOUSE_LOCAL_CACHE_TTL_MS", "1000"),
        ("GATEHOUSE_CACHE_TTL_SECS", "300"),
    ] {
        assert_eq!(r.config(name), value, "{name}");
    }
    let Some(r) = Rendered::new(&[
        "--set",
        "config.cache.responses=false",
        "--set",
        "config.cache.localTtlMs=0",
    ]) else {
        return;
    };
    assert_eq!(r.config("GATEHOUSE_RESPONSE_CACHE"), "false");
    assert_eq!(r.config("GATEHOUSE_LOCAL_CACHE_TTL_MS"), "0");
}
