# shellcheck shell=bash
# The opt-in node of the ianvs-lab test environment: a kubelet with its OWN containerd, CNI bridge and cgroup
# subtree, so that Pods really run images we built (docs/testenv-node.md). Sourced by scripts/testenv, which
# provides log/die, the PKI helpers, start_component/stop_component and the state paths; run it through
#
#   scripts/testenv node-up     the control plane must be up; build kubelet + pause image, start containerd and
#                               the kubelet, import the images, wait until the Node is Ready (idempotent)
#   scripts/testenv node-down   stop exactly what node-up started, remove containers, mounts, netns, cgroups,
#                               the bridge and all node data; restore the sysctls the node changed
#
# Everything host-wide that the node touches is named here, so `node-down` can undo exactly that:
#   - processes: containerd and kubelet (pid files in $RUN), the containerd shims (found by OUR socket path);
#   - /run/ianvs-lab/testenv-<hash>/  containerd state, socket, runc state (short: unix sockets max ~107 chars);
#   - network: bridge $NODE_BRIDGE with $NODE_IP/24 (pod netns mounts live under our state dir);
#   - cgroups: $NODE_CGROUP_ROOT in every cgroup v1 hierarchy (and the v2 "unified" one runc also writes);
#   - sysctls the kubelet or the bridge plugin may set (saved at node-up, restored at node-down);
#   - paths hard-coded in the kubelet or containerd's CNI library, whatever the configuration:
#     /var/log/containers/*.log (symlinks into our pod log dir), /var/lib/kubelet/device-plugins/kubelet.sock
#     (+ its checkpoint), /var/lib/cni/results/* (CNI result cache); the directories among these that node-up
#     found missing are removed again at node-down when empty.

NODE_NAME=ianvs-lab-testenv-node
NODE_TAINT_KEY=ianvs-lab.io/testenv-node
NODE_TAINT="$NODE_TAINT_KEY=true:NoSchedule"
POD_CIDR=10.244.0.0/24
# The kubelet refuses a loopback node IP ("nodeIP can't be loopback address"), and the API server reaches the
# kubelet (logs, exec) at the node's InternalIP. The gateway address of our own pod bridge exists only on this
# machine, so the kubelet serves there instead of on a LAN address.
NODE_IP=10.244.0.1
NODE_BRIDGE=ianvslab0
NODE_CGROUP_ROOT=/ianvs-lab-testenv
NODE_DIR="$STATE/node"
NODE_ENV_FILE="$NODE_DIR/env"
NODE_RUN_DIR="/run/ianvs-lab/testenv-$(printf '%s' "$STATE" | sha256sum | cut -c1-8)"
CONTAINERD_SOCK="$NODE_RUN_DIR/containerd.sock"
CNI_BIN_DIR="${IANVS_LAB_CNI_BIN_DIR:-/usr/lib/cni}"
PAUSE_IMAGE=ianvs-lab/pause:testenv
PAUSE_REF="docker.io/$PAUSE_IMAGE"
# Images made available to Pods (imagePullPolicy: Never); the test image is the project's base image.
# shellcheck disable=SC2206 # a space-separated list, split on purpose
NODE_IMAGES=(${IANVS_LAB_NODE_IMAGES:-ianvs-lab/base:bookworm})
NODE_STOP_ORDER=(kubelet containerd)
NODE_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
    kernel.keys.root_maxbytes net.ipv4.ip_forward)
IMAGES_CACHE="$CACHE_ROOT/images"
CNI_NETWORK=ianvs-lab-testenv
HOST_DIRS=(/run/ianvs-lab /var/lib/kubelet /var/lib/kubelet/device-plugins /var/lib/cni /var/lib/cni/results
    /var/log/containers)

node_ctr() { ctr -a "$CONTAINERD_SOCK" -n k8s.io "$@"; }
node_kubectl() { "$(kubectl_path)" --kubeconfig "$STATE/kubeconfig" "$@"; }

# ---------------------------------------------------------------------------------------------------- pause image

# The pause binary is ours (scripts/pause/main.go); the image is that one file FROM scratch, rebuilt only when
# the binary's recipe changes (the recipe is stored as an image label).
build_pause_image() {
    local bin="$BIN_ROOT/pause/pause" recipe have ctx
    go_build "$ROOT/scripts/pause" . "$bin" "-s -w"
    recipe="$(cat "$bin.recipe")-$(sha256sum "$ROOT/scripts/pause/Dockerfile" | cut -c1-8)"
    command -v docker >/dev/null && docker info >/dev/null 2>&1 \
        || die "the pause image is built with Docker, which does not answer; run scripts/docker-engine"
    have="$(docker image inspect --format '{{index .Config.Labels "ianvs-lab.recipe"}}' "$PAUSE_IMAGE" 2>/dev/null || true)"
    if [ "$have" = "$recipe" ]; then
        log "cached  image $PAUSE_IMAGE (recipe $recipe)"
    else
        log "build   image $PAUSE_IMAGE FROM scratch"
        ctx="$(mktemp -d)"
        cp "$bin" "$ctx/pause"
        cp "$ROOT/scripts/pause/Dockerfile" "$ctx/Dockerfile"
        if ! docker build -q --build-arg "RECIPE=$recipe" -t "$PAUSE_IMAGE" "$ctx" >"$ctx/build.log" 2>&1; then
            cat "$ctx/build.log" >&2; rm -rf "$ctx"; die "docker build of $PAUSE_IMAGE failed"
        fi
        rm -rf "$ctx"
    fi
}

# image_tar IMAGE: a `docker save` of IMAGE, cached per image id (saving the base image takes seconds).
image_tar() {
    local image="$1" id tar
    id="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null)" || return 1
    id="${id#sha256:}"
    tar="$IMAGES_CACHE/$(printf '%s' "$image" | tr '/:' '__')-${id:0:12}.tar"
    if [ ! -f "$tar" ]; then
        mkdir -p "$IMAGES_CACHE"
        rm -f "$IMAGES_CACHE/$(printf '%s' "$image" | tr '/:' '__')"-*.tar
        docker save -o "$tar.tmp.$$" "$image" || { rm -f "$tar.tmp.$$"; return 1; }
        mv -f "$tar.tmp.$$" "$tar"
    fi
    echo "$tar"
}

# import_images [IMAGE...]: the pause image and NODE_IMAGES (default), or the images named.
import_images() {
    local image tar images=("$@")
    [ ${#images[@]} -gt 0 ] || images=("$PAUSE_IMAGE" "${NODE_IMAGES[@]}")
    for image in "${images[@]}"; do
        if ! tar="$(image_tar "$image")"; then
            [ "$image" = "$PAUSE_IMAGE" ] && die "could not export $PAUSE_IMAGE from Docker"
            log "skip    image $image (not in Docker; build it with scripts/base-image)"
            continue
        fi
        log "import  image $image into the node's containerd"
        node_ctr images import "$tar" >/dev/null || die "ctr images import $tar failed"
    done
}

# ---------------------------------------------------------------------------------------------------- host setup

node_prerequisites() {
    local b missing=()
    [ "$(id -u)" -eq 0 ] || die "the node needs root (containerd, kubelet, mounts, cgroups, a bridge)"
    for b in containerd containerd-shim-runc-v2 ctr runc ip; do command -v "$b" >/dev/null || missing+=("$b"); done
    [ ${#missing[@]} -eq 0 ] || die "missing on PATH: ${missing[*]} (Debian: apt-get install containerd runc iproute2)"
    for b in bridge host-local loopback; do
        [ -x "$CNI_BIN_DIR/$b" ] && continue
        command -v apt-get >/dev/null || die "CNI plugin $CNI_BIN_DIR/$b is missing; install containernetworking-plugins"
        log "install containernetworking-plugins (apt-get; $CNI_BIN_DIR/$b is missing)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends containernetworking-plugins >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
                 apt-get install -y -q --no-install-recommends containernetworking-plugins >/dev/null; } \
            || die "apt-get install containernetworking-plugins failed"
        break
    done
    [ -d /sys/fs/cgroup/memory ] || die "the node supports cgroup v1 hosts only for now (no /sys/fs/cgroup/memory)"
    [ ! -S /var/lib/kubelet/device-plugins/kubelet.sock ] \
        || die "another kubelet seems to run on this host (/var/lib/kubelet/device-plugins/kubelet.sock exists)"
}

# Remember which host-wide directories the kubelet/containerd will create, to remove exactly those at node-down.
record_host_dirs() {
    local d
    for d in "${HOST_DIRS[@]}"; do [ -e "$d" ] || echo "$d"; done >"$NODE_DIR/host-dirs-created"
}

# Files the kubelet and containerd leave at hard-coded host paths, then the directories node-up created.
remove_host_files() {
    local l id d
    for l in /var/log/containers/*.log; do
        [ -L "$l" ] && case "$(readlink "$l")" in "$NODE_DIR"/*) rm -f "$l" ;; esac
    done
    rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
    if [ -f "$NODE_DIR/container-ids" ]; then
        while IFS= read -r id; do
            rm -f "/var/lib/cni/results/$CNI_NETWORK-$id-"* "/var/lib/cni/results/cni-loopback-$id-"*
        done <"$NODE_DIR/container-ids"
    fi
    [ -f "$NODE_DIR/host-dirs-created" ] || return 0
    while IFS= read -r d; do
        rmdir "$d" 2>/dev/null || log "keep    $d (not empty)"
    done < <(sort -r "$NODE_DIR/host-dirs-created")
}

save_sysctls() {
    local s
    for s in "${NODE_SYSCTLS[@]}"; do printf '%s=%s\n' "$s" "$(sysctl -n "$s")"; done >"$NODE_DIR/sysctl.saved"
}

restore_sysctls() {
    local line key value
    [ -f "$NODE_DIR/sysctl.saved" ] || return 0
    while IFS= read -r line; do
        key="${line%%=*}"; value="${line#*=}"
        [ "$(sysctl -n "$key" 2>/dev/null)" = "$value" ] && continue
        log "restore sysctl $key=$value"
        sysctl -q -w "$key=$value" >/dev/null || log "WARNING: could not restore sysctl $key=$value"
    done <"$NODE_DIR/sysctl.saved"
}

# Every cgroup hierarchy mounted on this host (v1 controllers and the v2 "unified" one of hybrid hosts).
cgroup_mounts() { awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts | sort -u; }

make_cgroup_root() {
    local m
    log "cgroup  $NODE_CGROUP_ROOT in every hierarchy (the kubelet's cgroupRoot; removed at node-down)"
    for m in $(cgroup_mounts); do
        mkdir -p "$m$NODE_CGROUP_ROOT"
        # A new cpuset cgroup starts with no CPUs and no memory nodes: nothing could run in it.
        if [ -f "$m/cpuset.cpus" ]; then
            cat "$m/cpuset.cpus" >"$m$NODE_CGROUP_ROOT/cpuset.cpus"
            cat "$m/cpuset.mems" >"$m$NODE_CGROUP_ROOT/cpuset.mems"
        fi
    done
}

remove_cgroup_root() {
    local m d left
    for m in $(cgroup_mounts); do
        [ -d "$m$NODE_CGROUP_ROOT" ] || continue
        # Deepest first: a cgroup directory can only be removed once it has no children (and no processes).
        while IFS= read -r d; do
            rmdir "$d" 2>/dev/null || { left="$(cat "$d/cgroup.procs" 2>/dev/null | tr '\n' ' ')"
                log "WARNING: cannot remove cgroup $d (processes: ${left:-none})"; }
        done < <(find "$m$NODE_CGROUP_ROOT" -depth -type d)
    done
}

make_bridge() {
    if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
        ip -4 addr show dev "$NODE_BRIDGE" | grep -q "inet $NODE_IP/" \
            || die "a bridge $NODE_BRIDGE exists without $NODE_IP; is another test node running? (ip link del $NODE_BRIDGE)"
        return 0
    fi
    if ip -4 route show to "$POD_CIDR" | grep -q .; then
        die "$POD_CIDR is already routed on this host ($(ip -4 route show to "$POD_CIDR")); pick another POD_CIDR"
    fi
    log "network bridge $NODE_BRIDGE $NODE_IP/24 (pod CIDR $POD_CIDR; the kubelet serves on $NODE_IP)"
    ip link add "$NODE_BRIDGE" type bridge
    ip addr add "$NODE_IP/24" dev "$NODE_BRIDGE"
    ip link set "$NODE_BRIDGE" up
}

# ---------------------------------------------------------------------------------------------------- containerd

# has_capability BIT: whether this shell holds the capability (CAP_SYS_RESOURCE is 24) in its effective set.
has_capability() {
    local eff; eff="$(awk '/^CapEff:/ { print $2 }' /proc/self/status)"
    [ $(( (0x$eff >> $1) & 1 )) -eq 1 ]
}

write_containerd_config() {
    local restrict_oom=true
    has_capability 24 && restrict_oom=false
    mkdir -p "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/ipam" "$NODE_DIR/containerd" "$NODE_RUN_DIR"
    cat >"$NODE_DIR/cni/net.d/10-ianvs-lab.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
    # A second containerd, fully separate from the system/Docker one: own root, state, sockets, runc root.
    cat >"$NODE_DIR/containerd.toml" <<EOF
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_RUN_DIR/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$NODE_RUN_DIR/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"

# The legacy v1 runtime is unused, but the task service needs it loaded; keep its runc root ours too.
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "$NODE_RUN_DIR/runc-v1"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_REF"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # Pod network namespaces under OUR state dir instead of the host-wide /run/netns.
  netns_mounts_under_state_dir = true
  # Lowering a process's oom_score_adj needs CAP_SYS_RESOURCE, which some VMs and CI containers withhold:
  # runc would die setting the sandbox's -998 ("can't get final child's PID from pipe: EOF"). Clamp instead
  # to containerd's own score (pods then score >= 0; BestEffort/Burstable scores are unaffected).
  restrict_oom_score_adj = $restrict_oom
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$NODE_RUN_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$NODE_DIR/cni/net.d"
    max_conf_num = 1
EOF
}

start_containerd() {
    write_containerd_config
    start_component containerd "$(command -v containerd)" --config "$NODE_DIR/containerd.toml"
    wait_for containerd ctr -a "$CONTAINERD_SOCK" version
}

# ---------------------------------------------------------------------------------------------------- kubelet

node_pki() {
    log "certificates: node client (CN=system:node:$NODE_NAME, O=system:nodes), kubelet serving ($NODE_IP)"
    new_cert "node-$NODE_NAME" "system:node:$NODE_NAME" system:nodes
    new_cert kubelet-serving "$NODE_NAME" "" "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE_NAME"
}

# The API server proxies logs/exec to the kubelet as kube-apiserver-kubelet-client; the kubelet asks the API
# server (webhook authorization) whether that user may, so it needs the built-in kubelet-api-admin role.
node_rbac() {
    node_kubectl apply -f - >/dev/null <<EOF || die "could not grant the API server access to the kubelet API"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ianvs-lab-testenv:apiserver-kubelet-api-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kubelet-api-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client}
EOF
}

write_kubelet_config() {
    mkdir -p "$NODE_DIR/kubelet" "$NODE_DIR/pod-logs" "$NODE_DIR/volume-plugins"
    write_kubeconfig "$NODE_DIR/kubelet.kubeconfig" "node-$NODE_NAME"
    cat >"$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
cgroupRoot: $NODE_CGROUP_ROOT
cgroupsPerQOS: true
failSwapOn: false
# The kubelet's iptables chains serve kube-proxy and are host-wide; this node has no kube-proxy.
makeIPTablesUtilChains: false
podLogsDir: $NODE_DIR/pod-logs
volumePluginDir: $NODE_DIR/volume-plugins
registerNode: true
registerWithTaints:
- {key: $NODE_TAINT_KEY, value: "true", effect: NoSchedule}
maxPods: 32
resolvConf: /etc/resolv.conf
# Imported images cannot be pulled again: never garbage-collect them; evict only when the disk is really full.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
EOF
}

start_kubelet() {
    write_kubelet_config
    start_component kubelet "$K8S_BIN_DIR/kubelet" \
        --config "$NODE_DIR/kubelet.yaml" --kubeconfig "$NODE_DIR/kubelet.kubeconfig" \
        --root-dir "$NODE_DIR/kubelet" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1
    wait_for kubelet curl -fsS --max-time 2 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"
}

node_ready() {
    [ "$(node_kubectl get node "$NODE_NAME" \
        -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

wait_node_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    until node_ready; do
        is_running kubelet || { sleep 0.2; fail_with_log kubelet "exited before the node became Ready"; }
        is_running containerd || fail_with_log containerd "exited before the node became Ready"
        if [ $SECONDS -ge $deadline ]; then
            node_kubectl get node "$NODE_NAME" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.message}{"\n"}{end}' >&2 || true
            log "last lines of $LOGS/containerd.log:"; tail -n 10 "$LOGS/containerd.log" >&2 || true
            fail_with_log kubelet "node $NODE_NAME not Ready after ${READY_TIMEOUT_S}s"
        fi
        sleep 0.5
    done
    log "ready   node $NODE_NAME"
}

write_node_env_file() {
    cat >"$NODE_ENV_FILE" <<EOF
IANVS_LAB_TESTENV_NODE_NAME=$NODE_NAME
IANVS_LAB_TESTENV_NODE_TAINT_KEY=$NODE_TAINT_KEY
IANVS_LAB_TESTENV_NODE_TAINT=$NODE_TAINT
IANVS_LAB_TESTENV_NODE_IP=$NODE_IP
IANVS_LAB_TESTENV_POD_CIDR=$POD_CIDR
IANVS_LAB_TESTENV_PAUSE_IMAGE=$PAUSE_REF
IANVS_LAB_TESTENV_NODE_IMAGES=${NODE_IMAGES[*]}
IANVS_LAB_TESTENV_CONTAINERD_SOCKET=$CONTAINERD_SOCK
IANVS_LAB_TESTENV_KUBELET_LOG=$LOGS/kubelet.log
IANVS_LAB_TESTENV_CONTAINERD_LOG=$LOGS/containerd.log
EOF
}

# ---------------------------------------------------------------------------------------------------- commands

control_plane_up() { all_running && load_ports && curl_admin "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1; }

node_all_running() {
    local c
    for c in "${NODE_STOP_ORDER[@]}"; do is_running "$c" || return 1; done
    [ -f "$NODE_ENV_FILE" ]
}

cmd_node_up() {
    control_plane_up || die "the control plane is not up; run scripts/testenv up first"
    [ -f "$PKI/apiserver-kubelet-client.crt" ] \
        || die "the running control plane predates node support (no kubelet client cert); run scripts/testenv down && scripts/testenv up"
    if node_all_running && node_ready; then
        log "node already up: $NODE_NAME (kubelet pid $(pid_of kubelet), containerd $CONTAINERD_SOCK)"
        return 0
    fi
    if node_traces_exist; then
        log "a previous node is incomplete; tearing it down first"
        cmd_node_down
    fi
    node_prerequisites
    cmd_build kubelet pause
    local start=$SECONDS
    mkdir -p "$NODE_DIR"
    record_host_dirs
    mkdir -p "$NODE_RUN_DIR"
    read -r KUBELET_PORT KUBELET_HEALTHZ_PORT <<<"$(free_ports 2)"
    printf 'KUBELET_PORT=%s\nKUBELET_HEALTHZ_PORT=%s\n' "$KUBELET_PORT" "$KUBELET_HEALTHZ_PORT" >"$RUN/node-ports"
    trap 'log "node start-up failed; stopping what was started"; cmd_node_down >/dev/null 2>&1 || true' EXIT
    save_sysctls
    make_cgroup_root
    make_bridge
    start_containerd
    import_images
    node_pki
    node_rbac
    start_kubelet
    wait_node_ready
    write_node_env_file
    trap - EXIT
    log "node up in $((SECONDS - start))s: $NODE_NAME (taint $NODE_TAINT; pods need imagePullPolicy: Never)"
}

# node-load IMAGE...: make locally built Docker images runnable on the node (as `kind load docker-image` does).
cmd_node_load() {
    [ $# -gt 0 ] || die "node-load: name at least one Docker image"
    node_all_running || die "the node is not up; run scripts/testenv node-up first"
    local image
    for image in "$@"; do
        docker image inspect "$image" >/dev/null 2>&1 || die "node-load: no Docker image $image"
    done
    import_images "$@"
}

# Kill and delete every task and container of OUR containerd (no CNI DEL: the veths die with their netns), and
# collect the sandboxes' network namespaces: under our state dir here, but /run/netns where containerd ignores
# netns_mounts_under_state_dir.
remove_node_containers() {
    local ids id
    ctr -a "$CONTAINERD_SOCK" version >/dev/null 2>&1 || return 0
    ids="$(node_ctr containers list -q 2>/dev/null || true)"
    [ -n "$ids" ] || return 0
    echo "$ids" >>"$NODE_DIR/container-ids"
    log "remove  $(echo "$ids" | wc -l) container(s) of the node's containerd"
    for id in $ids; do
        node_ctr containers info "$id" 2>/dev/null | python3 -c '
import json, sys
spec = json.load(sys.stdin).get("Spec") or {}
for ns in (spec.get("linux") or {}).get("namespaces") or []:
    if ns.get("type") == "network" and ns.get("path"):
        print(ns["path"])' >>"$NODE_DIR/netns" 2>/dev/null || true
        node_ctr tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    for id in $ids; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            node_ctr tasks delete "$id" >/dev/null 2>&1 && break
            node_ctr tasks list -q 2>/dev/null | grep -qx "$id" || break
            sleep 0.2
        done
        node_ctr containers delete "$id" >/dev/null 2>&1 || log "WARNING: could not delete container $id"
    done
}

# Processes our containerd started (shims) carry OUR socket path in their arguments; nothing else does.
stop_shims() {
    local p pids=()
    for p in /proc/[0-9]*; do
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "-address $CONTAINERD_SOCK " && pids+=("${p#/proc/}")
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    log "stop    ${#pids[@]} leftover containerd shim(s): ${pids[*]}"
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

# Unmount everything below the given directories, deepest first (tmpfs of secrets/tokens, overlay rootfs,
# sandbox /dev/shm), so that deleting them cannot reach into a mounted filesystem.
unmount_under() {
    local dir m mounts=()
    for dir in "$@"; do
        [ -d "$dir" ] || continue
        dir="$(readlink -f "$dir")"
        mapfile -t -O "${#mounts[@]}" mounts < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts \
            | sed 's/\\040/ /g')
    done
    [ ${#mounts[@]} -gt 0 ] || return 0
    log "unmount ${#mounts[@]} filesystem(s) under the node's directories"
    while IFS= read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "WARNING: could not unmount $m"
    done < <(printf '%s\n' "${mounts[@]}" | sort -r)
}

remove_netns() {
    local ns
    [ -f "$NODE_DIR/netns" ] || return 0
    for ns in $(sort -u "$NODE_DIR/netns"); do
        case "$ns" in /run/netns/cni-*|/var/run/netns/cni-*|"$NODE_RUN_DIR"/*) ;; *) continue ;; esac
        [ -e "$ns" ] || continue
        umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
        rm -f "$ns"
    done
}

node_traces_exist() {
    [ -d "$NODE_DIR" ] || [ -d "$NODE_RUN_DIR" ] || [ -f "$RUN/kubelet.pid" ] || [ -f "$RUN/containerd.pid" ]
}

cmd_node_down() {
    local c
    node_traces_exist || { log "node not running; nothing to stop"; return 0; }
    mkdir -p "$NODE_DIR"
    stop_component kubelet
    # Without its kubelet the Node would linger as NotReady and the scheduler would still consider it.
    if control_plane_up && node_kubectl get node "$NODE_NAME" >/dev/null 2>&1; then
        log "delete  node $NODE_NAME from the API"
        node_kubectl delete node "$NODE_NAME" --wait=false >/dev/null 2>&1 || log "WARNING: could not delete node $NODE_NAME"
    fi
    remove_node_containers
    stop_component containerd
    stop_shims
    unmount_under "$NODE_DIR" "$NODE_RUN_DIR"
    remove_netns
    remove_cgroup_root
    if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
        log "network remove bridge $NODE_BRIDGE"
        ip link del "$NODE_BRIDGE" || log "WARNING: could not delete bridge $NODE_BRIDGE"
    fi
    restore_sysctls
    log "remove  $NODE_DIR and $NODE_RUN_DIR (kubelet and containerd data, images, pod logs)"
    rm -rf "$NODE_RUN_DIR"
    remove_host_files
    rm -rf "$NODE_DIR" "$RUN/node-ports"
    for c in "${NODE_STOP_ORDER[@]}"; do rm -f "$RUN/$c.pid" "$RUN/$c.exe"; done
}

node_status() {
    local c
    for c in "${NODE_STOP_ORDER[@]}"; do
        [ -f "$RUN/$c.pid" ] || continue
        if is_running "$c"; then printf '%-24s %-8s %s\n' "$c" "$(pid_of "$c")" running
        else printf '%-24s %-8s %s\n' "$c" - stopped; fi
    done
    if [ -f "$RUN/kubelet.pid" ]; then
        if node_ready; then echo "node: $NODE_NAME Ready (taint $NODE_TAINT)"; else echo "node: $NODE_NAME not Ready"; fi
    fi
}
