import Foundation
import Postgres
import SCIM

/// A Learn Amp customer organisation: one tenant, one Postgres schema.
public struct Organisation: Sendable, Equatable {
    public var id: UUID
    public var slug: String
    public var name: String
    public var schemaName: String
    public var scimEnabled: Bool
    /// Staff's override of the default request rate; nil when the organisation uses the default.
    public var rateLimit: RateLimit?
    public var createdAt: Date
    public var updatedAt: Date
    /// When staff offboarded it; nil while it is active. SCIM is off and its tokens revoked from then.
    public var offboardedAt: Date?
    /// When the background purge may drop it (`offboardedAt` + `ORG_PURGE_GRACE_DAYS`); nil while active.
    public var purgeAfter: Date?

    /// Whether the organisation is offboarded and waiting for its purge.
    public var isOffboarded: Bool { offboardedAt != nil }

    /// Slugs are what staff type and what names the schema: lowercase letters, digits and hyphens,
    /// starting with a letter, at most 36 characters (so `org_<slug>` fits the schema-name rule).
    public static let slugRule = "a slug is 1-36 lowercase letters, digits or hyphens, starting with a letter"

    public static func isValidSlug(_ slug: String) -> Bool {
        guard let first = slug.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
            slug.utf8.count <= 36
        else { return false }
        return slug.utf8.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "-")
        }
    }

    /// `org_<slug>` with hyphens as underscores; always matches `^[a-z][a-z0-9_]{0,40}$`.
    public static func schemaName(forSlug slug: String) -> String {
        "org_" + slug.replacingOccurrences(of: "-", with: "_")
    }

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        slug = try row.decode("slug")
        name = try row.decode("name")
        schemaName = try row.decode("schema_name")
        scimEnabled = try row.decode("scim_enabled")
        rateLimit = RateLimit(
            requestsPerSecond: try row.decode("rate_limit_rps"), burst: try row.decode("rate_limit_burst"))
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
        offboardedAt = try row.decode("offboarded_at")
        purgeAfter = try row.decode("purge_after")
    }

    static let columns: PostgresQuery = """
        id, slug, name, schema_name, scim_enabled, rate_limit_rps, rate_limit_burst, created_at, updated_at, \
        offboarded_at, purge_after
        """
}

/// The organisation a request acts for, resolved from its credentials. Every tenant query takes one,
/// and reaches tables only through `schema`, so a request cannot name another tenant's data.
public struct Tenant: Sendable, Equatable {
    public var organisationID: UUID
    public var slug: String
    public var schema: PostgresIdentifier
    /// The SCIM token that authenticated the request, when it came through SCIM.
    public var tokenID: UUID?
    /// The organisation's rate-limit override, read with the token so the limiter needs no query.
    public var rateLimit: RateLimit?

    public init(
        organisationID: UUID, slug: String, schema: PostgresIdentifier, tokenID: UUID? = nil,
        rateLimit: RateLimit? = nil
    ) {
        self.organisationID = organisationID
        self.slug = slug
        self.schema = schema
        self.tokenID = tokenID
        self.rateLimit = rateLimit
    }
}
