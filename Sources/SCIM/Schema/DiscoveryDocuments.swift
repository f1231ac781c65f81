/// Server-wide limits, advertised in `ServiceProviderConfig` and enforced where requests are decoded,
/// so what clients are told and what the server does cannot drift apart.
public struct ServiceLimits: Sendable, Hashable {
    /// PATCH operations accepted in one request.
    public var maxOperations: Int
    /// Largest request body, in bytes, except on /Groups.
    public var maxPayloadSize: Int
    /// Largest /Groups request body, in bytes: Okta pushes a group as one PUT of all its members.
    public var maxGroupPayloadSize: Int
    /// Ceiling for `count` on list and search requests.
    public var maxResults: Int
    /// `count` when the client gives none.
    public var defaultResults: Int
    /// Longest `filter` accepted, in characters.
    public var maxFilterLength: Int
    /// Members one Groups request may name (POST and PUT bodies, and the member values of all of a
    /// PATCH's operations together). The group body limit bounds it too.
    public var maxMembersPerRequest: Int

    public init(
        maxOperations: Int = 1000,
        maxPayloadSize: Int = 1_048_576,
        maxGroupPayloadSize: Int = 16_777_216,
        maxResults: Int = 1000,
        defaultResults: Int = 100,
        maxFilterLength: Int = 4096,
        maxMembersPerRequest: Int = 200_000
    ) {
        self.maxOperations = maxOperations
        self.maxPayloadSize = maxPayloadSize
        self.maxGroupPayloadSize = maxGroupPayloadSize
        self.maxResults = maxResults
        self.defaultResults = defaultResults
        self.maxFilterLength = maxFilterLength
        self.maxMembersPerRequest = maxMembersPerRequest
    }

    public static let `default` = ServiceLimits()

    /// RFC 9865 `cursorTimeout`: the least number of seconds a cursor stays valid between pages, a
    /// positive integer. A cursor here is the last id of its page (a keyset position, see `ListPaging`),
    /// not server state, so it never expires: the largest 32-bit integer (about 68 years) says so
    /// without overflowing a client that reads the value into an `Int32`.
    public static let cursorTimeoutSeconds = 2_147_483_647
}

/// The discovery endpoints' bodies (RFC 7643 §5, §6, §7), built from the same catalog the server
/// validates against. `baseURL` is the SCIM base the client used, without a trailing slash.
public enum DiscoveryDocuments {
    /// `GET /ServiceProviderConfig`, including the RFC 9865 pagination block.
    public static func serviceProviderConfig(baseURL: String, limits: ServiceLimits) -> JSONValue {
        [
            "schemas": [.string(SchemaURN.serviceProviderConfig)],
            "documentationUri": "https://help.learnamp.com",
            "patch": ["supported": true],
            "bulk": ["supported": false, "maxOperations": 0, "maxPayloadSize": .number(Double(limits.maxPayloadSize))],
            "filter": ["supported": true, "maxResults": .number(Double(limits.maxResults))],
            "changePassword": ["supported": false],
            "sort": ["supported": true],
            "etag": ["supported": true],
            "authenticationSchemes": [
                [
                    "type": "oauthbearertoken",
                    "name": "OAuth Bearer Token",
                    "description": "Authentication with the organisation's SCIM bearer token.",
                    "primary": true,
                ],
                [
                    "type": "oauth2",
                    "name": "OAuth 2.0 client credentials",
                    "description": .string(
                        "An access token from POST /oauth/token on this host "
                            + "(grant_type=client_credentials, scope scim), sent as Authorization: Bearer."),
                    "specUri": "https://www.rfc-editor.org/rfc/rfc6749#section-4.4",
                    "primary": false,
                ],
            ],
            "pagination": [
                "cursor": true,
                "index": true,
                "defaultPaginationMethod": "index",
                "defaultPageSize": .number(Double(limits.defaultResults)),
                "maxPageSize": .number(Double(limits.maxResults)),
                "cursorTimeout": .number(Double(ServiceLimits.cursorTimeoutSeconds)),
            ],
            "meta": meta(resourceType: "ServiceProviderConfig", location: "\(baseURL)/ServiceProviderConfig"),
        ]
    }

    /// `GET /ResourceTypes` resources (the caller wraps them in a ListResponse).
    /// - Parameter customFields: the organisation's mappings; a customer extension they name is one
    ///   of the User's `schemaExtensions`.
    public static func resourceTypes(baseURL: String, customFields: [CustomFieldDefinition] = []) -> [JSONValue] {
        [ResourceType.user(customFields: customFields), .group].map { resourceType($0, baseURL: baseURL) }
    }

    /// One resource type's representation (`GET /ResourceTypes/User`).
    public static func resourceType(_ type: ResourceType, baseURL: String) -> JSONValue {
        var object: [String: JSONValue] = [
            "schemas": [.string(SchemaURN.resourceType)],
            "id": .string(type.id),
            "name": .string(type.id),
            "endpoint": .string(type.endpoint),
            "description": .string(type.description),
            "schema": .string(type.schema.id),
            "meta": meta(resourceType: "ResourceType", location: "\(baseURL)/ResourceTypes/\(type.id)"),
        ]
        if !type.extensions.isEmpty {
            object["schemaExtensions"] = .array(
                type.extensions.map { ["schema": .string($0.id), "required": false] })
        }
        return .object(object)
    }

    /// `GET /Schemas` resources, with the organisation's custom fields in the Learn Amp extension.
    public static func schemas(baseURL: String, customFields: [CustomFieldDefinition]) -> [JSONValue] {
        let user = ResourceType.user(customFields: customFields)
        return (user.allSchemas + ResourceType.group.allSchemas).map { schema($0, baseURL: baseURL) }
    }

    /// One schema's representation (`GET /Schemas/{urn}`).
    public static func schema(_ schema: ResourceSchema, baseURL: String) -> JSONValue {
        [
            "schemas": [.string(SchemaURN.schema)],
            "id": .string(schema.id),
            "name": .string(schema.name),
            "description": .string(schema.description),
            // `id` and `meta` are common attributes of every resource (RFC 7643 §3.1), left out of the
            // resource schemas as RFC 7643 §8.7.1 does.
            "attributes": .array(schema.attributes.filter { $0.name != "id" && $0.name != "meta" }.map(\.json)),
            "meta": meta(resourceType: "Schema", location: "\(baseURL)/Schemas/\(schema.id)"),
        ]
    }

    private static func meta(resourceType: String, location: String) -> JSONValue {
        ["resourceType": .string(resourceType), "location": .string(location)]
    }
}
