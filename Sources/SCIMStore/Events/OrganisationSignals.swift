import Foundation
import Postgres

/// What operators alert on for one organisation, from the control schema: whether SCIM is on, whether
/// its identity provider ever connected, and when its first live token expires.
public struct OrganisationSignals: Sendable, Equatable {
    public var slug: String
    public var schema: PostgresIdentifier
    public var scimEnabled: Bool
    /// True once any of its tokens (revoked ones included) authenticated a request: the identity
    /// provider has connected at least once, so a missing success means something broke.
    public var everConnected: Bool
    /// The earliest expiry among its tokens that are neither revoked nor expired; nil when none of
    /// them has an expiry.
    public var earliestTokenExpiry: Date?

    public init(
        slug: String, schema: PostgresIdentifier, scimEnabled: Bool, everConnected: Bool, earliestTokenExpiry: Date?
    ) {
        self.slug = slug
        self.schema = schema
        self.scimEnabled = scimEnabled
        self.everConnected = everConnected
        self.earliestTokenExpiry = earliestTokenExpiry
    }
}

/// Reads the per-organisation signals behind the `scim_organisation_*` gauges: one aggregate query
/// over the control schema, and one index-only lookup per organisation's event log.
public struct OrganisationSignalsStore: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Every organisation, with its token facts, in slug order.
    public func organisations() async throws -> [OrganisationSignals] {
        try await client.query(
            """
            SELECT o.slug, o.schema_name, o.scim_enabled,
                   coalesce(bool_or(t.last_used_at IS NOT NULL), false) AS ever_connected,
                   min(t.expires_at) FILTER (WHERE t.revoked_at IS NULL AND t.expires_at > now()) AS earliest_expiry
            FROM control.organisations o LEFT JOIN control.scim_tokens t ON t.organisation_id = o.id
            GROUP BY o.id ORDER BY o.slug
            """
        ).map { row in
            OrganisationSignals(
                slug: try row.decode("slug"),
                schema: try PostgresIdentifier(try row.decode("schema_name", as: String.self)),
                scimEnabled: try row.decode("scim_enabled"), everConnected: try row.decode("ever_connected"),
                earliestTokenExpiry: try row.decode("earliest_expiry"))
        }
    }

    /// The latest successful SCIM request in the organisation's event log (which keeps
    /// `EVENT_RETENTION_DAYS`), through the `(outcome, occurred_at DESC)` index; nil when none is kept.
    /// - Throws: `PostgresError`, e.g. `undefinedTable` if the schema was dropped meanwhile.
    public func lastSuccess(in schema: PostgresIdentifier) async throws -> Date? {
        try await client.query(
            "SELECT max(occurred_at) AS last_success FROM \(schema).sync_events WHERE outcome = 'success'"
        ).single().decode("last_success")
    }
}
