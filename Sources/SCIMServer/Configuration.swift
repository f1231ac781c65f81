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
    /// Days an offboarded organisation is kept, intact and restorable, before it is purged
    /// (`ORG_PURGE_GRACE_DAYS`); the purge pass runs every `eventPurgeInterval`.
    public var organisationPurgeGraceDays: Int = OrganisationLifecycle.defaultGraceDays
    /// How often the `scim_organisation_*` gauges are refreshed from the database (first 15 s after
    /// start, or after one interval if that is shorter). Not read from the environment: the alerts
    /// allow for a minute; tests shorten it.
    public var organisationMetricsInterval: Duration = .seconds(60)
    /// The organisations whose `scim_organisation_*` gauges are published. Not read from the
    /// environment: every organisation in service; a test names its own, so a refresh pass does not
    /// read every organisation the shared test database holds.
    public var organisationMetricsScope: OrganisationScope = .all
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
    /// Seconds an OAuth access token from `POST /oauth/token` lives (`OAUTH_ACCESS_TOKEN_TTL_SECONDS`).
    public var oauthAccessTokenLifetime = 3600
    /// The wall clock OAuth secrets and access tokens expire by. Always the system clock in service;
    /// tests inject a manual one to expire credentials without waiting.
    public var clock: @Sendable () -> Date = { Date() }
    /// The monotonic clock, in seconds, the rate limiters' buckets refill by. Always the continuous
    /// clock in service; tests freeze it so that no bucket refills while they count requests.
    public var rateLimitClock: @Sendable () -> Double = RateLimiter<UUID>.monotonicSeconds

    public init(databaseURL: String, adminToken: String, sqlDirectory: URL = MigrationSet.defaultDirectory()) {
        self.databaseURL = databaseURL
        self.adminToken = adminToken
        self.sqlDirectory = sqlDirectory
    }

    /// Reads every variable of `AppConfiguration.variables`, in the table's order, and checks the
    /// combinations the table cannot say on its own (`TLS_CERT_PATH` with `TLS_KEY_PATH`).
    ///
    /// `fileLimit` is the process's open-file limit (`RLIMIT_NOFILE`), which bounds `MAX_CONNECTIONS`.
    /// - Throws: `ConfigurationError` naming the first variable that is missing or out of range.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, fileLimit: Int = openFileLimit()
    ) throws -> AppConfiguration {
        var builder = ConfigurationBuilder(
            configuration: AppConfiguration(
                databaseURL: "", adminToken: "", sqlDirectory: MigrationSet.defaultDirectory(environment: [:])),
            fileLimit: fileLimit)
        for variable in variables {
            try variable.read(from: environment, into: &builder)
        }
        switch (builder.tlsCertificatePath, builder.tlsKeyPath) {
        case (nil, nil):
            break
        case (let certificate?, let key?):
            builder.tls = try TLSFiles(certificatePath: certificate, keyPath: key)
        default:
            throw ConfigurationError(
                "TLS_CERT_PATH and TLS_KEY_PATH must be set together (or neither, for plain HTTP behind a proxy).")
        }
        return builder.configuration
    }

    /// Whether `scim-server` runs Swift concurrency on the NIO event loops (`SWIFT_EXECUTOR_TAKEOVER`,
    /// read once at process start, before `fromEnvironment`): anything but `false` turns it on.
    public static func executorTakeover(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        environment["SWIFT_EXECUTOR_TAKEOVER"]?.lowercased() != "false"
    }

    /// Every environment variable the service reads: its name, its default as README.md's configuration
    /// table shows it, the values it allows, what it means, and where its value goes.
    /// `fromEnvironment` reads them in this order and refuses a value outside `allowed` with the row's
    /// message; `ConfigurationTableTests` checks README.md's table has the same names, defaults and ranges.
    ///
    /// To add a variable: add its `AppConfiguration` field with the default, one row here (`.integer`
    /// for a number in a range, `.choice` for a fixed set of words, `.text` otherwise), and the same
    /// row to README.md's table, whose meaning states the range (`1-60`) or the words (`` `true` ``).
    static let variables: [ConfigurationVariable] = [
        .text(
            "DATABASE_URL", default: "required", required: true, meaning: "libpq connection string or URI",
            refusal: "DATABASE_URL is required (a libpq URI such as postgresql://user@host:5432/db).",
            emptyIsUnset: true
        ) { $0.databaseURL = $1 },
        .text(
            "ADMIN_API_TOKEN", default: "required", .minimumLength(16), required: true,
            meaning: "Staff bearer token for /admin/v1",
            refusal: "ADMIN_API_TOKEN is required and must be at least 16 characters."
        ) { $0.adminToken = $1 },
        .text("HOST", default: "127.0.0.1", meaning: "Address to listen on", emptyIsUnset: true) { $0.host = $1 },
        .integer("PORT", default: "8080", 1...65535, meaning: "Port to listen on") { $0.port = $1 },
        .integer("DB_POOL_SIZE", default: "10", 1...200, meaning: "PostgreSQL connections per process for requests") {
            $0.poolSize = $1
        },
        .choice(
            "DB_PREPARED_STATEMENTS", default: "true", ["true", "false"],
            meaning: "Prepare the statements each connection runs"
        ) { $0.preparedStatements = $1 == "true" },
        .integer(
            "DB_STATEMENT_CACHE_SIZE", default: "512", 1...20_000, meaning: "Prepared statements kept per connection"
        ) {
            $0.statementCacheSize = $1
        },
        .choice(
            "LOG_LEVEL", default: "info", Logger.Level.allCases.map(\.rawValue), meaning: "How much is logged"
        ) { builder, text in
            if let level = Logger.Level(rawValue: text) { builder.logLevel = level }
        },
        .text("PUBLIC_BASE_URL", default: "unset", meaning: "External URL of the service", emptyIsUnset: true) {
            $0.publicBaseURL = $1.hasSuffix("/") ? String($1.dropLast()) : $1
        },
        .text("SCIM_SQL_DIR", default: "see note", meaning: "Folder of the SQL migrations", emptyIsUnset: true) {
            $0.sqlDirectory = URL(fileURLWithPath: $1)
        },
        .integer("MAX_BODY_BYTES", default: "1048576", .atLeast(1024), meaning: "Largest request body, except Groups") {
            $0.limits.maxPayloadSize = $1
        },
        // A member costs the server about 16 bytes while a PUT is applied, but the body is held whole.
        .integer(
            "MAX_GROUP_BODY_BYTES", default: "16777216", 1024...268_435_456, meaning: "Largest /scim/v2/Groups body"
        ) { $0.limits.maxGroupPayloadSize = $1 },
        .choice("LOG_FORMAT", default: "text", ["text", "json"], meaning: "Log line format", emptyIsUnset: true) {
            builder, text in
            if let format = LogFormat(rawValue: text) { builder.logFormat = format }
        },
        .text(
            "METRICS_TOKEN", default: "unset", .minimumLength(16), meaning: "Bearer token /metrics asks for",
            emptyIsUnset: true
        ) { $0.metricsToken = $1 },
        .integer("EVENT_RETENTION_DAYS", default: "30", 1...3650, meaning: "Days sync events are kept") {
            $0.eventRetentionDays = $1
        },
        .integer(
            "EVENT_PURGE_INTERVAL_SECONDS", default: "3600", 10...604_800, note: "one week",
            meaning: "Seconds between event purge passes"
        ) { $0.eventPurgeInterval = .seconds($1) },
        .integer(
            "ORG_PURGE_GRACE_DAYS", default: "30", OrganisationLifecycle.graceDaysRange,
            meaning: "Days an offboarded organisation is kept before it is purged"
        ) { $0.organisationPurgeGraceDays = $1 },
        .integer("DB_CONNECT_TIMEOUT_SECONDS", default: "5", 1...60, meaning: "How long opening a connection takes") {
            $0.databaseConnectTimeout = .seconds($1)
        },
        .integer("DB_WAIT_TIMEOUT_SECONDS", default: "5", 1...60, meaning: "How long a request waits for a pool slot") {
            $0.databaseWaitTimeout = .seconds($1)
        },
        .integer(
            "DB_STATEMENT_TIMEOUT_SECONDS", default: "15", 0...3600, note: "0 keeps the server's setting",
            meaning: "statement_timeout of every connection"
        ) { $0.databaseStatementTimeout = $1 == 0 ? nil : .seconds($1) },
        .integer(
            "DB_LIST_STATEMENT_TIMEOUT_SECONDS", default: "5", 0...3600, note: "0 uses DB_STATEMENT_TIMEOUT_SECONDS",
            meaning: "Statement timeout of a SCIM list or search"
        ) { $0.listStatementTimeout = $1 == 0 ? nil : .seconds($1) },
        .integer(
            "DB_RETRY_SECONDS", default: "5", 0...60, note: "0 turns retrying off",
            meaning: "How long a request rides out a database outage"
        ) { $0.databaseOutageRetry = .seconds($1) },
        .integer(
            "DB_POOL_ORG_SHARE_PERCENT", default: "50", 1...100, meaning: "Share of the pool one organisation may hold"
        ) { $0.poolShareOfOrganisation = $1 },
        .text("TLS_CERT_PATH", default: "unset", meaning: "PEM certificate chain for HTTPS", emptyIsUnset: true) {
            $0.tlsCertificatePath = $1
        },
        .text("TLS_KEY_PATH", default: "unset", meaning: "PEM private key for HTTPS", emptyIsUnset: true) {
            $0.tlsKeyPath = $1
        },
        .integer(
            "RATE_LIMIT_RPS", default: "50", 1...RateLimit.maximum, meaning: "Requests per second per organisation",
            refusal: "RATE_LIMIT_RPS must be an integer from 1 to \(RateLimit.maximum)."
        ) { $0.rateLimits.requestsPerSecond = $1 },
        .integer(
            "RATE_LIMIT_BURST", default: "100", 1...RateLimit.maximum, meaning: "Burst per organisation",
            refusal: "RATE_LIMIT_BURST must be an integer from 1 to \(RateLimit.maximum)."
        ) { $0.rateLimits.burst = $1 },
        .integer(
            "FAILED_AUTH_LIMIT", default: "20", 1...RateLimit.maximum,
            meaning: "Failed authentications per minute per address and token prefix",
            refusal: "FAILED_AUTH_LIMIT must be an integer from 1 to \(RateLimit.maximum)."
        ) { $0.rateLimits.failedAuthAttempts = $1 },
        .integer(
            "FAILED_AUTH_ADDRESS_LIMIT", default: "5 × FAILED_AUTH_LIMIT", 1...RateLimit.maximum,
            meaning: "Failures per minute per address of credentials not shaped like a key",
            refusal: "FAILED_AUTH_ADDRESS_LIMIT must be an integer from 1 to \(RateLimit.maximum).", emptyIsUnset: true
        ) { $0.rateLimits.failedAuthAddressAttempts = $1 },
        .integer(
            "OAUTH_TOKEN_RATE_LIMIT", default: "60", 1...RateLimit.maximum,
            meaning: "Access tokens per minute per OAuth client",
            refusal: "OAUTH_TOKEN_RATE_LIMIT must be an integer from 1 to \(RateLimit.maximum)."
        ) { $0.rateLimits.oauthTokensPerMinute = $1 },
        .integer(
            "OAUTH_TOKEN_RATE_BURST", default: "10", 1...RateLimit.maximum,
            meaning: "Access tokens at once per OAuth client",
            refusal: "OAUTH_TOKEN_RATE_BURST must be an integer from 1 to \(RateLimit.maximum)."
        ) { $0.rateLimits.oauthTokenBurst = $1 },
        .choice(
            "TRUSTED_PROXY", default: "false", ["true", "false"], meaning: "Client address from X-Forwarded-For",
            emptyIsUnset: true
        ) { $0.rateLimits.trustedProxy = $1 == "true" },
        // Read by `scim-server` at process start (`executorTakeover`), before anything else.
        .processStart(
            "SWIFT_EXECUTOR_TAKEOVER", default: "true", ["true", "false"],
            meaning: "Run Swift concurrency on the NIO event loops"),
        .integer("HTTP_IDLE_TIMEOUT_SECONDS", default: "60", 1...3600, meaning: "Idle keep-alive connection deadline") {
            $0.connections.idleTimeout = .seconds($1)
        },
        .integer("HTTP_HEADER_TIMEOUT_SECONDS", default: "10", 1...300, meaning: "Request line and headers deadline") {
            $0.connections.headerTimeout = .seconds($1)
        },
        .integer("HTTP_BODY_TIMEOUT_SECONDS", default: "30", 1...3600, meaning: "Request body deadline") {
            $0.connections.bodyTimeout = .seconds($1)
        },
        // Each connection is a file descriptor, and so is each database connection, each open file and
        // each socket of the pools: room is kept for them under the file limit. Unset, at most half of it.
        .integer(
            "MAX_CONNECTIONS", default: "10000", .belowFileLimit, meaning: "Open client connections per process",
            whenUnset: { $0.connections.maxConnections = min($0.connections.maxConnections, max(1, $0.fileLimit / 2)) }
        ) { $0.connections.maxConnections = $1 },
        .integer(
            "OAUTH_ACCESS_TOKEN_TTL_SECONDS", default: "3600", OAuthClientStore.accessTokenLifetimes,
            meaning: "Seconds an OAuth access token lives"
        ) { $0.oauthAccessTokenLifetime = $1 },
        .integer("SHUTDOWN_DRAIN_SECONDS", default: "5", 0...120, meaning: "After SIGTERM, how long /readyz says 503") {
            $0.shutdownDrain = .seconds($1)
        },
    ]
}

/// One row of `AppConfiguration.variables`: an environment variable, what it allows and where it goes.
struct ConfigurationVariable: Sendable {
    /// The values a variable allows, as its refusal message and README.md state them.
    enum Allowed: Sendable, Equatable {
        /// Any text.
        case anyText
        /// Text of at least this many characters.
        case minimumLength(Int)
        /// An integer in the range.
        case integer(ClosedRange<Int>)
        /// An integer of at least this value.
        case atLeast(Int)
        /// An integer from 1 to the open-file limit less what the pools and the process keep.
        case belowFileLimit
        /// One of these words, in any case; the setter gets it in lowercase.
        case oneOf([String])

        /// What README.md's row must say of it: `1-60`, `at least 1024`, `` `json` ``.
        var documented: [String] {
            switch self {
            case .anyText: []
            case .minimumLength(let length): ["at least \(length) characters"]
            case .integer(let range): ["\(range.lowerBound)-\(range.upperBound)"]
            case .atLeast(let minimum): ["at least \(minimum)"]
            case .belowFileLimit: ["open-files limit"]
            case .oneOf(let words): words.map { "`\($0)`" }
            }
        }
    }

    enum Setter: Sendable {
        case integer(@Sendable (inout ConfigurationBuilder, Int) -> Void)
        case text(@Sendable (inout ConfigurationBuilder, String) -> Void)
        /// Read before the configuration exists (see `AppConfiguration.executorTakeover`).
        case processStart
    }

    let name: String
    /// As README.md shows it: a value, `unset`, `required`, or how it is derived.
    let defaultValue: String
    let allowed: Allowed
    let meaning: String
    let required: Bool
    /// Whether an empty value counts as unset (otherwise it is refused like any other bad value).
    let emptyIsUnset: Bool
    /// The message of a value outside `allowed`, when the standard one (`NAME must be 1-60.`) does not fit.
    let customRefusal: String?
    /// A note the standard range message ends with: `NAME must be 0-60 (0 turns retrying off).`
    let note: String?
    let set: Setter
    let whenUnset: (@Sendable (inout ConfigurationBuilder) -> Void)?

    static func integer(
        _ name: String, default defaultValue: String, _ range: ClosedRange<Int>, note: String? = nil, meaning: String,
        refusal: String? = nil, emptyIsUnset: Bool = false,
        set: @escaping @Sendable (inout ConfigurationBuilder, Int) -> Void
    ) -> ConfigurationVariable {
        .integer(
            name, default: defaultValue, .integer(range), note: note, meaning: meaning, refusal: refusal,
            emptyIsUnset: emptyIsUnset, set: set)
    }

    static func integer(
        _ name: String, default defaultValue: String, _ allowed: Allowed, note: String? = nil, meaning: String,
        refusal: String? = nil, emptyIsUnset: Bool = false,
        whenUnset: (@Sendable (inout ConfigurationBuilder) -> Void)? = nil,
        set: @escaping @Sendable (inout ConfigurationBuilder, Int) -> Void
    ) -> ConfigurationVariable {
        ConfigurationVariable(
            name: name, defaultValue: defaultValue, allowed: allowed, meaning: meaning, required: false,
            emptyIsUnset: emptyIsUnset, customRefusal: refusal, note: note, set: .integer(set), whenUnset: whenUnset)
    }

    static func text(
        _ name: String, default defaultValue: String, _ allowed: Allowed = .anyText, required: Bool = false,
        meaning: String, refusal: String? = nil, emptyIsUnset: Bool = false,
        set: @escaping @Sendable (inout ConfigurationBuilder, String) -> Void
    ) -> ConfigurationVariable {
        ConfigurationVariable(
            name: name, defaultValue: defaultValue, allowed: allowed, meaning: meaning, required: required,
            emptyIsUnset: emptyIsUnset, customRefusal: refusal, note: nil, set: .text(set), whenUnset: nil)
    }

    static func choice(
        _ name: String, default defaultValue: String, _ words: [String], meaning: String, emptyIsUnset: Bool = false,
        set: @escaping @Sendable (inout ConfigurationBuilder, String) -> Void
    ) -> ConfigurationVariable {
        .text(name, default: defaultValue, .oneOf(words), meaning: meaning, emptyIsUnset: emptyIsUnset, set: set)
    }

    static func processStart(
        _ name: String, default defaultValue: String, _ words: [String], meaning: String
    ) -> ConfigurationVariable {
        ConfigurationVariable(
            name: name, defaultValue: defaultValue, allowed: .oneOf(words), meaning: meaning, required: false,
            emptyIsUnset: false, customRefusal: nil, note: nil, set: .processStart, whenUnset: nil)
    }

    /// Checks this variable's value in `environment` and applies it.
    /// - Throws: `ConfigurationError` with the row's refusal when it is missing but required, or not allowed.
    func read(from environment: [String: String], into builder: inout ConfigurationBuilder) throws {
        guard case let .some(text) = environment[name], !(emptyIsUnset && text.isEmpty) else {
            if required { throw ConfigurationError(refusal(builder)) }
            whenUnset?(&builder)
            return
        }
        switch set {
        case .processStart:
            return
        case .integer(let apply):
            guard let value = Int(text), accepts(value, builder) else { throw ConfigurationError(refusal(builder)) }
            apply(&builder, value)
        case .text(let apply):
            switch allowed {
            case .oneOf(let words):
                guard words.contains(text.lowercased()) else { throw ConfigurationError(refusal(builder)) }
                apply(&builder, text.lowercased())
            case .minimumLength(let length):
                guard text.count >= length else { throw ConfigurationError(refusal(builder)) }
                apply(&builder, text)
            default:
                apply(&builder, text)
            }
        }
    }

    private func accepts(_ value: Int, _ builder: ConfigurationBuilder) -> Bool {
        switch allowed {
        case .integer(let range): range.contains(value)
        case .atLeast(let minimum): value >= minimum
        case .belowFileLimit: (1...builder.availableConnections).contains(value)
        case .anyText, .minimumLength, .oneOf: true
        }
    }

    /// The message of a refused value: the row's own, or the standard one for what it allows.
    func refusal(_ builder: ConfigurationBuilder) -> String {
        if let customRefusal { return customRefusal }
        let suffix = note.map { " (\($0))" } ?? ""
        switch allowed {
        case .anyText:
            return "\(name) is required."
        case .minimumLength(let length):
            return "\(name) must be at least \(length) characters."
        case .integer(let range):
            return "\(name) must be \(range.lowerBound)-\(range.upperBound)\(suffix)."
        case .atLeast(let minimum):
            return "\(name) must be at least \(minimum)."
        case .belowFileLimit:
            return "\(name) must be 1-\(builder.availableConnections): the process may open \(builder.fileLimit) "
                + "files and keeps \(builder.reservedFiles) for the database pools and its own files (raise the "
                + "limit with ulimit -n or compose's ulimits)."
        case .oneOf(let words) where words.count == 2:
            return "\(name) must be \(words[0]) or \(words[1])."
        case .oneOf(let words):
            return "\(name) must be one of \(words.joined(separator: ", "))."
        }
    }
}

/// The configuration while `fromEnvironment` reads the table: the fields, plus what a row needs
/// that is not a field (the open-file limit, the TLS paths until both are known).
@dynamicMemberLookup
struct ConfigurationBuilder {
    var configuration: AppConfiguration
    let fileLimit: Int
    var tlsCertificatePath: String?
    var tlsKeyPath: String?

    init(configuration: AppConfiguration, fileLimit: Int) {
        self.configuration = configuration
        self.fileLimit = fileLimit
    }

    subscript<Value>(dynamicMember keyPath: WritableKeyPath<AppConfiguration, Value>) -> Value {
        get { configuration[keyPath: keyPath] }
        set { configuration[keyPath: keyPath] = newValue }
    }

    /// File descriptors kept for the request pool, the 2 background connections and 100 of the process's own.
    var reservedFiles: Int { configuration.poolSize + 2 + 100 }
    /// The most client connections `MAX_CONNECTIONS` may allow.
    var availableConnections: Int { max(1, fileLimit - reservedFiles) }
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
