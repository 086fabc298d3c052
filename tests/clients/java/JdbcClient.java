import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * A JDBC client for the client-matrix tests, driven line by line on stdin.
 *
 * Usage: java -cp mariadb-java-client.jar:. JdbcClient 'jdbc:mariadb://127.0.0.1:3307/?user=root'
 *
 * Each input line is one request, its fields separated by tabs:
 *   query SQL                  Statement.execute (the text protocol)
 *   prepared SQL               PreparedStatement.execute (server-side if useServerPrepStmts)
 *   catalogs                   DatabaseMetaData.getCatalogs()
 *   tables CATALOG             DatabaseMetaData.getTables(catalog, null, "%", null)
 *   columns CATALOG TABLE      DatabaseMetaData.getColumns(catalog, null, table, "%")
 *   primary_keys CATALOG TABLE DatabaseMetaData.getPrimaryKeys(catalog, null, table)
 * and gets one JSON line back: {"columns": [...], "rows": [[...]]}, {"update": n}
 * or {"error": {"errno": n, "sqlstate": "...", "message": "..."}}.  The first line
 * printed, before any request, describes the connection ({"driver": ..., "server": ...}).
 */
public final class JdbcClient {
    private JdbcClient() {}

    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0])) {
            DatabaseMetaData meta = conn.getMetaData();
            System.out.println("{\"driver\": " + quote(meta.getDriverName() + " " + meta.getDriverVersion())
                    + ", \"server\": " + quote(meta.getDatabaseProductVersion()) + "}");
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    continue;
                }
                String[] request = line.split("\t", -1);
                String answer;
                try {
                    answer = handle(conn, meta, request);
                } catch (SQLException e) {
                    answer = "{\"error\": {\"errno\": " + e.getErrorCode() + ", \"sqlstate\": "
                            + quote(e.getSQLState()) + ", \"message\": " + quote(e.getMessage()) + "}}";
                }
                System.out.println(answer);
                System.out.flush();
            }
        }
    }

    private static String handle(Connection conn, DatabaseMetaData meta, String[] request) throws SQLException {
        switch (request[0]) {
            case "query":
                try (Statement st = conn.createStatement()) {
                    return st.execute(request[1]) ? json(st.getResultSet()) : "{\"update\": " + st.getUpdateCount() + "}";
                }
            case "prepared":
                try (java.sql.PreparedStatement st = conn.prepareStatement(request[1])) {
                    return st.execute() ? json(st.getResultSet()) : "{\"update\": " + st.getUpdateCount() + "}";
                }
            case "catalogs":
                return json(meta.getCatalogs());
            case "tables":
                return json(meta.getTables(request[1], null, "%", null));
            case "columns":
                return json(meta.getColumns(request[1], null, request[2], "%"));
            case "primary_keys":
                return json(meta.getPrimaryKeys(request[1], null, request[2]));
            default:
                throw new IllegalArgumentException("unknown request " + request[0]);
        }
    }

    /** A result set as {"columns": [{name, type, nullable, signed}], "rows": [[...]]}; closes it. */
    private static String json(ResultSet rs) throws SQLException {
        try (rs) {
            ResultSetMetaData md = rs.getMetaData();
            StringBuilder out = new StringBuilder("{\"columns\": [");
            for (int i = 1; i <= md.getColumnCount(); i++) {
                out.append(i > 1 ? ", " : "").append("{\"name\": ").append(quote(md.getColumnLabel(i)))
                        .append(", \"type\": ").append(quote(md.getColumnTypeName(i)))
                        .append(", \"nullable\": ").append(md.isNullable(i) != ResultSetMetaData.columnNoNulls)
                        .append(", \"signed\": ").append(md.isSigned(i)).append("}");
            }
            out.append("], \"rows\": [");
            boolean first = true;
            while (rs.next()) {
                out.append(first ? "[" : ", [");
                first = false;
                for (int i = 1; i <= md.getColumnCount(); i++) {
                    out.append(i > 1 ? ", " : "").append(quote(rs.getString(i)));
                }
                out.append("]");
            }
            return out.append("]}").toString();
        }
    }

    private static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
            }
        }
        return out.append('"').toString();
    }
}
