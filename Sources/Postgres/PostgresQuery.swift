/// SQL text plus its parameters, built so that values can only ever travel as binds.
///
/// Every interpolated value becomes `$n` and a bind; identifiers go in as validated, quoted
/// `PostgresIdentifier`s; raw text needs the explicit `unsafeSQL:` label.
///
/// ```swift
/// let q: PostgresQuery = "SELECT id FROM \(schema).users WHERE user_name = \(userName)"
/// ```
///
/// A query keeps the text between its placeholders (`fragments`) as well as the rendered `sql`, so
/// composing queries (`append`, or interpolating one query into another) numbers the placeholders of
/// the added part after the binds already there, without reading SQL text back: a literal, a comment
/// or a dollar-quoted body that happens to contain `$1` is never touched.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, ExpressibleByStringLiteral {
    /// The text as sent, placeholders numbered `$1`…`$n` in bind order.
    public private(set) var sql: String
    public private(set) var binds: [PostgresData]
    /// The text around the placeholders: `fragments[i]` comes before bind `i + 1`, and the last one
    /// after the last bind.
    private var fragments: [String]
    /// Placeholders numbered by hand (`init(unsafeSQL:binds:)` with binds), not known as positions:
    /// such a query can begin a composed query but not be added after another query's binds.
    private var isNumberedByHand: Bool
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
    /// > Warning: `unsafeSQL` is sent verbatim; never build it from user input. With `binds`, its
    /// > placeholders are numbered by hand, so it may begin a composed query but not follow binds.
    public init(unsafeSQL: String, binds: [PostgresData] = []) {
        self.sql = unsafeSQL
        self.binds = binds
        self.fragments = [unsafeSQL]
        self.isNumberedByHand = !binds.isEmpty
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.query.sql
        self.binds = stringInterpolation.query.binds
        self.fragments = stringInterpolation.query.fragments
        self.isNumberedByHand = stringInterpolation.query.isNumberedByHand
    }

    /// Appends `other`; its placeholders are numbered after this query's binds.
    public mutating func append(_ other: PostgresQuery) {
        if other.isNumberedByHand {
            // Its own numbers hold only where no bind comes before it.
            precondition(self.binds.isEmpty, "a query numbered by hand cannot follow another query's binds")
            self.sql += other.sql
            self.binds = other.binds
            self.isNumberedByHand = true
            return
        }
        self.appendText(other.fragments[0])
        for (bind, text) in zip(other.binds, other.fragments.dropFirst()) {
            self.appendBind(bind)
            self.appendText(text)
        }
    }

    /// Appends text with no placeholder.
    mutating func appendText(_ text: String) {
        self.sql += text
        self.fragments[self.fragments.count - 1] += text
    }

    /// Binds `data` as the next `$n`.
    mutating func appendBind(_ data: PostgresData) {
        self.binds.append(data)
        self.sql += "$\(self.binds.count)"
        self.fragments.append("")
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var query: PostgresQuery

        public init(literalCapacity: Int, interpolationCount: Int) {
            self.query = PostgresQuery(unsafeSQL: "")
            self.query.sql.reserveCapacity(literalCapacity + 4 * interpolationCount)
            self.query.binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            self.query.appendText(literal)
        }

        /// Binds `value` as the next `$n`.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T) {
            self.query.appendBind(value.postgresData)
        }

        /// Binds `value` as the next `$n`, or NULL when it is `nil`.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T?) {
            self.query.appendBind(value?.postgresData ?? .null)
        }

        /// Appends a validated identifier, double-quoted.
        public mutating func appendInterpolation(_ identifier: PostgresIdentifier) {
            self.query.appendText(identifier.quoted)
        }

        /// Splices in another query (e.g. a compiled filter), its placeholders numbered after these.
        public mutating func appendInterpolation(_ query: PostgresQuery) {
            self.query.append(query)
        }

        /// Appends a raw SQL fragment built by code.
        ///
        /// > Warning: Never pass user input: it is not escaped.
        public mutating func appendInterpolation(unsafeSQL fragment: String) {
            self.query.appendText(fragment)
        }
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
        let valid =
            !bytes.isEmpty && bytes.count <= 63
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

    /// A name written in code, such as the `control` schema.
    ///
    /// - Precondition: `name` matches `^[a-z_][a-z0-9_]{0,62}$`. Only a literal can be passed, so a bad
    ///   name is a typo that the first test to use it stops on, never input from outside the code.
    public init(literal name: StaticString) {
        guard let valid = try? Self(name.description) else {
            preconditionFailure("\(name) is not an identifier: identifiers must match ^[a-z_][a-z0-9_]{0,62}$")
        }
        self = valid
    }

    /// The name in double quotes. Computed once: it goes into every tenant statement, and the
    /// validated alphabet has no quote to double.
    public let quoted: String

    public var description: String { self.quoted }
}
