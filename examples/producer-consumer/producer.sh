#!/usr/bin/env bash
# A producer of S0 through the gateway: it holds no AWS credentials, only the
# gateway's URL and an API key. For each file it asks POST /_/api/v1/presign
# for a PUT URL (tweedle picks the key under the key's prefix; the type and
# size are bound into the signature) and uploads with plain curl, sending the
# headers the answer lists. Prints a receipt per upload: "<key> <sha256>".
#   GATEWAY_URL=http://127.0.0.1:9324 PRODUCER_KEY=twk_... ./producer.sh FILE...
set -euo pipefail
: "${GATEWAY_URL:?set GATEWAY_URL}" "${PRODUCER_KEY:?set PRODUCER_KEY}"
for f in "$@"; do
  size=$(wc -c <"$f")
  answer=$(curl -sS --fail-with-body -H "Authorization: Bearer $PRODUCER_KEY" \
    -H 'Content-Type: application/json' "$GATEWAY_URL/_/api/v1/presign" \
    -d "{\"method\":\"PUT\",\"content_type\":\"application/octet-stream\",\"content_length\":$size,\"filename\":\"$(basename "$f")\"}") ||
    { echo "producer: presign failed: $answer" >&2; exit 1; }
  # the URL, the key, then each header to send as "Name: value"
  mapfile -t a < <(python3 -c 'import json,sys; p=json.load(sys.stdin)
print(p["url"]); print(p["key"])
for k, v in p["headers"].items(): print("%s: %s" % (k, v))' <<<"$answer")
  headers=()
  for h in "${a[@]:2}"; do headers+=(-H "$h"); done
  # S3 answers an upload with an empty body; an error's XML goes to stderr
  curl -sS --fail-with-body -T "$f" "${headers[@]}" -o /dev/stderr "${a[0]}"
  echo "${a[1]} $(sha256sum "$f" | cut -d' ' -f1)"
done
