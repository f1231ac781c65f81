import Foundation
import SCIM
import Testing

/// `JSONValue.parseGroup`: a Groups body's plain member array comes out as a `MemberList`, and anything
/// else is left in the tree, so the normaliser and `Group` report it as before.
@Suite("Group bodies: members parsed into a MemberList")
struct GroupBodyParsingTests {
    static let a = "2819c223-7f76-453a-919d-413861904646"
    static let b = "902c246b-6245-4190-8e05-00816be7344a"
    static let group = SchemaURN.group

    /// What POST and PUT do with a body.
    static func group(_ text: String) throws(SCIMError) -> Group {
        let body = try JSONValue.parseGroup(Array(text.utf8))
        let normalised = try Normaliser(resourceType: .group).normalise(resource: body.json)
        return try Group(json: normalised.value, extractedMembers: body.members[.resource]?.list)
    }

    /// The same body through the tree, as every body was parsed before.
    static func groupFromTree(_ text: String) throws(SCIMError) -> Group {
        let normalised = try Normaliser(resourceType: .group).normalise(resource: try JSONValue.parse(Array(text.utf8)))
        return try Group(json: normalised.value)
    }

    @Test("Okta's PUT: members extracted, display dropped, the rest of the body kept")
    func oktaPut() throws {
        let text =
            #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"x","displayName":"Sales","#
            + #""members":[{"value":"\#(Self.a)","display":"Ada"},{"value":"\#(Self.b)","display":"Bob"}]}"#
        let body = try JSONValue.parseGroup(Array(text.utf8))
        #expect(body.json[caseInsensitive: "members"] == nil, "the array is not in the tree")
        #expect(body.json[caseInsensitive: "displayName"] == "Sales")
        let extracted = try #require(body.members[.resource])
        #expect(extracted.list.ids.map(\.lowercasedString) == [Self.a, Self.b])
        #expect(try Self.group(text) == Self.groupFromTree(text))
    }

    @Test(
        "bodies the extractor leaves to the tree give the same group or the same error",
        arguments: [
            #"{"schemas":["\#(group)"],"displayName":"T","members":[]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","Members":[{"Value":"\#(a)","TYPE":"user"},null,"\#(b)"]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","members":[{"value":"okta-1"}]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","members":[{"display":"no value"}]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","members":[{"value":5}]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","members":[{"value":""}]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","members":[{"value":"\#(a)","type":"Group"}]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","members":[{"value":"\#(a)","extra":{"nested":true}}]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","members":"everyone"}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","members":[{"value":"\#(a)"}],"members":[{"value":"\#(b)"}]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","members":[{"value":"\#(a)"}],"MEMBERS":[{"value":"\#(b)"}]}"#,
        ])
    func sameAsTree(text: String) {
        let extracted = Result { () throws(SCIMError) in try Self.group(text) }
        let tree = Result { () throws(SCIMError) in try Self.groupFromTree(text) }
        #expect(extracted == tree)
    }

    @Test(
        "a name repeated in the body or in a member object is invalidSyntax, extracted or not",
        arguments: [
            #"{"schemas":["\#(group)"],"displayName":"T","members":[{"value":"\#(a)"}],"members":[{"value":"\#(b)"}]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","displayName":"U","members":[{"value":"\#(a)"}]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","members":[{"value":"\#(a)","value":"\#(b)"}]}"#,
            #"{"schemas":["\#(group)"],"displayName":"T","members":[{"value":"\#(a)","display":"A","display":"B"}]}"#,
        ])
    func duplicateNames(text: String) {
        let extracted = Result { () throws(SCIMError) in try JSONValue.parseGroup(Array(text.utf8)).json }
        #expect(throws: SCIMError.self) { try extracted.get() }
        if case .failure(let error) = extracted { #expect(error.scimType == .invalidSyntax, "\(error)") }
        #expect(
            extracted.map { _ in 0 }
                == Result { () throws(SCIMError) in try JSONValue.parse(Array(text.utf8)) }.map { _ in 0 })
    }

    @Test(
        "malformed documents fail as parse(_:) fails",
        arguments: [
            #"{"displayName":"T","members":[{"value":"\#(a)"}"#,
            #"{"displayName":"T","members":[{"value":"\#(a)"},]}"#,
            #"{"displayName":"T","members":[{"value":"a\u0000"}]}"#,
        ])
    func malformed(text: String) {
        let extracted = Result { () throws(SCIMError) in try JSONValue.parseGroup(Array(text.utf8)).json }
        let tree = Result { () throws(SCIMError) in try JSONValue.parse(Array(text.utf8)) }
        #expect(extracted == tree)
    }
}
