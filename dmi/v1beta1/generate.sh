#!/bin/sh
# Regenerates api.pb.go and api_grpc.pb.go from api.proto with the protoc,
# protoc-gen-go and protoc-gen-go-grpc on PATH. Run from the repository root.
set -eu
protoc -I dmi/v1beta1 -I /usr/include --go_out=dmi/v1beta1 --go_opt=paths=source_relative --go-grpc_out=dmi/v1beta1 --go-grpc_opt=paths=source_relative dmi/v1beta1/api.proto
