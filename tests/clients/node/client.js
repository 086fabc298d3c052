// Node's mysql2 driver for the client-matrix tests, driven line by line on stdin.
//
// Usage: node client.js '{"host": "127.0.0.1", "port": 3307, "user": "root"}'
//
// Each input line is one request, its fields separated by tabs:
//   query SQL      connection.query (the text protocol)
//   execute SQL    connection.execute (a prepared statement: COM_STMT_PREPARE / EXECUTE)
// and gets one JSON line back: {"columns": [...], "rows": [[...]]}, {"update": n}
// or {"error": {"errno": n, "sqlstate": "...", "message": "..."}}.  The first line
// printed, before any request, describes the connection ({"server": ...}).
"use strict";

const readline = require("node:readline");
const mysql = require("mysql2/promise");

// mysql2's column flags (a number, or a list of names in recent releases).
function flagSet(column) {
  const flags = column.flags;
  if (Array.isArray(flags)) return new Set(flags);
  const names = new Set();
  if (flags & 1) names.add("NOT_NULL");
  if (flags & 32) names.add("UNSIGNED");
  if (flags & 128) names.add("BINARY");
  return names;
}

function asText(value) {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

async function answer(conn, line) {
  const [kind, sql] = line.split("\t");
  if (kind !== "query" && kind !== "execute") throw new Error(`unknown request ${kind}`);
  try {
    const [result, fields] = await conn[kind]({ sql, rowsAsArray: true });
    if (!fields) return { update: result.affectedRows };
    return {
      columns: fields.map((f) => {
        const flags = flagSet(f);
        return {
          name: f.name,
          type: f.columnType ?? f.type,
          charset: f.characterSet,
          nullable: !flags.has("NOT_NULL"),
          signed: !flags.has("UNSIGNED"),
        };
      }),
      rows: result.map((row) => row.map(asText)),
    };
  } catch (error) {
    if (error.errno === undefined) throw error;
    return { error: { errno: error.errno, sqlstate: error.sqlState, message: error.sqlMessage } };
  }
}

async function main() {
  const conn = await mysql.createConnection(JSON.parse(process.argv[2]));
  console.log(JSON.stringify({ server: conn.connection._handshakePacket?.serverVersion ?? null }));
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line) console.log(JSON.stringify(await answer(conn, line)));
  }
  await conn.end();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
