import Foundation
import Postgres
import SCIM
import Synchronization

/// Where a SCIM request came from, captured once per request for its events.
public struct EventOrigin: Sendable {
    /// The server's own id of the request.
    public var requestID: String
    /// The client's `X-Request-Id`, when it sent a usable one.
    public var clientRequestID: String?

    /// The client's `X-Request-Id` of the request being served, bound by the HTTP layer around the
    /// request's handling, so that every origin made for it (an authentication refusal's too) keeps it.
    @TaskLocal public static var currentClientRequestID: String?
    public var tokenID: UUID?
    public var method: String
    /// The path without its query string: filters may hold personal data.
    public var path: String
    public var started: ContinuousClock.Instant

    public init(
        requestID: String, clientRequestID: String? = EventOrigin.currentClientRequestID, tokenID: UUID?,
        method: String, path: String, started: ContinuousClock.Instant = .now
    ) {
        self.requestID = requestID
        self.clientRequestID = clientRequestID
        self.tokenID = tokenID
        self.method = method
        self.path = path
        self.started = started
    }

    var elapsedMilliseconds: Int {
        let elapsed = ContinuousClock.now - started
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }
}

/// One row of an organisation's sync event log: what SCIM did, never the data it carried.
///
/// Attribute names only, the userName where known, and a short error detail: no values, tokens or bodies.
public struct SyncEvent: Sendable, Equatable {
    public enum Outcome: String, Sendable { case success, warning, error }

    /// Warning kinds, which the status page aggregates.
    public enum Kind: String, Sendable {
        case unmappedAttributes = "unmapped_attributes"
        case unresolvedManager = "unresolved_manager"
        case adoptedUser = "adopted_user"
    }

    public var occurredAt: Date = Date()
    public var outcome: Outcome
    public var kind: Kind?
    public var requestID: String
    public var clientRequestID: String?
    public var tokenID: UUID?
    public var method: String
    public var path: String
    public var resourceType: String?
    public var resourceID: UUID?
    public var userName: String?
    public var status: Int
    public var scimType: String?
    public var detail: String?
    public var durationMilliseconds: Int?
    public var changes: [String] = []

    public init(
        origin: EventOrigin, outcome: Outcome, kind: Kind? = nil, status: Int, resourceType: String? = nil,
        resourceID: UUID? = nil, userName: String? = nil, scimType: String? = nil, detail: String? = nil,
        changes: [String] = []
    ) {
        self.outcome = outcome
        self.kind = kind
        self.requestID = origin.requestID
        self.clientRequestID = origin.clientRequestID
        self.tokenID = origin.tokenID
        self.method = origin.method
        self.path = String(origin.path.prefix(512))
        self.resourceType = resourceType
        self.resourceID = resourceID
        // Taken from the request body before validation, so it may be anything; it is indexed.
        self.userName = userName.map { String($0.prefix(256)) }
        self.status = status
        self.scimType = scimType
        self.detail = detail.map { String($0.prefix(500)) }
        self.durationMilliseconds = origin.elapsedMilliseconds
        self.changes = changes
    }

    /// `insertion` for a flush of buffered events, sent unnamed, that writes nothing unless `schema`
    /// still belongs to the organisation `organisationID` the events were buffered for: an organisation
    /// purged since may have left its slug, and so its schema name, to a new one.
    ///
    /// The check is a primary-key lookup the server runs once per statement, in the INSERT's own round
    /// trip. Sent unnamed: a flush writes every busy tenant's events once a second, in up to five texts
    /// per tenant (by row count); prepared, a thousand tenants' flushes would push the statements
    /// requests run again out of the connection's cache.
    static func flushInsertion(
        of events: [SyncEvent], schema: PostgresIdentifier, organisationID: UUID
    ) -> PostgresQuery {
        var query = insertion(of: events, schema: schema)
        query.append(
            """
             WHERE EXISTS (SELECT 1 FROM control.organisations o
                WHERE o.id = \(organisationID) AND o.schema_name = \(schema.name))
            """)
        query.isWorthPreparing = false
        return query
    }

    /// The most events written as `VALUES` rows rather than `unnest`ed arrays (see `insertion`).
    static let valuesRowLimit = 4

    /// One statement whatever the number of events.
    ///
    /// A write's own events (one, or a few with warnings) go as `VALUES` rows, and carry their
    /// userName. A prepared statement's generic plan must not cost more than its custom plans, or
    /// PostgreSQL plans it anew on every run: with `unnest`ed array binds the generic plan assumed 100
    /// rows, and with the userName lookup it kept a subquery that a custom plan folds away
    /// (pg_stat_statements: 41 plans for 40 POSTs, 0.09 ms each). A flush (up to
    /// `EventBuffer.flushLimit` events) sends each column as one array bind and `unnest`s it, so the
    /// server parses every value once and the SQL text stays the same however many there are. The
    /// userName is looked up only when an event about a user does not carry it (a failed write).
    static func insertion(of events: [SyncEvent], schema: PostgresIdentifier) -> PostgresQuery {
        let columns = Self.columns
        let lookUp = events.contains { $0.userName == nil && $0.resourceID != nil }
        var query: PostgresQuery = "INSERT INTO \(schema).sync_events (\(Self.names)) SELECT "
        query.append(lookUp ? Self.selectList(lookingUpUserNamesIn: schema) : Self.plainSelectList)
        query.append(" FROM ")
        if events.count <= Self.valuesRowLimit {
            for (index, event) in events.enumerated() {
                query.append(index == 0 ? "(VALUES (" : ", (")
                for (position, column) in columns.enumerated() {
                    if position > 0 { query.append(", ") }
                    query.append("\(column.value(event))::\(column.type)")
                }
                query.append(")")
            }
            query.append(")")
        } else {
            query.append("unnest(")
            for (position, column) in columns.enumerated() {
                if position > 0 { query.append(", ") }
                query.append("\(column.array(events))::\(column.type)[]")
            }
            query.append(")")
        }
        query.append(" AS e(\(Self.names))")
        return query
    }

    /// The columns' names, comma-separated: the INSERT's column list and the row source's.
    private static let names = list(columns.map { "\($0.name)" })

    /// The SELECT list when every event carries its userName, or concerns no user.
    private static let plainSelectList = selectList(lookingUpUserNamesIn: nil)

    /// The SELECT list, looking up in `schema`'s users the userName an event about a user left out.
    private static func selectList(lookingUpUserNamesIn schema: PostgresIdentifier?) -> PostgresQuery {
        list(
            columns.map { column in
                guard column.isUserName, let schema else { return "e.\(column.name)\(column.selectCast)" }
                return """
                    COALESCE(e.user_name, CASE WHEN e.resource_id IS NOT NULL
                        THEN (SELECT u.user_name FROM \(schema).users u WHERE u.id = e.resource_id) END)
                    """
            })
    }

    private static func list(_ items: [PostgresQuery]) -> PostgresQuery {
        var joined: PostgresQuery = ""
        for (index, item) in items.enumerated() {
            if index > 0 { joined.append(", ") }
            joined.append(item)
        }
        return joined
    }

    /// One column of `sync_events` as `insertion` writes it: its name, its type, and how an event's
    /// value is bound (alone in a `VALUES` row, or as one array for `unnest`).
    private struct Column: Sendable {
        let name: SQLName
        let type: PostgresQuery
        /// What the SELECT list adds after `e.name` (`changes` arrives as text and is read as `text[]`).
        let selectCast: PostgresQuery
        /// The userName, which a failed write's event may leave for `insertion` to look up.
        let isUserName: Bool
        let value: @Sendable (SyncEvent) -> PostgresData
        let array: @Sendable ([SyncEvent]) -> PostgresArrayText

        init<Value: PostgresEncodable>(
            _ name: StaticString, _ type: PostgresQuery, selectCast: PostgresQuery = "", isUserName: Bool = false,
            _ value: @escaping @Sendable (SyncEvent) -> Value?
        ) {
            self.name = SQLName(name)
            self.isUserName = isUserName
            self.type = type
            self.selectCast = selectCast
            self.value = { value($0)?.postgresData ?? .null }
            self.array = { events in PostgresArrayText(events.map(value)) }
        }
    }

    /// Every column `insertion` writes, in order, once.
    private static let columns: [Column] = [
        Column("occurred_at", "timestamptz") { $0.occurredAt },
        Column("outcome", "text") { $0.outcome.rawValue },
        Column("kind", "text") { $0.kind?.rawValue },
        Column("request_id", "text") { $0.requestID },
        Column("client_request_id", "text") { $0.clientRequestID },
        Column("token_id", "uuid") { $0.tokenID },
        Column("method", "text") { $0.method },
        Column("path", "text") { $0.path },
        Column("resource_type", "text") { $0.resourceType },
        Column("resource_id", "uuid") { $0.resourceID },
        Column("user_name", "text", isUserName: true) { $0.userName },
        Column("status", "integer") { $0.status },
        Column("scim_type", "text") { $0.scimType },
        Column("detail", "text") { $0.detail },
        Column("duration_ms", "integer") { $0.durationMilliseconds },
        Column("changes", "text", selectCast: "::text[]") { $0.changes },
    ]
}

/// Which of the attributes a write ignored are worth a warning.
public enum UnmappedAttributes {
    /// Standard core User attributes identity providers send by default that Learn Amp ignores on
    /// purpose, lowercased: Okta's default user (and Entra's) carries `password` (people sign in to
    /// Learn Amp through single sign-on, so a password is never stored) and `locale` /
    /// `preferredLanguage` (each person picks Learn Amp's language in the app). They are not recorded
    /// as unmapped and never degrade the health verdict; a mapping that names one makes it mapped.
    public static let ignoredByDesign: Set<String> = ["password", "locale", "preferredlanguage"]

    /// At most this many names per event, each at most `maximumNameLength` characters: the names come
    /// from the client's body.
    static let maximumNames = 50
    static let maximumNameLength = 200

    /// The names worth recording: without the ignored-by-design ones, bounded in number and length.
    public static func worthRecording(_ names: [String]) -> [String] {
        let corePrefix = SchemaURN.user.lowercased() + ":"
        var kept: [String] = []
        for name in names where kept.count < maximumNames {
            var bare = name.lowercased()
            if bare.hasPrefix(corePrefix) { bare.removeFirst(corePrefix.count) }
            guard !ignoredByDesign.contains(bare) else { continue }
            let bounded = String(name.prefix(maximumNameLength))
            if !kept.contains(bounded) { kept.append(bounded) }
        }
        return kept
    }
}

/// The events of one write, recorded in its transaction: the success event plus any warnings.
public struct WriteEvents: Sendable {
    public var origin: EventOrigin
    /// Attributes the client sent that this organisation does not map (names only), without the
    /// ones ignored by design (`UnmappedAttributes.ignoredByDesign`).
    public var unknownAttributes: [String]

    public init(origin: EventOrigin, unknownAttributes: [String] = []) {
        self.origin = origin
        self.unknownAttributes = UnmappedAttributes.worthRecording(unknownAttributes)
    }

    func record(
        result: SCIMWriteResult, resourceType: String, resourceID: UUID, userName: String?, changes: [String],
        warnings: [(SyncEvent.Kind, String, [String])] = [], schema: PostgresIdentifier,
        on connection: PostgresConnection
    ) throws {
        var events = [
            SyncEvent(
                origin: origin, outcome: .success, status: result.status, resourceType: resourceType,
                resourceID: resourceID,
                userName: userName, changes: changes)
        ]
        var warnings = warnings
        if !unknownAttributes.isEmpty {
            warnings.append(
                (.unmappedAttributes, "Ignored attributes this organisation does not map.", unknownAttributes))
        }
        for (kind, detail, names) in warnings {
            events.append(
                SyncEvent(
                    origin: origin, outcome: .warning, kind: kind, status: result.status, resourceType: resourceType,
                    resourceID: resourceID, userName: userName, detail: detail, changes: names))
        }
        // Written with the COMMIT, in its round trip: nothing in the request reads it back.
        try connection.deferUntilCommit(SyncEvent.insertion(of: events, schema: schema))
    }
}

/// Events of reads and failures, which have no transaction of their own to join: buffered and written
/// in batches by a `Service`, so a lookup costs no extra write on its hot path.
///
/// Events are buffered by organisation, not by schema name: an organisation purged while its events
/// wait may leave its slug, and so its schema name, to a new one, and each write checks that the schema
/// still belongs to the organisation the events were buffered for (`SyncEvent.flushInsertion`).
public final class EventBuffer: Sendable {
    /// Where a tenant's events are written: its schema, while the schema belongs to the organisation.
    private struct Destination: Sendable {
        var organisationID: UUID
        var schema: PostgresIdentifier
    }

    /// One tenant's waiting events, oldest first. Taking from the front moves `start` rather than
    /// shifting or copying what is left: with a backlog of tens of thousands, every flush copied the
    /// rest under the lock that each request's `append` waits for, which stalled the event loops
    /// (p99 of 0.8 s at 20,000 cheap requests a second).
    private struct TenantEvents {
        /// The organisation's schema, fixed when it is created.
        let schema: PostgresIdentifier
        private var storage: [SyncEvent] = []
        private var start = 0
        /// When the oldest waiting event arrived.
        var since: ContinuousClock.Instant

        init(schema: PostgresIdentifier, since: ContinuousClock.Instant) {
            self.schema = schema
            self.since = since
        }

        var count: Int { storage.count - start }

        mutating func append(_ event: SyncEvent) { storage.append(event) }

        /// Removes and returns the oldest `n` events.
        mutating func takeFirst(_ n: Int) -> [SyncEvent] {
            let taken = Array(storage[start..<start + n])
            start += n
            // Reclaim the taken slots once they are half the storage: each event is moved at most
            // once more, so taking stays proportional to what is taken.
            if start * 2 >= storage.count {
                storage.removeFirst(start)
                start = 0
            }
            return taken
        }

        /// Puts `returned` back in front of the waiting events, as if they had waited since `since`.
        mutating func prepend(_ returned: some Collection<SyncEvent>, since: ContinuousClock.Instant) {
            storage.replaceSubrange(0..<start, with: returned)
            start = 0
            self.since = since
        }
    }

    /// Events taken from the buffer to be written together: the batch's number while it is being
    /// written (nil for one no `flush(only:)` needs to wait for), and each tenant's events.
    private typealias Batch = (number: Int?, events: [(Destination, [SyncEvent])])

    /// A `flush(only:)` call waiting for the batches that held its tenant's events when it was called.
    private struct Waiter {
        let schema: PostgresIdentifier
        /// The caller's own batch: the tenant's events it took when called, and those it takes once
        /// `awaited` have ended.
        let batch: Batch
        var awaited: Set<Int>
        let continuation: CheckedContinuation<Batch, Never>
    }

    /// Buffered events by tenant, and their total, kept so that `append` (on every read request)
    /// checks the cap without adding up every tenant's buffer; and the batches being written.
    private struct Pending {
        /// By organisation id (cheaper for `append` to hash than a schema name).
        var events: [UUID: TenantEvents] = [:]
        var count = 0
        /// The batches taken and not yet written or put back, by number: the schemas each holds events of.
        var writing: [Int: Set<PostgresIdentifier>] = [:]
        var nextBatch = 0
        var waiters: [Waiter] = []

        mutating func append(_ event: SyncEvent, for tenant: Tenant, arrived: () -> ContinuousClock.Instant) {
            events[tenant.organisationID, default: TenantEvents(schema: tenant.schema, since: arrived())]
                .append(event)
            count += 1
        }

        /// Returned events are due at the next flush.
        mutating func putBack(
            _ returned: some Collection<SyncEvent>, for destination: Destination, now: ContinuousClock.Instant
        ) {
            guard !returned.isEmpty else { return }
            let due = now - EventBuffer.maximumDelay
            events[destination.organisationID, default: TenantEvents(schema: destination.schema, since: due)]
                .prepend(returned, since: due)
            count += returned.count
        }

        /// Whether a tenant's events should go out now rather than gather into a bigger batch.
        func isDue(_ organisationID: UUID, now: ContinuousClock.Instant) -> Bool {
            guard let waiting = events[organisationID] else { return false }
            return waiting.count >= EventBuffer.minimumBatch || now - waiting.since >= EventBuffer.maximumDelay
        }

        /// Removes and returns up to `limit` events of the tenants `include` picks (by organisation id
        /// and schema), grouped by tenant, each tenant's oldest first.
        mutating func take(
            upTo limit: Int, where include: (UUID, PostgresIdentifier) -> Bool
        ) -> [(Destination, [SyncEvent])] {
            var taken: [(Destination, [SyncEvent])] = []
            var emptied: [UUID] = []
            var room = limit
            // Walked by index, each tenant's events changed in place through `values`, which keeps the
            // indices valid; emptied tenants are removed afterwards, as removing would not. Iterating
            // `events` itself (or its `keys`) while changing it would make the dictionary, and then each
            // tenant's storage, copy itself.
            var index = events.startIndex
            while room > 0, index != events.endIndex {
                let organisationID = events.keys[index]
                let schema = events.values[index].schema
                if include(organisationID, schema) {
                    let n = min(room, events.values[index].count)
                    let destination = Destination(organisationID: organisationID, schema: schema)
                    taken.append((destination, events.values[index].takeFirst(n)))
                    if events.values[index].count == 0 { emptied.append(organisationID) }
                    room -= n
                }
                events.formIndex(after: &index)
            }
            for organisationID in emptied { events[organisationID] = nil }
            count -= limit - room
            return taken
        }

        /// Numbers `taken` as a batch being written, so that a `flush(only:)` called meanwhile waits for it.
        mutating func startWriting(_ taken: [(Destination, [SyncEvent])]) -> Batch {
            guard !taken.isEmpty else { return (nil, taken) }
            let number = nextBatch
            nextBatch += 1
            writing[number] = Set(taken.map(\.0.schema))
            return (number, taken)
        }

        /// All of `schema`'s events, as the batch of a `flush(only:)`; and the batches being written
        /// that hold some of its events, which the call waits for.
        mutating func takeAll(of schema: PostgresIdentifier) -> (batch: Batch, awaited: Set<Int>) {
            let awaited = Set(writing.lazy.filter { $0.value.contains(schema) }.map(\.key))
            let taken = take(upTo: EventBuffer.capacity) { $1 == schema }
            guard !awaited.isEmpty else { return (startWriting(taken), awaited) }
            // Numbered even when empty: a later call for the schema waits for what it takes at the end.
            let number = nextBatch
            nextBatch += 1
            writing[number] = [schema]
            return ((number, taken), awaited)
        }

        /// Ends a batch's write, once its events are committed, dropped or put back. Returns the
        /// waiting `flush(only:)` calls it was the last awaited batch of, each with its own batch and
        /// the schema's events now buffered (those a failed write put back among them).
        mutating func endWriting(_ number: Int?) -> [(CheckedContinuation<Batch, Never>, Batch)] {
            guard let number else { return [] }
            writing[number] = nil
            var ready: [(CheckedContinuation<Batch, Never>, Batch)] = []
            var index = waiters.startIndex
            while index != waiters.endIndex {
                waiters[index].awaited.remove(number)
                guard waiters[index].awaited.isEmpty else {
                    index += 1
                    continue
                }
                let waiter = waiters.remove(at: index)
                let more = take(upTo: EventBuffer.capacity) { $1 == waiter.schema }
                ready.append((waiter.continuation, (waiter.batch.number, waiter.batch.events + more)))
            }
            return ready
        }
    }

    private let pending = Mutex(Pending())
    /// Beyond this many buffered events, new ones are dropped (and counted) rather than growing memory
    /// without bound while the database is down.
    static let capacity = 50_000
    /// The most events one flush writes: a flush's memory (its binds, libpq's copy, the server's
    /// parse) stays small however far behind it is; `EventFlushService` flushes again at once while
    /// at least this many wait.
    public static let flushLimit = 2_000
    /// A tenant with fewer events than this waits (up to `maximumDelay`) for more: with a thousand
    /// quiet tenants, one INSERT a second each would cost nearly a statement per request. The admin
    /// events and status routes flush their tenant first, so they always see this replica's events.
    static let minimumBatch = 50
    static let maximumDelay: Duration = .seconds(5)
    private let dropped = Atomic<Int>(0)
    /// What the buffer measures `maximumDelay` by; tests pass a clock they move.
    private let now: @Sendable () -> ContinuousClock.Instant

    public init(now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.now = now
    }

    /// Events dropped since start: beyond `capacity`, or refused by the database for their content.
    public var droppedCount: Int { dropped.load(ordering: .relaxed) }

    /// Events waiting for the next flush.
    public var pendingCount: Int { pending.withLock { $0.count } }

    /// `flush(only:)` calls waiting for another flush's write of their tenant's events to end.
    var waitingFlushCount: Int { pending.withLock { $0.waiters.count } }

    /// Buffers an event for `tenant`'s log.
    public func append(_ event: SyncEvent, for tenant: Tenant) {
        pending.withLock { pending in
            guard pending.count < Self.capacity else {
                dropped.add(1, ordering: .relaxed)
                return
            }
            pending.append(event, for: tenant, arrived: now)
        }
    }

    /// Writes up to `flushLimit` buffered events: every tenant's, or only those due (`minimumBatch`
    /// events or `maximumDelay` waited), or all of one schema's. While the database is unavailable the
    /// events go back for the next flush (every tenant's, not only the one that failed); a batch the
    /// database refuses for its content (which would be refused forever) is written tenant by tenant
    /// and then event by event, and only the events it refuses are dropped.
    ///
    /// With `only`, it also waits for the writes of that schema's events other flushes took before it
    /// was called, and writes those they put back: when it returns, every event buffered for the
    /// schema before the call is in the database (or was dropped), so a read that follows sees them.
    /// - Returns: how many events it took from the buffer.
    @discardableResult
    public func flush(_ client: PostgresClient, only schema: PostgresIdentifier? = nil, dueOnly: Bool = false)
        async throws -> Int
    {
        let batch: Batch
        if let schema {
            batch = await withCheckedContinuation { continuation in
                let ready = pending.withLock { pending -> Batch? in
                    let (batch, awaited) = pending.takeAll(of: schema)
                    guard !awaited.isEmpty else { return batch }
                    pending.waiters.append(
                        Waiter(schema: schema, batch: batch, awaited: awaited, continuation: continuation))
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } else {
            let now = self.now()
            batch = pending.withLock { pending in
                let due = dueOnly ? Set(pending.events.keys.filter { pending.isDue($0, now: now) }) : nil
                return pending.startWriting(pending.take(upTo: Self.flushLimit) { id, _ in due?.contains(id) ?? true })
            }
        }
        let failure = batch.events.isEmpty ? nil : await write(batch.events, client)
        let now = self.now()
        let ready = pending.withLock { pending in
            for (destination, events) in failure?.unwritten ?? [] {
                pending.putBack(events, for: destination, now: now)
            }
            return pending.endWriting(batch.number)
        }
        for (continuation, waiterBatch) in ready { continuation.resume(returning: waiterBatch) }
        if let failure { throw failure.error }
        return batch.events.reduce(0) { $0 + $1.1.count }
    }

    /// Writes a batch. Returns the events left unwritten, and why, when the database could not take
    /// them; events it refuses for their content are dropped and counted instead.
    private func write(
        _ tenants: [(Destination, [SyncEvent])], _ client: PostgresClient
    ) async -> (unwritten: [(Destination, ArraySlice<SyncEvent>)], error: any Error)? {
        // Usually every tenant's rows go in one transaction and one round trip (each INSERT sent with
        // the COMMIT), so a flush costs the same with one busy tenant or a thousand.
        do {
            try await client.withTransaction { connection in
                for (destination, events) in tenants {
                    try connection.deferUntilCommit(
                        SyncEvent.flushInsertion(
                            of: events, schema: destination.schema, organisationID: destination.organisationID))
                }
            }
            return nil
        } catch let error as PostgresError where error.refusesContent {
            // Some tenant's rows were refused, or its schema is gone: sort it out one tenant at a time.
        } catch {
            return (tenants.map { ($0.0, $0.1[...]) }, error)
        }
        for (position, (destination, events)) in tenants.enumerated() {
            guard let failure = await write(events, to: destination, client) else { continue }
            let later = tenants[(position + 1)...].map { ($0.0, $0.1[...]) }
            return ([(destination, failure.unwritten)] + later, failure.error)
        }
        return nil
    }

    /// Writes one tenant's events. Returns the events left unwritten, and why, when the database could
    /// not take them; events it refuses for their content are dropped and counted instead.
    private func write(
        _ events: [SyncEvent], to destination: Destination, _ client: PostgresClient
    ) async -> (unwritten: ArraySlice<SyncEvent>, error: any Error)? {
        do {
            try await client.withConnection { connection in
                _ = try connection.query(
                    SyncEvent.flushInsertion(
                        of: events, schema: destination.schema, organisationID: destination.organisationID))
            }
            return nil
        } catch let error as PostgresError where error.sqlState == .undefinedTable {
            return nil  // the organisation's schema is gone: nothing to record into
        } catch let error as PostgresError where error.refusesContent {
            guard events.count > 1 else {
                dropped.add(1, ordering: .relaxed)
                return nil
            }
            // One bad event fails its whole batch: write them one by one, so only it is lost.
            for (index, event) in events.enumerated() {
                if let failure = await write([event], to: destination, client) {
                    return (events[index...], failure.error)
                }
            }
            return nil
        } catch {
            return (events[...], error)
        }
    }
}

extension PostgresError {
    /// The database answered and refused the statement itself: sending it again will not help.
    fileprivate var refusesContent: Bool { code == .server && !isTransient }
}
