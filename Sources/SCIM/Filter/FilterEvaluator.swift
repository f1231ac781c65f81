extension Filter {
    /// Whether `resource` (a whole SCIM resource as JSON) satisfies this filter, evaluated in memory.
    ///
    /// The PATCH engine uses this to pick elements of multi-valued attributes; the database path
    /// compiles filters to SQL instead, and this is the reference semantics it must agree with:
    /// - Attribute names are case-insensitive. A URN-qualified path looks inside the resource's
    ///   extension object with that URN key; a core-schema URN (`urn:ietf:params:scim:schemas:core:…`)
    ///   that is not a key refers to the top level.
    /// - A comparison on a multi-valued attribute matches if any value matches (RFC 7644 §3.4.2.2);
    ///   `emails.value eq "x"` looks at every email's `value`. Comparing a complex value without a
    ///   sub-attribute compares its `value` sub-attribute.
    /// - Strings compare case-insensitively unless `caseExact` says otherwise; `gt`/`ge`/`lt`/`le`
    ///   on strings are lexicographic, which orders ISO 8601 timestamps correctly. Booleans support
    ///   only `eq`/`ne`; `co`/`sw`/`ew` only strings. Mismatched types are never equal.
    /// - `pr` is true when some value is not null, not `""` and not an empty array or object;
    ///   `eq null` is exactly `not pr`, `ne null` exactly `pr`. `ne` with an absent attribute is true.
    /// - Parameter caseExact: whether the attribute (schema-free, as written in the filter) compares
    ///   strings exactly, e.g. `id` or `meta.version`. Inner value-filter paths are passed as the full
    ///   path, `emails.value` for `emails[value eq "…"]`.
    public func matches(_ resource: JSONValue, caseExact: (AttributePath) -> Bool = { _ in false }) -> Bool {
        evaluate(in: resource, caseExact: caseExact)
    }

    /// Whether one element of a multi-valued attribute satisfies this value filter
    /// (`type eq "work"` in `emails[type eq "work"]`); paths are relative to the element.
    ///
    /// A simple element (a string in a list of strings) is treated as `{"value": element}`, since
    /// RFC 7643 §2.4 calls the primitive of a multi-valued attribute its `value` sub-attribute.
    public func evaluate(element: JSONValue, caseExact: (AttributePath) -> Bool = { _ in false }) -> Bool {
        if case .object = element {
            evaluate(in: element, caseExact: caseExact)
        } else {
            evaluate(in: .object(["value": element]), caseExact: caseExact)
        }
    }

    private func evaluate(in root: JSONValue, caseExact: (AttributePath) -> Bool) -> Bool {
        switch self {
        case .and(let lhs, let rhs):
            return lhs.evaluate(in: root, caseExact: caseExact) && rhs.evaluate(in: root, caseExact: caseExact)
        case .or(let lhs, let rhs):
            return lhs.evaluate(in: root, caseExact: caseExact) || rhs.evaluate(in: root, caseExact: caseExact)
        case .not(let inner):
            return !inner.evaluate(in: root, caseExact: caseExact)
        case .present(let path):
            return FilterEvaluation.values(at: path, in: root).contains(where: FilterEvaluation.isPresent)
        case .comparison(let path, let op, let value):
            let values = FilterEvaluation.values(at: path, in: root)
            let exact = caseExact(path)
            switch (op, value) {
            case (.eq, .null):
                return !values.contains(where: FilterEvaluation.isPresent)
            case (.ne, .null):
                return values.contains(where: FilterEvaluation.isPresent)
            case (_, .null):
                return false
            case (.ne, _):
                return values.isEmpty || values.contains { FilterEvaluation.compare($0, .ne, value, exact: exact) }
            default:
                return values.contains { FilterEvaluation.compare($0, op, value, exact: exact) }
            }
        case .valuePath(let path, let inner):
            guard let attribute = FilterEvaluation.attribute(at: path, in: root) else { return false }
            let elements = attribute.arrayValue ?? [attribute]
            return elements.contains { element in
                inner.evaluate(element: element) { innerPath in
                    caseExact(AttributePath(name: path.name, subAttribute: innerPath.name))
                }
            }
        }
    }
}

/// Attribute lookup and value comparison for `Filter.matches`.
enum FilterEvaluation {
    /// The value named by `path`'s schema and name (ignoring any sub-attribute), if present.
    static func attribute(at path: AttributePath, in root: JSONValue) -> JSONValue? {
        var base = root
        if let schema = path.schema {
            if let extensionObject = root[caseInsensitive: schema], case .object = extensionObject {
                base = extensionObject
            } else if !schema.lowercased().hasPrefix("urn:ietf:params:scim:schemas:core:") {
                return nil
            }
        }
        return base[caseInsensitive: path.name]
    }

    /// Every non-null value `path` reaches, with multi-valued attributes flattened.
    static func values(at path: AttributePath, in root: JSONValue) -> [JSONValue] {
        guard let attribute = attribute(at: path, in: root) else { return [] }
        let values = flattened(attribute)
        guard let sub = path.subAttribute else { return values }
        return values.flatMap { value in value[caseInsensitive: sub].map(flattened) ?? [] }
    }

    private static func flattened(_ value: JSONValue) -> [JSONValue] {
        switch value {
        case .null: []
        case .array(let elements): elements.filter { !$0.isNull }
        default: [value]
        }
    }

    static func isPresent(_ value: JSONValue) -> Bool {
        switch value {
        case .null: false
        case .string(let s): !s.isEmpty
        case .array(let a): a.contains(where: isPresent)
        case .object(let o): !o.isEmpty
        case .bool, .number: true
        }
    }

    /// One value against a non-null literal.
    static func compare(_ value: JSONValue, _ op: ComparisonOperator, _ literal: ComparisonValue, exact: Bool) -> Bool {
        var value = value
        if case .object = value {
            guard let primary = value[caseInsensitive: "value"] else { return op == .ne }
            value = primary
        }
        switch (value, literal) {
        case (.string(let lhs), .string(let rhs)):
            let a = exact ? lhs : lhs.lowercased()
            let b = exact ? rhs : rhs.lowercased()
            switch op {
            case .eq: return a == b
            case .ne: return a != b
            case .co: return b.isEmpty || a.contains(b)
            case .sw: return a.hasPrefix(b)
            case .ew: return a.hasSuffix(b)
            case .gt: return a > b
            case .ge: return a >= b
            case .lt: return a < b
            case .le: return a <= b
            }
        case (.number(let a), .number(let b)):
            switch op {
            case .eq: return a == b
            case .ne: return a != b
            case .gt: return a > b
            case .ge: return a >= b
            case .lt: return a < b
            case .le: return a <= b
            case .co, .sw, .ew: return false
            }
        case (.bool(let a), .bool(let b)):
            switch op {
            case .eq: return a == b
            case .ne: return a != b
            default: return false
            }
        default:
            return op == .ne
        }
    }
}
