/// A reference to an attribute as written in filters and PATCH paths: `[schemaURN:]name[.subAttribute]`.
///
/// Names keep the spelling the client sent; compare them with `matches`, which is case-insensitive
/// (RFC 7643 §2.1). `schema` is set only when the client wrote a URN prefix.
public struct AttributePath: Sendable, Hashable, CustomStringConvertible {
    public var schema: String?
    public var name: String
    public var subAttribute: String?

    public init(schema: String? = nil, name: String, subAttribute: String? = nil) {
        self.schema = schema
        self.name = name
        self.subAttribute = subAttribute
    }

    /// `name` or `name.sub`, lowercased, without the schema: the key used to look attributes up.
    public var key: String {
        subAttribute.map { "\(name).\($0)".lowercased() } ?? name.lowercased()
    }

    public var description: String {
        (schema.map { "\($0):" } ?? "") + name + (subAttribute.map { ".\($0)" } ?? "")
    }
}

/// RFC 7644 §3.4.2.2 comparison operators.
public enum ComparisonOperator: String, Sendable, Hashable, CaseIterable {
    case eq, ne, co, sw, ew, gt, ge, lt, le
}

/// A literal on the right of a comparison (RFC 7644 §3.4.2.2: JSON string, number, boolean or null).
public enum ComparisonValue: Sendable, Hashable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
}

/// A parsed SCIM filter (RFC 7644 §3.4.2.2). Pure data: the SQL compiler and the in-memory evaluator
/// both walk this tree.
public indirect enum Filter: Sendable, Hashable {
    /// `attrPath compareOp compValue`
    case comparison(AttributePath, ComparisonOperator, ComparisonValue)
    /// `attrPath pr`
    case present(AttributePath)
    case and(Filter, Filter)
    case or(Filter, Filter)
    case not(Filter)
    /// `attrPath[valFilter]`: the inner filter's paths are sub-attributes of `attribute`
    /// (their `name` is the sub-attribute name, e.g. `type` in `emails[type eq "work"]`).
    case valuePath(AttributePath, Filter)
}

/// A PATCH operation's `path` (RFC 7644 §3.5.2): `attrPath` or `valuePath[.subAttr]`.
/// `emails[type eq "work"].value` is attribute `emails`, filter `type eq "work"`, subAttribute `value`.
public struct PatchPath: Sendable, Hashable, CustomStringConvertible {
    public var attribute: AttributePath
    public var valueFilter: Filter?
    /// Sub-attribute after a value filter (`.value` in `emails[...].value`).
    public var subAttribute: String?

    public init(attribute: AttributePath, valueFilter: Filter? = nil, subAttribute: String? = nil) {
        self.attribute = attribute
        self.valueFilter = valueFilter
        self.subAttribute = subAttribute
    }

    public var description: String {
        attribute.description + (valueFilter != nil ? "[…]" : "") + (subAttribute.map { ".\($0)" } ?? "")
    }
}
