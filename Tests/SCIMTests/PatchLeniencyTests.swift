import SCIM
import Testing

@Suite("PATCH: standard attributes Learn Amp does not keep")
struct PatchLeniencyTests {
    @Test(
        "Entra's default mappings for phone numbers, addresses and the like are ignored and reported, not rejected",
        arguments: [
            #"[{"op":"Add","path":"phoneNumbers[type eq \"work\"].value","value":"+44 20 7946 0000"}]"#,
            #"[{"op":"Add","path":"addresses[type eq \"work\"].locality","value":"London"}]"#,
            #"[{"op":"Replace","path":"nickName","value":"Ada"}]"#,
            #"[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:preferredLanguage","value":"en-GB"}]"#,
            #"[{"op":"Remove","path":"phoneNumbers[type eq \"mobile\"]"}]"#,
        ])
    func ignored(operations: String) throws {
        let request = try PatchRequest.decode(PatchFixtures.patch(operations), limits: .default)
        let result = try PatchEngine(resourceType: PatchFixtures.userType).apply(request, to: PatchFixtures.user)
        #expect(result.changedAttributes.isEmpty)
        #expect(result.resource == PatchFixtures.user)
        #expect(result.unknownAttributes.count == 1)
    }

    @Test(
        "an attribute no SCIM schema defines is still invalidPath",
        arguments: ["bogus", "urn:example:custom:2.0:User:nickName"])
    func unknown(path: String) throws {
        let request = try PatchRequest.decode(
            PatchFixtures.patch(#"[{"op":"replace","path":"\#(path)","value":"x"}]"#), limits: .default)
        #expect(throws: SCIMError.self) {
            _ = try PatchEngine(resourceType: PatchFixtures.userType).apply(request, to: PatchFixtures.user)
        }
        do {
            _ = try PatchEngine(resourceType: PatchFixtures.userType).apply(request, to: PatchFixtures.user)
        } catch {
            #expect(error.scimType == .invalidPath)
        }
    }
}
