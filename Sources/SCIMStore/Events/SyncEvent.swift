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

    /// `insertion` for a flush of buffered events, sent unnamed. A flush writes every busy tenant's
    /// events once a second, in up to five texts per tenant (by row count): prepared, a thousand
    /// tenants' flushes would push the statements requests run again out of the connection's cache.
    static func flushInsertion(of events: [SyncEvent], schema: PostgresIdentifier) -> PostgresQuery {
        var query = insertion(of: events, schema: schema)
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
public final class EventBuffer: Sendable {
    /// One tenant's waiting events, oldest first. Taking from the front moves `start` rather than
    /// shifting or copying what is left: with a backlog of tens of thousands, every flush copied the
    /// rest under the lock that each request's `append` waits for, which stalled the event loops
    /// (p99 of 0.8 s at 20,000 cheap requests a second).
    private struct TenantEvents {
        private var storage: [SyncEvent] = []
        private var start = 0
        /// When the oldest waiting event arrived.
        var since: ContinuousClock.Instant

        init(since: ContinuousClock.Instant) { self.since = since }

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

    /// Buffered events by tenant, and their total, kept so that `append` (on every read request)
    /// checks the cap without adding up every tenant's buffer.
    private struct Pending {
        var events: [PostgresIdentifier: TenantEvents] = [:]
        var count = 0

        mutating func append(_ event: SyncEvent, for schema: PostgresIdentifier) {
            events[schema, default: TenantEvents(since: .now)].append(event)
            count += 1
        }

        /// Returned events are due at the next flush.
        mutating func putBack(_ returned: some Collection<SyncEvent>, for schema: PostgresIdentifier) {
            guard !returned.isEmpty else { return }
            let due = ContinuousClock.now - EventBuffer.maximumDelay
            events[schema, default: TenantEvents(since: due)].prepend(returned, since: due)
            count += returned.count
        }

        /// Whether a tenant's events should go out now rather than gather into a bigger batch.
        func isDue(_ schema: PostgresIdentifier, now: ContinuousClock.Instant) -> Bool {
            guard let waiting = events[schema] else { return false }
            return waiting.count >= EventBuffer.minimumBatch || now - waiting.since >= EventBuffer.maximumDelay
        }

        /// Removes and returns up to `limit` events of the tenants `include` picks, grouped by tenant,
        /// each tenant's oldest first.
        mutating func take(upTo limit: Int, where include: (PostgresIdentifier) -> Bool) -> [(
            PostgresIdentifier, [SyncEvent]
        )] {
            var taken: [(PostgresIdentifier, [SyncEvent])] = []
            var emptied: [PostgresIdentifier] = []
            var room = limit
            // Walked by index, each tenant's events changed in place through `values`, which keeps the
            // indices valid; emptied tenants are removed afterwards, as removing would not. Iterating
            // `events` itself (or its `keys`) while changing it would make the dictionary, and then each
            // tenant's storage, copy itself.
            var index = events.startIndex
            while room > 0, index != events.endIndex {
                let schema = events.keys[index]
                if include(schema) {
                    let n = min(room, events.values[index].count)
                    taken.append((schema, events.values[index].takeFirst(n)))
                    if events.values[index].count == 0 { emptied.append(schema) }
                    room -= n
                }
                events.formIndex(after: &index)
            }
            for schema in emptied { events[schema] = nil }
            count -= limit - room
            return taken
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

    public init() {}

    /// Events dropped since start: beyond `capacity`, or refused by the database for their content.
    public var droppedCount: Int { dropped.load(ordering: .relaxed) }

    /// Events waiting for the next flush.
    public var pendingCount: Int { pending.withLock { $0.count } }

    public func append(_ event: SyncEvent, schema: PostgresIdentifier) {
        pending.withLock { pending in
            guard pending.count < Self.capacity else {
                dropped.add(1, ordering: .relaxed)
                return
            }
            pending.append(event, for: schema)
        }
    }

    /// Writes up to `flushLimit` buffered events: every tenant's, or only those due (`minimumBatch`
    /// events or `maximumDelay` waited), or all of one tenant's. While the database is unavailable the
    /// events go back for the next flush (every tenant's, not only the one that failed); a batch the
    /// database refuses for its content (which would be refused forever) is written tenant by tenant
    /// and then event by event, and only the events it refuses are dropped.
    /// - Returns: how many events it took from the buffer.
    @discardableResult
    public func flush(_ client: PostgresClient, only schema: PostgresIdentifier? = nil, dueOnly: Bool = false)
        async throws -> Int
    {
        let now = ContinuousClock.now
        let tenants = pending.withLock { pending -> [(PostgresIdentifier, [SyncEvent])] in
            if let schema {
                return pending.take(upTo: Self.capacity) { $0 == schema }
            }
            let due = dueOnly ? Set(pending.events.keys.filter { pending.isDue($0, now: now) }) : nil
            return pending.take(upTo: Self.flushLimit) { due?.contains($0) ?? true }
        }
        let taken = tenants.reduce(0) { $0 + $1.1.count }
        guard !tenants.isEmpty else { return 0 }
        // Usually every tenant's rows go in one transaction and one round trip (each INSERT sent with
        // the COMMIT), so a flush costs the same with one busy tenant or a thousand.
        do {
            try await client.withTransaction { connection in
                for (schema, events) in tenants {
                    try connection.deferUntilCommit(SyncEvent.flushInsertion(of: events, schema: schema))
                }
            }
            return taken
        } catch let error as PostgresError where error.refusesContent {
            // Some tenant's rows were refused, or its schema is gone: sort it out one tenant at a time.
        } catch {
            pending.withLock { pending in
                for (schema, events) in tenants { pending.putBack(events, for: schema) }
            }
            throw error
        }
        for (position, (schema, events)) in tenants.enumerated() {
            guard let failure = await write(events, schema: schema, client) else { continue }
            pending.withLock { pending in
                pending.putBack(failure.unwritten, for: schema)
                for (later, laterEvents) in tenants[(position + 1)...] {
                    pending.putBack(laterEvents, for: later)
                }
            }
            throw failure.error
        }
        return taken
    }

    /// Writes one tenant's events. Returns the events left unwritten, and why, when the database could
    /// not take them; events it refuses for their content are dropped and counted instead.
    private func write(
        _ events: [SyncEvent], schema: PostgresIdentifier, _ client: PostgresClient
    ) async -> (unwritten: ArraySlice<SyncEvent>, error: any Error)? {
        do {
            try await client.withConnection { connection in
                _ = try connection.query(SyncEvent.flushInsertion(of: events, schema: schema))
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
                if let failure = await write([event], schema: schema, client) {
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
