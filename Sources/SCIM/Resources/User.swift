import Foundation

/// A Learn Amp person as SCIM sees them: core User, enterprise extension and the Learn Amp extension.
///
/// Built from canonical JSON (after `Normaliser`), validated once here, so the store only ever receives
/// values that satisfy Learn Amp's rules.
public struct User: Sendable, Equatable {
    public struct Email: Sendable, Equatable {
        public var value: String
        public var type: String?
        public var primary: Bool
        public var display: String?

        public init(value: String, type: String? = nil, primary: Bool = false, display: String? = nil) {
            self.value = value
            self.type = type
            self.primary = primary
            self.display = display
        }
    }

    /// A reference to another resource (a manager, a team) as returned on reads.
    public struct Reference: Sendable, Equatable {
        public var id: UUID
        public var display: String?
        public init(id: UUID, display: String? = nil) {
            self.id = id
            self.display = display
        }
    }

    // Writable attributes.
    public var userName: String
    public var externalID: String?
    public var givenName: String?
    public var familyName: String?
    public var formattedName: String?
    public var displayName: String?
    public var emails: [Email]
    public var title: String?
    public var timezone: String?
    public var active: Bool
    public var employeeNumber: String?
    public var costCenter: String?
    public var organization: String?
    public var division: String?
    public var department: String?
    /// The manager as the client named them: a SCIM id or an email/userName. Resolved by the store.
    public var managerReference: String?
    /// `YYYY-MM-DD`.
    public var hireDate: String?
    /// Mapped custom fields, keyed by `CustomFieldDefinition.key`: the attribute name inside the Learn
    /// Amp extension, or the attribute's full path in any other namespace.
    public var customFields: [String: JSONValue]

    public init(userName: String) {
        self.userName = userName
        self.emails = []
        self.active = true
        self.customFields = [:]
    }

    /// The login email: the primary email, else the work email, else the first, else the userName
    /// (which `init(json:customFields:)` requires to be an email address when no email is sent).
    public var primaryEmail: String {
        (emails.first(where: \.primary) ?? emails.first(where: { $0.type?.lowercased() == "work" }) ?? emails.first)?
            .value
            ?? userName
    }
}

/// Read-only facts the server adds to a stored user.
public struct UserMetadata: Sendable, Equatable {
    public var id: UUID
    public var created: Date
    public var lastModified: Date
    public var version: Int64
    /// The resolved manager, if any.
    public var manager: User.Reference?
    /// Team memberships, shown as the read-only `groups` attribute.
    public var groups: [User.Reference]
    /// The team set from the department.
    public var primaryTeam: User.Reference?

    public init(
        id: UUID, created: Date, lastModified: Date, version: Int64, manager: User.Reference? = nil,
        groups: [User.Reference] = [], primaryTeam: User.Reference? = nil
    ) {
        self.id = id
        self.created = created
        self.lastModified = lastModified
        self.version = version
        self.manager = manager
        self.groups = groups
        self.primaryTeam = primaryTeam
    }

    /// The weak ETag for `meta.version` and the `ETag` header.
    public var etag: String { "W/\"\(version)\"" }
}
