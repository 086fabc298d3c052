#!/usr/bin/env bash
# stagedb upload / stagedb download: a folder to a stage and back.
#
# Start a server first (uv run stagedb serve), then run:
#   bash examples/cli_transfer.sh [http://127.0.0.1:8000] [mysql port, default 3307]
# Needs the mysql CLI for CREATE STAGE (or create the stage with any MySQL client).
set -euo pipefail

URL="${1:-http://127.0.0.1:8000}"
MYSQL_PORT="${2:-3307}"
STAGEDB="${STAGEDB:-uv run stagedb}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK/exports/2024"
for month in 01 02 03; do
  printf 'id,amount\n1,9.99\n' > "$WORK/exports/2024/orders-$month.csv"
done

mysql -h 127.0.0.1 -P "$MYSQL_PORT" -u root -e "CREATE OR REPLACE STAGE cli_demo"

# Without a terminal these print one line per file and a summary; on a terminal, a bar.
$STAGEDB upload "$WORK/exports" @cli_demo/landing/ --url "$URL"
mysql -h 127.0.0.1 -P "$MYSQL_PORT" -u root --batch -e "LIST @cli_demo/landing/"
$STAGEDB download @cli_demo/landing/2024/ "$WORK/copy" --url "$URL"
diff -r "$WORK/exports/2024" "$WORK/copy" && echo "the copy matches"

mysql -h 127.0.0.1 -P "$MYSQL_PORT" -u root -e "DROP STAGE cli_demo"
