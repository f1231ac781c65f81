import Foundation
import SCIM
import SCIMStore

// The admin API's JSON shapes, built from store values. The shapes are a contract: every key is
// written, absent values as `null` (`@Nullable`), ids in lowercase, dates as RFC 3339 (`Responses.json`).

/// An optional written as `null` when absent, rather than left out as synthesised `Encodable` would.
@propertyWrapper
struct Nullable<Value: Encodable & Sendable>: Encodable, Sendable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

/// A staff rate-limit override.
struct RateLimitResponse: Encodable, Sendable {
    var requestsPerSecond: Int
    var burst: Int

    init(_ limit: RateLimit) {
        requestsPerSecond = limit.requestsPerSecond
        burst = limit.burst
    }
}

struct OrganisationResponse: Encodable, Sendable {
    var id: String
    var slug: String
    var name: String
    var schemaName: String
    var scimEnabled: Bool
    @Nullable var rateLimit: RateLimitResponse?
    var createdAt: Date
    var updatedAt: Date
    /// Written only for an offboarded organisation, so an active one's shape stays as it was.
    var offboardedAt: Date?
    var purgeAfter: Date?

    init(_ organisation: Organisation) {
        id = organisation.id.lowercasedString
        slug = organisation.slug
        name = organisation.name
        schemaName = organisation.schemaName
        scimEnabled = organisation.scimEnabled
        rateLimit = organisation.rateLimit.map(RateLimitResponse.init)
        createdAt = organisation.createdAt
        updatedAt = organisation.updatedAt
        offboardedAt = organisation.offboardedAt
        purgeAfter = organisation.purgeAfter
    }
}

/// A SCIM token as staff see it: never the secret.
struct TokenResponse: Encodable, Sendable {
    var id: String
    var label: String
    var prefix: String
    var createdAt: Date
    @Nullable var expiresAt: Date?
    @Nullable var lastUsedAt: Date?
    @Nullable var revokedAt: Date?

    init(_ token: TokenInfo) {
        id = token.id.lowercasedString
        label = token.label
        prefix = token.prefix
        createdAt = token.createdAt
        expiresAt = token.expiresAt
        lastUsedAt = token.lastUsedAt
        revokedAt = token.revokedAt
    }
}

/// A token just issued: the secret is in this response only.
struct IssuedTokenResponse: Encodable, Sendable {
    var id: String
    var label: String
    var prefix: String
    var token: String
    var createdAt: Date
    @Nullable var expiresAt: Date?

    init(_ info: TokenInfo, token: String) {
        id = info.id.lowercasedString
        label = info.label
        prefix = info.prefix
        self.token = token
        createdAt = info.createdAt
        expiresAt = info.expiresAt
    }
}

/// A staff key as staff see it: never the secret.
struct StaffKeyResponse: Encodable, Sendable {
    var id: String
    var name: String
    var role: String
    /// The slug of the organisation the key is bound to.
    @Nullable var organisation: String?
    var prefix: String
    var createdAt: Date
    @Nullable var lastUsedAt: Date?
    @Nullable var revokedAt: Date?

    init(_ key: StaffKeyInfo) {
        id = key.id.lowercasedString
        name = key.name
        role = key.role.rawValue
        organisation = key.organisation
        prefix = key.prefix
        createdAt = key.createdAt
        lastUsedAt = key.lastUsedAt
        revokedAt = key.revokedAt
    }
}

/// A staff key just issued: the secret is in this response only.
struct IssuedKeyResponse: Encodable, Sendable {
    var id: String
    var name: String
    var role: String
    @Nullable var organisation: String?
    var prefix: String
    var key: String
    var createdAt: Date

    init(_ info: StaffKeyInfo, key: String) {
        id = info.id.lowercasedString
        name = info.name
        role = info.role.rawValue
        organisation = info.organisation
        prefix = info.prefix
        self.key = key
        createdAt = info.createdAt
    }
}

/// `{"occurredAt","actor":{"kind","id","name"},"method","route","organisation","target","status"}`.
struct AuditEntryResponse: Encodable, Sendable {
    struct Actor: Encodable, Sendable {
        var kind: String
        @Nullable var id: String?
        var name: String
    }

    var occurredAt: Date
    var actor: Actor
    var method: String
    var route: String
    @Nullable var organisation: String?
    @Nullable var target: String?
    var status: Int

    init(_ entry: AuditEntry) {
        occurredAt = entry.occurredAt
        actor = Actor(kind: entry.actorKind.rawValue, id: entry.actorID?.lowercasedString, name: entry.actorName)
        method = entry.method
        route = entry.route
        organisation = entry.organisation
        target = entry.target
        status = entry.status
    }
}

/// A page of the audit log; `nextCursor` is null on the last page.
struct AuditPageResponse: Encodable, Sendable {
    var entries: [AuditEntryResponse]
    @Nullable var nextCursor: String?
}

/// A user as support staff see them.
struct AdminUserResponse: Encodable, Sendable {
    var id: String
    var email: String
    var userName: String
    @Nullable var firstName: String?
    @Nullable var lastName: String?
    var active: Bool
    var role: String
    var managedBySCIM: Bool
    @Nullable var department: String?
    var createdAt: Date
    var updatedAt: Date
    /// `{"id", "userName"}` of the manager in Learn Amp, or null.
    var manager: JSONValue
    /// `[{"id", "name"}]` of the user's teams, by name.
    var teams: [JSONValue]
    /// Mapped custom fields by Learn Amp field name, as stored.
    var customFields: [String: JSONValue]

    init(_ user: AdminUser) {
        id = user.id.lowercasedString
        email = user.email
        userName = user.userName
        firstName = user.firstName
        lastName = user.lastName
        active = user.active
        role = user.role
        managedBySCIM = user.managedBySCIM
        department = user.department
        createdAt = user.createdAt
        updatedAt = user.updatedAt
        manager = user.manager ?? .null
        teams = user.teams
        customFields = user.customFields
    }
}

/// A page of users; `nextCursor` is left out on the last page.
struct AdminUserListResponse: Encodable, Sendable {
    var users: [AdminUserResponse]
    var nextCursor: String?
}

/// A team as staff see it.
struct TeamResponse: Encodable, Sendable {
    var id: String
    var name: String
    var memberCount: Int
    var source: String

    init(_ team: TeamSummary) {
        id = team.id.lowercasedString
        name = team.name
        memberCount = team.memberCount
        source = team.source
    }
}

/// A custom-field mapping; `allowedValues` is left out unless the mapping is an enum.
struct CustomFieldMappingResponse: Encodable, Sendable {
    var scimAttribute: String
    var field: String
    var type: String
    var allowedValues: [String]?

    init(_ mapping: CustomFieldMapping) {
        scimAttribute = mapping.scimAttribute
        field = mapping.field
        type = mapping.type.rawValue
        allowedValues = mapping.allowedValues
    }
}

/// The stored mappings, and `warnings` (left out when there are none) about likely mistakes.
struct CustomFieldsReplacedResponse: Encodable, Sendable {
    var mappings: [CustomFieldMappingResponse]
    var warnings: [String]?
}

/// One sync event; every key present, null when empty.
struct EventResponse: Encodable, Sendable {
    var id: Int64
    var occurredAt: Date
    var outcome: String
    @Nullable var kind: String?
    var requestId: String
    @Nullable var clientRequestId: String?
    @Nullable var tokenId: String?
    @Nullable var oauthClient: OAuthClientReferenceResponse?
    var method: String
    var path: String
    @Nullable var resourceType: String?
    @Nullable var resourceId: String?
    @Nullable var userName: String?
    var status: Int
    @Nullable var scimType: String?
    @Nullable var detail: String?
    @Nullable var durationMs: Int?
    var changes: [String]

    init(_ event: EventRecord) {
        id = event.id
        occurredAt = event.occurredAt
        outcome = event.outcome
        kind = event.kind
        requestId = event.requestId
        clientRequestId = event.clientRequestId
        tokenId = event.tokenId
        oauthClient = event.oauthClient.map(OAuthClientReferenceResponse.init)
        method = event.method
        path = event.path
        resourceType = event.resourceType
        resourceId = event.resourceId
        userName = event.userName
        status = event.status
        scimType = event.scimType
        detail = event.detail
        durationMs = event.durationMs
        changes = event.changes
    }
}

/// A page of events; `nextCursor` is null on the last page.
struct EventListResponse: Encodable, Sendable {
    var events: [EventResponse]
    @Nullable var nextCursor: String?
}

/// Everything support needs to answer "is SCIM working for this organisation, and if not, why?".
struct OrganisationStatusResponse: Encodable, Sendable {
    struct Token: Encodable, Sendable {
        var label: String
        var prefix: String
        var createdAt: Date
        @Nullable var lastUsedAt: Date?
        @Nullable var expiresAt: Date?
    }

    struct RecentError: Encodable, Sendable {
        var occurredAt: Date
        var requestId: String
        var method: String
        var path: String
        var status: Int
        @Nullable var scimType: String?
        @Nullable var userName: String?
        @Nullable var detail: String?
    }

    var organisation: String
    var scimEnabled: Bool
    var tokens: [Token]
    var oauthClients: [OAuthClientSummaryResponse]
    var expiringSecrets: [ExpiringOAuthSecretResponse]
    @Nullable var lastRequestAt: Date?
    @Nullable var lastSuccessAt: Date?
    @Nullable var lastErrorAt: Date?
    var users: OrganisationStatus.UserCounts
    var teams: Int
    var last24Hours: OrganisationStatus.Window
    var unresolvedManagers: OrganisationStatus.UnresolvedManagers
    var unmappedAttributes: [OrganisationStatus.AttributeCount]
    var recentErrors: [RecentError]
    var health: HealthVerdict

    init(_ status: OrganisationStatus) {
        organisation = status.organisation
        scimEnabled = status.scimEnabled
        tokens = status.tokens.map {
            Token(
                label: $0.label, prefix: $0.prefix, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt,
                expiresAt: $0.expiresAt)
        }
        oauthClients = status.oauthClients.map(OAuthClientSummaryResponse.init)
        expiringSecrets = status.expiringSecrets.map(ExpiringOAuthSecretResponse.init)
        lastRequestAt = status.lastRequestAt
        lastSuccessAt = status.lastSuccessAt
        lastErrorAt = status.lastErrorAt
        users = status.users
        teams = status.teams
        last24Hours = status.last24Hours
        unresolvedManagers = status.unresolvedManagers
        unmappedAttributes = status.unmappedAttributes
        recentErrors = status.recentErrors.map {
            RecentError(
                occurredAt: $0.occurredAt, requestId: $0.requestId, method: $0.method, path: $0.path, status: $0.status,
                scimType: $0.scimType, userName: $0.userName, detail: $0.detail)
        }
        health = status.health
    }
}

// MARK: - OAuth clients

/// One secret of an OAuth client: never the secret itself.
struct OAuthSecretResponse: Encodable, Sendable {
    var secretId: String
    var createdAt: Date
    @Nullable var lastUsedAt: Date?
    var expiresAt: Date
    @Nullable var revokedAt: Date?

    init(_ secret: OAuthSecretInfo) {
        secretId = secret.secretID.lowercasedString
        createdAt = secret.createdAt
        lastUsedAt = secret.lastUsedAt
        expiresAt = secret.expiresAt
        revokedAt = secret.revokedAt
    }
}

/// An OAuth client with all its secrets, newest first.
struct OAuthClientResponse: Encodable, Sendable {
    var id: String
    var label: String
    var clientId: String
    var createdAt: Date
    @Nullable var lastUsedAt: Date?
    @Nullable var revokedAt: Date?
    var secrets: [OAuthSecretResponse]

    init(_ client: OAuthClientInfo) {
        id = client.id.lowercasedString
        label = client.label
        clientId = client.clientID
        createdAt = client.createdAt
        lastUsedAt = client.lastUsedAt
        revokedAt = client.revokedAt
        secrets = client.secrets.map(OAuthSecretResponse.init)
    }
}

/// `GET …/oauth-clients`.
struct OAuthClientListResponse: Encodable, Sendable {
    var oauthClients: [OAuthClientResponse]
}

/// A client just created: its first secret is in this response only.
struct IssuedOAuthClientResponse: Encodable, Sendable {
    var id: String
    var label: String
    var clientId: String
    var clientSecret: String
    var secretId: String
    var secretExpiresAt: Date
    var createdAt: Date

    init(_ issued: IssuedOAuthClient) {
        id = issued.id.lowercasedString
        label = issued.label
        clientId = issued.clientID
        clientSecret = issued.clientSecret
        secretId = issued.secretID.lowercasedString
        secretExpiresAt = issued.secretExpiresAt
        createdAt = issued.createdAt
    }
}

/// A secret just added for rotation: in this response only.
struct IssuedOAuthSecretResponse: Encodable, Sendable {
    var secretId: String
    var clientSecret: String
    var expiresAt: Date

    init(_ issued: IssuedOAuthSecret) {
        secretId = issued.secretID.lowercasedString
        clientSecret = issued.clientSecret
        expiresAt = issued.expiresAt
    }
}

/// A live secret that expires within 30 days, on the status route.
struct ExpiringOAuthSecretResponse: Encodable, Sendable {
    var id: String
    var label: String
    var clientId: String
    var secretId: String
    var expiresAt: Date

    init(_ secret: ExpiringOAuthSecret) {
        id = secret.id.lowercasedString
        label = secret.label
        clientId = secret.clientID
        secretId = secret.secretID.lowercasedString
        expiresAt = secret.expiresAt
    }
}

/// A client that can still obtain access tokens, on the status route.
struct OAuthClientSummaryResponse: Encodable, Sendable {
    var id: String
    var label: String
    var clientId: String
    @Nullable var lastUsedAt: Date?
    var liveSecrets: Int

    init(_ summary: OrganisationStatus.OAuthClientSummary) {
        id = summary.id.lowercasedString
        label = summary.label
        clientId = summary.clientID
        lastUsedAt = summary.lastUsedAt
        liveSecrets = summary.liveSecrets
    }
}

/// The OAuth client that made an event's request.
struct OAuthClientReferenceResponse: Encodable, Sendable {
    var id: String
    var label: String
    var clientId: String

    init(_ reference: OAuthClientReference) {
        id = reference.id
        label = reference.label
        clientId = reference.clientId
    }
}
