import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Postgres
import SCIM
import SCIMStore
import Testing

@testable import SCIMConsole
@testable import SCIMServer

/// `METHOD route status` of each audit entry, newest first.
private func auditRoutes(_ entries: [JSONValue]) -> [String] {
    entries.compactMap { entry -> String? in
        guard let method = entry.at("method")?.stringValue, let route = entry.at("route")?.stringValue else {
            return nil
        }
        return "\(method) \(route) \(entry.at("status")?.numberValue.map { Int($0) } ?? 0)"
    }
}

/// The table row of the organisations list that names `slug`.
private func listRow(_ slug: String, in html: String) -> String {
    guard let at = html.range(of: "<code class=\"muted\">\(slug)</code>") else { return "" }
    let rest = html[at.upperBound...]
    return String(rest[..<(rest.range(of: "</tr>")?.lowerBound ?? rest.endIndex)])
}

extension ConsoleTests {
    @Test(
        "a new organisation is 'Not connected yet' with its next step, not a red badge; the status route's verdict stays"
    )
    func notConnectedYet() async throws {
        try await withConsole { client in
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(try await client.staffKey(role: "support").key)
            let slug = TestDatabase.uniqueSlug("new")
            #expect(
                try await browser.post("/console/organisations", [("slug", slug), ("name", "New Co")]).status
                    == .seeOther)
            let path = "/console/organisations/\(slug)"

            let status = try await client.admin(.get, "/organisations/\(slug)/status")
            #expect(
                status["health"]?.at("verdict")?.stringValue == "failing", "the status route's verdict is unchanged")

            var list = listRow(slug, in: try await browser.get("/console/organisations?q=\(slug)").text)
            #expect(list.contains("verdict-new\">Not connected yet") && list.contains("Next: issue a token"), "\(list)")
            #expect(!list.contains("verdict-failing"))
            var overview = try await browser.get(path).text
            #expect(overview.contains("verdict-new large\">Not connected yet"))
            #expect(!overview.contains("verdict-failing large"))
            #expect(
                overview.contains("href=\"\(path)/tokens\">Issue a token</a>"), "the next step links the tokens page")
            #expect(overview.contains("href=\"#connect-okta\">Connect Okta</a>"))
            #expect(overview.contains("reports <strong>failing</strong>"), "the verdict is named beside its reasons")
            #expect(overview.contains("There is no active SCIM token"), "the status route's reasons stay visible")

            // A customer's read-only Admin is told whom to ask rather than offered a link.
            let customer = ConsoleBrowser(client: client)
            try await customer.signIn(try await client.staffKey(role: "readonly", organisation: slug).key)
            let theirs = try await customer.get(path).text
            #expect(theirs.contains("Not connected yet") && theirs.contains("Ask Learn Amp support for a SCIM token"))
            #expect(!theirs.contains("\(path)/tokens\">Issue a token"))

            let issued = try await browser.post("\(path)/tokens", [("label", "okta")])
            let token = try #require(
                issued.text.range(of: "id=\"issued-token\" class=\"secret\">").map { range in
                    String(issued.text[range.upperBound...].prefix { $0 != "<" })
                })
            overview = try await browser.get(path).text
            #expect(overview.contains("Not connected yet") && !overview.contains(">Issue a token</a>"))
            list = listRow(slug, in: try await browser.get("/console/organisations?q=\(slug)").text)
            #expect(list.contains("Next: connect Okta"), "\(list)")

            // An organisation with only an OAuth client is waiting for Entra ID, not Okta.
            let entra = try await client.organisation("entra")
            _ = try await client.oauthClient(entra.slug)
            let entraTokens = try await client.admin(.get, "/organisations/\(entra.slug)/tokens")
            for live in entraTokens["tokens"]?.arrayValue ?? [] {
                let id = try #require(live[caseInsensitive: "id"]?.stringValue)
                _ = try await client.admin(.delete, "/organisations/\(entra.slug)/tokens/\(id)")
            }
            let entraRow = listRow(entra.slug, in: try await browser.get("/console/organisations?q=\(entra.slug)").text)
            #expect(entraRow.contains("Next: connect Entra ID"), "\(entraRow)")

            let scim = TestOrganisation(slug: slug, token: token, client: client)
            #expect(try await scim.scim(.get, "/Users").status == .ok)
            overview = try await browser.get(path).text
            #expect(!overview.contains("Not connected yet"), "the first request connects it")
            #expect(overview.contains("verdict-healthy large\">healthy"))
            list = listRow(slug, in: try await browser.get("/console/organisations?q=\(slug)").text)
            #expect(list.contains("verdict-healthy\">healthy") && !list.contains("Next:"), "\(list)")
        }
    }

    @Test("an offboarded organisation's tokens and OAuth clients pages offer no create form; their POSTs are 409")
    func offboardedCredentials() async throws {
        try await withConsole { client in
            let organisation = try await client.organisation("offc")
            let key = try await client.staffKey(role: "support")
            #expect(try await key.admin(.post, "/organisations/\(organisation.slug)/offboard").status == .ok)
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(key.key)
            let path = "/console/organisations/\(organisation.slug)"
            let before = try await client.admin(.get, "/organisations/\(organisation.slug)/tokens").text
            for (tab, noun) in [("tokens", "tokens"), ("oauth-clients", "OAuth clients")] {
                let page = try await browser.get("\(path)/\(tab)")
                #expect(page.status == .ok)
                #expect(!page.text.contains("method=\"post\" action=\"\(path)/\(tab)\""), "\(tab): no create form")
                #expect(page.text.contains("Restore the organisation to issue new credentials"), "\(tab)")
                #expect(page.text.contains("its \(noun) were revoked"), "\(tab)")
                #expect(page.text.contains("\(path)/restore"), "\(tab): a support key is offered the restore")

                let refused = try await browser.post("\(path)/\(tab)", [("label", "again")])
                #expect(refused.status == .conflict, "\(tab): \(refused.status)")
                #expect(refused.text.contains("offboarded: restore it before"), "\(tab)")
                #expect(!refused.text.contains("id=\"issued-"), "\(tab): nothing issued")
            }
            #expect(try await client.admin(.get, "/organisations/\(organisation.slug)/tokens").text == before)
            let clients = try await client.admin(.get, "/organisations/\(organisation.slug)/oauth-clients")
            #expect(clients["oauthClients"] == .array([]), "no OAuth client was created")
            // The rule is the store's, so the admin API refuses the same way.
            let api = try await client.admin(
                .post, "/organisations/\(organisation.slug)/oauth-clients", json: ["label": "entra"])
            #expect(api.status == .conflict, "\(api.text)")
            #expect(try await client.auditEntries(by: key.name).count == 1, "only the offboarding is audited")
            let overview = try await browser.get(path).text
            #expect(
                !overview.contains("id=\"connect-okta\"") && !overview.contains(">issue one<"), "nothing to connect")

            // Restored, the forms come back (the revoked credentials stay revoked).
            #expect(try await browser.post("\(path)/restore", []).status == .seeOther)
            let tokens = try await browser.get("\(path)/tokens")
            #expect(tokens.text.contains("method=\"post\" action=\"\(path)/tokens\""))
            #expect(!tokens.text.contains("Restore the organisation to issue new credentials"))
        }
    }

    @Test("purging from the console: the slug typed again, CSRF-checked, the store's rule and audit entry")
    func purgeNow() async throws {
        let clock = ConsoleTestClock()
        try await withConsole(clock: clock) { client in
            let organisation = try await client.organisation("prg")
            _ = try await organisation.createUser("ada@purge.test")
            let key = try await client.staffKey(role: "support")
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(key.key)
            let path = "/console/organisations/\(organisation.slug)"

            // Not offboarded: no control, the page leads back to the overview, a POST is refused.
            #expect(!(try await browser.get(path)).text.contains("\(path)/purge"))
            #expect(try await browser.get("\(path)/purge").headers[.location] == path)
            #expect(try await browser.post("\(path)/purge", [("confirm", organisation.slug)]).status == .conflict)
            #expect(try await client.admin(.get, "/organisations/\(organisation.slug)").status == .ok)

            #expect(try await browser.post("\(path)/offboard", []).status == .seeOther)
            #expect(try await browser.get(path).text.contains("href=\"\(path)/purge\">Purge now…</a>"))
            let confirm = try await browser.get("\(path)/purge")
            #expect(confirm.status == .ok)
            #expect(confirm.text.contains("1 user") && confirm.text.contains("cannot be undone"))
            #expect(confirm.text.contains("<label for=\"purge-confirm\">"))

            // A wrong slug, an empty one, or a forged form: the form again (or 403), nothing purged.
            let wrong = try await browser.post("\(path)/purge", [("confirm", "\(organisation.slug)x")])
            #expect(wrong.status == .badRequest)
            #expect(wrong.text.contains("id=\"purge-error\"") && wrong.text.contains("aria-invalid=\"true\""))
            #expect(wrong.text.contains("value=\"\(organisation.slug)x\""), "what was typed comes back")
            #expect(try await browser.post("\(path)/purge", []).status == .badRequest)
            #expect(
                try await browser.post("\(path)/purge", [("confirm", organisation.slug)], csrf: "wrong").status
                    == .forbidden)
            #expect(
                try await browser.post(
                    "\(path)/purge", [("confirm", organisation.slug)], origin: "https://evil.example"
                )
                .status == .forbidden)
            #expect(try await client.admin(.get, "/organisations/\(organisation.slug)/users").status == .ok)

            let purged = try await browser.post("\(path)/purge", [("confirm", organisation.slug)])
            #expect(purged.status == .seeOther)
            #expect(purged.headers[.location] == "/console/organisations?done=purged")
            let list = try await browser.get("/console/organisations?done=purged")
            #expect(list.text.contains("The organisation was purged"))
            #expect(try await client.admin(.get, "/organisations/\(organisation.slug)").status == .notFound)
            #expect(try await browser.get(path).status == .notFound)
            // What the store leaves: one entry, under who offboarded it, as for `DELETE …?confirm=`.
            let entries = try await client.auditEntries(by: key.name)
            #expect(auditRoutes(entries) == ["PURGE /admin/v1/organisations/{slug} 200"])
            #expect(entries.first?.at("target")?.stringValue == "requested")
        }
    }

    @Test("only unbound support keys may purge: readonly and bound keys see no control and get 403")
    func purgeRefused() async throws {
        try await withConsole { client in
            let organisation = try await client.organisation("prgr")
            #expect(try await client.admin(.post, "/organisations/\(organisation.slug)/offboard").status == .ok)
            let path = "/console/organisations/\(organisation.slug)"
            for key in [
                try await client.staffKey(role: "readonly"),
                try await client.staffKey(role: "support", organisation: organisation.slug),
                try await client.staffKey(role: "readonly", organisation: organisation.slug),
            ] {
                let browser = ConsoleBrowser(client: client)
                try await browser.signIn(key.key)
                let overview = try await browser.get(path)
                #expect(overview.status == .ok)
                #expect(!overview.text.contains("/purge"), "\(key.name): no control")
                #expect(try await browser.get("\(path)/purge").status == .forbidden)
                #expect(try await browser.post("\(path)/purge", [("confirm", organisation.slug)]).status == .forbidden)
                #expect(try await client.admin(.get, "/organisations/\(organisation.slug)").status == .ok)
            }
        }
    }

    @Test("the purge date shows its date and whole calendar days to go, from the console's clock")
    func purgeDate() async throws {
        let clock = ConsoleTestClock()
        try await withConsole(clock: clock) { client in
            let organisation = try await client.organisation("prgd")
            #expect(try await client.admin(.post, "/organisations/\(organisation.slug)/offboard").status == .ok)
            // Due 29.9 days after the console's clock reads now (the database set it from its own
            // clock; the console's is the test's, so the date is moved rather than the clock, which
            // would end the session).
            let purgeAfter = clock.now.addingTimeInterval(29.9 * 86_400)
            try await withDatabase { db in
                _ = try await db.query(
                    "UPDATE control.organisations SET purge_after = \(purgeAfter) WHERE slug = \(organisation.slug)")
            }
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(TestDatabase.adminToken)
            let path = "/console/organisations/\(organisation.slug)"
            let overview = try await browser.get(path)
            #expect(overview.status == .ok)
            #expect(overview.text.contains(ConsoleTime.text(purgeAfter)), "the date itself")
            #expect(overview.text.contains("(in 30 days)"), "truncating would say 29")
            #expect(try await browser.get("\(path)/restore").text.contains("(in 30 days)"))
            #expect(try await browser.get("\(path)/purge").text.contains("(in 30 days)"))
        }
    }
}

@Suite("Console: how far away a date is")
struct ConsoleTimeTests {
    /// 2026-12-06 21:30 UTC.
    static let now = Date(timeIntervalSince1970: 1_796_592_600)

    @Test(
        "today and tomorrow by the UTC date, further dates in whole days rounded",
        arguments: [
            (29.9 * 86_400, "in 30 days"), (30 * 86_400 - 1, "in 30 days"), (30 * 86_400, "in 30 days"),
            (29.4 * 86_400, "in 29 days"), (2.6 * 86_400, "in 3 days"), (24 * 3600 + 3 * 3600, "in 2 days"),
            (2 * 3600, "today"), (0, "today"), (-21 * 3600, "today"),
            (3 * 3600, "tomorrow"), (26 * 3600, "tomorrow"), (36 * 3600, "in 2 days"), (-22 * 3600, "yesterday"),
            (-3 * 86_400, "3 days ago"),
        ] as [(TimeInterval, String)])
    func days(offset: TimeInterval, expected: String) {
        #expect(ConsoleTime.days(until: Self.now.addingTimeInterval(offset), now: Self.now) == expected)
    }

    @Test("a deadline carries its date as well as the count")
    func deadline() throws {
        let view = try #require(ConsoleTime.deadline(Self.now.addingTimeInterval(29.9 * 86_400), now: Self.now))
        #expect(view["text"] as? String == "2027-01-05 19:06 UTC")
        #expect(view["days"] as? String == "in 30 days")
        #expect(ConsoleTime.text(Self.now) == "2026-12-06 21:30 UTC")
    }
}
