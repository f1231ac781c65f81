import Foundation

/// What the normaliser made of a client's JSON: the canonical value, and a tally of what it had to fix.
///
/// The tally exists so operators can see which identity provider quirks an organisation relies on,
/// without logging request bodies.
public struct Normalisation: Sendable, Equatable {
    /// Canonical JSON: catalog spellings, core attributes at the top level, extension attributes inside
    /// their extension object under the canonical URN.
    public var value: JSONValue
    /// Rewrite kind → count.
    public var rewrites: [RewriteKind: Int]
    /// Names of attributes that were dropped because the catalog does not know them (for warnings).
    public var unknownAttributes: [String]

    public init(value: JSONValue, rewrites: [RewriteKind: Int] = [:], unknownAttributes: [String] = []) {
        self.value = value
        self.rewrites = rewrites
        self.unknownAttributes = unknownAttributes
    }
}

/// A leniency the normaliser, the PATCH decoder or the member-list parser applied to a client's input.
/// The raw value is the `kind` label of the `scim_normalisation_rewrites_total` metric.
public enum RewriteKind: String, Sendable, Hashable, CaseIterable {
    /// A name, URN, operation or canonical value spelled in another case (`DisplayName`, `"Add"`).
    case caseFolded
    /// A dotted key (`name.givenName`) in a body.
    case dottedKey
    /// A core attribute sent under the core schema's URN as a key.
    case urnKeyFlattened
    /// An extension attribute sent at the top level, without its URN.
    case extensionWithoutURN
    /// An extension object whose URN `schemas` does not list.
    case missingExtensionSchema
    /// A single value where the attribute is multi-valued.
    case singleValueWrapped
    /// A manager sent as a bare id rather than `{"value": id}`.
    case managerString
    /// A read-only attribute in a write, ignored.
    case readOnlyIgnored
    /// An `id` in a write body, ignored.
    case strayId
    /// `"True"`/`"false"` as strings for a boolean.
    case stringBoolean
    /// A number sent as a string.
    case stringNumber
    /// A date-time sent where a calendar date is kept, truncated to the date.
    case dateTruncated
    /// A PATCH operation with an empty `path`, read as no path.
    case emptyPath
}

/// The one place where what real SCIM clients send becomes canonical JSON.
///
/// Okta and Entra ID deviate from RFC 7643 in small, well-known ways (PascalCase names, `"False"`,
/// dotted and URN-qualified keys, a manager sent as a bare id, stray `id`s). Handling every one of them
/// here, driven by the schema catalog, keeps the PATCH engine and the resource layer strict.
public struct Normaliser: Sendable {
    public var resourceType: ResourceType

    public init(resourceType: ResourceType) {
        self.resourceType = resourceType
    }

    /// Normalises a POST or PUT body. Read-only attributes and nulls are dropped, and `schemas` lists
    /// the core URN plus every extension present. Extension URNs the catalog does not know are ignored.
    /// - Throws: `invalidSyntax` if the body is not an object or names an attribute twice;
    ///   `invalidValue` if a value has the wrong type, or `schemas` is missing, not an array of
    ///   strings, or does not list the resource's core schema.
    public func normalise(resource body: JSONValue) throws(SCIMError) -> Normalisation {
        var report = Report()
        guard case .object(let object) = body else {
            throw .invalidSyntax("The request body must be a JSON object.")
        }
        // RFC 7643 §3: `schemas` is required and lists the resource's core schema. Okta and Entra
        // always send it; a body without it is not a resource of this type.
        guard let listed = body[caseInsensitive: "schemas"] else {
            throw .invalidValue("schemas is required and must list \(resourceType.schema.id).")
        }
        let carried = Set(object.keys.map { $0.lowercased() })
        let declared = try declaredSchemas(listed, carried: carried, report: &report)
        guard declared.contains(resourceType.schema.id) else {
            throw .invalidValue("schemas must list \(resourceType.schema.id).")
        }
        var canonical = try attributes(of: object, report: &report).compactingNulls()

        var schemas = [resourceType.schema.id]
        for schema in resourceType.extensions {
            if canonical[schema.id]?.objectValue?.isEmpty == true { canonical[schema.id] = nil }
            if canonical[schema.id] != nil {
                if !declared.contains(schema.id) { report.count(.missingExtensionSchema) }
                schemas.append(schema.id)
            } else if declared.contains(schema.id) {
                schemas.append(schema.id)
            }
        }
        canonical["schemas"] = .array(schemas.map(JSONValue.string))
        return report.result(.object(canonical))
    }

    /// Normalises the value of a path-less PATCH operation: like a resource body, but `schemas` is
    /// ignored and nulls are kept (a null asks for the attribute to be cleared).
    /// - Throws: as `normalise(resource:)`.
    public func normalise(patchValue: JSONValue) throws(SCIMError) -> Normalisation {
        var report = Report()
        guard case .object(let object) = patchValue else {
            throw .invalidValue("A PATCH operation without a path needs an object value.")
        }
        let canonical = try attributes(of: object.filter { !$0.key.caseInsensitiveEquals("schemas") }, report: &report)
        return report.result(.object(canonical))
    }

    /// Normalises the value written to one attribute (or sub-attribute) by a PATCH with a path.
    /// - Throws: `invalidValue` if the value has the wrong type.
    func normalise(_ value: JSONValue, for attribute: SchemaAttribute, report: inout Report) throws(SCIMError)
        -> JSONValue
    {
        try normaliseAttribute(value, attribute, report: &report)
    }

    /// Normalises an element or sub-attribute value of a multi-valued attribute (PATCH value filters).
    func normaliseElement(_ value: JSONValue, of attribute: SchemaAttribute, report: inout Report) throws(SCIMError)
        -> JSONValue
    {
        try normaliseSingle(value, attribute, report: &report)
    }

    // MARK: - Objects

    /// Sorts every key of a resource-shaped object into core attributes and extension objects.
    private func attributes(of object: [String: JSONValue], report: inout Report) throws(SCIMError) -> [String:
        JSONValue]
    {
        var canonical: [String: JSONValue] = [:]
        // Sorted so that conflicts and the unknown list are reported deterministically.
        for (key, value) in object.sorted(by: { $0.key < $1.key }) where !key.caseInsensitiveEquals("schemas") {
            switch resourceType.locate(key) {
            case .schema(let schema):
                if key != schema.id { report.count(.caseFolded) }
                if schema.id == resourceType.schema.id { report.count(.urnKeyFlattened) }
                if value.isNull { continue }
                guard case .object(let inner) = value else {
                    throw .invalidValue("\(schema.id) must be an object.")
                }
                for (innerKey, innerValue) in inner.sorted(by: { $0.key < $1.key }) {
                    guard case .attribute(let resolved) = resourceType.locate(Substring(innerKey), in: schema) else {
                        report.unknown("\(schema.id):\(innerKey)")
                        continue
                    }
                    if innerKey.utf8.contains(UInt8(ascii: ".")) { report.count(.dottedKey) }
                    if !Self.spelledCanonically(innerKey, resolved) { report.count(.caseFolded) }
                    try place(resolved, innerValue, into: &canonical, report: &report)
                }
            case .attribute(let resolved):
                let qualified = key.lowercased().hasPrefix("urn:")
                if qualified {
                    report.count(.urnKeyFlattened)
                } else {
                    if key.utf8.contains(UInt8(ascii: ".")) { report.count(.dottedKey) }
                    if !resolved.isCore { report.count(.extensionWithoutURN) }
                }
                let local = qualified ? String(key.dropFirst(resolved.schemaURN.count + 1)) : key
                if !Self.spelledCanonically(local, resolved) { report.count(.caseFolded) }
                try place(resolved, value, into: &canonical, report: &report)
            case nil:
                // An extension the catalog does not know (a customer's own namespace with nothing
                // mapped): each of its attributes by full path, which is what a mapping would name.
                if case .object(let inner) = value, key.utf8.count > 4,
                    String(key.prefix(4)).caseInsensitiveEquals("urn:")
                {
                    for innerKey in inner.keys.sorted() { report.unknown("\(key):\(innerKey)") }
                } else {
                    report.unknown(key)
                }
            }
        }
        return canonical
    }

    /// Puts one resolved attribute's value where it belongs, merging with what is already there
    /// (`name.givenName` next to `name`).
    private func place(
        _ resolved: ResolvedAttribute, _ value: JSONValue, into canonical: inout [String: JSONValue],
        report: inout Report
    ) throws(SCIMError) {
        if resolved.isReadOnly {
            // Clients echo server-owned values back (Okta sends `id`); ignoring them is the RFC's advice.
            report.count(resolved.attribute.name == "id" ? .strayId : .readOnlyIgnored)
            return
        }
        let attribute = resolved.attribute
        let normalised: JSONValue
        if let sub = resolved.subAttribute {
            guard !attribute.multiValued else {
                // `emails.value` as a key cannot say which element it means.
                report.unknown("\(attribute.name).\(sub.name)")
                return
            }
            normalised = [sub.name: try normaliseScalar(value, sub, report: &report)]
        } else {
            normalised = try normaliseAttribute(value, attribute, report: &report)
        }
        if resolved.isCore {
            canonical[attribute.name] = try Self.merge(canonical[attribute.name], normalised, name: attribute.name)
        } else {
            var container = canonical[resolved.schemaURN]?.objectValue ?? [:]
            container[attribute.name] = try Self.merge(
                container[attribute.name], normalised, name: resolved.qualifiedName)
            canonical[resolved.schemaURN] = .object(container)
        }
    }

    /// Combines two spellings of the same attribute; disagreeing values are ambiguous, hence an error.
    private static func merge(_ existing: JSONValue?, _ new: JSONValue, name: String) throws(SCIMError) -> JSONValue {
        guard let existing, existing != new else { return new }
        guard case .object(var merged) = existing, case .object(let added) = new else {
            throw .invalidSyntax("Attribute \(name) is given more than once with different values.")
        }
        for (key, value) in added {
            if let old = merged[key], old != value {
                throw .invalidSyntax("Attribute \(name).\(key) is given more than once with different values.")
            }
            merged[key] = value
        }
        return .object(merged)
    }

    private static func spelledCanonically(_ written: String, _ resolved: ResolvedAttribute) -> Bool {
        let canonical = resolved.attribute.name + (resolved.subAttribute.map { ".\($0.name)" } ?? "")
        return written == canonical
    }

    /// The known schemas a body declares. An unknown one is reported unless the body carries its
    /// object (listed in `carried`, lowercased), whose attributes are then reported one by one.
    private func declaredSchemas(
        _ value: JSONValue, carried: Set<String>, report: inout Report
    ) throws(SCIMError) -> [String] {
        guard case .array(let items) = value else { throw .invalidValue("schemas must be an array of URNs.") }
        var declared: [String] = []
        for item in items {
            guard let urn = item.stringValue else { throw .invalidValue("schemas must be an array of URNs.") }
            if let schema = resourceType.schema(urn: urn) {
                if schema.id != urn { report.count(.caseFolded) }
                declared.append(schema.id)
            } else if !carried.contains(urn.lowercased()) {
                report.unknown(urn)
            }
        }
        return declared
    }

    // MARK: - Values

    private func normaliseAttribute(_ value: JSONValue, _ attribute: SchemaAttribute, report: inout Report)
        throws(SCIMError) -> JSONValue
    {
        guard attribute.multiValued else { return try normaliseSingle(value, attribute, report: &report) }
        let elements: [JSONValue]
        switch value {
        case .null: return .null
        case .array(let array): elements = array
        case .object:
            // One complex value where a list belongs is unambiguous, so it is taken as a list of one.
            report.count(.singleValueWrapped)
            elements = [value]
        default:
            // A string (`"emails":"a@example.com"`) or a number is a type error, never coerced.
            throw .invalidValue("\(attribute.name) must be an array.")
        }
        var normalised: [JSONValue] = []
        for element in elements where !element.isNull {
            normalised.append(try normaliseSingle(element, attribute, report: &report))
        }
        if normalised.count(where: { $0[caseInsensitive: "primary"] == .bool(true) }) > 1 {
            throw .invalidValue("At most one of \(attribute.name) may be primary.")
        }
        return .array(normalised)
    }

    /// One value of an attribute: a complex object, or a scalar.
    private func normaliseSingle(_ value: JSONValue, _ attribute: SchemaAttribute, report: inout Report)
        throws(SCIMError) -> JSONValue
    {
        guard attribute.type == .complex else { return try normaliseScalar(value, attribute, report: &report) }
        switch value {
        case .null:
            return .null
        case .string(let bare) where attribute.name == "manager":
            // Entra sends `manager` as the manager's id; a complex value with `value` is what it means.
            // Any other string where a complex value belongs is a type error.
            report.count(.managerString)
            return ["value": .string(bare)]
        case .object(let object):
            var canonical: [String: JSONValue] = [:]
            for (key, subValue) in object.sorted(by: { $0.key < $1.key }) {
                guard let sub = attribute.subAttribute(named: key) else {
                    report.unknown("\(attribute.name).\(key)")
                    continue
                }
                if key != sub.name { report.count(.caseFolded) }
                if sub.isReadOnly && !attribute.isReadOnly {
                    report.count(.readOnlyIgnored)
                    continue
                }
                canonical[sub.name] = try Self.merge(
                    canonical[sub.name], try normaliseScalar(subValue, sub, report: &report),
                    name: "\(attribute.name).\(sub.name)")
            }
            return .object(canonical)
        default:
            throw .invalidValue("\(attribute.name) must be an object.")
        }
    }

    private func normaliseScalar(_ value: JSONValue, _ attribute: SchemaAttribute, report: inout Report)
        throws(SCIMError) -> JSONValue
    {
        switch (attribute.type, value) {
        case (_, .null):
            return .null
        case (.complex, _):
            return try normaliseSingle(value, attribute, report: &report)
        case (.boolean, .bool):
            return value
        case (.boolean, .string(let text)) where ["true", "false"].contains(text.lowercased()):
            report.count(.stringBoolean)
            return .bool(text.lowercased() == "true")
        case (.integer, .number(let number)) where number.rounded() == number,
            (.decimal, .number(let number)):
            return .number(number)
        case (.integer, .string(let text)), (.decimal, .string(let text)):
            guard let number = Double(text.trimmingCharacters(in: .whitespaces)), number.isFinite,
                attribute.type == .decimal || number.rounded() == number
            else { throw .invalidValue("\(attribute.name) must be a number.") }
            report.count(.stringNumber)
            return .number(number)
        case (.string, .string(let text)), (.reference, .string(let text)), (.dateTime, .string(let text)),
            (.binary, .string(let text)):
            return try formatted(text, attribute, report: &report)
        default:
            throw .invalidValue("\(attribute.name) must be a \(attribute.type.rawValue).")
        }
    }

    /// Applies the Learn Amp format rules that the RFC types alone do not capture.
    private func formatted(_ text: String, _ attribute: SchemaAttribute, report: inout Report) throws(SCIMError)
        -> JSONValue
    {
        switch attribute.format {
        case nil:
            return .string(text)
        case .calendarDate:
            // Some directories send midnight timestamps for dates; the calendar date is what they mean.
            let date = text.count > 10 && text.dropFirst(10).first == "T" ? String(text.prefix(10)) : text
            guard Self.isCalendarDate(date) else {
                throw .invalidValue("\(attribute.name) must be a date in the form YYYY-MM-DD.")
            }
            if date != text { report.count(.dateTruncated) }
            return .string(date)
        case .timeZone:
            guard let canonical = Self.timeZones[text.lowercased()] else {
                throw .invalidValue("\(attribute.name) must be an IANA time zone name such as Europe/London.")
            }
            if canonical != text { report.count(.caseFolded) }
            return .string(canonical)
        case .canonicalValuesOnly:
            guard let canonical = attribute.canonicalValues.first(where: { $0.caseInsensitiveEquals(text) }) else {
                throw .invalidValue(
                    "\(attribute.name) must be one of: \(attribute.canonicalValues.joined(separator: ", ")).")
            }
            if canonical != text { report.count(.caseFolded) }
            return .string(canonical)
        }
    }

    private static let timeZones: [String: String] = {
        var zones = Dictionary(
            TimeZone.knownTimeZoneIdentifiers.map { ($0.lowercased(), $0) }, uniquingKeysWith: { first, _ in first })
        zones["utc"] = zones["utc"] ?? "UTC"
        return zones
    }()

    static func isCalendarDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (1...12).contains(month), day >= 1
        else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= lengths[month - 1]
    }
}

/// Accumulates rewrite counts and unknown names across one normalisation or one PATCH request.
struct Report {
    var rewrites: [RewriteKind: Int] = [:]
    var unknownAttributes: [String] = []

    mutating func count(_ kind: RewriteKind, by amount: Int = 1) {
        rewrites[kind, default: 0] += amount
    }

    mutating func unknown(_ name: String) {
        if !unknownAttributes.contains(name) { unknownAttributes.append(name) }
    }

    mutating func absorb(_ other: Normalisation) {
        for (kind, amount) in other.rewrites { count(kind, by: amount) }
        for name in other.unknownAttributes { unknown(name) }
    }

    func result(_ value: JSONValue) -> Normalisation {
        Normalisation(value: value, rewrites: rewrites, unknownAttributes: unknownAttributes)
    }
}

extension [String: JSONValue] {
    /// Drops null members, and objects left empty, recursively: in a resource body, null means
    /// "unassigned" (RFC 7643 §2.5).
    fileprivate func compactingNulls() -> [String: JSONValue] {
        compactMapValues { $0.compactingNulls() }
    }
}

extension JSONValue {
    fileprivate func compactingNulls() -> JSONValue? {
        switch self {
        case .null:
            return nil
        case .object(let object):
            let compacted = object.compactingNulls()
            return compacted.isEmpty ? nil : .object(compacted)
        case .array(let array):
            return .array(array.compactMap { $0.compactingNulls() })
        default:
            return self
        }
    }
}
