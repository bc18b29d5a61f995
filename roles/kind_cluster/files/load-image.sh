#!/bin/sh
# load-image.sh KIND CLUSTER IMAGE NODE...: load a local Docker image into the nodes that lack this very image.
# `kind load` asks each node through crictl whether the image is there; the offline node image has no crictl, so
# kind would copy every image into every node on every run. Each node keeps the id it was given instead.
set -eu
kind="$1" cluster="$2" image="$3"
shift 3
id="$(docker image inspect --format '{{.Id}}' "$image")"
mark="/var/lib/ianvs-lab/images/$(printf '%s' "$image" | tr '/:' '__')"
missing=""
for node in "$@"; do
    [ "$(docker exec "$node" cat "$mark" 2>/dev/null || true)" = "$id" ] || missing="$missing,$node"
done
if [ -z "$missing" ]; then
    echo "present on every node: $image ($id)"
    exit 0
fi
"$kind" load docker-image --name "$cluster" --nodes "${missing#,}" "$image"
for node in $(printf '%s' "${missing#,}" | tr ',' ' '); do
    docker exec "$node" sh -c "mkdir -p /var/lib/ianvs-lab/images && echo '$id' > '$mark'"
done
echo "loaded into ${missing#,}: $image ($id)"
