import Foundation

/// A SCIM Group, which in Learn Amp is a team. Members are users only: nested groups are not supported.
public struct Group: Sendable, Equatable {
    public var displayName: String
    public var externalID: String?
    /// Member user ids as the client sent them (validated as users of the organisation by the store).
    public var members: MemberList

    public init(displayName: String, externalID: String? = nil, members: MemberList = []) {
        self.displayName = displayName
        self.externalID = externalID
        self.members = members
    }

    /// Builds a group from a POST/PUT body (after `Normaliser`). `extractedMembers` are the members
    /// `JSONValue.parseGroup` took out of the body, if it did; otherwise they are read from `json`.
    /// - Throws: `invalidValue` for a missing or empty displayName, a member without a value, or a
    ///   member whose type is `Group` (nested groups are not supported); `tooMany` beyond
    ///   `limits.maxMembersPerRequest` members.
    public init(json: JSONValue, extractedMembers: MemberList? = nil, limits: ServiceLimits = .default)
        throws(SCIMError)
    {
        guard case .object = json else { throw .invalidSyntax("A Group must be a JSON object.") }
        guard case .string(let name)? = json[caseInsensitive: "displayName"],
            !name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else { throw .invalidValue("displayName is required.") }
        guard name.count <= 255 else { throw .invalidValue("displayName is longer than 255 characters.") }
        self.init(displayName: name.trimmingCharacters(in: .whitespacesAndNewlines))
        switch json[caseInsensitive: "externalId"] {
        case nil, .null?: externalID = nil
        case .string(let value)?:
            // Indexed: a Postgres btree entry must stay under ~2.7 kB.
            guard value.count <= User.maximumStringLength else {
                throw .invalidValue("externalId is longer than \(User.maximumStringLength) characters.")
            }
            externalID = value
        default: throw .invalidValue("externalId must be a string.")
        }
        switch json[caseInsensitive: "members"] {
        case nil, .null?: members = extractedMembers ?? []
        case .array(let elements)?:
            guard elements.count <= limits.maxMembersPerRequest else { throw Self.tooMany(limits) }
            for element in elements {
                guard case .string(let value)? = element[caseInsensitive: "value"], !value.isEmpty else {
                    throw .invalidValue("Each member needs a value (a user id).")
                }
                if element[caseInsensitive: "type"]?.stringValue?.lowercased() == "group" {
                    throw .invalidValue("Nested groups are not supported: members must be users.")
                }
                members.append(value)
            }
        default: throw .invalidValue("members must be an array.")
        }
        guard members.count <= limits.maxMembersPerRequest else { throw Self.tooMany(limits) }
    }

    private static func tooMany(_ limits: ServiceLimits) -> SCIMError {
        .tooMany("A request may carry at most \(limits.maxMembersPerRequest) members.")
    }
}

/// Server-side facts of a stored group.
public struct GroupMetadata: Sendable, Equatable {
    public var id: UUID
    public var created: Date
    public var lastModified: Date
    public var version: Int64

    public init(id: UUID, created: Date, lastModified: Date, version: Int64) {
        self.id = id
        self.created = created
        self.lastModified = lastModified
        self.version = version
    }

    public var etag: String { "W/\"\(version)\"" }
}

extension Group {
    /// Renders the group; `members` is nil when they were not loaded (not asked for), in which case
    /// the attribute is left out rather than shown empty.
    public static func json(
        displayName: String, externalID: String?, members: [User.Reference]?, metadata: GroupMetadata, baseURL: String
    ) -> JSONValue {
        let id = metadata.id.lowercasedString
        var object: [String: JSONValue] = [
            "schemas": [.string(SchemaURN.group)],
            "id": .string(id),
            "displayName": .string(displayName),
            "meta": .object([
                "resourceType": "Group",
                "created": .string(SCIMDate.format(metadata.created)),
                "lastModified": .string(SCIMDate.format(metadata.lastModified)),
                "location": .string("\(baseURL)/Groups/\(id)"),
                "version": .string(metadata.etag),
            ]),
        ]
        object["externalId"] = externalID.map(JSONValue.string)
        if let members {
            object["members"] = .array(
                members.map { member in
                    var element: [String: JSONValue] = [
                        "value": .string(member.id.lowercasedString),
                        "$ref": .string("\(baseURL)/Users/\(member.id.lowercasedString)"),
                        "type": "User",
                    ]
                    element["display"] = member.display.map(JSONValue.string)
                    return .object(element)
                })
        }
        return .object(object)
    }
}
