// libFuzzer harness: a PATCH body through `PatchRequest.decode`, then `PatchEngine.apply` to a fixed
// user (with custom fields) and to a fixed group, and `PatchEngine.memberChanges`. Built by
// scripts/fuzz together with the sources of the SCIM module.
//
// Every failure must be a SCIMError with a 4xx status; a trap, a 5xx or a hang is a bug.

private func json(_ text: String) -> JSONValue { try! JSONValue.parse(Array(text.utf8)) }

private let userType = ResourceType.user(customFields: [
    CustomFieldDefinition(name: "costCentre", type: .string),
    CustomFieldDefinition(name: "level", type: .number),
    CustomFieldDefinition(name: "mentor", type: .boolean),
    CustomFieldDefinition(name: "probationEnds", type: .date),
    CustomFieldDefinition(name: "band", type: .enum(allowed: ["Junior", "Senior"])),
])
private let userEngine = PatchEngine(resourceType: userType)
private let groupEngine = PatchEngine(resourceType: .group)

private let user = json(
    #"""
    {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
     "id":"u-1","externalId":"okta-1","userName":"ada@acme.com","name":{"givenName":"Ada","familyName":"Lovelace"},
     "displayName":"Ada Lovelace","emails":[{"value":"ada@acme.com","type":"work","primary":true}],
     "title":"Engineer","active":true,"groups":[{"value":"g-1","display":"Engineering"}],
     "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering","manager":{"value":"m-1"}},
     "meta":{"resourceType":"User","created":"2026-01-01T00:00:00Z","version":"W/\"1\""}}
    """#)

private let group = json(
    #"""
    {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g-1","displayName":"Engineering",
     "members":[{"value":"u-1","display":"Ada"},{"value":"u-2","display":"Grace"}]}
    """#)

private let limits = ServiceLimits(maxOperations: 50, maxMembersPerRequest: 50)

private func check(_ error: SCIMError) {
    precondition((400..<500).contains(error.status), "unexpected error \(error)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body: JSONValue
    do {
        body = try JSONValue.parse(UnsafeBufferPointer(start: data, count: size))
    } catch {
        return 0
    }
    let request: PatchRequest
    do {
        request = try PatchRequest.decode(body, limits: limits)
    } catch {
        check(error)
        return 0
    }
    do { _ = try userEngine.apply(request, to: user) } catch { check(error) }
    do { _ = try groupEngine.apply(request, to: group) } catch { check(error) }
    do { _ = try PatchEngine.memberChanges(request, groupID: "g-1", limits: limits) } catch { check(error) }
    return 0
}
