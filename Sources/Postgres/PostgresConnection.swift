import CLibPQ
import Foundation
import Logging
import Metrics
import Synchronization

/// One libpq connection. Every method blocks, so it is only ever called on the client's thread pool.
///
/// What to send, in which round trip and under which name, and what the server's answers mean for the
/// transaction and the prepared statements, is decided by its `ConnectionStateMachine`; the connection
/// reports events to it with the server's transaction status and performs the I/O it asks for.
///
/// `@unchecked Sendable` because a `PGconn`, and the state machine kept beside it, are not thread-safe:
/// the pool hands a connection to exactly one lease holder at a time, the holder uses it only inside a
/// single work item on one pool thread, and hand-overs between holders go through the pool's `Mutex`,
/// which orders the memory accesses.
public final class PostgresConnection: @unchecked Sendable {
    /// Nil once closed, so `close()` and `deinit` never finish the same `PGconn` twice.
    private var handle: OpaquePointer?
    private let logger: Logger
    private let instruments: PoolInstruments
    /// The statement and transaction protocol: what to send, and what the server's answers mean.
    private var machine: ConnectionStateMachine
    /// The column sets of recent results, most recent first: a connection runs the same few
    /// statements over and over, and building the names and their index for every result cost
    /// more than copying its values.
    private var recentColumns: [PostgresColumns] = []
    /// The pool's affinity bucket this connection calls home (see `ConnectionPoolStateMachine`), set
    /// when the pool opens it.
    var poolBucket = 0
    /// True while the connection serves a caller of another bucket (set by the pool's client per
    /// lease), whose texts need more uses to be prepared here (`PreparedStatementCache`): with lookups
    /// spread over 1,000 tenants, about one in four runs on a visited connection.
    var isVisited: Bool {
        get { self.machine.isVisited }
        set { self.machine.isVisited = newValue }
    }

    /// Connects with `PQconnectdbParams`, session settings going in `options` rather than `SET`
    /// statements so they survive transaction-pooling proxies such as PgBouncer.
    /// - Throws: `PostgresError(.connectionFailure)`.
    init(configuration: PostgresClient.Configuration, logger: Logger, instruments: PoolInstruments) throws {
        self.logger = logger
        self.instruments = instruments
        let statements =
            configuration.preparedStatements
            ? PreparedStatementCache(
                capacity: max(1, configuration.preparedStatementCacheSize),
                admitAfterUses: configuration.prepareAfterUses
            ) : nil
        self.machine = ConnectionStateMachine(
            statements: statements, deallocationBatch: configuration.deallocationBatch)
        var options = "-c TimeZone=UTC -c DateStyle=ISO"
        if let statementTimeout = configuration.statementTimeout {
            options += " -c statement_timeout=\(statementTimeout.milliseconds)"
        }
        if let randomPageCost = configuration.randomPageCost {
            options += " -c random_page_cost=\(randomPageCost)"
        }
        let connectTimeout = configuration.connectionTimeout.components
        // Listed first with expand_dbname, so a URI or key=value string in it is expanded and the
        // settings after it win over the same keys in DATABASE_URL.
        let parameters = [
            ("dbname", configuration.connectionString),
            ("connect_timeout", String(max(1, connectTimeout.seconds + (connectTimeout.attoseconds > 0 ? 1 : 0)))),
            ("application_name", configuration.applicationName),
            ("client_encoding", "UTF8"),
            ("options", options),
        ]
        let handle = Self.withCStrings(parameters.map(\.0)) { keywords in
            Self.withCStrings(parameters.map(\.1)) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let handle else {
            throw PostgresError(code: .connectionFailure, message: "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Self.errorMessage(handle)
            PQfinish(handle)
            throw PostgresError(code: .connectionFailure, message: message)
        }
        self.handle = handle
        PQsetNoticeProcessor(
            handle,
            { context, message in
                guard let context, let message else { return }
                let connection = Unmanaged<PostgresConnection>.fromOpaque(context).takeUnretainedValue()
                connection.logger.debug("postgres notice", metadata: ["postgres.notice": "\(String(cString: message))"])
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        self.close()
    }

    /// Runs one statement; binds travel separately from the SQL, results come back as text.
    ///
    /// With prepared statements on, a text seen before on this connection is prepared once (named by
    /// its content's digest, the prepare sent in the same round trip as its first execution) and run
    /// by name from then on; otherwise, and the first time a text is seen, it runs as an unnamed
    /// statement.
    ///
    /// The server's statements can differ from what the cache says: a statement it no longer has
    /// (26000, after `DISCARD ALL`, or on another session behind a transaction pooler), one it has
    /// already (42P05: another client of the same session prepared the same text, so the same name),
    /// or one whose result columns changed (0A000, "cached plan must not change result type").
    /// Outside a transaction the statement is run again at once (prepared again, by name, and at
    /// last unnamed); inside one the error has aborted the transaction, so `withTransaction` runs the
    /// transaction again, with every statement unnamed (`ConnectionStateMachine`).
    /// - Throws: `PostgresError` with `.server` and the SQLSTATE, `.connectionFailure` if the connection
    ///   broke (the statement's outcome is then unknown), or `.tooManyParameters`.
    public func query(_ query: PostgresQuery) throws -> PostgresRows {
        guard query.binds.count <= Int(UInt16.max) else {
            throw PostgresError(
                code: .tooManyParameters, message: "\(query.binds.count) binds exceed the limit of 65535")
        }
        let handle = try self.openHandle()
        let start = ContinuousClock.now
        defer { self.instruments.queryTimer.record(duration: ContinuousClock.now - start) }
        let types = query.bindTypes
        let statement = self.machine.startStatement(query, types: types, server: Self.status(handle))
        self.perform(statement.actions, handle)
        var plan = statement.plan
        // The first run, one more as the server's answer says, and a last one unnamed: behind a
        // transaction pooler, each run may meet another session.
        for attempt in 0..<3 {
            do {
                return try self.run(query, types, plan, handle)
            } catch let error as PostgresError where error.code == .server {
                let recovery = self.machine.statementFailed(
                    error, plan: plan, of: statement, attempt: attempt, server: Self.status(handle))
                self.perform(recovery.actions, handle)
                guard let retry = recovery.retry else { throw error }
                plan = retry
            }
        }
        return try self.run(query, types, .unnamed, handle)
    }

    /// Carries out what the state machine asked for besides sending statements.
    private func perform(_ actions: [ConnectionStateMachine.Action], _ handle: OpaquePointer) {
        for action in actions {
            switch action {
            case .deallocate(let names):
                self.deallocate(names, handle)
            case .countPrepared:
                self.instruments.statementsPrepared.add(1, ordering: .relaxed)
            case .countMismatch(let stopsPreparing):
                self.instruments.statementMismatches.add(1, ordering: .relaxed)
                if stopsPreparing {
                    self.reportPooler()
                }
            case .logStaleRetry(let sqlState):
                self.logger.debug(
                    "postgres prepared statement was stale; preparing it again",
                    metadata: ["postgres.sqlstate": "\(sqlState?.rawValue ?? "")"]
                )
            }
        }
    }

    /// Logs, once per client, that this connection stopped preparing statements.
    private func reportPooler() {
        let first = self.instruments.reportedPooler.compareExchange(expected: false, desired: true, ordering: .relaxed)
        guard first.exchanged else { return }
        self.logger.warning(
            """
            postgres prepared statements do not persist between transactions (a transaction-mode \
            pooler without prepared-statement support?): connections stop preparing statements; set \
            DB_PREPARED_STATEMENTS=false to start that way
            """
        )
    }

    /// Mismatches a connection tolerates before it stops preparing statements.
    static var mismatchesBeforeUnnamed: Int { ConnectionStateMachine.mismatchesBeforeUnnamed }

    /// What `PQtransactionStatus` says, as the state machine reads it.
    private static func status(_ handle: OpaquePointer) -> ConnectionStateMachine.ServerStatus {
        switch PQtransactionStatus(handle) {
        case PQTRANS_IDLE: .idle
        case PQTRANS_INERROR: .failedTransaction
        default: .inTransaction
        }
    }

    private var serverStatus: ConnectionStateMachine.ServerStatus {
        self.handle.map(Self.status) ?? .closed
    }

    /// Runs one statement and returns its rows: on its own when it can be, else in a pipeline (one round
    /// trip) with a pending `BEGIN` ahead of it and/or its prepare.
    private func run(
        _ query: PostgresQuery, _ types: [UInt32], _ plan: ConnectionStateMachine.Plan, _ handle: OpaquePointer
    ) throws -> PostgresRows {
        switch self.machine.dispatch(plan) {
        case .alone:
            guard self.send(query, types, plan, handle) == 1 else { throw self.error(from: nil) }
            // Every result up to the NULL that ends the statement is read; the last one counts, as with PQexec.
            var last: OpaquePointer?
            defer { PQclear(last) }
            while let result = PQgetResult(handle) {
                PQclear(last)
                last = result
            }
            return try self.rows(from: last)
        case .pipeline(let commands, let transactionIDAt):
            let results = try self.pipeline(handle) {
                for command in commands {
                    guard Self.sendCommand(command, handle) else { return nil }
                }
                return self.send(query, types, plan, handle).map { $0 + commands.count }
            }
            // The transaction's id travelled with its first statement, in the same round trip.
            if let transactionIDAt, results.count > transactionIDAt {
                self.machine.transactionIDReceived(try? results[transactionIDAt].first?.decode(0, as: Int64.self))
            }
            // `pipeline` returns as many results as were sent, and a statement always sends one.
            guard let rows = results.last else { throw self.error(from: nil) }
            return rows
        }
    }

    /// Queues a statement without binds (`BEGIN`, `COMMIT`) in the open pipeline.
    private static func sendCommand(_ sql: String, _ handle: OpaquePointer) -> Bool {
        PQsendQueryParams(handle, sql, 0, nil, nil, nil, nil, 0) == 1
    }

    /// Queues a statement as `plan` says; `types` are its binds' (`bindTypes`, computed once per
    /// statement for the cache key too). Returns how many results it will produce, or nil if libpq
    /// could not queue it.
    private func send(
        _ query: PostgresQuery, _ types: [UInt32], _ plan: ConnectionStateMachine.Plan, _ handle: OpaquePointer
    ) -> Int? {
        Self.withParameters(query.binds) { values, lengths, formats in
            let count = Int32(query.binds.count)
            switch plan {
            case .unnamed:
                return PQsendQueryParams(handle, query.sql, count, types, values, lengths, formats, 0) == 1 ? 1 : nil
            case .prepared(let name):
                return PQsendQueryPrepared(handle, name, count, values, lengths, formats, 0) == 1 ? 1 : nil
            case .prepare(let name):
                guard PQsendPrepare(handle, name, query.sql, count, types) == 1,
                    PQsendQueryPrepared(handle, name, count, values, lengths, formats, 0) == 1
                else { return nil }
                return 2
            }
        }
    }

    /// How many statements this connection has prepared and not yet deallocated; for tests.
    var preparedStatementNames: [String] { self.machine.statements?.namesByRecency ?? [] }

    /// Sends `DEALLOCATE` for `names` in one round trip. Failures are only logged: a statement the
    /// server no longer has needs no deallocating, and a broken connection is discarded by the pool.
    private func deallocate(_ names: Set<String>, _ handle: OpaquePointer) {
        let result = PQexec(handle, names.map { "DEALLOCATE \($0)" }.joined(separator: "; "))
        defer { PQclear(result) }
        let status = result.map(PQresultStatus)
        guard status != PGRES_COMMAND_OK else { return }
        let sqlState = result.flatMap { PQresultErrorField($0, CLIBPQ_DIAG_SQLSTATE) }.map { String(cString: $0) } ?? ""
        self.logger.debug("postgres DEALLOCATE failed", metadata: ["postgres.sqlstate": "\(sqlState)"])
        // A multi-statement string stops at the first error; deallocate the rest one by one.
        if names.count > 1, PQstatus(handle) == CONNECTION_OK, PQtransactionStatus(handle) == PQTRANS_IDLE {
            for name in names {
                PQclear(PQexec(handle, "DEALLOCATE \(name)"))
            }
        }
    }

    /// Runs one or more statements with `PQexec`, as migration files need; no binds. One that sets
    /// `search_path` inside a transaction (`SET LOCAL`, as migrations do) runs the rest of the
    /// transaction's statements unnamed.
    ///
    /// > Warning: `unsafeSQL` is sent verbatim; never build it from user input.
    /// - Throws: `PostgresError`, as for `query(_:)`.
    public func execute(unsafeSQL sql: String) throws {
        let handle = try self.openHandle()
        // A pending BEGIN goes first in the same multi-statement string: still one round trip.
        let text = self.machine.execute(sql, server: Self.status(handle))
        let result = PQexec(handle, text)
        defer { PQclear(result) }
        _ = try self.rows(from: result)
    }

    /// Quotes `name` as an identifier with the server's own rules (`PQescapeIdentifier`).
    /// - Throws: `PostgresError(.invalidIdentifier)` if libpq rejects it (e.g. invalid UTF-8).
    public func escapeIdentifier(_ name: String) throws -> String {
        let handle = try self.openHandle()
        guard let escaped = PQescapeIdentifier(handle, name, name.utf8.count) else {
            throw PostgresError(code: .invalidIdentifier, message: Self.errorMessage(handle))
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    /// Starts a lease: nothing sent yet.
    func beginLease() {
        self.machine.leaseStarted()
    }

    /// Whether the pool may hand this connection to the next caller: connected and outside any
    /// transaction, so no half-finished work or aborted transaction leaks between callers.
    var isReusable: Bool {
        guard let handle = self.handle, PQstatus(handle) == CONNECTION_OK else { return false }
        return self.machine.isReusable(server: Self.status(handle))
    }

    /// Notices a connection the server dropped while it sat idle (a restart sends a FATAL 57P01 and
    /// closes the socket) and reconnects before any statement is sent, so no work is lost.
    /// - Throws: `PostgresError(.connectionFailure)` if reconnecting fails.
    func prepareForUse() throws {
        let handle = try self.openHandle()
        // A healthy idle connection has nothing to read: one poll says so, where reading to find out
        // cost three system calls on every lease.
        guard Self.hasInput(handle) else { return }
        // Reading the goodbye message and the end of stream takes two reads.
        for _ in 0..<3 where PQstatus(handle) == CONNECTION_OK {
            _ = PQconsumeInput(handle)
        }
        guard PQstatus(handle) != CONNECTION_OK else { return }
        self.logger.debug("postgres connection was dropped while idle; reconnecting")
        // The old session's prepared statements died with it.
        self.machine.sessionReset()
        PQreset(handle)
        guard PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError(code: .connectionFailure, message: Self.errorMessage(handle))
        }
    }

    /// Whether the socket has something to read (data, end of stream or an error), without blocking.
    /// True when it cannot tell, so the caller looks closer.
    private static func hasInput(_ handle: OpaquePointer) -> Bool {
        let socket = PQsocket(handle)
        guard socket >= 0 else { return true }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) != 0
    }

    /// Closes the connection (sends Terminate and frees the `PGconn`).
    func close() {
        if let handle = self.handle {
            PQfinish(handle)
            self.handle = nil
        }
    }

    private func openHandle() throws -> OpaquePointer {
        guard let handle = self.handle else {
            throw PostgresError(code: .connectionFailure, message: "connection is closed")
        }
        return handle
    }

    /// Sends what `send` queues (it returns how many results to expect, or nil if sending failed) as
    /// one pipeline, one round trip, and returns every result's rows, or throws the first error (the
    /// server skips the statements after it, up to the sync point).
    private func pipeline(_ handle: OpaquePointer, _ send: () -> Int?) throws -> [PostgresRows] {
        guard PQenterPipelineMode(handle) == 1 else { throw self.error(from: nil) }
        var results: [OpaquePointer?] = []
        defer { results.forEach { PQclear($0) } }
        let expected = send()
        if let count = expected, PQpipelineSync(handle) == 1 {
            for _ in 0..<count {
                // Each statement's result is followed by a NULL; the sync point comes last.
                let result = PQgetResult(handle)
                guard result != nil else { break }
                results.append(result)
                while let extra = PQgetResult(handle) { PQclear(extra) }
            }
            while let result = PQgetResult(handle) {
                let status = PQresultStatus(result)
                PQclear(result)
                if status == PGRES_PIPELINE_SYNC { break }
            }
        }
        guard results.count == expected, PQexitPipelineMode(handle) == 1 else {
            // Cut short: what ran is unknown and the connection's state too, so it is not reused.
            let error = self.error(from: results.last ?? nil)
            self.close()
            throw PostgresError(code: .connectionFailure, message: error.message)
        }
        // The first failure is the one to report; statements after it only say they were skipped.
        return try results.map { try self.rows(from: $0) }
    }

    /// Copies a result into Sendable rows, or turns it into a `PostgresError`. The caller `PQclear`s it.
    private func rows(from result: OpaquePointer?) throws -> PostgresRows {
        let status = result.map(PQresultStatus)
        guard let result, status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            throw self.error(from: result)
        }
        let columnCount = PQnfields(result)
        let columns = self.columns(of: result)
        let rows = (0..<PQntuples(result)).map { row in
            PostgresRow(
                columns: columns,
                values: (0..<columnCount).map { column -> String? in
                    guard PQgetisnull(result, row, column) == 0, let value = PQgetvalue(result, row, column) else {
                        return nil
                    }
                    let length = Int(PQgetlength(result, row, column))
                    return value.withMemoryRebound(to: UInt8.self, capacity: length) {
                        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                    }
                })
        }
        return PostgresRows(rows: rows, affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0)
    }

    /// The result's column set, reused from `recentColumns` when one has the same names in order.
    private func columns(of result: OpaquePointer) -> PostgresColumns {
        let count = Int(PQnfields(result))
        let match = self.recentColumns.firstIndex { columns in
            columns.names.count == count
                && columns.names.indices.allSatisfy { index in
                    columns.names[index].withCString { strcmp($0, PQfname(result, Int32(index))) == 0 }
                }
        }
        if let match {
            let columns = self.recentColumns[match]
            if match > 0 {
                self.recentColumns.remove(at: match)
                self.recentColumns.insert(columns, at: 0)
            }
            return columns
        }
        let columns = PostgresColumns(names: (0..<count).map { String(cString: PQfname(result, Int32($0))) })
        if self.recentColumns.count == 8 {
            self.recentColumns.removeLast()
        }
        self.recentColumns.insert(columns, at: 0)
        return columns
    }

    /// Reads the diagnostic fields; the SQL text and binds are never logged.
    private func error(from result: OpaquePointer?) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let result, let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let connectionBroken = self.handle.map { PQstatus($0) != CONNECTION_OK } ?? true
        let error = PostgresError(
            code: connectionBroken ? .connectionFailure : .server,
            sqlState: field(CLIBPQ_DIAG_SQLSTATE).map(SQLState.init(rawValue:)),
            message: field(CLIBPQ_DIAG_MESSAGE_PRIMARY) ?? self.handle.map(Self.errorMessage) ?? "connection is closed",
            detail: field(CLIBPQ_DIAG_MESSAGE_DETAIL),
            constraint: field(CLIBPQ_DIAG_CONSTRAINT_NAME),
            hint: field(CLIBPQ_DIAG_MESSAGE_HINT)
        )
        self.logger.debug(
            "postgres statement failed",
            metadata: [
                "postgres.error": "\(error.code)",
                "postgres.sqlstate": "\(error.sqlState?.rawValue ?? "")",
                "postgres.constraint": "\(error.constraint ?? "")",
            ]
        )
        return error
    }

    private static func errorMessage(_ handle: OpaquePointer) -> String {
        String(cString: PQerrorMessage(handle)).trimmingTrailingNewlines()
    }

    /// Lays binds out as the parallel C arrays `PQexecParams` takes beside the types (`bindTypes`);
    /// text values are NUL-terminated (binary ones too, harmlessly), all carry a length. The buffers
    /// live only for the call.
    private static func withParameters<R>(
        _ binds: [PostgresData],
        _ body: ([UnsafePointer<CChar>?], [Int32], [Int32]) throws -> R
    ) rethrows -> R {
        var values: [UnsafePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        var buffers: [UnsafeMutableBufferPointer<CChar>] = []
        defer { buffers.forEach { $0.deallocate() } }
        func store(_ bytes: some Collection<UInt8>) -> UnsafePointer<CChar>? {
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: bytes.count + 1)
            buffers.append(buffer)
            var index = 0
            for byte in bytes {
                buffer[index] = CChar(bitPattern: byte)
                index += 1
            }
            buffer[index] = 0
            return UnsafePointer(buffer.baseAddress)
        }
        for bind in binds {
            switch bind {
            case .null:
                values.append(nil)
                lengths.append(0)
                formats.append(0)
            case .text(let text, _):
                values.append(store(text.utf8))
                lengths.append(Int32(text.utf8.count))
                formats.append(0)
            case .binary(let bytes, _):
                values.append(store(bytes))
                lengths.append(Int32(bytes.count))
                formats.append(1)
            }
        }
        return try body(values, lengths, formats)
    }

    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        return body(copies.map { UnsafePointer($0) } + [nil])
    }
}

extension PostgresQuery {
    /// The bind type OIDs, in bind order: what `PQsendQueryParams`/`PQsendPrepare` take, and with the
    /// text what keys a prepared statement.
    fileprivate var bindTypes: [UInt32] {
        binds.map { bind in
            switch bind {
            case .null: 0
            case .text(_, let oid), .binary(_, let oid): oid
            }
        }
    }
}

extension String {
    fileprivate func trimmingTrailingNewlines() -> String {
        var text = Substring(self)
        while text.last?.isNewline == true {
            text = text.dropLast()
        }
        return String(text)
    }
}

extension PostgresConnection {
    /// Opens a transaction lazily: its commands (`BEGIN`, then any `SET LOCAL`) are sent with the first
    /// statement, in the same round trip, and not at all if none follows. Only
    /// `PostgresClient.withTransaction` calls it, and it always ends with `commit()` or `rollback()`.
    /// With `tracksTransactionID`, the first statement also asks for the transaction's id. With
    /// `unnamedStatements`, every statement of the transaction runs unnamed.
    func begin(_ start: ConnectionStateMachine.TransactionStart, unnamedStatements: Bool = false) {
        self.machine.begin(start, unnamedStatements: unnamedStatements)
    }

    /// Runs `query` at the end of the current transaction, in the same round trip as its `COMMIT`; an
    /// error from it fails the commit and rolls everything back. For writes whose result nobody reads,
    /// such as an audit row. Outside a transaction it runs at once.
    public func deferUntilCommit(_ query: PostgresQuery) throws {
        switch self.machine.deferUntilCommit(query, server: self.serverStatus) {
        case .runNow:
            _ = try self.query(query)
        case .deferred:
            break
        }
    }

    /// Runs `query` as the transaction's last statement and commits, together with the deferred
    /// statements, in one round trip; returns its rows. For a write that answers with what it wrote.
    /// The body must send nothing after it. Errors are those of `commit()`, and nothing is committed
    /// when `query` fails. Outside a transaction it is `query(_:)`.
    public func queryAndCommit(_ query: PostgresQuery) throws -> PostgresRows {
        guard self.machine.isInTransaction(server: self.serverStatus) else {
            return try self.query(query)
        }
        guard let rows = try self.commit(returning: query) else {
            throw PostgresError(
                code: .server, sqlState: SQLState(rawValue: "25000"), message: "the transaction is committed already")
        }
        self.machine.committedEarly()
        return rows
    }

    /// Sends the deferred statements and `COMMIT` (with `final` between them, if given) in one round
    /// trip, unless an earlier statement already aborted the transaction: the server would answer such
    /// a `COMMIT` with a silent `ROLLBACK`, which must not pass for success. A transaction that never
    /// sent a statement needs no round trip at all.
    /// - Returns: `final`'s rows.
    /// - Throws: `PostgresError` with SQLSTATE 25P02 in that case, a deferred statement's error (the
    ///   transaction is then rolled back), or the `COMMIT`'s own error.
    @discardableResult
    func commit(returning final: PostgresQuery? = nil) throws -> PostgresRows? {
        let action = self.machine.commit(hasFinal: final != nil, server: self.serverStatus)
        defer { self.machine.commitFinished() }
        switch action {
        case .nothing:
            return nil
        case .refuse:
            self.rollback()
            throw PostgresError(
                code: .server,
                sqlState: SQLState(rawValue: "25P02"),
                message: "the transaction was aborted by an earlier error and has been rolled back"
            )
        case .commit:
            try self.execute(unsafeSQL: "COMMIT")
            return nil
        case .closed:
            throw PostgresError(code: .connectionFailure, message: "connection is closed")
        case .pipeline(let begin, let deferred):
            let handle = try self.openHandle()
            let statements = deferred + (final.map { [$0] } ?? [])
            do {
                let results = try self.pipeline(handle) { self.sendCommit(begin, statements, handle) }
                guard final != nil, results.count >= 2 else { return nil }
                return results[results.count - 2]
            } catch let error as PostgresError where error.code == .server {
                // The server answered: a statement failed (and COMMIT was skipped), or COMMIT itself
                // failed. Either way nothing was committed, so the caller may run it all again.
                self.rollback()
                self.perform(self.machine.commitFailed(error), handle)
                throw error
            }
        }
    }

    /// Queues `begin`, `statements` and `COMMIT` in the open pipeline; returns how many results to
    /// expect, or nil if libpq could not queue one.
    private func sendCommit(_ begin: [String], _ statements: [PostgresQuery], _ handle: OpaquePointer) -> Int? {
        var count = 0
        for command in begin {
            guard Self.sendCommand(command, handle) else { return nil }
            count += 1
        }
        for query in statements {
            let types = query.bindTypes
            let statement = self.machine.admit(query, types: types)
            self.perform(statement.actions, handle)
            guard let sent = self.send(query, types, statement.plan, handle) else { return nil }
            count += sent
        }
        guard Self.sendCommand("COMMIT", handle) else { return nil }
        return count + 1
    }

    /// Ends the current transaction without committing; nothing is sent if it never began on the server.
    /// A failed `ROLLBACK` means the connection broke; the pool discards it on release.
    func rollback() {
        if self.machine.rollback(server: self.serverStatus) {
            try? self.execute(unsafeSQL: "ROLLBACK")
        }
    }

    /// After the transaction's body or commit failed with `error`: whether it runs again (decided
    /// before the rollback), then rolls it back.
    func rollback(after error: any Error, retries: Int) -> ConnectionStateMachine.AfterFailure {
        let next = self.machine.afterFailure(of: error, retries: retries)
        self.rollback()
        return next
    }

    /// What a lease that failed with `error` may have left committed.
    func leaseFailed(with error: any Error) -> ConnectionStateMachine.LeaseFailure {
        self.machine.leaseFailed(with: error)
    }
}
