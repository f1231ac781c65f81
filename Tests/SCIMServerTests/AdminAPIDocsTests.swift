import Foundation
import Hummingbird
import Logging
import Postgres
import SCIMStore
import Testing

@testable import SCIMServer

/// docs/admin-api.md documents every admin route, and only routes the server really has.
///
/// A documented route is a Markdown heading naming it in backticks, e.g.
/// "### Status: `GET /admin/v1/organisations/{slug}/status`". The server's routes come from the
/// router `buildRouter` builds, which opens no database connection.
@Suite struct AdminAPIDocsTests {
    static var documentURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/admin-api.md")
            .standardized
    }

    /// "METHOD /admin/v1/a/{b}" with every path parameter written `{name}`, whatever the source spelling.
    static func normalised(method: String, path: String) -> String {
        let components = path.split(separator: "/", omittingEmptySubsequences: true).map { component -> String in
            if component.hasPrefix(":") { return "{\(component.dropFirst())}" }
            return String(component)
        }
        return "\(method.uppercased()) /\(components.joined(separator: "/"))"
    }

    /// Routes named in headings of docs/admin-api.md.
    static func documentedRoutes(in text: String) throws -> [String] {
        let pattern = try Regex(#"^#{2,6} .*`(GET|POST|PUT|PATCH|DELETE) (/admin/v1[^`\s?]*)`"#)
        return text.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line -> String? in
            guard let match = try? pattern.firstMatch(in: String(line)),
                let method = match.output[1].substring, let path = match.output[2].substring
            else { return nil }
            return normalised(method: String(method), path: String(path))
        }
    }

    /// The `/admin/v1` routes the server registers.
    static func serverRoutes() throws -> Set<String> {
        let configuration = try TestDatabase.configuration()
        // Never run: building the router only stores the client in the controllers.
        let client = PostgresClient(
            configuration: .init(connectionString: configuration.databaseURL), logger: TestDatabase.logger)
        let router = try buildRouter(
            configuration, client: client, backgroundClient: client,
            migrations: try MigrationSet.load(from: configuration.sqlDirectory),
            metrics: ServiceMetrics(), events: EventBuffer())
        return Set(
            router.routes
                .map { normalised(method: $0.method.rawValue, path: $0.path.description) }
                .filter { $0.split(separator: " ", maxSplits: 1).last?.hasPrefix("/admin/v1") == true })
    }

    @Test func headingsAreParsedInEitherParameterSpelling() throws {
        let sample = """
            ### Status: `GET /admin/v1/organisations/{slug}/status`
            ### `DELETE /admin/v1/organisations/:slug/tokens/:id`
            Prose that mentions `GET /admin/v1/audit` is not a heading.
            | `GET /admin/v1/staff-keys` | nor is a table row |
            """
        #expect(
            try Self.documentedRoutes(in: sample) == [
                "GET /admin/v1/organisations/{slug}/status", "DELETE /admin/v1/organisations/{slug}/tokens/{id}",
            ])
    }

    @Test func everyDocumentedRouteExistsAndEveryAdminRouteIsDocumented() throws {
        let text = try String(contentsOf: Self.documentURL, encoding: .utf8)
        let documentedList = try Self.documentedRoutes(in: text)
        let documented = Set(documentedList)
        let served = try Self.serverRoutes()

        #expect(served.count >= 10, "the router should have the admin routes: \(served.sorted())")
        #expect(documentedList.count == documented.count, "a route is documented under two headings: \(documentedList)")
        let missingFromServer = documented.subtracting(served).sorted()
        let missingFromDocs = served.subtracting(documented).sorted()
        #expect(missingFromServer.isEmpty, "documented in docs/admin-api.md but not served: \(missingFromServer)")
        #expect(
            missingFromDocs.isEmpty,
            "served but not documented in docs/admin-api.md (add a heading like ### Name: `GET /admin/v1/…`): \(missingFromDocs)"
        )
    }
}
