// swift-tools-version:6.2
import PackageDescription

// Warnings are errors in this package's own targets (not in dependencies), so that CI's build fails on any.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "ResultsHub",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ElectionModel", targets: ["ElectionModel"]),
        .library(name: "ElectionDefaults", targets: ["ElectionDefaults"]),
        .library(name: "HubWire", targets: ["HubWire"]),
        .library(name: "HubCore", targets: ["HubCore"]),
        .library(name: "HubServer", targets: ["HubServer"]),
        .library(name: "HubClient", targets: ["HubClient"]),
        .executable(name: "results-hub", targets: ["results-hub"]),
        .executable(name: "reporter", targets: ["reporter"]),
        .executable(name: "hub-load", targets: ["hub-load"]),
        .executable(name: "results-web", targets: ["results-web"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // reporter only: CSV files (quotes, a BOM, CRLF) and text tables.
        .package(url: "https://github.com/yaslab/CSV.swift.git", from: "2.5.2"),
        .package(url: "https://github.com/ordo-one/TextTable.git", from: "0.0.2"),
        // TLS (issue 13): the transport below the protocol, and `results-hub dev-cert`. Never in HubWire or HubCore.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        // Desk tokens hashed at rest (HMAC-SHA256), and the dev certificates' keys.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        // Metrics (issue 13): the API in the hub's modules; Prometheus and the admin HTTP port only in HubAdmin.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // results-web only (issue 14): /v1/ws, and the tests' WebSocket client (also what drives the browser).
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        // HTTP field names (Last-Event-ID) for results-web; Hummingbird builds on it already.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // results-hub only: `--config FILE` (TOML). Kept out of the library modules.
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        // Issue 15: the events in PostgreSQL, shared by several hubs (HubPostgres only).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // zlib from the system (zlib1g-dev): preset dictionaries and raw deflate need the C API itself.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Parties, regions, contests, declarations, validation and the scoreboard. No I/O.
        .target(
            name: "ElectionModel",
            swiftSettings: strictSettings
        ),
        // The embedded default election (4 May 2023 English local elections), shipped as a resource.
        .target(
            name: "ElectionDefaults",
            dependencies: ["ElectionModel"],
            resources: [.copy("Resources/england-2023.json")],
            swiftSettings: strictSettings
        ),
        // Wire protocol v1: frames, messages, compression, state checksum. No I/O beyond ByteBuffer.
        .target(
            name: "HubWire",
            dependencies: [
                "ElectionModel",
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The hub's state machines (HubMachine, ConnectionMachine) and their parts. No I/O; README.md walks a SUBMIT through.
        .target(
            name: "HubCore",
            dependencies: ["ElectionModel", "HubWire", .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["README.md"],
            swiftSettings: strictSettings
        ),
        // The durable journal: an append-only file of checksummed records behind the `EventStore` protocol, written on
        // a thread of its own.
        .target(
            name: "HubJournal",
            dependencies: [
                "ElectionModel",
                "HubWire",
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                // NIOThreadPool: the journal's own thread.
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            exclude: ["FORMAT.md"],
            swiftSettings: strictSettings
        ),
        // The command-line options every client executable shares (reporter, results-web): TLS to the hub.
        .target(
            name: "ClientOptions",
            dependencies: [
                "HubClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        // The events in PostgreSQL behind `SharedEventStore`: one table keyed by sequence, the leader's advisory lock
        // on its writing session, followers woken by LISTEN/NOTIFY. The only module that knows PostgreSQL.
        .target(
            name: "HubPostgres",
            dependencies: [
                "ElectionModel", "HubWire", "HubJournal",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // A relay hub's store: its upstream hub's events through a verified subscription (`results-hub relay`).
        .target(
            name: "HubRelay",
            dependencies: [
                "ElectionModel", "HubWire", "HubJournal", "HubClient",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // How a PEM file that would not load is described, the same on the hub's side and the client's.
        .target(
            name: "TLSFiles",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        // The SwiftNIO hub: carries out the machines' actions on connections and the store; lifecycle.
        .target(
            name: "HubServer",
            dependencies: [
                "ElectionModel", "HubWire", "HubCore", "HubJournal", "TLSFiles",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // DevCertificates (`results-hub dev-cert`); swift-nio-ssl builds swift-certificates anyway.
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // The operator's HTTP port: /metrics (Prometheus), /healthz, /readyz, /v1/stats.
        .target(
            name: "HubAdmin",
            dependencies: [
                "HubServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The async client library: desks and subscribers.
        .target(
            name: "HubClient",
            dependencies: [
                "ElectionModel", "HubWire", "TLSFiles",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "results-hub",
            dependencies: [
                "HubServer", "HubAdmin", "HubCore", "HubWire", "HubJournal", "HubPostgres", "HubRelay", "HubClient",
                "ElectionModel",
                "ElectionDefaults",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: strictSettings
        ),
        // What results-web serves, without I/O: each contest's and the scoreboard's JSON encoded once per change,
        // the change events shared by every browser, the history that lets one resume, bounded queues per browser.
        .target(
            name: "WebFeed",
            dependencies: [
                "ElectionModel", "HubWire",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // results-web's services: the hub subscription feeding the `LiveFeed`, and the HTTP server (the page, the
        // JSON API, server-sent events, WebSocket).
        .target(
            name: "ResultsWeb",
            dependencies: [
                "WebFeed", "HubClient", "HubWire", "ElectionModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "results-web",
            dependencies: [
                "ClientOptions",
                "ResultsWeb", "WebFeed", "HubClient", "HubWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "reporter",
            dependencies: [
                "ClientOptions",
                "HubClient", "ElectionModel", "HubWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CSV", package: "CSV.swift"),
                .product(name: "TextTable", package: "TextTable"),
            ],
            swiftSettings: strictSettings
        ),
        // The load-test tool: its pure parts are a library so that they are unit-tested.
        .target(
            name: "HubLoad",
            dependencies: [
                "HubClient", "ElectionModel", "ElectionDefaults", "HubWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                // `hub-load web`: server-sent-event streams from results-web.
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tools/hub-load/HubLoad",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "hub-load",
            dependencies: [
                "HubLoad", "HubWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/hub-load/Command",
            swiftSettings: strictSettings
        ),
        // Heap bytes per retained event and per remembered revision: `swift run -c release retained-memory`.
        .target(
            name: "CHeapStatistics",
            path: "Tools/retained-memory/CHeapStatistics"
        ),
        .executableTarget(
            name: "retained-memory",
            dependencies: [
                "CHeapStatistics", "HubCore", "HubServer", "HubLoad", "HubWire", "ElectionModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/retained-memory/Command",
            swiftSettings: strictSettings
        ),
        // Fuzzing (Tools/fuzz/run.sh): the harness is a library so that the tests replay the regression corpus too.
        .target(
            name: "WireFuzzHarness",
            dependencies: ["HubWire", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tools/fuzz/Harness",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "FrameFuzzer",
            dependencies: ["WireFuzzHarness"],
            path: "Tools/fuzz/FrameFuzzer",
            swiftSettings: strictSettings
        ),
        // What several test targets share: a seedable generator and a small election built in code.
        .target(
            name: "HubTestSupport",
            dependencies: ["ElectionModel"],
            path: "Tests/HubTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "HubCoreTests",
            dependencies: [
                "HubCore", "HubWire", "ElectionModel", "HubTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "HubServerTests",
            dependencies: [
                "HubServer", "HubAdmin", "HubClient", "HubCore", "HubJournal", "HubWire", "ElectionModel",
                "ElectionDefaults",
                // results-web over HTTP (issue 14).
                "ResultsWeb", "WebFeed",
                // Hubs on PostgreSQL (issue 15): a fresh database per test, and the store itself.
                "HubPostgres", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                // Built so that tests can run them as separate processes.
                "reporter", "results-hub", "hub-load", "results-web",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                // EmbeddedChannel: the small handlers tested without sockets.
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WebFeedTests",
            dependencies: [
                "WebFeed", "ElectionModel", "ElectionDefaults", "HubWire", "HubTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "HubLoadTests",
            dependencies: [
                "HubLoad", "ElectionModel", "HubWire",
                // ByteBuffer: the RESP codec's tests.
                .product(name: "NIOCore", package: "swift-nio"),
                // Latency summaries in the compare figures' tests.
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Tests/HubLoadTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "HubJournalTests",
            dependencies: [
                "HubJournal",
                "HubWire",
                "ElectionModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ElectionModelTests",
            dependencies: ["ElectionModel", "ElectionDefaults", "HubTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "HubWireTests",
            dependencies: [
                "HubWire",
                "ElectionModel",
                "ElectionDefaults",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                "WireFuzzHarness",
                "HubTestSupport",
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
