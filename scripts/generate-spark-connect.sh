#!/usr/bin/env bash
# Regenerates Sources/SparkConnectProto from the .proto files inside pyspark's Spark Connect jar.
# Not run by CI: the generated code is committed (building the protoc plugins takes minutes).
#   scripts/generate-spark-connect.sh [PYSPARK_DIR]
# Needs: protoc (Debian protobuf-compiler), and pyspark installed (pip install pyspark==4.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
pyspark_dir=${1:-$(python3 -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}
jar=$(ls "$pyspark_dir"/jars/spark-connect_*.jar | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The plugins, built from the package mirror's swift-protobuf and grpc-swift-protobuf (the versions Package.swift uses).
mkdir -p "$work/plugins/Sources/none"
cat > "$work/plugins/Package.swift" <<'SWIFT'
// swift-tools-version:6.0
import PackageDescription
let package = Package(name: "plugins",
  dependencies: [
    .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
  ],
  targets: [.executableTarget(name: "none")])
SWIFT
echo 'print("")' > "$work/plugins/Sources/none/main.swift"
(cd "$work/plugins" && swift build -c release --product protoc-gen-swift && swift build -c release --product protoc-gen-grpc-swift-2)
bin="$work/plugins/.build/release"
mkdir -p "$work/proto" "$work/out"
(cd "$work/proto" && unzip -q -o "$jar" 'spark/connect/*.proto')
protos=$(cd "$work/proto" && ls spark/connect/*.proto | grep -v example_plugins)
(cd "$work/proto" && protoc -I . \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" --swift_out=Visibility=Public:"$work/out" \
  --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" --grpc-swift_out=Visibility=Public,Client=true,Server=false:"$work/out" \
  $protos)
rm -f Sources/SparkConnectProto/*.swift
cp "$work"/out/spark/connect/*.pb.swift Sources/SparkConnectProto/
cp "$work"/out/spark/connect/base.grpc.swift Sources/SparkConnectProto/
echo "generated from $(basename "$jar") into Sources/SparkConnectProto"
