#!/bin/sh
# Builds the native echo worker and client from proto/ with Debian's gRPC C++ (libgrpc++-dev,
# protobuf-compiler-grpc): build.sh <output directory>. Incremental: does nothing when the
# binaries are newer than their sources.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:-"$root/artifacts/native"}
mkdir -p "$out/gen"
for tool in protoc grpc_cpp_plugin g++ pkg-config; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (apt-get install libgrpc++-dev protobuf-compiler-grpc g++ pkg-config)" >&2; exit 3; }
done
pkg-config --exists grpc++ protobuf || { echo "build.sh: libgrpc++-dev is missing" >&2; exit 3; }
newest=$(ls -t "$here"/*.cc "$here/build.sh" "$root"/proto/org/apache/spark/udf/worker/*.proto | head -n 1)
if [ -x "$out/echo_worker" ] && [ -x "$out/echo_client" ] && [ "$out/echo_worker" -nt "$newest" ] && [ "$out/echo_client" -nt "$newest" ]; then
  exit 0
fi
protos="org/apache/spark/udf/worker/common.proto org/apache/spark/udf/worker/udf_message.proto org/apache/spark/udf/worker/udf_service.proto"
(cd "$root/proto" && protoc -I . --cpp_out="$out/gen" --grpc_out="$out/gen" --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" $protos)
sources=$(cd "$out/gen" && ls org/apache/spark/udf/worker/common.pb.cc org/apache/spark/udf/worker/udf_message.pb.cc org/apache/spark/udf/worker/udf_service.pb.cc org/apache/spark/udf/worker/udf_service.grpc.pb.cc)
flags="-std=c++17 -O2 -I$out/gen $(pkg-config --cflags grpc++ protobuf)"
libs="$(pkg-config --libs grpc++ protobuf) -lpthread"
objects=""
for source in $sources; do
  object="$out/gen/$(echo "$source" | tr / _).o"
  g++ $flags -c "$out/gen/$source" -o "$object"
  objects="$objects $object"
done
g++ $flags "$here/echo_worker.cc" $objects $libs -o "$out/echo_worker"
g++ $flags "$here/echo_client.cc" $objects $libs -o "$out/echo_client"
