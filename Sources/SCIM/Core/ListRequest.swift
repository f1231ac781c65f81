import Foundation

/// A list or search request (RFC 7644 §3.4.2, §3.4.3) with RFC 9865 cursors, validated.
public struct ListRequest: Sendable, Equatable {
    public enum SortOrder: String, Sendable { case ascending, descending }

    public var filter: Filter?
    /// 1-based; ignored when paging by cursor.
    public var startIndex: Int
    public var count: Int
    /// RFC 9865: present (possibly empty, meaning "first page") when the client pages by cursor.
    public var cursor: String?
    public var sortBy: AttributePath?
    public var sortOrder: SortOrder
    public var attributes: String?
    public var excludedAttributes: String?

    public static let defaultCount = 100
    public static let maximumCount = 1000
    /// Largest `startIndex` accepted: 2^53 - 1, the largest integer every JSON reader holds exactly
    /// (RFC 8259 §6), so the `startIndex` echoed in a ListResponse is always a JSON integer.
    public static let maximumStartIndex = 9_007_199_254_740_991

    /// Builds a request from query parameters or a `.search` body's members (already strings).
    /// Out-of-range `startIndex` and `count` are clamped as RFC 7644 §3.4.2.4 says (`startIndex`
    /// below 1 is 1, a negative `count` is 0, `count` above the maximum is the maximum); non-integers,
    /// integers beyond 64 bits and a `startIndex` above `maximumStartIndex` are 400 `invalidValue`.
    public init(parameters: [String: String], filterLimits: FilterLimits = .default) throws(SCIMError) {
        // Names are case-insensitive; lower-cased once here rather than on every lookup.
        let lowered = Dictionary(parameters.map { ($0.key.lowercased(), $0.value) }) { first, _ in first }
        func value(_ name: String) -> String? { lowered[name.lowercased()] }
        if let text = value("filter"), !text.isBlank {
            filter = try Filter.parse(text, limits: filterLimits)
        }
        startIndex = max(1, try Self.integer(value("startIndex"), name: "startIndex") ?? 1)
        guard startIndex <= Self.maximumStartIndex else {
            throw .invalidValue("startIndex may be at most \(Self.maximumStartIndex).")
        }
        count = min(Self.maximumCount, max(0, try Self.integer(value("count"), name: "count") ?? Self.defaultCount))
        cursor = value("cursor")
        if let sort = value("sortBy"), !sort.isEmpty {
            sortBy = try PatchPath.parse(sort).attribute
        }
        switch value("sortOrder")?.lowercased() {
        case nil, "", "ascending": sortOrder = .ascending
        case "descending": sortOrder = .descending
        default: throw .badRequest("sortOrder must be \"ascending\" or \"descending\".")
        }
        attributes = value("attributes")
        excludedAttributes = value("excludedAttributes")
        if cursor != nil, value("startIndex") != nil {
            throw .badRequest("Use either cursor or startIndex pagination, not both.")
        }
    }

    /// Reads a `SearchRequest` body (RFC 7644 §3.4.3): same members as the query string, JSON-typed.
    public init(searchBody body: JSONValue, filterLimits: FilterLimits = .default) throws(SCIMError) {
        guard case .object(let object) = body else { throw .invalidSyntax("A search request must be a JSON object.") }
        guard let schemas = body[caseInsensitive: "schemas"]?.arrayValue,
            schemas.contains(where: { $0.stringValue?.caseInsensitiveEquals(SchemaURN.searchRequest) == true })
        else {
            throw .invalidValue("A search request must list \(SchemaURN.searchRequest) in schemas.")
        }
        var parameters: [String: String] = [:]
        for (key, value) in object where key.lowercased() != "schemas" {
            if ["startindex", "count"].contains(key.lowercased()) {
                // RFC 7644 §3.4.3: integers in a SearchRequest, not strings or fractions.
                guard case .number(let number) = value, number.rounded() == number,
                    abs(number) <= Double(Self.maximumStartIndex)
                else {
                    if value.isNull { continue }
                    throw .invalidValue("\(key) must be an integer.")
                }
                parameters[key] = String(Int(number))
                continue
            }
            switch value {
            case .string(let text): parameters[key] = text
            case .number(let number) where number.rounded() == number && abs(number) < 1e9:
                parameters[key] = String(Int(number))
            case .array(let items):
                let names = items.compactMap(\.stringValue)
                guard names.count == items.count else {
                    throw .invalidValue("\(key) must be a list of attribute names.")
                }
                parameters[key] = names.joined(separator: ",")
            case .null: continue
            default: throw .invalidValue("\(key) has the wrong type.")
            }
        }
        try self.init(parameters: parameters, filterLimits: filterLimits)
    }

    private static func integer(_ text: String?, name: String) throws(SCIMError) -> Int? {
        guard let text, !text.isEmpty else { return nil }
        guard let number = Int(text) else {
            let digits = text.first == "-" || text.first == "+" ? text.dropFirst() : Substring(text)
            if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
                throw .invalidValue("\(name) is out of range.")
            }
            throw .invalidValue("\(name) must be an integer.")
        }
        return number
    }
}

/// One page of results.
public struct ListPage<Item: Sendable>: Sendable {
    public var totalResults: Int
    public var startIndex: Int
    public var items: [Item]
    /// RFC 9865: the cursor for the next page, when there is one.
    public var nextCursor: String?

    public init(totalResults: Int, startIndex: Int, items: [Item], nextCursor: String?) {
        self.totalResults = totalResults
        self.startIndex = startIndex
        self.items = items
        self.nextCursor = nextCursor
    }

    /// RFC 7644 §3.4.2 ListResponse; `Resources` are rendered by the caller.
    public func listResponse(_ resources: [JSONValue], cursorPaging: Bool) -> JSONValue {
        var object: [String: JSONValue] = [
            "schemas": [.string(SchemaURN.listResponse)],
            "totalResults": .number(Double(totalResults)),
            "itemsPerPage": .number(Double(resources.count)),
            "Resources": .array(resources),
        ]
        if !cursorPaging { object["startIndex"] = .number(Double(startIndex)) }
        if let nextCursor { object["nextCursor"] = .string(nextCursor) }
        return .object(object)
    }
}
