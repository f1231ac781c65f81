import Foundation

extension Group {
    /// The body of a group response: the bytes `projection.apply(to: json(…)).serialized()` gives.
    public static func responseBody(
        displayName: String, externalID: String?, members: [User.Reference]?, metadata: GroupMetadata, baseURL: String,
        projection: AttributeProjection
    ) -> [UInt8] {
        let body = GroupResponseBody(
            displayName: displayName, externalID: externalID, members: members, metadata: metadata, baseURL: baseURL,
            projection: projection)
        var out = body.prefix
        out.reserveCapacity(body.count)
        body.writeMembers(0..<body.memberCount, into: &out)
        out.append(contentsOf: body.suffix)
        return out
    }
}

/// A group response body whose member array is written straight from the member list, piece by
/// piece, rather than built as a JSON tree: `prefix`, then members `0..<memberCount` (in any slices,
/// in order, through `writeMembers`), then `suffix` make the bytes that
/// `projection.apply(to: Group.json(…)).serialized()` gives, and `count` is their number.
///
/// A pushed group can have 100,000 members; as a tree each member was a dictionary of four
/// strings, about 60 MiB for the whole response, and even as one array of bytes it is 18 MB. The
/// projection works key by key, so which sub-attributes of a member it keeps is learnt once, from
/// one probe member, and applied to every member as it is written.
public struct GroupResponseBody: Sendable {
    /// Everything before the first member (the whole body when there are no members to write).
    public let prefix: [UInt8]
    /// Everything after the last member.
    public let suffix: [UInt8]
    /// The length of the whole body.
    public let count: Int
    private let members: [User.Reference]
    private let writer: MemberWriter?

    public var memberCount: Int { writer == nil ? 0 : members.count }

    public init(
        displayName: String, externalID: String?, members: [User.Reference]?, metadata: GroupMetadata, baseURL: String,
        projection: AttributeProjection
    ) {
        func tree(_ members: [User.Reference]?) -> JSONValue {
            projection.apply(
                to: Group.json(
                    displayName: displayName, externalID: externalID, members: members, metadata: metadata,
                    baseURL: baseURL))
        }
        func whole(_ value: JSONValue) -> Self {
            let bytes = value.serialized()
            return Self(prefix: bytes, suffix: [], count: bytes.count, members: [], writer: nil)
        }
        guard let members, !members.isEmpty else {
            self = whole(tree(members))
            return
        }
        let probe = [User.Reference(id: metadata.id, display: "")]
        guard case .object(let object) = tree(nil), case .object(let probed) = tree(probe) else {
            self = whole(tree(members))
            return
        }
        guard case .array(let probeMembers)? = probed["members"] else {
            // The projection leaves members out altogether.
            self = whole(.object(object))
            return
        }
        guard probeMembers.count == 1, case .object(let kept)? = probeMembers.first, kept["value"] != nil else {
            self = whole(tree(members))
            return
        }
        let writer = MemberWriter(baseURL: baseURL, keys: Set(kept.keys))
        var prefix: [UInt8] = [UInt8(ascii: "{")]
        var suffix: [UInt8] = []
        var afterMembers = false
        var entries = Array(object)
        entries.append(("members", .null))
        for (index, entry) in entries.sorted(by: { $0.key < $1.key }).enumerated() {
            if entry.key == "members" {
                if index > 0 { prefix.append(UInt8(ascii: ",")) }
                JSONValue.writeString(entry.key, into: &prefix)
                prefix.append(contentsOf: ":[".utf8)
                suffix.append(UInt8(ascii: "]"))
                afterMembers = true
                continue
            }
            if afterMembers {
                suffix.append(UInt8(ascii: ","))
                JSONValue.writeString(entry.key, into: &suffix)
                suffix.append(UInt8(ascii: ":"))
                suffix.append(contentsOf: entry.value.serialized())
            } else {
                if index > 0 { prefix.append(UInt8(ascii: ",")) }
                JSONValue.writeString(entry.key, into: &prefix)
                prefix.append(UInt8(ascii: ":"))
                prefix.append(contentsOf: entry.value.serialized())
            }
        }
        suffix.append(UInt8(ascii: "}"))
        var count = prefix.count + suffix.count + members.count - 1  // the commas between members
        members.withUnsafeBufferPointer { members in
            for index in members.indices { count += writer.byteCount(members[index]) }
        }
        self.init(prefix: prefix, suffix: suffix, count: count, members: members, writer: writer)
    }

    private init(prefix: [UInt8], suffix: [UInt8], count: Int, members: [User.Reference], writer: MemberWriter?) {
        self.prefix = prefix
        self.suffix = suffix
        self.count = count
        self.members = members
        self.writer = writer
    }

    /// Appends the members in `range` (of `0..<memberCount`), each after a comma but the first.
    public func writeMembers(_ range: Range<Int>, into out: inout [UInt8]) {
        guard let writer else { return }
        members.withUnsafeBufferPointer { members in
            for index in range {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writer.write(members[index], into: &out)
            }
        }
    }
}

/// Writes member objects with the sub-attributes a projection keeps, keys in sorted order
/// (`$ref`, `display`, `type`, `value`) as `JSONValue.serialized()` orders them.
private struct MemberWriter: Sendable {
    let refPrefix: [UInt8]
    let ref: Bool
    let display: Bool
    let type: Bool
    let value: Bool

    init(baseURL: String, keys: Set<String>) {
        var prefix: [UInt8] = []
        JSONValue.writeString("\(baseURL)/Users/", into: &prefix)
        prefix.removeLast()  // the closing quote: the id follows
        refPrefix = prefix
        ref = keys.contains("$ref")
        display = keys.contains("display")
        type = keys.contains("type")
        value = keys.contains("value")
    }

    /// The bytes `write(_:into:)` appends for `member`.
    func byteCount(_ member: borrowing User.Reference) -> Int {
        var count = 2  // the braces
        var keys = 0
        if ref {
            count += 8 + refPrefix.count + 36  // "$ref": and the closing quote
            keys += 1
        }
        if display, let name = member.display {
            count += 10 + JSONValue.escapedByteCount(name)
            keys += 1
        }
        if type {
            count += 7 + 6
            keys += 1
        }
        if value {
            count += 8 + 38
            keys += 1
        }
        return count + max(keys - 1, 0)
    }

    func write(_ member: borrowing User.Reference, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        func key(_ name: StaticString) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: "\":".utf8)
        }
        if ref {
            key("$ref")
            out.append(contentsOf: refPrefix)
            Self.writeID(member.id, into: &out)
            out.append(UInt8(ascii: "\""))
        }
        if display, let name = member.display {
            key("display")
            JSONValue.writeString(name, into: &out)
        }
        if type {
            key("type")
            out.append(contentsOf: "\"User\"".utf8)
        }
        if value {
            key("value")
            out.append(UInt8(ascii: "\""))
            Self.writeID(member.id, into: &out)
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The id as `UUID.lowercasedString` spells it, without making a string.
    private static func writeID(_ id: UUID, into out: inout [UInt8]) {
        withUnsafeBytes(of: id.uuid) { bytes in
            for (index, byte) in bytes.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 { out.append(UInt8(ascii: "-")) }
                out.append(hexDigit(byte >> 4))
                out.append(hexDigit(byte & 0x0F))
            }
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? nibble + UInt8(ascii: "0") : nibble - 10 + UInt8(ascii: "a")
    }
}
