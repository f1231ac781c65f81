import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import SCIMStore

/// The console's templates and static assets, read once from the binary's resources.
///
/// Assets are served at `/console/assets/<name>.<hash>.<ext>`, the hash being the first 16 hex digits
/// of the file's SHA-256, with a year's `immutable` cache lifetime: a changed file gets a new URL.
struct ConsoleViews: Sendable {
    struct Asset: Sendable {
        var contentType: String
        var body: String
    }

    let library: MustacheLibrary
    /// Served file name (`console.3f2a….css`) to its content.
    let assets: [String: Asset]
    /// Plain name (`console.css`) to its URL.
    let assetURLs: [String: String]

    static let contentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

    static func load() throws -> ConsoleViews {
        guard let resources = Bundle.module.url(forResource: "Resources", withExtension: nil) else {
            throw ConsoleResourceError(message: "the console's resource bundle is missing")
        }
        var library = MustacheLibrary()
        let templates = resources.appendingPathComponent("Templates")
        for name in try FileManager.default.contentsOfDirectory(atPath: templates.path)
        where name.hasSuffix(".mustache") {
            let text = try String(contentsOf: templates.appendingPathComponent(name), encoding: .utf8)
            try library.register(text, named: String(name.dropLast(".mustache".count)))
        }
        var assets: [String: Asset] = [:]
        var urls: [String: String] = [:]
        let statics = resources.appendingPathComponent("Static")
        for name in try FileManager.default.contentsOfDirectory(atPath: statics.path) {
            let text = try String(contentsOf: statics.appendingPathComponent(name), encoding: .utf8)
            let hash = Secrets.sha256(text).prefix(8).map { String(format: "%02x", $0) }.joined()
            let ext = (name as NSString).pathExtension
            let base = (name as NSString).deletingPathExtension
            let served = "\(base).\(hash).\(ext)"
            let types = [
                "css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml",
            ]
            let type = types[ext] ?? "application/octet-stream"
            assets[served] = Asset(contentType: type, body: text)
            urls[name] = "/console/assets/\(served)"
        }
        return ConsoleViews(library: library, assets: assets, assetURLs: urls)
    }

    func asset(_ file: String) -> Response {
        guard let asset = assets[file] else {
            return Response(
                status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: .init(string: "not found\n")))
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: asset.contentType, .cacheControl: "public, max-age=31536000, immutable",
                .xContentTypeOptions: "nosniff",
            ],
            body: .init(byteBuffer: .init(string: asset.body)))
    }

    /// A full page: `template` rendered with `data`, inside the layout.
    func page(
        _ template: String, title: String, data: [String: Any], layout: [String: Any], status: HTTPResponse.Status = .ok
    ) -> Response {
        let content = library.render(Self.compact(data) ?? [:], withTemplate: template) ?? ""
        var frame = (Self.compact(layout) as? [String: Any]) ?? [:]
        frame["title"] = title
        frame["content"] = content
        frame["css"] = assetURLs["console.css"] ?? ""
        frame["js"] = assetURLs["console.js"] ?? ""
        frame["icon"] = assetURLs["favicon.svg"] ?? ""
        return html(library.render(frame, withTemplate: "layout") ?? "", status: status)
    }

    /// The data without its nil values and empty texts: an absent optional stored as `Any` would
    /// otherwise be a truthy section that renders as "nil".
    static func compact(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return nil }
            return compact(wrapped)
        }
        // An empty text is left out too, so `{{#detail}}…{{/detail}}` is skipped rather than framing nothing;
        // a missing value renders as the empty text it was.
        if let text = value as? String, text.isEmpty { return nil }
        if let dictionary = value as? [String: Any] {
            return dictionary.compactMapValues { compact($0) }
        }
        if let array = value as? [Any] {
            return array.compactMap { compact($0) }
        }
        return value
    }

    /// The layout's data for a signed-in person.
    static func layout<Context>(_ call: ConsoleCall<Context>, organisation: Organisation? = nil, section: String? = nil)
        -> [String: Any]
    {
        var layout: [String: Any] = [
            "signedIn": true, "who": call.identity.name, "role": roleLabel(call.identity), "csrf": call.csrf,
            "unbound": call.identity.isUnbound, "canWrite": call.identity.mayWrite,
        ]
        if let organisation {
            var nav: [[String: Any]] = []
            for (key, label, path) in [
                ("overview", "Overview", ""), ("users", "Users", "/users"), ("teams", "Teams", "/teams"),
                ("events", "Sync events", "/events"), ("tokens", "SCIM tokens", "/tokens"),
                ("oauth-clients", "OAuth clients", "/oauth-clients"),
                ("custom-fields", "Custom fields", "/custom-fields"), ("settings", "Settings", "/settings"),
            ] {
                nav.append([
                    "label": label, "href": "/console/organisations/\(organisation.slug)\(path)",
                    "current": key == section,
                ])
            }
            layout["organisation"] = ["name": organisation.name, "slug": organisation.slug]
            layout["orgNav"] = nav
            layout["hasOrgNav"] = true
        }
        layout["sectionOrganisations"] = section == nil && organisation == nil
        if let notice = call.query.text("done").flatMap(Self.notice) { layout["notice"] = notice }
        return layout
    }

    /// Messages shown after an action, by the redirect's `?done=` key (never text from the URL).
    static func notice(_ key: String) -> String? {
        [
            "token-revoked": "The token was revoked. Requests that present it now get 401.",
            "organisation-created":
                "The organisation was created. Issue a SCIM token to connect its identity provider.",
            "settings-saved": "Settings saved.",
            "fields-saved": "Custom fields saved.",
            "key-revoked": "The staff key was revoked; its sessions have ended.",
            "oauth-client-revoked":
                "The OAuth client was revoked. Its secrets and access tokens no longer work.",
            "oauth-secret-revoked": "The secret was revoked. Access tokens it obtained no longer work.",
            "offboarded": "The organisation was offboarded: SCIM is off and every token and OAuth client is revoked.",
            "restored": "The organisation was restored. Issue a new SCIM token or OAuth client to reconnect it.",
            "purged":
                "The organisation was purged: its data, tokens, OAuth clients and bound staff keys are deleted. "
                + "The audit log keeps one entry recording the purge.",
        ][key]
    }

    static func roleLabel(_ identity: StaffIdentity) -> String {
        switch identity.role {
        case .bootstrap: "bootstrap token"
        case .support: identity.organisationSlug.map { "support, \($0) only" } ?? "support"
        case .readonly: identity.organisationSlug.map { "read-only, \($0) only" } ?? "read-only"
        }
    }

    func errorPage(_ failure: ConsoleFailure, session: [String: Any]?, requestID: String) -> Response {
        page(
            "error", title: failure.title,
            data: [
                "title": failure.title, "message": failure.message, "requestID": requestID,
                "status": Int(failure.status.code),
            ],
            layout: session ?? [:], status: failure.status)
    }

    func html(_ text: String, status: HTTPResponse.Status, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        headers[.referrerPolicy] = "no-referrer"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.xFrameOptions] = "DENY"
        return Response(status: status, headers: headers, body: .init(byteBuffer: .init(string: text)))
    }
}

/// `1 team`, `3 teams`.
func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

struct ConsoleResourceError: Error, CustomStringConvertible {
    var message: String
    var description: String { "Console resources: \(message)" }
}

extension HTTPField.Name {
    static let referrerPolicy = Self(literal: "Referrer-Policy")
    static let xFrameOptions = Self(literal: "X-Frame-Options")
    static let secFetchSite = Self(literal: "Sec-Fetch-Site")
    static let consoleForwardedProto = Self(literal: "X-Forwarded-Proto")

    /// A field name spelled in this module's code. HTTPTypes can only build a name it has validated
    /// (`init?(_:)`), and its own constants cover only the registered fields, so a name such as
    /// `X-Frame-Options` is checked here, once, when its constant is first used.
    ///
    /// - Precondition: `name` is a token (RFC 9110 section 5.1). Only a literal written in code can be
    ///   passed, so a bad name is a typo, which `HTTPFieldNameTests` catches, never something a client sent.
    init(literal name: StaticString) {
        guard let valid = Self(name.description) else {
            preconditionFailure("\(name) is not an HTTP field name (RFC 9110 section 5.1)")
        }
        self = valid
    }
}
