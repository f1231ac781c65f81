import Foundation

/// One bound parameter as sent to libpq: NULL, text format, or binary format, with its type OID.
///
/// An OID of 0 lets the server infer the type from context, which is what plain strings want.
public enum PostgresData: Sendable, Hashable {
    case null
    case text(String, oid: UInt32)
    case binary([UInt8], oid: UInt32)
}

/// A Swift value that can be bound as a query parameter.
public protocol PostgresEncodable: Sendable {
    var postgresData: PostgresData { get }
}

/// Type OIDs of the built-in types this client binds (from `pg_type.dat`; they never change).
enum PostgresOID {
    static let unknown: UInt32 = 0
    static let bool: UInt32 = 16
    static let bytea: UInt32 = 17
    static let int8: UInt32 = 20
    static let int4: UInt32 = 23
    static let float8: UInt32 = 701
    static let textArray: UInt32 = 1009
    static let date: UInt32 = 1082
    static let timestamptz: UInt32 = 1184
    static let uuid: UInt32 = 2950
    static let uuidArray: UInt32 = 2951
    static let jsonb: UInt32 = 3802
}

/// A value already in its bound form binds as itself.
extension PostgresData: PostgresEncodable {
    public var postgresData: PostgresData { self }
}

extension String: PostgresEncodable {
    public var postgresData: PostgresData { .text(self, oid: PostgresOID.unknown) }
}

extension Substring: PostgresEncodable {
    public var postgresData: PostgresData { .text(String(self), oid: PostgresOID.unknown) }
}

extension Int: PostgresEncodable {
    public var postgresData: PostgresData { .text(String(self), oid: PostgresOID.int8) }
}

extension Int64: PostgresEncodable {
    public var postgresData: PostgresData { .text(String(self), oid: PostgresOID.int8) }
}

extension Int32: PostgresEncodable {
    public var postgresData: PostgresData { .text(String(self), oid: PostgresOID.int4) }
}

extension Double: PostgresEncodable {
    /// Swift's shortest round-tripping representation; Postgres spells the specials differently.
    public var postgresData: PostgresData {
        let text: String
        if self.isNaN {
            text = "NaN"
        } else if self.isInfinite {
            text = self < 0 ? "-Infinity" : "Infinity"
        } else {
            text = String(self)
        }
        return .text(text, oid: PostgresOID.float8)
    }
}

extension Bool: PostgresEncodable {
    public var postgresData: PostgresData { .text(self ? "true" : "false", oid: PostgresOID.bool) }
}

extension UUID: PostgresEncodable {
    public var postgresData: PostgresData { .text(self.uuidString, oid: PostgresOID.uuid) }
}

extension Date: PostgresEncodable {
    /// ISO 8601 in UTC with microseconds, the precision of `timestamptz`.
    public var postgresData: PostgresData { .text(PostgresTimestamp.format(self), oid: PostgresOID.timestamptz) }
}

/// A JSON document bound as, and decoded from, `jsonb`. Holds the JSON text unparsed, so callers choose
/// their own coder.
public struct PostgresJSONB: Sendable, Hashable {
    public var json: String

    public init(_ json: String) {
        self.json = json
    }
}

extension PostgresJSONB: PostgresEncodable {
    public var postgresData: PostgresData { .text(self.json, oid: PostgresOID.jsonb) }
}

/// A calendar date (a `date` column) with no time zone, so it cannot drift by a day the way a `Date` can.
public struct PostgresDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// `YYYY-MM-DD`, the form Postgres reads and (with `DateStyle ISO`) writes.
    public var description: String {
        let year = String(self.year)
        return String(repeating: "0", count: max(0, 4 - year.count)) + year + "-"
            + PostgresTimestamp.twoDigits(self.month) + "-" + PostgresTimestamp.twoDigits(self.day)
    }

    public static func < (lhs: PostgresDate, rhs: PostgresDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }
}

extension PostgresDate: PostgresEncodable {
    public var postgresData: PostgresData { .text(self.description, oid: PostgresOID.date) }
}

/// An element type that arrays of it can be bound and decoded as a single Postgres value.
///
/// Swift allows only one conditional conformance of `Array` to a protocol, so `[String]`, `[UUID]` and
/// `[UInt8]` (bytea) all go through this one requirement.
public protocol PostgresArrayElement: Sendable {
    static func postgresData(for array: [Self]) -> PostgresData
    static func decodeArray(postgresText: String) throws -> [Self]
}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public var postgresData: PostgresData { Element.postgresData(for: self) }
}

extension UInt8: PostgresArrayElement {
    /// Binary format: bytes go over the wire untouched, zero bytes included.
    public static func postgresData(for array: [UInt8]) -> PostgresData {
        .binary(array, oid: PostgresOID.bytea)
    }

    /// Parses the `hex` bytea output format, `\x0a1b…`.
    public static func decodeArray(postgresText: String) throws -> [UInt8] {
        let utf8 = Array(postgresText.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            throw PostgresError(code: .decoding, message: "bytea is not in hex output format")
        }
        func nibble(_ c: UInt8) throws -> UInt8 {
            guard let value = hexDigitValue(c) else {
                throw PostgresError(code: .decoding, message: "bytea contains a non-hex digit")
            }
            return value
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2 - 1)
        var index = 2
        while index < utf8.count {
            bytes.append(try nibble(utf8[index]) << 4 | nibble(utf8[index + 1]))
            index += 2
        }
        return bytes
    }
}

extension String: PostgresArrayElement {
    public static func postgresData(for array: [String]) -> PostgresData {
        .text(PostgresArrayLiteral.format(array), oid: PostgresOID.textArray)
    }

    public static func decodeArray(postgresText: String) throws -> [String] {
        try PostgresArrayLiteral.parse(postgresText).enumerated().map { index, element in
            guard let element else {
                throw PostgresError(code: .decoding, message: "array element \(index + 1) is NULL")
            }
            return element
        }
    }
}

extension UUID: PostgresArrayElement {
    /// Binary `uuid[]` (`array_recv`): a header, then each id as a length and its 16 bytes. A group
    /// push binds 50,000-100,000 ids; as a text literal PostgreSQL spent about 30 ms parsing 50,000
    /// of them at bind time, where the binary form is copied.
    public static func postgresData(for array: [UUID]) -> PostgresData {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20 + array.count * 20)
        func append(_ value: Int32) {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        append(array.isEmpty ? 0 : 1)  // dimensions; an empty array has none
        append(0)  // flags: no NULLs
        append(Int32(bitPattern: PostgresOID.uuid))
        if !array.isEmpty {
            append(Int32(array.count))  // length of the one dimension
            append(1)  // its lower bound
        }
        for id in array {
            append(16)
            withUnsafeBytes(of: id.uuid) { bytes.append(contentsOf: $0) }
        }
        return .binary(bytes, oid: PostgresOID.uuidArray)
    }

    public static func decodeArray(postgresText: String) throws -> [UUID] {
        try String.decodeArray(postgresText: postgresText).map { try UUID(postgresText: $0) }
    }
}

/// A one-dimensional array bound as its text literal with no type of its own, so the statement's
/// cast (`\(array)::uuid[]`) gives the elements their type and the server parses each once. Elements
/// may be NULL. For columns sent as parallel arrays and `unnest`ed: thousands of rows in one bind.
public struct PostgresArrayText: PostgresEncodable {
    public var elements: [String?]

    /// Each value as it would be bound on its own (text), nil as NULL; an element may itself be an
    /// array (`[String]`), sent as its literal for the statement to cast row by row.
    public init<Value: PostgresEncodable>(_ values: [Value?]) {
        elements = values.map { value in
            guard let value else { return nil }
            guard case .text(let text, _) = value.postgresData else {
                preconditionFailure("binary values have no array text")
            }
            return text
        }
    }

    public var postgresData: PostgresData { .text(PostgresArrayLiteral.format(elements), oid: PostgresOID.unknown) }
}

/// The one-dimensional array literal syntax, `{"a","b\"c",NULL}`.
enum PostgresArrayLiteral {
    /// Quotes every element so that commas, braces, spaces and the word NULL are taken literally.
    static func format(_ elements: [String]) -> String {
        format(elements.map(Optional.some))
    }

    /// As `format(_:)`, with nil as an unquoted `NULL`. Works on UTF-8 bytes: the two characters
    /// escaped are ASCII, and no byte of a multi-byte character is ASCII (event flushes format
    /// thousands of values a second, and walking them as `Character`s cost more than the rest).
    static func format(_ elements: [String?]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(elements.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (index, element) in elements.enumerated() {
            if index > 0 {
                bytes.append(UInt8(ascii: ","))
            }
            guard let element else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(UInt8(ascii: "\""))
            for byte in element.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    bytes.append(UInt8(ascii: "\\"))
                }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses array output; an unquoted `NULL` is a NULL element, a quoted one is the string "NULL".
    static func parse(_ text: String) throws -> [String?] {
        var scalars = Substring(text).unicodeScalars
        // Arrays with non-default bounds are printed as `[0:1]={…}`.
        if scalars.first == "[", let equals = scalars.firstIndex(of: "=") {
            scalars = scalars[scalars.index(after: equals)...]
        }
        guard scalars.first == "{", scalars.last == "}" else {
            throw PostgresError(code: .decoding, message: "not an array literal")
        }
        scalars = scalars.dropFirst().dropLast()
        var elements: [String?] = []
        guard !scalars.isEmpty else { return elements }
        var current = String.UnicodeScalarView()
        var quoted = false
        var wasQuoted = false
        var escaped = false
        func finish() throws {
            let value = String(current)
            if !wasQuoted && value.contains("{") {
                throw PostgresError(code: .decoding, message: "multi-dimensional arrays are not supported")
            }
            elements.append(!wasQuoted && value == "NULL" ? nil : value)
            current = String.UnicodeScalarView()
            wasQuoted = false
        }
        for scalar in scalars {
            if escaped {
                current.append(scalar)
                escaped = false
            } else if scalar == "\\" {
                escaped = true
            } else if scalar == "\"" {
                quoted.toggle()
                wasQuoted = true
            } else if scalar == "," && !quoted {
                try finish()
            } else {
                current.append(scalar)
            }
        }
        try finish()
        return elements
    }
}
