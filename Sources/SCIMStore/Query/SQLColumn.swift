import Postgres

/// A name written in code (a table alias such as `u`, a column of a statement's own), checked once
/// against the identifier rule and written unquoted, as the code spells it.
struct SQLName: Sendable, Hashable {
    let name: String

    /// - Precondition: `name` matches `^[a-z_][a-z0-9_]{0,62}$` (it is a literal in this module's code).
    init(_ name: StaticString) {
        let text = name.description
        precondition((try? PostgresIdentifier(text)) != nil, "\(text) is not a valid name")
        self.name = text
    }

    /// The alias's column `name`; `unique` when a unique index covers it.
    func column(_ name: StaticString, unique: Bool = false) -> SQLColumn {
        let column = name.description
        precondition((try? PostgresIdentifier(column)) != nil, "\(column) is not a valid column name")
        return SQLColumn(text: "\(self.name).\(column)", isUnique: unique)
    }
}

/// A column, or an expression over columns, that a filter, a sort or a page may name.
///
/// Built once from code-written names (`StaticString`s checked as identifiers) and from custom field
/// names that passed `CustomFieldStore.isValidFieldName`, so no text from a request can reach SQL
/// through one: a client's value is always a bind.
struct SQLColumn: Sendable, Hashable {
    fileprivate let text: String
    /// A unique index covers it: `eq` on it matches one row at most.
    let isUnique: Bool

    fileprivate init(text: String, isUnique: Bool = false) {
        self.text = text
        self.isUnique = isUnique
    }

    /// An expression written in code, such as a `COALESCE` over an alias's columns.
    init(expression: StaticString) {
        self.init(text: expression.description)
    }

    /// A member of the JSON object `object` as text: `(object->>'key')`.
    static func member(_ key: StaticString, of object: SQLName) -> SQLColumn {
        SQLColumn(text: "(\(object.name)->>'\(key.description)')")
    }

    /// A custom field's value as text, `(u.custom_fields->>'field')`; nil unless `field` is a valid field name.
    static func customField(_ field: String, in customFields: SQLColumn) -> SQLColumn? {
        // Field names are validated (`^[a-z][a-z0-9_]*$`), so quoting them as SQL literals is safe.
        guard CustomFieldStore.isValidFieldName(field) else { return nil }
        return SQLColumn(text: "(\(customFields.text)->>'\(field)')")
    }

    /// The expression cast to `type` (`boolean`, `date`).
    func cast(_ type: StaticString) -> SQLColumn {
        SQLColumn(text: "\(text)::\(type.description)")
    }

    /// The expression as `numeric`, parenthesised first so that the cast applies to all of it.
    var numeric: SQLColumn { SQLColumn(text: "(\(text))::numeric") }

    /// The expression in lower case, for comparisons that ignore case.
    var lowercased: SQLColumn { SQLColumn(text: "lower(\(text))") }

    /// The expression as a query fragment with no binds.
    var sql: PostgresQuery { "\(self)" }
}

extension PostgresQuery.StringInterpolation {
    /// Appends a column or code-written expression.
    mutating func appendInterpolation(_ column: SQLColumn) {
        appendInterpolation(unsafeSQL: column.text)
    }

    /// Appends a code-written name.
    mutating func appendInterpolation(_ name: SQLName) {
        appendInterpolation(unsafeSQL: name.name)
    }
}
