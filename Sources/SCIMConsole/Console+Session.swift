import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SCIMStore

/// Sessions, sign-in and sign-out, and the checks every console request passes through.
extension Console {
    static var cookieName: String { "la_console" }

    /// Wraps a page handler: resolves the session (no session: to the sign-in page), checks a POST's
    /// `Origin` and CSRF token before the handler runs (either missing or wrong: 403, nothing changed),
    /// and turns anything thrown into a page through `ConsoleFailure.from`.
    func page(
        _ handler: @escaping @Sendable (ConsoleCall<Context>) async throws -> Response
    ) -> @Sendable (Request, Context) async throws -> Response {
        { request, context in
            let now = clock.now()
            var layout: [String: Any]?
            do {
                guard let id = request.cookies[Self.cookieName]?.value,
                    let session = try await stores.sessions.resume(id, bootstrapDigest: adminTokenDigest, now: now)
                else {
                    return signInRedirect(request)
                }
                let csrf = Self.csrfToken(session)
                var form = FormFields()
                if request.method == .post {
                    try checkOrigin(request)
                    form = try await Self.formBody(request)
                    guard let sent = form["csrf"], Secrets.constantTimeEquals(Array(sent.utf8), Array(csrf.utf8)) else {
                        throw ConsoleFailure(
                            status: .forbidden, title: "Form expired",
                            message:
                                "This form was not sent from the console page it belongs to. "
                                + "Reload the page and try again."
                        )
                    }
                }
                let call = ConsoleCall(
                    request: request, context: context, session: session, csrf: csrf, form: form, now: now)
                layout = ConsoleViews.layout(call)
                return try await handler(call)
            } catch {
                let failure = ConsoleFailure.from(error, logger: context.logger)
                return views.errorPage(failure, session: layout, requestID: context.requestID)
            }
        }
    }

    /// The CSRF token of a session: derived from the stored hash of its id, so it needs no storage
    /// and tells nothing about the cookie.
    static func csrfToken(_ session: ConsoleSession) -> String {
        let hex = session.idHash.map { String(format: "%02x", $0) }.joined()
        return Secrets.sha256("console-csrf:" + hex).map { String(format: "%02x", $0) }.joined()
    }

    /// The origin pages are served from: `PUBLIC_BASE_URL`'s scheme and authority when set, else the
    /// request's `Host` with the scheme it arrived over.
    func expectedOrigin(_ request: Request) -> String? {
        if let base = settings.publicBaseURL, let url = URL(string: base), let scheme = url.scheme, let host = url.host
        {
            return "\(scheme.lowercased())://\(host.lowercased())" + (url.port.map { ":\($0)" } ?? "")
        }
        guard let authority = request.head.authority else { return nil }
        var scheme = settings.servesTLS ? "https" : "http"
        if !settings.servesTLS, let forwarded = request.headers[.consoleForwardedProto]?.split(separator: ",").first {
            scheme = String(forwarded).trimmingCharacters(in: .whitespaces).lowercased()
        }
        return "\(scheme)://\(authority.lowercased())"
    }

    /// - Throws: `ConsoleFailure` 403 unless the request's `Origin` is the console's own.
    ///
    /// Under the console's `Referrer-Policy: no-referrer`, browsers send `Origin: null` with a form's
    /// POST (Fetch, "serializing a request origin"). Then the browser's own `Sec-Fetch-Site`, which a
    /// page cannot set, must say `same-origin`; a `null` origin from a sandboxed frame or another site
    /// says `cross-site` and is refused.
    func checkOrigin(_ request: Request) throws {
        let origin = request.headers[.origin]?.lowercased()
        let sameOrigin = origin != nil && origin == expectedOrigin(request)
        let nullFromSameOrigin = origin == "null" && request.headers[.secFetchSite]?.lowercased() == "same-origin"
        guard sameOrigin || nullFromSameOrigin else {
            throw ConsoleFailure(
                status: .forbidden, title: "Request refused",
                message: "This form was sent from another site, or by a browser that does not say where from.")
        }
    }

    static func formBody(_ request: Request) async throws -> FormFields {
        var request = request
        let mediaType = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces)
            .lowercased()
        guard mediaType == "application/x-www-form-urlencoded" else {
            throw ConsoleFailure(
                status: .unsupportedMediaType, title: "Not a form", message: "Send the form as the console page does.")
        }
        let buffer = try await request.collectBody(upTo: 64 * 1024)
        return FormFields(query: String(buffer: buffer))
    }

    func signInRedirect(_ request: Request) -> Response {
        var location = "/console/sign-in"
        if request.method == .get,
            let next = Self.safeNext(request.uri.path + (request.uri.query.map { "?\($0)" } ?? ""))
        {
            location += "?next=" + (next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        }
        return Self.redirect(location)
    }

    /// A path within the console to return to after sign-in; nil for anything else (no open redirect).
    static func safeNext(_ path: String?) -> String? {
        guard let path, path.hasPrefix("/console/"), !path.hasPrefix("/console/sign-"), !path.contains("//"),
            !path.contains("\\"), path.utf8.count <= 500
        else { return nil }
        return path
    }

    func signInPage(_ request: Request, context: Context) -> Response {
        let query = FormFields(query: request.uri.query ?? "")
        var data: [String: Any] = ["next": Self.safeNext(query["next"]) ?? ""]
        if query["signed-out"] != nil { data["notice"] = "You have signed out." }
        return views.page("sign-in", title: "Sign in", data: data, layout: [:])
    }

    /// Checks the pasted key or bootstrap token through the failed-authentication limit, and starts a
    /// session. A wrong credential counts as a failed authentication, exactly as on the admin API.
    func signIn(_ request: Request, context: Context) async throws -> Response {
        func again(_ status: HTTPResponse.Status, _ message: String, next: String?) -> Response {
            views.page(
                "sign-in", title: "Sign in", data: ["error": message, "next": next ?? ""], layout: [:], status: status)
        }
        do {
            try checkOrigin(request)
            let form = try await Self.formBody(request)
            let next = Self.safeNext(form["next"])
            let credential = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard !credential.isEmpty else { return again(.badRequest, "Paste your staff key.", next: next) }
            if let retryAfter = signInLimit.check(request, context.remoteAddress, credential) {
                var response = again(
                    .tooManyRequests, "Too many failed sign-ins. Try again in \(retryAfter) seconds.", next: next)
                response.headers[.retryAfter] = String(retryAfter)
                return response
            }
            let identity: StaffIdentity
            if credential.hasPrefix("\(StaffKeyStore.kind)_") {
                guard let key = try await stores.staffKeys.authenticate(bearer: credential) else {
                    signInLimit.recordFailure(request, context.remoteAddress, credential)
                    return again(
                        .unauthorized, "That key was not accepted. Check it, or ask for a new one.", next: next)
                }
                identity = key
            } else if Secrets.constantTimeEquals(Secrets.sha256(credential), adminTokenDigest) {
                identity = .bootstrap
            } else {
                signInLimit.recordFailure(request, context.remoteAddress, credential)
                return again(.unauthorized, "That key was not accepted. Check it, or ask for a new one.", next: next)
            }
            let now = clock.now()
            let id = try await stores.sessions.start(identity, bootstrapDigest: adminTokenDigest, now: now)
            do {
                // Housekeeping on the way: sessions a day past their end go. Every session's, so by the
                // system clock, as the service's other purges: a console on a moved clock (tests sharing
                // one database) must not delete sessions that are live by the real one.
                try await stores.sessions.purge(now: Date())
            } catch {
                context.logger.warning(
                    "console session purge failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            let home = identity.organisationSlug.map { "/console/organisations/\($0)" } ?? "/console/organisations"
            var response = Self.redirect(next ?? home)
            response.headers[.setCookie] = sessionCookie(id, maxAge: Int(ConsoleSessionStore.absoluteLifetime))
            return response
        } catch {
            return views.errorPage(
                ConsoleFailure.from(error, logger: context.logger), session: nil, requestID: context.requestID)
        }
    }

    func signOut(_ call: ConsoleCall<Context>) async throws -> Response {
        try await stores.sessions.end(idHash: call.session.idHash, now: call.now)
        var response = Self.redirect("/console/sign-in?signed-out=1")
        response.headers[.setCookie] = sessionCookie("", maxAge: 0)
        return response
    }

    /// `HttpOnly; SameSite=Strict; Path=/console`, and `Secure` whenever the console is served over HTTPS.
    func sessionCookie(_ value: String, maxAge: Int) -> String {
        "\(Self.cookieName)=\(value); Path=/console; Max-Age=\(maxAge); HttpOnly; SameSite=Strict"
            + (settings.secureCookies ? "; Secure" : "")
    }
}
