/// An organisation's mapping of one Learn Amp custom field into the Learn Amp SCIM extension.
///
/// Support staff configure these per organisation, so the Learn Amp schema is built at request time
/// with `ResourceSchema.learnAmpUser(customFields:)` rather than being a constant.
public struct CustomFieldDefinition: Sendable, Hashable {
    /// Attribute name inside the Learn Amp extension, e.g. `costCentre`.
    public var name: String
    public var type: CustomFieldType

    public init(name: String, type: CustomFieldType) {
        self.name = name
        self.type = type
    }

    /// The schema attribute a client sees: typed so the normaliser rejects wrong values with `invalidValue`.
    var attribute: SchemaAttribute {
        switch type {
        case .string:
            SchemaAttribute(name, description: "Learn Amp custom field (text).")
        case .number:
            SchemaAttribute(name, type: .decimal, description: "Learn Amp custom field (number).")
        case .boolean:
            SchemaAttribute(name, type: .boolean, description: "Learn Amp custom field (true or false).")
        case .date:
            SchemaAttribute(
                name, description: "Learn Amp custom field (date, YYYY-MM-DD).", format: .calendarDate)
        case .enum(let allowed):
            SchemaAttribute(
                name, canonicalValues: allowed,
                description: "Learn Amp custom field (one of the canonical values).", format: .canonicalValuesOnly)
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
