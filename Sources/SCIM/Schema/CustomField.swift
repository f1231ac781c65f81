/// An organisation's mapping of one SCIM attribute to a Learn Amp custom field.
///
/// Support staff configure these per organisation, so the User resource type is built at request time
/// with `ResourceType.user(customFields:)` rather than being a constant. The attribute may live in any
/// namespace a client sends:
/// - the Learn Amp extension, where the mapping defines the attribute;
/// - the enterprise extension or the core schema, naming an attribute this server already keeps
///   (`costCenter`, `title`): the value is stored there as always, and copied into the custom field;
/// - the core schema, naming a standard attribute this server does not keep (`userType`, `locale`):
///   the mapping adds it to the core schema;
/// - a customer's own extension (`urn:ietf:params:scim:schemas:extension:acme:2.0:User`): the
///   mapping adds the attribute to that extension, which the User resource type then carries.
public struct CustomFieldDefinition: Sendable, Hashable {
    /// The URN of the schema the attribute belongs to, in its canonical spelling.
    public var schemaURN: String
    /// Attribute name inside that schema, e.g. `costCentre`.
    public var name: String
    public var type: CustomFieldType

    public init(name: String, type: CustomFieldType, schemaURN: String = SchemaURN.learnAmpUser) {
        self.schemaURN = schemaURN
        self.name = name
        self.type = type
    }

    /// The key of the value in `User.customFields`: the bare name in the Learn Amp extension,
    /// the full path (`urn:…:User:costCenter`) in any other namespace.
    public var key: String {
        schemaURN == SchemaURN.learnAmpUser ? name : "\(schemaURN):\(name)"
    }

    /// The name `PatchResult.changedAttributes` gives the attribute: bare for core, else the full path.
    public var qualifiedName: String {
        schemaURN == SchemaURN.user ? name : "\(schemaURN):\(name)"
    }

    /// Whether the attribute is one this server already keeps in its own column (enterprise
    /// `costCenter`, core `title`): its value is read from there, rendered from there, and only copied
    /// into the custom field.
    public var isBuiltIn: Bool {
        switch schemaURN {
        case SchemaURN.user: ResourceSchema.user.attribute(named: name) != nil
        case SchemaURN.enterpriseUser: true
        default: false
        }
    }

    /// The schema attribute a client sees: typed so the normaliser rejects wrong values with `invalidValue`.
    var attribute: SchemaAttribute {
        let owner =
            schemaURN == SchemaURN.learnAmpUser ? "Learn Amp custom field" : "Mapped to a Learn Amp custom field"
        switch type {
        case .string:
            return SchemaAttribute(name, description: "\(owner) (text).")
        case .number:
            return SchemaAttribute(name, type: .decimal, description: "\(owner) (number).")
        case .boolean:
            return SchemaAttribute(name, type: .boolean, description: "\(owner) (true or false).")
        case .date:
            return SchemaAttribute(name, description: "\(owner) (date, YYYY-MM-DD).", format: .calendarDate)
        case .enum(let allowed):
            return SchemaAttribute(
                name, canonicalValues: allowed, description: "\(owner) (one of the canonical values).",
                format: .canonicalValuesOnly)
        }
    }
}

/// The value types a Learn Amp custom field can hold.
public enum CustomFieldType: Sendable, Hashable {
    case string
    case number
    case boolean
    case date
    case `enum`(allowed: [String])
}
