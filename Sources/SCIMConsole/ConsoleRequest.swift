import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Postgres
import SCIM
import SCIMStore

/// One signed-in console request: the session, its CSRF token, the posted form (empty for a GET) and
/// the clock's reading, taken once.
struct ConsoleCall<Context: ConsoleRequestContext>: Sendable {
    let request: Request
    let context: Context
    let session: ConsoleSession
    let csrf: String
    let form: FormFields
    let now: Date

    var identity: StaffIdentity { session.identity }
    var query: FormFields { FormFields(query: request.uri.query ?? "") }

    /// The `{slug}` of the route, checked against the identity: a bound key asking for another
    /// organisation gets the same 404 as for one that does not exist.
    func slug() throws -> String {
        let slug = context.parameters.get("slug") ?? ""
        guard identity.maySee(organisationSlug: slug) else { throw ConsoleFailure.noOrganisation(slug) }
        return slug
    }

    /// Refuses a write by a readonly key (before anything is read or changed).
    func requireWrite() throws {
        guard identity.mayWrite else {
            throw ConsoleFailure(
                status: .forbidden, title: "Read-only access", message: "Your key may look but not change anything.")
        }
    }

    /// Refuses a page that is not about one organisation to a key bound to one.
    func requireUnbound() throws {
        guard identity.isUnbound else {
            throw ConsoleFailure(
                status: .forbidden, title: "Not available to your key",
                message: "Your key is limited to one organisation; this page is for Learn Amp support.")
        }
    }
}

/// A page the console answers with instead of what was asked: a status, a heading and a sentence.
struct ConsoleFailure: Error, Sendable {
    var status: HTTPResponse.Status
    var title: String
    var message: String

    static func noOrganisation(_ slug: String) -> ConsoleFailure {
        ConsoleFailure(
            status: .notFound, title: "Organisation not found",
            message: "There is no organisation \"\(slug.prefix(64))\".")
    }

    /// The one place where anything a console handler throws becomes a page: store errors keep their
    /// status and message (written for support staff), database outages become 503, and anything else
    /// a 500 that says nothing about the server (the details go to the log, with the request id).
    static func from(_ error: any Error, logger: Logger) -> ConsoleFailure {
        switch error {
        case let failure as ConsoleFailure:
            return failure
        case let error as StoreError:
            let status: HTTPResponse.Status =
                switch error.kind {
                case .notFound: .notFound
                case .conflict: .conflict
                case .busy: .serviceUnavailable
                default: .badRequest
                }
            return ConsoleFailure(status: status, title: Self.title(for: status), message: error.message)
        case let error as SCIMError:
            let status = HTTPResponse.Status(code: error.status)
            return ConsoleFailure(status: status, title: Self.title(for: status), message: error.detail)
        case let error as PostgresError where error.namesMissingRelation:
            return ConsoleFailure(
                status: .notFound, title: "Organisation not found", message: "This organisation no longer exists.")
        case let error as PostgresError where error.isTransient:
            logger.warning("database unavailable", metadata: ["postgres.error": "\(error.code)"])
            return ConsoleFailure(
                status: .serviceUnavailable, title: "Database unavailable",
                message: "The database is unavailable; try again shortly.")
        case let error as HTTPError:
            return ConsoleFailure(
                status: error.status, title: Self.title(for: error.status),
                message: error.body ?? error.status.reasonPhrase)
        default:
            logger.error("unexpected console error", metadata: ["error": "\(String(reflecting: error))"])
            return ConsoleFailure(
                status: .internalServerError, title: "Something went wrong",
                message: "An unexpected error occurred. Contact the service's maintainers with the request id below.")
        }
    }

    /// Whether the person can fix this by changing what they typed: shown beside the form.
    var isCorrectable: Bool { status == .badRequest || status == .conflict }

    static func title(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "Check what you entered"
        case 403: "Not allowed"
        case 404: "Not found"
        case 409: "Already exists"
        case 413: "Too large"
        case 503: "Service unavailable"
        default: status.reasonPhrase
        }
    }
}

/// Fields of an `application/x-www-form-urlencoded` body or a query string (last value wins for
/// `subscript`, every value for `all`).
struct FormFields: Sendable {
    private(set) var pairs: [(String, String)] = []

    init() {}

    init(query: String) {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            pairs.append((Self.decoded(parts[0]), parts.count > 1 ? Self.decoded(parts[1]) : ""))
        }
    }

    subscript(_ name: String) -> String? { pairs.last { $0.0 == name }?.1 }

    func all(_ name: String) -> [String] { pairs.filter { $0.0 == name }.map(\.1) }

    /// The trimmed value, nil when absent or blank.
    func text(_ name: String) -> String? {
        guard let value = self[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
            return nil
        }
        return value
    }

    /// `+` as a space and `%XX` as that byte; text that is not valid percent-encoded UTF-8 as sent.
    static func decoded(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}

/// Dates as the console shows them: UTC, and how long ago.
enum ConsoleTime {
    static func view(_ date: Date?, now: Date) -> [String: Any]? {
        guard let date else { return nil }
        return ["iso": iso(date), "text": text(date), "relative": relative(date, now: now)]
    }

    static func iso(_ date: Date) -> String {
        var format = Date.ISO8601FormatStyle()
        format.timeZone = TimeZone(identifier: "UTC") ?? .current
        return date.formatted(format)
    }

    /// `2026-12-06 19:20 UTC`.
    static func text(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        func two(_ n: Int?) -> String { String(format: "%02d", n ?? 0) }
        return "\(c.year ?? 0)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)) UTC"
    }

    /// A deadline (a purge date, an expiry) with its date and how many days away it is.
    static func deadline(_ date: Date?, now: Date) -> [String: Any]? {
        guard let date else { return nil }
        return ["iso": iso(date), "text": text(date), "days": days(until: date, now: now)]
    }

    /// How far away a date is, in words a deadline is read in: `today` and `tomorrow` by its UTC date,
    /// else `in 30 days`, the time to it rounded to whole days (so a purge 29.9 days away is "in 30
    /// days", where truncating said 29); `yesterday` and `3 days ago` by the date once it has passed.
    static func days(until date: Date, now: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let dates =
            calendar.dateComponents(
                [.day], from: calendar.startOfDay(for: now), to: calendar.startOfDay(for: date)
            ).day ?? 0
        switch dates {
        case 0: return "today"
        case 1: return "tomorrow"
        case -1: return "yesterday"
        case 2...: return "in \(max(2, Int((date.timeIntervalSince(now) / 86_400).rounded()))) days"
        default: return "\(-dates) days ago"
        }
    }

    /// `just now`, `3 min ago`, `5 h ago`, `2 days ago`; `in 3 days` for the future.
    static func relative(_ date: Date, now: Date) -> String {
        let seconds = now.timeIntervalSince(date)
        let magnitude = abs(seconds)
        let amount: String
        switch magnitude {
        case ..<60: return "just now"
        case ..<3600: amount = "\(Int(magnitude / 60)) min"
        case ..<86400: amount = "\(Int(magnitude / 3600)) h"
        default:
            let days = Int(magnitude / 86400)
            amount = days == 1 ? "1 day" : "\(days) days"
        }
        return seconds >= 0 ? "\(amount) ago" : "in \(amount)"
    }
}
