/// A five-character SQLSTATE code reported by the server.
///
/// An open struct rather than an enum: Postgres defines hundreds of codes and callers only name the few
/// they handle; any other code still round-trips through `rawValue`.
public struct SQLState: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// The two-character class, e.g. "23" for integrity constraint violations.
    public var errorClass: Substring { self.rawValue.prefix(2) }

    public var description: String { self.rawValue }

    public static let uniqueViolation = SQLState(rawValue: "23505")
    public static let foreignKeyViolation = SQLState(rawValue: "23503")
    public static let notNullViolation = SQLState(rawValue: "23502")
    public static let checkViolation = SQLState(rawValue: "23514")
    public static let exclusionViolation = SQLState(rawValue: "23P01")
    public static let serializationFailure = SQLState(rawValue: "40001")
    public static let deadlockDetected = SQLState(rawValue: "40P01")
    public static let queryCanceled = SQLState(rawValue: "57014")
    public static let adminShutdown = SQLState(rawValue: "57P01")
    public static let crashShutdown = SQLState(rawValue: "57P02")
    public static let cannotConnectNow = SQLState(rawValue: "57P03")
    public static let invalidTextRepresentation = SQLState(rawValue: "22P02")
    public static let stringDataRightTruncation = SQLState(rawValue: "22001")
    public static let numericValueOutOfRange = SQLState(rawValue: "22003")
    public static let undefinedTable = SQLState(rawValue: "42P01")
    public static let undefinedColumn = SQLState(rawValue: "42703")
    public static let duplicateTable = SQLState(rawValue: "42P07")
    public static let duplicateSchema = SQLState(rawValue: "42P06")
    public static let invalidSchemaName = SQLState(rawValue: "3F000")
    public static let syntaxError = SQLState(rawValue: "42601")
    public static let lockNotAvailable = SQLState(rawValue: "55P03")
    public static let invalidSQLStatementName = SQLState(rawValue: "26000")
    public static let duplicatePreparedStatement = SQLState(rawValue: "42P05")
    public static let featureNotSupported = SQLState(rawValue: "0A000")
}

/// An error from the Postgres client: a server error with its SQLSTATE, or a client-side failure.
///
/// `description` deliberately omits the server's message and detail, which can echo bound values
/// (e.g. `invalid input syntax for type uuid: "…"`); read `message` explicitly where that is safe.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set (private base enum + static members) so new cases do not
    /// break callers' exhaustive switches.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case server
            case connectionFailure
            case poolTimeout
            case poolShutdown
            case decoding
            case invalidIdentifier
            case tooManyParameters
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The server rejected a statement; see `sqlState`.
        public static let server = Code(.server)
        /// Could not connect, or the connection broke; the outcome of an in-flight statement is unknown.
        public static let connectionFailure = Code(.connectionFailure)
        /// No connection became free within `Configuration.waitTimeout`.
        public static let poolTimeout = Code(.poolTimeout)
        /// The client is shut down (or was never run).
        public static let poolShutdown = Code(.poolShutdown)
        /// A column value could not be decoded as the requested type.
        public static let decoding = Code(.decoding)
        /// A schema or table name failed validation.
        public static let invalidIdentifier = Code(.invalidIdentifier)
        /// A query has more binds than the protocol's limit of 65 535.
        public static let tooManyParameters = Code(.tooManyParameters)

        public var description: String { self.base.rawValue }
    }

    public var code: Code
    public var sqlState: SQLState?
    public var message: String
    public var detail: String?
    public var constraint: String?
    public var hint: String?

    public init(
        code: Code,
        sqlState: SQLState? = nil,
        message: String,
        detail: String? = nil,
        constraint: String? = nil,
        hint: String? = nil
    ) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.constraint = constraint
        self.hint = hint
    }

    /// Whether the statement named a schema or table that does not exist: in this service, an
    /// organisation's schema dropped (its organisation purged) while the statement was on its way.
    public var namesMissingRelation: Bool {
        sqlState == .undefinedTable || sqlState == .invalidSchemaName
    }

    /// Whether retrying later (or answering 503) is the right reaction: the database was unreachable,
    /// restarting, overloaded (a statement timed out), or chose this transaction as a serialization/deadlock victim.
    public var isTransient: Bool {
        if self.code == .connectionFailure || self.code == .poolTimeout {
            return true
        }
        guard let sqlState = self.sqlState else { return false }
        switch sqlState {
        // queryCanceled is statement_timeout firing: the database is too slow right now, not the request wrong.
        case .adminShutdown, .crashShutdown, .cannotConnectNow, .serializationFailure, .deadlockDetected,
            .queryCanceled:
            return true
        default:
            // Class 08: connection exceptions.
            return sqlState.errorClass == "08"
        }
    }

    public var description: String {
        var text = "PostgresError(\(self.code)"
        if let sqlState = self.sqlState {
            text += ", sqlState: \(sqlState)"
        }
        if let constraint = self.constraint {
            text += ", constraint: \(constraint)"
        }
        // Client-side messages are ours and carry no values; server messages may.
        if self.code != .server {
            text += ", message: \(self.message)"
        }
        return text + ")"
    }
}
