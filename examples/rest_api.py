"""The two REST APIs for stages, with a programmatic access token.

Start a server first (``uv run stagedb serve``), then run::

    uv run python examples/rest_api.py [--http-url http://127.0.0.1:8000] [--mysql-port 3307]

It makes a token over SQL (CREATE TOKEN), then uses it as a Bearer token on the
Snowflake-style resource (create, fetch, list files, presigned URLs, delete) and
on the Zilliz-style endpoints (create, list, delete), and drops the token.
"""

from __future__ import annotations

import argparse
import json

import pymysql
import requests


def show(title: str, reply: requests.Response) -> None:
    """Print one call and its answer."""
    print(f"{title}: HTTP {reply.status_code} {json.dumps(reply.json())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http-url", default="http://127.0.0.1:8000")
    parser.add_argument("--mysql-host", default="127.0.0.1")
    parser.add_argument("--mysql-port", type=int, default=3307)
    parser.add_argument("--password", default="")
    args = parser.parse_args()

    sql = pymysql.connect(
        host=args.mysql_host, port=args.mysql_port, user="root", password=args.password
    )
    with sql, sql.cursor() as cursor:
        cursor.execute("CREATE TOKEN rest_example EXPIRE = 600")
        _name, token, expires_on = cursor.fetchone()
        print(f"token rest_example expires on {expires_on} (its secret is shown only once)")
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        session.headers["X-Snowflake-Authorization-Token-Type"] = "PROGRAMMATIC_ACCESS_TOKEN"

        # -- Snowflake-style: /api/v2/databases/stagedb/schemas/public/stages ----------
        stages = f"{args.http_url}/api/v2/databases/stagedb/schemas/public/stages"
        show("create", session.post(stages, json={"name": "rest_demo", "comment": "via REST"}))
        show("conflict", session.post(stages, json={"name": "rest_demo"}))
        fetched = session.get(f"{stages}/rest_demo")
        print(f"fetch: owner={fetched.json()['owner']} created_on={fetched.json()['created_on']}")
        presigned = session.post(
            f"{stages}/rest_demo/files/in/hello.csv:presigned-url",
            json={"mode": "upload", "expiration_time": 60},
        ).json()["presigned_url"]
        print("presigned PUT:", requests.put(presigned, data=b"id,greeting\n1,hello\n").json())
        files = session.get(f"{stages}/rest_demo/files", params={"pattern": ".*[.]csv"})
        show("files", files)
        download = session.post(f"{stages}/rest_demo/files/in/hello.csv:presigned-url").json()
        print("presigned GET:", requests.get(download["presigned_url"]).text.splitlines())
        show("delete", session.delete(f"{stages}/rest_demo"))
        show("delete again", session.delete(f"{stages}/rest_demo", params={"ifExists": "true"}))

        # -- Zilliz-style: /v2/stages (projectId and regionId are accepted, ignored) -----
        zilliz = f"{args.http_url}/v2/stages"
        body = {"projectId": "proj-ignored", "regionId": "aws-us-west-1", "stageName": "zdemo"}
        show("zilliz create", session.post(f"{zilliz}/create", json=body))
        show("zilliz list", session.get(zilliz, params={"currentPage": 1, "pageSize": 10}))
        show("zilliz delete", session.delete(f"{zilliz}/zdemo"))
        show("zilliz delete again", session.delete(f"{zilliz}/zdemo"))

        cursor.execute("DROP TOKEN rest_example")
        show("after DROP TOKEN", session.get(stages))


if __name__ == "__main__":
    main()
