import Foundation
import HTTPTypes
import HummingbirdTesting
import Postgres
import SCIM
import SCIMStore
import Testing

@testable import SCIMServer

/// Which events a person's export and erasure reach: the person's, never another person's, whatever
/// the case of the letters in their names.
@Suite("Lifecycle: whose data an export or an erasure reaches")
struct ErasureExportScopeTests {
    /// A renamed account freed its old userName, which a new person now holds: the new person's
    /// subject-access export must not hand out the events about the first account.
    @Test("a person's export leaves out events about another account that once had their userName")
    func exportLeavesOutAnotherAccountsEvents() async throws {
        try await withApp { client in
            let org = try await client.organisation("sarx")
            let firstID = try await org.createUser("shared@scope.com")
            let renamed = try await org.patchUser(
                firstID, ["op": "replace", "path": "userName", "value": "first.renamed@scope.com"],
                ["op": "replace", "path": "emails", "value": [["value": "first.renamed@scope.com", "primary": true]]])
            try #require(renamed.status == .ok, "\(renamed.text)")
            let secondID = try await org.createUser("shared@scope.com")
            let schema = try PostgresIdentifier(Organisation.schemaName(forSlug: org.slug))
            let first = try #require(UUID(uuidString: firstID))
            // The first account's create event names the freed userName.
            try await withDatabase { db in
                _ = try await db.query(
                    """
                    INSERT INTO \(schema).sync_events
                        (outcome, request_id, method, path, resource_type, resource_id, user_name, status)
                    VALUES ('success', 'first-create', 'POST', '/scim/v2/Users', 'User', \(first),
                            'shared@scope.com', 201)
                    """)
            }
            let export = try await client.admin(.get, "/organisations/\(org.slug)/users/\(secondID)/export")
            try #require(export.status == .ok, "\(export.text)")
            let events = try PersonalDataTests.lines(export.text).filter {
                $0[caseInsensitive: "record"] == "syncEvent"
            }
            #expect(!events.isEmpty, "the second person's own create event")
            #expect(
                events.allSatisfy {
                    $0[caseInsensitive: "resource_id"]?.stringValue?.lowercased() != firstID.lowercased()
                },
                "another account's events: \(export.text)")
            #expect(!export.text.contains("first-create"), "\(export.text)")
        }
    }

    /// Letters whose lowercase differs between Swift and PostgreSQL (the Turkish dotted capital I
    /// lowercases to "i" plus a combining dot in Swift, to "i" in the database) are erased too.
    @Test("an erasure scrubs names with letters that lowercase differently in Swift and in PostgreSQL")
    func erasureScrubsDottedCapitalI() async throws {
        try await withApp { client in
            let org = try await client.organisation("erti")
            let id = try await org.createUser(
                "İlker.Yılmaz@scope.com",
                extra: ["name": ["givenName": "İlker", "familyName": "Yılmaz"], "displayName": "İlker Yılmaz"])
            let schema = try PostgresIdentifier(Organisation.schemaName(forSlug: org.slug))
            try await withDatabase { db in
                _ = try await db.query(
                    """
                    INSERT INTO \(schema).sync_events (outcome, request_id, method, path, user_name, status, detail)
                    VALUES ('error', 'dotted', 'POST', '/scim/v2/Users', 'İlker.Yılmaz@scope.com', 409,
                            'userName "İlker.Yılmaz@scope.com" (İlker Yılmaz) already exists')
                    """)
            }
            let erased = try await client.admin(.post, "/organisations/\(org.slug)/users/\(id)/erase")
            try #require(erased.status == .ok, "\(erased.text)")
            try await withDatabase { db in
                let rows = try await db.query(
                    "SELECT user_name, detail FROM \(schema).sync_events WHERE request_id = 'dotted'")
                let row = try #require(rows.first)
                #expect(try row.decode("user_name", as: String?.self) == id.lowercased())
                #expect(
                    try row.decode("detail", as: String?.self)
                        == "userName \"\(id.lowercased())\" (\(id.lowercased())) already exists")
                let leaks = try await db.query(
                    "SELECT count(*) FROM \(schema).sync_events WHERE user_name ILIKE '%lker%' OR detail ILIKE '%lker%'"
                )
                #expect(try leaks.rows[0].decode(0, as: Int.self) == 0)
            }
        }
    }
}

extension ErasureExportScopeTests {
    /// An event about another account carries that account's userName, even when it equals the
    /// erased person's: an account renamed away from it, or the account the identity provider
    /// provisions again with the same email while the erasure's follow-up still runs.
    @Test("an erasure and its follow-up leave the userName of events about other accounts alone")
    func erasureLeavesOtherAccountsEvents() async throws {
        try await withApp { client in
            let org = try await client.organisation("erto")
            let email = "twice@scope.com"
            let renamedID = try await org.createUser(email)
            let renamed = try await org.patchUser(
                renamedID, ["op": "replace", "path": "userName", "value": "renamed@scope.com"],
                ["op": "replace", "path": "emails", "value": [["value": "renamed@scope.com", "primary": true]]])
            try #require(renamed.status == .ok, "\(renamed.text)")
            let erasedID = try await org.createUser(email)
            let erased = try await client.admin(.post, "/organisations/\(org.slug)/users/\(erasedID)/erase")
            try #require(erased.status == .ok, "\(erased.text)")
            let againID = try await org.createUser(email)
            let schema = try PostgresIdentifier(Organisation.schemaName(forSlug: org.slug))
            try await withDatabase { db in
                // Its next pass, and none of other tests' organisations.
                _ = try await UserErasure(client: db).followUp(
                    now: Date().addingTimeInterval(3600), scope: .only([org.slug]))
                for id in [renamedID, againID] {
                    let created = try await db.query(
                        """
                        SELECT user_name FROM \(schema).sync_events
                        WHERE resource_id = \(try #require(UUID(uuidString: id))) AND method = 'POST'
                        """)
                    #expect(
                        try created.map { try $0.decode("user_name", as: String?.self) } == [email],
                        "the create event of \(id == renamedID ? "the renamed" : "the new") account")
                }
            }
        }
    }
}

extension ErasureExportScopeTests {
    /// A person renamed before the erasure (a new email after a change of name) is still named by
    /// their old userName in events no longer tied to their account: a refused create, a detail.
    @Test("an erasure also scrubs the userName the person had before a rename")
    func erasureScrubsFormerUserName() async throws {
        try await withApp { client in
            let org = try await client.organisation("ertr")
            let id = try await org.createUser("maiden.name@scope.com")
            let renamed = try await org.patchUser(
                id, ["op": "replace", "path": "userName", "value": "married.name@scope.com"],
                ["op": "replace", "path": "emails", "value": [["value": "married.name@scope.com", "primary": true]]])
            try #require(renamed.status == .ok, "\(renamed.text)")
            let schema = try PostgresIdentifier(Organisation.schemaName(forSlug: org.slug))
            try await withDatabase { db in
                _ = try await db.query(
                    """
                    INSERT INTO \(schema).sync_events (outcome, request_id, method, path, user_name, status, detail)
                    VALUES ('error', 'former', 'POST', '/scim/v2/Users', 'Maiden.Name@scope.com', 409,
                            'A provisioned user already has the userName maiden.name@scope.com.')
                    """)
            }
            let erased = try await client.admin(.post, "/organisations/\(org.slug)/users/\(id)/erase")
            try #require(erased.status == .ok, "\(erased.text)")
            try await withDatabase { db in
                let leaks = try await db.query(
                    "SELECT count(*) FROM \(schema).sync_events WHERE user_name ILIKE '%maiden%' OR detail ILIKE '%maiden%'"
                )
                #expect(try leaks.rows[0].decode(0, as: Int.self) == 0)
            }
        }
    }
}
