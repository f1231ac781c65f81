// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "learnamp-scim",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "scim-server", targets: ["scim-server"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // C shims: the only place unsafe C is imported.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),

        // Gregorian day arithmetic for the date texts of both the database layer and SCIM.
        .target(
            name: "CivilCalendar",
            swiftSettings: swiftSettings
        ),

        // A small async PostgreSQL client over libpq. Knows nothing about SCIM.
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                "COpenSSL",
                "CivilCalendar",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Pure SCIM domain (RFC 7643/7644): resources, filters, PATCH, errors. Foundation only.
        .target(
            name: "SCIM",
            dependencies: ["CivilCalendar"],
            swiftSettings: swiftSettings
        ),

        // Tenancy and persistence: control schema, tenant schemas, migrations, repositories.
        .target(
            name: "SCIMStore",
            dependencies: [
                "Postgres",
                "SCIM",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The support console under /console: server-rendered pages over the stores. Its templates and
        // static assets are resources of the binary (the Docker image copies the resource bundle).
        .target(
            name: "SCIMConsole",
            dependencies: [
                "SCIM",
                "SCIMStore",
                "Postgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: swiftSettings
        ),

        // The Hummingbird application: routes, auth, controllers.
        .target(
            name: "SCIMServer",
            dependencies: [
                "SCIM",
                "SCIMStore",
                "SCIMConsole",
                "Postgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // glibc's malloc tuning (mallopt), which Swift's Glibc module does not export.
        .target(name: "CMalloc"),

        .executableTarget(
            name: "scim-server",
            dependencies: [
                "CMalloc",
                "SCIMServer",
                "SCIMStore",
                "Postgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Private Postgres clusters for the tests that stop or restart a server.
        .target(
            name: "TestClusters",
            path: "Tests/TestClusters",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PostgresTests",
            dependencies: ["Postgres", "TestClusters"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SCIMTests",
            dependencies: ["SCIM"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SCIMServerTests",
            dependencies: [
                "SCIMServer",
                "SCIMStore",
                "Postgres",
                "TestClusters",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
