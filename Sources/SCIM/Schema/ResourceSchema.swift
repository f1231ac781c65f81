import Foundation

/// A schema (RFC 7643 §7): a URN and the attributes it defines.
public struct ResourceSchema: Sendable, Hashable {
    /// The schema URN, e.g. `SchemaURN.user`.
    public var id: String
    public var name: String
    public var description: String
    public var attributes: [SchemaAttribute]

    public init(id: String, name: String, description: String, attributes: [SchemaAttribute]) {
        self.id = id
        self.name = name
        self.description = description
        self.attributes = attributes
    }

    /// The attribute called `name`, compared case-insensitively (RFC 7643 §2.1).
    public func attribute(named name: String) -> SchemaAttribute? {
        attributes.first { $0.name.caseInsensitiveEquals(name) }
    }
}

// MARK: - The catalog: exactly what this server stores and returns.

extension SchemaAttribute {
    /// `meta` (RFC 7643 §3.1), identical on every resource type.
    static let meta = SchemaAttribute(
        "meta", type: .complex, mutability: .readOnly,
        subAttributes: [
            SchemaAttribute(
                "resourceType", caseExact: true, mutability: .readOnly, description: "The resource type name."),
            SchemaAttribute(
                "created", type: .dateTime, mutability: .readOnly, description: "When the resource was created."),
            SchemaAttribute(
                "lastModified", type: .dateTime, mutability: .readOnly, description: "When the resource last changed."),
            SchemaAttribute(
                "location", type: .reference, caseExact: true, mutability: .readOnly, referenceTypes: ["uri"],
                description: "The resource's URI."),
            SchemaAttribute(
                "version", caseExact: true, mutability: .readOnly, description: "Weak ETag of the current version."),
        ],
        description: "Resource metadata, maintained by the server.")

    static let id = SchemaAttribute(
        "id", caseExact: true, mutability: .readOnly, returned: .always, uniqueness: .server,
        description: "Server-assigned identifier (a UUID).")

    /// The IANA zone names `timezone` accepts, for a generic client to pick from.
    static let timeZoneNames: [String] = TimeZone.knownTimeZoneIdentifiers
        .filter { $0.contains("/") || $0 == "UTC" }.sorted()

    static let externalId = SchemaAttribute(
        "externalId", caseExact: true, description: "The identity provider's identifier for this resource.")

    /// A Group's `members` (RFC 7643 §4.2), a constant of its own because the PATCH planner normalises
    /// member values against it directly.
    static let groupMembers = SchemaAttribute(
        "members", type: .complex, multiValued: true,
        subAttributes: [
            SchemaAttribute("value", caseExact: true, mutability: .immutable, description: "User id."),
            SchemaAttribute(
                "$ref", type: .reference, caseExact: true, mutability: .immutable, referenceTypes: ["User"],
                description: "URI of the user."),
            SchemaAttribute(
                "display", mutability: .readOnly,
                description: "The user's display name, computed by the server; a value sent is ignored.",
                echoedByClients: true),
            SchemaAttribute(
                "type", mutability: .immutable, canonicalValues: ["User"],
                description: "Always User: nested groups are not supported.", format: .canonicalValuesOnly),
        ],
        description: "Team members. Members must be Users: nested groups are not supported.")
}

extension ResourceSchema {
    /// Core User (RFC 7643 §4.1), restricted to the attributes Learn Amp stores. Described as RFC 7643 §8.7.1
    /// describes it ("User Account"), which clients built on Microsoft's reference code look for.
    public static let user = ResourceSchema(
        id: SchemaURN.user, name: "User", description: "User Account",
        attributes: [
            .id,
            .externalId,
            SchemaAttribute(
                "userName", required: true, uniqueness: .server,
                description: "The login email; unique within the organisation, compared case-insensitively."),
            SchemaAttribute(
                "name", type: .complex,
                subAttributes: [
                    SchemaAttribute("formatted", description: "The full name, formatted for display."),
                    SchemaAttribute("familyName", description: "Family name (last name)."),
                    SchemaAttribute("givenName", description: "Given name (first name)."),
                ],
                description: "The user's name."),
            SchemaAttribute("displayName", description: "Name shown in Learn Amp."),
            SchemaAttribute(
                "emails", type: .complex, multiValued: true,
                subAttributes: [
                    SchemaAttribute("value", description: "Email address."),
                    SchemaAttribute(
                        "type", canonicalValues: ["work", "home", "other"], description: "Kind of address."),
                    SchemaAttribute("primary", type: .boolean, description: "The user's main address; at most one."),
                    SchemaAttribute("display", description: "Display form of the address."),
                ],
                description: "Email addresses; the primary (or work) one is the user's email in Learn Amp."),
            SchemaAttribute("title", description: "Job title."),
            SchemaAttribute(
                "timezone", canonicalValues: SchemaAttribute.timeZoneNames,
                description: "IANA time zone name, e.g. Europe/London.", format: .timeZone),
            SchemaAttribute("active", type: .boolean, description: "False deactivates the user; true reactivates."),
            SchemaAttribute(
                "groups", type: .complex, multiValued: true, mutability: .readOnly,
                subAttributes: [
                    SchemaAttribute("value", caseExact: true, mutability: .readOnly, description: "Group (team) id."),
                    SchemaAttribute(
                        "$ref", type: .reference, caseExact: true, mutability: .readOnly, referenceTypes: ["Group"],
                        description: "URI of the group."),
                    SchemaAttribute("display", mutability: .readOnly, description: "Team name."),
                    SchemaAttribute(
                        "type", mutability: .readOnly, canonicalValues: ["direct"], description: "Membership kind."),
                ],
                description: "Teams the user belongs to; managed through /Groups."),
            .meta,
        ])

    /// Enterprise User extension (RFC 7643 §4.3).
    public static let enterpriseUser = ResourceSchema(
        id: SchemaURN.enterpriseUser, name: "EnterpriseUser", description: "Enterprise User extension.",
        attributes: [
            SchemaAttribute("employeeNumber", description: "Organisation-assigned employee number."),
            SchemaAttribute("costCenter", description: "Cost center."),
            SchemaAttribute("organization", description: "Organisation name."),
            SchemaAttribute("division", description: "Division."),
            SchemaAttribute("department", description: "Department; sets the user's primary team in Learn Amp."),
            SchemaAttribute(
                "manager", type: .complex,
                subAttributes: [
                    SchemaAttribute(
                        "value", caseExact: true,
                        description: "The manager's id, or their userName/email (linked when they are provisioned)."),
                    SchemaAttribute(
                        "$ref", type: .reference, caseExact: true, referenceTypes: ["User"],
                        description: "URI of the manager."),
                    SchemaAttribute("displayName", mutability: .readOnly, description: "The manager's display name."),
                ],
                description: "The user's manager."),
        ])

    /// Learn Amp's User extension, including the organisation's mapped custom fields.
    public static func learnAmpUser(customFields: [CustomFieldDefinition]) -> ResourceSchema {
        ResourceSchema(
            id: SchemaURN.learnAmpUser, name: "LearnAmpUser", description: "Learn Amp User extension.",
            attributes: [
                SchemaAttribute("hireDate", description: "Hire date, YYYY-MM-DD.", format: .calendarDate),
                SchemaAttribute(
                    "primaryTeam", type: .complex, mutability: .readOnly,
                    subAttributes: [
                        SchemaAttribute("value", caseExact: true, mutability: .readOnly, description: "Team id."),
                        SchemaAttribute(
                            "$ref", type: .reference, caseExact: true, mutability: .readOnly, referenceTypes: ["Group"],
                            description: "URI of the team."),
                        SchemaAttribute("display", mutability: .readOnly, description: "Team name."),
                    ],
                    description: "The team set from the enterprise department."),
            ] + customFields.map(\.attribute))
    }

    /// Core Group (RFC 7643 §4.2): a Learn Amp team.
    public static let group = ResourceSchema(
        id: SchemaURN.group, name: "Group", description: "A Learn Amp team.",
        attributes: [
            .id,
            .externalId,
            SchemaAttribute(
                "displayName", required: true, uniqueness: .server,
                description: "Team name; unique within the organisation, compared case-insensitively."),
            .groupMembers,
            .meta,
        ])
}
