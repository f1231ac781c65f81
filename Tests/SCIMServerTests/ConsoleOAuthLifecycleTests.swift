import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SCIM
import SCIMStore
import Testing

@testable import SCIMServer

/// The text of the element with `id` on a console page, up to the next tag.
private func element(_ id: String, in html: String) -> String? {
    guard let start = html.range(of: "id=\"\(id)\"") else { return nil }
    guard let close = html[start.upperBound...].firstIndex(of: ">") else { return nil }
    return String(html[html.index(after: close)...].prefix { $0 != "<" })
}

/// `METHOD route status` of each audit entry, newest first.
private func routes(_ entries: [JSONValue]) -> [String] {
    entries.compactMap { entry -> String? in
        guard let method = entry.at("method")?.stringValue, let route = entry.at("route")?.stringValue else {
            return nil
        }
        return "\(method) \(route) \(entry.at("status")?.numberValue.map { Int($0) } ?? 0)"
    }
}

extension ConsoleTests {
    @Test(
        "an OAuth client's secret is shown once and obtains an access token; rotation, the secret limit, revoking"
    )
    func oauthClients() async throws {
        try await withConsole { client in
            let key = try await client.staffKey(role: "support")
            let organisation = try await client.organisation("oac")
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(key.key)
            let base = "/console/organisations/\(organisation.slug)/oauth-clients"

            let empty = try await browser.get(base)
            #expect(empty.status == .ok)
            #expect(empty.text.contains("\(ConsoleBrowser.origin)/oauth/token"), "the token endpoint for Entra")
            #expect(empty.text.contains("No OAuth clients yet"))

            let created = try await browser.post(base, [("label", "entra")])
            #expect(created.status == .created, "\(created.text)")
            let clientID = try #require(element("issued-client-id", in: created.text))
            let secret = try #require(element("issued-secret", in: created.text))
            #expect(clientID.hasPrefix("laclient_") && secret.hasPrefix("lasecret_"))
            #expect(created.text.contains("shown only once"))
            let again = try await browser.get(base)
            #expect(again.text.contains(clientID), "the client id is listed")
            #expect(!again.text.contains(secret), "the secret is shown once only")

            let access = try await client.accessToken(
                TestOAuthClient(slug: organisation.slug, id: "", clientID: clientID, secret: secret, secretID: ""))
            let scim = TestOrganisation(slug: organisation.slug, token: access, client: client)
            #expect(try await scim.scim(.get, "/Users").status == .ok)

            let listed = try await client.admin(.get, "/organisations/\(organisation.slug)/oauth-clients")
            let stored = try #require(listed["oauthClients"]?.arrayValue?.first)
            let id = try #require(stored.at("id")?.stringValue)
            let secretID = try #require(stored.at("secrets")?.arrayValue?.first?.at("secretId")?.stringValue)

            // Rotation: two more secrets reach the limit of three live ones; a fourth is refused with a message.
            for _ in 0..<2 {
                let added = try await browser.post("\(base)/\(id)/secrets", [])
                #expect(added.status == .created)
                #expect(element("issued-secret", in: added.text)?.hasPrefix("lasecret_") == true)
            }
            let refused = try await browser.post("\(base)/\(id)/secrets", [])
            #expect(refused.status == .conflict)
            #expect(refused.text.contains("already has 3 live secrets"), "\(refused.text)")
            #expect(element("issued-secret", in: refused.text) == nil)

            // Revoking the first secret: the confirmation changes nothing; without CSRF nothing either.
            let confirm = try await browser.get("\(base)/\(id)/secrets/\(secretID)/revoke")
            #expect(confirm.status == .ok)
            #expect(confirm.text.contains("Revoke secret"))
            #expect(try await scim.scim(.get, "/Users").status == .ok, "showing the confirmation changes nothing")
            let forged = try await browser.post("\(base)/\(id)/secrets/\(secretID)/revoke", [], csrf: "wrong")
            #expect(forged.status == .forbidden)
            #expect(try await scim.scim(.get, "/Users").status == .ok, "a forged POST changes nothing")
            let revoked = try await browser.post("\(base)/\(id)/secrets/\(secretID)/revoke", [])
            #expect(revoked.status == .seeOther)
            #expect(try await scim.scim(.get, "/Users").status == .unauthorized, "its access token stops working")
            let rejected = try await client.tokenRequest(
                "grant_type=client_credentials&client_id=\(OAuthForm.encode(clientID))"
                    + "&client_secret=\(OAuthForm.encode(secret))")
            #expect(rejected.status == .unauthorized)

            #expect(try await browser.get("\(base)/\(id)/revoke").text.contains("Revoke client"))
            #expect(try await browser.post("\(base)/\(id)/revoke", []).status == .seeOther)
            let after = try await client.admin(.get, "/organisations/\(organisation.slug)/oauth-clients")
            #expect(after["oauthClients"]?.arrayValue?.first?.at("revokedAt")?.stringValue != nil)
            let revokedPage = try await browser.get(base).text
            #expect(!revokedPage.contains("/secrets\""), "a revoked client has no forms")
            #expect(revokedPage.contains("Client revoked"), "its unexpired secrets say why they no longer work")

            let entries = try await client.auditEntries(by: key.name)
            #expect(
                routes(entries) == [
                    "DELETE /admin/v1/organisations/{slug}/oauth-clients/{id} 204",
                    "DELETE /admin/v1/organisations/{slug}/oauth-clients/{id}/secrets/{secretId} 204",
                    "POST /admin/v1/organisations/{slug}/oauth-clients/{id}/secrets 201",
                    "POST /admin/v1/organisations/{slug}/oauth-clients/{id}/secrets 201",
                    "POST /admin/v1/organisations/{slug}/oauth-clients 201",
                ])
            #expect(entries.allSatisfy { $0.at("target")?.stringValue == id })
        }
    }

    @Test("a live secret expiring within 30 days is highlighted; one expiring later is not")
    func oauthSecretExpiry() async throws {
        let clock = ConsoleTestClock()
        try await withConsole(clock: clock, configure: { $0.clock = { clock.now } }) { client in
            let organisation = try await client.organisation("oax")
            let soon = try await client.oauthClient(
                organisation.slug, label: "soon", secretExpiresAt: clock.now.addingTimeInterval(10 * 86_400))
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(TestDatabase.adminToken)
            let base = "/console/organisations/\(organisation.slug)/oauth-clients"
            #expect(try await browser.get(base).text.contains("Expires in 10 days"))
            let revoked = try await browser.post("\(base)/\(soon.id)/secrets/\(soon.secretID)/revoke", [])
            #expect(revoked.status == .seeOther)
            _ = try await client.oauthClient(
                organisation.slug, label: "later", secretExpiresAt: clock.now.addingTimeInterval(31 * 86_400))
            #expect(!(try await browser.get(base)).text.contains("Expires in"), "revoked or far: no highlight")
        }
    }

    @Test("a readonly key sees OAuth clients without write controls; its POSTs are 403 and change nothing")
    func oauthClientsReadonly() async throws {
        try await withConsole { client in
            let organisation = try await client.organisation("oar")
            let existing = try await client.oauthClient(organisation.slug)
            let key = try await client.staffKey(role: "readonly")
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(key.key)
            let base = "/console/organisations/\(organisation.slug)/oauth-clients"
            let page = try await browser.get(base)
            #expect(page.status == .ok)
            #expect(page.text.contains(existing.clientID))
            #expect(!page.text.contains("method=\"post\" action=\"/console/organisations"), "no write control")
            #expect(!page.text.contains("/revoke"))
            let settings = try await browser.get("/console/organisations/\(organisation.slug)/settings")
            #expect(!settings.text.contains("/offboard"), "a readonly key is offered no offboarding")

            let before = try await client.admin(.get, "/organisations/\(organisation.slug)/oauth-clients")
            #expect(try await browser.post(base, [("label", "sneaky")]).status == .forbidden)
            #expect(try await browser.post("\(base)/\(existing.id)/secrets", []).status == .forbidden)
            #expect(
                try await browser.post("\(base)/\(existing.id)/secrets/\(existing.secretID)/revoke", []).status
                    == .forbidden)
            #expect(try await browser.post("\(base)/\(existing.id)/revoke", []).status == .forbidden)
            #expect(
                try await browser.post("/console/organisations/\(organisation.slug)/offboard", []).status
                    == .forbidden)
            #expect(
                try await client.admin(.get, "/organisations/\(organisation.slug)/oauth-clients").text == before.text)
            #expect(try await client.auditEntries(by: key.name).isEmpty)
        }
    }

    @Test("offboarding through the console after a confirmation ends SCIM; restoring brings the organisation back")
    func offboardAndRestore() async throws {
        let clock = ConsoleTestClock()
        try await withConsole(clock: clock) { client in
            let key = try await client.staffKey(role: "support")
            let organisation = try await client.organisation("off")
            let oauth = try await client.oauthClient(organisation.slug)
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(key.key)
            let path = "/console/organisations/\(organisation.slug)"

            let settings = try await browser.get("\(path)/settings")
            #expect(settings.text.contains("\(path)/offboard"))
            let confirm = try await browser.get("\(path)/offboard")
            #expect(confirm.status == .ok)
            #expect(confirm.text.contains("1 live SCIM token") && confirm.text.contains("1 OAuth client"))
            #expect(confirm.text.contains("30 days"), "\(confirm.text)")
            #expect(try await organisation.scim(.get, "/Users").status == .ok, "the confirmation changes nothing")
            #expect(try await browser.post("\(path)/offboard", [], csrf: "wrong").status == .forbidden)
            #expect(try await organisation.scim(.get, "/Users").status == .ok)

            let done = try await browser.post("\(path)/offboard", [])
            #expect(done.status == .seeOther)
            #expect(done.headers[.location] == "\(path)?done=offboarded")
            #expect(try await organisation.scim(.get, "/Users").status == .unauthorized)
            let token = try await client.tokenRequest(
                "grant_type=client_credentials&client_id=\(OAuthForm.encode(oauth.clientID))"
                    + "&client_secret=\(OAuthForm.encode(oauth.secret))")
            #expect(token.status == .unauthorized, "the OAuth client is revoked too")
            let stored = try await client.admin(.get, "/organisations/\(organisation.slug)")
            let purge = try #require(stored["purgeAfter"]?.stringValue)

            let overview = try await browser.get(path)
            #expect(overview.status == .ok)
            #expect(overview.text.contains("Offboarded"))
            #expect(overview.text.contains("datetime=\"\(purge.prefix(10))"), "the purge date: \(purge)")
            #expect(overview.text.contains("\(path)/restore"))

            #expect(try await browser.get("\(path)/restore").text.contains("Restore organisation"))
            let restored = try await browser.post("\(path)/restore", [])
            #expect(restored.status == .seeOther)
            let after = try await client.admin(.get, "/organisations/\(organisation.slug)")
            #expect(after["offboardedAt"]?.stringValue == nil && after["scimEnabled"]?.boolValue == true)
            #expect(!(try await browser.get(path)).text.contains("\(path)/restore"))
            #expect(try await organisation.scim(.get, "/Users").status == .unauthorized, "tokens stay revoked")

            #expect(
                routes(try await client.auditEntries(by: key.name)) == [
                    "POST /admin/v1/organisations/{slug}/restore 200",
                    "POST /admin/v1/organisations/{slug}/offboard 200",
                ])
        }
    }

    @Test("a support key bound to the organisation cannot offboard it: 403, no control, and nothing changes")
    func boundCannotOffboard() async throws {
        try await withConsole { client in
            let organisation = try await client.organisation("boff")
            let key = try await client.staffKey(role: "support", organisation: organisation.slug)
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(key.key)
            let path = "/console/organisations/\(organisation.slug)"
            #expect(!(try await browser.get("\(path)/settings")).text.contains("/offboard"))
            #expect(try await browser.get("\(path)/offboard").status == .forbidden)
            #expect(try await browser.post("\(path)/offboard", []).status == .forbidden)
            #expect(try await organisation.scim(.get, "/Users").status == .ok)
            let stored = try await client.admin(.get, "/organisations/\(organisation.slug)")
            #expect(stored["offboardedAt"]?.stringValue == nil)
            #expect(try await client.auditEntries(by: key.name).isEmpty)
        }
    }
}
