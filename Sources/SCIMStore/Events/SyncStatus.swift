import Foundation
import Postgres
import SCIM

/// An event as the admin API returns it.
public struct EventRecord: Sendable, Equatable {
    public var id: Int64
    public var occurredAt: Date
    public var outcome: String
    public var kind: String?
    public var requestId: String
    /// The client's own `X-Request-Id`, when it sent one.
    public var clientRequestId: String?
    /// The SCIM token of the request; nil when an OAuth access token made it (see `oauthClient`).
    public var tokenId: String?
    /// The OAuth client whose access token made the request (or whose secret was refused), when one did.
    public var oauthClient: OAuthClientReference?
    public var method: String
    public var path: String
    public var resourceType: String?
    public var resourceId: String?
    public var userName: String?
    public var status: Int
    public var scimType: String?
    public var detail: String?
    public var durationMs: Int?
    public var changes: [String]

    /// `token_id` holds the id of whichever credential made the request: a SCIM token's, or an OAuth
    /// client's (ids are random UUIDs, so the two never collide); the client is looked up by it.
    static let columns: PostgresQuery = """
        id, occurred_at, outcome, kind, request_id, client_request_id, token_id::text AS token_id, method, path, resource_type,
        resource_id::text AS resource_id, user_name, status, scim_type, detail, duration_ms, changes,
        (SELECT jsonb_build_array(c.label, c.client_id)::text FROM control.oauth_clients c WHERE c.id = token_id)
            AS oauth_client
        """

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        occurredAt = try row.decode("occurred_at")
        outcome = try row.decode("outcome")
        kind = try row.decode("kind")
        requestId = try row.decode("request_id")
        clientRequestId = try row.decode("client_request_id")
        tokenId = try row.decode("token_id")
        if let id = tokenId, let client = OAuthClientReference(id: id, json: try row.decode("oauth_client")) {
            oauthClient = client
            tokenId = nil
        }
        method = try row.decode("method")
        path = try row.decode("path")
        resourceType = try row.decode("resource_type")
        resourceId = try row.decode("resource_id")
        userName = try row.decode("user_name")
        status = try row.decode("status")
        scimType = try row.decode("scim_type")
        detail = try row.decode("detail")
        durationMs = try row.decode("duration_ms")
        changes = try row.decode("changes")
    }
}

/// The OAuth client named by an event: `{"id","label","clientId"}`.
public struct OAuthClientReference: Sendable, Equatable {
    public var id: String
    public var label: String
    public var clientId: String

    /// From the `[label, client_id]` JSON array the event query reads; nil when there is none.
    init?(id: String, json: String?) {
        guard let json, case .array(let parts)? = try? JSONValue.parse(Array(json.utf8)), parts.count == 2,
            let label = parts[0].stringValue, let clientId = parts[1].stringValue
        else { return nil }
        self.id = id
        self.label = label
        self.clientId = clientId
    }
}

/// Which events to list, newest first.
public struct EventQuery: Sendable {
    /// `error`, `warning` or `success`.
    public var outcome: String?
    /// The HTTP method of the request (`POST`, `PUT`, `PATCH`, `DELETE`, `GET`).
    public var method: String?
    public var since: Date?
    public var until: Date?
    public var userName: String?
    public var requestID: String?
    public var limit: Int = 50
    public var cursor: String?

    public init() {}
}

/// The integration's health as the Learn Amp app shows it to customer Admins and Owners.
public struct HealthVerdict: Sendable, Encodable, Equatable {
    public enum Verdict: String, Sendable, Encodable { case healthy, degraded, failing, idle }
    public var verdict: Verdict
    public var reasons: [String]

    /// Facts the verdict is derived from; kept separate so the rules are testable without a database.
    public struct Facts: Sendable {
        public var scimEnabled: Bool
        public var activeTokens: Int
        public var requests24h: Int
        public var errors24h: Int
        public var lastSuccessAt: Date?
        public var lastErrorAt: Date?
        public var unresolvedManagers: Int
        public var unmappedAttributes: [String]
        /// Live OAuth client secrets that expire within `OAuthClientStore.expiryWarning`.
        public var expiringSecrets: Int

        /// - Parameter activeTokens: usable credentials: SCIM tokens neither revoked nor expired, and
        ///   OAuth clients with a live secret.
        public init(
            scimEnabled: Bool, activeTokens: Int, requests24h: Int, errors24h: Int, lastSuccessAt: Date?,
            lastErrorAt: Date?,
            unresolvedManagers: Int, unmappedAttributes: [String], expiringSecrets: Int = 0
        ) {
            self.expiringSecrets = expiringSecrets
            self.scimEnabled = scimEnabled
            self.activeTokens = activeTokens
            self.requests24h = requests24h
            self.errors24h = errors24h
            self.lastSuccessAt = lastSuccessAt
            self.lastErrorAt = lastErrorAt
            self.unresolvedManagers = unresolvedManagers
            self.unmappedAttributes = unmappedAttributes
        }
    }

    /// - failing: SCIM disabled, no usable token, or at least half of the last day's requests failed, or
    ///   the latest requests fail with no success since;
    /// - idle: nothing in the last 24 hours;
    /// - degraded: some failures, managers waiting for someone not provisioned, unmapped attributes, or
    ///   OAuth client secrets expiring within 30 days;
    /// - healthy otherwise.
    public init(_ facts: Facts) {
        var failing: [String] = []
        var degraded: [String] = []
        if !facts.scimEnabled { failing.append("SCIM provisioning is disabled for this organisation.") }
        if facts.activeTokens == 0 {
            failing.append(
                "There is no active SCIM token or OAuth client secret: the identity provider cannot connect.")
        }
        if facts.requests24h > 0 {
            if facts.errors24h * 2 >= facts.requests24h {
                failing.append("\(facts.errors24h) of \(facts.requests24h) requests failed in the last 24 hours.")
            } else if let lastError = facts.lastErrorAt, lastError > (facts.lastSuccessAt ?? .distantPast),
                facts.errors24h >= 3
            {
                failing.append("The most recent requests fail and none has succeeded since.")
            } else if facts.errors24h > 0 {
                degraded.append("\(facts.errors24h) of \(facts.requests24h) requests failed in the last 24 hours.")
            }
        }
        if facts.unresolvedManagers > 0 {
            degraded.append("\(facts.unresolvedManagers) user(s) name a manager who is not provisioned yet.")
        }
        if !facts.unmappedAttributes.isEmpty {
            degraded.append(
                "Attributes sent but not mapped: \(facts.unmappedAttributes.prefix(5).joined(separator: ", ")).")
        }
        if facts.expiringSecrets > 0 {
            degraded.append(
                "\(facts.expiringSecrets) OAuth client secret(s) expire within 30 days: add a new secret and rotate.")
        }
        if !failing.isEmpty {
            self.init(verdict: .failing, reasons: failing + degraded)
        } else if facts.requests24h == 0 {
            let why =
                facts.lastSuccessAt == nil && facts.lastErrorAt == nil
                ? "The identity provider has never connected." : "No SCIM requests in the last 24 hours."
            self.init(verdict: .idle, reasons: [why] + degraded)
        } else if !degraded.isEmpty {
            self.init(verdict: .degraded, reasons: degraded)
        } else {
            self.init(verdict: .healthy, reasons: ["All \(facts.requests24h) requests in the last 24 hours succeeded."])
        }
    }

    init(verdict: Verdict, reasons: [String]) {
        self.verdict = verdict
        self.reasons = reasons
    }
}

/// Everything support needs to answer "is SCIM working for this organisation, and if not, why?".
public struct OrganisationStatus: Sendable {
    public struct TokenSummary: Sendable {
        public var label: String
        public var prefix: String
        public var createdAt: Date
        public var lastUsedAt: Date?
        public var expiresAt: Date?
    }

    public struct UserCounts: Sendable, Encodable {
        public var total: Int
        public var scimManaged: Int
        public var manual: Int
        public var active: Int
        public var deactivated: Int
    }

    public struct Window: Sendable, Encodable {
        public var requests: Int
        public var errors: Int
        public var byStatus: [String: Int]
        public var byScimType: [String: Int]
    }

    public struct UnresolvedManagers: Sendable, Encodable {
        public var count: Int
        public var userNames: [String]
    }

    /// An attribute the identity provider keeps sending that no mapping names: how many writes
    /// ignored it in the window, and when the last did.
    public struct AttributeCount: Sendable, Encodable {
        public var name: String
        public var count: Int
        public var lastSeenAt: Date
    }

    public struct RecentError: Sendable {
        public var occurredAt: Date
        public var requestId: String
        public var method: String
        public var path: String
        public var status: Int
        public var scimType: String?
        public var userName: String?
        public var detail: String?
    }

    /// An OAuth client that can still obtain access tokens (it has a live secret).
    public struct OAuthClientSummary: Sendable {
        public var id: UUID
        public var label: String
        public var clientID: String
        public var lastUsedAt: Date?
        public var liveSecrets: Int
    }

    public var organisation: String
    public var scimEnabled: Bool
    public var tokens: [TokenSummary]
    public var oauthClients: [OAuthClientSummary]
    /// Live secrets of live OAuth clients that expire within 30 days, soonest first.
    public var expiringSecrets: [ExpiringOAuthSecret]
    public var lastRequestAt: Date?
    public var lastSuccessAt: Date?
    public var lastErrorAt: Date?
    public var users: UserCounts
    public var teams: Int
    public var last24Hours: Window
    public var unresolvedManagers: UnresolvedManagers
    public var unmappedAttributes: [AttributeCount]
    public var recentErrors: [RecentError]
    public var health: HealthVerdict
}

/// Reads an organisation's event log for the status page and the event search.
public struct SyncStatusStore: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// The organisation's status with its credentials read from `tokens` and `oauth`: what the status
    /// route and the console both show, so an organisation connected through OAuth clients alone is
    /// judged the same in both.
    public func status(
        _ tenant: Tenant, organisation: Organisation, tokens: TokenStore, oauth: OAuthClientStore
    ) async throws -> OrganisationStatus {
        try await status(
            tenant, organisation: organisation, tokens: try await tokens.list(organisationID: organisation.id),
            oauthClients: try await oauth.list(organisationID: organisation.id),
            expiringSecrets: try await oauth.expiringSecrets(organisationID: organisation.id), now: oauth.currentDate)
    }

    /// One connection, a handful of indexed aggregate queries over this organisation's schema.
    /// - Parameters:
    ///   - oauthClients: the organisation's OAuth clients (`OAuthClientStore.list`).
    ///   - expiringSecrets: `OAuthClientStore.expiringSecrets`.
    ///   - now: the wall clock credentials expire by.
    public func status(
        _ tenant: Tenant, organisation: Organisation, tokens: [TokenInfo], oauthClients: [OAuthClientInfo] = [],
        expiringSecrets: [ExpiringOAuthSecret] = [], now: Date = Date()
    ) async throws -> OrganisationStatus {
        let schema = tenant.schema
        let activeTokens = tokens.filter { $0.revokedAt == nil && ($0.expiresAt.map { $0 > now } ?? true) }
        let liveClients = oauthClients.compactMap { client -> OrganisationStatus.OAuthClientSummary? in
            let live = client.secrets.filter { $0.isLive(at: now) }.count
            guard client.revokedAt == nil, live > 0 else { return nil }
            return .init(
                id: client.id, label: client.label, clientID: client.clientID, lastUsedAt: client.lastUsedAt,
                liveSecrets: live)
        }
        return try await client.withConnection { connection in
            let last = try connection.query(
                """
                SELECT (SELECT max(occurred_at) FROM \(schema).sync_events WHERE kind IS NULL) AS last_request,
                       (SELECT max(occurred_at) FROM \(schema).sync_events WHERE outcome = 'success') AS last_success,
                       (SELECT max(occurred_at) FROM \(schema).sync_events WHERE outcome = 'error') AS last_error
                """
            ).single()
            let users = try connection.query(
                """
                SELECT count(*) AS total, count(*) FILTER (WHERE scim_managed) AS managed,
                       count(*) FILTER (WHERE NOT scim_managed) AS manual, count(*) FILTER (WHERE active) AS active,
                       count(*) FILTER (WHERE NOT active) AS deactivated,
                       (SELECT count(*) FROM \(schema).teams) AS teams
                FROM \(schema).users
                """
            ).single()
            var window = OrganisationStatus.Window(requests: 0, errors: 0, byStatus: [:], byScimType: [:])
            for row in try connection.query(
                """
                SELECT status, scim_type, count(*) AS n FROM \(schema).sync_events
                WHERE occurred_at > now() - interval '24 hours' AND kind IS NULL GROUP BY status, scim_type
                """)
            {
                let status: Int = try row.decode("status")
                let count: Int = try row.decode("n")
                window.requests += count
                if status >= 400 { window.errors += count }
                window.byStatus[String(status), default: 0] += count
                if let scimType: String = try row.decode("scim_type") {
                    window.byScimType[scimType, default: 0] += count
                }
            }
            let managers = try connection.query(
                """
                SELECT count(*) AS n, (array_agg(user_name ORDER BY user_name))[1:5] AS names
                FROM \(schema).users WHERE pending_manager IS NOT NULL AND scim_managed
                """
            ).single()
            let unmapped = try connection.query(
                """
                SELECT name, count(*) AS n, max(occurred_at) AS last_seen
                FROM \(schema).sync_events, unnest(changes) AS name
                WHERE kind = 'unmapped_attributes' AND occurred_at > now() - interval '24 hours'
                  AND NOT lower(regexp_replace(name, '^urn:ietf:params:scim:schemas:core:2\\.0:User:', '', 'i'))
                          = ANY(\(UnmappedAttributes.ignoredByDesign.sorted()))
                GROUP BY name ORDER BY n DESC, name LIMIT 50
                """
            ).map {
                OrganisationStatus.AttributeCount(
                    name: try $0.decode("name"), count: try $0.decode("n"), lastSeenAt: try $0.decode("last_seen"))
            }
            let errors = try connection.query(
                """
                SELECT occurred_at, request_id, method, path, status, scim_type, user_name, detail FROM \(schema).sync_events
                WHERE outcome = 'error' ORDER BY occurred_at DESC, id DESC LIMIT 20
                """
            ).map { row in
                OrganisationStatus.RecentError(
                    occurredAt: try row.decode("occurred_at"), requestId: try row.decode("request_id"),
                    method: try row.decode("method"),
                    path: try row.decode("path"), status: try row.decode("status"),
                    scimType: try row.decode("scim_type"),
                    userName: try row.decode("user_name"), detail: try row.decode("detail"))
            }
            let unresolved = OrganisationStatus.UnresolvedManagers(
                count: try managers.decode("n"), userNames: try managers.decode("names", as: [String]?.self) ?? [])
            let lastSuccess: Date? = try last.decode("last_success")
            let lastError: Date? = try last.decode("last_error")
            let health = HealthVerdict(
                .init(
                    scimEnabled: organisation.scimEnabled, activeTokens: activeTokens.count + liveClients.count,
                    requests24h: window.requests, errors24h: window.errors, lastSuccessAt: lastSuccess,
                    lastErrorAt: lastError,
                    unresolvedManagers: unresolved.count, unmappedAttributes: unmapped.map(\.name),
                    expiringSecrets: expiringSecrets.count))
            return OrganisationStatus(
                organisation: organisation.slug, scimEnabled: organisation.scimEnabled,
                tokens: activeTokens.map {
                    .init(
                        label: $0.label, prefix: $0.prefix, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt,
                        expiresAt: $0.expiresAt)
                },
                oauthClients: liveClients, expiringSecrets: expiringSecrets,
                lastRequestAt: try last.decode("last_request"), lastSuccessAt: lastSuccess, lastErrorAt: lastError,
                users: .init(
                    total: try users.decode("total"), scimManaged: try users.decode("managed"),
                    manual: try users.decode("manual"),
                    active: try users.decode("active"), deactivated: try users.decode("deactivated")),
                teams: try users.decode("teams"), last24Hours: window, unresolvedManagers: unresolved,
                unmappedAttributes: unmapped,
                recentErrors: errors, health: health)
        }
    }

    /// Events newest first, keyset-paged on (occurred_at, id) with the last id as cursor; a request id
    /// lookup (the server's id or the client's own `X-Request-Id`) uses the two columns' indexes.
    public func events(_ tenant: Tenant, query: EventQuery) async throws -> (events: [EventRecord], nextCursor: String?)
    {
        let schema = tenant.schema
        if let outcome = query.outcome, !["error", "warning", "success"].contains(outcome) {
            throw StoreError.invalid("outcome", "outcome must be error, warning or success.")
        }
        if let method = query.method, !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method) {
            throw StoreError.invalid("method", "method must be GET, POST, PUT, PATCH or DELETE.")
        }
        var after: Int64?
        if let cursor = query.cursor, !cursor.isEmpty {
            guard let id = Int64(cursor) else {
                throw StoreError.invalid("cursor", "cursor is not one this server issued.")
            }
            after = id
        }
        let limit = query.limit
        let rows = try await client.query(
            """
            SELECT \(EventRecord.columns) FROM \(schema).sync_events
            WHERE (\(query.outcome)::text IS NULL OR outcome = \(query.outcome)::text)
              AND (\(query.method)::text IS NULL OR method = \(query.method)::text)
              AND (\(query.since)::timestamptz IS NULL OR occurred_at >= \(query.since)::timestamptz)
              AND (\(query.until)::timestamptz IS NULL OR occurred_at < \(query.until)::timestamptz)
              AND (\(query.userName)::text IS NULL OR lower(user_name) = lower(\(query.userName)::text))
              AND (\(query.requestID)::text IS NULL OR request_id = \(query.requestID)::text
                   OR client_request_id = \(query.requestID)::text)
              AND (\(after)::bigint IS NULL
                   OR (occurred_at, id) < (SELECT occurred_at, id FROM \(schema).sync_events WHERE id = \(after)::bigint))
            ORDER BY occurred_at DESC, id DESC LIMIT \(limit + 1)
            """)
        let events = try rows.prefix(limit).map(EventRecord.init(row:))
        var next: String?
        if rows.count > limit, let last = events.last { next = String(last.id) }
        return (events, next)
    }
}
