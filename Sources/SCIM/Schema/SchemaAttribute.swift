/// One attribute definition as RFC 7643 §7 describes it.
///
/// The catalog built from these drives everything that must agree on what an attribute is:
/// discovery documents, lenient normalisation, PATCH validation and attribute projection.
public struct SchemaAttribute: Sendable, Hashable {
    /// RFC 7643 §2.3 data types.
    public enum DataType: String, Sendable, Hashable {
        case string, boolean, decimal, integer, dateTime, reference, complex, binary
    }

    /// RFC 7643 §7 `mutability`.
    public enum Mutability: String, Sendable, Hashable {
        case readOnly, readWrite, immutable, writeOnly
    }

    /// RFC 7643 §7 `returned`.
    public enum Returned: String, Sendable, Hashable {
        case always, never, `default`, request
    }

    /// RFC 7643 §7 `uniqueness`.
    public enum Uniqueness: String, Sendable, Hashable {
        case none, server, global
    }

    /// A lexical rule checked beyond the RFC type, because Learn Amp stores the value typed.
    /// Not part of the RFC schema representation, so discovery only mentions it in `description`.
    public enum Format: Sendable, Hashable {
        /// `YYYY-MM-DD`, a real calendar date.
        case calendarDate
        /// An IANA time zone name such as `Europe/London`.
        case timeZone
        /// Only the `canonicalValues` are accepted (RFC 7643 lets servers accept others; enum custom
        /// fields cannot).
        case canonicalValuesOnly
    }

    public var name: String
    public var type: DataType
    public var multiValued: Bool
    public var required: Bool
    public var caseExact: Bool
    public var mutability: Mutability
    public var returned: Returned
    public var uniqueness: Uniqueness
    public var subAttributes: [SchemaAttribute]
    public var canonicalValues: [String]
    public var referenceTypes: [String]
    public var description: String
    public var format: Format?
    /// Whether clients send this server-computed value back with what they write (Okta sends each
    /// group member's `display`). Such a value is declared `readOnly` yet checked and kept as input
    /// like a writable one; whatever consumes the input ignores it.
    public var echoedByClients: Bool

    public init(
        _ name: String,
        type: DataType = .string,
        multiValued: Bool = false,
        required: Bool = false,
        caseExact: Bool = false,
        mutability: Mutability = .readWrite,
        returned: Returned = .default,
        uniqueness: Uniqueness = .none,
        subAttributes: [SchemaAttribute] = [],
        canonicalValues: [String] = [],
        referenceTypes: [String] = [],
        description: String,
        format: Format? = nil,
        echoedByClients: Bool = false
    ) {
        self.name = name
        self.type = type
        self.multiValued = multiValued
        self.required = required
        self.caseExact = caseExact
        self.mutability = mutability
        self.returned = returned
        self.uniqueness = uniqueness
        self.subAttributes = subAttributes
        self.canonicalValues = canonicalValues
        self.referenceTypes = referenceTypes
        self.description = description
        self.format = format
        self.echoedByClients = echoedByClients
    }

    /// The sub-attribute called `name`, compared case-insensitively (RFC 7643 §2.1).
    public func subAttribute(named name: String) -> SchemaAttribute? {
        subAttributes.first { $0.name.caseInsensitiveEquals(name) }
    }

    /// Whether input for this attribute is dropped or refused: `readOnly` values are server-owned, except
    /// those `echoedByClients`, which input handling treats as writable.
    public var isReadOnly: Bool { mutability == .readOnly && !echoedByClients }

    /// The RFC 7643 §7 representation used by `/Schemas`.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "name": .string(name),
            "type": .string(type.rawValue),
            "multiValued": .bool(multiValued),
            "description": .string(description),
            "required": .bool(required),
            "mutability": .string(mutability.rawValue),
            "returned": .string(returned.rawValue),
        ]
        if type != .complex && type != .boolean {
            object["caseExact"] = .bool(caseExact)
            object["uniqueness"] = .string(uniqueness.rawValue)
        }
        if !subAttributes.isEmpty { object["subAttributes"] = .array(subAttributes.map(\.json)) }
        if !canonicalValues.isEmpty { object["canonicalValues"] = .array(canonicalValues.map(JSONValue.string)) }
        if !referenceTypes.isEmpty { object["referenceTypes"] = .array(referenceTypes.map(JSONValue.string)) }
        return .object(object)
    }
}

extension String {
    /// ASCII-insensitive comparison, the rule RFC 7643 §2.1 sets for attribute names and URNs. Byte by
    /// byte with ASCII letters folded, never building lowercased copies: it runs for every attribute of
    /// every resource a response projects.
    public func caseInsensitiveEquals(_ other: String) -> Bool {
        utf8.count == other.utf8.count
            && zip(utf8, other.utf8).allSatisfy { a, b in a == b || (a | 0x20 == b | 0x20 && (a | 0x20) &- 0x61 < 26) }
    }

    /// Whether `trimmingCharacters(in: .whitespaces)` would leave nothing (tabs and Unicode space
    /// separators only), without bridging to `NSString`, which showed in the profiles of list
    /// requests and of every user written.
    var isBlank: Bool {
        unicodeScalars.allSatisfy { $0 == "\t" || $0.properties.generalCategory == .spaceSeparator }
    }
}
