import Foundation
import Postgres

/// The SQL half of event retention: which schemas hold events, and deleting old ones in small batches.
///
/// Each batch is one autocommitted `DELETE` of at most `limit` rows, so it holds row locks for
/// milliseconds and never blocks SCIM requests writing new events (those insert, and new rows are
/// never old enough to be selected).
public struct EventRetention: Sendable {
    /// Rows per `DELETE`: small enough for a short transaction, large enough to keep up.
    public static let defaultBatchSize = 5000

    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Every organisation's slug and schema, from `control.organisations`.
    public func tenants() async throws -> [Tenant] {
        try await client.query("SELECT id, slug, schema_name FROM control.organisations ORDER BY slug").map { row in
            Tenant(
                organisationID: try row.decode("id"), slug: try row.decode("slug"),
                schema: try PostgresIdentifier(try row.decode("schema_name", as: String.self)))
        }
    }

    /// Deletes up to `limit` of the tenant's oldest events that occurred before `cutoff`.
    /// - Returns: How many rows were deleted; fewer than `limit` means none older than `cutoff` are left.
    /// - Throws: `PostgresError`, e.g. `undefinedTable` if the schema was dropped meanwhile.
    public func purgeBatch(_ tenant: Tenant, olderThan cutoff: Date, limit: Int = defaultBatchSize) async throws -> Int
    {
        let schema = tenant.schema
        return try await client.query(
            """
            DELETE FROM \(schema).sync_events WHERE id IN (
                SELECT id FROM \(schema).sync_events WHERE occurred_at < \(cutoff) ORDER BY id LIMIT \(limit))
            """
        ).affectedRows
    }
}
