import Foundation

extension Group {
    /// The body of a group response: the bytes `projection.apply(to: json(…)).serialized()` gives,
    /// with the member array written straight from `members` rather than built as a JSON tree.
    ///
    /// A pushed group can have 100,000 members; as a tree each member was a dictionary of four
    /// strings, about 60 MiB for the whole response. The projection works key by key, so which
    /// sub-attributes of a member it keeps is learnt once, from one probe member, and applied to
    /// every member as it is written.
    public static func responseBody(
        displayName: String, externalID: String?, members: [User.Reference]?, metadata: GroupMetadata, baseURL: String,
        projection: AttributeProjection
    ) -> [UInt8] {
        func tree(_ members: [User.Reference]?) -> JSONValue {
            projection.apply(
                to: json(displayName: displayName, externalID: externalID, members: members, metadata: metadata, baseURL: baseURL))
        }
        guard let members, !members.isEmpty else { return tree(members).serialized() }
        guard case .object(let object) = tree(nil), case .object(let probed) = tree([User.Reference(id: metadata.id, display: "")])
        else { return tree(members).serialized() }
        guard case .array(let probeMembers)? = probed["members"] else {
            // The projection leaves members out altogether.
            return JSONValue.object(object).serialized()
        }
        guard probeMembers.count == 1, case .object(let kept)? = probeMembers.first, kept["value"] != nil else {
            return tree(members).serialized()
        }
        let writer = MemberWriter(baseURL: baseURL, keys: Set(kept.keys))
        var out: [UInt8] = []
        out.reserveCapacity(4096 + members.count * writer.estimatedBytesPerMember)
        out.append(UInt8(ascii: "{"))
        var entries = Array(object)
        entries.append(("members", .null))
        for (index, entry) in entries.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(entry.key, into: &out)
            out.append(UInt8(ascii: ":"))
            if entry.key == "members" {
                writer.write(members, into: &out)
            } else {
                out.append(contentsOf: entry.value.serialized())
            }
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// Writes member objects with the sub-attributes a projection keeps, keys in sorted order
/// (`$ref`, `display`, `type`, `value`) as `JSONValue.serialized()` orders them.
private struct MemberWriter {
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

    /// Enough for most members, so the output is seldom reallocated.
    var estimatedBytesPerMember: Int { refPrefix.count + 140 }

    func write(_ members: [User.Reference], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        // Through the buffer, so a member is read in place rather than copied (and its name retained).
        members.withUnsafeBufferPointer { members in
            for index in members.indices {
                write(members[index], first: index == 0, into: &out)
            }
        }
        out.append(UInt8(ascii: "]"))
    }

    private func write(_ member: borrowing User.Reference, first isFirst: Bool, into out: inout [UInt8]) {
        if !isFirst { out.append(UInt8(ascii: ",")) }
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
