import Foundation

/// The member ids a Groups request names, held compactly: 16 bytes per user id.
///
/// Okta pushes a group as one PUT carrying every member, so a list can hold 100,000 ids. Parsed
/// straight from the request bytes (`JSONValue.parseGroup`), it is the only copy of the members the
/// server keeps while it applies the request. Ids are kept in the order sent, duplicates included;
/// the store removes duplicates as it writes.
public struct MemberList: Sendable, Hashable {
    /// Every value that is a UUID.
    public private(set) var ids: [UUID] = []
    /// Values that are not UUIDs, in order. None of them can name a user.
    public private(set) var others: [String] = []

    public init() {}

    public init(_ values: some Sequence<String>) {
        for value in values { append(value) }
    }

    public var count: Int { ids.count + others.count }
    public var isEmpty: Bool { ids.isEmpty && others.isEmpty }

    public mutating func append(_ value: String) {
        if let id = Self.canonicalUUID(value) ?? UUID(uuidString: value) {
            ids.append(id)
        } else {
            others.append(value)
        }
    }

    /// The `8-4-4-4-12` hex form (either case) read straight from the bytes; nil for anything else,
    /// which `UUID(uuidString:)` then judges. Foundation's parser scans each byte with `sscanf`, and
    /// at 50,000 members that was about a tenth of a group push's time in the server.
    static func canonicalUUID(_ text: String) -> UUID? {
        var text = text
        return text.withUTF8 { bytes -> UUID? in
            guard bytes.count == 36 else { return nil }
            var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let parsed = withUnsafeMutableBytes(of: &value) { output -> Bool in
                var position = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        guard bytes[position] == UInt8(ascii: "-") else { return false }
                        position += 1
                    }
                    guard let high = ASCIIHex.value(of: bytes[position]),
                        let low = ASCIIHex.value(of: bytes[position + 1])
                    else {
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

    mutating func append(_ id: UUID) {
        ids.append(id)
    }

    mutating func reserveCapacity(_ capacity: Int) {
        ids.reserveCapacity(capacity)
    }
}

extension MemberList: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: String...) {
        self.init(elements)
    }
}

/// Where a Groups request body held a member array that was parsed into a `MemberList`.
public enum MemberArrayPlace: Sendable, Hashable {
    /// `members` of a POST or PUT body.
    case resource
}

/// A member array parsed into a `MemberList`, with the leniencies the normaliser would have counted
/// had it seen the array (`caseFolded`) and the sub-attributes it would have dropped.
public struct ExtractedMembers: Sendable, Hashable {
    public var list = MemberList()
    public var rewrites: [RewriteKind: Int] = [:]
    public var unknownAttributes: Set<String> = []

    public init(
        list: MemberList = MemberList(), rewrites: [RewriteKind: Int] = [:], unknownAttributes: Set<String> = []
    ) {
        self.list = list
        self.rewrites = rewrites
        self.unknownAttributes = unknownAttributes
    }
}

/// A Groups request body: the JSON, less the member arrays that `members` holds.
public struct GroupRequestBody: Sendable {
    public var json: JSONValue
    public var members: [MemberArrayPlace: ExtractedMembers]
}
