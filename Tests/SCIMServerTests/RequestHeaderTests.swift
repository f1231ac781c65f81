import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SCIM
import Synchronization
import Testing

@testable import SCIMServer

/// A text stream that keeps what it is given.
final class CapturedStream: TextOutputStream, Sendable {
    private let text = Mutex("")
    var contents: String { text.withLock { $0 } }
    func write(_ string: String) { text.withLock { $0 += string } }
}

@Suite("Text log escaping")
struct TextLogEscapingTests {
    @Test(
        "control characters are escaped in the message and every value",
        arguments: [
            ("a\r\nb", #"a\r\nb"#), ("tab\there", #"tab\there"#), ("nul\u{0}", #"nul\u{0}"#),
            ("esc\u{1B}[31m", #"esc\u{1B}[31m"#),
            ("del\u{7F}", #"del\u{7F}"#), ("c1\u{85}next", #"c1\u{85}next"#), (#"back\slash"#, #"back\\slash"#),
            ("plain ascii and ünïcödé", "plain ascii and ünïcödé"),
        ])
    func escapes(raw: String, escaped: String) {
        #expect(TextLogHandler.escaped(raw) == escaped)
    }

    @Test("an injected line break in a value, a nested value or the message stays on one line")
    func oneLine() {
        let stream = CapturedStream()
        var logger = Logger(label: "test") { TextLogHandler(label: $0, stream: stream) }
        logger[metadataKey: "scim.path"] = "/scim/v2/Users\n2026-01-01T00:00:00+0000 critical forged line"
        logger.warning(
            "user \("ada\r\ninjected") refused",
            metadata: ["nested": ["list": ["a\nb"], "map": ["k": "v\u{7}"]], "number": .stringConvertible(42)])
        let output = stream.contents
        #expect(output.filter { $0 == "\n" || $0 == "\r\n" }.count == 1, "one line: \(output)")
        #expect(output.contains(#"/scim/v2/Users\n2026-01-01"#))
        #expect(output.contains(#"user ada\r\ninjected refused"#))
        // Nested values are rendered by swift-log through Swift's own string escaping, after ours.
        #expect(!output.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" } && !output.contains("\u{7}"))
        #expect(output.contains("number=42"))
    }
}

@Suite("Host header checks (pure)")
struct HostAuthorityTests {
    @Test(
        "authorities",
        arguments: [
            ("scim.learnamp.com", true), ("localhost:8080", true), ("127.0.0.1", true), ("[::1]:443", true),
            ("[2001:db8::1]", true),
            ("a_b~c.example", true), ("", false), ("user@host", false), ("host/path", false), ("host name", false),
            ("host:", false), ("host:99999", false), ("host:80:80", false), ("[::1", false), ("[]", false),
            ("[::1]x", false),
            ("host\tname", false), ("evil.com#x", false), ("host?x", false), ("[zz::1]", false),
        ])
    func authority(text: String, valid: Bool) {
        #expect(HostHeaderMiddleware.isAuthority(text) == valid)
    }

    @Test("X-Forwarded-Proto")
    func forwardedProto() {
        #expect(HostHeaderMiddleware.scheme(forwardedProto: "https") == "https")
        #expect(HostHeaderMiddleware.scheme(forwardedProto: "HTTP") == "http")
        #expect(HostHeaderMiddleware.scheme(forwardedProto: "https, http") == "https")
        for bad in ["", "ftp", "https://evil", "javascript", "https,,http", "https x"] {
            #expect(HostHeaderMiddleware.scheme(forwardedProto: bad) == nil, "\(bad)")
        }
    }
}

/// Host, X-Forwarded-Proto and X-Request-Id on a live server, over raw sockets so that the headers
/// are exactly what the test writes.
@Suite("Request headers on a live server")
struct RequestHeaderLiveTests {
    /// One request over a fresh connection; `host` nil sends none.
    static func send(
        port: Int, _ method: String, _ path: String, host: String?, headers: [String] = [], body: String? = nil
    ) async throws -> (status: Int, headers: [String: String], body: JSONValue?) {
        var lines = ["\(method) \(path) HTTP/1.1"]
        if let host { lines.append("Host: \(host)") }
        lines += headers
        lines.append("Connection: close")
        if let body { lines += ["Content-Type: application/json", "Content-Length: \(body.utf8.count)"] }
        let raw = try await SlowClientTests.exchange(
            port: port, lines.joined(separator: "\r\n") + "\r\n\r\n" + (body ?? ""))
        let (head, _, payload) = raw.partition("\r\n\r\n")
        let headLines = head.components(separatedBy: "\r\n")
        let status = Int(headLines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var fields: [String: String] = [:]
        for line in headLines.dropFirst() {
            let (name, _, value) = line.partition(": ")
            fields[name.lowercased()] = value
        }
        return (status, fields, payload.isEmpty ? nil : try? JSONValue.parse(Array(payload.utf8)))
    }

    static func app(publicBaseURL: String? = nil) async throws -> some ApplicationProtocol {
        var configuration = try TestDatabase.configuration()
        configuration.port = 0
        configuration.publicBaseURL = publicBaseURL
        return try await buildApplication(configuration, logger: TestDatabase.logger)
    }

    @Test("malformed framing and a malformed If-Match are 400 with an error body, never a bare status or a 500")
    func malformedFraming() async throws {
        try await Self.app().test(.live) { client in
            let port = try #require(client.port)
            let org = try await TestClient(client: client).organisation("framing")
            let group = try await org.scim(
                .post, "/Groups", json: ["schemas": [.string(SchemaURN.group)], "displayName": "Framed"])
            let id = try #require(group["id"]?.stringValue)
            let patch =
                #"{"schemas":["\#(SchemaURN.patchOp)"],"Operations":[{"op":"replace","path":"displayName","value":"X"}]}"#
            let ifMatch = try await Self.send(
                port: port, "PATCH", "/scim/v2/Groups/\(id)", host: "127.0.0.1",
                headers: ["Authorization: Bearer \(org.token)", "If-Match: garbage"], body: patch)
            #expect(ifMatch.status == 400)
            #expect(ifMatch.body?[caseInsensitive: "schemas"] == [.string(SchemaURN.error)], "SCIM error body")

            // A chunk size that is not hex: the body cannot be framed.
            let user = #"{"schemas":["\#(SchemaURN.user)"],"userName":"chunked@example.com"}"#
            for chunks in [
                "zz\r\n\(user)\r\n0\r\n\r\n", "\(String(user.utf8.count, radix: 16))\r\n\(user)XX\r\n0\r\n\r\n",
            ] {
                let raw = try await SlowClientTests.exchange(
                    port: port,
                    "POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(org.token)\r\n"
                        + "Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                        + chunks)
                #expect(raw.hasPrefix("HTTP/1.1 400"), "\(raw.prefix(300))")
                let payload = raw.partition("\r\n\r\n").2
                #expect(
                    (try? JSONValue.parse(Array(payload.utf8)))?[caseInsensitive: "schemas"] == [
                        .string(SchemaURN.error)
                    ], "\(raw.prefix(400))")
            }
            #expect(
                try await org.scim(.get, "/Users?filter=userName%20eq%20%22chunked@example.com%22")["totalResults"] == 0
            )
        }
    }

    @Test("an HTTP/1.1 request without Host, or with two, is 400 in its API's error shape; probes need none")
    func missingHost() async throws {
        try await Self.app().test(.live) { client in
            let port = try #require(client.port)
            let org = try await TestClient(client: client).organisation("host")
            let scim = try await Self.send(
                port: port, "GET", "/scim/v2/Users", host: nil, headers: ["Authorization: Bearer \(org.token)"])
            #expect(scim.status == 400)
            #expect(scim.body?[caseInsensitive: "schemas"] == [.string(SchemaURN.error)], "SCIM error body")
            #expect(scim.body?[caseInsensitive: "detail"]?.stringValue?.contains("Host") == true)
            let admin = try await Self.send(
                port: port, "GET", "/admin/v1/organisations", host: nil,
                headers: ["Authorization: Bearer \(TestDatabase.adminToken)"])
            #expect(admin.status == 400)
            #expect(
                admin.body?[caseInsensitive: "error"]?.stringValue == "bad_request"
                    && admin.body?[caseInsensitive: "requestId"] != nil, "admin error body")
            let twice = try await Self.send(
                port: port, "GET", "/scim/v2/Users", host: "a.example",
                headers: ["Host: b.example", "Authorization: Bearer \(org.token)"])
            #expect(twice.status == 400)
            #expect(try await Self.send(port: port, "GET", "/healthz", host: nil).status == 200)
            #expect(
                try await Self.send(
                    port: port, "GET", "/scim/v2/Users?count=1", host: "scim.example:8443",
                    headers: ["Authorization: Bearer \(org.token)"]
                ).status == 200)
        }
    }

    @Test("without PUBLIC_BASE_URL a bad Host or X-Forwarded-Proto is 400 and never reaches a URL")
    func badHostWithoutPublicBaseURL() async throws {
        try await Self.app().test(.live) { client in
            let port = try #require(client.port)
            let org = try await TestClient(client: client).organisation("host")
            let auth = "Authorization: Bearer \(org.token)"
            for host in ["evil.com/phish?", "user@evil.com", "evil.com:99999", "[::1"] {
                let result = try await Self.send(
                    port: port, "GET", "/scim/v2/ServiceProviderConfig", host: host, headers: [auth])
                #expect(result.status == 400, "Host: \(host)")
                #expect(result.body?[caseInsensitive: "schemas"] == [.string(SchemaURN.error)])
                let admin = try await Self.send(
                    port: port, "GET", "/admin/v1/organisations", host: host,
                    headers: ["Authorization: Bearer \(TestDatabase.adminToken)"])
                #expect(
                    admin.status == 400 && admin.body?[caseInsensitive: "error"]?.stringValue == "bad_request",
                    "admin, Host: \(host)")
            }
            for proto in ["javascript", "https://evil.com", "ftp"] {
                let result = try await Self.send(
                    port: port, "GET", "/scim/v2/ServiceProviderConfig", host: "scim.example",
                    headers: [auth, "X-Forwarded-Proto: \(proto)"])
                #expect(result.status == 400, "X-Forwarded-Proto: \(proto)")
            }
            // A good pair is what the URLs are built from.
            let user =
                #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"host@example.com","active":true}"#
            let created = try await Self.send(
                port: port, "POST", "/scim/v2/Users", host: "[2001:db8::1]:8443",
                headers: [auth, "X-Forwarded-Proto: https"], body: user)
            #expect(created.status == 201)
            #expect(created.headers["location"]?.hasPrefix("https://[2001:db8::1]:8443/scim/v2/Users/") == true)
            #expect(created.body?.at("meta", "location")?.stringValue == created.headers["location"])
        }
    }

    @Test("with PUBLIC_BASE_URL the Host is not used, so an odd one is let through")
    func publicBaseURLIgnoresHost() async throws {
        try await Self.app(publicBaseURL: "https://scim.learnamp.example").test(.live) { client in
            let port = try #require(client.port)
            let org = try await TestClient(client: client).organisation("host")
            let result = try await Self.send(
                port: port, "GET", "/scim/v2/ServiceProviderConfig", host: "user@odd",
                headers: ["Authorization: Bearer \(org.token)", "X-Forwarded-Proto: ftp"])
            #expect(result.status == 200)
            #expect(
                result.body?.at("meta", "location")?.stringValue?.hasPrefix("https://scim.learnamp.example/scim/v2/")
                    == true)
        }
    }

    @Test("the server generates the request id; a client's X-Request-Id is kept beside it and searchable")
    func requestIDs() async throws {
        try await withApp { client in
            let org = try await client.organisation("rid")
            let failed = try await org.scim(
                .post, "/Users",
                json: [
                    "schemas": [.string(SchemaURN.user)], "userName": "rid@example.com", "timezone": "Mars/Olympus",
                ],
                headers: [.init("X-Request-Id")!: "okta-7f3a9c"])
            #expect(failed.status == .badRequest)
            let serverID = try #require(failed.headers[.init("X-Request-Id")!])
            #expect(
                serverID != "okta-7f3a9c" && UUID(uuidString: serverID) != nil, "the response carries the server's id")
            #expect(failed["detail"]?.stringValue?.hasSuffix("(request \(serverID))") == true)
            for id in ["okta-7f3a9c", serverID] {
                let found = try await client.admin(.get, "/organisations/\(org.slug)/events?requestId=\(id)")
                let events = try #require(found["events"]?.arrayValue, "\(found.text)")
                #expect(events.count == 1, "search by \(id)")
                #expect(events.first?[caseInsensitive: "requestId"]?.stringValue == serverID)
                #expect(events.first?[caseInsensitive: "clientRequestId"]?.stringValue == "okta-7f3a9c")
            }
            // An unusable client id is not kept.
            let odd = try await org.scim(.get, "/Users/not-a-user", headers: [.init("X-Request-Id")!: "has space"])
            let oddID = try #require(odd.headers[.init("X-Request-Id")!])
            let found = try await client.admin(.get, "/organisations/\(org.slug)/events?requestId=\(oddID)")
            #expect(found["events"]?.arrayValue?.first?[caseInsensitive: "clientRequestId"] == .null)
        }
    }
}

extension String {
    /// The text before and after the first `separator` (all of it, and "", when there is none).
    fileprivate func partition(_ separator: String) -> (String, String, String) {
        guard let range = range(of: separator) else { return (self, "", "") }
        return (String(self[..<range.lowerBound]), separator, String(self[range.upperBound...]))
    }
}
