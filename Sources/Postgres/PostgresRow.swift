import Foundation

/// A Swift value that can be read from a column in text result format.
public protocol PostgresDecodable: Sendable {
    init(postgresText: String) throws
}

/// Lets `decode(_:as:)` turn SQL NULL into `nil` for `Optional` targets and into an error otherwise.
private protocol PostgresNullable {
    static var postgresNull: Self { get }
}

extension Optional: PostgresNullable {
    fileprivate static var postgresNull: Self { nil }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText: String) throws {
        self = .some(try Wrapped(postgresText: postgresText))
    }
}

/// The column names of one result, shared by all its rows.
struct PostgresColumns: Sendable {
    let names: [String]
    /// The first column with each name, as `SELECT a.id, b.id` yields two columns called `id`.
    let indexByName: [String: Int]

    init(names: [String]) {
        self.names = names
        self.indexByName = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// One result row, copied out of libpq so it can cross threads.
public struct PostgresRow: Sendable {
    let columns: PostgresColumns
    let values: [String?]

    public var columnNames: [String] { self.columns.names }

    /// - Throws: `PostgresError(.decoding)` if there is no such column, it is NULL and `T` is not
    ///   optional, or its text is not a valid `T`.
    public func decode<T: PostgresDecodable>(_ column: String, as: T.Type = T.self) throws -> T {
        guard let index = self.columns.indexByName[column] else {
            throw PostgresError(code: .decoding, message: "no column named \(column)")
        }
        return try self.decode(index, as: T.self)
    }

    /// NULL as `nil`. Chosen over the generic overload for optional targets, so a nullable column costs
    /// no dynamic cast to find out that `T` is optional.
    /// - Throws: `PostgresError(.decoding)` if there is no such column or its text is not a valid `T`.
    public func decode<T: PostgresDecodable>(_ column: String, as: T?.Type = T?.self) throws -> T? {
        guard let index = self.columns.indexByName[column] else {
            throw PostgresError(code: .decoding, message: "no column named \(column)")
        }
        guard self.values[index] != nil else { return nil }
        return try self.decode(index, as: T.self)
    }

    /// - Throws: `PostgresError(.decoding)` if the index is out of range, the value is NULL and `T` is
    ///   not optional, or its text is not a valid `T`.
    public func decode<T: PostgresDecodable>(_ index: Int, as: T.Type = T.self) throws -> T {
        guard self.values.indices.contains(index) else {
            throw PostgresError(code: .decoding, message: "no column at index \(index)")
        }
        let name = self.columns.names[index]
        guard let text = self.values[index] else {
            // `T` is an Optional: its `postgresNull` is a `T`.
            if let nullable = T.self as? any PostgresNullable.Type, let null = nullable.postgresNull as? T {
                return null
            }
            throw PostgresError(code: .decoding, message: "column \(name) is NULL but \(T.self) is not optional")
        }
        do {
            return try T(postgresText: text)
        } catch var error as PostgresError {
            // Name the column but never echo its value.
            error.message = "column \(name) as \(T.self): \(error.message)"
            throw error
        }
    }
}

/// The rows of a result and, for INSERT/UPDATE/DELETE, how many rows the command touched.
public struct PostgresRows: Sendable, RandomAccessCollection {
    public var rows: [PostgresRow]
    /// `PQcmdTuples`: rows affected by INSERT, UPDATE, DELETE, MERGE, SELECT or COPY; 0 otherwise.
    public var affectedRows: Int

    public init(rows: [PostgresRow], affectedRows: Int) {
        self.rows = rows
        self.affectedRows = affectedRows
    }

    public var startIndex: Int { self.rows.startIndex }
    public var endIndex: Int { self.rows.endIndex }
    public subscript(position: Int) -> PostgresRow { self.rows[position] }

    /// The row of a statement that always returns one (an aggregate, `INSERT … RETURNING`): a
    /// decoding error, not a trap, if the server answered none.
    public func single() throws -> PostgresRow {
        guard let row = self.rows.first else {
            throw PostgresError(code: .decoding, message: "expected a row, the statement returned none")
        }
        return row
    }
}

private func invalid(_ type: String) -> PostgresError {
    PostgresError(code: .decoding, message: "not a valid \(type)")
}

extension String: PostgresDecodable {
    public init(postgresText: String) throws {
        self = postgresText
    }
}

extension Int: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = Int(postgresText) else { throw invalid("Int") }
        self = value
    }
}

extension Int64: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = Int64(postgresText) else { throw invalid("Int64") }
        self = value
    }
}

extension Int32: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = Int32(postgresText) else { throw invalid("Int32") }
        self = value
    }
}

extension Double: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = Double(postgresText) else { throw invalid("Double") }
        self = value
    }
}

extension Bool: PostgresDecodable {
    public init(postgresText: String) throws {
        switch postgresText {
        case "t": self = true
        case "f": self = false
        default: throw invalid("Bool")
        }
    }
}

extension UUID: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = Self.parseCanonical(postgresText) ?? UUID(uuidString: postgresText) else {
            throw invalid("UUID")
        }
        self = value
    }

    /// Reads the server's output form (`8-4-4-4-12` hex digits) directly; Foundation's parser goes
    /// through `sscanf`, which showed in profiles as every row carries several ids.
    static func parseCanonical(_ text: String) -> UUID? {
        var text = text
        return text.withUTF8 { bytes -> UUID? in
            guard bytes.count == 36 else { return nil }
            var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let parsed = withUnsafeMutableBytes(of: &value) { output -> Bool in
                var position = 0
                for index in 0..<16 {
                    if position == 8 || position == 13 || position == 18 || position == 23 {
                        guard bytes[position] == UInt8(ascii: "-") else { return false }
                        position += 1
                    }
                    guard let high = hexDigitValue(bytes[position]), let low = hexDigitValue(bytes[position + 1]) else {
                        return false
                    }
                    output[index] = high << 4 | low
                    position += 2
                }
                return true
            }
            return parsed ? UUID(uuid: value) : nil
        }
    }
}

/// The value of one hexadecimal digit, either case; nil for anything else.
func hexDigitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

extension Date: PostgresDecodable {
    public init(postgresText: String) throws {
        self = try PostgresTimestamp.parse(postgresText)
    }
}

extension PostgresDate: PostgresDecodable {
    public init(postgresText: String) throws {
        var scanner = DigitScanner(postgresText)
        guard
            let year = scanner.number(), scanner.skip("-"),
            let month = scanner.number(), scanner.skip("-"),
            let day = scanner.number(), scanner.isAtEnd
        else { throw invalid("date (expected YYYY-MM-DD)") }
        self.init(year: year, month: month, day: day)
    }
}

extension PostgresJSONB: PostgresDecodable {
    public init(postgresText: String) throws {
        self.init(postgresText)
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    public init(postgresText: String) throws {
        self = try Element.decodeArray(postgresText: postgresText)
    }
}
