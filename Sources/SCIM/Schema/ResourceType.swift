/// A resource type (RFC 7643 §6) together with the schemas that define it.
///
/// Carrying the schemas, not only their URNs, lets every piece of logic that needs to know "what is
/// `manager.value` on a User in this organisation" take one value.
public struct ResourceType: Sendable, Hashable {
    /// `User` or `Group`.
    public var id: String
    /// Endpoint relative to the SCIM base URL, e.g. `/Users`.
    public var endpoint: String
    public var description: String
    public var schema: ResourceSchema
    /// Extensions a resource may carry; none is required.
    public var extensions: [ResourceSchema]

    public init(id: String, endpoint: String, description: String, schema: ResourceSchema, extensions: [ResourceSchema])
    {
        self.id = id
        self.endpoint = endpoint
        self.description = description
        self.schema = schema
        self.extensions = extensions
    }

    /// Users, with the organisation's custom fields: the Learn Amp extension's in that extension, a
    /// mapped standard attribute this server does not keep in the core schema, and a customer
    /// extension's in an extension of its own (one per namespace, in the order first mapped).
    /// Mappings of attributes the catalog already has (enterprise `costCenter`) change nothing here.
    public static func user(customFields: [CustomFieldDefinition] = []) -> ResourceType {
        guard !customFields.isEmpty else {
            return ResourceType(
                id: "User", endpoint: "/Users", description: "Learn Amp users.", schema: .user,
                extensions: [.enterpriseUser, .learnAmpUser(customFields: [])])
        }
        var core = ResourceSchema.user
        var learnAmp: [CustomFieldDefinition] = []
        var customer: [ResourceSchema] = []
        for definition in customFields {
            switch definition.schemaURN {
            case SchemaURN.learnAmpUser:
                learnAmp.append(definition)
            case SchemaURN.user:
                if core.attribute(named: definition.name) == nil { core.attributes.append(definition.attribute) }
            case SchemaURN.enterpriseUser:
                break
            default:
                if let index = customer.firstIndex(where: { $0.id == definition.schemaURN }) {
                    customer[index].attributes.append(definition.attribute)
                } else {
                    customer.append(
                        ResourceSchema(
                            id: definition.schemaURN, name: "CustomerExtension",
                            description:
                                "The organisation's own extension, as far as it maps to Learn Amp custom fields.",
                            attributes: [definition.attribute]))
                }
            }
        }
        return ResourceType(
            id: "User", endpoint: "/Users", description: "Learn Amp users.", schema: core,
            extensions: [.enterpriseUser, .learnAmpUser(customFields: learnAmp)] + customer)
    }

    /// Groups, which Learn Amp stores as teams.
    public static let group = ResourceType(
        id: "Group", endpoint: "/Groups", description: "Learn Amp teams.", schema: .group, extensions: [])

    /// The core schema followed by the extensions.
    public var allSchemas: [ResourceSchema] { [schema] + extensions }

    /// The core schema or extension whose URN is `urn`, compared case-insensitively.
    public func schema(urn: String) -> ResourceSchema? {
        // Without `allSchemas`, which builds an array: projection asks this for every member it writes.
        schema.id.caseInsensitiveEquals(urn) ? schema : extensions.first { $0.id.caseInsensitiveEquals(urn) }
    }

    /// Resolves `[urn:]name[.sub]` to its definition; `nil` when this resource type has no such attribute.
    ///
    /// Without a URN the core schema wins and the extensions are searched next, so a client that
    /// forgets the URN of an extension attribute (`department`) is still understood.
    public func resolve(_ path: AttributePath) -> ResolvedAttribute? {
        guard case .attribute(let resolved) = locate(path) else { return nil }
        return resolved
    }

    /// Resolves an attribute written as text (`name.givenName`, `urn:…:User:manager.value`).
    public func resolve(_ text: String) -> ResolvedAttribute? {
        guard case .attribute(let resolved) = locate(text) else { return nil }
        return resolved
    }

    /// What a path or attribute name designates: one attribute, or a whole schema (`urn:…:enterprise:2.0:User`).
    enum Target: Hashable {
        case attribute(ResolvedAttribute)
        case schema(ResourceSchema)
    }

    /// Like `resolve`, but also recognises a bare extension URN. Tolerates the filter parser splitting
    /// a URN anywhere, by rejoining it before matching against the known URNs.
    func locate(_ path: AttributePath) -> Target? {
        var text = (path.schema.map { "\($0):" } ?? "") + path.name
        if let sub = path.subAttribute { text += ".\(sub)" }
        return locate(text)
    }

    func locate(_ text: String) -> Target? {
        var rest = Substring(text)
        var owner: ResourceSchema?
        if text.utf8.count >= 4, String(text.prefix(4)).caseInsensitiveEquals("urn:") {
            let lowered = text.lowercased()
            // Longest URN first, so a core URN never shadows an extension that shares its prefix.
            for candidate in allSchemas.sorted(by: { $0.id.count > $1.id.count }) {
                let urn = candidate.id.lowercased()
                if lowered == urn { return .schema(candidate) }
                if lowered.hasPrefix(urn + ":") {
                    owner = candidate
                    rest = text.dropFirst(urn.count + 1)
                    break
                }
            }
            guard owner != nil else { return nil }
        }
        return locate(rest, in: owner)
    }

    /// An attribute path (`name[.sub]`) within `owner`, or without one in the core schema, then the
    /// extensions. For a member of an extension's object, whose schema is already known.
    func locate(_ path: Substring, in owner: ResourceSchema?) -> Target? {
        let parts = path.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, !first.isEmpty else { return nil }
        let name = String(first)
        // The owner, else the core schema, else the first extension that has it; without `allSchemas`,
        // which builds an array: the normaliser resolves every member of every body it reads.
        let found: (schema: ResourceSchema, attribute: SchemaAttribute)?
        if let owner {
            found = owner.attribute(named: name).map { (owner, $0) }
        } else if let attribute = schema.attribute(named: name) {
            found = (schema, attribute)
        } else {
            found =
                extensions.lazy.compactMap { candidate in candidate.attribute(named: name).map { (candidate, $0) } }
                .first
        }
        guard let found else { return nil }
        var sub: SchemaAttribute?
        if parts.count == 2 {
            guard let named = found.attribute.subAttribute(named: String(parts[1])) else { return nil }
            sub = named
        }
        return .attribute(
            ResolvedAttribute(
                schemaURN: found.schema.id, isCore: found.schema.id == schema.id, attribute: found.attribute,
                subAttribute: sub))
    }
}

/// An attribute found in a resource type's catalog.
public struct ResolvedAttribute: Sendable, Hashable {
    /// URN of the schema that defines the attribute.
    public var schemaURN: String
    /// Whether it lives at the top level of the resource rather than inside an extension object.
    public var isCore: Bool
    public var attribute: SchemaAttribute
    public var subAttribute: SchemaAttribute?

    /// The name `PatchResult.changedAttributes` and projection use: `userName` or `urn:…:User:department`.
    public var qualifiedName: String {
        isCore ? attribute.name : "\(schemaURN):\(attribute.name)"
    }

    /// Read-only if either the attribute or the addressed sub-attribute is.
    public var isReadOnly: Bool {
        attribute.isReadOnly || (subAttribute?.isReadOnly ?? false)
    }
}
