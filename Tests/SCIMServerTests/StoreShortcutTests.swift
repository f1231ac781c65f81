import Postgres
import SCIM
import Testing

@testable import SCIMStore

/// Which filters pin one row, so a list page is sent without ORDER BY (`ListPaging`). A wrong "yes"
/// would return a page of several rows in no stable order; the filter's results themselves are
/// checked against PostgreSQL in `UsersFilterTests` and `GroupsTests`.
@Suite("Filters that match at most one row")
struct FilterUniquenessTests {
    private static let schema = try! PostgresIdentifier("org_test")

    private static func users(_ text: String) throws -> Bool {
        let compiler = FilterCompiler { UserColumns.attribute($0, schema: schema, customFields: []) }
        return compiler.matchesAtMostOneRow(try Filter.parse(text))
    }

    @Test(
        "userName eq and id eq pin one user, alone or AND-ed",
        arguments: [
            #"userName eq "ada@acme.com""#,
            #"USERNAME EQ "ADA@ACME.COM""#,
            #"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ada@acme.com""#,
            #"id eq "2819c223-7f76-453a-919d-413861904646""#,
            #"id eq "not-a-uuid""#,
            #"userName eq "ada@acme.com" and active eq true"#,
            #"active eq true and (title pr and userName eq "ada@acme.com")"#,
        ])
    func pinsOneUser(_ filter: String) throws {
        #expect(try Self.users(filter))
    }

    @Test(
        "anything else may match several users",
        arguments: [
            #"userName ne "ada@acme.com""#,
            #"userName sw "ada""#,
            "userName eq null",
            "userName pr",
            #"userName eq "ada@acme.com" or userName eq "grace@acme.com""#,
            #"not (userName eq "ada@acme.com")"#,
            #"externalId eq "ext-1""#,
            #"title eq "Engineer""#,
            #"emails.value eq "ada@acme.com""#,
            #"emails[value eq "ada@acme.com"]"#,
            #"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "100""#,
        ])
    func mayMatchSeveral(_ filter: String) throws {
        #expect(try !Self.users(filter))
    }

    @Test("groups: displayName eq and id eq pin one group; externalId does not")
    func groups() throws {
        func pins(_ text: String) throws -> Bool {
            let compiler = FilterCompiler { GroupStore.attribute($0, schema: Self.schema) }
            return compiler.matchesAtMostOneRow(try Filter.parse(text))
        }
        #expect(try pins(#"displayName eq "Engineering""#))
        #expect(try pins(#"id eq "2819c223-7f76-453a-919d-413861904646""#))
        #expect(try !pins(#"externalId eq "g-1""#))
        #expect(try !pins(#"displayName co "Eng""#))
    }
}

/// When a user's write can wait for the commit's round trip: only when the department leaves the
/// primary team as it is (`UserStore.save`); the team statements otherwise need the row first.
@Suite("Department changes that leave the primary team alone")
struct DepartmentUnchangedTests {
    @Test("the same name, or no department and no team, changes nothing")
    func unchanged() {
        #expect(TeamMembership.departmentUnchanged(nil, currentTeamName: nil))
        #expect(TeamMembership.departmentUnchanged("  ", currentTeamName: nil))
        #expect(TeamMembership.departmentUnchanged("Sales", currentTeamName: "Sales"))
        #expect(TeamMembership.departmentUnchanged(" Sales\n", currentTeamName: "Sales"))
    }

    @Test("a new, cleared or differently spelled department goes through the team statements")
    func changed() {
        #expect(!TeamMembership.departmentUnchanged("Sales", currentTeamName: nil))
        #expect(!TeamMembership.departmentUnchanged(nil, currentTeamName: "Sales"))
        #expect(!TeamMembership.departmentUnchanged("", currentTeamName: "Sales"))
        #expect(!TeamMembership.departmentUnchanged("Marketing", currentTeamName: "Sales"))
        // Case-folding is PostgreSQL's to decide (the team upsert), not a shortcut's.
        #expect(!TeamMembership.departmentUnchanged("sales", currentTeamName: "Sales"))
    }
}
