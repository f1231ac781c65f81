import Foundation
import Postgres
import SCIM

/// How one filterable SCIM attribute is stored. Only attributes listed in a resource's column map can
/// reach SQL, and only as code-written expressions: every client value becomes a bind.
indirect enum SQLAttribute: Sendable {
    case text(SQLColumn, caseExact: Bool = false)
    case uuid(SQLColumn)
    case bool(SQLColumn)
    case timestamp(SQLColumn)
    case date(SQLColumn)
    case number(SQLColumn)
    /// A multi-valued attribute: `exists` wraps a condition on one element in an EXISTS subquery;
    /// `elements` maps sub-attribute keys to element expressions; `defaultElement` is the key used
    /// when the filter names the attribute itself (`emails eq "x"` means `emails.value eq "x"`).
    case collection(
        exists: @Sendable (PostgresQuery) -> PostgresQuery, elements: [String: SQLAttribute], defaultElement: String)

    /// What `sortBy` orders by: the scalar attributes, text ignoring case unless it is case-exact.
    var sortKey: PostgresQuery? {
        switch self {
        case .text(let e, let caseExact): caseExact ? e.sql : e.lowercased.sql
        case .uuid(let e), .bool(let e), .timestamp(let e), .date(let e): e.sql
        case .number(let e): e.numeric.sql
        case .collection: nil
        }
    }
}

/// Compiles a parsed SCIM filter to a parameterised SQL condition over a whitelist of attributes.
struct FilterCompiler: Sendable {
    /// Resolves an attribute path (lowercased key, with the schema URN if the client wrote one).
    let resolve: @Sendable (AttributePath) -> SQLAttribute?

    /// - Throws: `invalidFilter` for an unknown attribute, or an operator or value the attribute cannot take.
    func compile(_ filter: Filter) throws(SCIMError) -> PostgresQuery {
        switch filter {
        case .and(let lhs, let rhs):
            return "(\(try compile(lhs)) AND \(try compile(rhs)))"
        case .or(let lhs, let rhs):
            return "(\(try compile(lhs)) OR \(try compile(rhs)))"
        case .not(let inner):
            // NOT over SQL NULL is NULL; COALESCE keeps `not (title eq "x")` true for users with no title.
            return "(NOT COALESCE(\(try compile(inner)), false))"
        case .present(let path):
            return try condition(path) { attribute throws(SCIMError) in Self.present(attribute) }
        case .comparison(let path, let op, let value):
            return try condition(path) { attribute throws(SCIMError) in try Self.compare(attribute, op, value, path) }
        case .valuePath(let path, let inner):
            guard case .collection(let exists, let elements, _)? = resolve(path) else {
                throw .invalidFilter("\(path) is not a multi-valued attribute, so it cannot take a [filter].")
            }
            let elementCompiler = FilterCompiler { elementPath in
                elements[elementPath.name.lowercased()]
            }
            return exists(try elementCompiler.compile(inner))
        }
    }

    /// Whether `filter` can match at most one row: it requires `eq` on a column under a unique index
    /// (`SQLColumn.isUnique`), perhaps AND-ed with more. Such a page needs no ORDER BY, which Okta's
    /// `userName eq` and `displayName eq` lookups then skip.
    func matchesAtMostOneRow(_ filter: Filter) -> Bool {
        switch filter {
        case .and(let lhs, let rhs):
            return matchesAtMostOneRow(lhs) || matchesAtMostOneRow(rhs)
        case .comparison(let path, .eq, .string):
            switch resolve(path) {
            case .text(let column, _)?, .uuid(let column)?: return column.isUnique
            default: return false
            }
        default:
            return false
        }
    }

    /// Resolves `path` and builds `build(attribute)`, descending into collections for sub-attributes.
    private func condition(
        _ path: AttributePath, _ build: (SQLAttribute) throws(SCIMError) -> PostgresQuery
    ) throws(SCIMError) -> PostgresQuery {
        if let attribute = resolve(path) {
            if case .collection(let exists, let elements, let defaultElement) = attribute {
                guard let element = elements[defaultElement] else {
                    throw .invalidFilter("\(path) cannot be compared.")
                }
                return exists(try build(element))
            }
            return try build(attribute)
        }
        if let sub = path.subAttribute,
            case .collection(let exists, let elements, _)? = resolve(
                AttributePath(schema: path.schema, name: path.name))
        {
            guard let element = elements[sub.lowercased()] else {
                throw .invalidFilter("Unknown attribute \(path) in filter.")
            }
            return exists(try build(element))
        }
        throw .invalidFilter("Unknown or unfilterable attribute \(path) in filter.")
    }

    private static func present(_ attribute: SQLAttribute) -> PostgresQuery {
        switch attribute {
        case .text(let expression, _): "(\(expression) IS NOT NULL AND \(expression) <> '')"
        case .uuid(let e), .bool(let e), .timestamp(let e), .date(let e), .number(let e): "(\(e) IS NOT NULL)"
        case .collection(let exists, _, _): exists("TRUE")
        }
    }

    private static func compare(
        _ attribute: SQLAttribute, _ op: ComparisonOperator, _ value: ComparisonValue, _ path: AttributePath
    ) throws(SCIMError) -> PostgresQuery {
        if case .null = value {
            switch op {
            case .eq: return "NOT (\(present(attribute)))"
            case .ne: return present(attribute)
            default: throw .invalidFilter("\(op.rawValue) cannot compare \(path) with null.")
            }
        }
        switch attribute {
        case .text(let e, let caseExact):
            guard case .string(let text) = value else {
                throw .invalidFilter("\(path) must be compared with a string.")
            }
            let column = caseExact ? e : e.lowercased
            let bound: PostgresQuery = caseExact ? "\(text)::text" : "lower(\(text)::text)"
            switch op {
            case .eq: return "\(column) = \(bound)"
            case .ne: return "(\(e) IS NULL OR \(column) <> \(bound))"
            case .co: return "(strpos(\(column), \(bound)) > 0)"
            case .sw: return "starts_with(\(column), \(bound))"
            case .ew: return "(right(\(column), char_length(\(text)::text)) = \(bound))"
            case .gt: return "\(column) > \(bound)"
            case .ge: return "\(column) >= \(bound)"
            case .lt: return "\(column) < \(bound)"
            case .le: return "\(column) <= \(bound)"
            }
        case .uuid(let e):
            guard case .string(let text) = value else {
                throw .invalidFilter("\(path) must be compared with a string.")
            }
            let id = UUID(uuidString: text)
            switch (op, id) {
            case (.eq, let id?): return "\(e) = \(id)"
            case (.eq, nil): return "FALSE"
            case (.ne, let id?): return "(\(e) IS NULL OR \(e) <> \(id))"
            case (.ne, nil): return "TRUE"
            default: throw .invalidFilter("\(path) only supports eq and ne.")
            }
        case .bool(let e):
            guard case .bool(let flag) = value else {
                throw .invalidFilter("\(path) must be compared with true or false.")
            }
            switch op {
            case .eq: return "\(e) = \(flag)"
            case .ne: return "\(e) IS DISTINCT FROM \(flag)"
            default: throw .invalidFilter("\(path) only supports eq and ne.")
            }
        case .timestamp(let e):
            guard case .string(let text) = value, let date = SCIMDate.parse(text) else {
                throw .invalidFilter("\(path) must be compared with an RFC 3339 date-time string.")
            }
            return try ordered(e, op, "\(date)", path)
        case .date(let e):
            guard case .string(let text) = value, User.isCalendarDate(text) else {
                throw .invalidFilter("\(path) must be compared with a YYYY-MM-DD date.")
            }
            return try ordered(e, op, "\(text)::date", path)
        case .number(let e):
            guard case .number(let number) = value else {
                throw .invalidFilter("\(path) must be compared with a number.")
            }
            return try ordered(e.numeric, op, "\(number)::numeric", path)
        case .collection:
            throw .invalidFilter("\(path) cannot be compared directly.")
        }
    }

    private static func ordered(
        _ column: SQLColumn, _ op: ComparisonOperator, _ bound: PostgresQuery, _ path: AttributePath
    ) throws(SCIMError) -> PostgresQuery {
        switch op {
        case .eq: return "\(column) = \(bound)"
        case .ne: return "(\(column) IS NULL OR \(column) <> \(bound))"
        case .gt: return "\(column) > \(bound)"
        case .ge: return "\(column) >= \(bound)"
        case .lt: return "\(column) < \(bound)"
        case .le: return "\(column) <= \(bound)"
        case .co, .sw, .ew: throw .invalidFilter("\(op.rawValue) does not apply to \(path).")
        }
    }
}
