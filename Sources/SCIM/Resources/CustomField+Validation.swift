extension CustomFieldDefinition {
    /// Checks a client's value against the mapping's type; Entra sends booleans and numbers as strings,
    /// so those are accepted when they convert exactly.
    /// - Throws: `invalidValue` naming the field and the expected type.
    public func validatedValue(_ value: JSONValue) throws(SCIMError) -> JSONValue {
        switch (type, value) {
        case (.string, .string): return value
        case (.number, .number): return value
        case (.number, .string(let text)):
            if let number = Double(text), number.isFinite { return .number(number) }
        case (.boolean, .bool): return value
        case (.boolean, .string(let text)):
            switch text.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: break
            }
        case (.date, .string(let text)):
            if User.isCalendarDate(text) { return value }
        case (.enum(let allowed), .string(let text)):
            if let match = allowed.first(where: { $0.lowercased() == text.lowercased() }) { return .string(match) }
            throw .invalidValue("\(name) must be one of: \(allowed.joined(separator: ", ")).")
        default: break
        }
        throw .invalidValue("\(name) must be a \(typeName).")
    }

    public var typeName: String {
        switch type {
        case .string: "string"
        case .number: "number"
        case .boolean: "boolean"
        case .date: "date (YYYY-MM-DD)"
        case .enum: "enum"
        }
    }
}
