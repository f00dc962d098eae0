#!/usr/bin/env bash
# The main job on the embedded default (SQLite): check and compile the examples,
# start a worker on the compiled graphs, run an order to completion, a saga that
# fails and rolls back, and an approval answered by a signal, then show what the
# store recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VRB_BIN:-.venv/bin}"
OUT="${VRB_DEMO_OUT:-build/demo}"
DB="sqlite:///$OUT/demo.db"

step() { printf '\n== %s\n' "$*"; }

rm -rf "$OUT" && mkdir -p "$OUT"

step "vrb-compile check examples/ (workflows that compile cleanly)"
$BIN/vrb-compile check examples/

step "vrb-compile check examples/broken/ (what the checker rejects; exit 1 expected)"
status=0
$BIN/vrb-compile check --no-config examples/broken/ || status=$?
[ "$status" -eq 1 ] || { echo "expected exit 1 from the broken examples, got $status" >&2; exit 1; }

step "vrb-compile build examples/ --out $OUT/graphs"
$BIN/vrb-compile build examples/ --out "$OUT/graphs" | tail -n 1

step "vrb worker (in the background) on $DB"
$BIN/vrb worker examples.order_processing examples.saga examples.approval --graphs "$OUT/graphs" \
    --db "$DB" --workflow order-processing --workflow saga-with-rollbacks \
    --workflow approval-workflow --poll-interval 0.1 \
    >"$OUT/worker.log" 2>&1 &
worker=$!
trap 'kill -TERM $worker 2>/dev/null || true; wait $worker 2>/dev/null || true' EXIT

step "vrb trigger order-processing --wait"
$BIN/vrb trigger order-processing --db "$DB" --run-id demo-order --wait --timeout 60 \
    --args '[{"id": "ORD-12345", "customerEmail": "user@example.com", "items": [{"sku": "PROD-001", "quantity": 2, "price": 9.5}]}]'

step "vrb trigger saga-with-rollbacks --wait (book-car fails: rollbacks run in reverse; exit 1 expected)"
status=0
$BIN/vrb trigger saga-with-rollbacks --db "$DB" --run-id demo-saga --wait --timeout 60 \
    --args '["user-1", true]' || status=$?
[ "$status" -eq 1 ] || { echo "expected the saga to fail with exit 1, got $status" >&2; exit 1; }

step "vrb runs show demo-saga"
$BIN/vrb runs show demo-saga --db "$DB"

step "vrb trigger approval-workflow: its await-approval step waits for the manager-decision signal"
$BIN/vrb trigger approval-workflow --db "$DB" --run-id demo-approval \
    --args '[{"type": "purchase", "amount": 1200, "requester": "ada@example.com"}]'

step "vrb signal demo-approval manager-decision (sent whenever the manager decides; buffered durably)"
$BIN/vrb signal demo-approval manager-decision --db "$DB" \
    --payload '{"approved": true, "approver": "manager@example.com", "comments": "Approved within budget"}'

step "vrb trigger again with the same --run-id: idempotent, it only waits for the result"
$BIN/vrb trigger approval-workflow --db "$DB" --run-id demo-approval --wait --timeout 60

step "vrb runs show demo-approval"
$BIN/vrb runs show demo-approval --db "$DB"

step "vrb runs list / vrb stats"
$BIN/vrb runs list --db "$DB"
$BIN/vrb stats --db "$DB"
