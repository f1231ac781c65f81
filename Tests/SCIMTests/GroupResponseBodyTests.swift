import Foundation
import SCIM
import Testing

/// `Group.responseBody` writes the member array straight from the member list: its bytes must be
/// those of the JSON tree, projected and serialised, whatever the projection.
@Suite("Group response bodies: members written straight into the output")
struct GroupResponseBodyTests {
    static let metadata = GroupMetadata(
        id: UUID(uuidString: "2819c223-7f76-453a-919d-413861904646")!,
        created: Date(timeIntervalSince1970: 1_700_000_000), lastModified: Date(timeIntervalSince1970: 1_700_000_100),
        version: 7)
    static let members = [
        User.Reference(
            id: UUID(uuidString: "00000000-0000-0000-0000-00000000000a")!, display: "Ada \"the\" Lovelace\\\n\u{1}é"),
        User.Reference(id: UUID(uuidString: "902c246b-6245-4190-8e05-00816be7344a")!, display: nil),
        User.Reference(id: UUID(uuidString: "ffffffff-0000-4000-8000-000000000001")!, display: "Bob"),
        User.Reference(id: UUID(uuidString: "ffffffff-0000-4000-8000-000000000002")!, display: "\t\r\u{1f}\u{7f}😀"),
        User.Reference(id: UUID(uuidString: "ffffffff-0000-4000-8000-000000000003")!, display: ""),
    ]

    static func tree(_ members: [User.Reference]?, externalID: String?, projection: AttributeProjection) -> [UInt8] {
        projection.apply(
            to: Group.json(
                displayName: "Sales \"EU\"", externalID: externalID, members: members, metadata: metadata,
                baseURL: "https://scim.example/scim/v2")
        ).serialized()
    }

    /// The body as the server sends it: prefix, members in slices of two, suffix; checked against `count`.
    static func streamed(
        _ members: [User.Reference]?, externalID: String?, projection: AttributeProjection
    ) -> [UInt8] {
        let body = GroupResponseBody(
            displayName: "Sales \"EU\"", externalID: externalID, members: members, metadata: metadata,
            baseURL: "https://scim.example/scim/v2", projection: projection)
        var out = body.prefix
        for start in stride(from: 0, to: body.memberCount, by: 2) {
            body.writeMembers(start..<min(start + 2, body.memberCount), into: &out)
        }
        out.append(contentsOf: body.suffix)
        #expect(out.count == body.count, "count is the length of the body")
        #expect(
            out
                == Group.responseBody(
                    displayName: "Sales \"EU\"", externalID: externalID, members: members, metadata: metadata,
                    baseURL: "https://scim.example/scim/v2", projection: projection))
        return out
    }

    @Test(
        "the same bytes as the projected tree",
        arguments: [
            (nil, nil), ("members", nil), ("members.value", nil), ("members.display", nil),
            ("members.value,members.$ref", nil), ("displayName", nil), ("id,members.type", nil),
            (nil, "members"), (nil, "members.display"), (nil, "members.$ref,members.type"), (nil, "displayName,meta"),
            (nil, "externalId"),
        ] as [(String?, String?)])
    func sameBytes(attributes: String?, excluded: String?) throws {
        let projection = try AttributeProjection(
            attributes: attributes, excludedAttributes: excluded, resourceType: .group)
        for members in [Self.members, [], nil] {
            for externalID in ["ext-1", nil] {
                let expected = Self.tree(members, externalID: externalID, projection: projection)
                let actual = Self.streamed(members, externalID: externalID, projection: projection)
                #expect(
                    String(decoding: actual, as: UTF8.self) == String(decoding: expected, as: UTF8.self),
                    "attributes \(attributes ?? "-") excluded \(excluded ?? "-") members \(members?.count ?? -1)")
            }
        }
    }

    @Test("a 20,000-member group")
    func large() throws {
        let members = (0..<20_000).map { User.Reference(id: UUID(), display: $0 % 3 == 0 ? nil : "User \($0)") }
        let projection = try AttributeProjection(attributes: nil, excludedAttributes: nil, resourceType: .group)
        let expected = Self.tree(members, externalID: nil, projection: projection)
        #expect(Self.streamed(members, externalID: nil, projection: projection) == expected)
    }
}

/// `MemberList` reads member values as Foundation's `UUID(uuidString:)` does, by a faster path.
@Suite("Member lists: ids read as UUID(uuidString:) reads them")
struct MemberListIDTests {
    @Test(
        "the same ids and the same non-ids",
        arguments: [
            "2819c223-7f76-453a-919d-413861904646", "2819C223-7F76-453A-919D-413861904646",
            "2819c223-7F76-453a-919D-413861904646", "2819c223-7f76-453a-919d-41386190464",
            "2819c223-7f76-453a-919d-4138619046466", "2819c2237f76-453a-919d-413861904646-",
            "2819c223-7f76-453a-919d_413861904646", "2819c223-7f76-453a-919d-41386190464g",
            "{2819c223-7f76-453a-919d-413861904646}",
            " 2819c223-7f76-453a-919d-41386190464", "okta-123", "", "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff", "2819c223-7f76-453a-919d-4138619046é",
        ])
    func sameAsFoundation(text: String) {
        let list = MemberList([text])
        if let id = UUID(uuidString: text) {
            #expect(list.ids == [id])
            #expect(list.others.isEmpty)
        } else {
            #expect(list.ids.isEmpty)
            #expect(list.others == [text])
        }
    }
}
