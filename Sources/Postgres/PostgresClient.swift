import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A bounded pool of libpq connections whose blocking calls run on a dedicated thread pool.
///
/// Run it as a `Service` (in the application's `ServiceGroup`, or a task group in tests); calls made
/// after it has stopped fail with `PostgresError(.poolShutdown)`.
public final class PostgresClient: Sendable, Service {
    public struct Configuration: Sendable {
        /// A libpq URI (`postgresql://user@host:5432/db?sslmode=require`) or `key=value` string, as in
        /// `DATABASE_URL`.
        public var connectionString: String
        public var maximumConnections: Int = 10
        /// The most connections callers of one `affinity` (one tenant) hold while callers of another
        /// wait; alone, a tenant may use them all. Nil puts no limit on it.
        public var tenantShare: Int?
        /// How long connecting may take; also sent to libpq as `connect_timeout` (whole seconds).
        public var connectionTimeout: Duration = .seconds(5)
        /// How long a caller waits for a free connection before `PostgresError(.poolTimeout)`.
        public var waitTimeout: Duration = .seconds(5)
        /// How long a caller's work is tried again, on a fresh connection, while the database cannot
        /// be reached (a restart, a failover), as long as nothing it sent could have been committed:
        /// a short outage then costs the caller a wait, not an error. Zero turns it off.
        public var outageRetry: Duration = .zero
        /// Sent as `options=-c statement_timeout=…` at connect time rather than as a `SET`, so it also
        /// holds behind transaction-pooling proxies. Nil leaves the server default.
        public var statementTimeout: Duration? = .seconds(15)
        /// Sent as `options=-c random_page_cost=…` at connect time. The service reads rows one at a time
        /// from cached pages; at PostgreSQL's default (4, priced for spinning disks) the planner scanned
        /// a small organisation's whole users table, `lower()` on every row, rather than use its unique
        /// index (30% fewer lookups per second in that case). 1.1 is the usual value for SSDs and
        /// cached data. Nil leaves the server's setting.
        public var randomPageCost: Double? = 1.1
        public var applicationName: String = "scim-server"
        /// Whether each connection prepares the statements it runs (`PQprepare` once, then
        /// `PQexecPrepared`), so the server parses and plans a statement once per connection rather than
        /// on every call. Turn it off behind a transaction-pooling proxy without prepared-statement
        /// support (PgBouncer before 1.21): its server connections change under the client between
        /// transactions. Defaults to true unless the environment sets `DB_PREPARED_STATEMENTS=false`,
        /// so every client in a process (server, `migrate`, tests) follows that one setting.
        public var preparedStatements: Bool = Configuration.preparedStatementsFromEnvironment()
        /// The most prepared statements one connection keeps; the least recently used one is
        /// deallocated to make room. Each tenant schema has its own statement texts.
        public var preparedStatementCacheSize: Int = 512
        /// How many uses a statement text needs on a connection before it is prepared; 1 prepares at
        /// once. Internal: tests use 1 to run every statement through the prepared path.
        var prepareAfterUses: Int = 2
        /// How many evicted statements wait before one round trip deallocates them all: with many
        /// tenants, statements are evicted often, and a `DEALLOCATE` round trip for each would cost
        /// nearly as much as the statement. Internal: tests use 1 to see each eviction reach the server.
        var deallocationBatch: Int = 16

        public init(connectionString: String) {
            self.connectionString = connectionString
        }

        /// False when `DB_PREPARED_STATEMENTS` is `false` (any case), true otherwise.
        public static func preparedStatementsFromEnvironment(
            _ environment: [String: String] = ProcessInfo.processInfo.environment
        ) -> Bool {
            environment["DB_PREPARED_STATEMENTS"]?.lowercased() != "false"
        }
    }

    public enum IsolationLevel: Sendable, Hashable {
        case readCommitted
        case repeatableRead
        case serializable

        var sql: String {
            switch self {
            case .readCommitted: "READ COMMITTED"
            case .repeatableRead: "REPEATABLE READ"
            case .serializable: "SERIALIZABLE"
            }
        }
    }

    /// A snapshot of the pool, for `/metrics` and diagnostics.
    public struct PoolMetrics: Sendable, Hashable {
        /// Connections (or connection attempts) held by callers.
        public var inUse: Int
        public var idle: Int
        /// Callers queued for a connection.
        public var waiting: Int
        /// Connections opened since start; growing steadily means connections keep breaking.
        public var connectionsOpened: Int
        /// Statements prepared since start, over all connections. Under steady traffic this should
        /// level off; climbing with the requests means the connections' statement caches turn over.
        public var statementsPrepared = 0
        /// Leases served by a connection whose home is another tenant bucket, since start: the
        /// visited session may have that tenant's statements cold.
        public var visitedLeases = 0
        /// Prepared statements a server session had when the connection's cache said it had not, or
        /// the reverse, since start: growing means a transaction pooler changes sessions under the
        /// connections (each recovers, and stops preparing after a few).
        public var statementMismatches = 0
    }

    public let configuration: Configuration
    private let logger: Logger
    private let pool: ConnectionPool
    private let threadPool: NIOThreadPool
    private let instruments = PoolInstruments()

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        // One thread per connection: a leased connection never waits for a thread.
        self.threadPool = NIOThreadPool(numberOfThreads: configuration.maximumConnections)
        self.pool = ConnectionPool(
            maximumConnections: configuration.maximumConnections, tenantShare: configuration.tenantShare,
            threadPool: self.threadPool)
        // Started here rather than in run(): callers racing the service group's start-up (migrations in
        // `beforeServerStarts`, tests) must not see a stopped pool.
        self.threadPool.start()
    }

    /// Starts the thread pool and serves until graceful shutdown or cancellation, then closes every
    /// connection and stops the threads. Statements already running are allowed to finish.
    public func run() async throws {
        // Returns on graceful shutdown; throws on cancellation. Both mean "stop".
        try? await gracefulShutdown()
        let idle = self.pool.shutdown()
        // `submit` rather than `runIfActive`: this task may be cancelled, and the connections must still close.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.threadPool.submit { _ in
                idle.forEach { $0.close() }
                continuation.resume()
            }
        }
        try await self.threadPool.shutdownGracefully()
        self.logger.debug("postgres client stopped")
    }

    /// What the current task's queries are about (a tenant's schema name), so the pool steers them to
    /// the connections that served it last: each tenant has its own statement texts, and on a warm
    /// connection they are prepared and already planned. Set it around a request with
    /// `PostgresClient.$affinity.withValue(…)`; nil (the default) means no preference.
    @TaskLocal public static var affinity: String?

    /// Runs `body` on a pooled connection, on the blocking thread pool (never on Swift's cooperative
    /// threads). The body is synchronous and may run several statements.
    ///
    /// A connection left broken or inside a transaction is closed rather than reused.
    /// - Throws: The body's error; `PostgresError(.poolTimeout)`, `.poolShutdown` or
    ///   `.connectionFailure` if no connection could be had; `CancellationError`.
    ///
    /// When the connection cannot be had or breaks before anything the body sent could have been
    /// committed (`ConnectionStateMachine.leaseFailed(with:)`), the body runs again on a fresh connection,
    /// with growing pauses, for up to `Configuration.outageRetry`; then the connection failure is thrown.
    ///
    /// `weight` is how much of its tenant's fair share of the pool the work counts for
    /// (`Configuration.tenantShare`): more than 1 for work that keeps a database core busy.
    public func withConnection<R: Sendable>(
        weight: Int = 1, _ body: @Sendable (PostgresConnection) throws -> R
    ) async throws -> R {
        let deadline = ContinuousClock.now + self.configuration.outageRetry
        var pause = Duration.milliseconds(50)
        while true {
            do {
                return try await self.withConnection(waitTimeout: self.configuration.waitTimeout, weight: weight, body)
            } catch let failure as UncommittedConnectionFailure {
                guard ContinuousClock.now + pause <= deadline else { throw failure.error }
                self.logger.debug("database unreachable; trying again", metadata: ["postgres.retry_in": "\(pause)"])
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(500))
            } catch let lost as LostCommit {
                // Only a transaction the server reports aborted may run again.
                guard try await self.wasAborted(lost.transactionID, until: deadline) else { throw lost.error }
                self.logger.debug("a commit cut off with its connection was aborted; trying again")
            }
        }
    }

    /// `BEGIN; body; COMMIT`, or `ROLLBACK` and rethrow the body's own error (never the rollback's).
    ///
    /// `BEGIN` travels with the body's first statement and `COMMIT` with the statements the body
    /// deferred (`deferUntilCommit`), so a transaction costs no round trips beyond its statements'.
    /// A transaction failing with 40001 or 40P01 (in the body or at commit) is run again, in a new
    /// transaction, up to three more times; so is one failing because the server's prepared statements
    /// were not what the connection's cache said (a migration changed a table one reads, or a
    /// transaction pooler gave the transaction another session), then with every statement unnamed. A
    /// commit whose answer was lost with the connection is retried only once the server reports that
    /// transaction aborted (`txid_status`), within `Configuration.outageRetry`; otherwise its
    /// connection failure is thrown, as its outcome is unknown. `readOnly` transactions are
    /// `BEGIN … READ ONLY`.
    /// - Throws: The body's error, the `COMMIT`'s error, or those of `withConnection(_:)`.
    ///
    /// With `statementTimeout`, the transaction's statements are cut off after that long rather than
    /// the connection's `statement_timeout` (a `SET LOCAL` sent with `BEGIN`: it ends with the
    /// transaction, so it also holds behind a transaction pooler).
    public func withTransaction<R: Sendable>(
        isolation: IsolationLevel = .readCommitted,
        readOnly: Bool = false,
        statementTimeout: Duration? = nil,
        weight: Int = 1,
        _ body: @Sendable (PostgresConnection) throws -> R
    ) async throws -> R {
        let start = ConnectionStateMachine.TransactionStart(
            isolation: isolation, readOnly: readOnly, statementTimeout: statementTimeout,
            outageRetry: self.configuration.outageRetry)
        return try await self.withConnection(weight: weight) { connection in
            var retries = 0
            var unnamedStatements = false
            while true {
                connection.begin(start, unnamedStatements: unnamedStatements)
                let result: R
                do {
                    result = try body(connection)
                    try connection.commit()
                    return result
                } catch {
                    // Only server errors are retried: then nothing was committed. A commit whose answer
                    // was lost (connection failure) has an unknown outcome and is never run again.
                    guard case .retry(let unnamed) = connection.rollback(after: error, retries: retries) else {
                        throw error
                    }
                    retries += 1
                    unnamedStatements = unnamedStatements || unnamed
                    let sqlState = (error as? PostgresError)?.sqlState?.rawValue ?? ""
                    self.logger.debug("retrying transaction", metadata: ["postgres.sqlstate": "\(sqlState)"])
                }
            }
        }
    }

    /// Runs one statement on a pooled connection.
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await self.withConnection { try $0.query(query) }
    }

    /// Whether the database answers `SELECT 1`, waiting at most a second for a connection; for `/readyz`.
    public func ping() async -> Bool {
        let waitTimeout = min(self.configuration.waitTimeout, .seconds(1))
        return (try? await self.withConnection(waitTimeout: waitTimeout) { try $0.query("SELECT 1") }) != nil
    }

    public var metrics: PoolMetrics {
        var metrics = self.pool.metrics
        metrics.statementsPrepared = self.instruments.statementsPrepared.load(ordering: .relaxed)
        metrics.visitedLeases = self.instruments.visitedLeases.load(ordering: .relaxed)
        metrics.statementMismatches = self.instruments.statementMismatches.load(ordering: .relaxed)
        return metrics
    }

    /// The pool bucket whose connection serves `affinity` when it can.
    func bucket(forAffinity affinity: String) -> Int {
        self.bucket(forKey: affinity.hashValue)
    }

    private func bucket(forKey key: Int) -> Int {
        Int(UInt(bitPattern: key) % UInt(self.configuration.maximumConnections))
    }

    private func withConnection<R: Sendable>(
        waitTimeout: Duration,
        weight: Int = 1,
        _ body: @Sendable (PostgresConnection) throws -> R
    ) async throws -> R {
        let key = Self.affinity?.hashValue
        let bucket = key.map(self.bucket(forKey:))
        let caller = MultiThreadedEventLoopGroup.currentEventLoop
        return try await withoutActuallyEscaping(body) { body in
            let box = BodyBox(body)
            defer { box.empty() }
            let id = self.pool.makeWaiterID()
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
                    let job = ConnectionPool.Job(
                        run: { grant in
                            let (result, returned) = self.run(box, with: grant, bucket: bucket)
                            Self.resume(continuation, with: result, on: caller)
                            return returned
                        },
                        fail: { Self.resume(continuation, with: .failure($0), on: caller) }
                    )
                    let grant = self.pool.lease(id, job, timeout: waitTimeout, bucket: bucket, key: key, weight: weight)
                    if let grant {
                        self.pool.start(job, with: grant)
                    }
                }
            } onCancel: {
                self.pool.cancel(id)
            }
        }
    }

    /// Resumes a caller on the event loop it called from, if any. Swift concurrency's jobs run on the
    /// NIO loops (see `scim-server`), and a task resumed from a pool thread would land on whichever
    /// loop comes next, then hop back to its connection's loop to write the response.
    private static func resume<R: Sendable>(
        _ continuation: CheckedContinuation<R, any Error>, with result: sending Result<R, any Error>,
        on loop: (any EventLoop)?
    ) {
        guard let loop else { return continuation.resume(with: result) }
        loop.execute { continuation.resume(with: result) }
    }

    /// The pool-thread half of `withConnection`: obtain a working connection and run the body; the
    /// caller then gives back the connection, or the slot when none could be opened. `bucket` is the
    /// caller's affinity bucket.
    private func run<R>(
        _ body: BodyBox<R>, with grant: ConnectionPool.Grant, bucket: Int?
    ) -> (Result<R, any Error>, ConnectionPool.Returned) {
        let connection: PostgresConnection
        switch grant {
        case .connection(let idle):
            connection = idle
            do {
                try connection.prepareForUse()
            } catch {
                return (.failure(Self.uncommitted(error)), .connection(connection))
            }
        case .openSlot(let home):
            do {
                connection = try PostgresConnection(
                    configuration: self.configuration,
                    logger: self.logger,
                    instruments: self.instruments
                )
            } catch {
                self.logger.debug("postgres connection failed", metadata: ["postgres.error": "\(error)"])
                return (.failure(Self.uncommitted(error)), .slot(bucket: home))
            }
            connection.poolBucket = home
            self.pool.connectionOpened()
        }
        connection.isVisited = bucket != nil && bucket != connection.poolBucket
        if connection.isVisited {
            self.instruments.visitedLeases.add(1, ordering: .relaxed)
        }
        connection.beginLease()
        let result = Result { try body(connection) }
        if case .failure(let error) = result {
            switch connection.leaseFailed(with: error) {
            case .uncommitted:
                return (.failure(Self.uncommitted(error)), .connection(connection))
            case .lostCommit(let transactionID):
                if let error = error as? PostgresError {
                    return (.failure(LostCommit(error: error, transactionID: transactionID)), .connection(connection))
                }
            case .mayHaveCommitted:
                break
            }
        }
        return (result, .connection(connection))
    }

    /// Whether the server, once it can be reached again before `deadline`, reports the transaction
    /// aborted (a restart aborts every transaction not yet committed). Committed, still running, or
    /// unknown (the database stayed away) are all false: the caller's outcome stays unknown.
    private func wasAborted(_ transactionID: Int64, until deadline: ContinuousClock.Instant) async throws -> Bool {
        var pause = Duration.milliseconds(50)
        while true {
            do {
                let status = try await self.withConnection(waitTimeout: self.configuration.waitTimeout) { connection in
                    try connection.query("SELECT txid_status(\(transactionID)) AS status").first?
                        .decode("status", as: String?.self)
                }
                return status == "aborted"
            } catch is UncommittedConnectionFailure {
                guard ContinuousClock.now + pause <= deadline else { return false }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(500))
            }
        }
    }

    /// A connection failure wrapped as `UncommittedConnectionFailure`; any other error as it is.
    private static func uncommitted(_ error: any Error) -> any Error {
        guard let error = error as? PostgresError, error.code == .connectionFailure else { return error }
        return UncommittedConnectionFailure(error: error)
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let components = self.components
        return components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

/// A connection failure that left nothing committed: the caller's work may run again. Only
/// `withConnection` sees it; callers get the `PostgresError` inside.
private struct UncommittedConnectionFailure: Error {
    var error: PostgresError
}

/// A connection that broke while its transaction's `COMMIT` was in flight. Only `withConnection` sees
/// it: it asks the server what became of `transactionID`, and runs the work again only if it was aborted.
private struct LostCommit: Error {
    var error: PostgresError
    var transactionID: Int64
}

/// What a client's connections record, shared by all of them.
final class PoolInstruments: Sendable {
    let queryTimer = Metrics.Timer(label: "scim_db_query_duration_seconds")
    let statementsPrepared = Atomic<Int>(0)
    /// Prepared statements the server had when a connection's cache said it had not, or the reverse.
    let statementMismatches = Atomic<Int>(0)
    /// Whether a connection has logged that the server's sessions change under it (once per client).
    let reportedPooler = Atomic<Bool>(false)
    let visitedLeases = Atomic<Int>(0)
}

/// Carries a caller's non-escaping body to a pool thread.
///
/// The job that runs the body outlives the caller's wait for a moment (its pool thread still holds it
/// while giving the connection back), so a job capturing the body directly would trip
/// `withoutActuallyEscaping`'s escape check. The job captures this box instead, and the box is emptied
/// before that check runs.
private final class BodyBox<R: Sendable>: Sendable {
    private let body: Mutex<(@Sendable (PostgresConnection) throws -> R)?>

    init(_ body: @escaping @Sendable (PostgresConnection) throws -> R) {
        self.body = Mutex(body)
    }

    /// Called before `empty()`, as `withConnection` guarantees; after it, the caller is gone.
    /// - Throws: The body's error, or `CancellationError` once emptied.
    func callAsFunction(_ connection: PostgresConnection) throws -> R {
        try self.body.withLock { body in
            guard let body else { throw CancellationError() }
            return try body(connection)
        }
    }

    func empty() {
        self.body.withLock { $0 = nil }
    }
}
