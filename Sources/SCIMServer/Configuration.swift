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

    public init(databaseURL: String, adminToken: String, sqlDirectory: URL = MigrationSet.defaultDirectory()) {
        self.databaseURL = databaseURL
        self.adminToken = adminToken
        self.sqlDirectory = sqlDirectory
    }

    /// Reads `DATABASE_URL`, `ADMIN_API_TOKEN`, `HOST`, `PORT`, `DB_POOL_SIZE`, `LOG_LEVEL`,
    /// `PUBLIC_BASE_URL`, `SCIM_SQL_DIR`, `MAX_BODY_BYTES`, `LOG_FORMAT`, `METRICS_TOKEN`,
    /// `EVENT_RETENTION_DAYS`, `EVENT_PURGE_INTERVAL_SECONDS`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AppConfiguration {
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
        return configuration
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
