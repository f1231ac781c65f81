import Foundation
import Testing

@testable import SCIMServer

/// `AppConfiguration.variables` is the one list of environment variables: README.md's configuration
/// table must say the same, and `fromEnvironment` must behave as the table says.
@Suite("Configuration: the declarative table, README.md's table and fromEnvironment agree")
struct ConfigurationTableTests {
    static let base = ["DATABASE_URL": "postgresql://localhost/scim", "ADMIN_API_TOKEN": "admin-token-0123456789"]

    /// One row of README.md's table; a row may name several variables (`TLS_CERT_PATH`, `TLS_KEY_PATH`).
    struct DocumentedRow {
        var names: [String]
        var defaults: [String]
        var meaning: String
    }

    /// The rows of the table under README.md's `## Configuration`.
    static func readmeRows() throws -> [DocumentedRow] {
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../README.md").standardized,
            encoding: .utf8)
        let section = try #require(readme.range(of: "\n## Configuration\n"))
        let rest = readme[section.upperBound...]
        let body = rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
        return body.split(separator: "\n").compactMap { line -> DocumentedRow? in
            guard line.hasPrefix("| `") else { return nil }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 3 else { return nil }
            let names = cells[0].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces.union(["`"])) }
            let defaults = cells[1].split(separator: ",").map {
                $0.replacingOccurrences(of: "`", with: "").trimmingCharacters(in: .whitespaces)
            }
            return DocumentedRow(names: names, defaults: defaults, meaning: cells[2] + " " + cells[1])
        }
    }

    @Test("README.md's table lists the variables of AppConfiguration.variables, with their defaults and ranges")
    func readmeMatchesTable() throws {
        let rows = try Self.readmeRows()
        #expect(rows.count >= 30, "README table not found or misread: \(rows.count) rows")
        var documented: [String: (default: String, meaning: String)] = [:]
        for row in rows {
            for (index, name) in row.names.enumerated() {
                // `50`, `100` for two names: one default each; `unset` for two names: the same for both.
                let value =
                    row.defaults.count == row.names.count ? row.defaults[index] : row.defaults.joined(separator: ", ")
                #expect(documented[name] == nil, "\(name) has two rows in README.md")
                documented[name] = (value, row.meaning)
            }
        }
        let declared = AppConfiguration.variables
        #expect(
            Set(documented.keys) == Set(declared.map(\.name)),
            "README.md and AppConfiguration.variables list different variables")
        #expect(Set(declared.map(\.name)).count == declared.count, "a variable is declared twice")
        for variable in declared {
            guard let row = documented[variable.name] else { continue }
            #expect(
                row.default == variable.defaultValue,
                "\(variable.name): README says \(row.default), the table \(variable.defaultValue)")
            for phrase in variable.allowed.documented {
                #expect(row.meaning.contains(phrase), "\(variable.name): README.md's row does not say \(phrase)")
            }
        }
    }

    @Test("each value default in the table is what fromEnvironment does without the variable")
    func declaredDefaultsAreTheDefaults() throws {
        let unset = String(describing: try AppConfiguration.fromEnvironment(Self.base, fileLimit: 1 << 20))
        // Unset leaves the Postgres client's own default (on, unless its environment says otherwise).
        let notAValue: Set<String> = ["DB_PREPARED_STATEMENTS"]
        var checked = 0
        for variable in AppConfiguration.variables where !notAValue.contains(variable.name) {
            if case .processStart = variable.set { continue }
            // `required`, `unset`, `see note`, `5 × FAILED_AUTH_LIMIT`: not a value to set.
            guard !["required", "unset", "see note"].contains(variable.defaultValue),
                !variable.defaultValue.contains("×")
            else { continue }
            let set = try AppConfiguration.fromEnvironment(
                Self.base.merging([variable.name: variable.defaultValue]) { $1 }, fileLimit: 1 << 20)
            #expect(String(describing: set) == unset, "\(variable.name)=\(variable.defaultValue) is not the default")
            checked += 1
        }
        #expect(checked >= 25)
    }

    /// The messages as they were before the table: operators' runbooks and tests quote them.
    static let refusals: [(environment: [String: String], fileLimit: Int, message: String)] = [
        (
            ["DATABASE_URL": ""], 1 << 20,
            "DATABASE_URL is required (a libpq URI such as postgresql://user@host:5432/db)."
        ),
        (["ADMIN_API_TOKEN": "short"], 1 << 20, "ADMIN_API_TOKEN is required and must be at least 16 characters."),
        (["PORT": "0"], 1 << 20, "PORT must be 1-65535."),
        (["DB_POOL_SIZE": ""], 1 << 20, "DB_POOL_SIZE must be 1-200."),
        (["DB_PREPARED_STATEMENTS": "yes"], 1 << 20, "DB_PREPARED_STATEMENTS must be true or false."),
        (["DB_STATEMENT_CACHE_SIZE": "20001"], 1 << 20, "DB_STATEMENT_CACHE_SIZE must be 1-20000."),
        (
            ["LOG_LEVEL": "loud"], 1 << 20,
            "LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical."
        ),
        (["MAX_BODY_BYTES": "1023"], 1 << 20, "MAX_BODY_BYTES must be at least 1024."),
        (["MAX_GROUP_BODY_BYTES": "268435457"], 1 << 20, "MAX_GROUP_BODY_BYTES must be 1024-268435456."),
        (["LOG_FORMAT": "xml"], 1 << 20, "LOG_FORMAT must be text or json."),
        (["METRICS_TOKEN": "short"], 1 << 20, "METRICS_TOKEN must be at least 16 characters."),
        (["EVENT_RETENTION_DAYS": "0"], 1 << 20, "EVENT_RETENTION_DAYS must be 1-3650."),
        (["EVENT_PURGE_INTERVAL_SECONDS": "9"], 1 << 20, "EVENT_PURGE_INTERVAL_SECONDS must be 10-604800 (one week)."),
        (["RATE_LIMIT_RPS": "0"], 1 << 20, "RATE_LIMIT_RPS must be an integer from 1 to 100000."),
        (["RATE_LIMIT_BURST": "x"], 1 << 20, "RATE_LIMIT_BURST must be an integer from 1 to 100000."),
        (["FAILED_AUTH_LIMIT": "100001"], 1 << 20, "FAILED_AUTH_LIMIT must be an integer from 1 to 100000."),
        (["FAILED_AUTH_ADDRESS_LIMIT": "0"], 1 << 20, "FAILED_AUTH_ADDRESS_LIMIT must be an integer from 1 to 100000."),
        (["TRUSTED_PROXY": "1"], 1 << 20, "TRUSTED_PROXY must be true or false."),
        (["DB_CONNECT_TIMEOUT_SECONDS": "61"], 1 << 20, "DB_CONNECT_TIMEOUT_SECONDS must be 1-60."),
        (["DB_WAIT_TIMEOUT_SECONDS": "0"], 1 << 20, "DB_WAIT_TIMEOUT_SECONDS must be 1-60."),
        (
            ["DB_STATEMENT_TIMEOUT_SECONDS": "-1"], 1 << 20,
            "DB_STATEMENT_TIMEOUT_SECONDS must be 0-3600 (0 keeps the server's setting)."
        ),
        (
            ["DB_LIST_STATEMENT_TIMEOUT_SECONDS": "3601"], 1 << 20,
            "DB_LIST_STATEMENT_TIMEOUT_SECONDS must be 0-3600 (0 uses DB_STATEMENT_TIMEOUT_SECONDS)."
        ),
        (["DB_RETRY_SECONDS": "61"], 1 << 20, "DB_RETRY_SECONDS must be 0-60 (0 turns retrying off)."),
        (["DB_POOL_ORG_SHARE_PERCENT": "0"], 1 << 20, "DB_POOL_ORG_SHARE_PERCENT must be 1-100."),
        (["SHUTDOWN_DRAIN_SECONDS": "121"], 1 << 20, "SHUTDOWN_DRAIN_SECONDS must be 0-120."),
        (["HTTP_IDLE_TIMEOUT_SECONDS": "0"], 1 << 20, "HTTP_IDLE_TIMEOUT_SECONDS must be 1-3600."),
        (["HTTP_HEADER_TIMEOUT_SECONDS": "301"], 1 << 20, "HTTP_HEADER_TIMEOUT_SECONDS must be 1-300."),
        (["HTTP_BODY_TIMEOUT_SECONDS": ""], 1 << 20, "HTTP_BODY_TIMEOUT_SECONDS must be 1-3600."),
        (
            ["MAX_CONNECTIONS": "913"], 1024,
            "MAX_CONNECTIONS must be 1-912: the process may open 1024 files and keeps 112 for the database pools and its "
                + "own files (raise the limit with ulimit -n or compose's ulimits)."
        ),
        (
            ["TLS_CERT_PATH": "/etc/ssl/cert.pem"], 1 << 20,
            "TLS_CERT_PATH and TLS_KEY_PATH must be set together (or neither, for plain HTTP behind a proxy)."
        ),
    ]

    @Test("a refused value gets the same message as before the table", arguments: refusals.indices)
    func refusalMessages(_ index: Int) {
        let (environment, fileLimit, message) = Self.refusals[index]
        do {
            _ = try AppConfiguration.fromEnvironment(Self.base.merging(environment) { $1 }, fileLimit: fileLimit)
            Issue.record("\(environment) was accepted")
        } catch let error as ConfigurationError {
            #expect(error.description == message)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("empty means unset for exactly the variables that always took it so")
    func emptyValues() throws {
        let emptyIsUnset: Set<String> = [
            "HOST", "PUBLIC_BASE_URL", "SCIM_SQL_DIR", "LOG_FORMAT", "METRICS_TOKEN", "FAILED_AUTH_ADDRESS_LIMIT",
            "TRUSTED_PROXY", "TLS_CERT_PATH", "TLS_KEY_PATH",
        ]
        let unset = String(describing: try AppConfiguration.fromEnvironment(Self.base, fileLimit: 1 << 20))
        for variable in AppConfiguration.variables where !variable.required {
            if case .processStart = variable.set { continue }
            let environment = Self.base.merging([variable.name: ""]) { $1 }
            if emptyIsUnset.contains(variable.name) {
                let configuration = try AppConfiguration.fromEnvironment(environment, fileLimit: 1 << 20)
                #expect(String(describing: configuration) == unset, "\(variable.name)= is not the same as unset")
            } else {
                #expect(throws: ConfigurationError.self, "\(variable.name)= was accepted") {
                    try AppConfiguration.fromEnvironment(environment, fileLimit: 1 << 20)
                }
            }
        }
    }

    @Test("SWIFT_EXECUTOR_TAKEOVER: anything but false turns it on")
    func executorTakeover() {
        #expect(AppConfiguration.executorTakeover([:]))
        #expect(AppConfiguration.executorTakeover(["SWIFT_EXECUTOR_TAKEOVER": "true"]))
        #expect(AppConfiguration.executorTakeover(["SWIFT_EXECUTOR_TAKEOVER": "yes"]))
        #expect(!AppConfiguration.executorTakeover(["SWIFT_EXECUTOR_TAKEOVER": "FALSE"]))
    }
}
