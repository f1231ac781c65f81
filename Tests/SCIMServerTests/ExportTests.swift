import Foundation
import SCIM
import SCIMServer
import SCIMStore
import TestClusters
import Testing

@Suite("Exporting one organisation")
struct ExportTests {
    @Test("scripts/export-org dumps exactly one organisation's schema and its control row, no tokens")
    func exportOneOrganisation() async throws {
        let databaseURL = try TestDatabase.configuration().databaseURL
        try await withApp { client in
            let org = try await client.organisation("exp")
            let other = try await client.organisation("oth")
            _ = try await org.createUser("exported@exp.com")
            _ = try await other.createUser("not-exported@oth.com")
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: out) }
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../scripts/export-org").standardized.path
            try await spawnAndWait(script, [org.slug, out.path], environment: ["DATABASE_URL": databaseURL])

            let files = try FileManager.default.contentsOfDirectory(atPath: out.path)
            let schema = Organisation.schemaName(forSlug: org.slug)
            let archive = try #require(files.first { $0.hasSuffix(".dump") })
            #expect(archive.hasPrefix(schema))
            let json = try #require(files.first { $0.hasSuffix(".organisation.json") })
            let row = try JSONValue.parse(Array(try Data(contentsOf: out.appendingPathComponent(json))))
            #expect(row[caseInsensitive: "slug"] == .string(org.slug))
            #expect(row[caseInsensitive: "secret_hash"] == nil)

            // The archive restores into a scratch database with this organisation's users only.
            let listing = out.appendingPathComponent("listing.txt")
            try await spawnAndWait(
                "sh", ["-c", "pg_restore --list '\(out.appendingPathComponent(archive).path)' > '\(listing.path)'"])
            let contents = try String(contentsOf: listing, encoding: .utf8)
            #expect(contents.contains("TABLE \(schema) users"))
            #expect(contents.contains("TABLE DATA \(schema) users"))
            #expect(!contents.contains(Organisation.schemaName(forSlug: other.slug)))
            #expect(!contents.contains("scim_tokens"))
        }
    }
}
