import Foundation
import HTTPTypes
import SCIM
import Testing

@Suite("SCIM /Users: pagination, cursors, sorting and attribute projection")
struct UsersPagingTests {
    static let directorySize = 1_050

    /// Creates `count` users, eight requests at a time, and returns their ids.
    static func populate(_ org: TestOrganisation, count: Int) async throws -> [String: String] {
        var ids: [String: String] = [:]
        var next = 0
        while next < count {
            let batch = next..<min(count, next + 8)
            next = batch.upperBound
            try await withThrowingTaskGroup(of: (String, String).self) { group in
                for index in batch {
                    group.addTask {
                        let userName = String(format: "page-%04d@example.com", index)
                        let id = try await org.createUser(
                            userName,
                            extra: [
                                "name": ["givenName": .string("G\(index % 7)"), "familyName": .string("F\(index)")]
                            ])
                        return (userName, id)
                    }
                }
                for try await (userName, id) in group { ids[userName] = id }
            }
        }
        return ids
    }

    /// A numeric member as it is written on the wire (an integer, never a string or a float).
    static func expectInteger(
        _ result: TestResult, _ key: String, _ value: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            result.text.contains("\"\(key)\":\(value)"), "\(key) should be the integer \(value)",
            sourceLocation: sourceLocation)
        #expect(!result.text.contains("\"\(key)\":\""), "\(key) must not be a string", sourceLocation: sourceLocation)
    }

    @Test("over 1,000 users: index pages, count=0, cursors and sorting each cover everyone exactly once")
    func largeDirectory() async throws {
        try await withApp { client in
            let org = try await client.organisation("page")
            let ids = try await Self.populate(org, count: Self.directorySize)
            #expect(ids.count == Self.directorySize)
            let everyone = Set(ids.values)

            // count=0: only totalResults.
            let countOnly = try await org.scim(.get, "/Users?count=0")
            #expect(countOnly.status == .ok)
            #expect(countOnly["totalResults"] == .number(Double(Self.directorySize)))
            #expect(countOnly["Resources"]?.arrayValue?.isEmpty ?? true)
            Self.expectInteger(countOnly, "totalResults", Self.directorySize)
            Self.expectInteger(countOnly, "itemsPerPage", 0)

            // Index pages of 100, as Okta imports; one user is edited mid-import and must not move.
            var seen: [String] = []
            var startIndex = 1
            while true {
                let page = try await org.scim(.get, "/Users?startIndex=\(startIndex)&count=100")
                #expect(page.status == .ok, "\(page.text.prefix(300))")
                Self.expectInteger(page, "totalResults", Self.directorySize)
                Self.expectInteger(page, "startIndex", startIndex)
                let pageIDs = Users.ids(page)
                Self.expectInteger(page, "itemsPerPage", pageIDs.count)
                if pageIDs.isEmpty { break }
                #expect(pageIDs.count == min(100, Self.directorySize - seen.count))
                seen += pageIDs
                if startIndex == 301, let edited = ids["page-0000@example.com"] {
                    #expect(
                        try await org.patchUser(edited, ["op": "replace", "path": "title", "value": "Moved?"]).status
                            == .ok)
                }
                startIndex += 100
            }
            #expect(seen.count == Self.directorySize, "no duplicates")
            #expect(Set(seen) == everyone, "no gaps")

            // Cursor pages (RFC 9865).
            var cursorSeen: [String] = []
            var cursor = ""
            var pages = 0
            while true {
                let page = try await org.scim(.get, "/Users?count=100&cursor=\(Users.encode(cursor))")
                #expect(page.status == .ok, "\(page.text.prefix(300))")
                Self.expectInteger(page, "totalResults", Self.directorySize)
                #expect(page["startIndex"] == nil, "cursor pages carry no startIndex")
                cursorSeen += Users.ids(page)
                pages += 1
                guard let next = page["nextCursor"]?.stringValue else { break }
                #expect(!next.isEmpty)
                cursor = next
                if pages > 20 { break }
            }
            #expect(pages == 11)
            #expect(cursorSeen.count == Self.directorySize, "no duplicates")
            #expect(Set(cursorSeen) == everyone, "no gaps")

            // The same through POST /Users/.search.
            let searchPage = try await org.scim(
                .post, "/Users/.search",
                json: ["schemas": [.string(SchemaURN.searchRequest)], "cursor": "", "count": 1000])
            #expect(searchPage.status == .ok, "\(searchPage.text.prefix(300))")
            #expect(Users.ids(searchPage).count == 1000)
            let last = try await org.scim(
                .post, "/Users/.search",
                json: [
                    "schemas": [.string(SchemaURN.searchRequest)], "cursor": try #require(searchPage["nextCursor"]),
                    "count": 1000,
                ])
            #expect(Users.ids(last).count == Self.directorySize - 1000)
            #expect(last["nextCursor"] == nil)
            #expect(Set(Users.ids(searchPage) + Users.ids(last)) == everyone)

            // count above the maximum is clamped to 1,000.
            let clamped = try await org.scim(.get, "/Users?count=5000")
            #expect(Users.ids(clamped).count == 1000)
            Self.expectInteger(clamped, "itemsPerPage", 1000)

            // sortBy/sortOrder across pages.
            let sortedNames = ids.keys.sorted()
            var ascending: [String] = []
            for start in [1, 1001] {
                ascending += Users.userNames(
                    try await org.scim(.get, "/Users?sortBy=userName&startIndex=\(start)&count=1000"))
            }
            #expect(ascending == sortedNames)
            var descending: [String] = []
            for start in [1, 1001] {
                descending += Users.userNames(
                    try await org.scim(
                        .get, "/Users?sortBy=userName&sortOrder=descending&startIndex=\(start)&count=1000"))
            }
            #expect(descending == sortedNames.reversed())

            // A filtered page reports the filtered total.
            let filtered = try await org.filter("userName sw \"page-00\"", "&count=10")
            Self.expectInteger(filtered, "totalResults", 100)
            #expect(Users.ids(filtered).count == 10)
        }
    }

    @Test("sortBy on the main attributes, ascending and descending, with ties broken stably")
    func sorting() async throws {
        try await withApp { client in
            let org = try await client.organisation("sort")
            let people: [(String, String, String)] = [
                ("carol@example.com", "Carol", "Zeta"), ("alice@example.com", "Alice", "Young"),
                ("bob@example.com", "Bob", "Young"),
                ("dave@example.com", "Dave", "Adams"),
            ]
            for (userName, given, family) in people {
                _ = try await org.createUser(
                    userName,
                    extra: [
                        "name": ["givenName": .string(given), "familyName": .string(family)],
                        "displayName": .string(given),
                    ])
                try await Task.sleep(for: .milliseconds(20))
            }
            let byUserName = Users.userNames(try await org.scim(.get, "/Users?sortBy=userName"))
            #expect(byUserName == ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"])
            let byUserNameDescending = Users.userNames(
                try await org.scim(.get, "/Users?sortBy=userName&sortOrder=descending"))
            #expect(byUserNameDescending == byUserName.reversed())
            let byFamily = Users.userNames(try await org.scim(.get, "/Users?sortBy=name.familyName"))
            #expect(byFamily.first == "dave@example.com")
            #expect(byFamily.last == "carol@example.com")
            #expect(Set(byFamily[1...2]) == ["alice@example.com", "bob@example.com"])
            let byDisplayName = Users.userNames(
                try await org.scim(.get, "/Users?sortBy=DisplayName&sortOrder=DESCENDING"))
            #expect(byDisplayName == ["dave@example.com", "carol@example.com", "bob@example.com", "alice@example.com"])
            let byCreated = Users.userNames(try await org.scim(.get, "/Users?sortBy=meta.created"))
            #expect(byCreated == people.map(\.0))
            let searched = try await org.scim(
                .post, "/Users/.search",
                json: ["schemas": [.string(SchemaURN.searchRequest)], "sortBy": "userName", "sortOrder": "descending"])
            #expect(Users.userNames(searched) == byUserNameDescending)

            expectSCIMError(try await org.scim(.get, "/Users?sortBy=emails"), .badRequest)
            expectSCIMError(try await org.scim(.get, "/Users?sortBy=nickName"), .badRequest)
            expectSCIMError(try await org.scim(.get, "/Users?sortBy=userName&sortOrder=sideways"), .badRequest)
        }
    }

    @Test("out-of-range startIndex and count are clamped; non-integers and bad cursors are 400")
    func pagingEdges() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            for index in 0..<3 { _ = try await org.createUser("edge-\(index)@example.com") }
            let beyond = try await org.scim(.get, "/Users?startIndex=50")
            #expect(beyond.status == .ok)
            #expect(beyond["totalResults"] == 3)
            #expect(Users.ids(beyond).isEmpty)
            let zero = try await org.scim(.get, "/Users?startIndex=0&count=2")
            #expect(zero["startIndex"] == 1)
            #expect(Users.ids(zero).count == 2)
            let negative = try await org.scim(.get, "/Users?count=-5")
            #expect(negative.status == .ok)
            #expect(Users.ids(negative).isEmpty)
            #expect(negative["totalResults"] == 3)
            // The largest startIndex accepted is echoed as a JSON integer, not as 9.007199254740991e+15.
            let far = try await org.scim(.get, "/Users?startIndex=9007199254740991")
            #expect(far.status == .ok, "\(far.text)")
            #expect(far.text.contains("\"startIndex\":9007199254740991"), "\(far.text)")
            #expect(Users.ids(far).isEmpty)
            let defaults = try await org.scim(.get, "/Users")
            #expect(defaults["startIndex"] == 1)
            #expect(Users.ids(defaults).count == 3)

            expectSCIMError(try await org.scim(.get, "/Users?count=ten"), .badRequest)
            expectSCIMError(try await org.scim(.get, "/Users?startIndex=%221%22"), .badRequest)
            expectSCIMError(try await org.scim(.get, "/Users?cursor=not-a-cursor"), .badRequest, "invalidCursor")
            expectSCIMError(try await org.scim(.get, "/Users?cursor=&sortBy=userName"), .badRequest)
            expectSCIMError(try await org.scim(.get, "/Users?cursor=&startIndex=1"), .badRequest)
            let cursorCountZero = try await org.scim(.get, "/Users?cursor=&count=0")
            #expect(cursorCountZero["totalResults"] == 3)
            #expect(cursorCountZero["nextCursor"] == nil)
        }
    }

    // MARK: Attribute projection

    @Test("attributes and excludedAttributes on reads; id and schemas are always returned")
    func projectionOnReads() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("projected")
            let id = try await org.createUser(
                email,
                extra: [
                    "title": "T", Users.enterprise: ["department": "D", "employeeNumber": "1"], "displayName": "P",
                ])

            let only = try await org.scim(.get, "/Users/\(id)?attributes=userName")
            #expect(only.status == .ok)
            #expect(only.keys == ["id", "schemas", "userName"], "\(only.text)")

            let sub = try await org.scim(.get, "/Users/\(id)?attributes=name.givenName,emails.value")
            #expect(sub.json?.at("name")?.objectValue?.keys.sorted() == ["givenName"])
            #expect(sub["emails"]?.arrayValue?.first?.objectValue?.keys.sorted() == ["value"])
            #expect(sub["userName"] == nil)

            let urn = try await org.scim(
                .get, "/Users/\(id)?attributes=\(Users.encode("\(Users.enterprise):department"))")
            #expect(urn.json?.at(Users.enterprise)?.objectValue?.keys.sorted() == ["department"], "\(urn.text)")
            #expect(urn["title"] == nil)

            let wholeExtension = try await org.scim(.get, "/Users/\(id)?attributes=\(Users.encode(Users.enterprise))")
            #expect(
                wholeExtension.json?.at(Users.enterprise)?.objectValue?.keys.sorted() == [
                    "department", "employeeNumber",
                ])

            let excluded = try await org.scim(.get, "/Users/\(id)?excludedAttributes=emails,name,id,schemas,meta")
            #expect(excluded["emails"] == nil)
            #expect(excluded["name"] == nil)
            #expect(excluded["meta"] == nil)
            #expect(excluded["id"]?.stringValue == id, "id is always returned")
            #expect(excluded["schemas"] != nil, "schemas is always returned")
            #expect(excluded["userName"]?.stringValue == email)
            #expect(excluded["title"] == "T")

            let caseInsensitive = try await org.scim(.get, "/Users/\(id)?ATTRIBUTES=USERNAME")
            #expect(caseInsensitive.keys == ["id", "schemas", "userName"], "\(caseInsensitive.text)")

            let listed = try await org.scim(
                .get, "/Users?attributes=userName&filter=\(Users.encode("userName eq \"\(email)\""))")
            let resource = try #require(listed["Resources"]?.arrayValue?.first)
            #expect(Set(resource.objectValue.map { Array($0.keys) } ?? []) == ["id", "schemas", "userName"])
            let listedExcluded = try await org.scim(.get, "/Users?excludedAttributes=emails")
            #expect(
                listedExcluded["Resources"]?.arrayValue?.allSatisfy {
                    $0[caseInsensitive: "emails"] == nil && $0[caseInsensitive: "id"] != nil
                } == true)
        }
    }

    @Test("attributes and excludedAttributes on write responses")
    func projectionOnWrites() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("projected-write")
            let created = try await org.scim(.post, "/Users?attributes=userName", json: Users.body(email))
            #expect(created.status == .created)
            #expect(created.keys == ["id", "schemas", "userName"], "\(created.text)")
            let id = try #require(created["id"]?.stringValue)
            #expect(created.headers[.location]?.hasSuffix(id) == true)

            let put = try await org.scim(
                .put, "/Users/\(id)?excludedAttributes=name,emails", json: Users.body(email, given: "Q"))
            #expect(put.status == .ok)
            #expect(put["name"] == nil)
            #expect(put["emails"] == nil)
            #expect(put["id"]?.stringValue == id)

            let patched = try await org.scim(
                .patch, "/Users/\(id)?attributes=active",
                json: Users.patch(["op": "replace", "value": ["active": false]]))
            #expect(patched.status == .ok)
            #expect(patched.keys == ["id", "schemas", "active"], "\(patched.text)")
            #expect(patched["active"] == false)
        }
    }
}
