#!/bin/sh
# One-shot setup for compose.yaml (the `init` service), idempotent: run it again and it changes
# nothing that exists. Also runs outside containers: every folder comes from the environment.
#   REGISTRY_TLS_DIR  the registry's certificate folder (shared read-only with the sites: ca.pem)
#   SITES             "UPT-A:/data/site-a UPT-B:/data/site-b": site id and data folder, each
#   SITE_HOSTS        the name each site's certificate is for, in the same order
#   MONITORING_CA_DIR optional: where Prometheus finds the CA of each target it scrapes
#                     (registry.pem and SITE_ID.pem; certificates only, never a key)
# The registry's database (REGISTRY_DATABASE_URL) must be up; `gerbang` must be on PATH.
set -eu
: "${REGISTRY_TLS_DIR:?}" "${SITES:?}"
[ -f "$REGISTRY_TLS_DIR/server.pem" ] || gerbang tls init --out "$REGISTRY_TLS_DIR" --host registry --host localhost
set -- ${SITE_HOSTS:-}
for entry in $SITES; do
  site=${entry%%:*} data=${entry#*:} host=${1:-localhost}
  [ $# -gt 0 ] && shift
  [ -f "$data/tls/server.pem" ] || EDGE_DATA_DIR="$data" gerbang tls init --host "$host" --host localhost
  if [ ! -f "$data/keys/site_ed25519.pem" ]; then
    key=$(EDGE_DATA_DIR="$data" EDGE_SITE_ID="$site" gerbang sync keygen | tail -1)
    gerbang registry sites add "$site" --name "Lapas $site" --region "KW-$site" --public-key "$key"
  fi
  [ -z "${MONITORING_CA_DIR:-}" ] || { mkdir -p "$MONITORING_CA_DIR"; cp "$data/tls/ca.pem" "$MONITORING_CA_DIR/$site.pem"; }
done
[ -z "${MONITORING_CA_DIR:-}" ] || cp "$REGISTRY_TLS_DIR/ca.pem" "$MONITORING_CA_DIR/registry.pem"
