"""A five-minute tour of stagedb with pymysql.

Start a server first (``uv run stagedb serve``), then run::

    uv run python examples/quickstart.py [--host 127.0.0.1] [--port 3307]

It creates an external stage over a temporary directory, lists and filters
its files, removes some, shows and describes the stage, and drops it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pymysql


def show(cursor: pymysql.cursors.Cursor, sql: str) -> None:
    """Run one statement and print it with its rows."""
    cursor.execute(sql)
    print(f"mysql> {sql};")
    for row in cursor.fetchall():
        print("   ", row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3307)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("2024/01/orders.csv", "2024/01/refunds.csv", "2024/02/orders.csv"):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text("id,amount\n1,9.99\n")

        conn = pymysql.connect(
            host=args.host, port=args.port, user=args.user, password=args.password, autocommit=True
        )
        with conn, conn.cursor() as cur:
            show(cur, f"CREATE OR REPLACE STAGE sales URL = 'fs://{root}/' COMMENT = 'demo'")
            show(cur, "LIST @sales")
            show(cur, "LIST @sales/2024/01/")
            show(cur, "LIST @sales PATTERN = '.*orders[.]csv'")
            show(cur, "REMOVE @sales/2024/01/ PATTERN = 'refunds.*'")
            show(cur, "SHOW STAGES LIKE 'sal%'")
            show(cur, "DESC STAGE sales")
            show(cur, "LIST @~")
            try:
                cur.execute("LIST @no_such_stage")
            except pymysql.MySQLError as error:
                print("error as expected:", error.args)
            show(cur, "DROP STAGE sales")


if __name__ == "__main__":
    main()
