import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SCIMServer
import TestClusters
import Testing

@Suite("Native TLS (TLS_CERT_PATH/TLS_KEY_PATH)")
struct TLSTests {
    static let environment = [
        "DATABASE_URL": "postgresql://scim@127.0.0.1:1/scim", "ADMIN_API_TOKEN": "test-admin-token-0123456789",
    ]

    /// A fresh self-signed certificate for localhost, valid one day.
    static func selfSigned() async throws -> (certificate: String, key: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scim-tls-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificate = "\(directory)/cert.pem"
        let key = "\(directory)/key.pem"
        try await spawnAndWait(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout", key,
                "-out", certificate,
            ],
            quiet: true)
        return (certificate, key)
    }

    @Test("with a certificate and key, the service answers over HTTPS")
    func servesHTTPS() async throws {
        let files = try await Self.selfSigned()
        var configuration = try TestDatabase.configuration()
        configuration.port = 0
        configuration.tls = try TLSFiles(certificatePath: files.certificate, keyPath: files.key)
        let app = try await buildApplication(configuration, logger: TestDatabase.logger)
        // AsyncHTTPClient over https://localhost, certificate verification off (self-signed).
        try await app.test(.ahc(.https)) { client in
            let health = try await client.execute(uri: "/healthz", method: .get) { $0 }
            #expect(health.status == .ok)
            #expect(String(buffer: health.body) == "ok\n")
            let ready = try await client.execute(uri: "/readyz", method: .get) { $0 }
            #expect(ready.status == .ok)
        }
    }

    @Test("the environment sets both files or neither, and they must exist")
    func environment() async throws {
        let files = try await Self.selfSigned()
        #expect(try AppConfiguration.fromEnvironment(Self.environment).tls == nil)
        let both = try AppConfiguration.fromEnvironment(
            Self.environment.merging(["TLS_CERT_PATH": files.certificate, "TLS_KEY_PATH": files.key]) { $1 })
        #expect(both.tls?.certificatePath == files.certificate && both.tls?.keyPath == files.key)

        for (variables, mentions) in [
            (["TLS_CERT_PATH": files.certificate], "TLS_KEY_PATH"),
            (["TLS_KEY_PATH": files.key], "TLS_CERT_PATH"),
            (
                ["TLS_CERT_PATH": "/nonexistent/cert.pem", "TLS_KEY_PATH": files.key],
                "TLS_CERT_PATH=/nonexistent/cert.pem"
            ),
            (
                ["TLS_CERT_PATH": files.certificate, "TLS_KEY_PATH": "/nonexistent/key.pem"],
                "TLS_KEY_PATH=/nonexistent/key.pem"
            ),
        ] {
            #expect {
                try AppConfiguration.fromEnvironment(Self.environment.merging(variables) { $1 })
            } throws: { error in
                (error as? ConfigurationError)?.description.contains(mentions) == true
            }
        }
    }

    @Test("a file that is not PEM stops start-up with an error naming the variable")
    func unreadableFiles() async throws {
        let files = try await Self.selfSigned()
        var configuration = try TestDatabase.configuration()
        configuration.tls = try TLSFiles(certificatePath: files.key, keyPath: files.key)
        await #expect {
            _ = try await buildApplication(configuration, logger: TestDatabase.logger)
        } throws: { error in
            (error as? ConfigurationError)?.description.contains("TLS_CERT_PATH") == true
        }
        configuration.tls = try TLSFiles(certificatePath: files.certificate, keyPath: files.certificate)
        await #expect {
            _ = try await buildApplication(configuration, logger: TestDatabase.logger)
        } throws: { error in
            (error as? ConfigurationError)?.description.contains("TLS_KEY_PATH") == true
        }
    }
}
