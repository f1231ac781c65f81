import Foundation
import HTTPTypes
import SCIM
import Testing

@Suite("Concurrent writes to one user")
struct ConcurrencyTests {
    static let writers = 8

    @Test("PATCHes with the same If-Match: exactly one 200, the rest 412", .timeLimit(.minutes(2)))
    func ifMatchPatches() async throws {
        try await withApp { client in
            let org = try await client.organisation("cc")
            let id = try await org.createUser(Users.email("etag"))
            for round in 0..<3 {
                let etag = try #require(try await org.scim(.get, "/Users/\(id)").headers[.eTag], "no ETag")
                let statuses = try await withThrowingTaskGroup(of: (Int, TestResult).self) { group in
                    for writer in 0..<Self.writers {
                        group.addTask {
                            let result = try await org.patchUser(
                                id, ["op": "replace", "path": "title", "value": .string("R\(round)W\(writer)")],
                                headers: [.ifMatch: etag])
                            return (writer, result)
                        }
                    }
                    return try await group.reduce(into: [(Int, TestResult)]()) { $0.append($1) }
                }
                let winners = statuses.filter { $0.1.status == .ok }
                #expect(winners.count == 1, "round \(round): \(statuses.map { $0.1.status.code })")
                for (_, loser) in statuses where loser.status != .ok {
                    expectSCIMError(loser, .preconditionFailed)
                }
                let stored = try await org.scim(.get, "/Users/\(id)")
                #expect(stored["title"]?.stringValue == winners.first.map { "R\(round)W\($0.0)" })
                #expect(stored.headers[.eTag] != etag)
            }
        }
    }

    @Test("PUTs without If-Match: the last writer wins whole, never a mix of two bodies", .timeLimit(.minutes(2)))
    func putsAreAtomic() async throws {
        try await withApp { client in
            let org = try await client.organisation("cc")
            let userName = Users.email("put")
            let id = try await org.createUser(userName)
            for round in 0..<4 {
                func body(_ writer: Int) -> JSONValue {
                    Users.body(
                        userName, given: "G\(round)-\(writer)", family: "F\(round)-\(writer)",
                        extra: [
                            "title": .string("T\(round)-\(writer)"), "displayName": .string("D\(round)-\(writer)"),
                            Users.enterprise: [
                                "department": .string("Dept\(writer % 3)"),
                                "costCenter": .string("C\(round)-\(writer)"),
                            ],
                        ])
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<Self.writers {
                        group.addTask {
                            let result = try await org.scim(.put, "/Users/\(id)", json: body(writer))
                            #expect(result.status == .ok, "\(result.text)")
                        }
                    }
                    try await group.waitForAll()
                }
                let stored = try #require(try await org.scim(.get, "/Users/\(id)").json)
                let writer = try #require(
                    stored.at("name", "givenName")?.stringValue.flatMap {
                        $0.split(separator: "-").last.flatMap { Int($0) }
                    },
                    "\(stored)")
                #expect(stored.at("name", "familyName")?.stringValue == "F\(round)-\(writer)")
                #expect(stored.at("title")?.stringValue == "T\(round)-\(writer)")
                #expect(stored.at("displayName")?.stringValue == "D\(round)-\(writer)")
                #expect(stored.at(Users.enterprise, "costCenter")?.stringValue == "C\(round)-\(writer)")
                #expect(stored.at(Users.enterprise, "department")?.stringValue == "Dept\(writer % 3)")
                #expect(stored.at(SchemaURN.learnAmpUser, "primaryTeam", "display")?.stringValue == "Dept\(writer % 3)")
            }
        }
    }

    @Test("concurrent department changes leave the user in exactly one department team", .timeLimit(.minutes(2)))
    func departmentMoves() async throws {
        try await withApp { client in
            let org = try await client.organisation("cc")
            let id = try await org.createUser(Users.email("dept"), extra: [Users.enterprise: ["department": "Start"]])
            let departments = ["Alpha", "Beta", "Gamma", "Delta"]
            for round in 0..<4 {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<Self.writers {
                        group.addTask {
                            let department = departments[(writer + round) % departments.count]
                            let result = try await org.patchUser(
                                id,
                                [
                                    "op": "replace", "path": "\(Users.enterprise):department",
                                    "value": .string(department),
                                ])
                            #expect(result.status == .ok, "\(result.text)")
                        }
                    }
                    try await group.waitForAll()
                }
                let user = try await org.scim(.get, "/Users/\(id)")
                let department = try #require(user.json?.at(Users.enterprise, "department")?.stringValue)
                #expect(user.json?.at(SchemaURN.learnAmpUser, "primaryTeam", "display")?.stringValue == department)

                let groups = try await org.scim(.get, "/Groups?count=100")
                #expect(groups.status == .ok)
                let holding = (groups["Resources"]?.arrayValue ?? []).filter { group in
                    (group[caseInsensitive: "members"]?.arrayValue ?? []).contains {
                        $0[caseInsensitive: "value"]?.stringValue == id
                    }
                }
                let names = holding.compactMap { $0[caseInsensitive: "displayName"]?.stringValue }
                #expect(names == [department], "round \(round): member of \(names), department \(department)")
            }
        }
    }
}
