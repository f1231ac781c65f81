import SCIM
import Testing

/// One Groups PATCH and the plan it must give.
struct GroupPlanCase: Sendable, CustomTestStringConvertible {
    var name: String
    var operations: String
    var plan: GroupPatchPlan
    var testDescription: String { name }
}

private let planCases: [GroupPlanCase] = [
    GroupPlanCase(
        name: "Okta add members",
        operations: #"[{"op":"add","path":"members","value":[{"value":"u-1","display":"Ada"},{"value":"u-2"}]}]"#,
        plan: GroupPatchPlan(addMembers: ["u-1", "u-2"])),
    GroupPlanCase(
        name: "Okta remove by value filter",
        operations: #"[{"op":"remove","path":"members[value eq \"u-1\"]"}]"#,
        plan: GroupPatchPlan(removeMembers: ["u-1"])),
    GroupPlanCase(
        name: "Remove several by an or filter",
        operations: #"[{"op":"remove","path":"members[value eq \"u-1\" or value eq \"u-2\"]"}]"#,
        plan: GroupPatchPlan(removeMembers: ["u-1", "u-2"])),
    GroupPlanCase(
        name: "Entra Remove with a value list removes only those",
        operations: #"[{"op":"Remove","path":"members","value":[{"value":"u-1"}]}]"#,
        plan: GroupPatchPlan(removeMembers: ["u-1"], rewrites: [.caseFolded: 1])),
    GroupPlanCase(
        name: "Entra capitalised Add",
        operations: #"[{"op":"Add","path":"members","value":[{"value":"u-3"}]}]"#,
        plan: GroupPatchPlan(addMembers: ["u-3"], rewrites: [.caseFolded: 1])),
    GroupPlanCase(
        name: "Replace the whole member list",
        operations: #"[{"op":"replace","path":"members","value":[{"value":"u-1"},{"value":"u-2"},{"value":"u-1"}]}]"#,
        plan: GroupPatchPlan(replaceMembers: ["u-1", "u-2"])),
    GroupPlanCase(
        name: "Replace with an empty list removes everyone",
        operations: #"[{"op":"replace","path":"members","value":[]}]"#,
        plan: GroupPatchPlan(removeAllMembers: true)),
    GroupPlanCase(
        name: "Remove members without a value removes everyone",
        operations: #"[{"op":"remove","path":"members"}]"#,
        plan: GroupPatchPlan(removeAllMembers: true)),
    GroupPlanCase(
        name: "Okta path-less rename carrying the group's own id",
        operations: #"[{"op":"replace","value":{"id":"g-1","displayName":"Platform"}}]"#,
        plan: GroupPatchPlan(displayName: "Platform", rewrites: [.strayId: 1])),
    GroupPlanCase(
        name: "Rename with a path",
        operations: #"[{"op":"Replace","path":"displayName","value":"Platform"}]"#,
        plan: GroupPatchPlan(displayName: "Platform", rewrites: [.caseFolded: 1])),
    GroupPlanCase(
        name: "Rename with a URN path",
        operations: #"[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:Group:displayName","value":"P"}]"#,
        plan: GroupPatchPlan(displayName: "P")),
    GroupPlanCase(
        name: "Set and clear externalId",
        operations: #"[{"op":"add","path":"externalId","value":"x"},{"op":"remove","path":"externalId"}]"#,
        plan: GroupPatchPlan(externalId: .some(nil))),
    GroupPlanCase(
        name: "Okta membership update with rename, in order",
        operations: #"""
            [{"op":"replace","value":{"id":"g-1","displayName":"Engineering"}},
             {"op":"add","path":"members","value":[{"value":"u-1"},{"value":"u-2"}]},
             {"op":"remove","path":"members[value eq \"u-1\"]"}]
            """#,
        plan: GroupPatchPlan(
            displayName: "Engineering", addMembers: ["u-2"], removeMembers: ["u-1"], rewrites: [.strayId: 1])),
    GroupPlanCase(
        name: "Remove then add the same member keeps them",
        operations:
            #"[{"op":"remove","path":"members","value":[{"value":"u-1"}]},{"op":"add","path":"members","value":[{"value":"u-1"}]}]"#,
        plan: GroupPatchPlan(addMembers: ["u-1"])),
    GroupPlanCase(
        name: "Duplicate adds are one add",
        operations:
            #"[{"op":"add","path":"members","value":[{"value":"u-1"}]},{"op":"add","path":"members","value":[{"value":"u-1"}]}]"#,
        plan: GroupPatchPlan(addMembers: ["u-1"])),
    GroupPlanCase(
        name: "Remove everyone, then add one",
        operations:
            #"[{"op":"remove","path":"members"},{"op":"add","path":"members","value":[{"value":"u-3"}]},{"op":"remove","path":"members[value eq \"u-4\"]"}]"#,
        plan: GroupPatchPlan(addMembers: ["u-3"], removeAllMembers: true)),
    GroupPlanCase(
        name: "Replace, then add and remove edit the replacement",
        operations: #"""
            [{"op":"replace","path":"members","value":[{"value":"u-1"},{"value":"u-2"}]},
             {"op":"add","path":"members","value":[{"value":"u-3"}]},
             {"op":"remove","path":"members","value":[{"value":"u-1"}]}]
            """#,
        plan: GroupPatchPlan(replaceMembers: ["u-2", "u-3"])),
    GroupPlanCase(
        name: "Path-less add with members and a type",
        operations: #"[{"op":"add","value":{"members":[{"value":"u-5","type":"user"}]}}]"#,
        plan: GroupPatchPlan(addMembers: ["u-5"], rewrites: [.caseFolded: 1])),
    GroupPlanCase(
        name: "Path-less replace with members replaces the list",
        operations: #"[{"op":"replace","value":{"displayName":"T","members":[{"value":"u-5"}]}}]"#,
        plan: GroupPatchPlan(displayName: "T", replaceMembers: ["u-5"])),
    GroupPlanCase(
        name: "Entra rename and membership in one request",
        operations: #"""
            [{"op":"Replace","path":"displayName","value":"New name"},
             {"op":"Add","path":"members","value":[{"value":"u-7"}]},
             {"op":"Remove","path":"members","value":[{"value":"u-8"}]}]
            """#,
        plan: GroupPatchPlan(
            displayName: "New name", addMembers: ["u-7"], removeMembers: ["u-8"], rewrites: [.caseFolded: 3])),
]

@Suite("PATCH on Groups")
struct PatchGroupTests {
    @Test(arguments: planCases)
    func plansMemberChangesWithoutLoadingMembers(_ testCase: GroupPlanCase) throws {
        #expect(try PatchFixtures.planGroup(testCase.operations) == testCase.plan)
    }

    /// The plan and the general engine must agree on what the member list becomes.
    @Test(arguments: planCases)
    func agreesWithTheEngineOnALoadedGroup(_ testCase: GroupPlanCase) throws {
        let request = try PatchRequest.decode(PatchFixtures.patch(testCase.operations), limits: .default)
        let patched = try PatchEngine(resourceType: .group).apply(request, to: PatchFixtures.group)
        let before = (PatchFixtures.group.objectValue?["members"]?.arrayValue ?? []).compactMap {
            $0.objectValue?["value"]?.stringValue
        }
        let after = (patched.resource.objectValue?["members"]?.arrayValue ?? []).compactMap {
            $0.objectValue?["value"]?.stringValue
        }
        let plan = testCase.plan
        var expected: [String]
        if let replacement = plan.replaceMembers {
            expected = replacement
        } else {
            expected = plan.removeAllMembers ? [] : before.filter { !plan.removeMembers.contains($0) }
            expected += plan.addMembers.filter { !expected.contains($0) }
        }
        #expect(Set(after) == Set(expected))
        #expect(after.count == Set(after).count)
        if let name = plan.displayName {
            #expect(patched.resource.objectValue?["displayName"]?.stringValue == name)
        }
    }

    @Test func memberAddsAreLimited() {
        let limits = ServiceLimits(maxMembersPerRequest: 2)
        #expect(throws: SCIMError.self) {
            try PatchFixtures.planGroup(
                #"[{"op":"add","path":"members","value":[{"value":"a"},{"value":"b"},{"value":"c"}]}]"#, limits: limits)
        }
    }

    @Test func aThousandMembersInOneRequest() throws {
        let members = (0..<1000).map { #"{"value":"user-\#($0)"}"# }.joined(separator: ",")
        let plan = try PatchFixtures.planGroup(#"[{"op":"add","path":"members","value":[\#(members)]}]"#)
        #expect(plan.addMembers.count == 1000)
        #expect(plan.referencedMembers.count == 1000)
        #expect(plan.changesMembers)
    }
}
