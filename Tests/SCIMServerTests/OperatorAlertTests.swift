import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SCIM
import SCIMStore
import Testing

@testable import SCIMServer

@Suite("Operator alerts: per-organisation metrics, and alerts.yml against a live /metrics")
struct OperatorAlertTests {
    @Test("per-organisation requests, last success, token expiry and SCIM switch appear on /metrics with their values")
    func organisationMetrics() async throws {
        let slugs = (TestDatabase.uniqueSlug("alert"), TestDatabase.uniqueSlug("alert-off"))
        try await withFastRefresh(of: [slugs.0, slugs.1]) { client in
            let organisation = try await client.organisation(slug: slugs.0)
            let now = Date()
            // Whole seconds, so the API's milliseconds and the gauge's seconds compare exactly.
            let soon = Date(timeIntervalSince1970: (now.timeIntervalSince1970 + 10 * 86_400).rounded(.down))
            try await issueToken(client, organisation.slug, label: "rotation", expiresAt: soon)
            let slug = organisation.slug
            try await issueToken(client, slug, label: "later", expiresAt: soon.addingTimeInterval(10 * 86_400))
            // Revoked, and expiring before the others: not live, so not the earliest expiry.
            let revoked = try await issueToken(
                client, slug, label: "revoked", expiresAt: soon.addingTimeInterval(-5 * 86_400))
            let revokedID = try #require(revoked["id"]?.stringValue)
            #expect(try await client.admin(.delete, "/organisations/\(slug)/tokens/\(revokedID)").status == .noContent)

            let id = try await organisation.createUser("alert.\(UUID().uuidString.prefix(8))@example.com")
            #expect(try await organisation.scim(.get, "/Users/\(id)").status == .ok)
            #expect(try await organisation.scim(.get, "/Users/\(UUID().uuidString.lowercased())").status == .notFound)
            #expect(try await organisation.scim(.get, "/Users/\(UUID().uuidString.lowercased())").status == .notFound)
            let refused = try await client.request(
                .get, "/scim/v2/Users", bearer: try #require(revoked["token"]?.stringValue))
            #expect(refused.status == .unauthorized)

            // An organisation with SCIM switched off whose identity provider never connected.
            let paused = try await client.organisation(slug: slugs.1)
            let switchedOff = try await client.admin(
                .patch, "/organisations/\(paused.slug)", json: ["scimEnabled": false])
            #expect(switchedOff.status == .ok)

            // The status page writes the buffered events first, so its lastSuccessAt is what the
            // next refresh reads from the event log.
            let status = try await client.admin(.get, "/organisations/\(organisation.slug)/status")
            let lastSuccess = try #require(status["lastSuccessAt"]?.stringValue.flatMap(SCIMDate.parse))
            let asked = Date()
            let text = try await scrape(client, until: refreshed(after: asked))

            #expect(value(in: text, "scim_organisation_requests_total", slug, outcome: "success") == 2)
            // Two 404s and the revoked token's 401.
            #expect(value(in: text, "scim_organisation_requests_total", slug, outcome: "error") == 3)
            let published = try #require(value(in: text, "scim_organisation_last_success_timestamp_seconds", slug))
            #expect(abs(published - lastSuccess.timeIntervalSince1970) < 0.001, "\(published) against \(lastSuccess)")
            let expiry = value(in: text, "scim_organisation_token_expiry_timestamp_seconds", slug)
            #expect(expiry == soon.timeIntervalSince1970)
            #expect(value(in: text, "scim_organisation_scim_enabled", slug) == 1)

            #expect(value(in: text, "scim_organisation_scim_enabled", paused.slug) == 0)
            // Counters exist from the first refresh, at 0, so a first error is an increase Prometheus sees.
            #expect(value(in: text, "scim_organisation_requests_total", paused.slug, outcome: "error") == 0)
            // Never connected: no last success to be stale; no token with an expiry.
            #expect(value(in: text, "scim_organisation_last_success_timestamp_seconds", paused.slug) == nil)
            #expect(value(in: text, "scim_organisation_token_expiry_timestamp_seconds", paused.slug) == nil)
            // The organisations in scope only, none of those other tests keep in the shared database.
            let listed = Set(text.matches(of: /organisation="([^"]*)"/).map { String($0.output.1) })
            #expect(listed == [slugs.0, slugs.1])
        }
    }

    @Test("an organisation's series go when it is no longer listed, and the ones without a value go too")
    func organisationSeriesAreRemoved() {
        let metrics = ServiceMetrics()
        let expiry = Date(timeIntervalSince1970: 2_000_000_000)
        let synced = Date(timeIntervalSince1970: 1_900_000_000)
        let epoch = Date(timeIntervalSince1970: 0)
        metrics.publishOrganisations(
            [
                .init(slug: "kept", scimEnabled: true, lastSuccess: .at(synced), tokenExpiry: expiry),
                .init(slug: "gone", scimEnabled: true, lastSuccess: .at(epoch), tokenExpiry: expiry),
            ], now: Date(timeIntervalSince1970: 1_950_000_000))
        metrics.recordOrganisationRequest(slug: "gone", failed: true)
        var text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(value(in: text, "scim_organisation_requests_total", "gone", outcome: "error") == 1)
        #expect(value(in: text, "scim_organisation_last_success_timestamp_seconds", "gone") == 0)
        #expect(value(in: text, "scim_organisation_signals_refreshed_timestamp_seconds") == 1_950_000_000)

        // kept: its event log could not be read (keeps its value) and its expiring token was revoked.
        metrics.publishOrganisations(
            [.init(slug: "kept", scimEnabled: false, lastSuccess: .unread, tokenExpiry: nil)],
            now: Date(timeIntervalSince1970: 1_950_000_060))
        text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(!text.contains(#"organisation="gone""#))
        #expect(value(in: text, "scim_organisation_last_success_timestamp_seconds", "kept") == 1_900_000_000)
        #expect(value(in: text, "scim_organisation_token_expiry_timestamp_seconds", "kept") == nil)
        #expect(value(in: text, "scim_organisation_scim_enabled", "kept") == 0)

        metrics.publishOrganisations(
            [.init(slug: "kept", scimEnabled: true, lastSuccess: .none, tokenExpiry: nil)],
            now: Date(timeIntervalSince1970: 1_950_000_120))
        text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(value(in: text, "scim_organisation_last_success_timestamp_seconds", "kept") == nil)
    }

    @Test("a refresh that listed the organisations before one's first request keeps that request's count")
    func organisationCreatedDuringRefreshKeepsItsCounts() {
        let metrics = ServiceMetrics()
        let now = Date(timeIntervalSince1970: 1_950_000_000)
        metrics.recordOrganisationRequest(slug: "purged", failed: false)
        let refresh = metrics.startOrganisationRefresh()
        // The listing is read here: "purged" is gone, "new" does not exist yet.
        metrics.recordOrganisationRequest(slug: "new", failed: false)
        metrics.recordOrganisationRequest(slug: "new", failed: true)
        metrics.publishOrganisations([], of: refresh, now: now)
        var text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(value(in: text, "scim_organisation_requests_total", "new", outcome: "success") == 1)
        #expect(value(in: text, "scim_organisation_requests_total", "new", outcome: "error") == 1)
        #expect(!text.contains(#"organisation="purged""#))

        // The next refresh lists it and keeps counting from there.
        let next = metrics.startOrganisationRefresh()
        metrics.publishOrganisations(
            [.init(slug: "new", scimEnabled: true, lastSuccess: .none, tokenExpiry: nil)], of: next, now: now)
        metrics.recordOrganisationRequest(slug: "new", failed: false)
        text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(value(in: text, "scim_organisation_requests_total", "new", outcome: "success") == 2)
        // A refresh that no longer lists it (purged meanwhile) removes it.
        metrics.publishOrganisations([], of: metrics.startOrganisationRefresh(), now: now)
        text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(!text.contains(#"organisation="new""#))
    }

    @Test("every metric alerts.yml and the Grafana dashboard use is on a live /metrics scrape")
    func alertRulesUseExportedMetrics() async throws {
        let rules = try String(contentsOf: Self.deployFile("prometheus/alerts.yml"), encoding: .utf8)
        let inRules = Self.metricNames(in: Self.expressions(inRules: rules))
        let inDashboard = Self.metricNames(
            in: try Self.expressions(inDashboard: Data(contentsOf: Self.deployFile("grafana/dashboard.json"))))
        // The extraction itself: these are certainly there.
        #expect(
            inRules.isSuperset(of: [
                "scim_http_requests_total", "scim_db_pool_waiting", "scim_organisation_token_expiry_timestamp_seconds",
            ]))
        #expect(inRules.count >= 9, "\(inRules.sorted())")
        #expect(inDashboard.isSuperset(of: ["scim_http_request_duration_seconds_bucket", "scim_events_pending"]))
        let recorded = Set(
            rules.split(separator: "\n").compactMap { line -> String? in
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard trimmed.hasPrefix("- record:") else { return nil }
                return trimmed.dropFirst("- record:".count).trimmingCharacters(in: .whitespaces)
            })

        let slug = TestDatabase.uniqueSlug("alert")
        try await withFastRefresh(of: [slug]) { client in
            let organisation = try await client.organisation(slug: slug)
            let expiry = Date().addingTimeInterval(30 * 86_400)
            try await issueToken(client, organisation.slug, label: "expiring", expiresAt: expiry)
            #expect(try await organisation.scim(.get, "/Users?count=1").status == .ok)
            try await client.request(.get, "/readyz", bearer: nil)
            let asked = Date()
            let text = try await scrape(client, until: refreshed(after: asked))
            // SCIMNotReady selects the readiness probe's requests by this route label.
            #expect(text.contains(#"scim_http_requests_total{method="GET",route="/readyz",status_class="2xx"}"#))
            let exported = Set(
                text.split(separator: "\n").compactMap { line -> String? in
                    guard line.hasPrefix("# TYPE ") else { return nil }
                    return line.split(separator: " ").dropFirst(2).first.map(String.init)
                })
            for (file, names) in [("alerts.yml", inRules), ("dashboard.json", inDashboard)] {
                for name in names.sorted() {
                    if name == "up" { continue }  // Prometheus records `up` for every scrape target.
                    // swift-metrics' timer, which only `scim-server serve` installs (see ServiceMetrics).
                    if name.hasPrefix("scim_db_query_duration_seconds") && file == "dashboard.json" { continue }
                    if name.contains(":") {
                        #expect(recorded.contains(name), "\(file): \(name) is neither exported nor recorded")
                        continue
                    }
                    var family = name
                    for suffix in ["_bucket", "_sum", "_count"] where !exported.contains(name) && name.hasSuffix(suffix)
                    {
                        family = String(name.dropLast(suffix.count))
                    }
                    #expect(exported.contains(family), "\(file) uses \(name), which /metrics does not export")
                    #expect(
                        text.contains("\n\(name){") || text.contains("\n\(name) "), "\(file): \(name) has no sample")
                }
            }
        }
    }

    // MARK: - Helpers

    static func deployFile(_ path: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../deploy/\(path)").standardized
    }

    /// The rules' `expr:` values, single-line or `|` blocks.
    static func expressions(inRules rules: String) -> [String] {
        var expressions: [String] = []
        let lines = rules.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var index = 0
        while index < lines.count {
            let line = lines[index]
            index += 1
            guard let range = line.range(of: "expr:") else { continue }
            let value = line[range.upperBound...].trimmingCharacters(in: .whitespaces)
            guard value == "|" || value == ">" else {
                expressions.append(value)
                continue
            }
            let indent = line.prefix { $0 == " " }.count
            while index < lines.count,
                lines[index].trimmingCharacters(in: .whitespaces).isEmpty
                    || lines[index].prefix(while: { $0 == " " }).count > indent
            {
                expressions.append(lines[index])
                index += 1
            }
        }
        return expressions
    }

    /// Every panel target's `expr` (and template variable query) in a Grafana dashboard.
    static func expressions(inDashboard json: Data) throws -> [String] {
        func collect(_ value: Any) -> [String] {
            if let object = value as? [String: Any] {
                var found = (object["expr"] as? String).map { [$0] } ?? []
                // `label_values(selector, label)`: the selector only.
                if let query = object["query"] as? String, query.hasPrefix("label_values(") {
                    found.append(
                        query.replacingOccurrences(
                            of: #"^label_values\((.*),\s*\w+\)$"#, with: "$1", options: .regularExpression))
                }
                return found + object.values.flatMap(collect)
            }
            return (value as? [Any])?.flatMap(collect) ?? []
        }
        return collect(try JSONSerialization.jsonObject(with: json))
    }

    /// The metric (and recording-rule) names in PromQL expressions: label matchers, quoted strings,
    /// `by`/`on` lists, ranges and offsets removed, then every identifier that is not a function call
    /// or a keyword.
    static func metricNames(in expressions: [String]) -> Set<String> {
        var text = expressions.joined(separator: "\n")
        for pattern in [
            #""[^"]*""#, #"\{[^}]*\}"#, #"\[[^\]]*\]"#, #"\boffset\s+\w+"#,
            #"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)"#,
        ] {
            text = text.replacingOccurrences(of: pattern, with: " ", options: .regularExpression)
        }
        let keywords: Set<String> = ["and", "or", "unless", "bool"]
        var names = Set<String>()
        let identifier = try! NSRegularExpression(pattern: #"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?"#)
        let whole = NSRange(text.startIndex..., in: text)
        for match in identifier.matches(in: text, range: whole) {
            guard match.range(at: 1).location == NSNotFound, let range = Range(match.range, in: text) else { continue }
            let name = String(text[range])
            if !keywords.contains(name) { names.insert(name) }
        }
        return names
    }
}

/// An application whose per-organisation gauges refresh every 200 ms (a minute in production), for
/// the organisations with these slugs only: a pass over every organisation the shared test database
/// holds would take longer the more tests have run.
private func withFastRefresh(
    of slugs: Set<String>, _ body: @Sendable (TestClient) async throws -> Void
) async throws {
    var configuration = try TestDatabase.configuration()
    configuration.organisationMetricsInterval = .milliseconds(200)
    configuration.organisationMetricsScope = .only(slugs)
    let app = try await buildApplication(configuration, logger: TestDatabase.logger)
    try await app.test(.router) { client in
        try await body(TestClient(client: client))
    }
}

@discardableResult
private func issueToken(
    _ client: TestClient, _ slug: String, label: String, expiresAt: Date
) async throws -> TestResult {
    let expiry = ISO8601DateFormatter().string(from: expiresAt)
    let issued = try await client.admin(
        .post, "/organisations/\(slug)/tokens", json: ["label": .string(label), "expiresAt": .string(expiry)])
    try #require(issued.status == .created, "issuing \(label): \(issued.text)")
    return issued
}

/// Scrapes `/metrics` until `done` holds: the refresh runs in the background, every 200 ms here. Gives
/// up after two minutes, however many scrapes a loaded machine fitted in.
private func scrape(_ client: TestClient, until done: (String) -> Bool) async throws -> String {
    let deadline = ContinuousClock.now + .seconds(120)
    var text = ""
    while ContinuousClock.now < deadline {
        text = try await client.request(.get, "/metrics", bearer: nil).text
        if done(text) { return text }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("the per-organisation metrics were not refreshed within two minutes")
    return text
}

/// True once a refresh that started after `date` was published.
private func refreshed(after date: Date) -> @Sendable (String) -> Bool {
    { text in
        (value(in: text, "scim_organisation_signals_refreshed_timestamp_seconds") ?? 0) > date.timeIntervalSince1970
    }
}

private func value(in exposition: String, _ series: String) -> Double? {
    OperationsTests.value(in: exposition, series)
}

/// A per-organisation series' value: `name{organisation="slug"}`, or with `outcome` after it.
private func value(in exposition: String, _ name: String, _ slug: String, outcome: String? = nil) -> Double? {
    let outcomeLabel = outcome.map { #",outcome="\#($0)""# } ?? ""
    return OperationsTests.value(in: exposition, #"\#(name){organisation="\#(slug)"\#(outcomeLabel)}"#)
}
