/// A JSON document as SCIM sees it: resources are schemaless on the wire, and PATCH, projection and
/// lenient normalisation all work on this tree before anything is typed.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue {
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var numberValue: Double? { if case .number(let n) = self { n } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    public var isNull: Bool { if case .null = self { true } else { false } }

    /// Member lookup by name, case-insensitively (RFC 7643 §2.1: attribute names are case-insensitive).
    public subscript(caseInsensitive key: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        if let exact = object[key] { return exact }
        let lowered = key.lowercased()
        return object.first { $0.key.lowercased() == lowered }?.value
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByStringInterpolation, ExpressibleByBooleanLiteral,
    ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let n):
            if let integer = Int64(exactly: n) { try container.encode(integer) } else { try container.encode(n) }
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

extension JSONValue {
    /// Maximum nesting accepted from clients; deeper documents are hostile, not real SCIM.
    public static let maximumDepth = 32

    /// Parses a request body. Malformed JSON or nesting deeper than `maximumDepth` is `invalidSyntax`;
    /// a string or member name holding U+0000 is `invalidValue` (Postgres text cannot store it, and
    /// libpq would silently cut the value short at it). Parsed by `JSONParser`, strictly to RFC 8259,
    /// which never descends past `maximumDepth`.
    public static func parse(_ bytes: some Collection<UInt8>) throws(SCIMError) -> JSONValue {
        do throws(JSONParser.Failure) {
            return try JSONParser.parse(bytes, maximumDepth: maximumDepth)
        } catch {
            throw failure(error)
        }
    }

    /// Parses a POST or PUT /Groups body as `parse(_:)` does, except that a plain top-level
    /// `members` array is returned as a `MemberList` (16 bytes a member) rather than in the tree
    /// (about 400): Okta pushes groups of 100,000 members in one PUT.
    /// - Throws: as `parse(_:)`.
    public static func parseGroup(_ bytes: some Collection<UInt8>) throws(SCIMError) -> GroupRequestBody {
        try parseGroup(bytes, extracting: .resource)
    }

    private static func parseGroup(
        _ bytes: some Collection<UInt8>, extracting shape: JSONParser.MemberArrays
    ) throws(SCIMError) -> GroupRequestBody {
        do throws(JSONParser.Failure) {
            let (json, members) = try JSONParser.parse(bytes, maximumDepth: maximumDepth, extracting: shape)
            return GroupRequestBody(json: json, members: members)
        } catch {
            throw failure(error)
        }
    }

    private static func failure(_ error: JSONParser.Failure) -> SCIMError {
        switch error {
        case .syntax: .invalidSyntax("The request body is not valid JSON.")
        case .tooDeep: .invalidSyntax("The request body nests deeper than \(maximumDepth) levels.")
        case .nul: .invalidValue("Strings may not contain the NUL character (U+0000).")
        case .duplicateName(let name):
            .invalidSyntax("The request body names the member \"\(name)\" twice in one object.")
        }
    }

    /// Nesting depth: 0 for a scalar, 1 for a flat array or object.
    public var depth: Int {
        switch self {
        case .array(let a): 1 + (a.map(\.depth).max() ?? 0)
        case .object(let o): 1 + (o.values.map(\.depth).max() ?? 0)
        default: 0
        }
    }

    /// Serialises compactly with sorted keys, so responses are deterministic.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        write(into: &out)
        return out
    }

    private func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n):
            // Every integral value a 64-bit integer holds is written as a JSON integer, never `9.2e+18`.
            if let integer = Int64(exactly: n) {
                out.append(contentsOf: String(integer).utf8)
            } else if n.isFinite {
                out.append(contentsOf: "\(n)".utf8)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            // Sorted members rather than sorted keys: no second hash lookup per member.
            for (i, member) in o.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                member.value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// The bytes `writeString(_:into:)` appends for `s`, quotes included.
    static func escapedByteCount(_ s: String) -> Int {
        var count = 2
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A, 0x0D, 0x09: count += 2
            case ..<0x20: count += 6
            default: count += 1
            }
        }
        return count
    }

    /// Copies runs that need no escaping in one go: most strings have none, and appending byte by
    /// byte was the largest part of writing a response.
    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            var run = 0
            for (index, byte) in bytes.enumerated()
            where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index]))
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
                case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
                case 0x0A: out.append(contentsOf: "\\n".utf8)
                case 0x0D: out.append(contentsOf: "\\r".utf8)
                case 0x09: out.append(contentsOf: "\\t".utf8)
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(hex[Int(byte >> 4)])
                    out.append(hex[Int(byte & 0xF)])
                }
                run = index + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
