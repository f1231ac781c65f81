/// SQL text plus its parameters, built so that values can only ever travel as binds.
///
/// Every interpolated value becomes `$n` and a bind; identifiers go in as validated, quoted
/// `PostgresIdentifier`s; raw text needs the explicit `unsafeSQL:` label.
///
/// ```swift
/// let q: PostgresQuery = "SELECT id FROM \(schema).users WHERE user_name = \(userName)"
/// ```
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, ExpressibleByStringLiteral {
    public var sql: String
    public var binds: [PostgresData]
    /// False for a text one connection will rarely run again soon, such as one of a thousand tenants'
    /// event flushes: it then always runs unnamed, and takes no slot in the connection's
    /// prepared-statement cache, where it would push out statements that are run again.
    public var isWorthPreparing = true

    /// Whether the text is a `SELECT`, which commits nothing: run on its own, a broken connection
    /// leaves it safe to run again. (A `SELECT` calling a function that writes would be misjudged;
    /// the service has none.)
    var isRead: Bool {
        let text = self.sql.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "(" }
        return text.prefix(6).uppercased() == "SELECT"
    }

    /// Wraps SQL written elsewhere (a migration file, a hand-numbered `$n` statement).
    ///
    /// > Warning: `unsafeSQL` is sent verbatim; never build it from user input.
    public init(unsafeSQL: String, binds: [PostgresData] = []) {
        self.sql = unsafeSQL
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    /// Appends `other`, renumbering its `$n` placeholders after this query's binds.
    public mutating func append(_ other: PostgresQuery) {
        self.sql += Self.renumber(other.sql, by: self.binds.count)
        self.binds += other.binds
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: String
        var binds: [PostgresData]

        public init(literalCapacity: Int, interpolationCount: Int) {
            self.sql = ""
            self.sql.reserveCapacity(literalCapacity + 4 * interpolationCount)
            self.binds = []
            self.binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            self.sql += literal
        }

        /// Binds `value` as the next `$n`.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T) {
            self.binds.append(value.postgresData)
            self.sql += "$\(self.binds.count)"
        }

        /// Binds `value` as the next `$n`, or NULL when it is `nil`.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T?) {
            self.binds.append(value?.postgresData ?? .null)
            self.sql += "$\(self.binds.count)"
        }

        /// Appends a validated identifier, double-quoted.
        public mutating func appendInterpolation(_ identifier: PostgresIdentifier) {
            self.sql += identifier.quoted
        }

        /// Splices in another query (e.g. a compiled filter), renumbering its placeholders.
        public mutating func appendInterpolation(_ query: PostgresQuery) {
            self.sql += PostgresQuery.renumber(query.sql, by: self.binds.count)
            self.binds += query.binds
        }

        /// Appends a raw SQL fragment built by code, such as a column list.
        ///
        /// > Warning: Never pass user input: it is not escaped.
        public mutating func appendInterpolation(unsafeSQL fragment: String) {
            self.sql += fragment
        }
    }

    /// Adds `offset` to every `$n` placeholder outside string literals, quoted identifiers and comments.
    ///
    /// > Warning: Placeholders inside dollar-quoted bodies would also be shifted; composed queries
    /// > never contain those (function bodies live in migration files, which are not composed).
    static func renumber(_ sql: String, by offset: Int) -> String {
        guard offset > 0, sql.contains("$") else { return sql }
        let scalars = Array(sql.unicodeScalars)
        var output = String.UnicodeScalarView()
        var index = 0
        func copy(until terminator: String) {
            let end = Array(terminator.unicodeScalars)
            while index < scalars.count {
                if scalars[index...].starts(with: end) {
                    output.append(contentsOf: end)
                    index += end.count
                    return
                }
                output.append(scalars[index])
                index += 1
            }
        }
        while index < scalars.count {
            let scalar = scalars[index]
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            switch scalar {
            case "'", "\"":
                output.append(scalar)
                index += 1
                // A doubled quote inside is read as a close immediately followed by a reopen.
                copy(until: String(scalar))
            case "-" where next == "-":
                copy(until: "\n")
            case "/" where next == "*":
                output.append(contentsOf: "/*".unicodeScalars)
                index += 2
                copy(until: "*/")
            case "$" where next.map { ("0"..."9").contains($0) } ?? false:
                var end = index + 1
                var number = 0
                while end < scalars.count, ("0"..."9").contains(scalars[end]) {
                    number = number * 10 + Int(scalars[end].value - 48)
                    end += 1
                }
                output.append(contentsOf: "$\(number + offset)".unicodeScalars)
                index = end
            default:
                output.append(scalar)
                index += 1
            }
        }
        return String(output)
    }
}

/// A schema, table or column name that is safe to splice into SQL.
///
/// Validation is deliberately stricter than Postgres (lower-case ASCII, at most 63 bytes) so that the
/// name needs no case folding and the quoting below can never be escaped.
public struct PostgresIdentifier: Sendable, Hashable, CustomStringConvertible {
    public let name: String

    /// - Throws: `PostgresError(.invalidIdentifier)` unless `name` matches `^[a-z_][a-z0-9_]{0,62}$`.
    public init(_ name: String) throws {
        let bytes = Array(name.utf8)
        let valid = !bytes.isEmpty && bytes.count <= 63
            && bytes.enumerated().allSatisfy { index, byte in
                byte == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (index > 0 && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte))
            }
        guard valid else {
            throw PostgresError(code: .invalidIdentifier, message: "identifiers must match ^[a-z_][a-z0-9_]{0,62}$")
        }
        self.name = name
        self.quoted = "\"" + name + "\""
    }

    /// The name in double quotes. Computed once: it goes into every tenant statement, and the
    /// validated alphabet has no quote to double.
    public let quoted: String

    public var description: String { self.quoted }
}
