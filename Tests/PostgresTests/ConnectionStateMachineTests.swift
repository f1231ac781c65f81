import Testing

@testable import Postgres

/// Every transition of the connection's statement and transaction protocol, without a server: the
/// server's part is played by the `ServerStatus` each event is given and the errors fed back.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine

    static let begin = ["BEGIN ISOLATION LEVEL READ COMMITTED"]
    static let write = Machine.TransactionStart(
        isolation: .readCommitted, readOnly: false, statementTimeout: nil, outageRetry: .seconds(5))
    static let untracked = Machine.TransactionStart(
        isolation: .readCommitted, readOnly: false, statementTimeout: nil, outageRetry: .zero)

    /// Prepared statements on, each text prepared at its first use.
    static func machine(preparing: Bool = true, capacity: Int = 8, batch: Int = 16) -> Machine {
        Machine(
            statements: preparing ? PreparedStatementCache(capacity: capacity, admitAfterUses: 1) : nil,
            deallocationBatch: batch)
    }

    static func name(_ sql: String) -> String {
        PreparedStatementCache.Key(sql: sql, types: []).statementName
    }

    static func serverError(_ sqlState: String, _ message: String = "failed") -> PostgresError {
        PostgresError(code: .server, sqlState: SQLState(rawValue: sqlState), message: message)
    }

    static let stalePlan = serverError("0A000", "cached plan must not change result type")
    static let lostConnection = PostgresError(code: .connectionFailure, message: "server closed the connection")

    // MARK: Opening a transaction

    struct StartCase: Sendable, CustomTestStringConvertible {
        var isolation: PostgresClient.IsolationLevel
        var readOnly: Bool
        var statementTimeout: Duration?
        var outageRetry: Duration
        var commands: [String]
        var tracksTransactionID: Bool
        var testDescription: String { self.commands.joined(separator: "; ") + " tracked: \(self.tracksTransactionID)" }
    }

    @Test(
        "a transaction opens with its isolation, READ ONLY and own statement timeout; only writes track their id",
        arguments: [
            StartCase(
                isolation: .readCommitted, readOnly: false, statementTimeout: nil, outageRetry: .seconds(5),
                commands: ["BEGIN ISOLATION LEVEL READ COMMITTED"], tracksTransactionID: true),
            StartCase(
                isolation: .serializable, readOnly: true, statementTimeout: nil, outageRetry: .seconds(5),
                commands: ["BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"], tracksTransactionID: false),
            StartCase(
                isolation: .repeatableRead, readOnly: true, statementTimeout: .milliseconds(2500),
                outageRetry: .seconds(5),
                commands: [
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "SET LOCAL statement_timeout = 2500",
                ],
                tracksTransactionID: false),
            StartCase(
                isolation: .readCommitted, readOnly: false, statementTimeout: .microseconds(10), outageRetry: .zero,
                commands: ["BEGIN ISOLATION LEVEL READ COMMITTED", "SET LOCAL statement_timeout = 1"],
                tracksTransactionID: false),
        ])
    func transactionStart(_ row: StartCase) {
        let start = Machine.TransactionStart(
            isolation: row.isolation, readOnly: row.readOnly, statementTimeout: row.statementTimeout,
            outageRetry: row.outageRetry)
        #expect(start.commands == row.commands)
        #expect(start.tracksTransactionID == row.tracksTransactionID)
    }

    @Test("BEGIN and its SET LOCAL travel with the first statement, and only with the first")
    func pipelinedBegin() {
        var machine = Self.machine(preparing: false)
        let start = Machine.TransactionStart(
            isolation: .readCommitted, readOnly: true, statementTimeout: .seconds(2), outageRetry: .seconds(5))
        machine.begin(start, unnamedStatements: false)
        #expect(machine.transaction == .beginPending(start.commands))
        #expect(machine.isInTransaction(server: .idle))
        let statement = machine.startStatement("SELECT 1", types: [], server: .idle)
        #expect(statement == Machine.Statement(idle: false, key: nil, plan: .unnamed, actions: []))
        #expect(machine.dispatch(statement.plan) == .pipeline(commands: start.commands, transactionIDAt: nil))
        #expect(machine.transaction == .open)
        #expect(machine.dispatch(.unnamed) == .alone)
        #expect(machine.dispatch(.prepare("ps_x")) == .pipeline(commands: [], transactionIDAt: nil))
        #expect(!machine.mayHaveCommitted, "a read-only transaction's statements commit nothing")
    }

    @Test("a write transaction asks for its id with its first statement")
    func transactionIDTravelsWithBegin() {
        var machine = Self.machine()
        machine.leaseStarted()
        machine.begin(Self.write, unnamedStatements: false)
        let dispatch = machine.dispatch(.unnamed)
        #expect(dispatch == .pipeline(commands: Self.begin + [Machine.transactionIDQuery], transactionIDAt: 1))
        machine.transactionIDReceived(42)
        #expect(machine.transactionID == 42)
        machine.begin(Self.write, unnamedStatements: false)
        #expect(machine.transactionID == nil, "each transaction learns its own")
    }

    @Test("execute(unsafeSQL:) sends a pending BEGIN in the same string")
    func executeCarriesBegin() {
        var machine = Self.machine()
        machine.begin(Self.untracked, unnamedStatements: false)
        let text = machine.execute("SET LOCAL x = 1", server: .idle)
        #expect(text == "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL x = 1")
        #expect(machine.transaction == .open)
        #expect(machine.execute("SELECT 2", server: .inTransaction) == "SELECT 2")
        #expect(!machine.mayHaveCommitted)
    }

    // MARK: Deferred statements and commit

    @Test("statements deferred until commit go out with BEGIN and COMMIT when nothing else ran")
    func deferredWithPendingBegin() {
        var machine = Self.machine()
        machine.leaseStarted()
        machine.begin(Self.untracked, unnamedStatements: false)
        #expect(machine.deferUntilCommit("INSERT INTO t VALUES (1)", server: .idle) == .deferred)
        #expect(!machine.isReusable(server: .idle))
        let action = machine.commit(hasFinal: false, server: .idle)
        #expect(Self.summary(action) == "pipeline(BEGIN ISOLATION LEVEL READ COMMITTED | INSERT INTO t VALUES (1))")
        #expect(machine.mayHaveCommitted)
        machine.commitFinished()
        #expect(machine.transaction == .none)
        #expect(machine.isReusable(server: .idle))
    }

    @Test("outside a transaction a deferred statement runs at once")
    func deferredOutsideTransaction() {
        var machine = Self.machine()
        #expect(machine.deferUntilCommit("INSERT INTO t VALUES (1)", server: .idle) == .runNow)
        #expect(machine.deferred.isEmpty)
        #expect(machine.deferUntilCommit("INSERT INTO t VALUES (1)", server: .inTransaction) == .deferred)
    }

    struct CommitCase: Sendable, CustomTestStringConvertible {
        var name: String
        var statementSent: Bool
        var deferred: Bool
        var final: Bool
        var server: ConnectionStateMachine.ServerStatus
        var expected: String
        var mayHaveCommitted: Bool
        var testDescription: String { self.name }
    }

    @Test(
        "commit sends only what it must",
        arguments: [
            CommitCase(
                name: "nothing was sent: no round trip", statementSent: false, deferred: false, final: false,
                server: .idle, expected: "nothing", mayHaveCommitted: false),
            CommitCase(
                name: "statements ran: COMMIT alone", statementSent: true, deferred: false, final: false,
                server: .inTransaction, expected: "commit", mayHaveCommitted: true),
            CommitCase(
                name: "deferred statements go with COMMIT", statementSent: true, deferred: true, final: false,
                server: .inTransaction, expected: "pipeline(INSERT INTO t VALUES (1))", mayHaveCommitted: true),
            CommitCase(
                name: "a last statement goes with BEGIN and COMMIT", statementSent: false, deferred: false,
                final: true, server: .idle, expected: "pipeline(BEGIN ISOLATION LEVEL READ COMMITTED)",
                mayHaveCommitted: true),
            CommitCase(
                name: "an aborted transaction is refused, not committed", statementSent: true, deferred: true,
                final: false, server: .failedTransaction, expected: "refuse", mayHaveCommitted: false),
            CommitCase(
                name: "a closed connection sends nothing", statementSent: false, deferred: true, final: false,
                server: .closed, expected: "closed", mayHaveCommitted: false),
        ])
    func commit(_ row: CommitCase) {
        var machine = Self.machine()
        machine.leaseStarted()
        machine.begin(Self.untracked, unnamedStatements: false)
        if row.statementSent {
            _ = machine.dispatch(.unnamed)
        }
        if row.deferred {
            _ = machine.deferUntilCommit("INSERT INTO t VALUES (1)", server: .inTransaction)
        }
        #expect(Self.summary(machine.commit(hasFinal: row.final, server: row.server)) == row.expected)
        #expect(machine.mayHaveCommitted == row.mayHaveCommitted)
        #expect(machine.deferred.isEmpty)
    }

    @Test("a refused commit rolls back on the server, and the transaction does not run again")
    func refusedCommit() {
        var machine = Self.machine()
        machine.begin(Self.untracked, unnamedStatements: false)
        _ = machine.dispatch(.unnamed)
        #expect(Self.summary(machine.commit(hasFinal: false, server: .failedTransaction)) == "refuse")
        let error = Self.serverError("25P02")
        #expect(machine.afterFailure(of: error, retries: 0) == .rethrow)
        let sendsRollback = machine.rollback(server: .failedTransaction)
        #expect(sendsRollback)
        machine.commitFinished()
        #expect(machine.isReusable(server: .idle))
    }

    @Test("a transaction committed with its last statement needs no COMMIT and never runs again")
    func committedEarly() {
        var machine = Self.machine()
        machine.begin(Self.untracked, unnamedStatements: false)
        _ = machine.dispatch(.unnamed)
        #expect(Self.summary(machine.commit(hasFinal: true, server: .inTransaction)) == "pipeline()")
        machine.commitFinished()
        machine.committedEarly()
        #expect(machine.transaction == .committed)
        #expect(!machine.isInTransaction(server: .idle))
        #expect(machine.afterFailure(of: Self.serverError("40001"), retries: 0) == .rethrow)
        #expect(Self.summary(machine.commit(hasFinal: false, server: .idle)) == "nothing")
        #expect(machine.transaction == .none)
    }

    struct RollbackCase: Sendable, CustomTestStringConvertible {
        var name: String
        var sent: Bool
        var server: ConnectionStateMachine.ServerStatus
        var sendsRollback: Bool
        var testDescription: String { self.name }
    }

    @Test(
        "rollback sends ROLLBACK only to a transaction the server has",
        arguments: [
            RollbackCase(name: "BEGIN never went out", sent: false, server: .idle, sendsRollback: false),
            RollbackCase(name: "open", sent: true, server: .inTransaction, sendsRollback: true),
            RollbackCase(name: "aborted", sent: true, server: .failedTransaction, sendsRollback: true),
            RollbackCase(name: "already ended on the server", sent: true, server: .idle, sendsRollback: false),
            RollbackCase(name: "connection closed", sent: true, server: .closed, sendsRollback: false),
        ])
    func rollback(_ row: RollbackCase) {
        var machine = Self.machine()
        machine.begin(Self.untracked, unnamedStatements: true)
        if row.sent {
            _ = machine.dispatch(.unnamed)
        }
        _ = machine.deferUntilCommit("INSERT INTO t VALUES (1)", server: .inTransaction)
        #expect(machine.rollback(server: row.server) == row.sendsRollback)
        #expect(machine.transaction == .none)
        #expect(machine.deferred.isEmpty)
        #expect(!machine.namedStatementsPaused)
    }

    // MARK: Failures: what may run again

    struct RetryCase: Sendable, CustomTestStringConvertible {
        var name: String
        var error: PostgresError
        var retries: Int
        var expected: ConnectionStateMachine.AfterFailure
        var testDescription: String { self.name }
    }

    @Test(
        "a failed transaction runs again only on a serialization failure or deadlock, up to three times",
        arguments: [
            RetryCase(
                name: "40001", error: serverError("40001"), retries: 0, expected: .retry(unnamedStatements: false)),
            RetryCase(
                name: "40P01", error: serverError("40P01"), retries: 2, expected: .retry(unnamedStatements: false)),
            RetryCase(name: "40001 a fourth time", error: serverError("40001"), retries: 3, expected: .rethrow),
            RetryCase(name: "the caller's error", error: serverError("23505"), retries: 0, expected: .rethrow),
            RetryCase(name: "connection lost", error: lostConnection, retries: 0, expected: .rethrow),
        ])
    func afterFailure(_ row: RetryCase) {
        var machine = Self.machine()
        machine.begin(Self.untracked, unnamedStatements: false)
        #expect(machine.afterFailure(of: row.error, retries: row.retries) == row.expected)
    }

    @Test("a reply lost with the connection: what the lease may have committed")
    func leaseFailures() {
        var machine = Self.machine()
        machine.leaseStarted()
        #expect(machine.leaseFailed(with: Self.lostConnection) == .uncommitted)
        // A SELECT on its own commits nothing; a write may have.
        _ = machine.startStatement("SELECT 1", types: [], server: .idle)
        #expect(machine.leaseFailed(with: Self.lostConnection) == .uncommitted)
        _ = machine.startStatement("UPDATE t SET v = 1", types: [], server: .idle)
        #expect(machine.leaseFailed(with: Self.lostConnection) == .mayHaveCommitted)
        // A new lease starts clean; statements inside a transaction commit nothing until COMMIT.
        machine.leaseStarted()
        machine.begin(Self.write, unnamedStatements: false)
        _ = machine.startStatement("UPDATE t SET v = 1", types: [], server: .idle)
        _ = machine.dispatch(.unnamed)
        machine.transactionIDReceived(7)
        #expect(machine.leaseFailed(with: Self.lostConnection) == .uncommitted)
        // Cut off while COMMIT was in flight: the outcome is unknown, but the id can be looked up.
        _ = machine.commit(hasFinal: false, server: .inTransaction)
        #expect(machine.leaseFailed(with: Self.lostConnection) == .lostCommit(transactionID: 7))
        #expect(machine.leaseFailed(with: Self.serverError("23505")) == .mayHaveCommitted)
        #expect(machine.afterFailure(of: Self.lostConnection, retries: 0) == .rethrow)
    }

    @Test("without its id, a commit cut off with the connection has an unknown outcome")
    func lostCommitWithoutTransactionID() {
        var machine = Self.machine()
        machine.leaseStarted()
        machine.begin(Self.untracked, unnamedStatements: false)
        _ = machine.deferUntilCommit("INSERT INTO t VALUES (1)", server: .idle)
        _ = machine.commit(hasFinal: false, server: .idle)
        #expect(machine.leaseFailed(with: Self.lostConnection) == .mayHaveCommitted)
    }

    @Test("ROLLBACK outside a transaction commits nothing; any other command may")
    func executeMayCommit() {
        var machine = Self.machine()
        machine.leaseStarted()
        _ = machine.execute("ROLLBACK", server: .idle)
        #expect(!machine.mayHaveCommitted)
        _ = machine.execute("CREATE TABLE t (v int)", server: .idle)
        #expect(machine.mayHaveCommitted)
    }

    // MARK: Prepared statements

    @Test("a text is prepared in the round trip of its first run, then run by name")
    func preparesThenRunsByName() {
        var machine = Self.machine()
        let name = Self.name("SELECT 1")
        let first = machine.startStatement("SELECT 1", types: [], server: .idle)
        #expect(first.plan == .prepare(name) && first.actions == [.countPrepared] && first.idle)
        #expect(machine.dispatch(first.plan) == .pipeline(commands: [], transactionIDAt: nil))
        #expect(machine.startStatement("SELECT 1", types: [], server: .idle).plan == .prepared(name))
        var unworthy: PostgresQuery = "SELECT 2"
        unworthy.isWorthPreparing = false
        #expect(machine.startStatement(unworthy, types: [], server: .idle).plan == .unnamed)
        var off = Self.machine(preparing: false)
        #expect(off.admit("SELECT 1", types: []).plan == .unnamed)
    }

    struct StaleCase: Sendable, CustomTestStringConvertible {
        var name: String
        var plan: ConnectionStateMachine.Plan
        var error: PostgresError
        var inTransaction: Bool
        var attempt: Int
        var retry: ConnectionStateMachine.Plan?
        var actions: [ConnectionStateMachine.Action]
        var staleStatementFailed: Bool
        var cached: Bool
        var testDescription: String { self.name }
    }

    static let selectName = name("SELECT v FROM t")

    @Test(
        "a statement the server's session has not as the cache says runs again on its own, or fails its transaction",
        arguments: [
            StaleCase(
                name: "26000 on its own: prepared again", plan: .prepared(selectName), error: serverError("26000"),
                inTransaction: false, attempt: 0, retry: .prepare(selectName),
                actions: [
                    .countMismatch(stopsPreparing: false), .logStaleRetry(SQLState(rawValue: "26000")), .countPrepared,
                ],
                staleStatementFailed: false, cached: true),
            StaleCase(
                name: "26000 on its second run: unnamed", plan: .prepared(selectName), error: serverError("26000"),
                inTransaction: false, attempt: 1, retry: .unnamed,
                actions: [
                    .countMismatch(stopsPreparing: false), .logStaleRetry(SQLState(rawValue: "26000")), .countPrepared,
                ],
                staleStatementFailed: false, cached: true),
            StaleCase(
                name: "26000 in a transaction: the transaction fails", plan: .prepared(selectName),
                error: serverError("26000"), inTransaction: true, attempt: 0, retry: nil,
                actions: [.countMismatch(stopsPreparing: false)], staleStatementFailed: true, cached: false),
            StaleCase(
                name: "0A000 changed result type: deallocated, then prepared again", plan: .prepared(selectName),
                error: stalePlan, inTransaction: false, attempt: 0, retry: .prepare(selectName),
                actions: [
                    .logStaleRetry(SQLState(rawValue: "0A000")), .deallocate([selectName]), .countPrepared,
                ],
                staleStatementFailed: false, cached: true),
            StaleCase(
                name: "0A000 for another reason is the caller's", plan: .prepared(selectName),
                error: serverError("0A000"), inTransaction: false, attempt: 0, retry: nil, actions: [],
                staleStatementFailed: false, cached: true),
            StaleCase(
                name: "42P05 on prepare: run the session's statement by name", plan: .prepare(selectName),
                error: serverError("42P05"), inTransaction: false, attempt: 0, retry: .prepared(selectName),
                actions: [.countMismatch(stopsPreparing: false)], staleStatementFailed: false, cached: true),
            StaleCase(
                name: "42P05 in a transaction: the transaction fails", plan: .prepare(selectName),
                error: serverError("42P05"), inTransaction: true, attempt: 0, retry: nil,
                actions: [.countMismatch(stopsPreparing: false)], staleStatementFailed: true, cached: true),
            StaleCase(
                name: "42P01 on prepare: never prepared, forgotten", plan: .prepare(selectName),
                error: serverError("42P01"), inTransaction: false, attempt: 0, retry: nil, actions: [],
                staleStatementFailed: false, cached: false),
            StaleCase(
                name: "23505 on prepare: the caller's, still prepared", plan: .prepare(selectName),
                error: serverError("23505"), inTransaction: false, attempt: 0, retry: nil, actions: [],
                staleStatementFailed: false, cached: true),
            StaleCase(
                name: "unnamed: the caller's", plan: .unnamed, error: serverError("26000"), inTransaction: false,
                attempt: 0, retry: nil, actions: [], staleStatementFailed: false, cached: true),
        ])
    func staleStatement(_ row: StaleCase) {
        var machine = Self.machine()
        _ = machine.startStatement("SELECT v FROM t", types: [], server: .idle)
        if row.inTransaction {
            machine.begin(Self.untracked, unnamedStatements: false)
        }
        let statement = machine.startStatement("SELECT v FROM t", types: [], server: .idle)
        #expect(statement.idle == !row.inTransaction)
        let after: Machine.ServerStatus = row.inTransaction ? .failedTransaction : .idle
        let recovery = machine.statementFailed(
            row.error, plan: row.plan, of: statement, attempt: row.attempt, server: after)
        #expect(recovery == Machine.Recovery(retry: row.retry, actions: row.actions))
        #expect(machine.staleStatementFailed == row.staleStatementFailed)
        #expect(machine.statements?.namesByRecency.contains(Self.selectName) == row.cached)
        if row.staleStatementFailed {
            #expect(machine.afterFailure(of: row.error, retries: 0) == .retry(unnamedStatements: true))
            _ = machine.rollback(server: after)
            machine.begin(Self.untracked, unnamedStatements: true)
            #expect(machine.startStatement("SELECT v FROM t", types: [], server: .idle).plan == .unnamed)
        }
    }

    @Test("a name waiting for its DEALLOCATE is not prepared again until that has gone")
    func retiredNameRunsUnnamed() {
        var machine = Self.machine()
        let name = Self.name("SELECT v FROM t")
        machine.begin(Self.untracked, unnamedStatements: false)
        _ = machine.dispatch(.unnamed)
        _ = machine.startStatement("SELECT v FROM t", types: [], server: .inTransaction)
        let statement = machine.startStatement("SELECT v FROM t", types: [], server: .inTransaction)
        // Stale in a transaction: the statement is retired, but no DEALLOCATE goes out inside it.
        let recovery = machine.statementFailed(
            Self.stalePlan, plan: .prepared(name), of: statement, attempt: 0, server: .failedTransaction)
        #expect(recovery == Machine.Recovery(retry: nil, actions: []))
        #expect(machine.pendingDeallocations == [name])
        _ = machine.rollback(server: .failedTransaction)
        #expect(machine.startStatement("SELECT v FROM t", types: [], server: .inTransaction).plan == .unnamed)
    }

    @Test("the third mismatch stops the connection preparing statements")
    func stopsPreparingAfterThree() {
        var machine = Self.machine()
        let name = Self.name("SELECT v FROM t")
        var counted: [Machine.Action] = []
        for _ in 0..<Machine.mismatchesBeforeUnnamed {
            let statement = machine.startStatement("SELECT v FROM t", types: [], server: .idle)
            let plan = statement.plan == .prepared(name) ? statement.plan : .prepared(name)
            let recovery = machine.statementFailed(
                Self.serverError("26000"), plan: plan, of: statement, attempt: 0, server: .idle)
            counted += recovery.actions.filter { if case .countMismatch = $0 { true } else { false } }
        }
        #expect(
            counted == [
                .countMismatch(stopsPreparing: false), .countMismatch(stopsPreparing: false),
                .countMismatch(stopsPreparing: true),
            ])
        #expect(machine.statements == nil)
        #expect(machine.statementMismatches == 3)
        let after = machine.startStatement("SELECT v FROM t", types: [], server: .idle)
        #expect(after.plan == .unnamed && after.key == nil)
    }

    struct CommitFailureCase: Sendable, CustomTestStringConvertible {
        var name: String
        var error: PostgresError
        var actions: [ConnectionStateMachine.Action]
        var deallocates: Bool
        var retries: Bool
        var testDescription: String { self.name }
    }

    @Test(
        "a commit pipeline failing on a prepared statement starts the cache afresh and runs again unnamed",
        arguments: [
            CommitFailureCase(
                name: "26000", error: serverError("26000"), actions: [.countMismatch(stopsPreparing: false)],
                deallocates: false, retries: true),
            CommitFailureCase(
                name: "42P05", error: serverError("42P05"), actions: [.countMismatch(stopsPreparing: false)],
                deallocates: false, retries: true),
            CommitFailureCase(
                name: "0A000 stale plan", error: stalePlan, actions: [], deallocates: true, retries: true),
            CommitFailureCase(
                name: "23505", error: serverError("23505"), actions: [], deallocates: false, retries: false),
        ])
    func commitFailure(_ row: CommitFailureCase) {
        var machine = Self.machine()
        let name = Self.name("SELECT v FROM t")
        _ = machine.startStatement("SELECT v FROM t", types: [], server: .idle)
        machine.begin(Self.untracked, unnamedStatements: false)
        _ = machine.deferUntilCommit("INSERT INTO t VALUES (1)", server: .idle)
        guard case .pipeline(_, let statements) = machine.commit(hasFinal: false, server: .idle) else {
            Issue.record("expected a commit pipeline")
            return
        }
        #expect(statements.map(\.sql) == ["INSERT INTO t VALUES (1)"])
        #expect(machine.admit(statements[0], types: []).actions == [.countPrepared])
        _ = machine.rollback(server: .failedTransaction)
        #expect(machine.commitFailed(row.error) == row.actions)
        machine.commitFinished()
        #expect(machine.statements?.count == (row.retries ? 0 : 2))
        #expect(machine.pendingDeallocations.contains(name) == row.deallocates)
        let expected: Machine.AfterFailure = row.retries ? .retry(unnamedStatements: true) : .rethrow
        #expect(machine.afterFailure(of: row.error, retries: 0) == expected)
    }

    @Test("evicted statements are deallocated in batches, only by a statement running on its own")
    func deallocationBatches() {
        var machine = Self.machine(capacity: 1, batch: 2)
        _ = machine.startStatement("SELECT 1", types: [], server: .idle)
        _ = machine.startStatement("SELECT 2", types: [], server: .idle)
        _ = machine.startStatement("SELECT 3", types: [], server: .idle)
        #expect(machine.pendingDeallocations == [Self.name("SELECT 1"), Self.name("SELECT 2")])
        machine.begin(Self.untracked, unnamedStatements: false)
        let inside = machine.startStatement("SELECT 3", types: [], server: .idle)
        #expect(inside.actions.isEmpty, "never inside a transaction, even one not begun on the server")
        _ = machine.rollback(server: .idle)
        let alone = machine.startStatement("SELECT 3", types: [], server: .idle)
        #expect(alone.actions == [.deallocate([Self.name("SELECT 1"), Self.name("SELECT 2")])])
        #expect(machine.pendingDeallocations.isEmpty)
    }

    @Test("a transaction that sets its own search_path runs the rest of its statements unnamed")
    func searchPathPausesNames() {
        var machine = Self.machine()
        machine.begin(Self.untracked, unnamedStatements: false)
        _ = machine.execute("SET LOCAL search_path TO tenant_1", server: .idle)
        #expect(machine.namedStatementsPaused)
        #expect(machine.startStatement("SELECT 1", types: [], server: .inTransaction).plan == .unnamed)
        _ = machine.commit(hasFinal: false, server: .inTransaction)
        machine.commitFinished()
        #expect(!machine.namedStatementsPaused)
        // Outside a transaction the path is the session's own, set at connect time.
        _ = machine.execute("SET search_path TO public", server: .idle)
        #expect(!machine.namedStatementsPaused)
    }

    @Test("a reconnect forgets every prepared statement")
    func sessionReset() {
        var machine = Self.machine(capacity: 1)
        _ = machine.startStatement("SELECT 1", types: [], server: .idle)
        _ = machine.startStatement("SELECT 2", types: [], server: .idle)
        machine.sessionReset()
        #expect(machine.statements?.count == 0)
        #expect(machine.pendingDeallocations.isEmpty)
    }

    @Test("reusable only outside any transaction, here and on the server")
    func reusable() {
        var machine = Self.machine()
        #expect(machine.isReusable(server: .idle))
        #expect(!machine.isReusable(server: .inTransaction))
        #expect(!machine.isReusable(server: .failedTransaction))
        #expect(!machine.isReusable(server: .closed))
        machine.begin(Self.untracked, unnamedStatements: false)
        #expect(!machine.isReusable(server: .idle))
    }

    static func summary(_ action: Machine.CommitAction) -> String {
        switch action {
        case .nothing: "nothing"
        case .refuse: "refuse"
        case .commit: "commit"
        case .closed: "closed"
        case .pipeline(let begin, let statements):
            "pipeline(\((begin + statements.map(\.sql)).joined(separator: " | ")))"
        }
    }
}
