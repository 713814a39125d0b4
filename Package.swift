// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "crmflow",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "crmflow", targets: ["crmflow"]),
        .library(name: "CRMFlowCore", targets: ["CRMFlowCore"]),
        .library(name: "CRMFlowIO", targets: ["CRMFlowIO"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibCSV",
            providers: [.apt(["libcsv-dev"])]
        ),
        .target(name: "CRMFlowCore"),
        .target(name: "CRMFlowIO", dependencies: ["CRMFlowCore", "CLibCSV"]),
        .executableTarget(
            name: "crmflow",
            dependencies: [
                "CRMFlowCore", "CRMFlowIO", "CLibCSV",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "CRMFlowCoreTests", dependencies: ["CRMFlowCore"]),
        .testTarget(name: "CRMFlowIOTests", dependencies: ["CRMFlowIO", "CRMFlowCore"]),
        .testTarget(name: "CRMFlowCLITests", dependencies: ["crmflow"]),
    ],
    swiftLanguageModes: [.v6]
)
