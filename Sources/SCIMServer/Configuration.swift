import Foundation
import Logging
import SCIM
import SCIMStore

/// Everything the service reads from its environment, validated once at start-up.
public struct AppConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// libpq connection string or URI.
    public var databaseURL: String
    /// Bootstrap bearer token for `/admin/v1`.
    public var adminToken: String
    public var poolSize: Int = 10
    /// `DB_PREPARED_STATEMENTS`; nil keeps the Postgres client's default (on unless that variable is false).
    public var preparedStatements: Bool?
    /// `DB_STATEMENT_CACHE_SIZE`: prepared statements kept per connection. Each costs the PostgreSQL
    /// backend about 40 KB; raise it when many tenants are busy at once (each has its own statements).
    public var statementCacheSize = 512
    public var logLevel: Logger.Level = .info
    /// Public base URL of the service (`https://scim.learnamp.com`); when unset, built from the Host header.
    public var publicBaseURL: String?
    public var sqlDirectory: URL
    public var limits: ServiceLimits = .default
    /// `text` for people (development), `json` for log pipelines (one object per line, production).
    public var logFormat: LogFormat = .text
    /// When set, `GET /metrics` requires `Authorization: Bearer <token>`; when unset it is open and
    /// must not be reachable from outside the private network.
    public var metricsToken: String?
    /// Sync events older than this many days are purged.
    public var eventRetentionDays: Int = 30
    /// How often the event purger runs (it also runs once shortly after start).
    public var eventPurgeInterval: Duration = .seconds(3600)
    /// How often the `scim_organisation_*` gauges are refreshed from the database (first 15 s after
    /// start, or after one interval if that is shorter). Not read from the environment: the alerts
    /// allow for a minute; tests shorten it.
    public var organisationMetricsInterval: Duration = .seconds(60)
    /// How long opening a database connection may take (`DB_CONNECT_TIMEOUT_SECONDS`).
    public var databaseConnectTimeout: Duration = .seconds(5)
    /// How long a request waits for a free pooled connection before a 503 (`DB_WAIT_TIMEOUT_SECONDS`).
    public var databaseWaitTimeout: Duration = .seconds(5)
    /// `statement_timeout` of every connection (`DB_STATEMENT_TIMEOUT_SECONDS`; 0 leaves the server's).
    public var databaseStatementTimeout: Duration? = .seconds(15)
    /// The statement timeout of a SCIM list or search that may return many rows
    /// (`DB_LIST_STATEMENT_TIMEOUT_SECONDS`): shorter than writes', so one organisation's expensive
    /// filters cannot hold connections for long. Nil uses `databaseStatementTimeout`.
    public var listStatementTimeout: Duration? = .seconds(5)
    /// How long a request rides out a database outage (`DB_RETRY_SECONDS`): work whose connection
    /// could not be had or broke before anything was committed runs again on a fresh connection.
    /// Okta retries only 429s by itself, so a short restart or failover costs a wait, not a failed task.
    public var databaseOutageRetry: Duration = .seconds(5)
    /// The share of the request pool one organisation may hold while others wait, in percent
    /// (`DB_POOL_ORG_SHARE_PERCENT`); alone, an organisation may use every connection.
    public var poolShareOfOrganisation = 50
    /// Serve HTTPS natively with this certificate chain and key (`TLS_CERT_PATH`/`TLS_KEY_PATH`, PEM);
    /// nil serves plain HTTP for a TLS-terminating proxy in front.
    public var tls: TLSFiles?
    /// After SIGTERM, how long `/readyz` answers 503 while requests are still served, so the load
    /// balancer stops sending new ones before the listener closes (`SHUTDOWN_DRAIN_SECONDS`).
    public var shutdownDrain: Duration = .seconds(5)
    /// Per-organisation and failed-authentication rate limits (per replica).
    public var rateLimits = RateLimitSettings()
    /// Client connection deadlines and cap (`HTTP_*_TIMEOUT_SECONDS`, `MAX_CONNECTIONS`).
    public var connections = HTTPConnectionSettings()

    public init(databaseURL: String, adminToken: String, sqlDirectory: URL = MigrationSet.defaultDirectory()) {
        self.databaseURL = databaseURL
        self.adminToken = adminToken
        self.sqlDirectory = sqlDirectory
    }

    /// Reads `DATABASE_URL`, `ADMIN_API_TOKEN`, `HOST`, `PORT`, `DB_POOL_SIZE`, `DB_PREPARED_STATEMENTS`, `DB_STATEMENT_CACHE_SIZE`, `LOG_LEVEL`,
    /// `PUBLIC_BASE_URL`, `SCIM_SQL_DIR`, `MAX_BODY_BYTES`, `MAX_GROUP_BODY_BYTES`, `LOG_FORMAT`, `METRICS_TOKEN`,
    /// `EVENT_RETENTION_DAYS`, `EVENT_PURGE_INTERVAL_SECONDS`, `RATE_LIMIT_RPS`, `RATE_LIMIT_BURST`,
    /// `FAILED_AUTH_LIMIT`, `FAILED_AUTH_ADDRESS_LIMIT`, `TRUSTED_PROXY`, `HTTP_IDLE_TIMEOUT_SECONDS`,
    /// `HTTP_HEADER_TIMEOUT_SECONDS`, `HTTP_BODY_TIMEOUT_SECONDS`, `MAX_CONNECTIONS`.
    /// See docs/deployment.md for `DB_CONNECT_TIMEOUT_SECONDS`, `DB_WAIT_TIMEOUT_SECONDS`,
    /// `DB_STATEMENT_TIMEOUT_SECONDS`, `DB_LIST_STATEMENT_TIMEOUT_SECONDS`, `DB_RETRY_SECONDS`,
    /// `DB_POOL_ORG_SHARE_PERCENT`, `SHUTDOWN_DRAIN_SECONDS`, `TLS_CERT_PATH` and `TLS_KEY_PATH`.
    ///
    /// `fileLimit` is the process's open-file limit (`RLIMIT_NOFILE`), which bounds `MAX_CONNECTIONS`.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, fileLimit: Int = openFileLimit()
    ) throws -> AppConfiguration {
        guard let databaseURL = environment["DATABASE_URL"], !databaseURL.isEmpty else {
            throw ConfigurationError("DATABASE_URL is required (a libpq URI such as postgresql://user@host:5432/db).")
        }
        guard let adminToken = environment["ADMIN_API_TOKEN"], adminToken.count >= 16 else {
            throw ConfigurationError("ADMIN_API_TOKEN is required and must be at least 16 characters.")
        }
        var configuration = AppConfiguration(
            databaseURL: databaseURL, adminToken: adminToken, sqlDirectory: MigrationSet.defaultDirectory(environment: environment))
        if let host = environment["HOST"], !host.isEmpty { configuration.host = host }
        if let text = environment["PORT"] {
            guard let port = Int(text), (1...65535).contains(port) else { throw ConfigurationError("PORT must be 1-65535.") }
            configuration.port = port
        }
        if let text = environment["DB_POOL_SIZE"] {
            guard let size = Int(text), (1...200).contains(size) else { throw ConfigurationError("DB_POOL_SIZE must be 1-200.") }
            configuration.poolSize = size
        }
        if let text = environment["DB_PREPARED_STATEMENTS"] {
            guard ["true", "false"].contains(text.lowercased()) else { throw ConfigurationError("DB_PREPARED_STATEMENTS must be true or false.") }
            configuration.preparedStatements = text.lowercased() == "true"
        }
        if let text = environment["DB_STATEMENT_CACHE_SIZE"] {
            guard let size = Int(text), (1...20_000).contains(size) else { throw ConfigurationError("DB_STATEMENT_CACHE_SIZE must be 1-20000.") }
            configuration.statementCacheSize = size
        }
        if let text = environment["LOG_LEVEL"] {
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw ConfigurationError("LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical.")
            }
            configuration.logLevel = level
        }
        if let text = environment["MAX_BODY_BYTES"] {
            guard let size = Int(text), size >= 1024 else { throw ConfigurationError("MAX_BODY_BYTES must be at least 1024.") }
            configuration.limits.maxPayloadSize = size
        }
        if let text = environment["MAX_GROUP_BODY_BYTES"] {
            // A member costs the server about 16 bytes while a PUT is applied, but the body is held whole.
            guard let size = Int(text), (1024...268_435_456).contains(size) else {
                throw ConfigurationError("MAX_GROUP_BODY_BYTES must be 1024-268435456.")
            }
            configuration.limits.maxGroupPayloadSize = size
        }
        if let url = environment["PUBLIC_BASE_URL"], !url.isEmpty {
            configuration.publicBaseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        if let text = environment["LOG_FORMAT"], !text.isEmpty {
            guard let format = LogFormat(rawValue: text.lowercased()) else { throw ConfigurationError("LOG_FORMAT must be text or json.") }
            configuration.logFormat = format
        }
        if let token = environment["METRICS_TOKEN"], !token.isEmpty {
            guard token.count >= 16 else { throw ConfigurationError("METRICS_TOKEN must be at least 16 characters.") }
            configuration.metricsToken = token
        }
        if let text = environment["EVENT_RETENTION_DAYS"] {
            guard let days = Int(text), (1...3650).contains(days) else { throw ConfigurationError("EVENT_RETENTION_DAYS must be 1-3650.") }
            configuration.eventRetentionDays = days
        }
        if let text = environment["EVENT_PURGE_INTERVAL_SECONDS"] {
            guard let seconds = Int(text), (10...604_800).contains(seconds) else {
                throw ConfigurationError("EVENT_PURGE_INTERVAL_SECONDS must be 10-604800 (one week).")
            }
            configuration.eventPurgeInterval = .seconds(seconds)
        }
        for (name, keyPath) in [("RATE_LIMIT_RPS", \RateLimitSettings.requestsPerSecond), ("RATE_LIMIT_BURST", \.burst), ("FAILED_AUTH_LIMIT", \.failedAuthAttempts)] {
            guard let text = environment[name] else { continue }
            guard let value = Int(text), (1...RateLimit.maximum).contains(value) else {
                throw ConfigurationError("\(name) must be an integer from 1 to \(RateLimit.maximum).")
            }
            configuration.rateLimits[keyPath: keyPath] = value
        }
        if let text = environment["FAILED_AUTH_ADDRESS_LIMIT"], !text.isEmpty {
            guard let value = Int(text), (1...RateLimit.maximum).contains(value) else {
                throw ConfigurationError("FAILED_AUTH_ADDRESS_LIMIT must be an integer from 1 to \(RateLimit.maximum).")
            }
            configuration.rateLimits.failedAuthAddressAttempts = value
        }
        if let text = environment["TRUSTED_PROXY"], !text.isEmpty {
            guard let trusted = Bool(text.lowercased()) else { throw ConfigurationError("TRUSTED_PROXY must be true or false.") }
            configuration.rateLimits.trustedProxy = trusted
        }
        if let text = environment["DB_CONNECT_TIMEOUT_SECONDS"] {
            guard let seconds = Int(text), (1...60).contains(seconds) else { throw ConfigurationError("DB_CONNECT_TIMEOUT_SECONDS must be 1-60.") }
            configuration.databaseConnectTimeout = .seconds(seconds)
        }
        if let text = environment["DB_WAIT_TIMEOUT_SECONDS"] {
            guard let seconds = Int(text), (1...60).contains(seconds) else { throw ConfigurationError("DB_WAIT_TIMEOUT_SECONDS must be 1-60.") }
            configuration.databaseWaitTimeout = .seconds(seconds)
        }
        if let text = environment["DB_STATEMENT_TIMEOUT_SECONDS"] {
            guard let seconds = Int(text), (0...3600).contains(seconds) else {
                throw ConfigurationError("DB_STATEMENT_TIMEOUT_SECONDS must be 0-3600 (0 keeps the server's setting).")
            }
            configuration.databaseStatementTimeout = seconds == 0 ? nil : .seconds(seconds)
        }
        if let text = environment["DB_LIST_STATEMENT_TIMEOUT_SECONDS"] {
            guard let seconds = Int(text), (0...3600).contains(seconds) else {
                throw ConfigurationError(
                    "DB_LIST_STATEMENT_TIMEOUT_SECONDS must be 0-3600 (0 uses DB_STATEMENT_TIMEOUT_SECONDS).")
            }
            configuration.listStatementTimeout = seconds == 0 ? nil : .seconds(seconds)
        }
        if let text = environment["DB_RETRY_SECONDS"] {
            guard let seconds = Int(text), (0...60).contains(seconds) else {
                throw ConfigurationError("DB_RETRY_SECONDS must be 0-60 (0 turns retrying off).")
            }
            configuration.databaseOutageRetry = .seconds(seconds)
        }
        if let text = environment["DB_POOL_ORG_SHARE_PERCENT"] {
            guard let percent = Int(text), (1...100).contains(percent) else {
                throw ConfigurationError("DB_POOL_ORG_SHARE_PERCENT must be 1-100.")
            }
            configuration.poolShareOfOrganisation = percent
        }
        if let text = environment["SHUTDOWN_DRAIN_SECONDS"] {
            guard let seconds = Int(text), (0...120).contains(seconds) else { throw ConfigurationError("SHUTDOWN_DRAIN_SECONDS must be 0-120.") }
            configuration.shutdownDrain = .seconds(seconds)
        }
        for (name, keyPath, range) in [
            ("HTTP_IDLE_TIMEOUT_SECONDS", \HTTPConnectionSettings.idleTimeout, 1...3600),
            ("HTTP_HEADER_TIMEOUT_SECONDS", \.headerTimeout, 1...300),
            ("HTTP_BODY_TIMEOUT_SECONDS", \.bodyTimeout, 1...3600),
        ] {
            guard let text = environment[name] else { continue }
            guard let seconds = Int(text), range.contains(seconds) else {
                throw ConfigurationError("\(name) must be \(range.lowerBound)-\(range.upperBound).")
            }
            configuration.connections[keyPath: keyPath] = .seconds(seconds)
        }
        // MAX_CONNECTIONS: each connection is a file descriptor, and so is each database connection,
        // each open file and each socket of the pools; keep room for them under the file limit.
        let reserved = configuration.poolSize + 2 + 100
        let available = max(1, fileLimit - reserved)
        if let text = environment["MAX_CONNECTIONS"] {
            guard let limit = Int(text), (1...available).contains(limit) else {
                throw ConfigurationError(
                    "MAX_CONNECTIONS must be 1-\(available): the process may open \(fileLimit) files and keeps "
                        + "\(reserved) for the database pools and its own files (raise the limit with ulimit -n "
                        + "or compose's ulimits).")
            }
            configuration.connections.maxConnections = limit
        } else {
            configuration.connections.maxConnections = min(
                configuration.connections.maxConnections, max(1, fileLimit / 2))
        }
        // TLS_CERT_PATH/TLS_KEY_PATH: both or neither.
        let certificate = environment["TLS_CERT_PATH"].flatMap { $0.isEmpty ? nil : $0 }
        let key = environment["TLS_KEY_PATH"].flatMap { $0.isEmpty ? nil : $0 }
        switch (certificate, key) {
        case (nil, nil):
            break
        case (let certificate?, let key?):
            configuration.tls = try TLSFiles(certificatePath: certificate, keyPath: key)
        default:
            throw ConfigurationError("TLS_CERT_PATH and TLS_KEY_PATH must be set together (or neither, for plain HTTP behind a proxy).")
        }
        return configuration
    }
}

/// The process's soft limit on open files (`ulimit -n`); a large number when it cannot be read.
public func openFileLimit() -> Int {
    var limit = rlimit()
    #if canImport(Glibc)
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    let resource = RLIMIT_NOFILE
    #endif
    guard getrlimit(resource, &limit) == 0 else { return 1 << 20 }
    return min(Int(clamping: limit.rlim_cur), 1 << 20)  // unlimited is the largest value
}

/// The PEM files of a native HTTPS listener.
public struct TLSFiles: Sendable, Equatable {
    /// The server certificate, followed by any intermediates.
    public var certificatePath: String
    /// The certificate's private key (unencrypted PEM).
    public var keyPath: String

    /// - Throws: `ConfigurationError` naming the variable whose file is missing or unreadable.
    public init(certificatePath: String, keyPath: String) throws {
        for (variable, path) in [("TLS_CERT_PATH", certificatePath), ("TLS_KEY_PATH", keyPath)] {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ConfigurationError("\(variable)=\(path): no such readable file.")
            }
        }
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }
}

/// How log lines are written: see `JSONLogHandler`.
public enum LogFormat: String, Sendable {
    case text
    case json
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
