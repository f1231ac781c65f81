import Foundation
import Postgres
import Synchronization

/// Where a SCIM request came from, captured once per request for its events.
public struct EventOrigin: Sendable {
    public var requestID: String
    public var tokenID: UUID?
    public var method: String
    /// The path without its query string: filters may hold personal data.
    public var path: String
    public var started: ContinuousClock.Instant

    public init(requestID: String, tokenID: UUID?, method: String, path: String, started: ContinuousClock.Instant = .now) {
        self.requestID = requestID
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

    /// Writes events on the caller's connection, inside the caller's transaction when there is one, so
    /// a rolled-back change never leaves a success event behind.
    static func insert(_ events: [SyncEvent], schema: PostgresIdentifier, on connection: PostgresConnection) throws {
        for event in events {
            _ = try connection.query(
                """
                INSERT INTO \(schema).sync_events
                    (occurred_at, outcome, kind, request_id, token_id, method, path, resource_type, resource_id,
                     user_name, status, scim_type, detail, duration_ms, changes)
                VALUES (\(event.occurredAt), \(event.outcome.rawValue), \(event.kind?.rawValue), \(event.requestID),
                        \(event.tokenID), \(event.method), \(event.path), \(event.resourceType), \(event.resourceID),
                        COALESCE(\(event.userName)::text, (SELECT user_name FROM \(schema).users WHERE id = \(event.resourceID))),
                        \(event.status), \(event.scimType), \(event.detail), \(event.durationMilliseconds), \(event.changes))
                """)
        }
    }
}

/// The events of one write, recorded in its transaction: the success event plus any warnings.
public struct WriteEvents: Sendable {
    public var origin: EventOrigin
    /// Attributes the client sent that this organisation does not map (names only).
    public var unknownAttributes: [String]

    public init(origin: EventOrigin, unknownAttributes: [String] = []) {
        self.origin = origin
        self.unknownAttributes = unknownAttributes
    }

    func record(
        status: Int, resourceType: String, resourceID: UUID, userName: String?, changes: [String],
        warnings: [(SyncEvent.Kind, String, [String])] = [], schema: PostgresIdentifier, on connection: PostgresConnection
    ) throws {
        var events = [
            SyncEvent(
                origin: origin, outcome: .success, status: status, resourceType: resourceType, resourceID: resourceID,
                userName: userName, changes: changes)
        ]
        var warnings = warnings
        if !unknownAttributes.isEmpty {
            warnings.append((.unmappedAttributes, "Ignored attributes this organisation does not map.", unknownAttributes))
        }
        for (kind, detail, names) in warnings {
            events.append(
                SyncEvent(
                    origin: origin, outcome: .warning, kind: kind, status: status, resourceType: resourceType,
                    resourceID: resourceID, userName: userName, detail: detail, changes: names))
        }
        try SyncEvent.insert(events, schema: schema, on: connection)
    }
}

/// Events of reads and failures, which have no transaction of their own to join: buffered and written
/// in batches by a `Service`, so a lookup costs no extra write on its hot path.
public final class EventBuffer: Sendable {
    private let pending = Mutex<[PostgresIdentifier: [SyncEvent]]>([:])
    /// Beyond this many buffered events, new ones are dropped (and counted) rather than growing memory
    /// without bound while the database is down.
    static let capacity = 50_000
    private let dropped = Atomic<Int>(0)

    public init() {}

    public func append(_ event: SyncEvent, schema: PostgresIdentifier) {
        pending.withLock { pending in
            let count = pending.values.reduce(0) { $0 + $1.count }
            guard count < Self.capacity else {
                dropped.add(1, ordering: .relaxed)
                return
            }
            pending[schema, default: []].append(event)
        }
    }

    /// Writes everything buffered (or only one tenant's events); on failure the events go back.
    public func flush(_ client: PostgresClient, only schema: PostgresIdentifier? = nil) async throws {
        let batch: [PostgresIdentifier: [SyncEvent]] = pending.withLock { pending in
            if let schema {
                guard let events = pending.removeValue(forKey: schema) else { return [:] }
                return [schema: events]
            }
            defer { pending = [:] }
            return pending
        }
        for (schema, events) in batch {
            do {
                try await client.withTransaction { connection in try SyncEvent.insert(events, schema: schema, on: connection) }
            } catch let error as PostgresError where error.sqlState == .undefinedTable {
                continue  // the organisation's schema is gone: nothing to record into
            } catch {
                pending.withLock { $0[schema, default: []].insert(contentsOf: events, at: 0) }
                throw error
            }
        }
    }
}
