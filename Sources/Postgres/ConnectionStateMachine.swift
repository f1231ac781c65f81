/// The statement and transaction protocol of one `PostgresConnection`, free of I/O so that every
/// transition can be tested directly.
///
/// The shell (`PostgresConnection`) reports what happens (a statement is about to run, it failed, the
/// body commits or rolls back), with the server session's transaction status (`ServerStatus`) where a
/// decision depends on it, and carries out what comes back: which commands travel together in one
/// round trip, under which name a statement runs, which prepared statements to `DEALLOCATE`, what to
/// count and log. `PostgresClient` asks it whether a failed transaction runs again
/// (`afterFailure(of:retries:)`) and what a failed lease may have left committed (`leaseFailed(with:)`).
///
/// A transaction of `PostgresClient.withTransaction` is in one of four states (`Transaction`):
/// - `none`: no such transaction; a statement commits on its own, unless the caller sent its own
///   `BEGIN` (the server's status tells).
/// - `beginPending`: `BEGIN` and its `SET LOCAL`s wait for the transaction's first statement and go
///   out with it in one pipeline. Opening a transaction thus costs no round trip of its own, and one
///   that sends nothing costs none at all. A write transaction may ask for its id in the same pipeline
///   (`SELECT txid_current()`), so that a commit cut off with its connection can be looked up later.
/// - `open`: `BEGIN` has gone out; statements run as they come, and statements whose results nobody
///   reads wait for the `COMMIT`, to go out with it in one round trip.
/// - `committed`: `queryAndCommit` committed it with its last statement, so `commit` has nothing
///   left to do and a failure after it must not run the transaction again.
///
/// Beside the state it keeps what the connection has prepared (`PreparedStatementCache`, nil once
/// preparing is off) and the evicted statements still to `DEALLOCATE` (sent only outside a
/// transaction, in batches). A statement the server's session does not have as the cache says (26000
/// after `DISCARD ALL` or on another session behind a pooler, 42P05 when another client of the session
/// prepared it, or 0A000 once a table it reads changed) runs again at once when it ran on its own; inside
/// a transaction the error has aborted it, so `staleStatementFailed` makes `afterFailure` run the whole
/// transaction again with every statement unnamed. After `mismatchesBeforeUnnamed` such mismatches the
/// connection stops preparing: its sessions change under it between transactions.
///
/// `mayHaveCommitted` says whether anything the current lease sent could have been committed (a
/// `COMMIT`, or a statement other than a `SELECT` outside a transaction): until then a broken
/// connection has cost nothing, and the client may run the caller's work again elsewhere.
struct ConnectionStateMachine {
    /// What `PQtransactionStatus` says of the server session.
    enum ServerStatus: Equatable {
        case idle
        /// In a transaction, busy, or unknown (a broken connection): anything but idle or failed.
        case inTransaction
        /// In a transaction an error has aborted: only `ROLLBACK` ends it.
        case failedTransaction
        /// The connection is closed: it has no transaction to end.
        case closed
    }

    /// The progress of a `withTransaction` transaction (see the type's comment).
    enum Transaction: Equatable {
        case none
        case beginPending([String])
        case open
        case committed
    }

    /// How `withTransaction` opens a transaction.
    struct TransactionStart: Equatable {
        /// `BEGIN` with its isolation level (and `READ ONLY`), then a `SET LOCAL statement_timeout`
        /// when the transaction has its own timeout: it ends with the transaction, so it also holds
        /// behind a transaction pooler.
        var commands: [String]
        /// Whether the first statement also asks for the transaction's id: only a write transaction
        /// can leave a commit of unknown outcome, and only with `outageRetry` is it looked up.
        var tracksTransactionID: Bool

        init(
            isolation: PostgresClient.IsolationLevel, readOnly: Bool, statementTimeout: Duration?,
            outageRetry: Duration
        ) {
            self.commands =
                ["BEGIN ISOLATION LEVEL \(isolation.sql)\(readOnly ? " READ ONLY" : "")"]
                + (statementTimeout.map { ["SET LOCAL statement_timeout = \(max(1, $0.milliseconds))"] } ?? [])
            self.tracksTransactionID = !readOnly && outageRetry > .zero
        }
    }

    /// How a statement goes to the server.
    enum Plan: Equatable {
        /// Parsed and planned for this one execution.
        case unnamed
        /// Prepared on this connection before.
        case prepared(String)
        /// To be prepared under this name, in the same round trip as its execution.
        case prepare(String)

        var isPrepare: Bool {
            if case .prepare = self { true } else { false }
        }
    }

    /// What the shell does besides sending the statement, in order.
    enum Action: Equatable {
        /// `DEALLOCATE` these statements in one round trip (the machine has forgotten them).
        case deallocate(Set<String>)
        /// A statement is prepared: count it (`PoolMetrics.statementsPrepared`).
        case countPrepared
        /// The server's statements were not what the cache said: count it; with `stopsPreparing`, this
        /// connection has stopped preparing statements, which the client reports once.
        case countMismatch(stopsPreparing: Bool)
        /// A stale statement is prepared again: log its SQLSTATE.
        case logStaleRetry(SQLState?)
    }

    /// A statement about to be sent.
    struct Statement: Equatable {
        /// Whether it runs on its own, outside any transaction: only then may it simply run again.
        var idle: Bool
        /// Its key in the cache; nil when it runs unnamed (preparing off or paused, or a query not
        /// worth preparing).
        var key: PreparedStatementCache.Key?
        var plan: Plan
        var actions: [Action]
    }

    /// How a statement goes out.
    enum Dispatch: Equatable {
        /// On its own.
        case alone
        /// In one pipeline after `commands` (a pending `BEGIN`, possibly the transaction id query):
        /// `transactionIDAt` is the index of the result that holds the transaction's id.
        case pipeline(commands: [String], transactionIDAt: Int?)
    }

    /// What to do after a statement failed: run it again with `retry`, or throw (nil).
    struct Recovery: Equatable {
        var retry: Plan?
        var actions: [Action]
    }

    enum Deferral: Equatable {
        /// Outside a transaction: run it at once.
        case runNow
        /// Kept until the `COMMIT`.
        case deferred
    }

    enum CommitAction {
        /// Nothing to send: committed early, or the transaction never sent a statement.
        case nothing
        /// An earlier statement aborted the transaction: roll back and fail with 25P02, as the server
        /// would answer a `COMMIT` with a silent `ROLLBACK` that must not pass for success.
        case refuse
        /// Send `COMMIT` alone.
        case commit
        /// Send `begin`, `statements` (the deferred ones, then the caller's last one) and `COMMIT` in one
        /// pipeline.
        case pipeline(begin: [String], statements: [PostgresQuery])
        /// The connection is closed.
        case closed
    }

    /// Whether a failed transaction runs again.
    enum AfterFailure: Equatable {
        case rethrow
        /// In a new transaction; with `unnamedStatements`, every statement of it runs unnamed.
        case retry(unnamedStatements: Bool)
    }

    /// What a lease that failed may have left behind.
    enum LeaseFailure: Equatable {
        /// Nothing it sent could have been committed: the work may run again.
        case uncommitted
        /// The connection broke while the transaction `transactionID` was committing: it may run again
        /// once the server reports that transaction aborted.
        case lostCommit(transactionID: Int64)
        /// Something may have been committed, or the error is the caller's.
        case mayHaveCommitted
    }

    /// Mismatches a connection tolerates before it stops preparing statements.
    static let mismatchesBeforeUnnamed = 3
    /// How many times a failed transaction runs again.
    static let transactionRetries = 3
    static let transactionIDQuery = "SELECT txid_current()"

    private(set) var transaction = Transaction.none
    /// Statements whose results nobody reads (the sync-event row of a write), sent with `COMMIT`.
    private(set) var deferred: [PostgresQuery] = []
    /// True while the transaction runs every statement unnamed (after a mismatch), or after it set
    /// its own `search_path`: a name stands for a text, and what an unqualified text means then
    /// depends on the session's path.
    private(set) var namedStatementsPaused = false
    /// Set when a cached statement failed as stale and could not run again because a transaction was
    /// open; cleared when the next statement or commit starts.
    private(set) var staleStatementFailed = false
    private(set) var mayHaveCommitted = false
    private var tracksTransactionID = false
    /// The current transaction's id, once its first statement has run (with `tracksTransactionID`).
    private(set) var transactionID: Int64?
    /// Nil when preparing is off. Valid only for the current server session.
    private(set) var statements: PreparedStatementCache?
    /// Evicted statements still to `DEALLOCATE`: sent only outside a transaction, so a failing
    /// `DEALLOCATE` can never abort the caller's transaction, and in batches, so the server may hold up
    /// to `deallocationBatch - 1` more than the cache's capacity.
    private(set) var pendingDeallocations: Set<String> = []
    let deallocationBatch: Int
    /// How often the server's prepared statements were not what the cache said.
    private(set) var statementMismatches = 0
    /// True while the connection serves a caller of another pool bucket, whose texts need more uses
    /// to be prepared here (`PreparedStatementCache`).
    var isVisited = false

    init(statements: PreparedStatementCache?, deallocationBatch: Int) {
        self.statements = statements
        self.deallocationBatch = max(1, deallocationBatch)
    }

    // MARK: Leases

    /// A lease starts: nothing sent yet.
    mutating func leaseStarted() {
        self.mayHaveCommitted = false
    }

    /// The server session was replaced (a reconnect): its prepared statements died with it.
    mutating func sessionReset() {
        self.statements?.removeAll()
        self.pendingDeallocations.removeAll()
    }

    /// Whether the pool may hand the connection to the next caller: no half-finished transaction work
    /// here, and none on the server.
    func isReusable(server: ServerStatus) -> Bool {
        !self.isBeginPending && self.deferred.isEmpty && server == .idle
    }

    func leaseFailed(with error: any Error) -> LeaseFailure {
        guard self.mayHaveCommitted else { return .uncommitted }
        if let error = error as? PostgresError, error.code == .connectionFailure, let transactionID {
            return .lostCommit(transactionID: transactionID)
        }
        return .mayHaveCommitted
    }

    // MARK: Transactions

    /// Opens a transaction lazily. With `unnamedStatements`, every statement of it runs unnamed: the
    /// attempt after one failed because the server's prepared statements were not what the cache
    /// said, which must not fail the same way again.
    mutating func begin(_ start: TransactionStart, unnamedStatements: Bool) {
        self.transaction = start.commands.isEmpty ? .open : .beginPending(start.commands)
        self.tracksTransactionID = start.tracksTransactionID
        self.transactionID = nil
        self.deferred.removeAll()
        self.namedStatementsPaused = unnamedStatements
    }

    /// Inside `withTransaction` (whether or not `BEGIN` has gone out yet), or in the caller's own.
    func isInTransaction(server: ServerStatus) -> Bool {
        self.isBeginPending || server == .inTransaction || server == .failedTransaction
    }

    private var isBeginPending: Bool {
        if case .beginPending = self.transaction { true } else { false }
    }

    mutating func deferUntilCommit(_ query: PostgresQuery, server: ServerStatus) -> Deferral {
        guard self.isInTransaction(server: server) else { return .runNow }
        self.deferred.append(query)
        return .deferred
    }

    /// The transaction ends: deferred statements and `COMMIT` go out together, with `final` (the
    /// caller's last statement, `queryAndCommit`) between them. `commitFinished()` follows.
    mutating func commit(hasFinal: Bool, server: ServerStatus) -> CommitAction {
        self.staleStatementFailed = false
        if self.transaction == .committed {
            self.transaction = .none
            return .nothing
        }
        let deferred = self.deferred
        self.deferred.removeAll()
        if self.isBeginPending, deferred.isEmpty, !hasFinal {
            self.transaction = .none
            return .nothing
        }
        if server == .failedTransaction {
            return .refuse
        }
        guard !deferred.isEmpty || hasFinal else {
            self.mayHaveCommitted = true
            return .commit
        }
        guard server != .closed else { return .closed }
        var begin: [String] = []
        if case .beginPending(let commands) = self.transaction {
            begin = commands
        }
        self.transaction = .open
        self.mayHaveCommitted = true
        return .pipeline(begin: begin, statements: deferred)
    }

    /// The commit has returned or thrown.
    mutating func commitFinished() {
        self.namedStatementsPaused = false
        if self.transaction == .open {
            self.transaction = .none
        }
    }

    /// `queryAndCommit` committed the transaction with its last statement.
    mutating func committedEarly() {
        self.transaction = .committed
    }

    /// The commit pipeline failed with a server error, so nothing was committed. Which statement
    /// failed is not known, so the cache starts afresh when the error is about prepared statements:
    /// one whose plan is stale must be deallocated before it is prepared again; one the session lacked
    /// (26000) or had already (42P05) is a session out of step. Either way the transaction runs again.
    mutating func commitFailed(_ error: PostgresError) -> [Action] {
        guard error.code == .server, let statements = self.statements else { return [] }
        if error.sqlState == .featureNotSupported, Self.isStale(error) {
            self.pendingDeallocations.formUnion(statements.namesByRecency)
            self.statements?.removeAll()
            self.staleStatementFailed = true
            return []
        }
        guard error.sqlState == .invalidSQLStatementName || error.sqlState == .duplicatePreparedStatement else {
            return []
        }
        self.statements?.removeAll()
        let mismatch = self.noteMismatch()
        self.staleStatementFailed = true
        return [mismatch]
    }

    /// The transaction ends without committing.
    /// - Returns: Whether to send `ROLLBACK` (not if `BEGIN` never went out).
    mutating func rollback(server: ServerStatus) -> Bool {
        self.deferred.removeAll()
        self.namedStatementsPaused = false
        let beganOnServer = !self.isBeginPending
        self.transaction = .none
        return beganOnServer && (server == .inTransaction || server == .failedTransaction)
    }

    /// Whether a transaction that failed with `error` runs again, after `retries` reruns. Only server
    /// errors are: then nothing was committed. Serialization failures and deadlocks run again as they
    /// were; a stale prepared statement runs again with every statement unnamed. A transaction
    /// committed early, or a connection failure (an unknown outcome), never does.
    func afterFailure(of error: any Error, retries: Int) -> AfterFailure {
        guard self.transaction != .committed, retries < Self.transactionRetries,
            let error = error as? PostgresError, error.code == .server,
            error.sqlState == .serializationFailure || error.sqlState == .deadlockDetected
                || self.staleStatementFailed
        else { return .rethrow }
        return .retry(unnamedStatements: self.staleStatementFailed)
    }

    // MARK: Statements

    /// A statement is about to run: decides how (its plan), and deallocates evicted statements first
    /// when it runs on its own and enough of them wait.
    mutating func startStatement(_ query: PostgresQuery, types: [UInt32], server: ServerStatus) -> Statement {
        self.staleStatementFailed = false
        let idle = server == .idle && !self.isBeginPending
        if idle, !query.isRead {
            self.mayHaveCommitted = true
        }
        var actions: [Action] = []
        if idle, self.pendingDeallocations.count >= self.deallocationBatch {
            actions.append(self.takeDeallocations())
        }
        var statement = self.admit(query, types: types)
        statement.idle = idle
        statement.actions = actions + statement.actions
        return statement
    }

    /// Decides how a statement goes to the server: by name when cached, prepared now when admitted to
    /// the cache, else unnamed.
    mutating func admit(_ query: PostgresQuery, types: [UInt32]) -> Statement {
        guard self.statements != nil, !self.namedStatementsPaused, query.isWorthPreparing else {
            return Statement(idle: false, key: nil, plan: .unnamed, actions: [])
        }
        let key = PreparedStatementCache.Key(sql: query.sql, types: types)
        var actions: [Action] = []
        let plan = self.plan(for: key, &actions)
        return Statement(idle: false, key: key, plan: plan, actions: actions)
    }

    /// How the statement goes out: a pending `BEGIN` travels with it (and the transaction is then open),
    /// as does its prepare.
    mutating func dispatch(_ plan: Plan) -> Dispatch {
        guard case .beginPending(let begin) = self.transaction else {
            return plan.isPrepare ? .pipeline(commands: [], transactionIDAt: nil) : .alone
        }
        self.transaction = .open
        guard self.tracksTransactionID else { return .pipeline(commands: begin, transactionIDAt: nil) }
        return .pipeline(commands: begin + [Self.transactionIDQuery], transactionIDAt: begin.count)
    }

    mutating func transactionIDReceived(_ transactionID: Int64?) {
        self.transactionID = transactionID
    }

    /// `execute(unsafeSQL:)` is about to send `sql`.
    /// - Returns: The text to send: a pending `BEGIN` goes first in the same string, still one round trip.
    mutating func execute(_ sql: String, server: ServerStatus) -> String {
        let inTransaction = self.isInTransaction(server: server)
        var commands: [String] = []
        if case .beginPending(let begin) = self.transaction {
            commands = begin
            self.transaction = .open
        }
        if inTransaction, sql.contains("search_path") {
            self.namedStatementsPaused = true
        }
        if !inTransaction, sql != "ROLLBACK" {
            self.mayHaveCommitted = true
        }
        return (commands + [sql]).joined(separator: "; ")
    }

    /// A statement failed with a server error on its `attempt`-th run (from 0): brings the cache in line
    /// with what the error says the server has, and says how to run the statement again, if at all.
    /// The first rerun follows the error; a further one, as behind a transaction pooler each run may
    /// meet another session, runs unnamed. `server` is the session's status after the failure.
    mutating func statementFailed(
        _ error: PostgresError, plan: Plan, of statement: Statement, attempt: Int, server: ServerStatus
    ) -> Recovery {
        guard error.code == .server, let key = statement.key else { return Recovery(retry: nil, actions: []) }
        var actions: [Action] = []
        let retry = self.recovery(after: error, of: plan, key: key, idle: statement.idle, server: server, &actions)
        return Recovery(retry: retry.map { attempt == 0 ? $0 : .unnamed }, actions: actions)
    }

    private mutating func recovery(
        after error: PostgresError, of plan: Plan, key: PreparedStatementCache.Key, idle: Bool,
        server: ServerStatus, _ actions: inout [Action]
    ) -> Plan? {
        switch plan {
        case .unnamed:
            return nil
        case .prepare(let name):
            if error.sqlState == .duplicatePreparedStatement {
                // The session already has a statement of this name, so of this content: use it.
                actions.append(self.noteMismatch())
                return self.mayRunAgain(idle: idle, server: server) ? .prepared(name) : nil
            }
            // Class 42 (syntax, an undefined table or column) is the prepare failing: the server
            // has no such statement. Other errors come from running it, and it stays prepared.
            if error.sqlState?.rawValue.hasPrefix("42") == true {
                self.statements?.remove(key)
                self.retire(name, server: server, &actions)
            }
            return nil
        case .prepared(let name):
            guard Self.isStale(error) else { return nil }
            self.statements?.remove(key)
            if error.sqlState == .invalidSQLStatementName {
                actions.append(self.noteMismatch())
            } else {
                // Still prepared on the server; only its cached plan is unusable.
                self.retire(name, server: server, &actions)
            }
            guard self.mayRunAgain(idle: idle, server: server) else { return nil }
            actions.append(.logStaleRetry(error.sqlState))
            // Its name is its content's, so the stale one must go before it is prepared again.
            if self.pendingDeallocations.contains(name) {
                actions.append(self.takeDeallocations())
            }
            return self.plan(for: key, &actions)
        }
    }

    /// Whether a failed statement may simply run again: only when it ran on its own. Inside a
    /// transaction the error has aborted it, and only rerunning the whole transaction helps.
    private mutating func mayRunAgain(idle: Bool, server: ServerStatus) -> Bool {
        guard idle, server == .idle else {
            self.staleStatementFailed = true
            return false
        }
        return true
    }

    /// Counts a prepared statement the server had when the cache said it had not, or the reverse.
    /// A few are normal (a `DISCARD ALL`); more mean the server session changes under the connection
    /// between transactions, as behind a transaction pooler without prepared-statement support
    /// (PgBouncer before 1.21). There, named statements would cost a rerun in most transactions, so
    /// the connection stops preparing.
    private mutating func noteMismatch() -> Action {
        self.statementMismatches += 1
        let stops = self.statementMismatches >= Self.mismatchesBeforeUnnamed && self.statements != nil
        if stops {
            self.statements = nil
        }
        return .countMismatch(stopsPreparing: stops)
    }

    /// Looks the statement up in the cache, or decides whether to admit it (the cache then holds it,
    /// and the statement it evicted waits for `DEALLOCATE`). A statement whose name still waits for
    /// its `DEALLOCATE` runs unnamed until that has gone: preparing it again first would fail, and
    /// the `DEALLOCATE` would then drop the new one.
    private mutating func plan(for key: PreparedStatementCache.Key, _ actions: inout [Action]) -> Plan {
        // Optional chaining mutates the cache in place; binding it to a variable would copy it.
        if let name = self.statements?.lookUp(key) { return .prepared(name) }
        guard self.statements?.shouldPrepare(key, forVisitor: self.isVisited) == true else { return .unnamed }
        let name = key.statementName
        guard !self.pendingDeallocations.contains(name) else { return .unnamed }
        actions.append(.countPrepared)
        if let evicted = self.statements?.insert(key, name: name) {
            self.pendingDeallocations.insert(evicted)
        }
        return .prepare(name)
    }

    /// Queues a statement for `DEALLOCATE`, sent with the next batch outside a transaction.
    private mutating func retire(_ name: String, server: ServerStatus, _ actions: inout [Action]) {
        self.pendingDeallocations.insert(name)
        if server == .idle, self.pendingDeallocations.count >= self.deallocationBatch {
            actions.append(self.takeDeallocations())
        }
    }

    private mutating func takeDeallocations() -> Action {
        let names = self.pendingDeallocations
        self.pendingDeallocations.removeAll()
        return .deallocate(names)
    }

    /// 26000 is what the server says about a prepared statement it does not have (after `DISCARD ALL`
    /// or `DEALLOCATE ALL`); 0A000 with this message means a table the statement reads changed shape.
    static func isStale(_ error: PostgresError) -> Bool {
        guard error.code == .server else { return false }
        return error.sqlState == .invalidSQLStatementName
            || (error.sqlState == .featureNotSupported && error.message == "cached plan must not change result type")
    }
}
