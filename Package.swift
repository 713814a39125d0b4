// swift-tools-version:6.0
import Foundation
import PackageDescription

let package = Package(
    name: "crmflow",
    platforms: [.macOS(.v15)],  // Synchronization's Mutex
    products: [
        .executable(name: "crmflow", targets: ["crmflow"]),
        .library(name: "CRMFlowCore", targets: ["CRMFlowCore"]),
        .library(name: "CRMFlowIO", targets: ["CRMFlowIO"]),
        .library(name: "CRMFlowPipeline", targets: ["CRMFlowPipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // NB: Yams 5 keeps duplicate mapping keys (6.x throws on the first), so the validator can report each one.
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // SQLite sources, sinks and the run history (over the system SQLite, Debian's libsqlite3-dev).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // Excel workbooks are zip packages of XML parts.
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibCSV",
            providers: [.apt(["libcsv-dev"])]
        ),
        // PostgreSQL sources and sinks through libpq, PostgreSQL's own client library.
        .systemLibrary(
            name: "CLibPQ",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(name: "CRMFlowCore"),
        .target(name: "CRMFlowIO", dependencies: ["CRMFlowCore", "CLibCSV", "CLibPQ", .product(name: "GRDB", package: "GRDB.swift"), "ZIPFoundation"]),
        .target(name: "CRMFlowStages", dependencies: ["CRMFlowCore", "CRMFlowIO", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "CRMFlowPipeline",
            dependencies: [
                "CRMFlowCore", "CRMFlowIO", "CRMFlowStages", "Yams",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "crmflow",
            dependencies: [
                "CRMFlowCore", "CRMFlowIO", "CRMFlowStages", "CRMFlowPipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "CRMFlowFuzzTargets", dependencies: ["CRMFlowCore", "CRMFlowIO", "CRMFlowStages", "CRMFlowPipeline"]),
        .testTarget(name: "CRMFlowCoreTests", dependencies: ["CRMFlowCore"]),
        .testTarget(name: "CRMFlowIOTests", dependencies: ["CRMFlowIO", "CRMFlowCore"]),
        // The stages on their own: specs, option readers and the pure parts of each stage, without the runner.
        .testTarget(name: "CRMFlowStagesTests", dependencies: ["CRMFlowStages", "CRMFlowIO", "CRMFlowCore"]),
        .testTarget(name: "CRMFlowPipelineTests", dependencies: ["CRMFlowPipeline", "CRMFlowStages", "CRMFlowIO", "CRMFlowCore", "CRMFlowFuzzTargets"]),
        .testTarget(name: "CRMFlowCLITests", dependencies: ["crmflow"]),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer binary, only for `make fuzz` (CRMFLOW_FUZZ=1 swift build --sanitize=fuzzer): it has no main of its own.
if ProcessInfo.processInfo.environment["CRMFLOW_FUZZ"] != nil {
    package.targets.append(.executableTarget(name: "CRMFlowFuzz", dependencies: ["CRMFlowFuzzTargets"], path: "Fuzz/CRMFlowFuzz",
                                             swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
}
