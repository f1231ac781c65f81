import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SCIM
import SCIMConsole
import SCIMStore
import Synchronization
import Testing

@testable import SCIMServer

/// A clock the test moves by hand.
final class ConsoleTestClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))

    var now: Date { current.withLock { $0 } }
    func advance(minutes: Double) { current.withLock { $0 = $0.addingTimeInterval(minutes * 60) } }
    var consoleClock: ConsoleClock { ConsoleClock { [self] in self.now } }
}

/// A browser as the console sees it: one cookie jar, the console's origin on every POST.
struct ConsoleBrowser: Sendable {
    final class Jar: Sendable {
        let value = Mutex<String?>(nil)
    }

    static let origin = "http://console.test"
    let client: TestClient
    let jar = Jar()

    init(client: TestClient) {
        self.client = client
    }

    @discardableResult
    func get(_ path: String) async throws -> TestResult {
        var headers: HTTPFields = [:]
        if let cookie = jar.value.withLock({ $0 }) { headers[.cookie] = cookie }
        return try await client.request(.get, path, bearer: nil, headers: headers)
    }

    /// POSTs a form; `origin: nil` sends no `Origin` header, `csrf: nil` no token.
    @discardableResult
    func post(_ path: String, _ fields: [(String, String)], origin: String? = origin, csrf: String? = "") async throws
        -> TestResult
    {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let cookie = jar.value.withLock({ $0 }) { headers[.cookie] = cookie }
        if let origin { headers[.origin] = origin }
        var all = fields
        if let csrf { all.append(("csrf", csrf.isEmpty ? try await token(for: path) : csrf)) }
        let body = all.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        return try await client.request(.post, path, bearer: nil, raw: body, headers: headers, contentType: nil)
    }

    /// The CSRF token of the current session, read off a page as a browser would.
    func token(for path: String) async throws -> String {
        guard jar.value.withLock({ $0 }) != nil else { return "" }
        let page = try await get("/console/organisations")
        return Self.csrf(in: page.text) ?? ""
    }

    static func csrf(in html: String) -> String? {
        guard let range = html.range(of: "name=\"csrf\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    /// Signs in with `credential` and keeps the session cookie.
    @discardableResult
    func signIn(_ credential: String) async throws -> TestResult {
        let result = try await post("/console/sign-in", [("token", credential)], csrf: nil)
        if let setCookie = result.headers[.setCookie], let pair = setCookie.split(separator: ";").first {
            jar.value.withLock { $0 = String(pair) }
        }
        return result
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// The real application with the console's clock in the test's hands and `PUBLIC_BASE_URL` set, so the
/// expected `Origin` is `http://console.test`.
func withConsole(
    clock: ConsoleTestClock = ConsoleTestClock(), publicBaseURL: String = ConsoleBrowser.origin,
    configure: (inout AppConfiguration) -> Void = { _ in }, _ body: @Sendable (TestClient) async throws -> Void
) async throws {
    var configuration = try TestDatabase.configuration()
    configuration.publicBaseURL = publicBaseURL
    configure(&configuration)
    let app = try await buildApplication(configuration, logger: TestDatabase.logger, consoleClock: clock.consoleClock)
    try await app.test(.router) { client in try await body(TestClient(client: client)) }
}

@Suite("Console: sessions, CSRF, escaping and the permission matrix")
struct ConsoleTests {
    @Test("signing in sets a strict HttpOnly cookie scoped to /console; pages carry the security headers")
    func cookieAndHeaders() async throws {
        try await withConsole { client in
            let browser = ConsoleBrowser(client: client)
            let anonymous = try await browser.get("/console/organisations")
            #expect(anonymous.status == .seeOther)
            #expect(anonymous.headers[.location]?.hasPrefix("/console/sign-in") == true)

            let signIn = try await browser.signIn(TestDatabase.adminToken)
            #expect(signIn.status == .seeOther, "\(signIn.text)")
            let cookie = try #require(signIn.headers[.setCookie])
            #expect(cookie.hasPrefix("la_console="))
            for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=43200"] {
                #expect(cookie.contains(attribute), "\(cookie)")
            }
            #expect(!cookie.contains("Secure"), "plain-HTTP localhost cookies are not Secure: \(cookie)")

            let page = try await browser.get("/console/organisations")
            #expect(page.status == .ok)
            #expect(
                page.headers[.contentSecurityPolicy]
                    == "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
            #expect(page.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
            #expect(page.headers[.xContentTypeOptions] == "nosniff")
            #expect(page.headers[.cacheControl] == "no-store")
            #expect(!page.text.contains("<script>") && !page.text.contains("style="), "no inline script or style")
        }
    }

    @Test("the cookie is Secure when PUBLIC_BASE_URL is https")
    func secureCookie() async throws {
        try await withConsole(publicBaseURL: "https://scim.example.com") { client in
            let browser = ConsoleBrowser(client: client)
            let signIn = try await browser.post(
                "/console/sign-in", [("token", TestDatabase.adminToken)], origin: "https://scim.example.com", csrf: nil)
            #expect(signIn.status == .seeOther)
            #expect(signIn.headers[.setCookie]?.contains("; Secure") == true)
        }
    }

    @Test("assets are content-hashed and cached for a year")
    func assets() async throws {
        try await withConsole { client in
            let browser = ConsoleBrowser(client: client)
            let page = try await browser.get("/console/sign-in")
            let css = try #require(
                page.text.range(of: "/console/assets/console.").map { range in
                    "/console/assets/console." + page.text[range.upperBound...].prefix { $0 != "\"" }
                })
            let asset = try await browser.get(css)
            #expect(asset.status == .ok)
            #expect(asset.headers[.cacheControl] == "public, max-age=31536000, immutable")
            #expect(asset.headers[.contentType]?.hasPrefix("text/css") == true)
            let stale = try await browser.get("/console/assets/console.0000000000000000.css")
            #expect(stale.status == .notFound)
        }
    }

    @Test("a session ends after 30 idle minutes, and 12 hours after sign-in however busy")
    func expiry() async throws {
        let clock = ConsoleTestClock()
        try await withConsole(clock: clock) { client in
            let idle = ConsoleBrowser(client: client)
            try await idle.signIn(TestDatabase.adminToken)
            clock.advance(minutes: 29)
            #expect(try await idle.get("/console/organisations").status == .ok)
            clock.advance(minutes: 29)
            #expect(try await idle.get("/console/organisations").status == .ok, "29 minutes after the last request")
            clock.advance(minutes: 31)
            #expect(try await idle.get("/console/organisations").status == .seeOther, "31 idle minutes")

            let busy = ConsoleBrowser(client: client)
            try await busy.signIn(TestDatabase.adminToken)
            for _ in 0..<35 {
                clock.advance(minutes: 20)
                #expect(try await busy.get("/console/organisations").status == .ok)
            }
            clock.advance(minutes: 20)  // 720 minutes after sign-in
            let ended = try await busy.get("/console/organisations")
            #expect(ended.status == .seeOther, "12 hours after sign-in")
            #expect(ended.headers[.location]?.hasPrefix("/console/sign-in") == true)
        }
    }

    @Test("signing out ends the session: the same cookie no longer works")
    func signOut() async throws {
        try await withConsole { client in
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(TestDatabase.adminToken)
            let out = try await browser.post("/console/sign-out", [])
            #expect(out.status == .seeOther)
            #expect(out.headers[.location] == "/console/sign-in?signed-out=1")
            #expect(out.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await browser.get("/console/organisations").status == .seeOther, "the old cookie must not work")
        }
    }

    @Test("rotating ADMIN_API_TOKEN ends the sessions signed in with the old one")
    func rotatedBootstrap() async throws {
        let clock = ConsoleTestClock()
        let saved = ConsoleBrowser.Jar()
        try await withConsole(clock: clock) { client in
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(TestDatabase.adminToken)
            #expect(try await browser.get("/console/organisations").status == .ok)
            let current = browser.jar.value.withLock { $0 }
            saved.value.withLock { $0 = current }
        }
        try await withConsole(clock: clock, configure: { $0.adminToken = "a-rotated-admin-token-0123456789" }) {
            client in
            let browser = ConsoleBrowser(client: client)
            let old = saved.value.withLock { $0 }
            browser.jar.value.withLock { $0 = old }
            let result = try await browser.get("/console/organisations")
            #expect(old != nil && result.status == .seeOther)
        }
    }

    @Test("revoking a staff key ends its sessions at once")
    func revokedKey() async throws {
        try await withConsole { client in
            let key = try await client.staffKey(role: "support")
            let browser = ConsoleBrowser(client: client)
            #expect(try await browser.signIn(key.key).status == .seeOther)
            #expect(try await browser.get("/console/organisations").status == .ok)
            #expect(try await client.admin(.delete, "/staff-keys/\(key.id)").status == .noContent)
            #expect(try await browser.get("/console/organisations").status == .seeOther)
        }
    }

    @Test("a wrong credential is refused and counted by the failed-authentication limit")
    func failedSignIn() async throws {
        try await withConsole(configure: { $0.rateLimits = RateLimitSettings(failedAuthAttempts: 2) }) { client in
            let key = try await client.staffKey(role: "support")
            let wrong = String(key.key.dropLast(4)) + "AAAA"
            let browser = ConsoleBrowser(client: client)
            #expect(try await browser.signIn(wrong).status == .unauthorized)
            #expect(try await browser.signIn(wrong).status == .unauthorized)
            let limited = try await browser.signIn(wrong)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
            #expect(limited.headers[.setCookie] == nil)
            // The bootstrap token is never limited, as on the admin API.
            #expect(try await browser.signIn(TestDatabase.adminToken).status == .seeOther)
        }
    }

    @Test("a POST without the CSRF token, or from another origin or none, is 403 and changes nothing")
    func csrfAndOrigin() async throws {
        try await withConsole { client in
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(TestDatabase.adminToken)
            let slugs = (0..<4).map { _ in TestDatabase.uniqueSlug("csrf") }
            let noToken = try await browser.post(
                "/console/organisations", [("slug", slugs[0]), ("name", "A")], csrf: nil)
            let wrongToken = try await browser.post(
                "/console/organisations", [("slug", slugs[1]), ("name", "A")], csrf: "f00")
            let otherOrigin = try await browser.post(
                "/console/organisations", [("slug", slugs[2]), ("name", "A")], origin: "https://evil.example")
            let noOrigin = try await browser.post(
                "/console/organisations", [("slug", slugs[3]), ("name", "A")], origin: nil)
            for result in [noToken, wrongToken, otherOrigin, noOrigin] {
                #expect(result.status == .forbidden, "\(result.text.prefix(200))")
            }
            for slug in slugs {
                #expect(try await client.admin(.get, "/organisations/\(slug)").status == .notFound)
            }
            let signIn = try await ConsoleBrowser(client: client).post(
                "/console/sign-in", [("token", TestDatabase.adminToken)], origin: "https://evil.example", csrf: nil)
            #expect(signIn.status == .forbidden)
            #expect(signIn.headers[.setCookie] == nil)

            // Under Referrer-Policy: no-referrer a browser sends Origin: null; only Sec-Fetch-Site
            // same-origin makes that acceptable.
            let token = try await browser.token(for: "/console/organisations")
            for (site, expected) in [
                ("cross-site", HTTPResponse.Status.forbidden), ("", .forbidden), ("same-origin", .seeOther),
            ] {
                let slug = TestDatabase.uniqueSlug("null")
                var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded", .origin: "null"]
                headers[.cookie] = browser.jar.value.withLock { $0 }
                if !site.isEmpty { headers[HTTPField.Name("Sec-Fetch-Site")!] = site }
                let result = try await client.request(
                    .post, "/console/organisations", bearer: nil, raw: "slug=\(slug)&name=N&csrf=\(token)",
                    headers: headers, contentType: nil)
                #expect(result.status == expected, "Sec-Fetch-Site \(site): \(result.status)")
                let exists = try await client.admin(.get, "/organisations/\(slug)").status == .ok
                #expect(exists == (expected == .seeOther))
            }

            let slug = TestDatabase.uniqueSlug("csrf")
            let created = try await browser.post("/console/organisations", [("slug", slug), ("name", "Made here")])
            #expect(created.status == .seeOther)
            #expect(try await client.admin(.get, "/organisations/\(slug)").status == .ok)
        }
    }

    @Test("values from the identity provider and from staff are HTML-escaped")
    func escaping() async throws {
        try await withConsole { client in
            let organisation = try await client.organisation("esc")
            let hostile = "<img src=x onerror=alert(1)>"
            try await client.admin(.patch, "/organisations/\(organisation.slug)", json: ["name": .string(hostile)])
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(TestDatabase.adminToken)
            let team = "\"><script>alert(1)</script>"
            let issued = try await browser.post("/console/organisations/\(organisation.slug)/tokens", [("label", team)])
            #expect(issued.status == .created)
            // Searched by slug: the list is paged, and other tests' organisations share the database.
            let listed = "/console/organisations?q=\(organisation.slug)"
            for path in [
                listed, "/console/organisations/\(organisation.slug)",
                "/console/organisations/\(organisation.slug)/tokens",
            ] {
                let page = try await browser.get(path)
                #expect(page.status == .ok)
                #expect(!page.text.contains(hostile) && !page.text.contains("<script>alert"), "\(path) is not escaped")
            }
            #expect(try await browser.get(listed).text.contains("&lt;img src=x onerror=alert(1)&gt;"))

            let userID = try await organisation.createUser(
                "hostile@example.com", extra: ["displayName": .string(hostile)])
            let group = try await organisation.scim(
                .post, "/Groups",
                json: [
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": .string(team),
                    "members": [["value": .string(userID)]],
                ])
            #expect(group.status == .created, "\(group.text)")
            let teamID = try #require(group["id"]?.stringValue)
            let failed = try await organisation.scim(
                .post, "/Users", json: ["schemas": [.string(SchemaURN.user)], "userName": .string(hostile)])
            #expect(failed.status.code >= 400)
            let base = "/console/organisations/\(organisation.slug)"
            for path in ["/users", "/users?q=hostile", "/users/\(userID)", "/teams", "/teams/\(teamID)", "/events"] {
                let page = try await browser.get(base + path)
                #expect(page.status == .ok, "\(path): \(page.status)")
                #expect(!page.text.contains(hostile) && !page.text.contains("<script>alert"), "\(path) is not escaped")
                #expect(
                    page.text.contains("&lt;img src=x onerror=alert(1)&gt;") || page.text.contains("&lt;script&gt;"),
                    "\(path)")
            }
            #expect(issued.text.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"))
        }
    }

    @Test(
        "the token is shown once; revoking needs a confirmation and then SCIM gets 401; both are audited like the API")
    func tokens() async throws {
        try await withConsole { client in
            let key = try await client.staffKey(role: "support")
            let organisation = try await client.organisation("tok")
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(key.key)
            let issued = try await browser.post(
                "/console/organisations/\(organisation.slug)/tokens", [("label", "okta")])
            #expect(issued.status == .created)
            let token = try #require(
                issued.text.range(of: "id=\"issued-token\" class=\"secret\">").map { range in
                    String(issued.text[range.upperBound...].prefix { $0 != "<" })
                })
            #expect(token.hasPrefix("lascim_"))
            let list = try await browser.get("/console/organisations/\(organisation.slug)/tokens")
            #expect(!list.text.contains(token), "the secret is shown once only")
            let scim = TestOrganisation(slug: organisation.slug, token: token, client: client)
            #expect(try await scim.scim(.get, "/Users").status == .ok)

            let tokens = try await client.admin(.get, "/organisations/\(organisation.slug)/tokens")
            let id = try #require(
                tokens["tokens"]?.arrayValue?.first { $0.at("label")?.stringValue == "okta" }?.at("id")?.stringValue)
            let confirm = try await browser.get("/console/organisations/\(organisation.slug)/tokens/\(id)/revoke")
            #expect(confirm.status == .ok)
            #expect(confirm.text.contains("Revoke token"))
            #expect(try await scim.scim(.get, "/Users").status == .ok, "showing the confirmation changes nothing")
            let revoked = try await browser.post("/console/organisations/\(organisation.slug)/tokens/\(id)/revoke", [])
            #expect(revoked.status == .seeOther)
            #expect(try await scim.scim(.get, "/Users").status == .unauthorized)

            let entries = try await client.auditEntries(by: key.name)
            let routes = entries.compactMap { entry -> String? in
                guard let method = entry.at("method")?.stringValue, let route = entry.at("route")?.stringValue else {
                    return nil
                }
                return "\(method) \(route) \(entry.at("status")?.numberValue.map { Int($0) } ?? 0)"
            }
            #expect(
                routes == [
                    "DELETE /admin/v1/organisations/{slug}/tokens/{id} 204",
                    "POST /admin/v1/organisations/{slug}/tokens 201",
                ])
            #expect(entries.first?.at("target")?.stringValue == id)
            #expect(entries.first?.at("organisation")?.stringValue == organisation.slug)
            #expect(entries.first?.at("actor", "kind")?.stringValue == "staff_key")
        }
    }

    @Test("an organisation-bound readonly key sees its organisation without write controls; writes 403, others 404")
    func boundReadonly() async throws {
        try await withConsole { client in
            let own = try await client.organisation("own")
            let other = try await client.organisation("other")
            let key = try await client.staffKey(role: "readonly", organisation: own.slug)
            let browser = ConsoleBrowser(client: client)
            let signIn = try await browser.signIn(key.key)
            #expect(signIn.headers[.location] == "/console/organisations/\(own.slug)")

            let list = try await browser.get("/console/organisations")
            #expect(list.text.contains(own.slug) && !list.text.contains(other.slug))
            #expect(!list.text.contains("New organisation"))
            for page in ["", "/tokens"] {
                let result = try await browser.get("/console/organisations/\(own.slug)\(page)")
                #expect(result.status == .ok)
                #expect(
                    !result.text.contains("method=\"post\" action=\"/console/organisations"),
                    "no write control on \(page)")
                #expect(!result.text.contains("/revoke"))
                let foreign = try await browser.get("/console/organisations/\(other.slug)\(page)")
                #expect(foreign.status == .notFound)
            }
            let before = try await client.admin(.get, "/organisations/\(own.slug)/tokens")
            let write = try await browser.post("/console/organisations/\(own.slug)/tokens", [("label", "sneaky")])
            #expect(write.status == .forbidden)
            let create = try await browser.post(
                "/console/organisations", [("slug", TestDatabase.uniqueSlug()), ("name", "x")])
            #expect(create.status == .forbidden)
            let foreignWrite = try await browser.post(
                "/console/organisations/\(other.slug)/tokens", [("label", "sneaky")])
            #expect(foreignWrite.status == .notFound)
            #expect(try await client.admin(.get, "/organisations/\(own.slug)/tokens").text == before.text)
            #expect(try await client.auditEntries(by: key.name).isEmpty)
        }
    }

    @Test("a support key bound to an organisation may write there, and sees no other organisation")
    func boundSupport() async throws {
        try await withConsole { client in
            let own = try await client.organisation("bs")
            let other = try await client.organisation("bso")
            let key = try await client.staffKey(role: "support", organisation: own.slug)
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(key.key)
            #expect(
                try await browser.post("/console/organisations/\(own.slug)/tokens", [("label", "second")]).status
                    == .created)
            #expect(
                try await browser.post("/console/organisations/\(other.slug)/tokens", [("label", "x")]).status
                    == .notFound)
            #expect(
                try await browser.post("/console/organisations", [("slug", TestDatabase.uniqueSlug()), ("name", "x")])
                    .status == .forbidden)
        }
    }
}

extension ConsoleTests {
    @Test(
        "a rejected custom field comes back with the error beside its field and nothing saved; a valid one is audited")
    func customFields() async throws {
        try await withConsole { client in
            let organisation = try await client.organisation("cf")
            let key = try await client.staffKey(role: "support")
            let browser = ConsoleBrowser(client: client)
            try await browser.signIn(key.key)
            let path = "/console/organisations/\(organisation.slug)/custom-fields"
            let rejected = try await browser.post(
                path, [("scimAttribute", "costCentre"), ("field", "Cost Centre"), ("type", "string")])
            #expect(rejected.status == .badRequest)
            #expect(rejected.text.contains("id=\"cf-field-error\""), "the message belongs beside the field")
            #expect(rejected.text.contains("value=\"Cost Centre\""), "what was typed comes back")
            let stored = try await client.admin(.get, "/organisations/\(organisation.slug)/custom-fields")
            #expect(stored["mappings"] == .array([]))
            let enumWithout = try await browser.post(
                path, [("scimAttribute", "level"), ("field", "level"), ("type", "enum")])
            #expect(enumWithout.text.contains("id=\"cf-values-error\""))

            let saved = try await browser.post(
                path,
                [("scimAttribute", "level"), ("field", "level"), ("type", "enum"), ("allowedValues", "junior, senior")])
            #expect(saved.status == .seeOther)
            let after = try await client.admin(.get, "/organisations/\(organisation.slug)/custom-fields")
            #expect(after["mappings"]?.arrayValue?.first?.at("allowedValues") == ["junior", "senior"])
            let entries = try await client.auditEntries(by: key.name)
            #expect(entries.first?.at("route")?.stringValue == "/admin/v1/organisations/{slug}/custom-fields")
            #expect(entries.first?.at("method")?.stringValue == "PUT")
        }
    }

    @Test("a bound support key gets 403 on staff keys and the audit log; a readonly key cannot change settings")
    func boundPages() async throws {
        try await withConsole { client in
            let organisation = try await client.organisation("bp")
            let bound = ConsoleBrowser(client: client)
            try await bound.signIn(try await client.staffKey(role: "support", organisation: organisation.slug).key)
            #expect(try await bound.get("/console/staff-keys").status == .forbidden)
            #expect(try await bound.get("/console/audit").status == .forbidden)
            #expect(
                try await bound.post("/console/staff-keys", [("name", "x"), ("role", "support")]).status == .forbidden)

            let readonly = ConsoleBrowser(client: client)
            try await readonly.signIn(try await client.staffKey(role: "readonly").key)
            #expect(try await readonly.get("/console/staff-keys").status == .ok)
            let settings = try await readonly.post(
                "/console/organisations/\(organisation.slug)/settings", [("name", "Renamed"), ("scimEnabled", "")])
            #expect(settings.status == .forbidden)
            let now = try await client.admin(.get, "/organisations/\(organisation.slug)")
            #expect(now["scimEnabled"] == .bool(true))
            #expect(now["name"]?.stringValue != "Renamed")
        }
    }
}

@Suite("Admin API: the user representation support reads after a first sync")
struct AdminUserRepresentationTests {
    @Test("users carry their manager, teams and custom-field values")
    func managerTeamsFields() async throws {
        try await withApp { client in
            let organisation = try await client.organisation("rep")
            let mapped = try await client.admin(
                .put, "/organisations/\(organisation.slug)/custom-fields",
                json: ["mappings": [["scimAttribute": "costCentre", "field": "cost_centre", "type": "string"]]])
            #expect(mapped.status == .ok, "\(mapped.text)")
            let bossID = try await organisation.createUser("boss@example.com")
            let fields: JSONValue = ["costCentre": "CC-42"]
            let userID = try await organisation.createUser(
                "ada@example.com",
                extra: [
                    "schemas": [
                        .string(SchemaURN.user), .string(SchemaURN.enterpriseUser), .string(SchemaURN.learnAmpUser),
                    ],
                    SchemaURN.enterpriseUser: ["manager": ["value": .string(bossID)]], SchemaURN.learnAmpUser: fields,
                ])
            let group = try await organisation.scim(
                .post, "/Groups",
                json: [
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Research",
                    "members": [["value": .string(userID)]],
                ])
            #expect(group.status == .created)
            let list = try await client.admin(.get, "/organisations/\(organisation.slug)/users?email=ada@example.com")
            let user = try #require(list["users"]?.arrayValue?.first)
            #expect(user.at("manager", "id")?.stringValue == bossID)
            #expect(user.at("manager", "userName")?.stringValue == "boss@example.com")
            #expect(user.at("teams")?.arrayValue?.first?.at("name")?.stringValue == "Research")
            #expect(user.at("teams")?.arrayValue?.first?.at("id")?.stringValue == group["id"]?.stringValue)
            #expect(user.at("customFields", "cost_centre")?.stringValue == "CC-42")
            let boss = try await client.admin(.get, "/organisations/\(organisation.slug)/users?email=boss@example.com")
            let bossUser = try #require(boss["users"]?.arrayValue?.first)
            #expect(bossUser.at("manager") == .null)
            #expect(bossUser.at("teams") == .array([]))
            #expect(bossUser.at("customFields") == .object([:]))
        }
    }
}
